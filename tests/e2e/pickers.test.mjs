// The native file dialogs (选择…) in the real window, answered as a user answers them: the test
// finds the system dialog by its title on the X display, types the path into it (Ctrl+L, the
// path, Enter) with xdotool, and checks the window acted on the chosen file — a new project
// from a tender package and certificate chosen in dialogs, an attachment chosen in one, a
// cancelled dialog changing nothing, and in the opening hall a bid file chosen in one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { By, until } from "selenium-webdriver";
import { startApp, stopApp, screenshot, OUT_DIR } from "./harness.mjs";
import { HallWorld, World } from "./world.mjs";
import { byTestId, type, visible } from "./window.mjs";

const REPO = path.resolve(new URL("../..", import.meta.url).pathname);

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

/** The X window id of the dialog titled `title`, once it is shown (≤ 20 s). */
function dialogWindow(title) {
  const ids = execFileSync("timeout", ["20", "xdotool", "search", "--sync", "--onlyvisible", "--name", `^${title}$`]).toString().trim().split("\n");
  return ids[ids.length - 1];
}

function stillShown(id) {
  try {
    return execFileSync("xdotool", ["search", "--onlyvisible", "--name", "."]).toString().split("\n").includes(id);
  } catch {
    return false;
  }
}

/** Answers the system file dialog titled `title`: the path typed into its location field,
 * or Escape (`answer` null) to cancel. Saves a screenshot of the whole display first. */
function answerDialog(title, answer, shot) {
  const id = dialogWindow(title);
  execFileSync("xdotool", ["windowfocus", "--sync", id]);
  if (shot) {
    fs.mkdirSync(OUT_DIR, { recursive: true });
    execFileSync("import", ["-window", "root", path.join(OUT_DIR, shot)]);
  }
  if (answer === null) {
    execFileSync("xdotool", ["key", "--clearmodifiers", "Escape"]);
    return;
  }
  // Ctrl+L: the location field (a save dialog's name field is one already); Ctrl+A: replace
  // what it holds (a save dialog offers the default name with its stem selected).
  execFileSync("xdotool", ["key", "--clearmodifiers", "ctrl+l"]);
  execFileSync("xdotool", ["key", "--clearmodifiers", "ctrl+a"]);
  execFileSync("xdotool", ["type", "--delay", "20", answer]);
  execFileSync("sleep", ["0.5"]);
  // Enter accepts the typed path; if GTK's completion popup took the first one, once more.
  for (let i = 0; i < 3 && stillShown(id); i++) {
    execFileSync("xdotool", ["key", "--clearmodifiers", "Return"]);
    execFileSync("sleep", ["0.5"]);
  }
}

async function inputValue(session, id) {
  return (await session.findElement(By.css(`input[data-testid="${id}"]`))).getAttribute("value");
}

test("选择… opens the system dialog; the chosen files make the project and its attachment", async () => {
  const { session } = app;
  // ASCII copies: xdotool types through a US keymap.
  const tender = path.join(world.dir, "picked-tender.zip");
  const cert = path.join(world.dir, "picked-platform.crt");
  fs.copyFileSync(world.tender, tender);
  fs.copyFileSync(world.platformCert, cert);
  const dir = path.join(world.dir, "picked.bidproj");

  await (await session.wait(until.elementLocated(By.css('.card[data-flow="import"]')), 15000)).click();
  await visible(session, "new-project-dialog");

  // Cancelling leaves the field as it was.
  await (await visible(session, "new-project-tender-pick")).click();
  answerDialog("选择招标文件", null);
  await session.sleep(500);
  assert.equal(await inputValue(session, "new-project-tender"), "", "a cancelled dialog fills nothing");

  await (await visible(session, "new-project-tender-pick")).click();
  answerDialog("选择招标文件", tender, "picker-open-dialog.png");
  await session.wait(async () => (await inputValue(session, "new-project-tender")) === tender, 10000);
  await (await visible(session, "new-project-cert-pick")).click();
  answerDialog("选择交易平台证书", cert);
  await session.wait(async () => (await inputValue(session, "new-project-cert")) === cert, 10000);
  await (await visible(session, "new-project-dir-pick")).click();
  answerDialog("新建投标项目文件夹", dir, "picker-save-dialog.png");
  await session.wait(async () => (await inputValue(session, "new-project-dir")) === dir, 10000);
  await (await visible(session, "new-project-create")).click();
  await visible(session, "project-page", 20000);
  assert.ok(fs.existsSync(path.join(dir, "project.json")), "the project was made where the dialog said");

  // An attachment chosen in the dialog is attached at once.
  await (await visible(session, "tab-form")).click();
  await visible(session, "project-form");
  const pdf = path.join(world.dir, "licence.pdf");
  fs.copyFileSync(path.join(REPO, "assets/demo-tender/tender.pdf"), pdf);
  await (await visible(session, "attach-pick-qualification")).click();
  answerDialog("选择附件（PDF、扫描件图片或 .md，可多选）", pdf);
  await session.wait(async () => (await (await session.findElement(byTestId("attach-section:qualification"))).findElements(byTestId("attachment-row"))).length === 1, 20000);
  const row = await (await session.findElement(byTestId("attach-section:qualification"))).findElement(byTestId("attachment-row"));
  assert.match(await row.getText(), /licence\.pdf/);
  await screenshot(session, "picker-attached.png");
});

test("开标大厅: a bid file chosen in the system dialog is loaded as a row", async () => {
  const { session } = app;
  const hall = await HallWorld.create();
  try {
    const bid = path.join(hall.dir, "picked-bid.bidseal");
    fs.copyFileSync(hall.bid, bid);
    if ((await session.findElements(byTestId("project-page"))).length) {
      await (await visible(session, "project-back")).click();
    }
    await (await visible(session, "home-hall")).click();
    await visible(session, "hall-page");
    await type(session, "hall-tender", hall.tender);
    await type(session, "hall-cert", hall.platformCert);
    await type(session, "hall-work", hall.work);
    await (await visible(session, "hall-load")).click();
    await visible(session, "hall-bids", 20000);
    await (await visible(session, "hall-bids-pick")).click();
    answerDialog("选择投标文件（可多选）", bid, "picker-hall-dialog.png");
    await session.wait(async () => (await session.findElements(byTestId("hall-file-0"))).length === 1, 20000);
    assert.equal(await (await session.findElement(byTestId("hall-file-0"))).getText(), "picked-bid.bidseal");
    assert.equal(await (await session.findElement(byTestId("hall-state-0"))).getText(), "未解密");
  } finally {
    await hall.close();
  }
});
