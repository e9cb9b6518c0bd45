//! 扫码登录 and 扫码绑定 on the platform side (seed 3.1, 3.2): the platform is the initiator of
//! an `auth` scan at the relay exactly as the desktop is, the phone signs a fresh challenge
//! bound to that scan, and the platform decides from the verified certificate.
//!
//! Guarantees:
//! - A scan ends `done` only after the phone's chain verifies to one of the platform's trusted
//!   CAs at the time of the answer ([`verify::identify`]) and its leaf signed
//!   [`AuthRequest::transcript_hash`] of this very scan (platform id, purpose, requester,
//!   challenge).
//! - A scan started for a web request names that request's sender to the phone (address and
//!   browser, [`requester`]), so a QR relayed from another browser shows that browser's
//!   address on the phone; the transcript binds it.
//! - Login (and the sync client's login) needs a certificate bound to an account whose company
//!   (name and unified social credit code) is the certificate's; binding refuses a certificate
//!   whose enterprise name or credit code differs from the account, saying which.
//! - A bearer token is created only on `done` and handed out once ([`ScanHub::wait`]).
//! - A bind scan is visible only to the account that started it; a login scan only to whoever
//!   knows its random id (128 bits, not in the QR).
//! - At most [`MAX_PENDING`] scans run at once (each holds a relay connection); finished scans
//!   are forgotten (in memory) after [`KEEP_FINISHED`].
//! - With a [`ScanJournal`] (the platform's database), every state a scan reaches is stored
//!   before it is shown, so a poll after a restart answers from the journal: a scan that was
//!   still waiting or scanned is `rejected` with `PLATFORM_SCAN_INTERRUPTED` (its relay
//!   connection died with the process; the page offers a new QR), a finished one keeps its
//!   result. A bearer token is never journaled.
//!
//! Does not: store accounts, bindings or sessions (the [`ScanAccounts`] the server provides
//! does), check revocation (the co-signing service refuses revoked certificates on the phone
//! side), or stop a user from confirming a QR an attacker relayed to them: the phone shows
//! the platform, the purpose and who asked; the user must read it (see docs/platform-scan.md).

pub mod http;
pub mod memory;
pub mod requester;
pub mod verify;

use bidseal_cms::cert::TrustStore;
use bidseal_scan::client::{start_scan, Answer, DesktopScan, ScanOptions};
use bidseal_scan::{
    AuthPurpose, AuthRequest, Digest32, OperationKind, OperationRequest, OperationResponse,
    PlatformRef, RefusalReason, Requester, ScanError, SessionId,
};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;
use tokio::sync::watch;

pub use requester::RequestOrigin;
pub use verify::CertIdentity;

/// Most scans in progress at once.
pub const MAX_PENDING: usize = 512;
/// Longest a long poll waits.
pub const LONG_POLL_MAX: Duration = Duration::from_secs(25);
/// How long a finished scan can still be read.
pub const KEEP_FINISHED: Duration = Duration::from_secs(300);

/// Where a scan stands, as the web page and the clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    /// The QR is shown; nobody scanned yet.
    Waiting,
    /// A phone scanned; the user confirms on it.
    Scanned,
    /// Logged in / bound.
    Done,
    /// The phone refused, or the platform refused the certificate (`reason` says why).
    Rejected,
    /// Nobody scanned before the QR expired: show 刷新二维码.
    Expired,
}

impl ScanState {
    /// Stable name (`waiting`, `scanned`, `done`, `rejected`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScanState::Waiting => "waiting",
            ScanState::Scanned => "scanned",
            ScanState::Done => "done",
            ScanState::Rejected => "rejected",
            ScanState::Expired => "expired",
        }
    }

    /// Parses a stable name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            ScanState::Waiting,
            ScanState::Scanned,
            ScanState::Done,
            ScanState::Rejected,
            ScanState::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether the scan is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ScanState::Done | ScanState::Rejected | ScanState::Expired
        )
    }
}

/// A company as a certificate or an account names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    /// 统一社会信用代码 (18 characters).
    pub uscc: String,
    /// 企业名称.
    pub name: String,
}

/// What the scan is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanPurpose {
    /// 扫码登录 to the web site.
    Login,
    /// The bid tool's login before 同步诚信库 (the phone shows that purpose).
    SyncIntegrity,
    /// 扫码绑定证书 to this (password-logged-in) account.
    Bind {
        /// The account id.
        account: String,
    },
}

