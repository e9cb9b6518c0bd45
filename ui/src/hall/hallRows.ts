/**
 * The hall table's live status of a row (开标大厅): what Rust recorded for the row (未解密 /
 * 已解密 / 失败) combined with the scan running for it, if any (等待扫码 / 已扫码).
 *
 * Guarantees: a finished record wins over the scan only once the scan is over (so a second
 * scan of a failed row shows its progress); a running scan never shows as 已解密.
 * Does not: talk to Rust.
 */
import type { BidRowState } from "../api";
import type { ScanPhase } from "../scan/scanMachine";

export type LiveRowState = "pending" | "waiting" | "scanned" | "opened" | "failed";

/** The status shown for a row whose record is `recorded` while the scan of it is at `scan`
 * (null: no scan of this row in the dialog). */
export function liveRowState(recorded: BidRowState, scan: ScanPhase | null): LiveRowState {
  switch (scan) {
    case "starting":
    case "waiting":
      return "waiting";
    case "scanned":
    case "session":
      return "scanned";
    default:
      return recorded;
  }
}

/** Tag type (Element Plus) of a live state. */
export function rowTagType(s: LiveRowState): "info" | "warning" | "success" | "danger" | "primary" {
  switch (s) {
    case "opened":
      return "success";
    case "failed":
      return "danger";
    case "scanned":
      return "warning";
    case "waiting":
      return "primary";
    default:
      return "info";
  }
}

/** Whether 从交易平台获取 should ask the platform again how it lists the tender: the listing
 * said it still accepts bids and the deadline has passed on this clock since (the dialog's
 * 未截止 would otherwise stay shown after the deadline; the platform's answer is what is shown,
 * and the platform alone decides whether the fetch may run). */
export function listingStale(listed: { accepting_bids: boolean; bid_deadline: number } | null, nowUnix: number): boolean {
  return listed !== null && listed.accepting_bids && nowUnix >= listed.bid_deadline;
}
