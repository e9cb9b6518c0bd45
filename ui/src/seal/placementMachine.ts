/**
 * Seal placement in the window as a pure state machine (unit-tested): a seal picked from the
 * palette or grabbed on a page follows the pointer, snaps into the node's area when it comes
 * close, and on release becomes a request to store (`place_seal`); a placed seal can be
 * resized from its corner; "seal all nodes of this kind" and a 骑缝章 over a page range are
 * requests too. The `bid` crate checks and stores every request (and refuses with a code); this
 * machine only chooses the node and the rectangle, and says when nothing fits.
 *
 * Coordinates are PDF points of the page (origin lower-left), as `ui/src/pages/layout.ts`
 * converts them.
 */
import type { NodePosition, NodeRect, SealKindId } from "../api";
import type { PageBox, PdfRect } from "../pages/layout";

/** 1 mm in points. */
export const MM = 72 / 25.4;
/** Same limits as `bid::compose::placement` (MIN_SEAL, MAX_SEAL). */
export const MIN_SEAL = 10 * MM;
export const MAX_SEAL = 80 * MM;
/** A seal whose centre comes this close to its area's centre snaps into the area. */
export const SNAP_DISTANCE = 15 * MM;
/** The seals the palette offers (公章, 法人章, 法人手写签名, 私章). */
export const PALETTE: SealKindId[] = ["enterprise", "legal_person", "legal_person_signature", "personal"];

/** A signing node as placement sees it. */
export interface PlacementNode {
  id: string;
  label: string;
  kinds: SealKindId[];
  crossPage: boolean;
  /** 0-based first and last page of the node's section. */
  section: [number, number] | null;
  rects: NodeRect[];
  anchor: NodeRect[];
  placed: boolean;
}

/** One placement to store. */
export interface PlaceRequest {
  node: string;
  /** The kind, when the node asks for several (else `null`). */
  kind: SealKindId | null;
  position: NodePosition;
}

/** Where a dragged seal would land. */
export interface Landing {
  node: string;
  kind: SealKindId;
  pageIndex: number;
  rect: PdfRect;
  /** In the node's area exactly. */
  snapped: boolean;
}

/** Why nothing can be placed, as a message key (`placement.refused.*`) and its parameters. */
export interface Refusal {
  key: string;
  params: Record<string, string | number>;
}

export type PlacementState =
  | { phase: "idle" }
  | { phase: "dragging"; kind: SealKindId; node: string | null; landing: Landing | null }
  | { phase: "resizing"; node: string; kind: SealKindId; pageIndex: number; rect: PdfRect }
  | { phase: "saving"; requests: PlaceRequest[] }
  | { phase: "refused"; refusal: Refusal };

export type PlacementInput =
  /** A seal picked from the palette. */
  | { type: "pick"; kind: SealKindId }
  /** A placed seal grabbed on the page (moves only that node's seal). */
  | { type: "grab"; node: string; kind: SealKindId }
  /** The pointer over page `pageIndex` at PDF point (x, y), or off every page (`null`). */
  | { type: "move"; pageIndex: number | null; x: number; y: number }
  /** Released (at the last position, or at this one when given). */
  | { type: "drop"; pageIndex?: number | null; x?: number; y?: number }
  | { type: "cancel" }
  /** The corner handle of a placed seal grabbed. */
  | { type: "resize-start"; node: string; kind: SealKindId }
  /** The corner at PDF point (x, y) of the seal's page. */
  | { type: "resize-move"; x: number; y: number }
  | { type: "resize-end" }
  /** Every node asking for `kind` (not a 骑缝章) placed at its area, at once. */
  | { type: "place-all"; kind: SealKindId }
  /** 骑缝章 of `node` over 0-based pages first..=last. */
  | { type: "cross-page"; node: string; first: number; last: number }
  | { type: "saved" }
  | { type: "failed"; code: string; message: string };

export interface PlacementWorld {
  nodes: PlacementNode[];
  boxes: PageBox[];
}

export const initial: PlacementState = { phase: "idle" };

const centre = (r: PdfRect) => ({ x: (r.x1 + r.x2) / 2, y: (r.y1 + r.y2) / 2 });
const width = (r: PdfRect) => r.x2 - r.x1;
const height = (r: PdfRect) => r.y2 - r.y1;

