/**
 * The scan dialog's state machine, shared by every flow (扫码认证, 扫码签章, 生成标书, 扫码解密).
 *
 * What it is for: turn the ordered updates of one scan (from the Rust side) and the user's
 * actions (刷新二维码, 结束会话) into the one state the dialog renders.
 * Guarantees: a final phase (success, rejected, expired, failed, ended) changes only through
 * `refresh` (which starts over with no QR) — a late update of the old scan cannot resurrect
 * it; a rejection always carries the phone's reason.
 * Does not: talk to Rust or keep time (the countdown is `secondsLeft`, a pure function).
 */

/** Where a scan is. */
export type ScanPhase =
  | "starting" // asked Rust for a QR, none yet
  | "waiting" // 等待扫码
  | "scanned" // 已扫码，请在手机上确认
  | "session" // session mode: confirmed so far, more seals go to the phone without a scan
  | "success" // 成功
  | "rejected" // 已拒绝（reason）
  | "expired" // 已过期
  | "failed" // 失败（code, message）
  | "ended"; // 会话已结束

/** A reason given by the phone or the flow. */
export interface ScanReason {
  code: string;
  message: string;
}

/** What the dialog shows. */
export interface ScanState {
  phase: ScanPhase;
  /** The operation in words (扫码认证 …). */
  operation: string;
  qrSvg: string | null;
  /** QR expiry, Unix seconds. */
  expiresAt: number | null;
  device: string | null;
  statusLine: string | null;
  reason: ScanReason | null;
  /** The flow's result on success (shape depends on the flow). */
  result: unknown;
  /** Session mode: seals confirmed and still to come. */
  session: { total: number; remaining: number } | null;
  /** File work after the scan (生成标书: 打包, 加密): bytes of the current stage. */
  bytes: { stage: string; done: number; total: number } | null;
}

/** An update of the scan (from Rust) or an action of the user. */
export type ScanInput =
  | { type: "qr"; operation: string; svg: string; expires_at: number }
  | { type: "scanned"; device: string }
  | { type: "status"; line: string }
  | { type: "progress"; done: number; total: number }
  | { type: "bytes"; stage: string; done: number; total: number }
  | { type: "confirmed"; result: unknown; remaining?: number }
  | { type: "rejected"; code: string; message: string }
  | { type: "expired" }
  | { type: "failed"; code: string; message: string }
  | { type: "session_ended" }
  | { type: "refresh" };

const FINAL: ReadonlySet<ScanPhase> = new Set(["success", "rejected", "expired", "failed", "ended"]);

/** Whether the scan is over (nothing more will come from this scan). */
export function isFinal(state: ScanState): boolean {
  return FINAL.has(state.phase);
}

/** A new scan; `sessionSeals` > 0 puts it in session mode with that many seals to make. */
export function initialScan(operation: string, sessionSeals = 0): ScanState {
  return {
    phase: "starting",
    operation,
    qrSvg: null,
    expiresAt: null,
    device: null,
    statusLine: null,
    reason: null,
    result: null,
    session: sessionSeals > 0 ? { total: sessionSeals, remaining: sessionSeals } : null,
    bytes: null,
  };
}

/** The next state after `input`; unchanged when the input does not apply. */
export function reduce(state: ScanState, input: ScanInput): ScanState {
  const open = !isFinal(state);
  switch (input.type) {
    case "qr":
      // After "scanned": the next scan of a flow of several (生成标书 = 扫码认证, then the
      // generate scan) — a new QR to scan, the device of the first scan forgotten.
      if (state.phase === "scanned" && !state.session) {
        return { ...state, phase: "waiting", operation: input.operation || state.operation, qrSvg: input.svg, expiresAt: input.expires_at, device: null };
      }
      if (state.phase !== "starting") return state;
      return { ...state, phase: "waiting", operation: input.operation || state.operation, qrSvg: input.svg, expiresAt: input.expires_at };
    case "scanned":
      if (state.phase !== "waiting") return state;
      return { ...state, phase: "scanned", device: input.device };
    case "status":
      return open ? { ...state, statusLine: input.line } : state;
    case "progress": {
      if (state.phase !== "scanned" && state.phase !== "session") return state;
      const total = Math.max(0, input.total);
      const remaining = Math.max(0, total - input.done);
      return { ...state, phase: "session", session: { total, remaining } };
    }
    case "bytes": {
      if (!open || state.phase === "starting" || state.phase === "waiting") return state;
      const total = Math.max(0, input.total);
      return { ...state, bytes: { stage: input.stage, done: Math.min(Math.max(0, input.done), total), total } };
    }
    case "confirmed": {
      if (state.phase !== "scanned" && state.phase !== "session") return state;
      if (state.session) {
        const remaining = Math.max(0, input.remaining ?? state.session.remaining - 1);
        const session = { ...state.session, remaining };
        return { ...state, phase: remaining > 0 ? "session" : "success", session, result: input.result };
      }
      return { ...state, phase: "success", result: input.result };
    }
    case "rejected":
      if (!open || state.phase === "starting") return state;
      return { ...state, phase: "rejected", reason: { code: input.code, message: input.message } };
    case "expired":
      if (state.phase !== "waiting") return state;
      return { ...state, phase: "expired" };
    case "failed":
      if (!open) return state;
      return { ...state, phase: "failed", reason: { code: input.code, message: input.message } };
    case "session_ended":
      if (state.phase !== "session" && state.phase !== "scanned") return state;
      return { ...state, phase: "ended" };
    case "refresh":
      if (state.phase !== "expired" && state.phase !== "rejected" && state.phase !== "failed") return state;
      return initialScan(state.operation, state.session?.total ?? 0);
  }
}

/** Whole seconds until the QR expires (0 once expired, null without a QR). */
export function secondsLeft(state: ScanState, nowSecs: number): number | null {
  if (state.expiresAt === null) return null;
  return Math.max(0, Math.floor(state.expiresAt - nowSecs));
}

/** A byte count at a time (ms). */
export interface ByteSample {
  at: number;
  done: number;
}

/**
 * Seconds left for `total` bytes at the rate seen from `first` to `now`, rounded up; null
 * until there is a rate (no time or no bytes yet), 0 when done.
 */
export function secondsToGo(first: ByteSample, now: ByteSample, total: number): number | null {
  if (now.done >= total) return 0;
  const ms = now.at - first.at;
  const bytes = now.done - first.done;
  if (ms <= 0 || bytes <= 0) return null;
  return Math.ceil(((total - now.done) * ms) / bytes / 1000);
}
