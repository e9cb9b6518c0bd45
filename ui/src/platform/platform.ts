/**
 * The 交易平台 panels' pure logic: what to advise for a platform error code, which records the
 * bidder cites after a tick, whether the latest kept receipt leaves a bid to withdraw, and the
 * upload's progress line.
 *
 * Guarantees: no I/O, no time of its own (callers pass it). Does not: verify anything (Rust
 * does; a receipt reaches here only after it verified).
 */
import { secondsToGo, type ByteSample } from "../scan/scanMachine";
import type { KeptRecord, ReceiptView } from "../api";

/** An i18n key (under `platform.advice`) with its parameters, or null when the message says it all. */
export interface Advice {
  key: string;
  params: Record<string, string>;
}

/** What to do after a platform error `code` at platform `url`. */
export function adviceFor(code: string, url: string): Advice | null {
  const base = url.replace(/\/+$/, "");
  switch (code) {
    case "PLATFORM_CERT_NOT_BOUND":
      return { key: "platform.advice.notBound", params: { login: `${base}/login`, bind: `${base}/bind` } };
    case "E_SESSION_EXPIRED":
      return { key: "platform.advice.sessionExpired", params: {} };
    case "E_PLATFORM_OFFLINE":
      return { key: "platform.advice.offline", params: { url: base } };
    case "E_DEADLINE_PASSED":
      return { key: "platform.advice.deadline", params: {} };
    case "E_PLATFORM_SIGNATURE":
      return { key: "platform.advice.signature", params: {} };
    default:
      return null;
  }
}

/** The ids the bid cites after ticking (`cited` true) or unticking record `id`. */
export function citedAfter(records: KeptRecord[], id: string, cited: boolean): string[] {
  const ids = records.filter((r) => (r.id === id ? cited : r.cited)).map((r) => r.id);
  return cited && !records.some((r) => r.id === id) ? [...ids, id] : ids;
}

/** The latest receipt (highest sequence), or null. */
export function latestReceipt(receipts: ReceiptView[]): ReceiptView | null {
  return receipts.reduce<ReceiptView | null>((best, r) => (best === null || r.sequence > best.sequence ? r : best), null);
}

/** Whether the platform holds a bid of ours by the kept receipts (the latest is not a withdrawal). */
export function hasBidOnPlatform(receipts: ReceiptView[]): boolean {
  const latest = latestReceipt(receipts);
  return latest !== null && latest.action !== "withdraw";
}

/** Upload progress: percentage, MiB text and seconds left (null until there is a rate). */
export function uploadProgress(first: ByteSample | null, now: ByteSample, total: number) {
  const pct = total > 0 ? Math.min(100, Math.floor((now.done * 100) / total)) : 100;
  const left = first ? secondsToGo(first, now, total) : null;
  return { pct, done: (now.done / 1048576).toFixed(1), total: (total / 1048576).toFixed(1), left };
}

/** The toolbar's 同步诚信库 requests (time stamps) the 诚信库 tab has already opened a dialog for. */
export const syncRequests = { handled: 0 };
