//! Scan flows in the window: a command starts a `workflow` flow as a task and returns its id;
//! the flow's QR, the phone's progress and the outcome go to the window as [`ScanUpdate`]s on a
//! Tauri `Channel` that the command's caller passed (ordered, one per scan, no polling).
//!
//! Guarantees: every started scan ends with exactly one final update (`authenticated`,
//! `rejected`, `expired` or `failed`) unless it is cancelled; cancelling drops the flow, which
//! closes the scan at the relay. The QR is sent as SVG rendered by `bidseal_scan::qr` (the
//! same encoder and size limits as the CLI's PNGs); its secret payload is not sent as text.
//! Does not: decide anything about the certificate (the flow does) or keep a scan alive after
//! the window closes.

use super::{lock, CommandError, DesktopState};
use bidseal_bid::bidfile::accepted_cas;
use bidseal_bid::project::BidProject;
use bidseal_scan::client::ScanOptions;
use bidseal_scan::{qr, OperationKind, PhoneHello, QrPayload, ScanError};
use bidseal_workflow::auth::{authenticate, AuthenticatedBidder};
use bidseal_workflow::project_flow::{project_bidder, seal_project};
use bidseal_workflow::scan_session::{refs_from_tender, ScanPresenter, ScanTarget};
use bidseal_workflow::FlowError;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};
use tauri::async_runtime::JoinHandle;
use tauri::ipc::Channel;
use tokio::sync::oneshot;

/// Shortest QR lifetime the window accepts, seconds (staff tests of expiry use a few seconds).
pub const MIN_QR_TTL_SECS: u64 = 3;
/// Longest QR lifetime (the relay's limit).
pub const MAX_QR_TTL_SECS: u64 = 300;
/// How long the phone may take to answer one request (the user reads, enters the PIN).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(180);

/// What the window learns about one scan, in order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScanUpdate {
    /// Show this QR until `expires_at` (Unix seconds): 等待扫码.
    Qr {
        /// What the scan authorises (`auth`, `sign`, `generate`, `decrypt`); the window names it.
        operation: String,
        /// The QR as SVG (integer module size, quiet zone).
        svg: String,
        /// Expiry of the QR, Unix seconds.
        expires_at: u64,
    },
    /// The phone scanned: 已扫码，请在手机上确认.
    Scanned {
        /// The phone's label, e.g. 张伟的手机.
        device: String,
    },
    /// A progress line of the flow, in the window's language.
    Status {
        /// The line.
        line: String,
    },
    /// Session mode: `done` of `total` items finished (seals placed).
    Progress {
        /// Items finished.
        done: usize,
        /// Items in this scan.
        total: usize,
    },
    /// 标书签章 succeeded: every placement sealed, the sealed PDF and its record written.
    Sealed {
        /// Signatures made.
        count: usize,
        /// The sealed PDF.
        sealed_pdf: String,
    },
    /// 扫码认证 succeeded; the certificate passed the tender's CA and bidder checks.
    Authenticated(AuthenticatedView),
    /// 开标大厅 扫码解密: the phone gave the key and the bid was opened and verified (final);
    /// `passed` is false when any check of the report failed (`reason`: the first).
    Opened {
        /// Row of the hall.
        index: usize,
        /// Every check passed.
        passed: bool,
        /// Bidder from the manifest when passed.
        bidder: Option<String>,
        /// First failing check, `[code] name：detail`.
        reason: Option<String>,
    },
    /// The phone refused; `message` says why and what to do.
    Rejected {
        /// Stable refusal code.
        code: String,
        /// zh-CN reason.
        message: String,
    },
    /// Nobody scanned before the QR expired (刷新二维码 starts a new scan).
    Expired,
    /// The flow failed; `message` says why and what to do.
    Failed {
        /// Stable error code.
        code: String,
        /// zh-CN message.
        message: String,
    },
    // Bidder: 生成标书 and 试解密 (deskbid).
    /// 生成标书 succeeded: the encrypted bid file is written.
    Generated {
        /// The bid file.
        path: String,
        /// Its size, bytes.
        size: u64,
        /// Its SHA-256, hex.
        sha256: String,
        /// Who can decrypt it (certificate subjects).
        recipients: Vec<String>,
    },
    /// Packaging or encryption of the bid file: `done` of `total` bytes of `stage` (打包, 加密).
    Bytes {
        /// zh-CN stage name.
        stage: String,
        /// Bytes done.
        done: u64,
        /// Bytes in this stage.
        total: u64,
    },
    /// 试解密 finished: `passed` when every opening check passed; `checks` one zh-CN line each.
    TrialDecrypted {
        /// Every check passed.
        passed: bool,
        /// The certificate it was opened with.
        opened_as: Option<String>,
        /// `[通过]`/`[未通过]` lines, in order.
        checks: Vec<String>,
    },
    // 交易平台 (deskplat).
    /// 扫码登录 succeeded; the session is kept in the project.
    LoggedIn {
        /// The platform URL.
        platform: String,
        /// The logged-in company.
        company: Option<bidseal_bid::platform_docs::CompanyRef>,
    },
    /// 同步诚信库 finished (refused records listed, their last good copy kept).
    Synced(bidseal_workflow::library_sync::SyncReport),
    /// 上传 finished: the verified receipt, kept in the project.
    Uploaded(super::platform::ReceiptView),
}