/** The node's rectangle for `kind` among `rects` (a one-kind node has one for every kind). */
export function rectFor(rects: NodeRect[], kind: SealKindId): NodeRect | undefined {
  return rects.find((r) => r.kind === kind) ?? rects.find((r) => !r.kind);
}

/** `kind` as the request names it: only when the node asks for several. */
const requestKind = (n: PlacementNode, kind: SealKindId) => (n.kinds.length > 1 ? kind : null);

/** `r` moved (not resized) so that it lies inside `box`. */
export function clampInto(r: PdfRect, box: PageBox): PdfRect {
  const w = Math.min(width(r), box[2] - box[0]);
  const h = Math.min(height(r), box[3] - box[1]);
  const x1 = Math.min(Math.max(r.x1, box[0]), box[2] - w);
  const y1 = Math.min(Math.max(r.y1, box[1]), box[3] - h);
  return { x1, y1, x2: x1 + w, y2: y1 + h };
}

/**
 * Where a seal of `kind` dropped at (x, y) on `pageIndex` lands: on `only` if given (a grabbed
 * seal keeps its node), else on the node asking for `kind` whose section holds the page —
 * unplaced nodes first, then the one whose area is nearest. It snaps into the node's area when
 * its centre is within SNAP_DISTANCE of the area's, else it is centred on the pointer (kept
 * inside the page) at the seal's current size.
 */
export function land(world: PlacementWorld, kind: SealKindId, pageIndex: number, x: number, y: number, only: string | null): Landing | Refusal {
  const box = world.boxes[pageIndex];
  if (!box) return { key: "offPage", params: {} };
  const candidates = world.nodes.filter((n) =>
    only !== null
      ? n.id === only
      : !n.crossPage && n.kinds.includes(kind) && n.section !== null && pageIndex >= n.section[0] && pageIndex <= n.section[1],
  );
  if (candidates.length === 0) return { key: "noNode", params: { page: pageIndex + 1 } };
  const score = (n: PlacementNode) => {
    const a = rectFor(n.anchor, kind);
    const onPage = a && a.page_index === pageIndex;
    const d = onPage ? Math.hypot(centre(a.rect).x - x, centre(a.rect).y - y) : 1e5;
    return (n.placed && only === null ? 1e6 : 0) + d;
  };
  const node = [...candidates].sort((a, b) => score(a) - score(b))[0];
  const area = rectFor(node.anchor, kind);
  const now = rectFor(node.rects, kind) ?? area;
  if (!now) return { key: "noNode", params: { page: pageIndex + 1 } };
  if (area && area.page_index === pageIndex && Math.hypot(centre(area.rect).x - x, centre(area.rect).y - y) <= SNAP_DISTANCE) {
    return { node: node.id, kind, pageIndex, rect: { ...area.rect }, snapped: true };
  }
  const w = width(now.rect);
  const h = height(now.rect);
  const rect = clampInto({ x1: x - w / 2, y1: y - h / 2, x2: x + w / 2, y2: y + h / 2 }, box);
  return { node: node.id, kind, pageIndex, rect, snapped: false };
}

const isRefusal = (l: Landing | Refusal): l is Refusal => "key" in l;

function pageRequest(world: PlacementWorld, l: Landing): PlaceRequest {
  const n = world.nodes.find((m) => m.id === l.node)!;
  return { node: l.node, kind: requestKind(n, l.kind), position: { type: "page", page_index: l.pageIndex, rect: l.rect } };
}

/** Round seals stay round; a handwritten signature may be any shape. Size within the limits. */
export function resized(kind: SealKindId, from: PdfRect, x: number, y: number, box: PageBox): PdfRect {
  const clamp = (v: number) => Math.min(MAX_SEAL, Math.max(MIN_SEAL, v));
  // The top-left corner stays; the pointer is the bottom-right corner.
  let w = clamp(x - from.x1);
  let h = clamp(from.y2 - y);
  if (kind !== "legal_person_signature") w = h = clamp(Math.max(w, h));
  w = Math.min(w, box[2] - from.x1);
  h = Math.min(h, from.y2 - box[1]);
  if (kind !== "legal_person_signature") w = h = Math.min(w, h);
  return { x1: from.x1, y1: from.y2 - h, x2: from.x1 + w, y2: from.y2 };
}

