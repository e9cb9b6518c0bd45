/**
 * The open bid PDF of the project on screen, shared by the page view and whoever opens it
 * early: the project view starts loading it (bytes from Rust over the `bidpdf:` scheme, pdf.js worker, document parsed)
 * as soon as a composition exists, so that 页面与签章 only has to draw. One document at a time;
 * a new key (project, which PDF, reload counter) destroys the old one.
 */
import { bidPdf, type BidPdfKind } from "../api";
import { openPdf, renderPage, type PdfDoc } from "./pdf";
import { i18n } from "../i18n";

/** Width of a thumbnail, px (the page view's thumbnail column). */
export const THUMB_WIDTH = 96;

export interface LoadedPdf {
  doc: PdfDoc;
  /** Page 1 drawn at thumbnail size while loading: it warms pdf.js (fonts, the page's
   * objects) so that the page view's first full page is quick, and is its first thumbnail. */
  firstThumb: { canvas: HTMLCanvasElement; width: number } | null;
  /** ms from the start of loading: bytes received, document opened. */
  bytesMs: number;
  openMs: number;
}

let current: { key: string; loading: Promise<LoadedPdf> } | null = null;

/** The document for `projectPath`/`which`/`version`, loading it if it is not the one open. */
export function loadBid(projectPath: string, which: BidPdfKind, version: number): Promise<LoadedPdf> {
  const key = `${projectPath}\n${which}\n${version}`;
  if (current?.key === key) return current.loading;
  const old = current;
  const started = performance.now();
  const loading = (async () => {
    const bytes = await bidPdf(projectPath, which, (error) => i18n.global.t("pages.loadFailed", { error }));
    const bytesMs = Math.round(performance.now() - started);
    const doc = await openPdf(bytes);
    const openMs = Math.round(performance.now() - started);
    let firstThumb: LoadedPdf["firstThumb"] = null;
    if (doc.numPages > 0) {
      const page = await doc.getPage(1);
      const [x1, , x2] = page.view;
      const canvas = await renderPage(doc, 0, THUMB_WIDTH / Math.max(1, x2 - x1));
      firstThumb = { canvas, width: THUMB_WIDTH };
    }
    return { doc, bytesMs, openMs, firstThumb };
  })();
  current = { key, loading };
  // A failed load is not kept: the next call tries again.
  loading.catch(() => {
    if (current?.loading === loading) current = null;
  });
  old?.loading.then((o) => o.doc.destroy()).catch(() => undefined);
  return loading;
}

/** Closes the open document (the project was closed). */
export function closeBid(): void {
  current?.loading.then((o) => o.doc.destroy()).catch(() => undefined);
  current = null;
}