impl ScanPurpose {
    fn auth_purpose(&self) -> AuthPurpose {
        match self {
            ScanPurpose::Login => AuthPurpose::Login,
            ScanPurpose::SyncIntegrity => AuthPurpose::SyncIntegrity,
            ScanPurpose::Bind { .. } => AuthPurpose::Bind,
        }
    }

    fn owner(&self) -> Option<&str> {
        match self {
            ScanPurpose::Bind { account } => Some(account),
            _ => None,
        }
    }
}

/// The state of one scan (the JSON of `GET /api/v1/scan-login/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanStatus {
    /// Where it stands.
    pub state: ScanState,
    /// Unix seconds when the QR expires.
    pub expires_at: u64,
    /// Why it was rejected, zh-CN, saying what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Stable code of the rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The phone that scanned (its own name for itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The company of the certificate (on `done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<Company>,
    /// The certificate's holder (CN) and fingerprint (on `done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateSummary>,
    /// Bearer token of the new session: in exactly one answer after a login scan is `done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The certificate a scan used, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSummary {
    /// Subject CN (holder or company).
    pub holder: String,
    /// SHA-256 of the DER certificate, hex.
    pub fingerprint: String,
    /// Issuer CN.
    pub issuer: String,
}

/// An account and its company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCompany {
    /// Account id.
    pub account: String,
    /// The company the account is for.
    pub company: Company,
}

/// What the platform's store provides to scans: accounts, bindings, sessions. The rules
/// (which certificate may log in or bind) are here, not in the store.
pub trait ScanAccounts: Send + Sync + 'static {
    /// The account a certificate (SHA-256 fingerprint, hex) is bound to.
    fn bound_account<'a>(
        &'a self,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<Option<AccountCompany>, ScanRefusal>>;
    /// The company of an account (`None`: no such account, or not a company account).
    fn account_company<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<Company>, ScanRefusal>>;
    /// Records that `cert` is bound to `account` (idempotent).
    fn store_binding<'a>(
        &'a self,
        account: &'a str,
        cert: &'a CertIdentity,
    ) -> BoxFuture<'a, Result<(), ScanRefusal>>;
    /// Creates a session of `account` and returns its bearer token.
    fn create_session<'a>(&'a self, account: &'a str)
        -> BoxFuture<'a, Result<String, ScanRefusal>>;
}

/// Why a scan did not log in or bind. Each has a stable code and a zh-CN message that says what
/// to do.
#[derive(Debug, Clone, Error)]
pub enum ScanRefusal {
    /// The phone refused (user pressed 拒绝, wrong PIN, certificate disabled...).
    #[error("手机端拒绝：{}", .0.message_zh())]
    Phone(RefusalReason),
    /// Nobody scanned in time.
    #[error("二维码已过期，请点击“刷新二维码”后重新扫码")]
    Expired,
    /// The scan failed on the way (relay, channel, time-out).
    #[error("扫码失败：{0}")]
    Scan(ScanError),
    /// The certificate does not chain to a CA the platform trusts, or is not valid now.
    #[error("证书不被本平台认可：{subject}——{why}。请使用本平台认可的 CA 颁发、在有效期内的证书")]
    Untrusted {
        /// Certificate subject.
        subject: String,
        /// Why, zh-CN.
        why: String,
    },
    /// The certificate carries no enterprise name or credit code.
    #[error("证书中没有{missing}，不能用于企业登录或绑定，请使用企业或其员工的证书")]
    NotACompanyCertificate {
        /// What is missing, zh-CN.
        missing: &'static str,
    },
    /// The phone's answer does not fit the request (signature does not verify, wrong op).
    #[error("手机端的应答与请求不符（{detail}），请重新扫码")]
    BadAnswer {
        /// What did not fit, zh-CN.
        detail: String,
    },
    /// Login by a certificate not bound to any account.
    #[error("该证书（{name}，统一社会信用代码 {uscc}）尚未绑定本平台账号：请先用账号密码登录，在“扫码绑定证书”页面绑定后再扫码登录")]
    NotBound {
        /// Company on the certificate.
        name: String,
        /// Credit code on the certificate.
        uscc: String,
    },
    /// The certificate's company is not the account's.
    #[error("{}", wrong_company_message(.certificate, .account))]
    WrongCompany {
        /// Company on the certificate.
        certificate: Company,
        /// Company of the account.
        account: Company,
    },
    /// The certificate is already bound to another account.
    #[error("该证书已绑定到另一个账号，不能再绑定到本账号；如需更换请联系平台工作人员")]
    BoundElsewhere,
    /// The account of a bind scan no longer exists.
    #[error("账号不存在或不是企业账号，请重新登录")]
    UnknownAccount,
    /// Too many scans in progress.
    #[error("当前扫码请求过多，请稍后再试")]
    Busy,
    /// The platform's store failed.
    #[error("平台内部错误：{detail}，请稍后重试")]
    Storage {
        /// What failed.
        detail: String,
    },
}

