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
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { By } from "selenium-webdriver";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { cliPath, spawnPhone, PIN } from "./world.mjs";
import { byTestId, closeScanDialog, displayed, readQrFromWindow, type, visible, waitState } from "./window.mjs";

const PASSWORD = "Demo@1234";
const procs = [];
let bin, dir, world, data, cosign, platform, app, tender, deadline, huaxiaUscc, jiangnanUscc, jiangnanBid;

function startServer(args, label) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    procs.push(child);
    let log = "";
    const timer = setTimeout(() => reject(new Error(`${label} did not start: ${log}`)), 60000);
    const onData = (d) => {
      log += d.toString();
      const m = log.match(/http:\/\/127\.0\.0\.1:\d+/);
      if (m) { clearTimeout(timer); resolve(m[0]); }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`${label} exited ${code}: ${log}`)); });
  });
}

const cli = (args) => execFileSync(bin, args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

async function api(method, p, { token, json, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (json) headers["content-type"] = "application/json";
  const r = await fetch(`${platform}/api/v1${p}`, { method, headers, body: json ? JSON.stringify(json) : body });
  const text = await r.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { /* bytes */ }
  return { status: r.status, data: parsed };
}

async function login(account) {
  const r = await api("POST", "/login", { json: { login: account, password: PASSWORD } });
  assert.equal(r.status, 200, JSON.stringify(r.data));
  return r.data.token;
}

function usccOf(cert) {
  const subject = execFileSync("openssl", ["x509", "-in", path.join(world, `pki/${cert}.pem`), "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"]).toString();
  return subject.match(/serialNumber=([0-9A-Z]{18})/)[1];
}

/** Uploads an envelope to `cert`'s certificate as `cert`'s company; returns the bid id. */
async function uploadBid(cert, name) {
  const plain = path.join(dir, `${name}.plain`);
  fs.writeFileSync(plain, crypto.randomBytes(3 * 1024 * 1024));
  const file = path.join(dir, `${name}.bsbid`);
  cli(["envelope", "encrypt", plain, file, "--to", path.join(world, `pki/${cert}.pem`)]);
  const bytes = fs.readFileSync(file);
  const token = await login(usccOf(cert));
  const sha256 = crypto.createHash("sha256").update(bytes).digest("hex");
  const up = await api("POST", `/tenders/${tender.id}/uploads`, { token, json: { size: bytes.length, sha256 } });
  assert.equal(up.status, 201, JSON.stringify(up.data));
  const put = await api("PUT", `/uploads/${up.data.id}?offset=0`, { token, body: bytes });
  assert.equal(put.status, 200, JSON.stringify(put.data));
  const done = await api("POST", `/uploads/${up.data.id}/complete`, { token });
  assert.equal(done.status, 200, JSON.stringify(done.data));
  return up.data.id;
}

before(async () => {
  bin = cliPath();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "bidseal-e2e-hallfetch-"));
  world = path.join(dir, "world");
  data = path.join(dir, "data");
  execFileSync(bin, ["phone", "init", world, "--pin", PIN, "--kdf-iterations", "1000"], { stdio: "ignore" });
  cosign = await startServer(["phone", "serve-cosign", "--listen", "127.0.0.1:0", "--state", world, "--platform-cert", path.join(world, "pki/platform.crt")], "cosign");
  platform = await startServer(["platform", "serve", "--listen", "127.0.0.1:0", "--data", data, "--demo-world", world], "platform");
  // The tender: its bid deadline passes during the test, the opening time right after it.
  deadline = Math.floor(Date.now() / 1000) + 75;
  const iso = (unix) => new Date(unix * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const zip = path.join(dir, "rush.zip");
  cli(["tender", "make", "--world", world, "--out", zip, "--deadline", iso(deadline), "--opening-time", iso(deadline + 1)]);
  const staff = await login("staff");
  const pub = await api("POST", "/staff/tenders", { token: staff, body: fs.readFileSync(zip) });
  assert.equal(pub.status, 200, JSON.stringify(pub.data));
  tender = { ...pub.data, zip };
  huaxiaUscc = usccOf("ent-huaxia");
  jiangnanUscc = usccOf("ent-jiangnan");
  await uploadBid("ent-huaxia", "huaxia");
  jiangnanBid = await uploadBid("ent-jiangnan", "jiangnan");
  app = await startApp(undefined, { BIDSEAL_INDEX: path.join(dir, "index.sqlite"), BIDSEAL_PLATFORM_URL: platform });
});

let ended = 0;
afterEach(async () => {
  if (app) await screenshot(app.session, `hallfetch-end-${++ended}.png`).catch(() => undefined);
});

after(async () => {
  await stopApp(app);
  for (const p of procs) { try { p.kill("SIGKILL"); } catch { /* gone */ } }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function click(session, id) {
  const el = await visible(session, id, 20000);
  await session.executeScript("arguments[0].scrollIntoView({ block: 'center' })", el);
  await el.click();
}

async function fill(session, id, text) {
  const input = await session.findElement(By.css(`input[data-testid="${id}"]`));
  await session.executeScript("arguments[0].scrollIntoView({ block: 'center' })", input);
  await type(session, id, text);
}

async function waitText(session, id, pattern, timeout = 30000) {
  let last = "";
  try {
    await session.wait(async () => {
      const el = await displayed(session, id);
      last = el ? await el.getText() : "";
      return pattern.test(last);
    }, timeout);
  } catch {
    throw new Error(`${id} never matched ${pattern}; last: "${last}"`);
  }
  return last;
}

test("before the deadline the platform keeps the bids sealed; a company account is not staff", async () => {
  const { session } = app;
  await click(session, "home-hall");
  await visible(session, "hall-page");
  await type(session, "hall-tender", tender.zip);
  await type(session, "hall-cert", path.join(world, "pki/platform.crt"));
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
  const stored = path.join(data, "bids", `${jiangnanBid}.bsbid`);
  const bytes = fs.readFileSync(stored);
  bytes[bytes.length - 50] ^= 1;
  fs.writeFileSync(stored, bytes);
  const wait = deadline * 1000 - Date.now() + 1500;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await fill(session, "hall-fetch-password", PASSWORD);
  await click(session, "hall-fetch-start");
  await session.wait(async () => {
    for (const d of await session.findElements(byTestId("hall-fetch-dialog"))) if (await d.isDisplayed()) return false;
    return true;
  }, 60000, "the dialog closes when the rows are in");
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
  const phone = spawnPhone(bin, [payload, "--keystore", world, "--cosign", cosign, "--pin", PIN,
    "--cert", "ent-huaxia", "--platform-cert", path.join(world, "pki/platform.crt"), "--confirm", "--device", "华夏建设的手机"]);
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
