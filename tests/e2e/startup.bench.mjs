// Measures the desktop app under Xvfb: cold start to an interactive home screen (WebDriver
// session requested → 检查连接's answer from Rust shown, i.e. JS running and IPC answering) and
// the idle resident memory of the app and its WebKit helper processes after 5 s.
// Run: BIDSEAL_APP=… xvfb-run -a node startup.bench.mjs [runs]
import { execFileSync } from "node:child_process";
import { By, until } from "selenium-webdriver";
import { startApp, stopApp } from "./harness.mjs";

function rssKiB(pattern) {
  let out = "";
  try { out = execFileSync("ps", ["-eo", "rss=,args="]).toString(); } catch { return 0; }
  return out.split("\n").filter((l) => pattern.test(l)).reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0] || 0), 0);
}

const runs = Number(process.argv[2] ?? 3);
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const app = await startApp();
  try {
    const { session } = app;
    const message = await session.wait(until.elementLocated(By.id("message")), 20000);
    await session.wait(until.elementTextContains(message, "已连接后端"), 20000);
    const ready = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5000));
    const app_ = rssKiB(/bidseal-desktop/);
    const web = rssKiB(/WebKitWebProcess/);
    const net = rssKiB(/WebKitNetworkProcess/);
    console.log(`run ${i + 1}: interactive home ${ready.toFixed(0)} ms; idle RSS app ${(app_ / 1024).toFixed(0)} MiB + WebKitWebProcess ${(web / 1024).toFixed(0)} MiB + WebKitNetworkProcess ${(net / 1024).toFixed(0)} MiB = ${((app_ + web + net) / 1024).toFixed(0)} MiB`);
  } finally {
    await stopApp(app);
    // Let the previous app and its WebKit processes exit before the next cold start.
    for (let w = 0; w < 50 && rssKiB(/bidseal-desktop|WebKitWebProcess/) > 0; w++) await new Promise((r) => setTimeout(r, 100));
  }
}
