/**
 * pdf.js in the window: loads a bid PDF from bytes (the `bidpdf:` scheme, `bidPdf` in api.ts) and renders pages
 * into canvases, one render at a time in order of need (the page view asks for the pages on
 * screen first, then the ones around them, then thumbnails). The worker is bundled (no
 * network); eval is off (the window's CSP has no 'unsafe-eval').
 */
import { AnnotationMode, GlobalWorkerOptions, PDFWorker, getDocument, type PDFDocumentProxy } from "pdfjs-dist";
import workerUrl from "pdfjs-dist/build/pdf.worker.min.mjs?url";

GlobalWorkerOptions.workerSrc = workerUrl;

export type PdfDoc = PDFDocumentProxy;

// One worker for every document of the window's life: started ahead of the first document
// ([`warmPdfWorker`], when a project that is not composed yet opens) so that the first bid
// PDF does not wait for the worker's script, and not started again for each new composition
// or sealing (a document's `destroy` leaves a worker it was given alone).
let worker: PDFWorker | null = null;

/** Starts pdf.js's worker if it is not running (idempotent). */
export function warmPdfWorker(): PDFWorker {
  if (!worker || worker.destroyed) worker = new PDFWorker();
  return worker;
}

/** Opens a PDF from its bytes (the buffer is handed to the worker). */
export function openPdf(bytes: ArrayBuffer): Promise<PdfDoc> {
  return getDocument({ data: new Uint8Array(bytes), worker: warmPdfWorker(), isEvalSupported: false, disableFontFace: false, useSystemFonts: false }).promise;
}

/** Renders page `index` (0-based) of `doc` into a new canvas at `scale` px/pt (times the
 * device pixel ratio, for a crisp page); the caller shows it once it is complete, so a page on
 * screen is never half drawn. */
export async function renderPage(doc: PdfDoc, index: number, scale: number): Promise<HTMLCanvasElement> {
  const page = await doc.getPage(index + 1);
  const ratio = window.devicePixelRatio || 1;
  const viewport = page.getViewport({ scale: scale * ratio });
  const canvas = document.createElement("canvas");
  canvas.width = Math.floor(viewport.width);
  canvas.height = Math.floor(viewport.height);
  // ENABLE: signature widgets are drawn from their appearance streams, as they print.
  await page.render({ canvas, canvasContext: canvas.getContext("2d")!, viewport, annotationMode: AnnotationMode.ENABLE }).promise;
  page.cleanup();
  return canvas;
}

/** Media boxes of every page read from the PDF (for PDFs whose composition did not record
 * them); `[x1, y1, x2, y2]` points. */
export async function pageBoxes(doc: PdfDoc): Promise<[number, number, number, number][]> {
  const out: [number, number, number, number][] = [];
  for (let i = 1; i <= doc.numPages; i++) {
    const v = (await doc.getPage(i)).view;
    out.push([v[0], v[1], v[2], v[3]]);
  }
  return out;
}
