// 交易平台 in the real window, against real processes on 127.0.0.1: `bidseal relay`,
// `bidseal phone serve-cosign`, `bidseal platform serve --demo-world` and `bidseal phone scan`
// (the phone reads the platform's QR from a screenshot of the window through zbarimg). Between
// the app and the platform sits a small HTTP proxy of this test: it passes everything through
// until a test asks it to be an attacker or a bad network — change one byte of a record or of a
// receipt, cut the connection after the first chunk of an upload, or end the session.
//
// Flow: 从交易平台新建 (a wrong platform certificate refused) → 同步诚信库 by scan: an unbound
// certificate is refused saying how to bind (platform's /login and /bind), bound through the
// platform's API + a phone scan, then synced; records ticked to cite; a record with a changed
// byte refused and the last good copy kept → 上传: cut mid-upload (E_PLATFORM_OFFLINE), resumed,
// the verified receipt shown and kept; a receipt with a changed byte refused and not kept; the
// session ended (E_SESSION_EXPIRED); 撤回 → a tender whose deadline passed: E_DEADLINE_PASSED.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { By } from "selenium-webdriver";
import { endHooks, startApp, screenshot } from "./harness.mjs";
import { PlatformWorld } from "./world.mjs";
import { pickPlatformTender } from "./bidder.mjs";
import { byTestId, click, closeScanDialog, fill, readQrFromWindow, show, textOf, visible, waitState, waitText } from "./window.mjs";

let pw, dir, world, platform, proxy, app;
let huaxia; // { uscc, name }
let bidFile, bidSha, bidSize;
let pastProject, pastDeadline;
const project = () => path.join(dir, "平台投标.bidproj");
const cli = (args) => pw.cli(args);
const api = (...args) => pw.api(...args);
const login = (name) => pw.login(name);

function phone(payload, cert = "ent-huaxia", extra = []) {
  return pw.phone(payload, cert, ["--device", "张伟的手机", ...extra]);
}

/** 扫码绑定 as the platform's web page does it: password login, bind scan, the phone confirms. */
async function bindByScan(cert) {
  const token = await login(huaxia.uscc);
  const start = await api("POST", "/scan-bind", { token, json: {} });
  assert.equal(start.status, 200, JSON.stringify(start.data));
  const ph = phone(start.data.qr, cert);
  let state = "";
  for (let i = 0; i < 8 && !["done", "rejected", "expired"].includes(state); i++) {
    const r = await api("GET", `/scan-bind/${start.data.id}?known=${state || "waiting"}&wait=25`, { token });
    state = r.data.state;
  }
  const out = await ph.done;
  assert.equal(state, "done", `bind: ${out.stderr}`);
}

// ---- the proxy between the app and the platform ----
const faults = { tamperRecord: false, tamperReceipt: false, cutAfterChunks: -1, expireSession: false, chunkDelayMs: 0 };
let chunksSeen = 0;
const sockets = new Set();

function changeOneByte(text, from, to) {
  const i = text.indexOf(from);
  assert.ok(i >= 0, `nothing to change: ${from}`);
  return text.slice(0, i) + to + text.slice(i + from.length);
}

