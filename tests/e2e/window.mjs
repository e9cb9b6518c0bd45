// Helpers of the desktop E2E tests that read and drive the window the way a user does:
// elements by data-testid (docs/ui-testids.md), the scan dialog's state, and the QR read
// from a screenshot by zbarimg.
import assert from "node:assert/strict";
import { By, Key, until } from "selenium-webdriver";
import { screenshot } from "./harness.mjs";
import { decodeQr } from "./world.mjs";

export const byTestId = (id) => By.css(`[data-testid="${id}"]`);

/** The element with `data-testid=id`, once located and visible. */
export async function visible(session, id, timeout = 10000) {
  const el = await session.wait(until.elementLocated(byTestId(id)), timeout);
  await session.wait(until.elementIsVisible(el), timeout);
  return el;
}

/** Replaces the text of an el-input (the testid is on the <input> itself) with real key
 * presses: WebDriver's clear() empties the DOM without an input event, so Vue's model would
 * keep the old text. */
export async function type(session, id, text) {
  const input = await session.wait(until.elementLocated(By.css(`input[data-testid="${id}"]`)), 10000);
  await session.wait(until.elementIsVisible(input), 10000);
  const old = await input.getAttribute("value");
  await input.click();
  await input.sendKeys(Key.END, ...Array(old.length).fill(Key.BACK_SPACE), text);
  assert.equal(await input.getAttribute("value"), text);
}

/** The displayed element with `data-testid=id` (closed dialogs keep theirs, hidden), or null. */
export async function displayed(session, id) {
  for (const el of await session.findElements(byTestId(id))) {
    if (await el.isDisplayed().catch(() => false)) return el;
  }
  return null;
}

export async function stateText(session) {
  const el = await displayed(session, "scan-state");
  return el ? el.getText() : "";
}

/** Waits until the scan dialog's state text matches `pattern`; returns it. */
export async function waitState(session, pattern, timeout) {
  let last = "";
  try {
    await session.wait(async () => {
      last = await stateText(session).catch(() => "");
      return pattern.test(last);
    }, timeout);
  } catch {
    throw new Error(`scan state never matched ${pattern}; last shown: "${last}"`);
  }
  return last;
}

/** Screenshot of the window → zbarimg → the one QR payload shown. */
export async function readQrFromWindow(session, name) {
  await visible(session, "scan-qr");
  await waitState(session, /^等待扫码$/, 10000);
  const png = await screenshot(session, name);
  const codes = decodeQr(png);
  assert.equal(codes.length, 1, `expected one QR code in ${png}, zbarimg found ${codes.length}`);
  assert.match(codes[0], /^bidseal:\/\//, "the QR carries a BidSeal scan payload");
  return codes[0];
}

/** Closes the scan dialog and waits until no dialog covers the page. */
export async function closeScanDialog(session) {
  let close = null;
  await session.wait(async () => (close = await displayed(session, "scan-close")) !== null, 10000);
  await close.click();
  await session.wait(async () => {
    const overlays = await session.findElements(By.css(".el-overlay"));
    for (const o of overlays) if (await o.isDisplayed()) return false;
    return true;
  }, 5000);
}

/** Scrolls an el-input's <input data-testid=id> into view and types `text` into it. */
export async function fill(session, id, text) {
  const input = await session.wait(until.elementLocated(By.css(`input[data-testid="${id}"]`)), 10000);
  await session.wait(until.elementIsVisible(input), 10000);
  await session.executeScript("arguments[0].scrollIntoView({ block: 'center' })", input);
  await type(session, id, text);
}

/** Clicks the element with `id` once visible (scrolled to the middle of the window first). */
export async function click(session, id, timeout = 20000) {
  const el = await visible(session, id, timeout);
  await session.executeScript("arguments[0].scrollIntoView({ block: 'center' })", el);
  await el.click();
}

/** Scrolls the displayed element with `id` into the middle of the window (before a screenshot). */
export async function show(session, id) {
  const el = await displayed(session, id);
  if (el) await session.executeScript("arguments[0].scrollIntoView({ block: 'center' })", el);
}

/** The text of the displayed element with `id`, or "" when none is shown. */
export async function textOf(session, id) {
  const el = await displayed(session, id);
  return el ? el.getText() : "";
}

/** Waits until the displayed element with `id` has text matching `pattern`; returns it. */
export async function waitText(session, id, pattern, timeout = 30000) {
  let last = "";
  try {
    await session.wait(async () => pattern.test((last = await textOf(session, id).catch(() => ""))), timeout);
  } catch {
    throw new Error(`${id} never matched ${pattern}; last: "${last}"`);
  }
  return last;
}

/** Waits until no displayed element has `data-testid=id` (a dialog closed). */
export async function waitGone(session, id, timeout, message) {
  await session.wait(async () => (await displayed(session, id)) === null, timeout, message);
}
