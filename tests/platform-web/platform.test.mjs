// Platform web E2E: Debian's chromium (headless) through chromium-driver and selenium-webdriver,
// against real processes on 127.0.0.1 — `bidseal relay`, `bidseal phone serve-cosign`,
// `bidseal platform serve --demo-world` — and a real `bidseal phone scan` as the phone. The
// phone gets the QR the way a camera would: a screenshot of the page, decoded with zbarimg.
//
// Flow: password login → 扫码绑定证书 with another company's certificate (refused, saying which
// fields differ) → 刷新二维码 → bind with the company's own certificate → 退出 → 扫码登录: the
// page turns into 我的企业 by itself → refusals in the page: the phone presses 拒绝, an unbound
// certificate, an expired QR with 刷新二维码. Screenshots under target/e2e/platform/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Builder, By, until } from "../e2e/node_modules/selenium-webdriver/index.js";
import chrome from "../e2e/node_modules/selenium-webdriver/chrome.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const BIN = process.env.BIDSEAL_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target"), "debug/bidseal");
const OUT = process.env.BIDSEAL_PLATFORM_E2E_OUT ?? path.join(ROOT, "target/e2e/platform");
const PIN = "123456";
const PASSWORD = "Demo@1234";

const procs = [];
let tmp, world, relay, cosign, platform, driver;
let huaxia; // { uscc, name }

function startServer(args, label) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
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

function certField(id, field) {
  const text = execFileSync("openssl", ["x509", "-in", path.join(world, "pki", `${id}.pem`), "-noout", "-subject", "-nameopt", "utf8,sep_multiline"]).toString();
  const line = text.split("\n").map((l) => l.trim()).find((l) => l.startsWith(field + "="));
  return line ? line.slice(field.length + 1) : "";
}

async function shot(name) {
  fs.mkdirSync(OUT, { recursive: true });
  const png = Buffer.from(await driver.takeScreenshot(), "base64");
  const file = path.join(OUT, `${name}.png`);
  fs.writeFileSync(file, png);
  return file;
}

/** The QR payload as a phone camera reads it: screenshot, zbarimg. */
async function readQr(name) {
  const img = await driver.findElement(By.css("[data-testid=scan-qr]"));
  await driver.wait(async () => (await img.getAttribute("src")) && (await driver.executeScript("return arguments[0].complete && arguments[0].naturalWidth > 0", img)), 20000, "QR image did not load");
  const file = await shot(name);
  const out = execFileSync("zbarimg", ["-q", "--raw", "-Sdisable", "-Sqrcode.enable", file]).toString().trim();
  assert.match(out, /^bidseal:\/\/scan\?/, `zbarimg read ${out}`);
  return out;
}

