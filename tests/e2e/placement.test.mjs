// Seal placement in the real window: every signing node of the demo tender gets its seals by
// drag-and-drop from the palette onto the page (公章, 法人章, 法人手写签名), one seal is moved
// off its area and resized, the 骑缝章 is placed over a page range; project.json records each
// placement; 标书签章 in session mode then seals exactly there (the widget rectangles in the
// sealed PDF, read by qpdf, are the placed ones; pdfsig validates every signature). A drop
// where no node asks for the seal is refused with what to do, and nothing is stored.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { By, Key, Origin } from "selenium-webdriver";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { World } from "./world.mjs";
import { byTestId, closeScanDialog, readQrFromWindow, type, visible, waitState } from "./window.mjs";

let world;
let app;
before(async () => {
  world = await World.create();
  world.compose();
  app = await startApp(undefined, { BIDSEAL_INDEX: world.index });
});
after(async () => {
  await stopApp(app);
  await world?.close();
});

const placements = () => JSON.parse(fs.readFileSync(path.join(world.project, "project.json"), "utf8")).composition.placements;
const status = async (session) => (await session.findElement(byTestId("placement-status"))).getText();

/** Brings node `id`'s area (or its seal of `kind`) to the middle of the page column. */
async function reveal(session, id, kind) {
  await (await session.findElement(By.css(`[data-testid="place-node:${id}"] .node-link`))).click();
  const css = kind ? `[data-testid="seal-mark"][data-node="${id}"][data-kind="${kind}"]` : `[data-testid="node-area"][data-node="${id}"]`;
  const el = await session.wait(async () => (await session.findElements(By.css(css)))[0], 10000);
  await session.executeScript("arguments[0].scrollIntoView({ block: 'center' })", el);
  return el;
}

/** The viewport point (dx, dy) px from `el`'s centre (node areas take no pointer events,
 * so WebDriver cannot aim at them as an element). */
async function centre(session, el, dx = 0, dy = 0) {
  const r = await session.executeScript("const r = arguments[0].getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2];", el);
  return { origin: Origin.VIEWPORT, x: Math.round(r[0] + dx), y: Math.round(r[1] + dy) };
}

/** Presses on `from`, moves the mouse in steps to (dx, dy) px from `to`'s centre, releases. */
async function dragTo(session, from, to, dx = 0, dy = 0) {
  await session.executeScript("arguments[0].scrollIntoView({ block: 'nearest' }); arguments[1].scrollIntoView({ block: 'nearest' })", from, to);
  const start = await centre(session, from);
  const end = await centre(session, to, dx, dy);
  const mid = { origin: Origin.VIEWPORT, x: Math.round((start.x + end.x) / 2), y: Math.round((start.y + end.y) / 2) };
  const pages = await session.findElement(byTestId("project-pages"));
  const attempts = Number(await pages.getAttribute("data-attempts"));
  await session.actions({ async: true }).move(start).press().move({ ...mid, duration: 100 }).move({ ...end, duration: 100 }).release().perform();
  // Stored or refused: the attempt counter moves on.
  await session.wait(async () => Number(await pages.getAttribute("data-attempts")) > attempts, 20000);
}

/** Drags the palette's `kind` seal and releases it at (dx, dy) px from `target`'s centre. */
async function drag(session, kind, target, dx = 0, dy = 0) {
  await dragTo(session, await visible(session, `seal-tool-${kind}`), target, dx, dy);
}

