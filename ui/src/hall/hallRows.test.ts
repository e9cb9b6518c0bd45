import { describe, expect, it } from "vitest";
import { listingStale, liveRowState, rowTagType } from "./hallRows";

describe("hall row live state", () => {
  it("follows the scan while it runs, then the recorded state", () => {
    expect(liveRowState("pending", null)).toBe("pending");
    expect(liveRowState("pending", "starting")).toBe("waiting");
    expect(liveRowState("pending", "waiting")).toBe("waiting");
    expect(liveRowState("pending", "scanned")).toBe("scanned");
    expect(liveRowState("opened", "success")).toBe("opened");
    expect(liveRowState("failed", "rejected")).toBe("failed");
  });

  it("a rescan of a failed row shows its progress, never 已解密 before the record says so", () => {
    expect(liveRowState("failed", "waiting")).toBe("waiting");
    expect(liveRowState("failed", "scanned")).toBe("scanned");
    // The scan succeeded in the dialog but the record has not come back: still what Rust says.
    expect(liveRowState("pending", "success")).toBe("pending");
    // An expired QR leaves the row as it was.
    expect(liveRowState("pending", "expired")).toBe("pending");
  });

  it("colours failures red and openings green", () => {
    expect(rowTagType("failed")).toBe("danger");
    expect(rowTagType("opened")).toBe("success");
    expect(rowTagType("pending")).toBe("info");
  });
});

describe("从交易平台获取's tender listing", () => {
  const open = { accepting_bids: true, bid_deadline: 1_800_000_000 };
  it("is asked again once the deadline it showed has passed, not before", () => {
    expect(listingStale(open, 1_799_999_999)).toBe(false);
    expect(listingStale(open, 1_800_000_000)).toBe(true);
    expect(listingStale(open, 1_800_000_100)).toBe(true);
  });
  it("a closed listing or none is not asked again", () => {
    expect(listingStale({ ...open, accepting_bids: false }, 1_800_000_100)).toBe(false);
    expect(listingStale(null, 1_800_000_100)).toBe(false);
  });
});
