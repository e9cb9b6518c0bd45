// The home screen renders in a real window and its "检查连接" button round-trips to Rust: the
// version and the relay address are blanked first, so only the click can fill them in; the
// screenshot is decoded and the relay address's pixels are compared with and without the text.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { By, until } from "selenium-webdriver";
import {
  startApp, stopApp, screenshot, expectedVersion, decodePng, darkPixels, colourCount,
} from "./harness.mjs";

let app;
before(async () => { app = await startApp(); });
after(async () => { await stopApp(app); });

/** Clicks 检查连接 and checks that the answer shown came from the Rust command. */
async function checkHome(session, version) {
  const button = await session.wait(until.elementLocated(By.id("check-connection")), 10000);
  // Blank everything the click is supposed to fill (the page also fills them on load).
  await session.executeScript(
    "document.getElementById('app-version').textContent='—';" +
      "document.getElementById('relay-address').textContent='—';" +
      "document.getElementById('message').textContent='';",
  );
  assert.equal(await session.findElement(By.id("relay-address")).getText(), "—", "not blank before the click");
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
  // The window is rendered (not one flat colour) and the relay address is drawn where the DOM
  // says: its box holds text pixels, which disappear when the text is removed.
  const shown = decodePng(fs.readFileSync(await screenshot(session, "home.png")));
  assert.ok(colourCount(shown) >= 8, "the screenshot is (nearly) one colour: window not rendered?");
  const region = await relayRegion(session);
  const withText = darkPixels(shown, region);
  // Same layout, text not drawn: only the glyphs' pixels may change.
  await session.executeScript("document.getElementById('relay-address').style.color='transparent';");
  const blank = decodePng(fs.readFileSync(await screenshot(session, "home-no-relay.png")));
  const withoutText = darkPixels(blank, region);
  assert.ok(withText >= 20, `no text pixels where the relay address is shown (${withText})`);
  assert.ok(withoutText * 4 < withText, `text pixels stay without the text (${withText} → ${withoutText})`);
});

/** The relay address's box in screenshot pixels (CSS pixels × devicePixelRatio). */
async function relayRegion(session) {
  const el = await session.findElement(By.id("relay-address"));
  const rect = await el.getRect();
  const ratio = await session.executeScript("return window.devicePixelRatio || 1;");
  assert.ok(rect.width > 0 && rect.height > 0, "the relay address has no box");
  return { x: rect.x * ratio, y: rect.y * ratio, width: rect.width * ratio, height: rect.height * ratio };
}

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
