// 开标大厅 in the real window: the demo world's tender (pinned to its platform certificate) and
// bid file are loaded, the bidder's phone (a real `bidseal phone scan` process with a real
// co-signing service pinned to the platform) decrypts by scan from the QR read off a screenshot,
// the row goes 未解密 → 等待扫码 → 失败 (the phone refused) → 已解密, the reading table shows
// the bidder and the price by the tender's labels, and the report PDF is written.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { By, Key } from "selenium-webdriver";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { HallWorld } from "./world.mjs";
import { byTestId, closeScanDialog, readQrFromWindow, type, visible, waitState } from "./window.mjs";

let world;
let app;
before(async () => {
  world = await HallWorld.create();
  app = await startApp(undefined, { BIDSEAL_INDEX: path.join(world.dir, "index.sqlite") });
});
after(async () => {
  await stopApp(app);
  await world?.close();
});

const scrollTo = (session, el) => session.executeScript("arguments[0].scrollIntoView({ block: 'center' });", el);
const text = async (session, id) => (await visible(session, id)).getText();

async function rowState(session, i) {
  return (await session.findElement(byTestId(`hall-state-${i}`))).getText();
}

test("a tender signed by another platform certificate is refused with what to do", async () => {
  const { session } = app;
  await (await visible(session, "home-hall")).click();
  await visible(session, "hall-page");
  await type(session, "hall-tender", world.tender);
  // A CA root is not the platform that signed this tender.
  await type(session, "hall-cert", path.join(world.phones, "pki", "ca-1.pem"));
  await type(session, "hall-work", world.work);
  await (await visible(session, "hall-load")).click();
  const error = await text(session, "hall-error");
  assert.match(error, /^\[[A-Z_]+\] .*平台证书/, error);
  assert.equal((await session.findElements(byTestId("hall-bids"))).length, 0, "nothing is loaded");
  await screenshot(session, "hall-untrusted.png");
});

test("bid files load one row each; a stranger's file and a second copy are refused", async () => {
  const { session } = app;
  await type(session, "hall-cert", world.platformCert);
  await (await visible(session, "hall-load")).click();
  await visible(session, "hall-bids");
  // Loaded: the form folds away behind 更换招标文件.
  assert.equal((await session.findElements(byTestId("hall-load"))).length, 0);
  await visible(session, "hall-change");
  assert.match(await text(session, "hall-facts"), /滨江新区/);
  const stranger = path.join(world.dir, "stranger.bidseal");
  fs.writeFileSync(stranger, "not an envelope at all");
  const folder = path.dirname(world.bid);
  const area = await session.findElement(By.css('textarea[data-testid="hall-bid-paths"]'));
  // One path a line (WebKitWebDriver types "\n" as nothing: press Enter).
  await area.sendKeys(world.bid, Key.ENTER, stranger, Key.ENTER, folder);
  await (await visible(session, "hall-add")).click();
  await scrollTo(session, await visible(session, "hall-file-0"));
  await screenshot(session, "hall-loaded.png");
  await session.wait(async () => (await session.findElements(byTestId("hall-refused"))).length === 2, 10000);
  const refused = await Promise.all((await session.findElements(byTestId("hall-refused"))).map((e) => e.getText()));
  assert.ok(refused.some((r) => /stranger\.bidseal/.test(r) && /不是可开启的投标文件/.test(r)), refused.join("\n"));
  assert.ok(refused.some((r) => /^\[E_HALL_DUPLICATE\]/.test(r)), refused.join("\n"));
  assert.equal(await text(session, "hall-file-0"), "投标文件.bidseal");
  assert.equal((await session.findElements(byTestId("hall-file-1"))).length, 0, "one row for one bid");
  assert.equal(await rowState(session, 0), "未解密");
  // Nothing is read before decryption.
  assert.equal(await text(session, "hall-bidder-0"), "（未解密，不唱标）");
});

test("从交易平台获取 opens its dialog for the loaded tender (the fetch itself: hallfetch.test.mjs)", async () => {
  const { session } = app;
  await (await visible(session, "hall-fetch")).click();
  await visible(session, "hall-fetch-dialog");
  assert.match(await text(session, "hall-fetch-tender"), /T[0-9a-f]{12}/);
  await (await visible(session, "hall-fetch-cancel")).click();
  await session.wait(async () => {
    for (const d of await session.findElements(byTestId("hall-fetch-dialog"))) if (await d.isDisplayed()) return false;
    return true;
  }, 10000, "the dialog closes");
});

test("扫码解密: a refusal marks the row 失败 with the reason, a new QR opens it and the bid is read", async () => {
  const { session } = app;
  await (await visible(session, "hall-decrypt-0")).click();
  const payload = await readQrFromWindow(session, "hall-scan-waiting.png");
  assert.equal(await rowState(session, 0), "等待扫码");
  assert.match(await text(session, "scan-operation"), /扫码解密/);

  // The bidder presses 拒绝 on the phone.
  const no = world.phone(payload, "ent-huaxia", ["--reject", "--device", "华夏建设的手机"]);
  await waitState(session, /^已拒绝（/, 60000);
  assert.equal((await no.done).code, 1);
  assert.match(await text(session, "scan-reason"), /\[rejected_by_user\]/);
  await screenshot(session, "hall-scan-rejected.png");
  // Behind the dialog the row is 失败 with the phone's reason.
  await session.wait(async () => (await rowState(session, 0)) === "失败", 10000);
  const reason = await (await session.findElement(byTestId("hall-reason-0"))).getAttribute("textContent");
  assert.match(reason, /^\[失败\] 扫码解密：.*（rejected_by_user）$/);

  // 刷新二维码: a new QR; this time the phone confirms.
  await (await visible(session, "scan-refresh")).click();
  const again = await readQrFromWindow(session, "hall-scan-refreshed.png");
  assert.notEqual(again, payload, "a new scan, a new QR");
  const yes = world.phone(again, "ent-huaxia", ["--confirm", "--device", "华夏建设的手机"]);
  await waitState(session, /^成功$/, 120000);
  assert.equal((await yes.done).code, 0);
  assert.match(await text(session, "hall-scan-result"), /已解密并通过全部验证/);
  await screenshot(session, "hall-scan-success.png");
  await closeScanDialog(session);

  await session.wait(async () => (await rowState(session, 0)) === "已解密", 10000);
  assert.match(await text(session, "hall-bidder-0"), /\S/);
  const price = await text(session, "hall-price-0");
  assert.match(price, /\d/, "the price is read");
  await scrollTo(session, await visible(session, "hall-reading"));
  await screenshot(session, "hall-opened.png");
});

test("the opening record is exported as a PDF with the bidder in it", async () => {
  const { session } = app;
  const pdf = path.join(world.dir, "开标记录.pdf");
  await type(session, "hall-export-path", pdf);
  await (await visible(session, "hall-export")).click();
  assert.match(await text(session, "hall-export-note"), /已导出开标记录（1 份投标文件）/);
  const bidder = await text(session, "hall-bidder-0");
  const pdfText = execFileSync("pdftotext", [pdf, "-"]).toString();
  assert.ok(pdfText.includes(bidder), `the PDF names ${bidder}`);
  await (await visible(session, "hall-back")).click();
  await visible(session, "home-hall");
});