/// The authenticated certificate as the window shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuthenticatedView {
    /// Enterprise (O) of the certificate.
    pub enterprise: String,
    /// 统一社会信用代码 from the certificate.
    pub credit_code: String,
    /// Holder (CN).
    pub holder: String,
    /// Issuing CA.
    pub issuer: String,
    /// End of validity, Unix seconds.
    pub not_after: u64,
    /// The phone that scanned.
    pub device: String,
}

impl From<&AuthenticatedBidder> for AuthenticatedView {
    fn from(who: &AuthenticatedBidder) -> Self {
        let leaf = who.chain.first();
        AuthenticatedView {
            enterprise: leaf.and_then(|c| c.organization()).unwrap_or_default(),
            credit_code: leaf.and_then(|c| c.credit_code()).unwrap_or_default(),
            holder: leaf.and_then(|c| c.common_name()).unwrap_or_default(),
            issuer: leaf.map(|c| c.issuer().to_string()).unwrap_or_default(),
            not_after: leaf
                .and_then(|c| c.not_after().duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            device: who.device.clone(),
        }
    }
}

/// The outcome of a flow as the final update: a phone refusal is `rejected`, an unscanned QR
/// `expired`, anything else `failed` with its code.
pub(crate) fn final_update<T>(
    result: Result<T, FlowError>,
    done: impl FnOnce(T) -> ScanUpdate,
) -> ScanUpdate {
    match result {
        Ok(v) => done(v),
        Err(FlowError::Refused(reason)) => ScanUpdate::Rejected {
            code: reason.code().into(),
            message: super::in_window_language(reason.code(), &reason.message_zh()),
        },
        Err(FlowError::Scan(ScanError::Expired)) => ScanUpdate::Expired,
        Err(e) => ScanUpdate::Failed {
            code: e.code().into(),
            message: super::in_window_language(e.code(), &e.to_string()),
        },
    }
}

/// The flows' presenter for the window: every call becomes a [`ScanUpdate`] on the channel.
pub(crate) struct WindowPresenter {
    pub(crate) updates: Channel<ScanUpdate>,
}

impl WindowPresenter {
    pub(crate) fn send(&self, update: ScanUpdate) {
        // The window may be gone (closed mid-scan); the flow then ends on its own time-out.
        let _ = self.updates.send(update);
    }
}

impl WindowPresenter {
    /// The QR update for `payload` (SVG by `bidseal_scan::qr`), named `operation`.
    pub(crate) fn qr_update(operation: &str, payload: &QrPayload) -> ScanUpdate {
        match qr::render_svg(payload) {
            Ok(svg) => ScanUpdate::Qr {
                operation: operation.into(),
                svg,
                expires_at: payload.expires_at,
            },
            Err(e) => ScanUpdate::Failed {
                code: e.code().into(),
                message: e.to_string(),
            },
        }
    }
}

impl ScanPresenter for WindowPresenter {
    fn show_qr(&mut self, op: OperationKind, payload: &QrPayload) {
        self.send(Self::qr_update(op.as_str(), payload));
    }

    fn status(&mut self, line: &str) {
        self.send(ScanUpdate::Status {
            line: super::in_window_words(line),
        });
    }

    fn scanned(&mut self, phone: &PhoneHello) {
        self.send(ScanUpdate::Scanned {
            device: phone.device.clone(),
        });
    }

    fn progress(&mut self, done: usize, total: usize) {
        self.send(ScanUpdate::Progress { done, total });
    }

