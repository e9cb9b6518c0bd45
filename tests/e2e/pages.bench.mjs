// Measures the page view on a 300-page bid under Xvfb: the PDF's bytes from Rust, pdf.js
// opening it, the first page drawn (cold: tab opened at once after composing; warm: after the
// project view preloaded it), and scrolling at several speeds (frames with an undrawn page on
// screen, longest such stretch).
// Run: BIDSEAL_APP=… xvfb-run -a -s "-screen 0 1280x1024x24" node pages.bench.mjs
import { By } from "selenium-webdriver";
import { startApp, stopApp } from "./harness.mjs";
import { World } from "./world.mjs";
import { byTestId, type, visible } from "./window.mjs";
import { measureScroll } from "./pages.mjs";

const world = await World.create();
const app = await startApp(undefined, { BIDSEAL_INDEX: world.index });
try {
  const { session } = app;
  world.compose({ technicalPages: 294 });
  // The bidder at the home screen for a moment (BENCH_HOME_MS, default 2000) before opening
  // the project: the app's own start-up work (pdf.js's worker, the relay) is done by then.
  await new Promise((r) => setTimeout(r, Number(process.env.BENCH_HOME_MS ?? 2000)));
  const open = async (waitMs) => {
    await type(session, "open-path", world.project);
    await (await visible(session, "open-path-button")).click();
    await visible(session, "project-page");
    if (waitMs) await new Promise((r) => setTimeout(r, waitMs));
    const t0 = Date.now();
    await (await visible(session, "tab-pages")).click();
    const view = await visible(session, "page-view");
    await session.wait(async () => (await view.getAttribute("data-first-page-ms")) !== null, 30000);
    const a = async (n) => Number(await view.getAttribute(n));
    return { firstPageMs: await a("data-first-page-ms"), bytesMs: await a("data-bytes-ms"), openMs: await a("data-open-ms"), wallMs: Date.now() - t0, pages: await a("data-pages") };
  };
  const back = async () => { await (await visible(session, "project-back")).click(); await visible(session, "open-path"); };
  const cold = await open(0);
  console.log(`cold (tab opened at once): ${JSON.stringify(cold)}`);
  await back();
  const warm = await open(3000);
  console.log(`warm (tab opened after 3 s): ${JSON.stringify(warm)}`);
  for (const speed of [1, 2, 4, 8]) {
    console.log(`scroll ${speed} screens/s: ${JSON.stringify(await measureScroll(session, { screensPerSecond: speed, seconds: 8 }))}`);
  }
  const pages = (await session.findElements(By.css(".page"))).length;
  console.log(`page frames in the DOM: ${pages}; thumbnails: ${(await session.findElements(By.css(".thumb"))).length}`);
  void byTestId;
} finally {
  await stopApp(app);
  await world.close();
}