fn wrong_company_message(cert: &Company, account: &Company) -> String {
    let mut parts = Vec::new();
    if cert.name.trim() != account.name.trim() {
        parts.push(format!(
            "企业名称不一致（证书：{}，账号：{}）",
            cert.name, account.name
        ));
    }
    if !cert.uscc.trim().eq_ignore_ascii_case(account.uscc.trim()) {
        parts.push(format!(
            "统一社会信用代码不一致（证书：{}，账号：{}）",
            cert.uscc, account.uscc
        ));
    }
    format!(
        "证书与账号不属于同一企业：{}。请使用本企业的证书扫码",
        parts.join("；")
    )
}

impl ScanRefusal {
    /// Stable code.
    pub fn code(&self) -> String {
        match self {
            ScanRefusal::Phone(r) => format!("PHONE_{}", r.code().to_ascii_uppercase()),
            ScanRefusal::Expired => "PLATFORM_SCAN_EXPIRED".into(),
            ScanRefusal::Scan(e) => e.code().into(),
            ScanRefusal::Untrusted { .. } => "PLATFORM_CERT_UNTRUSTED".into(),
            ScanRefusal::NotACompanyCertificate { .. } => "PLATFORM_CERT_NO_COMPANY".into(),
            ScanRefusal::BadAnswer { .. } => "PLATFORM_SCAN_BAD_ANSWER".into(),
            ScanRefusal::NotBound { .. } => "PLATFORM_CERT_NOT_BOUND".into(),
            ScanRefusal::WrongCompany {
                certificate,
                account,
            } => {
                let name = certificate.name.trim() != account.name.trim();
                let uscc = !certificate
                    .uscc
                    .trim()
                    .eq_ignore_ascii_case(account.uscc.trim());
                match (name, uscc) {
                    (true, false) => "PLATFORM_BIND_NAME_MISMATCH",
                    (false, true) => "PLATFORM_BIND_USCC_MISMATCH",
                    _ => "PLATFORM_BIND_WRONG_COMPANY",
                }
                .into()
            }
            ScanRefusal::BoundElsewhere => "PLATFORM_CERT_BOUND_ELSEWHERE".into(),
            ScanRefusal::UnknownAccount => "PLATFORM_UNKNOWN_ACCOUNT".into(),
            ScanRefusal::Busy => "PLATFORM_SCAN_BUSY".into(),
            ScanRefusal::Storage { .. } => "PLATFORM_STORAGE".into(),
        }
    }
}

impl From<ScanError> for ScanRefusal {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Expired => ScanRefusal::Expired,
            other => ScanRefusal::Scan(other),
        }
    }
}

/// How the platform starts scans.
#[derive(Debug, Clone)]
pub struct ScanHubConfig {
    /// Relay base URL (`http://127.0.0.1:PORT`).
    pub relay: String,
    /// The platform as the phone shows it and as the auth transcript binds it.
    pub platform: PlatformRef,
    /// CAs whose certificates may log in and bind.
    pub trust: TrustStore,
    /// QR lifetime and the phone's answer time-out.
    pub options: ScanOptions,
    /// Proxies whose `X-Forwarded-For` names the requester shown on the phone
    /// (`--trusted-proxy`; see [`requester`]).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// A scan just started: what to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartedScan {
    /// Id to poll.
    pub id: String,
    /// The QR payload text (`bidseal://scan?...#secret`).
    pub qr: String,
    /// Unix seconds when the QR expires.
    pub expires_at: u64,
}

