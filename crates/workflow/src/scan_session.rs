//! One scan as the flows use it: start it at the relay, show the QR, wait for the phone, then
//! send requests and get typed answers. In session mode (会话签章) the first request asks the
//! phone to keep the channel open, so later requests need no new scan.
//!
//! Guarantees: a phone refusal becomes [`FlowError::Refused`] with its reason; an answer of the
//! wrong operation becomes [`FlowError::BadPhoneAnswer`]; the session is ended ("结束会话")
//! when [`ScanSession::end`] is called. Does not: interpret the answers (the adapters do).

use crate::error::FlowError;
use bidseal_scan::client::{start_scan, Answer, DesktopScan, ScanOptions};
use bidseal_scan::{
    OperationKind, OperationRequest, OperationResponse, PhoneHello, PlatformRef, ProjectRef,
    QrPayload, SessionBinding, SessionModeRequest,
};
use tokio::sync::Mutex;

/// Idle time-out proposed for session mode, seconds.
pub const SESSION_IDLE_SECS: u32 = 300;

/// Where the flow shows QR codes and progress (the CLI prints and writes PNGs; the desktop
/// app emits events; tests hand the payload to a simulated phone).
pub trait ScanPresenter: Send {
    /// Shows the QR of a new scan.
    fn show_qr(&mut self, op: OperationKind, payload: &QrPayload);
    /// A progress line, zh-CN.
    fn status(&mut self, line: &str);
    /// The phone scanned the QR shown last (a window switches to "已扫码，请在手机上确认").
    /// The status line is sent as well; the default does nothing more.
    fn scanned(&mut self, _phone: &PhoneHello) {}
    /// `done` of `total` items of a session-mode scan are finished (e.g. seals placed), so a
    /// window can show how many remain. The default does nothing.
    fn progress(&mut self, _done: usize, _total: usize) {}
    /// Long file work after the scan: `done` of `total` bytes of `stage` (zh-CN: 打包, 加密),
    /// so a window can show a progress bar and the time left. The default does nothing.
    fn bytes(&mut self, _stage: &str, _done: u64, _total: u64) {}
}

/// Relay and what the phone is told about the platform and project.
#[derive(Debug, Clone)]
pub struct ScanTarget {
    /// Relay base URL (`http://127.0.0.1:PORT`).
    pub relay: String,
    /// Trading platform.
    pub platform: PlatformRef,
    /// Project concerned.
    pub project: ProjectRef,
    /// QR lifetime and per-request time-out.
    pub options: ScanOptions,
}

/// A scanned, open scan.
pub struct ScanSession {
    scan: Mutex<(DesktopScan, u32)>,
    binding: SessionBinding,
    phone: PhoneHello,
    session_mode: bool,
}

impl std::fmt::Debug for ScanSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanSession")
            .field("phone", &self.phone)
            .finish_non_exhaustive()
    }
}

impl ScanSession {
    /// Starts a scan for `op`, shows its QR and waits until the phone scanned.
    pub async fn start(
        target: &ScanTarget,
        op: OperationKind,
        session_mode: bool,
        presenter: &mut dyn ScanPresenter,
    ) -> Result<Self, FlowError> {
        let mut scan = start_scan(&target.relay, op, target.options).await?;
        presenter.show_qr(op, scan.payload());
        presenter.status(&format!("请用手机扫码（{}）", op.name_zh()));
        let (phone, binding) = scan.wait_scanned().await?;
        presenter.scanned(&phone);
        presenter.status(&format!("已扫码：{}，请在手机上确认", phone.device));
        Ok(ScanSession {
            scan: Mutex::new((scan, 0)),
            binding,
            phone,
            session_mode,
        })
    }

    /// The session binding (for proofs bound to this scan).
    pub fn binding(&self) -> &SessionBinding {
        &self.binding
    }

    /// The phone that scanned.
    pub fn phone(&self) -> &PhoneHello {
        &self.phone
    }

    /// Sends one request and waits for its answer.
    pub async fn perform(&self, request: OperationRequest) -> Result<OperationResponse, FlowError> {
        let kind = request.kind();
        let mut guard = self.scan.lock().await;
        let (scan, sent) = &mut *guard;
        let mode = (self.session_mode && *sent == 0).then_some(SessionModeRequest {
            idle_timeout_secs: SESSION_IDLE_SECS,
        });
        *sent += 1;
        match scan.perform(request, mode).await? {
            Answer::Confirmed { response, .. } if response.kind() == kind => Ok(response),
            Answer::Confirmed { response, .. } => Err(FlowError::BadPhoneAnswer {
                detail: format!("请求 {} 却收到 {}", kind.as_str(), response.kind().as_str()),
            }),
            Answer::Rejected(reason) => Err(FlowError::Refused(reason)),
        }
    }

    /// Ends the session on both sides ("结束会话"). Harmless after a single-request scan.
    pub async fn end(&self) {
        let guard = self.scan.lock().await;
        let _ = guard.0.end().await;
    }
}

/// The platform/project refs the phone shows, from a tender.
pub fn refs_from_tender(
    manifest: &bidseal_bid::tender::TenderManifest,
) -> (PlatformRef, ProjectRef) {
    (
        PlatformRef {
            id: manifest.platform.id.clone(),
            name: manifest.platform.name.clone(),
        },
        ProjectRef {
            code: format!("{}/{}", manifest.project.id, manifest.project.lot.id),
            name: format!("{} {}", manifest.project.name, manifest.project.lot.name),
        },
    )
}
