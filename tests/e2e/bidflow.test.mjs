// The bidder's whole flow in the real window, nothing done by the CLI: new project from the
// demo tender (导入招标文件) → fill the form (a price over the tender's limit is refused with
// what to do; the amount in Chinese capitals shown as it will print) → attach a PDF and a
// scanned image per section (a file that is neither is refused, nothing copied) → 合成投标文件
// → CA认证 by scan → place every seal (本类全部放置 per kind, 骑缝章 over its range) → 标书签章
// in session mode → the 签名 panel shows every signature valid → 生成标书 (checklist, scans) →
// 试解密 by scan. (Drag-and-drop itself is placement.test.mjs; the steps shared with
// platformbid.test.mjs are in bidder.mjs.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { By, until } from "selenium-webdriver";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { World } from "./world.mjs";
import { attachFile, authenticate, composeBid, generateBid, openGenerate, placeAllSeals, sealInSession } from "./bidder.mjs";
import { byTestId, closeScanDialog, fill, readQrFromWindow, type, visible, waitState } from "./window.mjs";

const REPO = path.resolve(new URL("../..", import.meta.url).pathname);
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

test("whole bidder flow in the window: new project → form → attachments → compose → CA认证 → seals → 标书签章 → 签名 all valid", async () => {
  const { session } = app;
  // 导入招标文件.
  // The home screen may still be rendering right after the window opens.
  await (await session.wait(until.elementLocated(By.css('.card[data-flow="import"]')), 15000)).click();
  const dir = path.join(world.dir, "窗口投标.bidproj");
  await type(session, "new-project-tender", world.tender);
  await type(session, "new-project-cert", world.platformCert);
  await type(session, "new-project-dir", dir);
  await (await visible(session, "new-project-create")).click();
  await visible(session, "project-page");
  assert.equal(await (await session.findElement(byTestId("project-compose"))).isEnabled(), false, "nothing to compose yet");

  // 投标函与附件.
  await (await visible(session, "tab-form")).click();
  await visible(session, "project-form");
  await fill(session, "form-bidder.name", world.enterprise);
  await fill(session, "form-bidder.credit_code", world.creditCode);
  await fill(session, "form-bidder.legal_representative", "张伟");
  await fill(session, "form-price", "5000000.01");
  await session.wait(async () => /最高限价|不能超过|超过/.test(await (await session.findElement(By.css(".project-form"))).getText()), 10000);
  await screenshot(session, "form-price-refused.png");
  await fill(session, "form-price", "4321000.5");
  await session.wait(async () => (await (await session.findElement(byTestId("form-capitals-price"))).getText()).includes("肆佰叁拾贰万壹仟元伍角整"), 10000);
  await fill(session, "form-duration", "300");
  await fill(session, "form-quality", "合格");
  await fill(session, "form-project_manager", "王芳");
  await (await visible(session, "form-save")).click();
  await session.wait(async () => /已保存 \d+ 项/.test(await (await visible(session, "form-message")).getText()), 20000);
  const saved = JSON.parse(fs.readFileSync(path.join(dir, "project.json"), "utf8"));
  assert.equal(saved.form.price, "4321000.50");
  assert.equal(saved.bidder.legal_representative, "张伟");

  // Attachments: a file that is neither PDF nor scan is refused, nothing copied.
  const junk = path.join(world.dir, "not-a-pdf.pdf");
  fs.writeFileSync(junk, "MZ\x90\x00 this is not a PDF");
  await fill(session, "attach-path-business", junk);
  await (await visible(session, "attach-add-business")).click();
  const refusal = await visible(session, "attach-error-business", 20000);
  assert.match(await refusal.getText(), /^\[PROJECT_ATTACHMENT_INVALID\]/);
  assert.ok(!fs.existsSync(path.join(dir, "sources/business")) || fs.readdirSync(path.join(dir, "sources/business")).length === 0);
  const pdf = path.join(REPO, "assets/demo-tender/tender.pdf");
  const scan = path.join(world.dir, "营业执照.png");
  execFileSync("convert", ["-size", "800x1100", "xc:white", "-fill", "black", "-draw", "rectangle 100,100 700,300", scan]);
  for (const [section, file] of [["business", pdf], ["technical", pdf], ["qualification", scan]]) await attachFile(session, section, file);
  await screenshot(session, "form-filled.png");

  // 合成投标文件.
  await composeBid(session);

  // CA认证 by scan; every seal (本类全部放置 per kind, 骑缝章 over its range); 标书签章, one scan
  // in session mode.
  const phone = (payload, extra) => world.phone(payload, extra);
  await authenticate(session, phone, world.enterprise, "flow-auth-waiting.png");
  await placeAllSeals(session, dir, "flow-placed.png");
  await sealInSession(session, phone, "flow-seal-waiting.png");

  // 签名: every signature valid.
  await (await visible(session, "tab-signatures")).click();
  await session.wait(async () => /个签名全部有效/.test(await (await visible(session, "signatures-summary", 30000)).getText()), 30000);
  await screenshot(session, "flow-signatures.png");

  // 生成标书: the checklist, then 扫码认证 and the generate scan in one dialog.
  await openGenerate(session);
  for (const key of ["seals", "bidder", "ca", "deadline", "output"]) {
    assert.equal(await (await session.findElement(byTestId(`check-${key}`))).getAttribute("data-ok"), "true", `${key}: ${await (await session.findElement(byTestId(`check-${key}`))).getText()}`);
  }
  assert.equal(await (await session.findElement(byTestId("check-certificate"))).getAttribute("data-ok"), "null");
  // 上传到交易平台 waits for 扫码登录 (no platform in this world: not logged in).
  assert.equal(await (await session.findElement(byTestId("upload-start"))).isEnabled(), false);
  assert.match(await (await visible(session, "platform-company")).getText(), /未登录/);
  await screenshot(session, "generate-checklist.png");
  const output = path.join(world.dir, "华夏投标文件.bsbid");
  await generateBid(session, phone, output, "generate");

  // 试解密 by scan.
  await (await visible(session, "trial-start")).click();
  const trial = world.phone(await readQrFromWindow(session, "trial-waiting.png"), ["--confirm", "--device", "张伟的手机", "--platform-cert", world.platformCert]);
  const shown = await waitState(session, /^(成功|失败：.*|已拒绝.*)$/, 120000);
  const t = await trial.done;
  await screenshot(session, "trial-done.png");
  assert.equal(shown, "成功", `试解密: ${shown}; phone: ${t.stderr}`);
  await closeScanDialog(session);
  assert.match(await (await visible(session, "trial-summary")).getText(), /试解密通过/);
  await screenshot(session, "trial-passed.png");
});
