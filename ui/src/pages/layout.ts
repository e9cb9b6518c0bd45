/**
 * Page geometry of the page view, pure (unit-tested): where each page of the bid sits in the
 * scrolled column, which pages a scroll position shows (binary search, so 300 pages cost
 * nothing), and conversion between PDF points (origin lower-left, the composer's and the
 * `bid` crate's coordinates) and view pixels (origin top-left). Composed pages are unrotated.
 */

/** A page's media box `[x1, y1, x2, y2]`, PDF points. */
export type PageBox = [number, number, number, number];

/** A rectangle in PDF points (lower-left, upper-right), as the `bid` crate stores it. */
export interface PdfRect {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** A rectangle in view pixels, relative to the page's top-left corner. */
export interface ViewRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface ColumnLayout {
  /** Top of each page in the column, px. */
  tops: number[];
  /** Height of each page, px. */
  heights: number[];
  /** Width of each page, px. */
  widths: number[];
  /** px per PDF point, per page (each page fits `width`). */
  scales: number[];
  /** Height of the whole column, px. */
  total: number;
}

/** Pages stacked with `gap` px between them, each scaled to `width` px wide. */
export function columnLayout(boxes: PageBox[], width: number, gap: number): ColumnLayout {
  const tops: number[] = [];
  const heights: number[] = [];
  const widths: number[] = [];
  const scales: number[] = [];
  let y = gap;
  for (const b of boxes) {
    const w = Math.max(1, b[2] - b[0]);
    const h = Math.max(1, b[3] - b[1]);
    const s = width / w;
    tops.push(y);
    widths.push(width);
    heights.push(h * s);
    scales.push(s);
    y += h * s + gap;
  }
  return { tops, heights, widths, scales, total: y };
}

/** First page whose bottom is below `y` (binary search over the column). */
function firstBelow(layout: ColumnLayout, y: number): number {
  let lo = 0;
  let hi = layout.tops.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (layout.tops[mid] + layout.heights[mid] < y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Pages `[first, last]` (0-based, inclusive) that intersect the view from `scrollTop` over
 * `viewHeight`, widened by `overscan` pages each side; `null` for an empty document.
 */
export function visibleRange(layout: ColumnLayout, scrollTop: number, viewHeight: number, overscan = 0): [number, number] | null {
  const n = layout.tops.length;
  if (n === 0) return null;
  const first = firstBelow(layout, scrollTop);
  let last = first;
  while (last + 1 < n && layout.tops[last + 1] < scrollTop + viewHeight) last++;
  return [Math.max(0, first - overscan), Math.min(n - 1, last + overscan)];
}

/** The page most of the view shows (the current page). */
export function currentPage(layout: ColumnLayout, scrollTop: number, viewHeight: number): number {
  const range = visibleRange(layout, scrollTop, viewHeight);
  if (!range) return 0;
  let best = range[0];
  let bestArea = -1;
  for (let i = range[0]; i <= range[1]; i++) {
    const top = Math.max(scrollTop, layout.tops[i]);
    const bottom = Math.min(scrollTop + viewHeight, layout.tops[i] + layout.heights[i]);
    if (bottom - top > bestArea) {
      bestArea = bottom - top;
      best = i;
    }
  }
  return best;
}

/** PDF rectangle → view rectangle on a page with media box `box` drawn at `scale` px/pt. */
export function toView(box: PageBox, scale: number, r: PdfRect): ViewRect {
  return {
    left: (Math.min(r.x1, r.x2) - box[0]) * scale,
    top: (box[3] - Math.max(r.y1, r.y2)) * scale,
    width: Math.abs(r.x2 - r.x1) * scale,
    height: Math.abs(r.y2 - r.y1) * scale,
  };
}

/** View point (px from the page's top-left) → PDF point. */
export function toPdfPoint(box: PageBox, scale: number, x: number, y: number): { x: number; y: number } {
  return { x: box[0] + x / scale, y: box[3] - y / scale };
}

/** View rectangle → PDF rectangle. */
export function toPdf(box: PageBox, scale: number, v: ViewRect): PdfRect {
  const a = toPdfPoint(box, scale, v.left, v.top);
  const b = toPdfPoint(box, scale, v.left + v.width, v.top + v.height);
  return { x1: a.x, y1: b.y, x2: b.x, y2: a.y };
}
