// The language switch: zh-CN by default, English on a click (texts from ui/src/locales, Element
// Plus's own locale with them), ids unchanged, the choice kept across a reload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { By } from "selenium-webdriver";
import { startApp, stopApp, screenshot } from "./harness.mjs";
import { visible } from "./window.mjs";

let app;
before(async () => { app = await startApp(); });
after(async () => { await stopApp(app); });

async function areaTitles(session) {
  const h2 = await session.findElements(By.css(".area h2"));
  return Promise.all(h2.map((e) => e.getText()));
}

test("中文 ⇄ English: the home screen's texts switch, its ids stay, the choice survives a reload", async () => {
  const { session } = app;
  await visible(session, "locale-switch");
  assert.deepEqual(await areaTitles(session), ["投标人", "开标大厅", "平台测试"]);
  await (await visible(session, "locale-switch")).click();
  await session.wait(async () => (await areaTitles(session))[0] === "Bidder", 5000);
  assert.deepEqual(await areaTitles(session), ["Bidder", "Bid-opening hall", "Platform testing"]);
  assert.match(await (await session.findElement(By.id("check-connection"))).getText(), /Check connection/);
  assert.equal(await session.executeScript("return document.documentElement.lang"), "en");
  // The relay's state, worded by Rust, follows the switch too.
  const relayStatus = async () => (await session.findElement(By.id("relay-status"))).getText();
  await session.wait(async () => /^Embedded scan relay running/.test(await relayStatus()), 5000);
  await screenshot(session, "home-en.png");

  await session.navigate().refresh();
  await session.wait(async () => (await areaTitles(session).catch(() => []))[0] === "Bidder", 10000);
  assert.equal(await session.executeScript("return document.documentElement.lang"), "en");
  await session.wait(async () => /^Embedded scan relay running/.test(await relayStatus().catch(() => "")), 5000);
  await (await visible(session, "locale-switch")).click();
  await session.wait(async () => (await areaTitles(session))[0] === "投标人", 5000);
  assert.equal(await session.executeScript("return document.documentElement.lang"), "zh-CN");
  await session.wait(async () => /^嵌入式扫码中继运行中/.test(await relayStatus()), 5000);
});