function startProxy() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const url = req.url ?? "";
      const isChunk = req.method === "PUT" && url.startsWith("/api/v1/uploads/");
      if (isChunk) {
        chunksSeen++;
        if (faults.cutAfterChunks >= 0 && chunksSeen > faults.cutAfterChunks) { req.socket.destroy(); return; }
        if (faults.chunkDelayMs) await new Promise((r) => setTimeout(r, faults.chunkDelayMs));
      }
      if (faults.expireSession && req.headers.authorization) {
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: "E_SESSION_EXPIRED", message: "会话已过期，请重新登录" }));
        return;
      }
      const headers = { ...req.headers };
      delete headers.host;
      const up = http.request(`${platform}${url}`, { method: req.method, headers }, (pres) => {
        const body = [];
        pres.on("data", (c) => body.push(c));
        pres.on("end", () => {
          let out = Buffer.concat(body);
          const h = { ...pres.headers };
          if (faults.tamperRecord && req.method === "GET" && url.startsWith("/api/v1/records")) {
            const lib = JSON.parse(out.toString());
            const r = lib.records[0];
            r.record_json = changeOneByte(r.record_json, `"title":"`, `"title":"X`);
            out = Buffer.from(JSON.stringify(lib));
          }
          if (faults.tamperReceipt && url.endsWith("/complete") && pres.statusCode === 200) {
            const w = JSON.parse(out.toString());
            // One byte of the stated size: 1 → 2 in its first digit.
            w.receipt_json = w.receipt_json.replace(/"size":(\d)/, (_, d) => `"size":${(Number(d) + 1) % 10}`);
            out = Buffer.from(JSON.stringify(w));
          }
          delete h["content-length"];
          delete h["transfer-encoding"];
          h["content-length"] = String(out.length);
          res.writeHead(pres.statusCode ?? 502, h);
          res.end(out);
        });
      });
      up.on("error", () => req.socket.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` })));
}

before(async () => {
  pw = await PlatformWorld.create("platform", { relay: true, testClock: true });
  ({ dir, world, platform } = pw);
  proxy = await startProxy();
  huaxia = pw.company("ent-huaxia");

  // The bid file: our CMS envelope (10 MiB, three chunks) to the bidder's certificate.
  const plain = path.join(dir, "bid.plain");
  fs.writeFileSync(plain, crypto.randomBytes(10 * 1024 * 1024));
  bidFile = path.join(dir, "投标文件.bsbid");
  cli(["envelope", "encrypt", plain, bidFile, "--to", path.join(world, "pki/ent-huaxia.pem")]);
  const bytes = fs.readFileSync(bidFile);
  bidSha = crypto.createHash("sha256").update(bytes).digest("hex");
  bidSize = bytes.length;

  // A second tender whose deadline the platform's clock is moved past in the last test,
  // published by staff; its project.
  pastDeadline = Math.floor(Date.now() / 1000) + 1800;
  const past = (await pw.publishTender("past", pastDeadline, pastDeadline + 60)).zip;
  pastProject = path.join(dir, "截止投标.bidproj");
  cli(["project", "new", pastProject, "--tender", past, "--platform-cert", pw.platformCert]);
  cli(["project", "set", pastProject, `bidder.name=${huaxia.name}`, `bidder.credit_code=${huaxia.uscc}`]);

  app = await startApp(undefined, { BIDSEAL_INDEX: pw.index, BIDSEAL_PLATFORM_URL: proxy.url });
});

endHooks("platform", () => app, async () => {
  for (const s of sockets) s.destroy();
  proxy?.server.close();
  await pw?.close();
});

test("从交易平台新建: the published tenders, a wrong platform certificate refused, the project made and noting the platform", async () => {
  const { session } = app;
  await click(session, "home-card-platform");
  await visible(session, "from-platform-dialog");
  const url = await session.findElement(By.css('input[data-testid="from-platform-url"]'));
  await session.wait(async () => (await url.getAttribute("value")) === proxy.url, 10000, "BIDSEAL_PLATFORM_URL is the default");
  await click(session, "from-platform-load");
  await visible(session, "from-platform-tenders");
  const tenders = (await api("GET", "/tenders")).data;
  const demo = tenders.find((t) => t.bid_deadline !== pastDeadline);
  await pickPlatformTender(session, demo.id);
  // Another key's certificate: the package does not verify, nothing is made.
  const stranger = path.join(dir, "stranger.crt");
  const key = path.join(dir, "stranger.key");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", stranger, "-days", "2", "-subj", "/O=Stranger/CN=platform"], { stdio: "ignore" });
  await fill(session, "from-platform-cert", stranger);
  await fill(session, "from-platform-dir", project());
  await click(session, "from-platform-create");
  const refused = await waitText(session, "from-platform-error", /\[[A-Z_]+\]/);
  assert.ok(!fs.existsSync(path.join(project(), "project.json")), `nothing made after: ${refused}`);
  await screenshot(session, "platform-new-refused.png");
  await fill(session, "from-platform-cert", path.join(world, "pki/platform.crt"));
  await click(session, "from-platform-create");
  await visible(session, "project-page", 30000);
  assert.match(await textOf(session, "project-title"), /·/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(project(), "work/platform.json"), "utf8")).url, proxy.url);
  cli(["project", "set", project(), `bidder.name=${huaxia.name}`, `bidder.credit_code=${huaxia.uscc}`]);
});

test("同步诚信库 by scan: unbound certificate refused with how to bind; bound, synced, records ticked to cite; a changed byte refused, last good copy kept", async () => {
  const { session } = app;
  await click(session, "project-sync");
  await visible(session, "integrity-panel");
  let payload = await readQrFromWindow(session, "platform-sync-qr.png");
  let ph = phone(payload);
  const refused = await waitState(session, /已拒绝/, 60000);
  await ph.done;
  assert.match(await textOf(session, "scan-reason"), /PLATFORM_CERT_NOT_BOUND/);
  assert.match(refused, /尚未绑定/);
  assert.ok(refused.includes(`${proxy.url}/bind`), `the message names the platform's bind page: ${refused}`);
  await screenshot(session, "platform-sync-not-bound.png");

  await bindByScan("ent-huaxia");
  await click(session, "scan-refresh");
  payload = await readQrFromWindow(session, "platform-sync-qr2.png");
  ph = phone(payload);
  await waitState(session, /成功/, 90000);
  await ph.done;
  const summary = await textOf(session, "sync-result");
  assert.match(summary, new RegExp(`${huaxia.name}：新增 [1-9]\\d*，变更 0，删除 0，未变 0，拒收 0`));
  await closeScanDialog(session);
  const rows = await session.findElements(By.css('[data-testid="records-table"] tbody tr'));
  assert.ok(rows.length >= 2, `records listed: ${rows.length}`);
  await screenshot(session, "platform-sync-records.png");

  // Every record is cited until the bidder picks; untick the first, it stays unticked.
  const boxes = await session.findElements(By.css('input[data-testid^="cite-"]'));
  for (const b of boxes) assert.equal(await b.isSelected(), true);
  const firstId = (await boxes[0].getAttribute("data-testid")).slice("cite-".length);
  await boxes[0].click();
  await session.wait(async () => !(await (await session.findElement(byTestId(`cite-${firstId}`))).isSelected()), 10000);
  await click(session, "tab-generate");
  await click(session, "tab-integrity");
  await visible(session, "records-table");
  assert.equal(await (await session.findElement(byTestId(`cite-${firstId}`))).isSelected(), false, "the pick is stored");
  const others = await session.findElements(By.css('input[data-testid^="cite-"]'));
  assert.equal((await Promise.all(others.map((b) => b.isSelected()))).filter(Boolean).length, others.length - 1);

  // A record with one changed byte: refused, the kept copy (version, title) unchanged.
  const lib = (await api("GET", "/records", { token: await login(huaxia.uscc) })).data;
  const target = lib.records[0];
  const keptTitle = await textOf(session, `record-${target.id}`);
  faults.tamperRecord = true;
  try {
    await click(session, "sync-start");
    payload = await readQrFromWindow(session, "platform-sync-qr3.png");
    ph = phone(payload);
    await waitState(session, /成功/, 90000);
    await ph.done;
  } finally {
    faults.tamperRecord = false;
  }
  assert.match(await textOf(session, "sync-result"), /拒收 1/);
  await closeScanDialog(session);
  const line = await waitText(session, "sync-refused", new RegExp(target.id));
  assert.match(line, /签名|E_PLATFORM|验证/, line);
  assert.match(line, new RegExp(`保留本地版本 v${target.version}`));
  assert.equal(await textOf(session, `record-${target.id}`), keptTitle, "last good copy kept");
  assert.ok(!keptTitle.startsWith("X"));
  await screenshot(session, "platform-sync-refused.png");
});

