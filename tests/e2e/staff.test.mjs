// 平台测试 in the real window: a `bidseal phone init` world, the console starts its relay and a
// real `bidseal phone serve-cosign`, then runs 扫码认证 once per phone answer and per fault, and
// 扫码签章 of the lab's test page (checked by pdfsig and pyHanko), 生成标书 for a lab tender (the
// bid file opened by openssl with the -plain colleague's key), 试解密 and 扫码解密 with the price
// read back, with a real `bidseal phone scan` process as the phone. Each run must end as the fault dictates,
// with timed steps and a protocol log that holds neither the PIN nor the QR's secret.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { By } from "selenium-webdriver";
import { OUT_DIR, startApp, stopApp, screenshot } from "./harness.mjs";
import { cliPath, decodeQr, PIN } from "./world.mjs";
import { byTestId, type, visible } from "./window.mjs";

let dir;
let app;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "bidseal-e2e-staff-"));
  execFileSync(cliPath(), ["phone", "init", path.join(dir, "world"), "--pin", PIN, "--kdf-iterations", "1000"], { stdio: "ignore" });
  app = await startApp(undefined, { BIDSEAL_INDEX: path.join(dir, "index.sqlite") });
});
after(async () => {
  await stopApp(app);
  // The window is gone: no co-signing service of this world may be left running (its shell
  // notices the closed lifeline at once; the app may take a while to exit on a loaded machine).
  const running = () => execFileSync("ps", ["-eo", "args="]).toString().split("\n").filter((l) => (l.includes("serve-cosign") || l.includes("platform serve")) && l.includes(dir));
  let left = running();
  for (let i = 0; i < 200 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = running();
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(left, [], "the lab's co-signing service or platform outlived the window");
});

const text = async (session, id) => (await visible(session, id)).getText();
const scrollTo = (session, el) => session.executeScript("arguments[0].scrollIntoView({ block: 'center' });", el);

async function pick(session, id) {
  const el = await visible(session, id);
  await scrollTo(session, el);
  await el.click();
}

/** One run; resolves with the outcome text, the steps' text and the QR payload shown. */
async function runOnce(session, { flow = "auth", cert = "ent-huaxia", answer = "confirm", fault = "none", shot, qrWait = 15000, doneWait = 40000 }) {
  await pick(session, `staff-flow-${flow}`);
  await pick(session, `staff-cert-${cert}`);
  await pick(session, `staff-answer-${answer}`);
  await pick(session, `staff-fault-${fault}`);
  await pick(session, "staff-run");
  let payload = null;
  // The QR the console shows is a real QR: read it off the window while the run goes.
  await session.wait(async () => (await session.findElements(byTestId("staff-qr"))).length > 0, qrWait);
  await scrollTo(session, await session.findElement(byTestId("staff-qr")));
  // As a camera does, look again if a frame does not read (the console may be re-laying out).
  for (let attempt = 0; attempt < 3 && payload === null; attempt++) {
    if (attempt) await new Promise((r) => setTimeout(r, 300));
    const codes = decodeQr(await screenshot(session, `${shot}-qr.png`));
    if (codes.length === 1) payload = codes[0];
  }
  const outcome = await session.wait(async () => {
    const found = await session.findElements(byTestId("staff-outcome"));
    return found.length ? found[0].getText() : false;
  }, doneWait);
  const steps = await (await session.findElement(byTestId("staff-steps"))).getText();
  const message = await (await session.findElement(byTestId("staff-outcome-message"))).getText();
  fs.writeFileSync(path.join(OUT_DIR, `${shot}.log.txt`), `${outcome}\n${message}\n${steps}\n`);
  await scrollTo(session, await session.findElement(byTestId("staff-outcome")));
  await screenshot(session, `${shot}.png`);
  return { outcome, message, steps, payload };
}

function noSecrets(steps, payload) {
  assert.ok(!steps.includes(PIN), "the PIN is not in the log");
  if (payload) {
    const secret = payload.split("#")[1];
    assert.ok(secret && !steps.includes(secret), "the QR's secret is not in the log");
  }
}

test("the console starts the relay, the co-signing service and the reference platform (its home page lists the world's tender) and stops the platform", async () => {
  const { session } = app;
  await (await visible(session, "home-staff")).click();
  await visible(session, "staff-page");
  await type(session, "staff-world", path.join(dir, "world"));
  await (await visible(session, "staff-open")).click();
  await visible(session, "staff-services");
  assert.equal(await (await visible(session, "staff-run")).isEnabled(), false, "nothing runs before the services");
  await (await visible(session, "staff-svc-relay")).click();
  await session.wait(async () => (await text(session, "staff-svc-state-relay")) === "运行中", 10000);
  await (await visible(session, "staff-svc-cosign")).click();
  await session.wait(async () => (await text(session, "staff-svc-state-cosign")) === "运行中", 30000);
  const relay = await text(session, "staff-svc-url-relay");
  assert.equal((await (await fetch(`${relay}/v1/health`)).json()).status, "ok");
  // What each service is, from the window's own messages (not a missing key).
  const services = await text(session, "staff-services");
  assert.match(services, /平台测试专用中继[\s\S]*bidseal phone serve-cosign 进程[\s\S]*bidseal platform serve 进程/);
  assert.doesNotMatch(services, /svcNote/);
  // The world's expired certificate says so (the service itself lists it 正常); no other does.
  await session.wait(async () => /正常\s*已过期/.test(await text(session, "staff-cert-expired-zhao")), 10000);
  const expiredTags = await session.findElements(By.css('[data-testid^="staff-expired-"]'));
  assert.deepEqual(await Promise.all(expiredTags.map((e) => e.getAttribute("data-testid"))), ["staff-expired-expired-zhao"]);
  await (await visible(session, "staff-svc-platform")).click();
  await session.wait(async () => (await text(session, "staff-svc-state-platform")) === "运行中", 60000);
  const platform = await text(session, "staff-svc-url-platform");
  assert.match(platform, /^http:\/\/127\.0\.0\.1:\d+$/);
  const home = await (await fetch(platform)).text();
  assert.match(home, /滨江新区第一中学/, "the demo tender is published");
  // A company account of the world logs in with the demo password (and not with another).
  const tryLogin = async (password) => (await fetch(`${platform}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ login: "9111010871526726X9", password }) })).status;
  assert.equal(await tryLogin("Demo@1234"), 200);
  assert.equal(await tryLogin("demo@1234"), 401);
  await screenshot(session, "staff-services.png");
  await (await visible(session, "staff-svc-platform")).click();
  await session.wait(async () => (await text(session, "staff-svc-state-platform")) !== "运行中", 20000);
  await assert.rejects(fetch(platform), "the platform process is gone");
  // Every flow is offered, 生成标书, 试解密 and 扫码解密 included.
  for (const flow of ["auth", "sign", "generate", "trial", "decrypt"]) {
    assert.equal(await (await session.findElement({ css: `[data-testid="staff-flow-${flow}"] input` })).isEnabled(), true, flow);
  }
  await screenshot(session, "staff-services.png");
});

test("confirm: 成功, every step timed", async () => {
  const { outcome, steps, payload } = await runOnce(app.session, { shot: "staff-confirm" });
  assert.match(outcome, /^成功/);
  assert.match(steps, /显示二维码/);
  assert.match(steps, /已扫码/);
  assert.ok(payload && payload.startsWith("bidseal://"), "the QR on the console decodes");
  noSecrets(steps, payload);
});

test("扫码签章: the phone seals the lab page with the certificate's seal; pdfsig and pyHanko validate it", async () => {
  const { outcome, message, steps, payload } = await runOnce(app.session, { flow: "sign", cert: "legal-zhang", shot: "staff-sign" });
  assert.match(outcome, /^成功/, message);
  assert.match(message, /法人章/);
  noSecrets(steps, payload);
  const sealed = message.match(/文件 (\S+\.pdf)/)?.[1];
  assert.ok(sealed && fs.existsSync(sealed), `the sealed page is kept: ${message}`);
  // The peers agree: one valid signature over the whole file, by the world's CA.
  const pki = path.join(dir, "world", "pki");
  const sig = execFileSync("pdfsig", ["-nocert", sealed]).toString();
  assert.match(sig, /Signature Validation: Signature is Valid/);
  const trust = ["--trust-replace", "--trust", path.join(pki, "trust.pem")];
  const pyhanko = execFileSync("pyhanko", ["sign", "validate", ...trust, sealed]).toString();
  assert.match(pyhanko, /^BidSeal1:.*:INTACT:TRUSTED,/m, pyhanko);
  assert.doesNotMatch(pyhanko, /ILLEGAL_MODIFICATIONS/);
  // A changed byte of the page (inside the signed range) is caught by both.
  const bytes = fs.readFileSync(sealed);
  const at = bytes.indexOf("/MediaBox");
  assert.ok(at > 0);
  bytes[at + 1] ^= 0x20; // /MediaBox → /mediaBox
  const tampered = path.join(path.dirname(sealed), "tampered.pdf");
  fs.writeFileSync(tampered, bytes);
  assert.doesNotMatch(execFileSync("pdfsig", ["-nocert", tampered]).toString(), /Signature is Valid/);
  let pyhankoTampered = "";
  try {
    pyhankoTampered = execFileSync("pyhanko", ["sign", "validate", ...trust, tampered], { stdio: ["ignore", "pipe", "pipe"] }).toString();
  } catch (e) {
    pyhankoTampered = `${e.stdout}${e.stderr}`;
  }
  assert.doesNotMatch(pyhankoTampered, /:INTACT:/, pyhankoTampered);
});

test("扫码签章 with a colleague's certificate, which has no seal: refused before any QR", async () => {
  const colleague = fs.readdirSync(path.join(dir, "world", "pki")).map((f) => f.match(/^(colleague-[\w-]+)\.chain\.pem$/)?.[1]).find(Boolean);
  assert.ok(colleague, "phone init makes colleague certificates");
  await pick(app.session, `staff-flow-sign`);
  await pick(app.session, `staff-cert-${colleague}`);
  await pick(app.session, "staff-run");
  const outcome = await app.session.wait(async () => {
    const found = await app.session.findElements(byTestId("staff-outcome"));
    return found.length ? found[0].getText() : false;
  }, 20000);
  assert.match(outcome, /E_LAB_CERT/);
  assert.equal((await app.session.findElements(byTestId("staff-qr"))).length, 0, "no QR was shown");
  await pick(app.session, `staff-flow-auth`);
});

test("the phone rejects: 已拒绝（rejected_by_user）", async () => {
  const { outcome, steps, payload } = await runOnce(app.session, { answer: "reject", shot: "staff-reject" });
  assert.match(outcome, /^已拒绝（rejected_by_user）/);
  noSecrets(steps, payload);
});

test("a wrong PIN: 已拒绝（wrong_pin）", async () => {
  const { outcome } = await runOnce(app.session, { answer: "wrong_pin", shot: "staff-wrong-pin" });
  assert.match(outcome, /^已拒绝（wrong_pin）/);
});

test("the phone never answers: 失败 on the response time-out", async () => {
  const { outcome } = await runOnce(app.session, { answer: "never_answer", shot: "staff-never" });
  assert.match(outcome, /^失败（scan\.phone_timeout）/);
});

test("the QR expires before the phone scans: 已过期", async () => {
  const { outcome, steps } = await runOnce(app.session, { fault: "expired_qr", shot: "staff-expired" });
  assert.match(outcome, /^已过期/);
  assert.match(steps, /过期后/);
});

test("a disabled certificate is refused, and enabled again after the run", async () => {
  const { session } = app;
  const { outcome, steps } = await runOnce(session, { fault: "certificate_disabled", shot: "staff-disabled" });
  assert.match(outcome, /^已拒绝（certificate_disabled）/);
  assert.match(steps, /已恢复证书 ent-huaxia/);
  assert.match(await (await session.findElement(byTestId("staff-cert-ent-huaxia"))).getText(), /正常/);
});

test("a revoked certificate is refused (and stays revoked)", async () => {
  const { session } = app;
  const { outcome } = await runOnce(session, { cert: "colleague-liu", fault: "certificate_revoked", shot: "staff-revoked" });
  assert.match(outcome, /^已拒绝（certificate_revoked）/);
  await session.wait(async () => /已注销/.test(await (await session.findElement(byTestId("staff-cert-colleague-liu"))).getText()), 5000);
});

test("a slow relay delays every frame and the flow still succeeds", async () => {
  const { outcome, steps } = await runOnce(app.session, { fault: "relay_delay", shot: "staff-delay" });
  assert.match(outcome, /^成功/);
  // Both directions are held: the desktop's request and the phone's answers.
  assert.match(steps, /帧 桌面端→手机 #\d+，\d+ 字节密文：延迟 800 ms 转发/);
  assert.match(steps, /帧 手机→桌面端 #\d+，\d+ 字节密文：延迟 800 ms 转发/);
});

test("a relay that drops the phone's answers: 失败, nothing authenticated", async () => {
  const { outcome, steps } = await runOnce(app.session, { fault: "relay_drop", shot: "staff-drop" });
  // The answer never arrives: the desktop times out, or learns first that the phone, done, left.
  assert.match(outcome, /^失败（scan\.(phone_timeout|peer_left)）/);
  assert.match(steps, /丢弃/);
});

const texts = async (session, id) => Promise.all((await session.findElements(byTestId(id))).map((e) => e.getText()));

test("生成标书: a lab tender and project, 标书签章 + 扫码认证 + 生成 by scan; openssl opens the bid file with the -plain colleague's key", async () => {
  const { session } = app;
  const { outcome, message, steps, payload } = await runOnce(session, { flow: "generate", shot: "staff-generate", doneWait: 120000 });
  assert.match(outcome, /^成功/, `${message}\n${steps}`);
  assert.match(steps, /平台测试招标文件/);
  assert.match(steps, /标书签章完成/);
  assert.match(steps, /已选择参与加密证书 \d+ 本/);
  noSecrets(steps, payload);
  const file = await text(session, "staff-bid-file");
  assert.ok(fs.existsSync(file), file);
  assert.equal(await text(session, "staff-bid-size"), `${fs.statSync(file).size} 字节`);
  const recipients = await texts(session, "staff-bid-recipient");
  assert.ok(recipients.length >= 2 && recipients.some((r) => r.includes("陈静")), recipients.join("\n"));
  await scrollTo(session, await session.findElement(byTestId("staff-bid")));
  await screenshot(session, "staff-generate-bid.png");
  const pki = path.join(dir, "world", "pki");
  const plain = path.join(dir, "lab-bid.zip");
  execFileSync("openssl", ["cms", "-decrypt", "-inform", "DER", "-in", file, "-recip", path.join(pki, "colleague-chen-plain.pem"), "-inkey", path.join(pki, "colleague-chen-plain.key.pem"), "-out", plain]);
  assert.equal(fs.readFileSync(plain).subarray(0, 2).toString(), "PK", "the plaintext is the bid package");
});

test("试解密 of the lab bid with the bidder's certificate: the price is read back", async () => {
  const { session } = app;
  const { outcome, message } = await runOnce(session, { flow: "trial", shot: "staff-trial", doneWait: 60000 });
  assert.match(outcome, /^成功/, message);
  assert.ok((await texts(session, "staff-bid-reading")).includes("投标总价 4321000.50 元"));
});

test("扫码解密 after the lab tender's opening time: the colleague rejects — refused, nothing read out", async () => {
  const { session } = app;
  const { outcome, steps } = await runOnce(session, { flow: "decrypt", cert: "colleague-chen-plain", answer: "reject", shot: "staff-decrypt-reject", qrWait: 90000, doneWait: 60000 });
  assert.match(outcome, /^已拒绝（rejected_by_user）/);
  assert.equal((await session.findElements(byTestId("staff-bid-reading"))).length, 0);
  // The lab waited for the opening time when it had not come yet, then the hall loaded the bid.
  assert.match(steps, /开标大厅已载入平台测试标书/);
});

test("扫码解密 with the -plain colleague's certificate: every check passes and the price is read out", async () => {
  const { session } = app;
  const { outcome, message, steps, payload } = await runOnce(session, { flow: "decrypt", cert: "colleague-chen-plain", shot: "staff-decrypt", qrWait: 90000, doneWait: 60000 });
  assert.match(outcome, /^成功/, `${message}\n${steps}`);
  noSecrets(steps, payload);
  assert.ok((await texts(session, "staff-bid-reading")).includes("投标总价 4321000.50 元"));
  const checks = await texts(session, "staff-bid-check");
  assert.ok(checks.length > 3 && checks.every((c) => c.startsWith("[通过]")), checks.join("\n"));
  assert.match(await text(session, "staff-bid-bidder"), /华夏/);
  await scrollTo(session, await session.findElement(byTestId("staff-bid")));
  await screenshot(session, "staff-decrypt-bid.png");
});
