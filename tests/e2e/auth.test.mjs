// CA认证 (扫码认证) in the real window with the app's embedded relay: the QR is read from a
// screenshot of the window by zbarimg (as a phone camera would) and handed to a real
// `bidseal phone scan` process backed by a real `bidseal phone serve-cosign`. The window must
// show 成功 with the certificate's enterprise, 已拒绝 with the phone's reason, and 已过期 with a
// 刷新二维码 that gives a new QR which works.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { By, Key } from "selenium-webdriver";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { World } from "./world.mjs";
import { byTestId, closeScanDialog, readQrFromWindow, stateText, visible, waitState } from "./window.mjs";

let world;
let app;
before(async () => {
  world = await World.create();
  app = await startApp(undefined, { BIDSEAL_INDEX: world.index });
});
after(async () => {
  await stopApp(app);
  await world?.close();
});

/** The project page of the test world's project (opened from the recent list if needed). */
async function projectPage(session) {
  if ((await session.findElements(byTestId("project-page"))).length === 0) {
    await (await visible(session, "recent-project-0")).click();
  }
  await visible(session, "project-page");
}

async function openAuthDialog(session, ttlSecs) {
  await projectPage(session);
  await (await visible(session, "project-auth")).click();
  await visible(session, "auth-start");
  const ttl = await session.findElement(By.css('[data-testid="auth-qr-ttl"] input'));
  await ttl.clear();
  await ttl.sendKeys(String(ttlSecs), Key.TAB);
  await session.wait(async () => (await ttl.getAttribute("value")) === String(ttlSecs), 3000);
}

test("the project from the local index opens with the tender's tree of signing nodes", async () => {
  const { session } = app;
  const row = await visible(session, "recent-project-0");
  assert.match(await row.getText(), /\S/);
  await screenshot(session, "home-recent.png");
  await row.click();
  await visible(session, "project-page");
  assert.equal(await (await session.findElement(byTestId("project-bidder"))).getText(), world.enterprise);
  await screenshot(session, "project.png");
  const states = await Promise.all((await session.findElements(byTestId("node-state"))).map((e) => e.getAttribute("textContent")));
  assert.ok(states.length > 0, "the tender's signing nodes are listed");
  // Not composed yet: every node is honestly 未映射.
  assert.deepEqual([...new Set(states.map((s) => s.trim()))], ["未映射"]);
});

test("CA认证 by scan: the QR read from the window authenticates the project's bidder", async () => {
  const { session } = app;
  await openAuthDialog(session, 120);
  // The seed's three methods: only 扫码认证 can be chosen.
  for (const [id, disabled] of [["auth-method-scan", false], ["auth-method-national", true], ["auth-method-usbkey", true]]) {
    const input = await session.findElement(By.css(`[data-testid="${id}"] input`));
    assert.equal(await input.isEnabled(), !disabled, `${id} enabled state`);
  }
  await screenshot(session, "auth-methods.png");
  await (await visible(session, "auth-start")).click();
  const payload = await readQrFromWindow(session, "scan-waiting.png");
  const countdown = await (await visible(session, "scan-countdown")).getText();
  assert.match(countdown, /二维码 \d+ 秒后过期/);

  const phone = world.phone(payload, ["--confirm", "--device", "张伟的手机"]);
  await waitState(session, /^成功$/, 60000);
  const result = await phone.done;
  assert.equal(result.code, 0, `phone failed: ${result.stderr}`);
  assert.equal(await (await visible(session, "auth-enterprise")).getText(), world.enterprise);
  assert.match(await (await session.findElement(byTestId("scan-result"))).getText(), new RegExp(world.creditCode));
  assert.match(await (await session.findElement(byTestId("scan-device"))).getText(), /张伟的手机/);
  await screenshot(session, "scan-success.png");
  await closeScanDialog(session);
  const tag = await visible(session, "project-authenticated");
  assert.match(await tag.getText(), new RegExp(world.enterprise));
});

test("the phone refuses: the window shows 已拒绝 with the phone's reason", async () => {
  const { session } = app;
  await openAuthDialog(session, 120);
  await (await visible(session, "auth-start")).click();
  const payload = await readQrFromWindow(session, "scan-waiting-2.png");
  const phone = world.phone(payload, ["--reject"]);
  const shown = await waitState(session, /^已拒绝（.+）$/, 60000);
  await phone.done;
  assert.doesNotMatch(shown, /成功/);
  const reason = await (await session.findElement(byTestId("scan-reason"))).getText();
  assert.match(reason, /^\[[a-z_.]+\]$/, "the refusal code is shown");
  await screenshot(session, "scan-rejected.png");
  await closeScanDialog(session);
});

test("the QR expires: 已过期, the old QR no longer works, 刷新二维码 gives a new one that does", async () => {
  const { session } = app;
  await openAuthDialog(session, 6);
  await (await visible(session, "auth-start")).click();
  const old = await readQrFromWindow(session, "scan-waiting-3.png");
  await waitState(session, /^已过期$/, 20000);
  await screenshot(session, "scan-expired.png");
  // A phone that scans the expired QR gets nowhere, and the window stays 已过期.
  const late = await world.phone(old, ["--confirm"]).done;
  assert.notEqual(late.code, 0, "a phone must not join an expired scan");
  assert.equal(await stateText(session), "已过期");

  await (await visible(session, "scan-refresh")).click();
  const fresh = await readQrFromWindow(session, "scan-refreshed.png");
  assert.notEqual(fresh, old, "刷新二维码 shows a new QR");
  const phone = world.phone(fresh, ["--confirm"]);
  await waitState(session, /^成功$/, 60000);
  assert.equal((await phone.done).code, 0);
  assert.equal(await (await visible(session, "auth-enterprise")).getText(), world.enterprise);
  await closeScanDialog(session);
});

test("the phone scanned but has not answered: 已扫码，请在手机上确认; closing the dialog cancels the scan", async () => {
  const { session } = app;
  await openAuthDialog(session, 120);
  await (await visible(session, "auth-start")).click();
  const payload = await readQrFromWindow(session, "scan-waiting-4.png");
  const phone = world.phone(payload, ["--never-answer", "--device", "李娜的手机"]);
  await waitState(session, /^已扫码，请在手机上确认$/, 30000);
  assert.match(await (await visible(session, "scan-device")).getText(), /李娜的手机/);
  await screenshot(session, "scan-scanned.png");
  await closeScanDialog(session);
  // The desktop left the scan: the waiting phone is told and gives up (not after its own
  // 60 s first-request time-out).
  const started = Date.now();
  const timer = setTimeout(() => phone.child.kill("SIGKILL"), 30000);
  const result = await phone.done;
  clearTimeout(timer);
  const summary = JSON.parse(result.stdout);
  assert.equal(summary.ended, "desktop_left", `the phone was told the desktop left: ${result.stdout}`);
  assert.deepEqual(summary.answered, [], "nothing was answered");
  assert.ok(Date.now() - started < 30000, "the phone was not told that the desktop left");
});
