import { describe, expect, test } from "vitest";
import { initialScan, isFinal, reduce, secondsLeft, secondsToGo, type ScanInput, type ScanState } from "./scanMachine";

const qr: ScanInput = { type: "qr", operation: "扫码认证", svg: "<svg/>", expires_at: 1000 };
const run = (s: ScanState, ...inputs: ScanInput[]) => inputs.reduce(reduce, s);

describe("a scan without session mode", () => {
  test("starting → waiting when the QR arrives", () => {
    const s = run(initialScan("扫码认证"), qr);
    expect(s.phase).toBe("waiting");
    expect(s.qrSvg).toBe("<svg/>");
    expect(s.expiresAt).toBe(1000);
  });

  test("waiting → scanned names the phone", () => {
    const s = run(initialScan("扫码认证"), qr, { type: "scanned", device: "张伟的手机" });
    expect(s.phase).toBe("scanned");
    expect(s.device).toBe("张伟的手机");
  });

  test("scanned → success keeps the result", () => {
    const s = run(initialScan("扫码认证"), qr, { type: "scanned", device: "d" }, { type: "confirmed", result: { enterprise: "华夏" } });
    expect(s.phase).toBe("success");
    expect(s.result).toEqual({ enterprise: "华夏" });
    expect(isFinal(s)).toBe(true);
  });

  test("scanned → rejected carries the phone's reason", () => {
    const s = run(initialScan("扫码认证"), qr, { type: "scanned", device: "d" }, { type: "rejected", code: "user_declined", message: "用户在手机上拒绝" });
    expect(s.phase).toBe("rejected");
    expect(s.reason).toEqual({ code: "user_declined", message: "用户在手机上拒绝" });
  });

  test("waiting → expired, and refresh starts over with no QR", () => {
    const expired = run(initialScan("扫码认证"), qr, { type: "expired" });
    expect(expired.phase).toBe("expired");
    const fresh = reduce(expired, { type: "refresh" });
    expect(fresh.phase).toBe("starting");
    expect(fresh.qrSvg).toBeNull();
    expect(fresh.expiresAt).toBeNull();
    const again = reduce(fresh, { ...qr, svg: "<svg id='2'/>", expires_at: 2000 });
    expect(again.phase).toBe("waiting");
    expect(again.qrSvg).toBe("<svg id='2'/>");
  });

  test("refresh after a rejection or failure starts over too", () => {
    for (const end of [{ type: "rejected", code: "c", message: "m" }, { type: "failed", code: "c", message: "m" }] as ScanInput[]) {
      const s = run(initialScan("扫码认证"), qr, { type: "scanned", device: "d" }, end, { type: "refresh" });
      expect(s.phase).toBe("starting");
      expect(s.reason).toBeNull();
    }
  });

  test("refresh does nothing while a scan is live or after success", () => {
    const waiting = run(initialScan("扫码认证"), qr);
    expect(reduce(waiting, { type: "refresh" })).toBe(waiting);
    const done = run(waiting, { type: "scanned", device: "d" }, { type: "confirmed", result: 1 });
    expect(reduce(done, { type: "refresh" })).toBe(done);
  });

  test("failed from any live phase, with code and message", () => {
    for (const prefix of [[], [qr], [qr, { type: "scanned", device: "d" }]] as ScanInput[][]) {
      const s = run(initialScan("扫码认证"), ...prefix, { type: "failed", code: "scan.relay_lost", message: "中继断开" });
      expect(s.phase).toBe("failed");
      expect(s.reason?.code).toBe("scan.relay_lost");
    }
  });

  test("status lines are kept while live, ignored after the end", () => {
    const s = run(initialScan("扫码认证"), qr, { type: "status", line: "请用手机扫码" });
    expect(s.statusLine).toBe("请用手机扫码");
    const ended = run(s, { type: "expired" }, { type: "status", line: "late" });
    expect(ended.statusLine).toBe("请用手机扫码");
  });
});

