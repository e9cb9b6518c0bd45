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
