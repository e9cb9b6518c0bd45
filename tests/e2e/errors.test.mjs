// Error paths of the bidder's scans in the real window, each message saying what to do:
// CA认证 with another company's certificate, with a certificate the enterprise admin disabled,
// and 标书签章 refused on the phone (nothing is written; 刷新二维码 gives a new QR that works).
// (The QR expiring and being refreshed, and the phone refusing CA认证, are in auth.test.mjs.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { By, Key } from "selenium-webdriver";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { World } from "./world.mjs";
import { byTestId, closeScanDialog, displayed, readQrFromWindow, type, visible, waitState } from "./window.mjs";

let world;
let app;
before(async () => {
  world = await World.create();
  world.compose();
  app = await startApp(undefined, { BIDSEAL_INDEX: world.index });
  await (await visible(app.session, "recent-project-0")).click();
  await visible(app.session, "project-page");
});
after(async () => {
  await stopApp(app);
  await world?.close();
});

async function startAuth(session) {
  await (await visible(session, "project-auth")).click();
  await visible(session, "auth-start");
  const ttl = await session.findElement(By.css('[data-testid="auth-qr-ttl"] input'));
  await ttl.clear();
  await ttl.sendKeys("120", Key.TAB);
  await (await visible(session, "auth-start")).click();
  return readQrFromWindow(session, "errors-auth-waiting.png");
}

/** The displayed dialog's reason line and state text. */
async function shown(session) {
  const state = await (await displayed(session, "scan-state")).getText();
  return state;
}

test("生成标书 before sealing: the checklist blocks (seals missing, an output folder that does not exist), with what to do", async () => {
  const { session } = app;
  await (await visible(session, "tab-generate")).click();
  await session.wait(async () => (await session.findElements(By.css('[data-testid="generate-checklist"] li'))).length === 6, 20000);
  const seals = await session.findElement(byTestId("check-seals"));
  assert.equal(await seals.getAttribute("data-ok"), "false");
  assert.match(await seals.getText(), /请在「页面与签章」放置印章后点「标书签章」/);
  await session.wait(async () => (await (await session.findElement(By.css('input[data-testid="generate-output"]'))).getAttribute("value")) !== "", 10000);
  await type(session, "generate-output", path.join(world.dir, "没有这个文件夹", "x.bsbid"));
  await (await visible(session, "generate-check")).click();
  try {
    await session.wait(async () => (await (await session.findElement(byTestId("check-output"))).getAttribute("data-ok")) === "false", 10000);
  } finally {
    await screenshot(session, "errors-generate-blocked.png");
  }
  assert.match(await (await session.findElement(byTestId("check-output"))).getText(), /不存在，请先创建它或换一个位置/);
  assert.equal(await (await session.findElement(byTestId("generate-start"))).isEnabled(), false);
  await screenshot(session, "errors-generate-blocked.png");
  await (await visible(session, "tab-pages")).click();
});

test("CA认证 with another company's certificate: refused, says whose certificate is needed", async () => {
  const { session } = app;
  const phone = world.phone(await startAuth(session), ["--confirm", "--cert", "ent-jiangnan"]);
  const state = await waitState(session, /^(失败|已拒绝)/, 60000);
  await phone.done;
  assert.match(state, new RegExp(`${world.enterprise}|${world.creditCode}`), `names the bidder: ${state}`);
  assert.match(state, /请/, `says what to do: ${state}`);
  assert.equal((await session.findElements(byTestId("project-authenticated"))).length, 0);
  await screenshot(session, "errors-wrong-company.png");
  await closeScanDialog(session);
});

test("CA认证 with a certificate the enterprise admin disabled: refused with what to do; enabled again it works", async () => {
  const { session } = app;
  world.cli(["phone", "admin", "--cosign", world.cosign.url, "--state", world.dir, "disable", "ent-huaxia"]);
  try {
    const phone = world.phone(await startAuth(session), ["--confirm"]);
    const state = await waitState(session, /^(失败|已拒绝)/, 60000);
    await phone.done;
    assert.match(state, /禁用|停用/, `says the certificate is disabled: ${state}`);
    assert.match(state, /请|联系/, `says what to do: ${state}`);
    await screenshot(session, "errors-disabled.png");
    await closeScanDialog(session);
  } finally {
    world.cli(["phone", "admin", "--cosign", world.cosign.url, "--state", world.dir, "enable", "ent-huaxia"]);
  }
  const phone = world.phone(await startAuth(session), ["--confirm"]);
  await waitState(session, /^成功$/, 60000);
  assert.equal((await phone.done).code, 0);
  await closeScanDialog(session);
});

test("标书签章 refused on the phone: 已拒绝 with the reason, nothing written; 刷新二维码 gives a new QR that seals", async () => {
  const { session } = app;
  const sealed = path.join(world.project, "out/sealed.pdf");
  await (await visible(session, "project-seal")).click();
  const first = await readQrFromWindow(session, "errors-seal-waiting.png");
  const refusing = world.phone(first, ["--reject"]);
  const state = await waitState(session, /^已拒绝（.+）$/, 120000);
  await refusing.done;
  assert.ok(!fs.existsSync(sealed), "a refused seal writes nothing");
  await screenshot(session, "errors-seal-rejected.png");
  void state;
  await (await displayed(session, "scan-refresh")).click();
  const fresh = await readQrFromWindow(session, "errors-seal-refreshed.png");
  assert.notEqual(fresh, first);
  const phone = world.phone(fresh, ["--confirm", "--auto-confirm"]);
  await waitState(session, /^成功$/, 180000);
  assert.equal((await phone.done).code, 0);
  assert.ok(fs.existsSync(sealed));
  assert.equal(await shown(session), "成功");
  await closeScanDialog(session);
});
