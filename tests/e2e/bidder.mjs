// The bidder's steps in the real window shared by the flows that need a sealed, generated bid
// (bidflow.test.mjs, platformbid.test.mjs): the 投标函 form, attachments and 合成投标文件, CA认证 by scan, every seal placed (本类全部放置 per
// kind and the 骑缝章), 标书签章 in session mode, 生成标书 (its 扫码认证, then the generate scan).
// `phone(payload, extra)` is the test's simulated phone: a `bidseal phone scan` process for the
// payload read off a screenshot of the window. Each step asserts its own success; the checks a
// test makes around them (refusals, checklists) stay in the test.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { By } from "selenium-webdriver";
import { screenshot } from "./harness.mjs";
import { byTestId, click, closeScanDialog, displayed, fill, readQrFromWindow, textOf, visible, waitState } from "./window.mjs";

const DEVICE = ["--device", "张伟的手机"];
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const placements = (dir) => JSON.parse(fs.readFileSync(path.join(dir, "project.json"), "utf8")).composition.placements;

/** 投标函与附件: fills `values` ({ "bidder.name": …, price: …, … }, the form's field names) and
 * saves; the project (`dir`) then holds them. */
export async function fillBidForm(session, dir, values) {
  await (await visible(session, "tab-form")).click();
  await visible(session, "project-form");
  for (const [field, value] of Object.entries(values)) await fill(session, `form-${field}`, value);
  await (await visible(session, "form-save")).click();
  await session.wait(async () => /已保存 \d+ 项/.test(await (await visible(session, "form-message")).getText()), 20000);
  const saved = JSON.parse(fs.readFileSync(path.join(dir, "project.json"), "utf8"));
  assert.equal(saved.bidder.name, values["bidder.name"] ?? saved.bidder.name);
}

/** Attaches `file` to `section` (the form tab open); waits until the section lists `count` files. */
export async function attachFile(session, section, file, count = 1) {
  await fill(session, `attach-path-${section}`, file);
  await (await visible(session, `attach-add-${section}`)).click();
  await session.wait(async () => (await (await session.findElement(byTestId(`attach-section:${section}`))).findElements(byTestId("attachment-row"))).length === count, 20000);
}

/** 合成投标文件: waits until it can run, runs it, and waits for the 页面 tab to open. */
export async function composeBid(session) {
  await session.wait(async () => (await session.findElement(byTestId("project-compose"))).isEnabled(), 10000);
  await (await visible(session, "project-compose")).click();
  await session.wait(async () => (await (await session.findElement(byTestId("tab-pages"))).findElement(By.xpath("..")).getAttribute("class")).includes("is-disabled") === false, 60000);
}

/** CA认证 by scan (the phone confirms); the project then names `enterprise`. */
export async function authenticate(session, phone, enterprise, shot) {
  await (await visible(session, "project-auth")).click();
  await (await visible(session, "auth-start")).click();
  const ph = phone(await readQrFromWindow(session, shot), ["--confirm", ...DEVICE]);
  await waitState(session, /^成功$/, 60000);
  assert.equal((await ph.done).code, 0, "CA认证");
  await closeScanDialog(session);
  assert.match(await (await visible(session, "project-authenticated")).getText(), new RegExp(escape(enterprise)));
}

/** 本类全部放置 for every seal kind the composed bid's nodes ask for, then the 骑缝章; waits
 * until the project (`dir`) has every placement placed. */
export async function placeAllSeals(session, dir, shot) {
  await (await visible(session, "tab-pages")).click();
  await visible(session, "placement-panel");
  const kinds = new Set(placements(dir).filter((p) => !p.cross_page).flatMap((p) => p.seal_kinds));
  for (const kind of kinds) {
    const pages = await session.findElement(byTestId("project-pages"));
    const n = Number(await pages.getAttribute("data-attempts"));
    const button = await session.findElement(byTestId(`place-all-${kind}`));
    await session.executeScript("arguments[0].scrollIntoView({ block: 'center' })", button);
    await button.click();
    await session.wait(async () => Number(await pages.getAttribute("data-attempts")) > n, 20000);
  }
  await (await session.findElement(byTestId("cross-place"))).click();
  await session.wait(async () => placements(dir).every((p) => p.placed), 20000);
  await screenshot(session, shot);
}

/** 标书签章 with one scan in session mode (the phone confirms every seal). */
export async function sealInSession(session, phone, shot) {
  await (await visible(session, "project-seal")).click();
  const ph = phone(await readQrFromWindow(session, shot), ["--confirm", "--auto-confirm", ...DEVICE]);
  await waitState(session, /^成功$/, 180000);
  assert.equal((await ph.done).code, 0, "标书签章");
  await closeScanDialog(session);
}

/** Opens 生成标书 and waits for its checklist. */
export async function openGenerate(session) {
  await (await visible(session, "tab-generate")).click();
  await visible(session, "generate-panel");
  await session.wait(async () => (await session.findElements(By.css('[data-testid="generate-checklist"] li'))).length === 6, 20000);
}

/** 生成标书 to `output` (the generate tab open): 扫码认证, then the generate scan; the result
 * line names the file and the progress shows the encryption's bytes. Screenshots: PREFIX-auth-waiting,
 * PREFIX-waiting, PREFIX-success. */
export async function generateBid(session, phone, output, prefix) {
  await fill(session, "generate-output", output);
  await (await visible(session, "generate-check")).click();
  await session.wait(async () => (await (await session.findElement(byTestId("check-output"))).getText()).includes(output), 10000);
  await (await visible(session, "generate-start")).click();
  const auth = phone(await readQrFromWindow(session, `${prefix}-auth-waiting.png`), ["--confirm", ...DEVICE]);
  assert.equal((await auth.done).code, 0, "the 扫码认证 of 生成标书");
  const gen = phone(await readQrFromWindow(session, `${prefix}-waiting.png`), ["--confirm", ...DEVICE]);
  await waitState(session, /^成功$/, 120000);
  assert.equal((await gen.done).code, 0, "生成标书");
  assert.match(await (await visible(session, "generate-result")).getText(), new RegExp(`已生成 ${escape(output)}`));
  // Packaging and encryption reported their bytes (the last stage stays shown, complete).
  assert.match(await (await displayed(session, "scan-bytes-text")).getText(), /^加密：[\d.]+ \/ [\d.]+ MiB/);
  await screenshot(session, `${prefix}-success.png`);
  await closeScanDialog(session);
  assert.ok(fs.statSync(output).size > 1000, "the bid file is written");
  assert.match(await (await visible(session, "generated-path")).getText(), new RegExp(`${escape(path.basename(output))}$`));
}

/** Picks tender `id` in 从交易平台新建's list (loaded). A click while the table is still laying
 * out its first rows can land beside the row, as a person's would: click until it is picked. */
export async function pickPlatformTender(session, id) {
  await session.wait(async () => {
    await click(session, `from-platform-tender-${id}`);
    return new RegExp(id).test(await textOf(session, "from-platform-picked").catch(() => ""));
  }, 20000, `tender ${id} picked`);
}
