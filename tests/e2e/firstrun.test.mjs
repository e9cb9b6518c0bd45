// First run: scripts/demo-world.sh makes the demo world (idempotent) and the app, started with
// BIDSEAL_DEMO_DIR as scripts/run.sh does, starts its co-signing service and reference platform, says how a newcomer
// runs the bidder flow, and the command it shows really scans: 扫码认证 of the demo project
// succeeds with it. When the window closes nothing of it is left running.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync, spawn } from "node:child_process";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { cliPath } from "./world.mjs";
import { readQrFromWindow, visible, waitState } from "./window.mjs";

const REPO = path.resolve(new URL("../..", import.meta.url).pathname);
let dir;
let app;
let env;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "bidseal-e2e-first-"));
  env = { BIDSEAL_BIN: cliPath(), BIDSEAL_INDEX: path.join(dir, "index.sqlite"), BIDSEAL_DEMO_DIR: path.join(dir, "demo") };
  const make = () => execFileSync("bash", [path.join(REPO, "scripts/demo-world.sh"), env.BIDSEAL_DEMO_DIR], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  make();
  const tender = fs.statSync(path.join(env.BIDSEAL_DEMO_DIR, "tender.zip")).mtimeMs;
  make(); // idempotent: nothing is remade
  assert.equal(fs.statSync(path.join(env.BIDSEAL_DEMO_DIR, "tender.zip")).mtimeMs, tender);
  app = await startApp(undefined, env);
});
after(async () => {
  await stopApp(app);
  const running = () => execFileSync("ps", ["-eo", "args="]).toString().split("\n").filter((l) => (l.includes("serve-cosign") || l.includes("platform serve")) && l.includes(dir));
  let left = running();
  for (let i = 0; i < 200 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = running();
  }
  fs.rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(left, [], "the demo's co-signing service or platform outlived the window");
});

test("the home screen says how to run the bidder flow, with a running co-signing service", async () => {
  const { session } = app;
  await visible(session, "first-run");
  const cosign = await session.wait(async () => {
    const text = await (await visible(session, "first-run-cosign")).getText();
    return /http:\/\/127\.0\.0\.1:\d+/.test(text) ? text : false;
  }, 40000);
  const url = cosign.match(/http:\/\/127\.0\.0\.1:\d+/)[0];
  const command = await (await visible(session, "first-run-command")).getText();
  assert.ok(command.includes(`--cosign ${url}`) && command.includes("--pin 123456"), command);
  await screenshot(session, "first-run.png");
});

test("the reference platform of the demo world runs, and the login the guide gives works there", async () => {
  const { session } = app;
  const line = await session.wait(async () => {
    const text = await (await visible(session, "first-run-platform")).getText();
    return /http:\/\/127\.0\.0\.1:\d+/.test(text) ? text : false;
  }, 60000);
  const url = line.match(/http:\/\/127\.0\.0\.1:\d+/)[0];
  const [, login, password] = line.match(/企业账号 (\w{18})，密码 (\S+?)；/);
  const answer = await fetch(`${url}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ login, password }) });
  assert.equal(answer.status, 200, `login ${login} at ${url}`);
  // Its data live in the demo folder (kept across runs).
  assert.ok(fs.existsSync(path.join(env.BIDSEAL_DEMO_DIR, "platform")), "platform data in the demo folder");
  // It publishes the demo project's very tender (demo-world.sh issues it at the platform's
  // fixed time), so the demo project can sync and upload there (deskplat).
  const manifest = execFileSync("unzip", ["-p", path.join(env.BIDSEAL_DEMO_DIR, "tender.zip"), "tender.json"]);
  const sha = crypto.createHash("sha256").update(manifest).digest("hex");
  const tenders = await (await fetch(`${url}/api/v1/tenders`)).json();
  assert.ok(tenders.some((t) => t.manifest_sha256 === sha), "the platform publishes the demo project's tender");
  await screenshot(session, "first-run-platform.png");
});

test("the command the guide shows scans: 扫码认证 of the demo project succeeds", async () => {
  const { session } = app;
  const command = await (await visible(session, "first-run-command")).getText();
  await (await visible(session, "first-run-open")).click();
  await visible(session, "project-page");
  await (await visible(session, "project-auth")).click();
  await (await visible(session, "auth-start")).click();
  // The newcomer's screenshot: the window with the QR, as the guide says.
  const shot = path.join(dir, "截图.png");
  await readQrFromWindow(session, "first-run-scan.png");
  fs.copyFileSync(path.join(process.env.BIDSEAL_E2E_OUT ?? path.resolve("../../target/e2e"), "first-run-scan.png"), shot);
  // Run the guide's command as typed (the screenshot path is the one it names).
  const args = command.trim().split(/\s+/);
  const bin = args.shift();
  const phone = spawn(bin, args.map((a) => (a === "截图.png" ? shot : a)), { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  phone.stderr.on("data", (c) => (stderr += c));
  const code = await new Promise((r) => phone.once("exit", r));
  assert.equal(code, 0, stderr);
  await waitState(session, /^成功$/, 60000);
  await screenshot(session, "first-run-auth.png");
});
