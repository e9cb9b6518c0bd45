// Drives an installed BidSeal (scripts/check-deb.sh; not a test of `node --test`): starts the
// app at argv[2] through tauri-driver from the folder CHECK_DEB_CWD, waits until the home
// screen is interactive (its UI is inside the binary), checks the window's text is Chinese in
// a CJK font the system has, saves installed-home.png to BIDSEAL_E2E_OUT and, in
// installed-maps.txt, every shared library and font file the running app and its WebKit
// processes have mapped (dlopen'ed ones too, which ldd does not see), for check-deb.sh to match
// against Depends.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
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
  const libs = new Set();
  for (const pid of fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    let exe = "";
    try { exe = fs.readlinkSync(`/proc/${pid}/exe`); } catch { continue; }
    if (exe !== bin && !/webkit2gtk-4\.1\/WebKit/.test(exe)) continue;
    for (const line of fs.readFileSync(`/proc/${pid}/maps`, "utf8").split("\n")) {
      const file = line.split(/\s+/)[5];
      if (file && /\.so(\.|$)|\.(ttc|ttf|otf)$/.test(file)) libs.add(file);
    }
  }
  assert.ok(libs.size > 0, "no mapped libraries found for the running app");
  fs.writeFileSync(path.join(process.env.BIDSEAL_E2E_OUT ?? ".", "installed-maps.txt"), [...libs].sort().join("\n") + "\n");
  console.log(`mapped libraries and fonts: ${libs.size}`);
} finally {
  await stopApp(app);
}
