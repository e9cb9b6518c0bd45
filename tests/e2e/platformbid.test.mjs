// A real generated bid through the reference platform, in the real window, against real
// processes on 127.0.0.1: `bidseal relay`, `bidseal phone serve-cosign` (pinned to the
// platform), `bidseal platform serve --demo-world --demo-bind` and `bidseal phone scan` for every
// scan (the payload read off a screenshot of the window by zbarimg).
//
// Flow: staff publish a tender whose bid deadline is a couple of minutes ahead → the bidder
// makes the project from it (从交易平台新建), fills the 投标函, attaches, composes, CA认证,
// places every seal, 标书签章 in session mode and 生成标书, all in the window → 扫码登录 and
// 上传 in 生成标书: the receipt shown, its SHA-256 that of the generated file → after the
// deadline the hall (开标大厅) fetches it from the platform as staff (从交易平台获取): the row says
// 与平台回执一致 → 扫码解密 with the bidder's phone → 已解密, the reading table shows the
// bidder and the price from the form.
//
// The deadline: BIDSEAL_E2E_BID_WINDOW_S seconds after publishing (default 120; the window's
// part takes 40–60 s on the 2-core machine), so the hall waits for what is left of it.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { By } from "selenium-webdriver";
import { endHooks, startApp, screenshot } from "./harness.mjs";
import { PlatformWorld } from "./world.mjs";
import { attachFile, authenticate, composeBid, fillBidForm, generateBid, openGenerate, pickPlatformTender, placeAllSeals, sealInSession } from "./bidder.mjs";
import { byTestId, click, closeScanDialog, fill, readQrFromWindow, show, textOf, type, visible, waitGone, waitState, waitText } from "./window.mjs";

const REPO = path.resolve(new URL("../..", import.meta.url).pathname);
const WINDOW_S = Number(process.env.BIDSEAL_E2E_BID_WINDOW_S ?? 120);
let pw, app, tender, deadline, huaxia, project, output;

before(async () => {
  pw = await PlatformWorld.create("platformbid", { relay: true, demoBind: true });
  huaxia = pw.company("ent-huaxia");
  deadline = Math.floor(Date.now() / 1000) + WINDOW_S;
  tender = await pw.publishTender("rush", deadline, deadline + 1);
  project = path.join(pw.dir, "平台投标.bidproj");
  output = path.join(pw.dir, "华夏投标文件.bsbid");
  app = await startApp(undefined, { BIDSEAL_INDEX: pw.index, BIDSEAL_PLATFORM_URL: pw.platform });
});

endHooks("platformbid", () => app, async () => pw?.close());

// The bidder's phone: it picks the certificate for each request (标书签章 needs the 法人章's).
const phone = (payload, extra) => pw.phone(payload, null, extra);
const huaxiaPhone = (payload, extra) => pw.phone(payload, "ent-huaxia", extra);

test("from the platform's tender to a generated bid, all in the window", async () => {
  const { session } = app;
  await click(session, "home-card-platform");
  await visible(session, "from-platform-dialog");
  await click(session, "from-platform-load");
  await pickPlatformTender(session, tender.id);
  await fill(session, "from-platform-cert", pw.platformCert);
  await fill(session, "from-platform-dir", project);
  await screenshot(session, "platformbid-new.png");
  await click(session, "from-platform-create");
  await visible(session, "project-page", 30000);
  assert.equal(JSON.parse(fs.readFileSync(path.join(project, "work/platform.json"), "utf8")).url, pw.platform);

  await fillBidForm(session, project, {
    "bidder.name": huaxia.name, "bidder.credit_code": huaxia.uscc, "bidder.legal_representative": "张伟",
    price: "4321000.5", duration: "300", quality: "合格", project_manager: "王芳",
  });
  const pdf = path.join(REPO, "assets/demo-tender/tender.pdf");
  for (const section of ["business", "technical", "qualification"]) await attachFile(session, section, pdf);
  await composeBid(session);
  await authenticate(session, phone, huaxia.name, "platformbid-auth.png");
  await placeAllSeals(session, project, "platformbid-placed.png");
  await sealInSession(session, phone, "platformbid-seal.png");
  await openGenerate(session);
  for (const key of ["seals", "bidder", "ca", "deadline"]) {
    assert.equal(await (await session.findElement(byTestId(`check-${key}`))).getAttribute("data-ok"), "true", await textOf(session, `check-${key}`));
  }
  // The deadline as people read it (Beijing time), the platform's tender's.
  assert.match(await textOf(session, "check-deadline"), /投标截止时间 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d（北京时间） 之前/);
  await generateBid(session, phone, output, "platformbid-generate");
});

