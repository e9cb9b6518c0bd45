// Bidder mode in the real window: a new project from a tender package (verified against the
// platform certificate the user names — a package of another platform is refused and nothing
// is written), and the tender-derived tree whose node states follow the project: 未映射 before
// composing (CLI), 未签章 after, 已完成 after 标书签章 in the window by one scan (a real phone
// process; pdfsig validates the result), and 未签章 again when one byte of the sealed PDF changes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { By } from "selenium-webdriver";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { World } from "./world.mjs";
import { byTestId, closeScanDialog, readQrFromWindow, type, visible, waitState } from "./window.mjs";

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

async function home(session) {
  if ((await session.findElements(byTestId("project-page"))).length) {
    await (await visible(session, "project-back")).click();
  }
  await visible(session, "open-path");
}

/** Opens `dir` by path from the home screen and returns the node states shown. */
async function nodeStates(session, dir) {
  await home(session);
  await type(session, "open-path", dir);
  await (await visible(session, "open-path-button")).click();
  await visible(session, "project-page");
  const tags = await session.findElements(byTestId("node-state"));
  return Promise.all(tags.map(async (t) => (await t.getAttribute("textContent")).trim()));
}

test("导入招标文件: a package of another platform is refused; with the right certificate the project opens", async () => {
  const { session } = app;
  await home(session);
  await (await session.findElement(By.css('.card[data-flow="import"]'))).click();
  await visible(session, "new-project-create");
  // A certificate of another platform: the package's signature is not from it.
  const other = path.join(world.dir, "other-platform.crt");
  execFileSync("openssl", ["req", "-new", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", path.join(world.dir, "other.key"), "-days", "30", "-subj", "/O=Other/CN=other-platform", "-out", other], { stdio: "ignore" });
  const dir = path.join(world.dir, "窗口新建.bidproj");
  await type(session, "new-project-tender", world.tender);
  await type(session, "new-project-cert", other);
  await type(session, "new-project-dir", dir);
  await (await visible(session, "new-project-create")).click();
  const error = await visible(session, "new-project-error");
  assert.match(await error.getText(), /^\[[A-Z_]+\] /, "the refusal shows its code");
  assert.ok(!fs.existsSync(dir), "nothing is written for a package the user does not trust");
  await screenshot(session, "new-project-refused.png");

  await type(session, "new-project-cert", world.platformCert);
  await (await visible(session, "new-project-create")).click();
  try {
    await visible(session, "project-page");
  } catch (e) {
    await screenshot(session, "new-project-failed.png");
    throw e;
  }
  assert.ok(fs.existsSync(path.join(dir, "project.json")) || fs.readdirSync(dir).length > 0, "project folder written");
  assert.match(await (await visible(session, "project-title")).getText(), /第一标段/);
  const states = await session.findElements(byTestId("node-state"));
  assert.ok(states.length >= 4, "the tender's signing nodes are listed");
  await screenshot(session, "new-project.png");
});

test("标书签章 in the window: 未映射 → 未签章 after compose → one scan seals every node (已完成, pdfsig valid) → 未签章 when the sealed PDF changes", async () => {
  const { session } = app;
  const before = await nodeStates(session, world.project);
  assert.ok(before.length > 0);
  assert.deepEqual([...new Set(before)], ["未映射"]);
  assert.equal(await (await session.findElement(byTestId("project-seal"))).isEnabled(), false, "no sealing before compose");

  world.compose();
  const composed = await nodeStates(session, world.project);
  assert.deepEqual([...new Set(composed)], ["未签章"]);
  await screenshot(session, "project-composed.png");

  await (await visible(session, "project-seal")).click();
  const payload = await readQrFromWindow(session, "seal-waiting.png");
  const phone = world.phone(payload, ["--confirm", "--auto-confirm", "--device", "张伟的手机"]);
  await waitState(session, /^成功$/, 120000);
  const result = await phone.done;
  assert.equal(result.code, 0, `phone failed: ${result.stderr}`);
  const summary = JSON.parse(result.stdout);
  const text = await (await visible(session, "seal-result")).getText();
  const n = Number(text.match(/已签章 (\d+) 处/)?.[1]);
  assert.ok(n >= 4, `seals made: ${text}`);
  assert.match(await (await session.findElement(byTestId("scan-remaining"))).getText(), new RegExp(`剩余 0 / ${n} 个签章`));
  assert.ok(summary.answered.length >= n, "the phone answered every seal of the session");
  await screenshot(session, "seal-success.png");
  await closeScanDialog(session);

  // The window reloaded the project: every node is sealed by the current record.
  await session.wait(async () => {
    const tags = await session.findElements(byTestId("node-state"));
    const states = await Promise.all(tags.map(async (t) => (await t.getAttribute("textContent")).trim()));
    return states.length > 0 && states.every((s) => s === "已完成");
  }, 10000);
  await screenshot(session, "project-sealed.png");

  // An independent validator accepts every signature of the sealed PDF.
  const pdf = path.join(world.project, "out/sealed.pdf");
  const pdfsig = execFileSync("pdfsig", [pdf]).toString();
  // (pdfsig lists a field once per widget: a cross-page seal shows several times.)
  const blocks = pdfsig.split(/Signature #\d+:/).slice(1);
  const fields = new Set(blocks.map((b) => b.match(/Signature Field Name: (\S+)/)?.[1]));
  assert.equal(fields.size, n, `one signature field per seal made: ${pdfsig}`);
  for (const b of blocks) assert.match(b, /Signature Validation: Signature is Valid\./, `pdfsig: ${b}`);

  // One changed byte in the sealed PDF: the record no longer describes it.
  const bytes = fs.readFileSync(pdf);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  fs.writeFileSync(pdf, bytes);
  const tampered = await nodeStates(session, world.project);
  assert.deepEqual([...new Set(tampered)], ["未签章"]);
});

test("hostile or wrong folders: not a project, a garbage project file — an error with its code, nothing opens", async () => {
  const { session } = app;
  const garbage = path.join(world.dir, "坏的.bidproj");
  fs.mkdirSync(garbage, { recursive: true });
  fs.writeFileSync(path.join(garbage, "project.json"), '{"format": "bidseal-project/1", "id": [1,2,');
  const shown = [];
  for (const dir of [path.join(world.dir, "pki"), garbage, path.join(world.dir, "no-such.bidproj")]) {
    await home(session);
    await type(session, "open-path", dir);
    await (await visible(session, "open-path-button")).click();
    const message = await session.findElement(By.id("message"));
    // Each answer is new (the line is blanked when opening starts) and carries a code.
    await session.wait(async () => {
      const text = await message.getText();
      return /^\[[A-Z_]+\] /.test(text) && !shown.includes(text);
    }, 5000);
    shown.push(await message.getText());
    assert.equal((await session.findElements(byTestId("project-page"))).length, 0, `${dir} must not open`);
  }
  await screenshot(session, "open-refused.png");
});