test("上传: cut mid-upload then resumed; the verified receipt shown and kept; a changed receipt byte refused and not kept; session ended; 撤回", async () => {
  const { session } = app;
  await click(session, "tab-generate");
  await visible(session, "platform-panel");
  await waitText(session, "platform-company", new RegExp(huaxia.name), 20000);
  await fill(session, "upload-file", bidFile);

  // The network drops after the first chunk: offline, with what to do.
  chunksSeen = 0;
  faults.cutAfterChunks = 1;
  faults.chunkDelayMs = 400;
  try {
    await click(session, "upload-start");
    await waitText(session, "platform-error", /E_PLATFORM_OFFLINE/, 60000);
  } finally {
    faults.cutAfterChunks = -1;
  }
  assert.match(await textOf(session, "platform-advice"), /续传/);
  assert.match(await textOf(session, "upload-progress-text"), /上传：4\.0 \/ 10\.0 MiB/);
  await show(session, "platform-error");
  await screenshot(session, "platform-upload-offline.png");

  // Again: resumes at the platform's offset; progress with time left; the receipt.
  chunksSeen = 0;
  await click(session, "upload-start");
  await waitText(session, "upload-progress-text", /剩余约 \d+ 秒|上传：10\.0 \/ 10\.0/, 20000);
  await waitText(session, "receipt-sha256", new RegExp(bidSha), 60000);
  assert.ok(chunksSeen <= 2, `resumed, not restarted: ${chunksSeen} chunks sent`);
  faults.chunkDelayMs = 0;
  assert.equal(await textOf(session, "receipt-bidder"), `${huaxia.name}（${huaxia.uscc}）`);
  assert.equal(await textOf(session, "receipt-size"), String(bidSize));
  assert.match(await textOf(session, "receipt-time"), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d（北京时间）$/);
  assert.match(await textOf(session, "receipt-id"), /提交.*平台签名已验证/);
  const kept = fs.readdirSync(path.join(project(), "receipts"));
  assert.equal(kept.length, 1);
  await show(session, "upload-receipt");
  await screenshot(session, "platform-upload-receipt.png");

  // A receipt with one changed byte: refused, not kept.
  faults.tamperReceipt = true;
  try {
    await click(session, "upload-start");
    await waitText(session, "platform-error", /E_PLATFORM_SIGNATURE/, 60000);
  } finally {
    faults.tamperReceipt = false;
  }
  assert.deepEqual(fs.readdirSync(path.join(project(), "receipts")), kept, "nothing kept");
  assert.match(await textOf(session, "platform-advice"), /已拒收且未保存/);
  await show(session, "platform-error");
  await screenshot(session, "platform-upload-bad-receipt.png");

  // The platform ends the session: the window says to log in again.
  faults.expireSession = true;
  try {
    await click(session, "upload-start");
    await waitText(session, "platform-error", /E_SESSION_EXPIRED/, 30000);
  } finally {
    faults.expireSession = false;
  }
  await waitText(session, "platform-company", /未登录/, 10000);
  assert.match(await textOf(session, "platform-advice"), /扫码登录/);

  // Log in again by scan (same dialog), then 撤回.
  await click(session, "platform-login");
  const payload = await readQrFromWindow(session, "platform-login-qr.png");
  const ph = phone(payload);
  await waitState(session, /成功/, 90000);
  await ph.done;
  await closeScanDialog(session);
  await waitText(session, "platform-company", new RegExp(huaxia.name));
  await click(session, "upload-withdraw");
  await click(session, "upload-withdraw-confirm");
  await waitText(session, "receipt-id", /撤回.*平台签名已验证/, 30000);
  const rows = await session.findElements(By.css('[data-testid="receipts-table"] tbody tr'));
  assert.equal(rows.length, 2, "submit and withdraw kept (the refused one is not)");
  await show(session, "upload-receipt");
  await screenshot(session, "platform-withdrawn.png");
});