    fn bytes(&mut self, stage: &str, done: u64, total: u64) {
        self.send(ScanUpdate::Bytes {
            stage: stage.into(),
            done,
            total,
        });
    }
}

/// A running scan flow and how to stop it.
enum Running {
    /// A `Send` flow on the async runtime.
    Task(JoinHandle<()>),
    /// A flow that is not `Send` (the PDF engine keeps `Rc`s) on its own thread; dropping or
    /// firing the sender stops it.
    Thread(oneshot::Sender<()>),
}

impl Running {
    fn is_finished(&self) -> bool {
        match self {
            Running::Task(h) => h.inner().is_finished(),
            Running::Thread(stop) => stop.is_closed(),
        }
    }
}

/// The scans running in this window, by id, so that the window can cancel one.
#[derive(Default)]
pub struct ScanTasks {
    next: AtomicU64,
    running: Mutex<HashMap<u64, Running>>,
}

impl ScanTasks {
    fn insert(&self, run: Running) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut running = lock(&self.running);
        running.retain(|_, r| !r.is_finished());
        running.insert(id, run);
        id
    }

    fn spawn(&self, flow: impl Future<Output = ()> + Send + 'static) -> u64 {
        self.insert(Running::Task(tauri::async_runtime::spawn(flow)))
    }

    /// Runs the flow made by `make` on a thread of its own, driven by the app's runtime.
    pub(crate) fn spawn_local<F, Fut>(&self, make: F) -> u64
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::spawn(move || {
            tauri::async_runtime::block_on(async move {
                tokio::select! {
                    _ = make() => {}
                    _ = stopped => {}
                }
            })
        });
        self.insert(Running::Thread(stop))
    }

    fn cancel(&self, id: u64) -> bool {
        match lock(&self.running).remove(&id) {
            Some(Running::Task(handle)) => {
                handle.abort();
                true
            }
            Some(Running::Thread(stop)) => stop.send(()).is_ok(),
            None => false,
        }
    }
}

pub(crate) fn scan_options(qr_ttl_secs: u64) -> ScanOptions {
    ScanOptions {
        ttl: Duration::from_secs(qr_ttl_secs.clamp(MIN_QR_TTL_SECS, MAX_QR_TTL_SECS)),
        response_timeout: RESPONSE_TIMEOUT,
    }
}

/// 扫码认证 for the bid project at `project_path`: the tender's accepted CAs and the project's
/// bidder are what the certificate must match. Returns the scan id (for [`cancel_scan`]).
#[tauri::command]
pub fn start_auth_scan(
    state: tauri::State<'_, DesktopState>,
    tasks: tauri::State<'_, ScanTasks>,
    project_path: String,
    qr_ttl_secs: u64,
    updates: Channel<ScanUpdate>,
) -> Result<u64, CommandError> {
    let relay = state.relay_url()?;
    let project =
        BidProject::open(Path::new(&project_path)).map_err(|e| CommandError::coded(e.code(), e))?;
    let accepted = accepted_cas(project.tender()).map_err(|e| CommandError::coded(e.code(), e))?;
    let bidder = project_bidder(&project);
    let (platform, project_ref) = refs_from_tender(project.manifest());
    let target = ScanTarget {
        relay,
        platform,
        project: project_ref,
        options: scan_options(qr_ttl_secs),
    };
    Ok(tasks.spawn(async move {
        let mut window = WindowPresenter { updates };
        let result = authenticate(&target, &mut window, &accepted, &bidder).await;
        window.send(final_update(result, |who| {
            ScanUpdate::Authenticated(AuthenticatedView::from(&who))
        }));
    }))
}

/// 标书签章 of the project at `project_path`: every signing node of the current composition by
/// one scan in session mode (`workflow::project_flow::seal_project`). Cancelling before the end
/// writes nothing (the sealed PDF is committed only when every seal is made).
#[tauri::command]
pub fn start_seal_scan(
    state: tauri::State<'_, DesktopState>,
    tasks: tauri::State<'_, ScanTasks>,
    project_path: String,
    qr_ttl_secs: u64,
    updates: Channel<ScanUpdate>,
) -> Result<u64, CommandError> {
    let relay = state.relay_url()?;
    let project =
        BidProject::open(Path::new(&project_path)).map_err(|e| CommandError::coded(e.code(), e))?;
    let (platform, project_ref) = refs_from_tender(project.manifest());
    let target = ScanTarget {
        relay,
        platform,
        project: project_ref,
        options: scan_options(qr_ttl_secs),
    };
    Ok(tasks.spawn_local(move || async move {
        let mut window = WindowPresenter { updates };
        let result = seal_project(&target, &mut window, &project).await;
        let dir = project.dir().to_path_buf();
        window.send(final_update(result, |record| ScanUpdate::Sealed {
            count: record.seals.len(),
            sealed_pdf: dir.join(&record.sealed).display().to_string(),
        }));
    }))
}