function phone(payload, cert, extra = []) {
  return new Promise((resolve) => {
    const child = spawn(BIN, ["phone", "scan", payload, "--keystore", world, "--cosign", cosign, "--pin", PIN, "--cert", cert, "--device", "张伟的手机", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    procs.push(child);
    let out = "", err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}

async function scanState() {
  return driver.findElement(By.css("[data-testid=scan-state]")).getAttribute("data-state");
}

async function waitState(state, ms = 30000) {
  await driver.wait(async () => (await scanState()) === state, ms, `scan state did not become ${state}`);
}

async function text(sel) {
  return driver.findElement(By.css(sel)).getText();
}

/** What the phone must show as the requester of a QR this browser asked for: the browser's
 * address as the platform saw it (loopback here) and the platform's summary of this
 * browser's own User-Agent (headless Chromium on Linux: "HeadlessChrome 131 / Linux"). */
async function requesterLine(purpose) {
  const ua = await driver.executeScript("return navigator.userAgent");
  const m = ua.match(/(HeadlessChrome|Chrome)\/(\d{1,4})/);
  assert.ok(m, ua);
  const system = /Windows/.test(ua) ? "Windows" : /Android/.test(ua) ? "Android" : /Mac OS X/.test(ua) ? "macOS" : "Linux";
  return `${purpose}请求来自 127.0.0.1（${m[1]} ${m[2]} / ${system}），如非本人操作请拒绝`;
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bidseal-platform-web-"));
  world = path.join(tmp, "world");
  // Split keys from the test key pool beside the binary (docs/key-split.md).
  const pool = path.join(path.dirname(BIN), "test-key-pool");
  execFileSync(BIN, ["phone", "init", world, "--pin", PIN, "--kdf-iterations", "1000"], { stdio: "ignore", env: { ...process.env, BIDSEAL_TEST_KEY_POOL: pool } });
  relay = await startServer(["relay", "--listen", "127.0.0.1:0"], "relay");
  cosign = await startServer(["phone", "serve-cosign", "--listen", "127.0.0.1:0", "--state", world, "--platform-cert", path.join(world, "pki/platform.crt")], "cosign");
  platform = await startServer(["platform", "serve", "--listen", "127.0.0.1:0", "--data", path.join(tmp, "data"), "--demo-world", world, "--relay", relay], "platform");
  huaxia = { name: certField("ent-huaxia", "O"), uscc: "" };
  const subject = execFileSync("openssl", ["x509", "-in", path.join(world, "pki/ent-huaxia.pem"), "-noout", "-subject", "-nameopt", "utf8"]).toString();
  huaxia.uscc = (subject.match(/[0-9A-HJ-NPQRTUWXY]{18}/) || [""])[0];
  assert.equal(huaxia.uscc.length, 18, subject);
  const options = new chrome.Options()
    .setChromeBinaryPath(process.env.CHROMIUM ?? "/usr/bin/chromium")
    .addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000", "--lang=zh-CN", "--force-device-scale-factor=1");
  const service = new chrome.ServiceBuilder(process.env.CHROMEDRIVER ?? "/usr/bin/chromedriver");
  driver = await new Builder().forBrowser("chrome").setChromeOptions(options).setChromeService(service).build();
});

after(async () => {
  if (driver) await driver.quit().catch(() => {});
  for (const p of procs) { try { p.kill("SIGKILL"); } catch (e) { /* gone */ } }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("home lists the published demo tender", async () => {
  await driver.get(platform + "/");
  const rows = await driver.findElements(By.css("[data-testid=tender-row]"));
  assert.ok(rows.length >= 1);
  assert.match(await rows[0].getText(), /ZB-2026-DEMO-001/);
  await shot("01-home");
});

test("password login, bind refuses another company's certificate, then binds the own one", async () => {
  await driver.get(platform + "/login");
  await driver.findElement(By.css("[data-testid=login-name]")).sendKeys(huaxia.uscc);
  await driver.findElement(By.css("[data-testid=login-password]")).sendKeys("wrong-password");
  await driver.findElement(By.css("[data-testid=login-submit]")).click();
  await driver.wait(async () => (await text("[data-testid=login-error]")).length > 0, 10000);
  assert.match(await text("[data-testid=login-error]"), /账号或密码错误/);
  const pw = driver.findElement(By.css("[data-testid=login-password]"));
  await pw.clear();
  await pw.sendKeys(PASSWORD);
  await driver.findElement(By.css("[data-testid=login-submit]")).click();
  await driver.wait(until.urlContains("/me"), 10000);
  assert.equal(await text("[data-testid=company-name]"), huaxia.name);
  assert.match(await text("[data-testid=bound]"), /未绑定/);
  await shot("02-me-password");

  await driver.get(platform + "/bind");
  await waitState("waiting");
  // Another company's enterprise certificate: refused, naming both fields.
  let payload = await readQr("03-bind-qr");
  let p = await phone(payload, "ent-jiangnan");
  assert.equal(p.code, 0, p.err);
  // The phone named who asked for this QR: this browser, as the platform saw it.
  assert.ok(p.err.includes(await requesterLine("绑定证书")), p.err);
  await waitState("rejected");
  const reason = await text("[data-testid=scan-reason]");
  assert.match(reason, /企业名称不一致/);
  assert.match(reason, /统一社会信用代码不一致/);
  assert.match(reason, /江南路桥集团有限公司/);
  assert.ok(await driver.findElement(By.css("[data-testid=scan-refresh]")).isDisplayed());
  await shot("04-bind-wrong-company");

  // 刷新二维码, then the company's own certificate.
  const oldSrc = await driver.findElement(By.css("[data-testid=scan-qr]")).getAttribute("src");
  await driver.findElement(By.css("[data-testid=scan-refresh]")).click();
  await driver.wait(async () => {
    const src = await driver.findElement(By.css("[data-testid=scan-qr]")).getAttribute("src");
    return src && src !== oldSrc;
  }, 20000, "QR did not change on 刷新二维码");
  payload = await readQr("05-bind-qr-refreshed");
  p = await phone(payload, "ent-huaxia");
  assert.equal(p.code, 0, p.err);
  await waitState("done");
  const result = await text("[data-testid=scan-result]");
  assert.match(result, /绑定成功/);
  assert.ok(result.includes(huaxia.uscc), result);
  await shot("06-bind-done");
});

test("logout, then 扫码登录 turns the page into 我的企业 without a reload", async () => {
  await driver.get(platform + "/me");
  assert.match(await text("[data-testid=bound]"), /已绑定/);
  await driver.findElement(By.css("[data-testid=logout]")).click();
  await driver.wait(until.urlContains("/login"), 10000);
  await waitState("waiting");
  assert.equal(await driver.findElement(By.css("[data-testid=scan-refresh]")).isDisplayed(), false, "no 刷新二维码 while the QR is valid");
  const payload = await readQr("07-login-qr");
  const p = phone(payload, "ent-huaxia");
  await driver.wait(until.urlContains("/me"), 30000, "the login page did not turn into 我的企业");
  const answered = await p;
  assert.equal(answered.code, 0);
  assert.ok(answered.err.includes(await requesterLine("登录")), answered.err);
  assert.equal(await text("[data-testid=company-name]"), huaxia.name);
  assert.equal(await text("[data-testid=company-uscc]"), huaxia.uscc);
  assert.equal(await text("[data-testid=login-via]"), "扫码登录");
  await shot("08-me-after-scan-login");
});

test("refusals in the page: phone presses 拒绝, unbound certificate, expired QR", async () => {
  await driver.findElement(By.css("[data-testid=logout]")).click();
  await driver.wait(until.urlContains("/login"), 10000);
  await waitState("waiting");
  let payload = await readQr("09-login-qr-reject");
  let p = await phone(payload, "ent-huaxia", ["--reject"]);
  assert.equal(p.code, 1, "the phone reports its refusal");
  await waitState("rejected");
  assert.match(await text("[data-testid=scan-reason]"), /手机端拒绝/);
  await shot("10-login-rejected-by-phone");

  await driver.findElement(By.css("[data-testid=scan-refresh]")).click();
  await waitState("waiting");
  payload = await readQr("11-login-qr-unbound");
  p = await phone(payload, "staff-li");
  await waitState("rejected");
  assert.match(await text("[data-testid=scan-reason]"), /尚未绑定/);
  await shot("12-login-unbound-certificate");

  await driver.get(platform + "/login?qr_ttl=5");
  await waitState("waiting");
  await waitState("expired", 30000);
  assert.match(await text("[data-testid=scan-reason]"), /二维码已过期.*刷新二维码/);
  assert.ok(await driver.findElement(By.css("[data-testid=scan-refresh]")).isDisplayed());
  await shot("13-login-expired");
  // A stale payload is refused by the relay/phone; the refreshed QR works again.
  await driver.findElement(By.css("[data-testid=scan-refresh]")).click();
  await waitState("waiting");
  assert.equal(await driver.getCurrentUrl(), platform + "/login?qr_ttl=5");
});

test("staff edit a record (hostile title stays text), the company's library shows the new signed version", async () => {
  await driver.get(platform + "/login");
  await driver.findElement(By.css("[data-testid=login-name]")).sendKeys("staff");
  await driver.findElement(By.css("[data-testid=login-password]")).sendKeys(PASSWORD);
  await driver.findElement(By.css("[data-testid=login-submit]")).click();
  await driver.wait(until.urlContains("/staff"), 10000);
  assert.match(await driver.findElement(By.css("main")).getText(), /ZB-2026-DEMO-001/);
  await shot("14-staff-tenders");
  await driver.findElement(By.css("main table a")).click();
  await driver.wait(until.urlContains("/staff/tenders/"), 10000);
  const main = await driver.findElement(By.css("main")).getText();
  assert.match(main, /开标时间 .* 之后才能开始/, "the opening cannot start before its time");
  await shot("15-staff-tender");

  await driver.get(platform + "/staff/companies/" + huaxia.uscc);
  const form = await driver.findElement(By.css("form[data-record]"));
  const before = Number(await form.getAttribute("data-version"));
  const title = await form.findElement(By.name("title"));
  await title.clear();
  const hostile = '<img src=x onerror="document.title=\'pwned\'">企业资质（已更新）';
  await title.sendKeys(hostile);
  await form.findElement(By.css("button[type=submit]")).click();
  await driver.wait(async () => {
    try {
      const f = await driver.findElement(By.css("form[data-record]"));
      return Number(await f.getAttribute("data-version")) === before + 1;
    } catch (e) {
      return false; // the page is reloading
    }
  }, 15000, "the record was not saved and re-signed");
  await shot("16-staff-record-saved");
  await driver.findElement(By.css("[data-testid=logout]")).click();
  await driver.wait(until.urlContains("/login"), 10000);

  await driver.findElement(By.css("[data-testid=login-name]")).sendKeys(huaxia.uscc);
  await driver.findElement(By.css("[data-testid=login-password]")).sendKeys(PASSWORD);
  await driver.findElement(By.css("[data-testid=login-submit]")).click();
  await driver.wait(until.urlContains("/me"), 10000);
  await driver.get(platform + "/library");
  const first = await driver.findElement(By.css("[data-testid=record]"));
  const text = await first.getText();
  assert.ok(text.includes(hostile), "the title is shown as text: " + text);
  assert.match(text, new RegExp("版本\\s*" + (before + 1)));
  assert.match(text, /平台签名有效/);
  assert.equal((await driver.findElements(By.css("[data-testid=record] img"))).length, 0, "no element injected");
  assert.notEqual(await driver.getTitle(), "pwned");
  await shot("17-company-library");
});