test("placing seals by drag-and-drop on every node, moving and resizing one, a 骑缝章 over a range; 标书签章 seals exactly there", async () => {
  const { session } = app;
  await type(session, "open-path", world.project);
  await (await visible(session, "open-path-button")).click();
  await visible(session, "project-page");
  await (await visible(session, "tab-pages")).click();
  await visible(session, "placement-panel");
  await session.wait(async () => (await session.findElements(By.css('.page[data-rendered="true"]'))).length > 0, 20000);
  await screenshot(session, "placement-start.png");

  // A 公章 dropped on the cover: no node there asks for it — refused, nothing stored.
  const before = placements();
  const cover = await session.findElement(By.css('.page[data-page="1"]'));
  await session.executeScript("arguments[0].scrollIntoView({ block: 'center' })", cover);
  await drag(session, "enterprise", cover);
  assert.match(await status(session), /没有需要这种印章的签章节点.*请放到该节点所在的页面/);
  assert.deepEqual(placements(), before);
  await screenshot(session, "placement-refused.png");

  // Every single-page node and kind: dragged onto its area (snaps in).
  const wanted = before.filter((p) => !p.cross_page).flatMap((p) => p.seal_kinds.map((k) => [p.node_id, k]));
  assert.ok(wanted.length >= 5, `${wanted.length} seals to place`);
  for (const [id, kind] of wanted) {
    console.log(`placing ${kind} on ${id}`);
    const areas = await session.findElements(By.css(`[data-testid="node-area"][data-node="${id}"]`));
    await reveal(session, id);
    // A node of two kinds has one area per kind, in the tender's order.
    const area = areas.length > 1 ? (await session.findElements(By.css(`[data-testid="node-area"][data-node="${id}"]`)))[before.find((p) => p.node_id === id).seal_kinds.indexOf(kind)] : await session.findElement(By.css(`[data-testid="node-area"][data-node="${id}"]`));
    await drag(session, kind, area, 6, 4);
    const stored = placements().find((p) => p.node_id === id);
    assert.ok(stored.placed, `${id} placed: ${await status(session)}`);
  }
  await screenshot(session, "placement-all-placed.png");

  // Move the 投标函 公章 40 px right/down of its area (not snapped), then make it bigger.
  const moved = "letter-enterprise";
  const seal = await reveal(session, moved, "enterprise");
  const area0 = placements().find((p) => p.node_id === moved).rects[0].rect;
  // (Left and up: the 法定代表人 seal sits just below; a move onto it is refused.)
  await dragTo(session, seal, seal, -90, -70);
  await screenshot(session, "placement-moved.png");
  assert.notDeepEqual(placements().find((p) => p.node_id === moved).rects[0].rect, area0, `moved: ${await status(session)}`);
  const afterMove = placements().find((p) => p.node_id === moved);
  assert.deepEqual(afterMove.anchor_rects[0].rect, area0, "the composer's area is kept");
  const handle = await (await reveal(session, moved, "enterprise")).findElement(byTestId("seal-resize"));
  await dragTo(session, handle, handle, 30, 30);
  const grown = placements().find((p) => p.node_id === moved).rects[0].rect;
  assert.ok(grown.x2 - grown.x1 > area0.x2 - area0.x1 + 5, `resized: ${await status(session)}`);
  const final = placements().find((p) => p.node_id === moved).rects[0].rect;
  assert.ok(Math.abs(final.x2 - final.x1 - (final.y2 - final.y1)) < 0.01, "a round seal stays round");
  await screenshot(session, "placement-moved-resized.png");

  // 骑缝章 over the business and technical sections' pages.
  const cross = before.find((p) => p.cross_page);
  const row = await session.findElement(By.css(`[data-testid="place-node:${cross.node_id}"]`));
  const [first, last] = await row.findElements(By.css("input"));
  for (const [input, value] of [[first, "3"], [last, "6"]]) {
    await input.click();
    await input.sendKeys(Key.END, Key.BACK_SPACE, Key.BACK_SPACE, Key.BACK_SPACE, value, Key.TAB);
  }
  const attempts = Number(await (await session.findElement(byTestId("project-pages"))).getAttribute("data-attempts"));
  await (await row.findElement(byTestId("cross-place"))).click();
  await session.wait(async () => Number(await (await session.findElement(byTestId("project-pages"))).getAttribute("data-attempts")) > attempts, 10000);
  await screenshot(session, "placement-cross.png");
  assert.ok(placements().find((p) => p.node_id === cross.node_id).placed, `骑缝章: ${await status(session)}`);
  assert.deepEqual(placements().find((p) => p.node_id === cross.node_id).rects.map((r) => r.page_index), [2, 3, 4, 5]);
  const states = await session.findElements(byTestId("place-state"));
  for (const s of states) assert.equal(await s.getText(), "已放置");

  // 标书签章 in session mode: one scan, every seal where it was placed.
  await (await visible(session, "project-seal")).click();
  const payload = await readQrFromWindow(session, "placement-seal-waiting.png");
  const phone = world.phone(payload, ["--confirm", "--auto-confirm", "--device", "张伟的手机"]);
  await waitState(session, /^成功$/, 180000);
  assert.equal((await phone.done).code, 0);
  await closeScanDialog(session);

  const pdf = path.join(world.project, "out/sealed.pdf");
  const pdfsig = execFileSync("pdfsig", [pdf]).toString();
  for (const b of pdfsig.split(/Signature #\d+:/).slice(1)) assert.match(b, /Signature is Valid\./);
  // The widget of the moved seal is at the placed rectangle (qpdf's JSON of the annotations).
  const json = JSON.parse(execFileSync("qpdf", ["--json=2", "--json-key=qpdf", pdf], { maxBuffer: 1 << 28 }).toString());
  const rects = Object.values(json.qpdf[1]).map((o) => o.value).filter((o) => o && o["/Subtype"] === "/Widget").map((o) => o["/Rect"]);
  const near = (a, b) => Math.abs(a - b) < 0.6;
  assert.ok(rects.some((r) => r && near(r[0], final.x1) && near(r[1], final.y1) && near(r[2], final.x2) && near(r[3], final.y2)), `a widget at the placed rectangle ${JSON.stringify(final)} among ${JSON.stringify(rects)}`);

  // The sealed bid as printed, in the page view.
  await (await visible(session, "pages-sealed")).click();
  await (await session.findElement(By.css(`[data-testid="place-node:${moved}"] .node-link`))).click();
  assert.equal((await session.findElements(byTestId("seal-mark"))).length, 0, "the sealed view shows the real seals, no previews");
  try {
    await session.wait(async () => (await session.findElements(By.css('.page[data-rendered="true"]'))).length > 0, 20000);
  } catch (e) {
    await screenshot(session, "placement-sealed-view-failed.png");
    const shown = await session.findElements(byTestId("page-error"));
    throw new Error(`the sealed view drew no page${shown.length ? `: ${await shown[0].getText()}` : ""} (${e.message})`);
  }
  await screenshot(session, "placement-sealed-view.png");
});

test("签名 panel: every signature of the sealed bid valid, the last covering the whole file; one changed byte shows which are invalid and what to do", async () => {
  const { session } = app;
  const pdf = path.join(world.project, "out/sealed.pdf");
  const fields = new Set(execFileSync("pdfsig", [pdf]).toString().match(/Signature Field Name: \S+/g));
  await (await visible(session, "tab-signatures")).click();
  await session.wait(async () => (await session.findElements(byTestId("signature-row"))).length === fields.size, 30000);
  const rows = await session.findElements(byTestId("signature-row"));
  for (const r of rows) assert.equal(await (await r.findElement(byTestId("sig-valid"))).getText(), "有效");
  assert.match(await (await rows.at(-1).findElement(byTestId("sig-coverage"))).getText(), /^整个文件/);
  assert.match(await (await rows[0].findElement(byTestId("sig-coverage"))).getText(), /^前 \d+ 字节/);
  assert.match(await (await rows[0].findElement(byTestId("sig-changes"))).getText(), /\[允许\]/);
  assert.match(await (await visible(session, "signatures-summary")).getText(), new RegExp(`${fields.size} 个签名全部有效`));
  await screenshot(session, "signatures-valid.png");

  // One changed byte in the middle of the file (inside the first revision's content).
  const bytes = fs.readFileSync(pdf);
  const i = bytes.indexOf(Buffer.from("stream"), Math.floor(bytes.length / 4)) + 20;
  bytes[i] ^= 0x01;
  fs.writeFileSync(pdf, bytes);
  await (await visible(session, "signatures-reverify")).click();
  await session.wait(async () => {
    const s = await session.findElements(byTestId("signatures-summary"));
    return s.length > 0 && /中 \d+ 个有效/.test(await s[0].getText());
  }, 30000);
  const problems = await session.findElements(byTestId("sig-problems"));
  assert.ok(problems.length > 0);
  assert.match(await problems[0].getText(), /摘要不符.*请重新合成并签章/);
  await screenshot(session, "signatures-tampered.png");
});