describe("late and out-of-order updates cannot lie", () => {
  test("a final state ignores every later update", () => {
    const expired = run(initialScan("扫码认证"), qr, { type: "expired" });
    for (const late of [qr, { type: "scanned", device: "x" }, { type: "confirmed", result: 1 }, { type: "rejected", code: "c", message: "m" }, { type: "failed", code: "c", message: "m" }] as ScanInput[]) {
      expect(reduce(expired, late)).toBe(expired);
    }
  });

  test("no success without a scan, no scan without a QR", () => {
    const starting = initialScan("扫码认证");
    expect(reduce(starting, { type: "confirmed", result: 1 })).toBe(starting);
    expect(reduce(starting, { type: "scanned", device: "d" })).toBe(starting);
    const waiting = reduce(starting, qr);
    expect(reduce(waiting, { type: "confirmed", result: 1 })).toBe(waiting);
  });

  test("expiry after the phone scanned is not 已过期 (the phone is answering)", () => {
    const scanned = run(initialScan("扫码认证"), qr, { type: "scanned", device: "d" });
    expect(reduce(scanned, { type: "expired" })).toBe(scanned);
  });

  test("a second QR for the same scan is ignored", () => {
    const waiting = run(initialScan("扫码认证"), qr);
    expect(reduce(waiting, { ...qr, svg: "<svg id='evil'/>" })).toBe(waiting);
  });
});

describe("session mode (会话签章)", () => {
  test("confirmations count down the seals, the last one is success", () => {
    let s = run(initialScan("扫码签章", 3), qr, { type: "scanned", device: "d" }, { type: "confirmed", result: "seal-1" });
    expect(s.phase).toBe("session");
    expect(s.session).toEqual({ total: 3, remaining: 2 });
    s = reduce(s, { type: "confirmed", result: "seal-2" });
    expect(s.session?.remaining).toBe(1);
    s = reduce(s, { type: "confirmed", result: "seal-3" });
    expect(s.phase).toBe("success");
    expect(s.session?.remaining).toBe(0);
  });

  test("the remaining count from Rust wins over counting", () => {
    const s = run(initialScan("扫码签章", 5), qr, { type: "scanned", device: "d" }, { type: "confirmed", result: 1, remaining: 1 });
    expect(s.session).toEqual({ total: 5, remaining: 1 });
  });

  test("结束会话 ends an open session; a refusal mid-session is 已拒绝", () => {
    const open = run(initialScan("扫码签章", 3), qr, { type: "scanned", device: "d" }, { type: "confirmed", result: 1 });
    expect(reduce(open, { type: "session_ended" }).phase).toBe("ended");
    const refused = reduce(open, { type: "rejected", code: "user_declined", message: "拒绝" });
    expect(refused.phase).toBe("rejected");
  });

  test("refresh keeps session mode with the full count", () => {
    const s = run(initialScan("扫码签章", 3), qr, { type: "expired" }, { type: "refresh" });
    expect(s.session).toEqual({ total: 3, remaining: 3 });
  });
});

describe("progress of a session-mode flow (标书签章)", () => {
  test("progress opens the session with the flow's count; the final answer is success", () => {
    let s = run(initialScan("sign"), qr, { type: "scanned", device: "d" }, { type: "progress", done: 1, total: 5 });
    expect(s.phase).toBe("session");
    expect(s.session).toEqual({ total: 5, remaining: 4 });
    s = reduce(s, { type: "progress", done: 5, total: 5 });
    expect(s.phase).toBe("session");
    expect(s.session?.remaining).toBe(0);
    s = reduce(s, { type: "confirmed", result: { count: 5 }, remaining: 0 });
    expect(s.phase).toBe("success");
    expect(s.result).toEqual({ count: 5 });
  });

  test("progress before a scan or after the end changes nothing", () => {
    const waiting = run(initialScan("sign"), qr);
    expect(reduce(waiting, { type: "progress", done: 1, total: 2 })).toBe(waiting);
    const expired = reduce(waiting, { type: "expired" });
    expect(reduce(expired, { type: "progress", done: 1, total: 2 })).toBe(expired);
  });

  test("结束会话 mid-way ends it; nothing more is counted", () => {
    const open = run(initialScan("sign"), qr, { type: "scanned", device: "d" }, { type: "progress", done: 1, total: 3 });
    const ended = reduce(open, { type: "session_ended" });
    expect(ended.phase).toBe("ended");
    expect(reduce(ended, { type: "progress", done: 2, total: 3 })).toBe(ended);
    expect(reduce(ended, { type: "confirmed", result: 1 })).toBe(ended);
  });
});

