// 开标大厅 · 从交易平台获取 in the real window, against real processes on 127.0.0.1:
// `bidseal platform serve --demo-world` (a tender whose bid deadline passes during the test, two
// bids uploaded over the platform's API before it) and `bidseal phone serve-cosign`; the phone is
// `bidseal phone scan` reading the QR off a screenshot.
//
// Flow: before the deadline the dialog's fetch is refused (E_HALL_FETCH_SEALED) and a company
// account is refused (E_HALL_FETCH_NOT_STAFF) → an intruder changes one byte of 江南路桥's stored
// file on the platform's disk → after the deadline staff fetch: two rows, 华夏's "与平台回执一致",
// 江南路桥's flagged as not matching its receipt and its 扫码解密 disabled → 华夏's row goes to
// 扫码解密: the QR, the phone's answer (the file is a bare envelope, not a generated bid, so the
// phone refuses it: its ukm names no tender) and the row's 失败 with that reason.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { By } from "selenium-webdriver";
import { endHooks, startApp, screenshot } from "./harness.mjs";
import { PlatformWorld } from "./world.mjs";
import { byTestId, click, closeScanDialog, fill, readQrFromWindow, type, visible, waitGone, waitState, waitText } from "./window.mjs";

const PASSWORD = PlatformWorld.PASSWORD;
let pw, world, dir, platform, app, tender, deadline, huaxiaUscc, jiangnanUscc, jiangnanBid;

/** Uploads an envelope to `cert`'s certificate as `cert`'s company over the platform's API;
 * returns the bid id. */
async function uploadBid(cert, name) {
  const plain = path.join(dir, `${name}.plain`);
  fs.writeFileSync(plain, crypto.randomBytes(3 * 1024 * 1024));
  const file = path.join(dir, `${name}.bsbid`);
  pw.cli(["envelope", "encrypt", plain, file, "--to", path.join(world, `pki/${cert}.pem`)]);
  const bytes = fs.readFileSync(file);
  const token = await pw.login(pw.company(cert).uscc);
  const sha256 = crypto.createHash("sha256").update(bytes).digest("hex");
  const up = await pw.api("POST", `/tenders/${tender.id}/uploads`, { token, json: { size: bytes.length, sha256 } });
  assert.equal(up.status, 201, JSON.stringify(up.data));
  const put = await pw.api("PUT", `/uploads/${up.data.id}?offset=0`, { token, body: bytes });
  assert.equal(put.status, 200, JSON.stringify(put.data));
  const done = await pw.api("POST", `/uploads/${up.data.id}/complete`, { token });
  assert.equal(done.status, 200, JSON.stringify(done.data));
  return up.data.id;
}

before(async () => {
  pw = await PlatformWorld.create("hallfetch");
  ({ dir, world, platform } = pw);
  // The tender: its bid deadline passes during the test, the opening time right after it.
  deadline = Math.floor(Date.now() / 1000) + 75;
  tender = await pw.publishTender("rush", deadline, deadline + 1);
  huaxiaUscc = pw.company("ent-huaxia").uscc;
  jiangnanUscc = pw.company("ent-jiangnan").uscc;
  await uploadBid("ent-huaxia", "huaxia");
  jiangnanBid = await uploadBid("ent-jiangnan", "jiangnan");
  app = await startApp(undefined, { BIDSEAL_INDEX: pw.index, BIDSEAL_PLATFORM_URL: platform });
});

endHooks("hallfetch", () => app, async () => pw?.close());

