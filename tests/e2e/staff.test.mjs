// 平台测试 in the real window: a `bidseal phone init` world, the console starts its relay and a
// real `bidseal phone serve-cosign`, then runs 扫码认证 once per phone answer and per fault with
// a real `bidseal phone scan` process as the phone. Each run must end as the fault dictates,
// with timed steps and a protocol log that holds neither the PIN nor the QR's secret.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { OUT_DIR, startApp, stopApp, screenshot } from "./harness.mjs";
import { cliPath, decodeQr, PIN } from "./world.mjs";
import { byTestId, type, visible } from "./window.mjs";

let dir;
let app;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "bidseal-e2e-staff-"));
  execFileSync(cliPath(), ["phone", "init", path.join(dir, "world"), "--pin", PIN, "--kdf-iterations", "1000"], { stdio: "ignore" });
  app = await startApp(undefined, { BIDSEAL_INDEX: path.join(dir, "index.sqlite") });
});
after(async () => {
  await stopApp(app);
  // The window is gone: no co-signing service of this world may be left running (its shell
  // notices the closed lifeline at once; the app may take a while to exit on a loaded machine).
  const running = () => execFileSync("ps", ["-eo", "args="]).toString().split("\n").filter((l) => l.includes("serve-cosign") && l.includes(dir));
  let left = running();
  for (let i = 0; i < 200 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = running();
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(left, [], "the lab's co-signing service outlived the window");
});

const text = async (session, id) => (await visible(session, id)).getText();
const scrollTo = (session, el) => session.executeScript("arguments[0].scrollIntoView({ block: 'center' });", el);

async function pick(session, id) {
  const el = await visible(session, id);
  await scrollTo(session, el);
  await el.click();
}

/** One run; resolves with the outcome text, the steps' text and the QR payload shown. */
async function runOnce(session, { cert = "ent-huaxia", answer = "confirm", fault = "none", shot }) {
  await pick(session, `staff-cert-${cert}`);
  await pick(session, `staff-answer-${answer}`);
  await pick(session, `staff-fault-${fault}`);
  await pick(session, "staff-run");
  let payload = null;
  // The QR the console shows is a real QR: read it off the window while the run goes.
  await session.wait(async () => (await session.findElements(byTestId("staff-qr"))).length > 0, 15000);
  await scrollTo(session, await session.findElement(byTestId("staff-qr")));
  const codes = decodeQr(await screenshot(session, `${shot}-qr.png`));
  if (codes.length === 1) payload = codes[0];
  const outcome = await session.wait(async () => {
    const found = await session.findElements(byTestId("staff-outcome"));
    return found.length ? found[0].getText() : false;
  }, 40000);
  const steps = await (await session.findElement(byTestId("staff-steps"))).getText();
  fs.writeFileSync(path.join(OUT_DIR, `${shot}.log.txt`), `${outcome}\n${steps}\n`);
  await scrollTo(session, await session.findElement(byTestId("staff-outcome")));
  await screenshot(session, `${shot}.png`);
  return { outcome, steps, payload };
}

function noSecrets(steps, payload) {
  assert.ok(!steps.includes(PIN), "the PIN is not in the log");
  if (payload) {
    const secret = payload.split("#")[1];
    assert.ok(secret && !steps.includes(secret), "the QR's secret is not in the log");
  }
}

test("the console starts the relay and the co-signing service; the platform is not built", async () => {
  const { session } = app;
  await (await visible(session, "home-staff")).click();
  await visible(session, "staff-page");
  await type(session, "staff-world", path.join(dir, "world"));
  await (await visible(session, "staff-open")).click();
  await visible(session, "staff-services");
  assert.equal(await (await visible(session, "staff-run")).isEnabled(), false, "nothing runs before the services");
  await (await visible(session, "staff-svc-relay")).click();
  await session.wait(async () => (await text(session, "staff-svc-state-relay")) === "运行中", 10000);
  await (await visible(session, "staff-svc-cosign")).click();
  await session.wait(async () => (await text(session, "staff-svc-state-cosign")) === "运行中", 30000);
  const relay = await text(session, "staff-svc-url-relay");
  assert.equal((await (await fetch(`${relay}/v1/health`)).json()).status, "ok");
  assert.equal(await (await visible(session, "staff-svc-platform")).isEnabled(), false);
  // The flows other than 扫码认证 are listed, not offered.
  assert.equal(await (await session.findElement({ css: '[data-testid="staff-flow-sign"] input' })).isEnabled(), false);
  await screenshot(session, "staff-services.png");
});

test("confirm: 成功, every step timed", async () => {
  const { outcome, steps, payload } = await runOnce(app.session, { shot: "staff-confirm" });
  assert.match(outcome, /^成功/);
  assert.match(steps, /显示二维码/);
  assert.match(steps, /已扫码/);
  assert.ok(payload && payload.startsWith("bidseal://"), "the QR on the console decodes");
  noSecrets(steps, payload);
});

test("the phone rejects: 已拒绝（rejected_by_user）", async () => {
  const { outcome, steps, payload } = await runOnce(app.session, { answer: "reject", shot: "staff-reject" });
  assert.match(outcome, /^已拒绝（rejected_by_user）/);
  noSecrets(steps, payload);
});

test("a wrong PIN: 已拒绝（wrong_pin）", async () => {
  const { outcome } = await runOnce(app.session, { answer: "wrong_pin", shot: "staff-wrong-pin" });
  assert.match(outcome, /^已拒绝（wrong_pin）/);
});

test("the phone never answers: 失败 on the response time-out", async () => {
  const { outcome } = await runOnce(app.session, { answer: "never_answer", shot: "staff-never" });
  assert.match(outcome, /^失败（scan\.phone_timeout）/);
});

test("the QR expires before the phone scans: 已过期", async () => {
  const { outcome, steps } = await runOnce(app.session, { fault: "expired_qr", shot: "staff-expired" });
  assert.match(outcome, /^已过期/);
  assert.match(steps, /过期后/);
});

test("a disabled certificate is refused, and enabled again after the run", async () => {
  const { session } = app;
  const { outcome, steps } = await runOnce(session, { fault: "certificate_disabled", shot: "staff-disabled" });
  assert.match(outcome, /^已拒绝（certificate_disabled）/);
  assert.match(steps, /已恢复证书 ent-huaxia/);
  assert.match(await (await session.findElement(byTestId("staff-cert-ent-huaxia"))).getText(), /正常/);
});

test("a revoked certificate is refused (and stays revoked)", async () => {
  const { session } = app;
  const { outcome } = await runOnce(session, { cert: "colleague-liu", fault: "certificate_revoked", shot: "staff-revoked" });
  assert.match(outcome, /^已拒绝（certificate_revoked）/);
  await session.wait(async () => /已注销/.test(await (await session.findElement(byTestId("staff-cert-colleague-liu"))).getText()), 5000);
});

test("a slow relay delays every frame and the flow still succeeds", async () => {
  const { outcome, steps } = await runOnce(app.session, { fault: "relay_delay", shot: "staff-delay" });
  assert.match(outcome, /^成功/);
  assert.match(steps, /延迟 800 ms 转发/);
});

test("a relay that drops the phone's answers: 失败, nothing authenticated", async () => {
  const { outcome, steps } = await runOnce(app.session, { fault: "relay_drop", shot: "staff-drop" });
  // The answer never arrives: the desktop times out, or learns first that the phone, done, left.
  assert.match(outcome, /^失败（scan\.(phone_timeout|peer_left)）/);
  assert.match(steps, /丢弃/);
});
