/**
 * Typed wrappers of the Tauri commands (src-tauri/src/commands). The only module that calls
 * `invoke`; types mirror the Rust structs. Scan progress arrives on a `Channel` per scan,
 * normalised here into the scan machine's inputs.
 */
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ScanInput } from "./scan/scanMachine";

export interface AppInfo {
  version: string;
  relay_address: string | null;
  relay_status: string;
}

/** An error from a command: stable code + zh-CN message. */
export interface CommandError {
  code: string;
  message: string;
}

export interface RecentProject {
  path: string;
  title: string;
  tender_project_id: string;
  lot_id: string;
  last_opened_unix: number;
}

export type NodeState = "unmapped" | "unsealed" | "done";

export interface NodeView {
  id: string;
  label: string;
  seal_kinds: string[];
  mandatory: boolean;
  pages: number[];
  state: NodeState;
}

export interface SectionView {
  id: string;
  title: string;
  kind: string;
  attachments: number;
  nodes: NodeView[];
}

export interface ProjectView {
  path: string;
  project_name: string;
  project_id: string;
  lot_name: string;
  tenderer: string;
  platform: string;
  bid_deadline: string;
  opening_time: string;
  bidder_name: string;
  bidder_credit_code: string;
  composed_pages: number | null;
  sections: SectionView[];
  missing: string[];
}

/** The certificate after 扫码认证. */
export interface AuthenticatedView {
  enterprise: string;
  credit_code: string;
  holder: string;
  issuer: string;
  not_after: number;
  device: string;
}

/** Updates of one scan as Rust sends them (`ScanUpdate`). */
export type ScanUpdate =
  | { type: "qr"; operation: string; svg: string; expires_at: number }
  | { type: "scanned"; device: string }
  | { type: "status"; line: string }
  | { type: "progress"; done: number; total: number }
  | { type: "sealed"; count: number; sealed_pdf: string }
  | ({ type: "authenticated" } & AuthenticatedView)
  | { type: "rejected"; code: string; message: string }
  | { type: "expired" }
  | { type: "failed"; code: string; message: string };

/** A Rust update as an input of the scan machine. */
export function toScanInput(u: ScanUpdate): ScanInput {
  if (u.type === "authenticated") {
    const { type: _type, ...view } = u;
    return { type: "confirmed", result: view };
  }
  if (u.type === "sealed") {
    return { type: "confirmed", result: { count: u.count, sealed_pdf: u.sealed_pdf }, remaining: 0 };
  }
  return u;
}

/** Whether an error came from a command (has code and message). */
export function isCommandError(e: unknown): e is CommandError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** `[code] message` of any error, for display. */
export function errorText(e: unknown): string {
  return isCommandError(e) ? `[${e.code}] ${e.message}` : String(e);
}

export const appInfo = () => invoke<AppInfo>("app_info");
export const recentProjects = () => invoke<RecentProject[]>("recent_projects");
export const openProject = (path: string) => invoke<ProjectView>("open_project", { path });

/** Starts a scan flow; returns its id. `onInput` gets every update, in order. */
export type ScanStarter = (onInput: (input: ScanInput) => void) => Promise<number>;

/** 扫码认证 against the project at `projectPath`. */
export function authScan(projectPath: string, qrTtlSecs: number): ScanStarter {
  return (onInput) => {
    const updates = new Channel<ScanUpdate>();
    updates.onmessage = (u) => onInput(toScanInput(u));
    return invoke<number>("start_auth_scan", { projectPath, qrTtlSecs, updates });
  };
}

/** 标书签章 of every signing node of the project's current composition, one scan (session mode). */
export function sealScan(projectPath: string, qrTtlSecs: number): ScanStarter {
  return (onInput) => {
    const updates = new Channel<ScanUpdate>();
    updates.onmessage = (u) => onInput(toScanInput(u));
    return invoke<number>("start_seal_scan", { projectPath, qrTtlSecs, updates });
  };
}

/** What 标书签章 made. */
export interface SealedView {
  count: number;
  sealed_pdf: string;
}

export const cancelScan = (scanId: number) => invoke<boolean>("cancel_scan", { scanId });

/** New project folder `dir` from the tender package `tender`, pinned to `platformCert` (PEM). */
export const newProject = (dir: string, tender: string, platformCert: string) =>
  invoke<ProjectView>("new_project", { dir, tender, platformCert });

// ---- 开标大厅 (deskhall): commands in src-tauri/src/commands/hall.rs ----

/** One check of an opening report (bidseal_bid::opening::OpeningCheck). */
export interface OpeningCheck {
  key: string;
  name: string;
  passed: boolean;
  detail: string;
  code: string | null;
}