/// A scan as a [`ScanJournal`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledScan {
    /// Scan id.
    pub id: String,
    /// `login`, `sync_integrity` or `bind`.
    pub purpose: String,
    /// The account of a bind scan (only it may read the scan).
    pub owner: Option<String>,
    /// The state, never with a token.
    pub status: ScanStatus,
    /// The QR as SVG.
    pub qr_svg: String,
    /// Unix seconds.
    pub started_at: u64,
}

/// Where a [`ScanHub`] keeps its scans beyond the process. Failures to store are the
/// journal's to report (a scan goes on in memory).
pub trait ScanJournal: Send + Sync + 'static {
    /// Stores (or replaces) a scan.
    fn save<'a>(&'a self, scan: &'a JournaledScan) -> BoxFuture<'a, ()>;
    /// A stored scan.
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<JournaledScan>>;
}

/// Code of a scan a restart cut off.
pub const SCAN_INTERRUPTED: &str = "PLATFORM_SCAN_INTERRUPTED";

/// The state a restart gives a scan it finds unfinished: `rejected` with
/// [`SCAN_INTERRUPTED`]; a finished scan unchanged.
pub fn interrupted(mut status: ScanStatus) -> ScanStatus {
    if !status.state.is_final() {
        status.state = ScanState::Rejected;
        status.code = Some(SCAN_INTERRUPTED.into());
        status.reason =
            Some("平台在扫码过程中重新启动，本次扫码已中断：请点击“刷新二维码”后重新扫码".into());
    }
    status.token = None;
    status
}

struct Entry {
    id: String,
    purpose: ScanPurpose,
    requester: Option<Requester>,
    accounts: Arc<dyn ScanAccounts>,
    qr_svg: String,
    status: watch::Sender<ScanStatus>,
    token: Mutex<Option<String>>,
    started: Instant,
    started_unix: u64,
}

struct HubInner {
    config: ScanHubConfig,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    journal: OnceLock<Arc<dyn ScanJournal>>,
}

impl ScanPurpose {
    fn name(&self) -> &'static str {
        match self {
            ScanPurpose::Login => "login",
            ScanPurpose::SyncIntegrity => "sync_integrity",
            ScanPurpose::Bind { .. } => "bind",
        }
    }
}

impl HubInner {
    /// Journals `status` as the entry's state (without the token).
    async fn journal(&self, entry: &Entry, mut status: ScanStatus) {
        let Some(journal) = self.journal.get() else {
            return;
        };
        status.token = None;
        let scan = JournaledScan {
            id: entry.id.clone(),
            purpose: entry.purpose.name().into(),
            owner: entry.purpose.owner().map(str::to_string),
            status,
            qr_svg: entry.qr_svg.clone(),
            started_at: entry.started_unix,
        };
        journal.save(&scan).await;
    }
}

