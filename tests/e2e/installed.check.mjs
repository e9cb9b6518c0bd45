// Drives an installed BidSeal (scripts/check-deb.sh; not a test of `node --test`): starts the
// app at argv[2] through tauri-driver from the folder CHECK_DEB_CWD, waits until the home
// screen is interactive (its UI is inside the binary), checks the window's text is Chinese in
// a CJK font the system has, and saves installed-home.png to BIDSEAL_E2E_OUT.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { visible } from "./window.mjs";

const bin = process.argv[2];
if (process.env.CHECK_DEB_CWD) process.chdir(process.env.CHECK_DEB_CWD);
// The fonts the window's CSS asks for first (ui/src/style.css), as fontconfig resolves them.
const cjk = execFileSync("fc-list", [":lang=zh", "family"]).toString().trim();
assert.ok(cjk.length > 0, "no CJK font installed: the window's Chinese would show as boxes");
const match = execFileSync("fc-match", ["Noto Sans CJK SC:lang=zh-cn", "family"]).toString().trim();
console.log(`CJK fonts: ${cjk.split("\n").length} families; "Noto Sans CJK SC" resolves to: ${match}`);

const started = Date.now();
const app = await startApp(bin, {});
try {
  const { session } = app;
  const hall = await visible(session, "home-hall", 30000);
  await hall.isEnabled();
  console.log(`home screen interactive after ${Date.now() - started} ms (driver start included)`);
  const text = await session.executeScript("return document.body.innerText");
  assert.match(text, /开标大厅/, "the home screen's zh-CN text");
  const family = await session.executeScript("return getComputedStyle(document.body).fontFamily");
  assert.match(family, /Noto Sans CJK SC/);
  console.log(`screenshot: ${await screenshot(session, "installed-home.png")}`);
} finally {
  await stopApp(app);
}
