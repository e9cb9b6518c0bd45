// The home screen renders in a real window and its "检查连接" button round-trips to Rust.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { By, until } from "selenium-webdriver";
import { startApp, stopApp, screenshot, expectedVersion } from "./harness.mjs";

let app;
before(async () => { app = await startApp(); });
after(async () => { await stopApp(app); });

/** Clicks 检查连接 and checks that the answer shown came from the Rust command. */
async function checkHome(session, version) {
  const button = await session.wait(until.elementLocated(By.id("check-connection")), 10000);
  await session.executeScript(
    "document.getElementById('app-version').textContent='—';document.getElementById('message').textContent='';",
  );
  await button.click();
  const message = await session.findElement(By.id("message"));
  await session.wait(until.elementTextContains(message, "已连接后端"), 5000);
  assert.equal(await session.findElement(By.id("app-version")).getText(), version);
  const relay = await session.findElement(By.id("relay-address")).getText();
  assert.match(relay, /^http:\/\/127\.0\.0\.1:\d+$/, "the embedded relay's address is not shown");
  return relay;
}

test("home screen renders in zh-CN and shows the version from Rust", async () => {
  const { session } = app;
  assert.equal(await session.getTitle(), "BidSeal 投标签章");
  const heading = await session.findElement(By.css("h1")).getText();
  assert.equal(heading, "BidSeal 投标签章");
  const relay = await checkHome(session, expectedVersion());
  // The address shown is a live relay inside the app process, not a label.
  const health = await (await fetch(`${relay}/v1/health`)).json();
  assert.equal(health.status, "ok");
  const png = await screenshot(session, "home.png");
  assert.ok(fs.statSync(png).size > 10_000, "screenshot is suspiciously small: window not rendered?");
});

test("an unknown command is refused by the Rust side (IPC is real)", async () => {
  const { session } = app;
  const result = await session.executeAsyncScript(`
    const done = arguments[arguments.length - 1];
    window.__TAURI__.core.invoke("no_such_command").then(() => done("resolved"), (e) => done("rejected: " + e));
  `);
  assert.match(result, /^rejected: /);
});

test("harness self-test: checkHome fails when the page does not render the answer", async () => {
  const { session } = app;
  // A wrong expected version must fail the check...
  await assert.rejects(checkHome(session, "0.0.0-not-this"));
  // ...and so must a page without the home screen.
  await session.executeScript("document.body.innerHTML = '<p>blank</p>';");
  await assert.rejects(checkHome(session, expectedVersion()));
});
