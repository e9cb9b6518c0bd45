// Bidder mode in the real window: a new project from a tender package (verified against the
// platform certificate the user names — a package of another platform is refused and nothing
// is written), and the tender-derived tree whose node states follow the project made by the
// CLI: 未映射 before composing, 未签章 after, 已完成 after sealing by scan (a real phone
// process), and 未签章 again when one byte of the sealed PDF changes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { By, Key, until } from "selenium-webdriver";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { World } from "./world.mjs";

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

const byTestId = (id) => By.css(`[data-testid="${id}"]`);

async function visible(session, id, timeout = 10000) {
  const el = await session.wait(until.elementLocated(byTestId(id)), timeout);
  await session.wait(until.elementIsVisible(el), timeout);
  return el;
}

/** Replaces the text of an el-input (the testid is on the <input> itself) with real key
 * presses: WebDriver's clear() empties the DOM without an input event, so Vue's model would
 * keep the old text. */
async function type(session, id, text) {
  const input = await session.findElement(By.css(`input[data-testid="${id}"]`));
  const old = await input.getAttribute("value");
  await input.click();
  await input.sendKeys(Key.END, ...Array(old.length).fill(Key.BACK_SPACE), text);
  assert.equal(await input.getAttribute("value"), text);
}

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

test("node states: 未映射 → 未签章 after compose → 已完成 after sealing by scan → 未签章 when the sealed PDF changes", async () => {
  const { session } = app;
  const before = await nodeStates(session, world.project);
  assert.ok(before.length > 0);
  assert.deepEqual([...new Set(before)], ["未映射"]);

  world.compose();
  const composed = await nodeStates(session, world.project);
  assert.deepEqual([...new Set(composed)], ["未签章"]);
  await screenshot(session, "project-composed.png");

  const sealed = await world.sealByScan();
  assert.equal(sealed.code, 0, `project seal failed: ${sealed.log}`);
  assert.equal(sealed.phones, 1, "one scan seals every node");
  const done = await nodeStates(session, world.project);
  assert.deepEqual([...new Set(done)], ["已完成"]);
  await screenshot(session, "project-sealed.png");

  // One changed byte in the sealed PDF: the record no longer describes it.
  const pdf = path.join(world.project, "out/sealed.pdf");
  const bytes = fs.readFileSync(pdf);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  fs.writeFileSync(pdf, bytes);
  const tampered = await nodeStates(session, world.project);
  assert.deepEqual([...new Set(tampered)], ["未签章"]);
});
