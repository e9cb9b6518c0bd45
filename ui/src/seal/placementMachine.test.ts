import { describe, expect, it } from "vitest";
import type { PageBox } from "../pages/layout";
import { MAX_SEAL, MIN_SEAL, SNAP_DISTANCE, initial, land, placeAll, resized, step, type PlacementInput, type PlacementNode, type PlacementState, type PlacementWorld } from "./placementMachine";

const A4: PageBox = [0, 0, 595.28, 841.89];
const r = (x: number, y: number, w = 119, h = 119) => ({ x1: x, y1: y, x2: x + w, y2: y + h });

function world(): PlacementWorld {
  const letter: PlacementNode = {
    id: "letter", label: "投标函落款", kinds: ["enterprise"], crossPage: false, section: [2, 4],
    rects: [{ page_index: 2, rect: r(400, 100) }], anchor: [{ page_index: 2, rect: r(400, 100) }], placed: false,
  };
  const sign: PlacementNode = {
    id: "sign", label: "末页盖章签字", kinds: ["enterprise", "legal_person_signature"], crossPage: false, section: [2, 4],
    rects: [{ page_index: 4, rect: r(100, 100), kind: "enterprise" }, { page_index: 4, rect: r(300, 100, 150, 60), kind: "legal_person_signature" }],
    anchor: [{ page_index: 4, rect: r(100, 100), kind: "enterprise" }, { page_index: 4, rect: r(300, 100, 150, 60), kind: "legal_person_signature" }],
    placed: false,
  };
  const cross: PlacementNode = {
    id: "cross", label: "骑缝章", kinds: ["enterprise"], crossPage: true, section: [5, 9],
    rects: [], anchor: [{ page_index: 5, rect: { x1: 570, y1: 350, x2: 595.28, y2: 477 } }], placed: false,
  };
  return { nodes: [letter, sign, cross], boxes: Array(10).fill(A4) };
}

const run = (inputs: PlacementInput[], w = world(), s: PlacementState = initial) => inputs.reduce((st, i) => step(st, i, w), s);

describe("drag a seal from the palette", () => {
  it("near the node's area it snaps into it exactly, and the drop asks to store that", () => {
    const s = run([{ type: "pick", kind: "enterprise" }, { type: "move", pageIndex: 2, x: 470, y: 150 }, { type: "drop" }]);
    expect(s).toEqual({ phase: "saving", requests: [{ node: "letter", kind: null, position: { type: "page", page_index: 2, rect: r(400, 100) } }] });
  });

  it("further away it is centred on the pointer, at the seal's size, kept inside the page", () => {
    const s = run([{ type: "pick", kind: "enterprise" }, { type: "drop", pageIndex: 3, x: 200, y: 500 }]);
    expect(s.phase).toBe("saving");
    if (s.phase !== "saving") return;
    expect(s.requests[0].position).toEqual({ type: "page", page_index: 3, rect: r(200 - 59.5, 500 - 59.5) });
    // At the page's corner it is pushed back inside.
    const c = run([{ type: "pick", kind: "enterprise" }, { type: "drop", pageIndex: 3, x: 590, y: 5 }]);
    if (c.phase !== "saving" || c.requests[0].position.type !== "page") throw new Error(JSON.stringify(c));
    expect(c.requests[0].position.rect).toEqual({ x1: 595.28 - 119, y1: 0, x2: 595.28, y2: 119 });
  });

  it("just outside the snap distance does not snap; just inside does", () => {
    const w = world();
    const centre = { x: 459.5, y: 159.5 };
    const inside = land(w, "enterprise", 2, centre.x + SNAP_DISTANCE - 0.5, centre.y, null);
    const outside = land(w, "enterprise", 2, centre.x + SNAP_DISTANCE + 0.5, centre.y, null);
    expect("snapped" in inside && inside.snapped).toBe(true);
    expect("snapped" in outside && outside.snapped).toBe(false);
  });

  it("a two-kind node gets the kind named; the signature lands on its own area", () => {
    const s = run([{ type: "pick", kind: "legal_person_signature" }, { type: "drop", pageIndex: 4, x: 370, y: 130 }]);
    expect(s).toEqual({ phase: "saving", requests: [{ node: "sign", kind: "legal_person_signature", position: { type: "page", page_index: 4, rect: r(300, 100, 150, 60) } }] });
  });

  it("unplaced nodes are chosen before placed ones", () => {
    const w = world();
    // On the placed node's own area: the unplaced node of the same section is the one meant.
    expect(land(w, "enterprise", 2, 460, 160, null)).toMatchObject({ node: "letter", snapped: true });
    w.nodes[0].placed = true;
    expect(land(w, "enterprise", 2, 460, 160, null)).toMatchObject({ node: "sign", snapped: false });
  });

  it("refuses where no node of that kind is: another section, a kind no node asks for, off the pages", () => {
    expect(run([{ type: "pick", kind: "enterprise" }, { type: "drop", pageIndex: 0, x: 100, y: 100 }])).toEqual({ phase: "refused", refusal: { key: "noNode", params: { page: 1 } } });
    expect(run([{ type: "pick", kind: "personal" }, { type: "drop", pageIndex: 2, x: 100, y: 100 }]).phase).toBe("refused");
    expect(run([{ type: "pick", kind: "enterprise" }, { type: "drop", pageIndex: null }])).toEqual({ phase: "refused", refusal: { key: "offPage", params: {} } });
    expect(run([{ type: "pick", kind: "enterprise" }, { type: "drop", pageIndex: 99, x: 1, y: 1 }]).phase).toBe("refused");
    // A 骑缝章 node is never the target of a dragged seal.
    expect(run([{ type: "pick", kind: "enterprise" }, { type: "drop", pageIndex: 6, x: 580, y: 400 }]).phase).toBe("refused");
    // Released without ever being over a page.
    expect(run([{ type: "pick", kind: "enterprise" }, { type: "drop" }]).phase).toBe("refused");
  });

  it("cancel drops the seal; moves off the page forget the landing", () => {
    expect(run([{ type: "pick", kind: "enterprise" }, { type: "cancel" }])).toEqual(initial);
    const s = run([{ type: "pick", kind: "enterprise" }, { type: "move", pageIndex: 2, x: 460, y: 160 }, { type: "move", pageIndex: null, x: 0, y: 0 }]);
    expect(s).toEqual({ phase: "dragging", kind: "enterprise", node: null, landing: null });
  });
});