export interface OpeningReport {
  bid_file: string;
  bid_file_sha256: string | null;
  opened_as: string | null;
  bidder: { name: string; credit_code: string } | null;
  price: Record<string, string>;
  checks: OpeningCheck[];
  passed: boolean;
  extracted_to: string | null;
}

export type BidRowState = "pending" | "opened" | "failed";

export interface BidRow {
  index: number;
  file_name: string;
  path: string;
  size: number;
  sha256: string;
  recipients: string[];
  state: BidRowState;
  reason: string | null;
  report: OpeningReport | null;
}

export interface ReadingRow {
  index: number;
  file_name: string;
  bidder: string | null;
  credit_code: string | null;
  /** `投标总价 4321000.50 元`, labelled by the tender's price form. */
  price: string[];
  state: BidRowState;
}

export interface HallView {
  project_name: string;
  project_id: string;
  lot_name: string;
  tenderer: string;
  platform: string;
  opening_time: string;
  opening_reached: boolean;
  work: string;
  bids: BidRow[];
  reading: ReadingRow[];
}

export interface HallAdded {
  view: HallView;
  refused: { path: string; code: string; message: string }[];
}

/** What 扫码解密 of one row gave (the scan's final update `opened`). */
export interface OpenedView {
  index: number;
  passed: boolean;
  bidder: string | null;
  reason: string | null;
}

export const hallLoad = (tender: string, platformCert: string, work: string) =>
  invoke<HallView>("hall_load", { tender, platformCert, work });
export const hallAddBids = (paths: string[]) => invoke<HallAdded>("hall_add_bids", { paths });
export const hallView = () => invoke<HallView | null>("hall_view");
export const hallExportPdf = (path: string) => invoke<number>("hall_export_pdf", { path });
export const hallFetchFromPlatform = () => invoke<void>("hall_fetch_from_platform");

/** 扫码解密 of hall row `index`; `onInput` also sees every update (for the row's live state). */
export function hallScan(index: number, qrTtlSecs: number): ScanStarter {
  return (onInput) => {
    const updates = new Channel<HallScanUpdate>();
    updates.onmessage = (u) => onInput(u.type === "opened" ? { type: "confirmed", result: openedView(u) } : toScanInput(u));
    return invoke<number>("start_hall_scan", { index, qrTtlSecs, updates });
  };
}

type HallScanUpdate = ScanUpdate | ({ type: "opened" } & OpenedView);

function openedView(u: { type: "opened" } & OpenedView): OpenedView {
  const { type: _type, ...view } = u;
  return view;
}

// ---- 平台测试 (deskhall): commands in src-tauri/src/commands/staff.rs ----

export interface ServiceView {
  name: "relay" | "cosign" | "platform";
  running: boolean;
  url: string | null;
  note: string;
}

export interface LabCertificate {
  id: string;
  enterprise: string;
  holder: string;
  state: string;
}

export interface LabView {
  world: string;
  services: ServiceView[];
  certificates: LabCertificate[];
}

export type PhoneAnswer = "confirm" | "reject" | "wrong_pin" | "never_answer";
export type LabFault =
  | { kind: "none" }
  | { kind: "expired_qr" }
  | { kind: "certificate_disabled" }
  | { kind: "certificate_revoked" }
  | { kind: "relay_delay"; ms: number }
  | { kind: "relay_drop" };
export type LabFlow = "auth" | "sign" | "generate" | "decrypt";

export interface LabStep {
  at_ms: number;
  actor: "desktop" | "phone" | "relay" | "lab";
  text: string;
}

export interface LabOutcome {
  result: "success" | "rejected" | "expired" | "failed";
  code: string | null;
  message: string;
  total_ms: number;
}

export type LabEvent = ({ type: "step" } & LabStep) | { type: "qr"; svg: string } | ({ type: "done" } & LabOutcome);

export const staffOpen = (world: string) => invoke<LabView>("staff_open", { world });
export const staffView = () => invoke<LabView | null>("staff_view");
export const staffService = (name: string, run: boolean) => invoke<LabView>("staff_service", { name, run });

/** Runs a flow in the lab; `onEvent` gets every step, the QR and the outcome, in order. */
export function staffRun(flow: LabFlow, cert: string, answer: PhoneAnswer, fault: LabFault, onEvent: (e: LabEvent) => void) {
  const events = new Channel<LabEvent>();
  events.onmessage = onEvent;
  return invoke<void>("start_staff_run", { flow, cert, answer, fault, events });
}

/** The first run's demo world (scripts/demo-world.sh) and its co-signing service. */
export interface FirstRunView {
  dir: string;
  world: string;
  tender: string;
  platform_cert: string;
  project: string;
  pin: string;
  bin: string;
  cosign_url: string | null;
  cosign_error: string | null;
}

export const firstRun = () => invoke<FirstRunView | null>("first_run");