/** Requests placing every node that asks for `kind` (not 骑缝章) at its area. */
export function placeAll(world: PlacementWorld, kind: SealKindId): PlaceRequest[] {
  return world.nodes
    .filter((n) => !n.crossPage && n.kinds.includes(kind))
    .flatMap((n) => {
      const a = rectFor(n.anchor, kind);
      return a ? [{ node: n.id, kind: requestKind(n, kind), position: { type: "page", page_index: a.page_index, rect: { ...a.rect } } as NodePosition }] : [];
    });
}

export function step(state: PlacementState, input: PlacementInput, world: PlacementWorld): PlacementState {
  switch (input.type) {
    case "pick":
      return { phase: "dragging", kind: input.kind, node: null, landing: null };
    case "grab":
      return world.nodes.some((n) => n.id === input.node) ? { phase: "dragging", kind: input.kind, node: input.node, landing: null } : state;
    case "move": {
      if (state.phase !== "dragging") return state;
      if (input.pageIndex === null) return { ...state, landing: null };
      const l = land(world, state.kind, input.pageIndex, input.x, input.y, state.node);
      return { ...state, landing: isRefusal(l) ? null : l };
    }
    case "drop": {
      if (state.phase !== "dragging") return state;
      let landing: Landing | Refusal | null = state.landing;
      if (input.pageIndex !== undefined && input.x !== undefined && input.y !== undefined) {
        landing = input.pageIndex === null ? { key: "offPage", params: {} } : land(world, state.kind, input.pageIndex, input.x, input.y, state.node);
      }
      if (landing === null) return { phase: "refused", refusal: { key: "offPage", params: {} } };
      if (isRefusal(landing)) return { phase: "refused", refusal: landing };
      return { phase: "saving", requests: [pageRequest(world, landing)] };
    }
    case "cancel":
      return state.phase === "saving" ? state : initial;
    case "resize-start": {
      const n = world.nodes.find((m) => m.id === input.node);
      const r = n && !n.crossPage ? rectFor(n.rects, input.kind) : undefined;
      if (!n || !r) return state;
      return { phase: "resizing", node: n.id, kind: input.kind, pageIndex: r.page_index, rect: { ...r.rect } };
    }
    case "resize-move": {
      if (state.phase !== "resizing") return state;
      const box = world.boxes[state.pageIndex];
      return box ? { ...state, rect: resized(state.kind, state.rect, input.x, input.y, box) } : state;
    }
    case "resize-end": {
      if (state.phase !== "resizing") return state;
      const n = world.nodes.find((m) => m.id === state.node)!;
      return { phase: "saving", requests: [{ node: n.id, kind: requestKind(n, state.kind), position: { type: "page", page_index: state.pageIndex, rect: state.rect } }] };
    }
    case "place-all": {
      const requests = placeAll(world, input.kind);
      return requests.length ? { phase: "saving", requests } : { phase: "refused", refusal: { key: "noneOfKind", params: {} } };
    }
    case "cross-page": {
      const n = world.nodes.find((m) => m.id === input.node);
      if (!n || !n.crossPage) return state;
      const [first, last] = [Math.min(input.first, input.last), Math.max(input.first, input.last)];
      const box = world.boxes[first];
      if (first === last || !box || last >= world.boxes.length) {
        return { phase: "refused", refusal: { key: "badRange", params: { pages: world.boxes.length } } };
      }
      const a = n.anchor[0];
      const yMid = a ? centre(a.rect).y : (box[1] + box[3]) / 2;
      return { phase: "saving", requests: [{ node: n.id, kind: null, position: { type: "cross_page", first_page: first, last_page: last, y_mid: yMid } }] };
    }
    case "saved":
      return state.phase === "saving" ? initial : state;
    case "failed":
      return state.phase === "saving" ? { phase: "refused", refusal: { key: "server", params: { code: input.code, message: input.message } } } : state;
  }
}