describe("move and resize a placed seal", () => {
  it("a grabbed seal stays with its node even over another node's area", () => {
    const s = run([{ type: "grab", node: "letter", kind: "enterprise" }, { type: "drop", pageIndex: 4, x: 160, y: 160 }]);
    if (s.phase !== "saving") throw new Error(s.phase);
    expect(s.requests[0].node).toBe("letter");
    expect(run([{ type: "grab", node: "nobody", kind: "enterprise" }])).toEqual(initial);
  });

  it("round seals stay round and within 10–80 mm; a signature keeps its shape; inside the page", () => {
    const from = r(100, 500);
    const box = A4;
    const big = resized("enterprise", from, 100 + 400, 619 - 100, box);
    expect(big.x2 - big.x1).toBeCloseTo(MAX_SEAL);
    expect(big.y2 - big.y1).toBeCloseTo(MAX_SEAL);
    expect(big.x1).toBe(100);
    expect(big.y2).toBe(619);
    const tiny = resized("enterprise", from, 101, 618, box);
    expect(tiny.x2 - tiny.x1).toBeCloseTo(MIN_SEAL);
    const sig = resized("legal_person_signature", from, 100 + 150, 619 - 50, box);
    expect([sig.x2 - sig.x1, sig.y2 - sig.y1]).toEqual([150, 50]);
    // Dragged past the page's edge: stops at the edge.
    const edge = resized("enterprise", r(550, 500, 40, 40), 900, 300, box);
    expect(edge.x2).toBeLessThanOrEqual(595.28);
    expect(edge.x2 - edge.x1).toBeCloseTo(edge.y2 - edge.y1);
  });

  it("resize start → move → end asks to store the new rectangle with the node's kind", () => {
    const s = run([{ type: "resize-start", node: "sign", kind: "enterprise" }, { type: "resize-move", x: 250, y: 70 }, { type: "resize-end" }]);
    if (s.phase !== "saving" || s.requests[0].position.type !== "page") throw new Error(JSON.stringify(s));
    expect(s.requests[0].kind).toBe("enterprise");
    expect(s.requests[0].position.rect).toEqual({ x1: 100, y1: 219 - 150, x2: 250, y2: 219 });
    // A 骑缝章 has no corner to pull.
    expect(run([{ type: "resize-start", node: "cross", kind: "enterprise" }])).toEqual(initial);
  });
});

describe("all of a kind, 骑缝章, saving", () => {
  it("seal all nodes of a kind: every node asking for it at its area, none of the 骑缝章", () => {
    const reqs = placeAll(world(), "enterprise");
    expect(reqs.map((q) => [q.node, q.kind])).toEqual([["letter", null], ["sign", "enterprise"]]);
    expect(run([{ type: "place-all", kind: "personal" }])).toEqual({ phase: "refused", refusal: { key: "noneOfKind", params: {} } });
  });

  it("a 骑缝章 over a range keeps its height; one page or past the end is refused", () => {
    expect(run([{ type: "cross-page", node: "cross", first: 9, last: 3 }])).toEqual({
      phase: "saving",
      requests: [{ node: "cross", kind: null, position: { type: "cross_page", first_page: 3, last_page: 9, y_mid: 413.5 } }],
    });
    expect(run([{ type: "cross-page", node: "cross", first: 4, last: 4 }]).phase).toBe("refused");
    expect(run([{ type: "cross-page", node: "cross", first: 4, last: 10 }]).phase).toBe("refused");
    expect(run([{ type: "cross-page", node: "letter", first: 2, last: 4 }])).toEqual(initial);
  });

  it("saved → idle; a refusal from Rust keeps its code and message; cancel cannot drop a save", () => {
    const saving = run([{ type: "place-all", kind: "enterprise" }]);
    expect(step(saving, { type: "cancel" }, world())).toBe(saving);
    expect(step(saving, { type: "saved" }, world())).toEqual(initial);
    expect(step(saving, { type: "failed", code: "PLACE_OVERLAPS", message: "重叠" }, world())).toEqual({
      phase: "refused",
      refusal: { key: "server", params: { code: "PLACE_OVERLAPS", message: "重叠" } },
    });
    // Late answers do nothing outside a save.
    expect(step(initial, { type: "saved" }, world())).toEqual(initial);
  });
});