/// The platform's scans in progress.
#[derive(Clone)]
pub struct ScanHub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for ScanHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanHub")
            .field("relay", &self.inner.config.relay)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ScanHub {
    /// A hub starting scans at `config.relay`.
    pub fn new(config: ScanHubConfig) -> Self {
        ScanHub {
            inner: Arc::new(HubInner {
                config,
                entries: Mutex::new(HashMap::new()),
                journal: OnceLock::new(),
            }),
        }
    }

    /// Keeps every scan's states in `journal` from now on (set once; later calls are
    /// ignored).
    pub fn set_journal(&self, journal: Arc<dyn ScanJournal>) {
        let _ = self.inner.journal.set(journal);
    }

    /// The relay scans are started at.
    pub fn relay(&self) -> &str {
        &self.inner.config.relay
    }

    /// Starts a scan for `purpose` at the relay and returns its id and QR; `accounts` decides
    /// once the phone answered. No requester is named (see [`ScanHub::start_with`]).
    pub async fn start(
        &self,
        purpose: ScanPurpose,
        accounts: Arc<dyn ScanAccounts>,
    ) -> Result<StartedScan, ScanRefusal> {
        self.start_with(purpose, accounts, None, None).await
    }

    /// [`ScanHub::start`] with a QR lifetime shorter than the configured one (`ttl`, capped
    /// at it) and, for a scan a web request asked for, that request's `origin`: the phone
    /// then shows who asked ([`requester`]) and the transcript binds it.
    pub async fn start_with(
        &self,
        purpose: ScanPurpose,
        accounts: Arc<dyn ScanAccounts>,
        ttl: Option<Duration>,
        origin: Option<&RequestOrigin>,
    ) -> Result<StartedScan, ScanRefusal> {
        self.forget_old();
        if lock(&self.inner.entries).len() >= MAX_PENDING {
            return Err(ScanRefusal::Busy);
        }
        let mut options = self.inner.config.options;
        if let Some(ttl) = ttl {
            options.ttl = ttl.min(options.ttl);
        }
        let scan = start_scan(&self.inner.config.relay, OperationKind::Auth, options).await?;
        let payload = scan.payload().clone();
        let qr_svg = bidseal_scan::qr::render_svg(&payload)?;
        let id = SessionId::random()?.to_base64();
        let (status, _) = watch::channel(ScanStatus {
            state: ScanState::Waiting,
            expires_at: payload.expires_at,
            reason: None,
            code: None,
            device: None,
            company: None,
            certificate: None,
            token: None,
        });
        let entry = Arc::new(Entry {
            id: id.clone(),
            purpose,
            requester: origin.map(|o| o.requester(&self.inner.config.trusted_proxies)),
            accounts,
            qr_svg,
            status,
            token: Mutex::new(None),
            started: Instant::now(),
            started_unix: bidseal_scan::unix_now(),
        });
        {
            let mut entries = lock(&self.inner.entries);
            if entries.len() >= MAX_PENDING {
                return Err(ScanRefusal::Busy);
            }
            entries.insert(id.clone(), entry.clone());
        }
        let waiting = entry.status.borrow().clone();
        self.inner.journal(&entry, waiting).await;
        tokio::spawn(run(self.inner.clone(), entry, scan));
        Ok(StartedScan {
            id,
            qr: payload.to_url(),
            expires_at: payload.expires_at,
        })
    }

    fn entry(&self, id: &str, viewer: Option<&str>) -> Option<Arc<Entry>> {
        let entry = lock(&self.inner.entries).get(id).cloned()?;
        match entry.purpose.owner() {
            Some(owner) if viewer != Some(owner) => None,
            _ => Some(entry),
        }
    }

    /// A scan of an earlier run of the platform, from the journal (same visibility rule).
    async fn journaled(&self, id: &str, viewer: Option<&str>) -> Option<JournaledScan> {
        let scan = self.inner.journal.get()?.load(id).await?;
        match &scan.owner {
            Some(owner) if viewer != Some(owner.as_str()) => None,
            _ => Some(scan),
        }
    }

    /// The QR of scan `id` as SVG (`None`: unknown id, or a bind scan of another account).
    pub async fn qr_svg(&self, id: &str, viewer: Option<&str>) -> Option<String> {
        match self.entry(id, viewer) {
            Some(e) => Some(e.qr_svg.clone()),
            None => self.journaled(id, viewer).await.map(|s| s.qr_svg),
        }
    }

    /// The state of scan `id`. With `known`, waits (at most `max`, capped at
    /// [`LONG_POLL_MAX`]) until the state differs from `known`; without, until the scan is
    /// over. The token of a `done` login is in exactly one answer. `None`: unknown id, or a
    /// bind scan of another account (`viewer`).
    pub async fn wait(
        &self,
        id: &str,
        viewer: Option<&str>,
        known: Option<ScanState>,
        max: Duration,
    ) -> Option<ScanStatus> {
        let Some(entry) = self.entry(id, viewer) else {
            // Not running in this process: an earlier run's scan, as the journal has it.
            return self
                .journaled(id, viewer)
                .await
                .map(|s| interrupted(s.status));
        };
        let mut rx = entry.status.subscribe();
        let settled = |s: &ScanStatus| match known {
            Some(k) => s.state != k,
            None => s.state.is_final(),
        };
        let _ = tokio::time::timeout(max.min(LONG_POLL_MAX), rx.wait_for(settled)).await;
        let mut status = rx.borrow().clone();
        if status.state == ScanState::Done {
            status.token = lock(&entry.token).take();
        }
        Some(status)
    }

    fn forget_old(&self) {
        let max_age = self.inner.config.options.ttl
            + self.inner.config.options.response_timeout
            + KEEP_FINISHED;
        lock(&self.inner.entries).retain(|_, e| e.started.elapsed() < max_age);
    }
}