/// Cancels a running scan (the dialog was closed); `false` if it had already ended.
#[tauri::command]
pub fn cancel_scan(tasks: tauri::State<'_, ScanTasks>, scan_id: u64) -> bool {
    tasks.cancel(scan_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidseal_scan::RefusalReason;
    use serde_json::json;

    #[test]
    fn a_refusal_is_rejected_with_its_reason_an_unscanned_qr_is_expired_the_rest_failed() {
        let refused = final_update::<()>(
            Err(FlowError::Refused(RefusalReason::WrongPin {
                remaining_tries: 2,
            })),
            |_| ScanUpdate::Expired,
        );
        let ScanUpdate::Rejected { code, message } = refused else {
            panic!("a refusal must be 已拒绝: {refused:?}")
        };
        assert_eq!(code, "wrong_pin");
        assert!(
            message.contains('2'),
            "the reason keeps its detail: {message}"
        );

        let expired = final_update::<()>(Err(FlowError::Scan(ScanError::Expired)), |_| {
            ScanUpdate::Status { line: "ok".into() }
        });
        assert_eq!(expired, ScanUpdate::Expired);

        // A phone answer that does not fit is neither a refusal nor an expiry.
        let forged = final_update::<()>(
            Err(FlowError::BadPhoneAnswer {
                detail: "签名不符".into(),
            }),
            |_| ScanUpdate::Expired,
        );
        assert!(
            matches!(&forged, ScanUpdate::Failed { code, .. } if code == "E_BAD_PHONE_ANSWER"),
            "{forged:?}"
        );

        let done = final_update(Ok(3usize), |n| ScanUpdate::Progress { done: n, total: n });
        assert_eq!(done, ScanUpdate::Progress { done: 3, total: 3 });
    }

    /// The window (ui/src/api.ts) reads these exact shapes.
    #[test]
    fn updates_serialise_with_the_type_tag_the_window_reads() {
        let cases = [
            (
                ScanUpdate::Qr {
                    operation: "auth".into(),
                    svg: "<svg/>".into(),
                    expires_at: 7,
                },
                json!({"type": "qr", "operation": "auth", "svg": "<svg/>", "expires_at": 7}),
            ),
            (
                ScanUpdate::Scanned {
                    device: "张伟的手机".into(),
                },
                json!({"type": "scanned", "device": "张伟的手机"}),
            ),
            (
                ScanUpdate::Progress { done: 1, total: 4 },
                json!({"type": "progress", "done": 1, "total": 4}),
            ),
            (
                ScanUpdate::Sealed {
                    count: 4,
                    sealed_pdf: "/p/out/sealed.pdf".into(),
                },
                json!({"type": "sealed", "count": 4, "sealed_pdf": "/p/out/sealed.pdf"}),
            ),
            (
                ScanUpdate::Authenticated(AuthenticatedView {
                    enterprise: "华夏".into(),
                    credit_code: "91110108715267269X".into(),
                    holder: "华夏".into(),
                    issuer: "CN=CA".into(),
                    not_after: 9,
                    device: "d".into(),
                }),
                json!({"type": "authenticated", "enterprise": "华夏",
                       "credit_code": "91110108715267269X", "holder": "华夏",
                       "issuer": "CN=CA", "not_after": 9, "device": "d"}),
            ),
            (
                ScanUpdate::Rejected {
                    code: "rejected_by_user".into(),
                    message: "拒绝".into(),
                },
                json!({"type": "rejected", "code": "rejected_by_user", "message": "拒绝"}),
            ),
            (ScanUpdate::Expired, json!({"type": "expired"})),
            (
                ScanUpdate::Failed {
                    code: "E".into(),
                    message: "m".into(),
                },
                json!({"type": "failed", "code": "E", "message": "m"}),
            ),
        ];
        for (update, expected) in cases {
            assert_eq!(serde_json::to_value(&update).unwrap_or_default(), expected);
        }
    }

    #[test]
    fn qr_lifetime_is_clamped_to_what_the_relay_accepts() {
        assert_eq!(scan_options(0).ttl, Duration::from_secs(MIN_QR_TTL_SECS));
        assert_eq!(
            scan_options(10_000).ttl,
            Duration::from_secs(MAX_QR_TTL_SECS)
        );
        assert_eq!(scan_options(120).ttl, Duration::from_secs(120));
    }
}