test("before the deadline the platform keeps the bids sealed; a company account is not staff", async () => {
  const { session } = app;
  await click(session, "home-hall");
  await visible(session, "hall-page");
  await type(session, "hall-tender", tender.zip);
  await type(session, "hall-cert", pw.platformCert);
  await type(session, "hall-work", path.join(dir, "opened"));
  await click(session, "hall-load");
  await visible(session, "hall-bids");
  await click(session, "hall-fetch");
  await visible(session, "hall-fetch-dialog");
  const url = await session.findElement(By.css('input[data-testid="hall-fetch-url"]'));
  await session.wait(async () => (await url.getAttribute("value")) === platform, 10000, "the platform URL is prefilled");
  // The loaded tender as the platform lists it: still open.
  await waitText(session, "hall-fetch-tender", new RegExp(`${tender.id}[\\s\\S]*未截止`));
  await fill(session, "hall-fetch-account", "staff");
  await fill(session, "hall-fetch-password", PASSWORD);
  await screenshot(session, "hallfetch-dialog.png");
  await click(session, "hall-fetch-start");
  const sealed = await waitText(session, "hall-fetch-error", /^\[E_HALL_FETCH_SEALED\]/);
  assert.match(sealed, /截止后/);
  await fill(session, "hall-fetch-account", huaxiaUscc);
  await fill(session, "hall-fetch-password", PASSWORD);
  await click(session, "hall-fetch-start");
  await waitText(session, "hall-fetch-error", /^\[E_HALL_FETCH_NOT_STAFF\]/);
  await fill(session, "hall-fetch-account", "staff");
  await fill(session, "hall-fetch-password", "Wrong@1234");
  await click(session, "hall-fetch-start");
  await waitText(session, "hall-fetch-error", /^\[E_LOGIN_FAILED\]/);
  assert.equal((await session.findElements(byTestId("hall-file-0"))).length, 0, "nothing fetched");
});

test("after the deadline staff fetch both bids; a file changed on the platform is flagged and not opened", async () => {
  const { session } = app;
  // The intruder: one byte of 江南路桥's stored bid.
  const stored = path.join(pw.data, "bids", `${jiangnanBid}.bsbid`);
  const bytes = fs.readFileSync(stored);
  bytes[bytes.length - 50] ^= 1;
  fs.writeFileSync(stored, bytes);
  const wait = deadline * 1000 - Date.now() + 1500;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await fill(session, "hall-fetch-password", PASSWORD);
  await click(session, "hall-fetch-start");
  await waitGone(session, "hall-fetch-dialog", 60000, "the dialog closes when the rows are in");
  await visible(session, "hall-file-1", 60000);
  const files = [await (await visible(session, "hall-file-0")).getText(), await (await visible(session, "hall-file-1")).getText()];
  const huaxiaRow = files.findIndex((f) => f.startsWith(huaxiaUscc));
  const jiangnanRow = files.findIndex((f) => f.startsWith(jiangnanUscc));
  assert.ok(huaxiaRow >= 0 && jiangnanRow >= 0, files.join(", "));
  assert.match(await (await visible(session, `hall-platform-${huaxiaRow}`)).getText(), /与平台回执一致[\s\S]*华夏/);
  assert.match(await (await visible(session, `hall-mismatch-${jiangnanRow}`)).getText(), /与平台回执不符/);
  assert.equal(await (await visible(session, `hall-decrypt-${jiangnanRow}`)).isEnabled(), false, "a flagged file is not opened");
  assert.equal(await (await visible(session, `hall-decrypt-${huaxiaRow}`)).isEnabled(), true);
  assert.ok(fs.existsSync(path.join(dir, "opened", "platform-bids")), "files in the hall's folder");
  await session.executeScript("arguments[0].scrollIntoView({ block: 'center' })", await visible(session, "hall-bids"));
  await screenshot(session, "hallfetch-rows.png");
  app.huaxiaRow = huaxiaRow;
});

test("a fetched bid goes to 扫码解密: QR, the bidder's phone judges the request, the row says why", async () => {
  const { session } = app;
  const row = app.huaxiaRow;
  await click(session, `hall-decrypt-${row}`);
  const payload = await readQrFromWindow(session, "hallfetch-scan.png");
  const phone = pw.phone(payload, "ent-huaxia", ["--platform-cert", pw.platformCert, "--confirm", "--device", "华夏建设的手机"]);
  // The file is a bare envelope (`envelope encrypt`), not a generated bid: its ukm names no
  // tender, so the phone refuses to decrypt it (a generated bid is opened by scan in
  // hall.test.mjs; the fetched file is the one the phone was asked about).
  await waitState(session, /^已拒绝（.*ukm/, 120000);
  assert.notEqual((await phone.done).code, 0);
  await screenshot(session, "hallfetch-scanned.png");
  await closeScanDialog(session);
  await session.wait(async () => (await (await session.findElement(byTestId(`hall-state-${row}`))).getText()) === "失败", 20000);
  const reason = await (await session.findElement(byTestId(`hall-reason-${row}`))).getAttribute("textContent");
  assert.match(reason, /^\[失败\] 扫码解密：.*ukm/);
});
