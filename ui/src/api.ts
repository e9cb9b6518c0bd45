/**
 * Typed wrappers of the Tauri commands (src-tauri/src/commands). The only module that calls
 * `invoke`; types mirror the Rust structs. Scan progress arrives on a `Channel` per scan,
 * normalised here into the scan machine's inputs.
 */
import { Channel, convertFileSrc, invoke } from "@tauri-apps/api/core";
import type { ScanInput } from "./scan/scanMachine";
import type { PageBox, PdfRect } from "./pages/layout";

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
  /** Seal kinds as the tender names them, same order as `seal_kinds`. */
  kind_ids: SealKindId[];
  cross_page: boolean;
  /** Where the seals go now (PDF points, 0-based pages); empty when unmapped. */
  rects: NodeRect[];
  /** The composer's place (the area placement snaps to). */
  anchor: NodeRect[];
  /** The bidder placed or confirmed the seals in the window. */
  placed: boolean;
}

export interface SectionView {
  id: string;
  title: string;
  kind: string;
  attachments: number;
  attachment_files: AttachmentView[];
  min_attachments: number;
  nodes: NodeView[];
  /** 0-based first and last page in the composed PDF. */
  pages: [number, number] | null;
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
  legal_representative: string;
  composed_pages: number | null;
  /** `out/sealed.pdf` exists (current or not). */
  has_sealed_pdf: boolean;
  /** Media box of every composed page, PDF points. */
  page_boxes: PageBox[];
  sections: SectionView[];
  /** The bidder's facts then the bid form (投标函), with stored values. */
  form: FormFieldView[];
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
  | { type: "failed"; code: string; message: string }
  // Bidder: 生成标书 and 试解密 (deskbid).
  | { type: "bytes"; stage: string; done: number; total: number }
  | ({ type: "generated" } & GeneratedView)
  | ({ type: "trial_decrypted" } & TrialView)
  // 交易平台 (deskplat).
  | { type: "logged_in"; platform: string; company: CompanyRef | null }
  | ({ type: "synced" } & SyncReport)
  | ({ type: "uploaded" } & ReceiptView);

/** A Rust update as an input of the scan machine. */
export function toScanInput(u: ScanUpdate): ScanInput {
  if (u.type === "authenticated") {
    const { type: _type, ...view } = u;
    return { type: "confirmed", result: view };
  }
  if (u.type === "generated") {
    const { type: _type, ...view } = u;
    return { type: "confirmed", result: view };
  }
  if (u.type === "trial_decrypted") {
    const { type: _type, ...view } = u;
    if (!view.passed) {
      const failed = view.checks.filter((c) => c.startsWith("[未通过]"));
      return { type: "failed", code: "TRIAL_NOT_PASSED", message: failed.join("；") || view.checks.join("；") };
    }
    return { type: "confirmed", result: view };
  }
  if (u.type === "logged_in" || u.type === "synced" || u.type === "uploaded") {
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

/**
 * Tells the Rust side the window's language: command errors and scan refusals then arrive
 * with their message in it (`bidseal_workflow::i18n`; the code never changes). Outside the
 * app (tests, a browser) there is no Rust side and nothing to tell. Resolves once Rust has
 * it (or could not be told).
 */
export async function setLanguage(locale: string): Promise<void> {
  try {
    await invoke("set_language", { locale });
  } catch {
    /* no Tauri, or refused: messages stay zh-CN */
  }
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

// ---- Bidder: the bid's pages, composing and seal placement (src-tauri/src/commands/pages.rs) ----

/** Seal kinds as the tender names them. */
export type SealKindId = "enterprise" | "legal_person" | "legal_person_signature" | "personal" | "department";

/** Where one seal of a node goes: a page (0-based) and a rectangle in PDF points. */
export interface NodeRect {
  page_index: number;
  rect: PdfRect;
  /** The one kind this rectangle is for when the node asks for several. */
  kind?: SealKindId | null;
}

/** Where the bidder puts a seal (`bid::compose::placement::NodePosition`). */
export type NodePosition =
  | { type: "page"; page_index: number; rect: PdfRect }
  | { type: "cross_page"; first_page: number; last_page: number; y_mid: number };

export type BidPdfKind = "composed" | "sealed";

/** Composes the bid PDF and maps every signing node to its page. */
export const composeProject = (projectPath: string) => invoke<ProjectView>("compose_project", { projectPath });

/** The URL of the composed or sealed PDF (the app's `bidpdf:` scheme, see
 * src-tauri/src/commands/pages.rs). A scheme and not a command: Tauri's IPC on Linux sends
 * bytes as a JSON array of numbers, several times slower than the file itself. */
export const bidPdfUrl = (projectPath: string, which: BidPdfKind) => `${convertFileSrc(projectPath, "bidpdf")}?which=${which}`;

/** The composed or sealed PDF's bytes (only while they are what the project records); a
 * refusal arrives as the `CommandError` the scheme answers with. `loadFailed` words a
 * request that got no answer at all. */
export async function bidPdf(projectPath: string, which: BidPdfKind, loadFailed: (error: string) => string): Promise<ArrayBuffer> {
  let res: Response;
  try {
    res = await fetch(bidPdfUrl(projectPath, which), { cache: "no-store" });
  } catch (e) {
    throw { code: "E_PDF_LOAD", message: loadFailed(String(e)) } satisfies CommandError;
  }
  if (res.ok) return res.arrayBuffer();
  const body: unknown = await res.json().catch(() => null);
  throw isCommandError(body) ? { code: body.code, message: body.message } : { code: "E_PDF_LOAD", message: loadFailed(`HTTP ${res.status}`) };
}

/** Stores where the bidder puts `node`'s seal of `kind`; refused with a `PLACE_…` code. */
export const placeSeal = (projectPath: string, node: string, kind: SealKindId | null, position: NodePosition) =>
  invoke<ProjectView>("place_seal", { projectPath, node, kind, position });

/** A change made after a signature (`verify`). */
export interface ChangeView {
  allowed: boolean;
  description: string;
  page: number | null;
}

/** One signature of the sealed PDF, as verified. */
export interface SignatureView {
  field_name: string;
  seal_kind: string | null;
  signer: string | null;
  organization: string | null;
  credit_code: string | null;
  signing_time: string | null;
  valid: boolean;
  covers_whole_file: boolean;
  covered_end: number;
  problems: string[];
  changes: ChangeView[];
}

export interface SignaturesView {
  file: string;
  file_len: number;
  revisions: number;
  all_valid: boolean;
  signatures: SignatureView[];
}

/** Verifies every signature of the project's sealed PDF against the tender's CAs. */
export const verifySealed = (projectPath: string) => invoke<SignaturesView>("verify_sealed", { projectPath });

// ---- Bidder: bid form and attachments (src-tauri/src/commands/bidform.rs) ----

export interface AttachmentView {
  name: string;
  kind: "pdf" | "image" | "chapter";
  pages: number;
}

/** A field as the tender defines it (`PriceFormField`). */
export interface FormField {
  key: string;
  label: string;
  kind: "money" | "integer" | "text";
  unit?: string | null;
  required: boolean;
  max?: string | null;
}

export interface FormFieldView {
  field: FormField;
  value: string;
  capitals: string | null;
}

export interface FieldPreview {
  canonical: string;
  capitals: string | null;
}

/** The value as it would be stored, with 大写金额 for money; refused with `E_FIELD`. */
export const previewField = (field: FormField, raw: string) => invoke<FieldPreview>("preview_field", { field, raw });
/** Stores `[key, value]` pairs, all or nothing. */
export const saveBidForm = (projectPath: string, values: [string, string][]) => invoke<ProjectView>("save_bid_form", { projectPath, values });
/** Copies the file at `path` into the project as the next attachment of `section`. */
export const attachFile = (projectPath: string, section: string, path: string) => invoke<ProjectView>("attach_file", { projectPath, section, path });

// ---- Bidder: 生成标书 and 试解密 (src-tauri/src/commands/generate.rs) ----

/** One line of the 生成标书 checklist (`ok`: true passed, false blocks, null checked during the scan). */
export interface CheckItem {
  key: "seals" | "bidder" | "certificate" | "ca" | "deadline" | "output";
  ok: boolean | null;
  line: string;
}

export interface GeneratedView {
  path: string;
  size: number;
  sha256: string;
  recipients: string[];
}

export interface TrialView {
  passed: boolean;
  opened_as: string | null;
  checks: string[];
}

/** The checklist for writing the bid file to `output` ("" = the default place); returns the output used. */
export const generationCheck = (projectPath: string, output: string) => invoke<[string, CheckItem[]]>("generation_check", { projectPath, output });

/** 生成标书: 扫码认证 then the generate scan. */
export function generateScan(projectPath: string, output: string, colleagues: number, qrTtlSecs: number): ScanStarter {
  return (onInput) => {
    const updates = new Channel<ScanUpdate>();
    updates.onmessage = (u) => onInput(toScanInput(u));
    return invoke<number>("start_generate_scan", { projectPath, output, colleagues, qrTtlSecs, updates });
  };
}

/** 试解密 of the bid file at `bidFile`. */
export function trialDecryptScan(projectPath: string, bidFile: string, qrTtlSecs: number): ScanStarter {
  return (onInput) => {
    const updates = new Channel<ScanUpdate>();
    updates.onmessage = (u) => onInput(toScanInput(u));
    return invoke<number>("start_trial_decrypt_scan", { projectPath, bidFile, qrTtlSecs, updates });
  };
}

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
  /** For a file fetched from the trading platform: its signed receipt's facts. */
  platform: PlatformFacts | null;
}

/** What the platform's verified receipt says of a fetched file, and whether the file matches. */
export interface PlatformFacts {
  bidder: string;
  bidder_uscc: string;
  receipt_id: string;
  /** RFC 3339 UTC, as signed. */
  received_at: string;
  /** The same in Beijing time, for people. */
  received_at_text: string;
  receipt_sha256: string;
  receipt_size: number;
  matches_receipt: boolean;
}

/** Progress of 从交易平台获取 (bytes of all files). */
export interface FetchProgress {
  file: number;
  files: number;
  bidder: string;
  done: number;
  total: number;
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
  /** The tender's id on its platform (what 从交易平台获取 fetches the bids of). */
  platform_tender_id: string;
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
/** 从交易平台获取: staff login, download of the loaded tender's bid files, rows added. */
export function hallFetchFromPlatform(platform: string, account: string, password: string, onProgress: (p: FetchProgress) => void) {
  const progress = new Channel<FetchProgress>();
  progress.onmessage = onProgress;
  return invoke<HallAdded>("hall_fetch_from_platform", { platform, account, password, progress });
}

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
}

export interface LabCertificate {
  id: string;
  enterprise: string;
  holder: string;
  state: string;
  /** notAfter has passed: every use is refused, whatever `state` says. */
  expired: boolean;
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
export type LabFlow = "auth" | "sign" | "generate" | "trial" | "decrypt";

export interface LabStep {
  at_ms: number;
  actor: "desktop" | "phone" | "relay" | "lab";
  text: string;
}

/** The lab bid after 生成标书, 试解密 or 扫码解密 (`staff_lab::LabBidResult`). */
export interface LabBidResult {
  bid_file: string;
  size: number;
  sha256: string;
  recipients: string[];
  opening_time: string;
  bidder: string | null;
  reading: string[];
  checks: string[];
}

export interface LabOutcome {
  result: "success" | "rejected" | "expired" | "failed";
  code: string | null;
  message: string;
  total_ms: number;
  bid: LabBidResult | null;
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
  company_login: string | null;
  company_password: string;
  platform_url: string | null;
  platform_error: string | null;
}

export const firstRun = () => invoke<FirstRunView | null>("first_run");

// ---- 交易平台 (deskplat): commands in src-tauri/src/commands/platform.rs ----

export interface CompanyRef {
  uscc: string;
  name: string;
}

/** The project's platform and whether its saved session is alive. */
export interface PlatformStatus {
  url: string;
  company: CompanyRef | null;
  /** Why the platform could not be asked (offline…). */
  error: CommandError | null;
}

export interface RecordLine {
  id: string;
  version: number;
  kind: string;
  title: string;
  sha256: string;
}

/** What 同步诚信库 did (`library_sync::SyncReport`). */
export interface SyncReport {
  company: CompanyRef | null;
  added: RecordLine[];
  changed: RecordLine[];
  removed: RecordLine[];
  unchanged: number;
  refused: { id: string; reason: string; kept_version: number | null }[];
}

/** A record kept in the project; `cited`: the bid manifest cites it. */
export interface KeptRecord extends RecordLine {
  cited: boolean;
}

/** A verified receipt (time in Beijing time). */
export interface ReceiptView {
  id: string;
  action: "submit" | "replace" | "withdraw";
  sequence: number;
  tender_id: string;
  project_id: string;
  lot_id: string;
  bidder_name: string;
  bidder_uscc: string;
  sha256: string;
  size: number;
  received_at: string;
  path: string;
}

export interface PublishedTender {
  id: string;
  project_id: string;
  project_name: string;
  lot_id: string;
  lot_name: string;
  tenderer: string;
  bid_deadline: number;
  opening_time: number;
  accepting_bids: boolean;
  manifest_sha256: string;
}

export const platformStatus = (projectPath: string, platform: string) => invoke<PlatformStatus>("platform_status", { projectPath, platform });

function platformScan(command: string, args: Record<string, unknown>): ScanStarter {
  return (onInput) => {
    const updates = new Channel<ScanUpdate>();
    updates.onmessage = (u) => onInput(toScanInput(u));
    return invoke<number>(command, { ...args, updates });
  };
}

/** 扫码登录 to `platform` (the platform's QR in the scan dialog). */
export const platformLoginScan = (projectPath: string, platform: string) => platformScan("start_platform_login", { projectPath, platform });
/** 同步诚信库 by scan. */
export const librarySyncScan = (projectPath: string, platform: string) => platformScan("start_library_sync", { projectPath, platform });
export const integrityRecords = (projectPath: string) => invoke<KeptRecord[]>("integrity_records", { projectPath });
export const citeRecords = (projectPath: string, ids: string[]) => invoke<KeptRecord[]>("cite_records", { projectPath, ids });

/** 上传: `onUpdate` gets `bytes` updates then `uploaded` or `failed`. Returns the task id. */
export function startBidUpload(projectPath: string, platform: string, bidFile: string, onUpdate: (u: ScanUpdate) => void) {
  const updates = new Channel<ScanUpdate>();
  updates.onmessage = onUpdate;
  return invoke<number>("start_bid_upload", { projectPath, platform, bidFile, updates });
}
export const withdrawPlatformBid = (projectPath: string, platform: string) => invoke<ReceiptView>("withdraw_platform_bid", { projectPath, platform });
export const platformReceipts = (projectPath: string) => invoke<ReceiptView[]>("platform_receipts", { projectPath });
export const platformTenders = (platform: string) => invoke<PublishedTender[]>("platform_tenders", { platform });
export const newProjectFromPlatform = (dir: string, platform: string, tenderId: string, platformCert: string) =>
  invoke<ProjectView>("new_project_from_platform", { dir, platform, tenderId, platformCert });

/** A filter of the native file dialog. */
export interface PathFilter {
  name: string;
  extensions: string[];
}

/** What the native dialog asks for. */
export interface PickRequest {
  title: string;
  /** `open` an existing file or folder, or `save` to a new name (also a new project folder). */
  mode: "open" | "save";
  directory?: boolean;
  multiple?: boolean;
  filters?: PathFilter[];
  defaultPath?: string;
}

/**
 * Opens the system's file dialog (tauri-plugin-dialog) and returns the chosen paths; empty
 * when the user cancels.
 */
export async function pickPaths(req: PickRequest): Promise<string[]> {
  const base = { title: req.title, filters: req.filters ?? [], defaultPath: req.defaultPath };
  if (req.mode === "save") {
    const chosen = await invoke<string | null>("plugin:dialog|save", { options: base });
    return chosen ? [chosen] : [];
  }
  const chosen = await invoke<string | string[] | null>("plugin:dialog|open", {
    options: { ...base, directory: !!req.directory, multiple: !!req.multiple },
  });
  if (chosen === null) return [];
  return Array.isArray(chosen) ? chosen : [chosen];
}