describe("countdown", () => {
  test("whole seconds left, never negative, none without a QR", () => {
    const s = run(initialScan("扫码认证"), qr);
    expect(secondsLeft(s, 940.5)).toBe(59);
    expect(secondsLeft(s, 1000)).toBe(0);
    expect(secondsLeft(s, 5000)).toBe(0);
    expect(secondsLeft(initialScan("x"), 1)).toBeNull();
  });
});

describe("a flow of several scans (生成标书: 扫码认证, then the generate scan)", () => {
  test("a new QR after the first scan's phone answer is the next scan to make", () => {
    let s = initialScan("auth");
    s = reduce(s, { type: "qr", operation: "auth", svg: "<svg>1</svg>", expires_at: 10 });
    s = reduce(s, { type: "scanned", device: "张伟的手机" });
    s = reduce(s, { type: "qr", operation: "generate", svg: "<svg>2</svg>", expires_at: 20 });
    expect(s.phase).toBe("waiting");
    expect(s.operation).toBe("generate");
    expect(s.qrSvg).toBe("<svg>2</svg>");
    expect(s.device).toBeNull();
    s = reduce(s, { type: "scanned", device: "张伟的手机" });
    s = reduce(s, { type: "confirmed", result: { path: "x" } });
    expect(s.phase).toBe("success");
  });

  test("a QR while waiting, in session mode or after the end changes nothing", () => {
    const waiting = reduce(initialScan("auth"), { type: "qr", operation: "auth", svg: "a", expires_at: 1 });
    expect(reduce(waiting, { type: "qr", operation: "auth", svg: "b", expires_at: 2 })).toBe(waiting);
    let session = reduce(initialScan("sign", 3), { type: "qr", operation: "sign", svg: "a", expires_at: 1 });
    session = reduce(session, { type: "scanned", device: "d" });
    expect(reduce(session, { type: "qr", operation: "sign", svg: "b", expires_at: 2 })).toBe(session);
    const done = reduce(reduce(waiting, { type: "scanned", device: "d" }), { type: "confirmed", result: 1 });
    expect(reduce(done, { type: "qr", operation: "auth", svg: "b", expires_at: 2 })).toBe(done);
  });
});

describe("bytes of the file work after the scan (生成标书)", () => {
  test("kept per stage, clamped, only once the phone answered and not after the end", () => {
    let s = run(initialScan("generate"), { type: "qr", operation: "generate", svg: "a", expires_at: 1 });
    expect(reduce(s, { type: "bytes", stage: "加密", done: 1, total: 2 })).toBe(s);
    s = reduce(s, { type: "scanned", device: "d" });
    s = reduce(s, { type: "bytes", stage: "打包", done: 0, total: 100 });
    expect(s.bytes).toEqual({ stage: "打包", done: 0, total: 100 });
    s = reduce(s, { type: "bytes", stage: "加密", done: 500, total: 200 });
    expect(s.bytes).toEqual({ stage: "加密", done: 200, total: 200 });
    expect(s.phase).toBe("scanned");
    const done = reduce(s, { type: "confirmed", result: 1 });
    expect(reduce(done, { type: "bytes", stage: "加密", done: 1, total: 2 })).toBe(done);
  });

  test("time left from the rate seen so far", () => {
    expect(secondsToGo({ at: 0, done: 0 }, { at: 1000, done: 10 }, 100)).toBe(9);
    expect(secondsToGo({ at: 0, done: 0 }, { at: 1000, done: 30 }, 100)).toBe(3);
    expect(secondsToGo({ at: 0, done: 0 }, { at: 0, done: 10 }, 100)).toBeNull();
    expect(secondsToGo({ at: 0, done: 10 }, { at: 500, done: 10 }, 100)).toBeNull();
    expect(secondsToGo({ at: 0, done: 0 }, { at: 500, done: 100 }, 100)).toBe(0);
  });
});