test("a tender whose deadline passed: the upload is refused with E_DEADLINE_PASSED and what it means", async () => {
  const { session } = app;
  await click(session, "project-back");
  await fill(session, "open-path", pastProject);
  await click(session, "open-path-button");
  await visible(session, "project-page", 30000);
  await click(session, "tab-generate");
  await visible(session, "platform-panel");
  await fill(session, "platform-url", proxy.url);
  await click(session, "platform-login");
  const payload = await readQrFromWindow(session, "platform-login-qr2.png");
  const ph = phone(payload);
  await waitState(session, /成功/, 90000);
  await ph.done;
  await closeScanDialog(session);
  await fill(session, "upload-file", bidFile);
  // The platform's clock past the deadline (its sessions last 8 h: the login stays good);
  // the app's own clock is still before it, so the refusal must come from the platform.
  await pw.advanceClock(pastDeadline - Math.floor(Date.now() / 1000) + 1);
  await click(session, "upload-start");
  const err = await waitText(session, "platform-error", /E_DEADLINE_PASSED/, 30000);
  assert.match(err, /截止/);
  assert.match(err, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}（北京时间）/, "the deadline in Beijing time, as the checklist shows it");
  assert.match(await textOf(session, "platform-advice"), /已过投标截止时间/);
  assert.ok(!fs.existsSync(path.join(pastProject, "receipts")) || fs.readdirSync(path.join(pastProject, "receipts")).length === 0);
  await show(session, "platform-error");
  await screenshot(session, "platform-deadline-passed.png");
});
