// Measures the desktop app under Xvfb: cold start to an interactive home screen (WebDriver
// session requested → 检查连接's answer from Rust shown, i.e. JS running and IPC answering) and
// the idle resident memory of the app and its WebKit helper processes after 5 s.
// Run: BIDSEAL_APP=… xvfb-run -a node startup.bench.mjs [runs]
import { execFileSync } from "node:child_process";
import { By, until } from "selenium-webdriver";
import { startApp, stopApp } from "./harness.mjs";

function processes() {
  let out = "";
  try { out = execFileSync("ps", ["-eo", "pid=,ppid=,rss=,args="]).toString(); } catch { return []; }
  return out.split("\n").filter(Boolean).map((l) => {
    const [pid, ppid, rss, ...args] = l.trim().split(/\s+/);
    return { pid: Number(pid), ppid: Number(ppid), rss: Number(rss), args: args.join(" ") };
  });
}

/** RSS (KiB) of the processes under `root` (this run's tauri-driver) whose command matches
 * `pattern`: other apps on the machine (parallel test runs) are not counted. */
function rssKiB(pattern, root) {
  const all = processes();
  const mine = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) if (!mine.has(p.pid) && mine.has(p.ppid)) { mine.add(p.pid); grew = true; }
  }
  return all.filter((p) => mine.has(p.pid) && pattern.test(p.args)).reduce((sum, p) => sum + p.rss, 0);
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
    // Inside the page: navigation start → DOM parsed → scripts run → home answered by Rust.
    const page = await session.executeScript(`
      const n = performance.getEntriesByType("navigation")[0] || {};
      return { dom: n.domContentLoadedEventEnd || 0, load: n.loadEventEnd || 0, now: performance.now() };`);
    await new Promise((r) => setTimeout(r, 5000));
    const root = app.driver.pid;
    const app_ = rssKiB(/bidseal-desktop/, root);
    const web = rssKiB(/WebKitWebProcess/, root);
    const net = rssKiB(/WebKitNetworkProcess/, root);
    const load = (await execFileSync("cat", ["/proc/loadavg"]).toString()).split(" ")[0];
    console.log(`run ${i + 1}: interactive home ${ready.toFixed(0)} ms (in the page: DOM ready ${page.dom.toFixed(0)} ms, load ${page.load.toFixed(0)} ms after navigation start); idle RSS app ${(app_ / 1024).toFixed(0)} MiB + WebKitWebProcess ${(web / 1024).toFixed(0)} MiB + WebKitNetworkProcess ${(net / 1024).toFixed(0)} MiB = ${((app_ + web + net) / 1024).toFixed(0)} MiB; load average ${load}`);
  } finally {
    await stopApp(app);
    // Let the previous app and its WebKit processes exit before the next cold start.
    for (let w = 0; w < 50 && rssKiB(/bidseal-desktop|WebKitWebProcess/, app.driver.pid) > 0; w++) await new Promise((r) => setTimeout(r, 100));
  }
}
