import { describe, expect, it } from "vitest";
import { columnLayout, currentPage, toPdf, toView, visibleRange, type PageBox } from "./layout";

const A4: PageBox = [0, 0, 595.28, 841.89];

describe("page column", () => {
  const boxes: PageBox[] = Array.from({ length: 300 }, (_, i) => (i === 5 ? [0, 0, 841.89, 595.28] : A4));
  const layout = columnLayout(boxes, 600, 10);

  it("stacks pages with gaps, each scaled to the width", () => {
    expect(layout.tops[0]).toBe(10);
    expect(layout.heights[0]).toBeCloseTo((841.89 * 600) / 595.28);
    expect(layout.tops[1]).toBeCloseTo(10 + layout.heights[0] + 10);
    // A landscape page is shorter.
    expect(layout.heights[5]).toBeCloseTo((595.28 * 600) / 841.89);
    expect(layout.total).toBeCloseTo(layout.tops[299] + layout.heights[299] + 10);
  });

  it("shows the pages that intersect the view, plus overscan, clamped", () => {
    expect(visibleRange(layout, 0, 700)).toEqual([0, 0]);
    expect(visibleRange(layout, 0, 900)).toEqual([0, 1]);
    expect(visibleRange(layout, 0, 900, 2)).toEqual([0, 3]);
    const y = layout.tops[150] + 5;
    expect(visibleRange(layout, y, 100)).toEqual([150, 150]);
    // The gap just above page 151 belongs to neither: the view from there starts at 151.
    expect(visibleRange(layout, layout.tops[151] - 5, 50)?.[0]).toBe(151);
    expect(visibleRange(layout, layout.total - 10, 700, 3)).toEqual([296, 299]);
    expect(visibleRange(columnLayout([], 600, 10), 0, 700)).toBeNull();
    // Far past the end still lands on the last page, never outside.
    expect(visibleRange(layout, 1e9, 700)).toEqual([299, 299]);
  });

  it("the current page is the one most of the view shows", () => {
    expect(currentPage(layout, layout.tops[10] + layout.heights[10] * 0.6, 700)).toBe(11);
    expect(currentPage(layout, layout.tops[10] + layout.heights[10] * 0.2, 700)).toBe(10);
  });
});

describe("PDF points ↔ view pixels", () => {
  it("flips y and scales; the round trip is exact", () => {
    const box: PageBox = [10, 20, 610, 820];
    const v = toView(box, 2, { x1: 110, y1: 620, x2: 210, y2: 720 });
    expect(v).toEqual({ left: 200, top: 200, width: 200, height: 200 });
    expect(toPdf(box, 2, v)).toEqual({ x1: 110, y1: 620, x2: 210, y2: 720 });
  });
});