test("扫码登录 and 上传 in 生成标书: the platform's receipt is for the generated file", async () => {
  const { session } = app;
  await visible(session, "platform-panel");
  const url = await session.findElement(By.css('input[data-testid="platform-url"]'));
  assert.equal(await url.getAttribute("value"), pw.platform, "the project's platform");
  await click(session, "platform-login");
  const ph = huaxiaPhone(await readQrFromWindow(session, "platformbid-login.png"), ["--device", "张伟的手机"]);
  await waitState(session, /^成功$/, 90000);
  assert.equal((await ph.done).code, 0, "扫码登录");
  await closeScanDialog(session);
  await waitText(session, "platform-company", new RegExp(huaxia.name));
  // The file to upload is the one just generated.
  const file = await session.findElement(By.css('input[data-testid="upload-file"]'));
  assert.equal(await file.getAttribute("value"), output);
  await click(session, "upload-start");
  const bytes = fs.readFileSync(output);
  const sha = crypto.createHash("sha256").update(bytes).digest("hex");
  await waitText(session, "receipt-sha256", new RegExp(sha), 60000);
  assert.equal(await textOf(session, "receipt-bidder"), `${huaxia.name}（${huaxia.uscc}）`);
  assert.equal(await textOf(session, "receipt-size"), String(bytes.length));
  assert.match(await textOf(session, "receipt-id"), /提交.*平台签名已验证/);
  assert.equal(fs.readdirSync(path.join(project, "receipts")).length, 1, "the receipt is kept");
  assert.ok(Date.now() / 1000 < deadline, `uploaded before the deadline (raise BIDSEAL_E2E_BID_WINDOW_S if not)`);
  await show(session, "upload-receipt");
  await screenshot(session, "platformbid-receipt.png");
});

test("after the deadline the hall fetches the bid from the platform, the bidder's phone opens it, the price is read", async () => {
  const { session } = app;
  await click(session, "project-back");
  await click(session, "home-hall");
  await visible(session, "hall-page");
  await type(session, "hall-tender", tender.zip);
  await type(session, "hall-cert", pw.platformCert);
  await type(session, "hall-work", path.join(pw.dir, "opened"));
  await click(session, "hall-load");
  await visible(session, "hall-bids");
  await click(session, "hall-fetch");
  await visible(session, "hall-fetch-dialog");
  await fill(session, "hall-fetch-account", "staff");
  await fill(session, "hall-fetch-password", PlatformWorld.PASSWORD);
  const wait = deadline * 1000 - Date.now() + 1500;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  // The dialog was opened before the deadline: it asks the platform again once it passed.
  await waitText(session, "hall-fetch-tender", new RegExp(`${tender.id}[\\s\\S]*已截止`), 15000);
  await screenshot(session, "platformbid-fetch.png");
  await click(session, "hall-fetch-start");
  await waitGone(session, "hall-fetch-dialog", 60000, "the dialog closes when the rows are in");
  await visible(session, "hall-file-0", 60000);
  assert.equal((await session.findElements(byTestId("hall-file-1"))).length, 0, "one bid on the platform, one row");
  assert.ok((await textOf(session, "hall-file-0")).startsWith(huaxia.uscc), await textOf(session, "hall-file-0"));
  assert.match(await textOf(session, "hall-platform-0"), new RegExp(`与平台回执一致[\\s\\S]*${huaxia.name}`));
  // The receipt's time for people: Beijing time, not the signed RFC 3339 text.
  assert.match(await textOf(session, "hall-platform-0"), /平台收到 \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}（北京时间）/);
  assert.equal(await (await visible(session, "hall-decrypt-0")).isEnabled(), true);
  await show(session, "hall-bids");
  await screenshot(session, "platformbid-rows.png");

  await click(session, "hall-decrypt-0");
  const ph = huaxiaPhone(await readQrFromWindow(session, "platformbid-hall-scan.png"), ["--confirm", "--device", "华夏建设的手机", "--platform-cert", pw.platformCert]);
  const shown = await waitState(session, /^(成功|失败：.*|已拒绝.*)$/, 120000);
  const answer = await ph.done;
  assert.equal(shown, "成功", `扫码解密: ${shown}; phone: ${answer.stderr}`);
  assert.equal(answer.code, 0);
  assert.match(await textOf(session, "hall-scan-result"), /已解密并通过全部验证/);
  await screenshot(session, "platformbid-hall-opened-dialog.png");
  await closeScanDialog(session);
  await session.wait(async () => (await (await session.findElement(byTestId("hall-state-0"))).getText()) === "已解密", 20000);
  assert.equal(await textOf(session, "hall-bidder-0"), huaxia.name);
  // The reading table: the form's price by the tender's label, read from the opened bid.
  const read = await Promise.all((await session.findElements(byTestId("hall-price-0"))).map((e) => e.getText()));
  assert.ok(read.includes("投标总价 4321000.50 元"), read.join(" | "));
  assert.ok(read.includes("工期 300 日历天"), read.join(" | "));
  await show(session, "hall-reading");
  await screenshot(session, "platformbid-reading.png");
});
