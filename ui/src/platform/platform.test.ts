import { describe, expect, it } from "vitest";
import { adviceFor, citedAfter, hasBidOnPlatform, latestReceipt, uploadProgress } from "./platform";
import type { KeptRecord, ReceiptView } from "../api";

const rec = (id: string, cited: boolean): KeptRecord => ({ id, version: 1, kind: "资质", title: id, sha256: "00", cited });
const receipt = (sequence: number, action: ReceiptView["action"]): ReceiptView => ({
  id: `R${sequence}`, action, sequence, tender_id: "T1", project_id: "P", lot_id: "L", bidder_name: "华夏", bidder_uscc: "9",
  sha256: "ab", size: 1, received_at: "2026-12-01 08:00:00（北京时间）", path: "/p",
});

describe("platform advice", () => {
  it("names the platform's own login and bind pages for an unbound certificate", () => {
    const a = adviceFor("PLATFORM_CERT_NOT_BOUND", "http://127.0.0.1:8080/");
    expect(a).toEqual({ key: "platform.advice.notBound", params: { login: "http://127.0.0.1:8080/login", bind: "http://127.0.0.1:8080/bind" } });
  });
  it("has advice for the codes the bidder can act on, none for the rest", () => {
    for (const code of ["E_SESSION_EXPIRED", "E_PLATFORM_OFFLINE", "E_DEADLINE_PASSED", "E_PLATFORM_SIGNATURE"]) {
      expect(adviceFor(code, "http://x")).not.toBeNull();
    }
    expect(adviceFor("E_SOMETHING", "http://x")).toBeNull();
  });
});

describe("citations", () => {
  it("ticks and unticks one record, keeping the others", () => {
    const records = [rec("A", true), rec("B", false), rec("C", true)];
    expect(citedAfter(records, "B", true)).toEqual(["A", "B", "C"]);
    expect(citedAfter(records, "A", false)).toEqual(["C"]);
    expect(citedAfter(records, "C", true)).toEqual(["A", "C"]);
  });
});

describe("receipts", () => {
  it("the latest by sequence decides whether a bid is on the platform", () => {
    expect(hasBidOnPlatform([])).toBe(false);
    expect(hasBidOnPlatform([receipt(2, "withdraw"), receipt(1, "submit")])).toBe(false);
    expect(hasBidOnPlatform([receipt(1, "withdraw"), receipt(3, "replace")])).toBe(true);
    expect(latestReceipt([receipt(1, "submit"), receipt(5, "replace"), receipt(2, "withdraw")])?.id).toBe("R5");
  });
});

describe("upload progress", () => {
  it("percent, MiB and time left at the rate seen", () => {
    const mib = 1048576;
    expect(uploadProgress(null, { at: 0, done: 0 }, 8 * mib)).toEqual({ pct: 0, done: "0.0", total: "8.0", left: null });
    const p = uploadProgress({ at: 0, done: 0 }, { at: 1000, done: 2 * mib }, 8 * mib);
    expect(p).toEqual({ pct: 25, done: "2.0", total: "8.0", left: 3 });
    expect(uploadProgress({ at: 0, done: 0 }, { at: 10, done: 8 * mib }, 8 * mib).left).toBe(0);
  });
});