async fn run(inner: Arc<HubInner>, entry: Arc<Entry>, mut scan: DesktopScan) {
    let result = drive(&inner, &entry, &mut scan).await;
    let _ = scan.end().await;
    // The final state is journaled before anyone sees it.
    let mut status = entry.status.borrow().clone();
    match result {
        Ok((identity, token)) => {
            *lock(&entry.token) = token;
            status.state = ScanState::Done;
            status.company = Some(identity.company.clone());
            status.certificate = Some(identity.summary());
        }
        Err(refusal) => {
            status.state = match refusal {
                ScanRefusal::Expired => ScanState::Expired,
                _ => ScanState::Rejected,
            };
            status.reason = Some(refusal.to_string());
            status.code = Some(refusal.code());
        }
    }
    inner.journal(&entry, status.clone()).await;
    entry.status.send_replace(status);
}

async fn drive(
    inner: &HubInner,
    entry: &Entry,
    scan: &mut DesktopScan,
) -> Result<(CertIdentity, Option<String>), ScanRefusal> {
    let (phone, binding) = scan.wait_scanned().await?;
    entry.status.send_modify(|s| {
        s.state = ScanState::Scanned;
        s.device = Some(phone.device.clone());
    });
    let scanned = entry.status.borrow().clone();
    inner.journal(entry, scanned).await;
    let mut challenge = [0u8; 32];
    fill_random(&mut challenge)?;
    let request = AuthRequest {
        platform: inner.config.platform.clone(),
        purpose: entry.purpose.auth_purpose(),
        project: None,
        requester: entry.requester.clone(),
        challenge: Digest32(challenge),
        issued_at: bidseal_scan::unix_now(),
    };
    let hash = request.transcript_hash(&binding);
    let response = match scan.perform(OperationRequest::Auth(request), None).await? {
        Answer::Confirmed {
            response: OperationResponse::Auth(r),
            ..
        } => r,
        Answer::Confirmed { response, .. } => {
            return Err(ScanRefusal::BadAnswer {
                detail: format!("请求 auth 却收到 {}", response.kind().as_str()),
            })
        }
        Answer::Rejected(reason) => return Err(ScanRefusal::Phone(reason)),
    };
    let identity = verify::identify(&response, &hash, &inner.config.trust, SystemTime::now())?;
    match &entry.purpose {
        ScanPurpose::Login | ScanPurpose::SyncIntegrity => {
            let token = login(entry.accounts.as_ref(), &identity).await?;
            Ok((identity, Some(token)))
        }
        ScanPurpose::Bind { account } => {
            bind(entry.accounts.as_ref(), account, &identity).await?;
            Ok((identity, None))
        }
    }
}

/// Whether `cert` and `account` name the same company (name and credit code).
pub fn same_company(cert: &Company, account: &Company) -> Result<(), ScanRefusal> {
    if cert.name.trim() != account.name.trim()
        || !cert.uscc.trim().eq_ignore_ascii_case(account.uscc.trim())
    {
        return Err(ScanRefusal::WrongCompany {
            certificate: cert.clone(),
            account: account.clone(),
        });
    }
    Ok(())
}

/// 扫码登录: the certificate must be bound to an account of its own company.
pub async fn login(
    accounts: &dyn ScanAccounts,
    identity: &CertIdentity,
) -> Result<String, ScanRefusal> {
    let bound = accounts
        .bound_account(&identity.fingerprint)
        .await?
        .ok_or_else(|| ScanRefusal::NotBound {
            name: identity.company.name.clone(),
            uscc: identity.company.uscc.clone(),
        })?;
    same_company(&identity.company, &bound.company)?;
    accounts.create_session(&bound.account).await
}

/// 扫码绑定: the certificate's company must be the account's, and the certificate not bound to
/// another account.
pub async fn bind(
    accounts: &dyn ScanAccounts,
    account: &str,
    identity: &CertIdentity,
) -> Result<(), ScanRefusal> {
    let company = accounts
        .account_company(account)
        .await?
        .ok_or(ScanRefusal::UnknownAccount)?;
    same_company(&identity.company, &company)?;
    if let Some(other) = accounts.bound_account(&identity.fingerprint).await? {
        if other.account != account {
            return Err(ScanRefusal::BoundElsewhere);
        }
    }
    accounts.store_binding(account, identity).await
}

fn fill_random(buf: &mut [u8]) -> Result<(), ScanRefusal> {
    use rand_core::RngCore;
    rand_core::OsRng
        .try_fill_bytes(buf)
        .map_err(|e| ScanRefusal::Storage {
            detail: format!("随机数：{e}"),
        })
}
