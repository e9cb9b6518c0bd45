//! 不见面开标 (remote opening): at the opening time the platform is the opening hall. For each
//! bid it starts a `decrypt` scan at the relay exactly as the hall does
//! (`bidseal_workflow::hall::open_by_scan`), and instead of showing the QR it pushes the QR
//! payload to the bidder's phone in standby (`bidseal phone standby`), which picked it up from
//! [`PushMailbox::take`] after logging in by scan. The phone verifies the platform-signed tender
//! and its opening time, asks its user, and returns the key-encryption key through the relay;
//! the platform decrypts and verifies the bid as the hall does, and publishes each bidder's
//! state and the reading table (唱标) on the [`OpeningBoard`].
//!
//! Guarantees: nothing is started before the tender's opening time by the platform's clock,
//! and the phone and co-signing service check it again from the signed tender; a pushed
//! request is delivered once, only to a session of the bid's own company (by unified social
//! credit code), and is bound to one relay session, one bid file (its digest) and one tender;
//! every bid ends `已解密` or `失败` with the reason (phone refusal, nobody picked the request up
//! before the QR expired, a check of the bid that failed). Does not: choose which certificate
//! decrypts (the phone picks the recipient it holds), or keep the extracted bids from staff
//! (they are the platform's, under `work`). Protocol: docs/platform-remote-opening.md.

use crate::db::{Db, StoredPush};
use crate::scan::Company;
use bidseal_bid::opening::BidOpeningReport;
use bidseal_bid::tender::TenderPackage;
use bidseal_scan::client::ScanOptions;
use bidseal_scan::{OperationKind, PhoneHello, QrPayload};
use bidseal_workflow::hall::{hall_from_tender, open_by_scan};
use bidseal_workflow::scan_session::{refs_from_tender, ScanPresenter, ScanTarget};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use thiserror::Error;
use tokio::sync::{watch, Notify};

/// A decrypt request waiting for the bidder's phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRequest {
    /// Tender id on the platform.
    pub tender: String,
    /// Bid id on the platform.
    pub bid: String,
    /// Project shown to the user (code and name).
    pub project: String,
    /// The `bidseal://scan?...op=decrypt` payload to join.
    pub qr: String,
    /// Unix seconds when it expires.
    pub expires_at: u64,
}

/// Decrypt requests per company (unified social credit code), each delivered once: in memory
/// ([`PushMailbox::default`]) or in the platform's database ([`PushMailbox::stored`], kept
/// across restarts, and "delivered" is stored in the statement that hands a request out).
#[derive(Debug, Default)]
pub struct PushMailbox {
    pending: Mutex<HashMap<String, Vec<PushedRequest>>>,
    store: Option<Db>,
    notify: Arc<Notify>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn storage_failed(what: &str, e: sqlx::Error) {
    eprintln!("platform: push mailbox: {what}: {e}");
}

impl PushMailbox {
    /// A mailbox in the platform's database.
    pub fn stored(db: Db) -> Self {
        PushMailbox {
            store: Some(db),
            ..Default::default()
        }
    }

    async fn push(&self, uscc: &str, request: PushedRequest) {
        let uscc = uscc.to_ascii_uppercase();
        match &self.store {
            None => lock(&self.pending).entry(uscc).or_default().push(request),
            Some(db) => {
                let stored = serde_json::to_string(&request).map(|json| StoredPush {
                    id: random_id(),
                    company_uscc: uscc,
                    tender_id: request.tender.clone(),
                    bid: request.bid.clone(),
                    request_json: json,
                    expires_at: i64::try_from(request.expires_at).unwrap_or(i64::MAX),
                });
                match stored {
                    Ok(p) => {
                        if let Err(e) = db.insert_push(&p, now_i64()).await {
                            storage_failed("insert", e);
                        }
                    }
                    Err(e) => eprintln!("platform: push mailbox: encode: {e}"),
                }
            }
        }
        self.notify.notify_waiters();
    }

    /// Removes a request not yet delivered (its scan ended).
    async fn withdraw(&self, uscc: &str, tender: &str, bid: &str) {
        match &self.store {
            None => {
                if let Some(list) = lock(&self.pending).get_mut(&uscc.to_ascii_uppercase()) {
                    list.retain(|r| r.bid != bid);
                }
            }
            Some(db) => {
                if let Err(e) = db.withdraw_pushes(tender, Some(bid)).await {
                    storage_failed("withdraw", e);
                }
            }
        }
    }

    /// Removes every undelivered request of a tender (a restart: their relay sessions died
    /// with the old process; the resumed opening pushes new ones).
    pub async fn withdraw_tender(&self, tender: &str) {
        match &self.store {
            None => {
                for list in lock(&self.pending).values_mut() {
                    list.retain(|r| r.tender != tender);
                }
            }
            Some(db) => {
                if let Err(e) = db.withdraw_pushes(tender, None).await {
                    storage_failed("withdraw", e);
                }
            }
        }
    }

    async fn take_now(&self, key: &str) -> Vec<PushedRequest> {
        let now = bidseal_scan::unix_now();
        match &self.store {
            None => lock(&self.pending)
                .remove(key)
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.expires_at > now)
                .collect(),
            Some(db) => match db.take_pushes(key, now_i64()).await {
                Ok(rows) => rows
                    .iter()
                    .filter_map(|p| serde_json::from_str(&p.request_json).ok())
                    .collect(),
                Err(e) => {
                    storage_failed("take", e);
                    Vec::new()
                }
            },
        }
    }

    /// Takes the requests for company `uscc`, waiting up to `wait` for one to arrive. Expired
    /// requests are dropped, not delivered.
    pub async fn take(&self, uscc: &str, wait: Duration) -> Vec<PushedRequest> {
        let key = uscc.to_ascii_uppercase();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let taken = self.take_now(&key).await;
            if !taken.is_empty() {
                return taken;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }
}

fn now_i64() -> i64 {
    crate::clock::Clock::system().now_unix()
}

fn random_id() -> String {
    bidseal_scan::SessionId::random()
        .map(|s| s.to_base64())
        .unwrap_or_else(|_| format!("p{}", crate::clock::Clock::system().now_millis()))
}

/// A bidder's state in the opening hall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BidderState {
    /// 未解密: nothing sent yet.
    NotDecrypted,
    /// 已推送: the decrypt request waits for (or is with) the bidder's phone.
    Pushed,
    /// 已解密: decrypted and every check passed.
    Decrypted,
    /// 失败: see the reason.
    Failed,
}

impl BidderState {
    /// zh-CN label.
    pub fn label_zh(self) -> &'static str {
        match self {
            BidderState::NotDecrypted => "未解密",
            BidderState::Pushed => "已推送",
            BidderState::Decrypted => "已解密",
            BidderState::Failed => "失败",
        }
    }
}

/// One bid of the opening.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BidderRow {
    /// Bid id.
    pub bid: String,
    /// The company that uploaded it.
    pub company: Company,
    /// Where it stands.
    pub state: BidderState,
    /// [`BidderState::label_zh`].
    #[serde(skip_deserializing, default)]
    pub state_zh: &'static str,
    /// The phone that took the request, once it joined.
    pub device: Option<String>,
    /// Stable code of the failure.
    pub code: Option<String>,
    /// Why it failed, zh-CN.
    pub reason: Option<String>,
    /// 唱标 fields from the verified manifest (only when decrypted).
    pub price: BTreeMap<String, String>,
    /// The same as read out, labelled by the tender's price form ("投标总价 4321000.50 元").
    pub reading: Vec<String>,
}

/// The opening hall's board: what the 开标大厅 page shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpeningBoard {
    /// Tender id.
    pub tender: String,
    /// Unix seconds when staff started it.
    pub started_at: Option<u64>,
    /// Every bid has its final state.
    pub finished: bool,
    /// Bids, in upload order.
    pub rows: Vec<BidderRow>,
    /// Changes so far (for long polls).
    pub version: u64,
}

/// A bid to open.
#[derive(Debug, Clone)]
pub struct RemoteBid {
    /// Bid id on the platform.
    pub bid: String,
    /// The company that uploaded it.
    pub company: Company,
    /// The encrypted bid file as received.
    pub file: PathBuf,
}

/// Why an opening could not start.
#[derive(Debug, Error)]
pub enum RemoteOpeningError {
    /// Too early by the platform's clock.
    #[error("未到开标时间（{opens_at}），不能开始开标")]
    BeforeOpeningTime {
        /// Opening time, Beijing time text.
        opens_at: String,
    },
    /// The tender cannot give the hall's context (accepted CAs...).
    #[error("招标文件无法用于开标：{0}")]
    Tender(String),
    /// It is already running or done.
    #[error("本项目已开标，不能重复开始")]
    AlreadyStarted,
}

impl RemoteOpeningError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RemoteOpeningError::BeforeOpeningTime { .. } => "OPEN_BEFORE_OPENING_TIME",
            RemoteOpeningError::Tender(_) => "OPEN_TENDER_UNUSABLE",
            RemoteOpeningError::AlreadyStarted => "OPEN_ALREADY_STARTED",
        }
    }
}

/// One remote opening of one tender.
#[derive(Debug)]
pub struct RemoteOpening {
    board: watch::Sender<OpeningBoard>,
    started: Mutex<bool>,
    store: Option<Db>,
}

impl RemoteOpening {
    /// [`RemoteOpening::new`], its board stored in the platform's database at every change
    /// (a bid's final state is stored before its job ends, the finished board before
    /// [`RemoteOpening::run`] returns).
    pub fn stored(tender: &str, bids: &[RemoteBid], db: Db) -> Self {
        let mut opening = Self::new(tender, bids);
        opening.store = Some(db);
        opening
    }

    /// The opening of a stored board (after a restart): started if the board says so.
    pub fn restore(mut board: OpeningBoard, db: Db) -> Self {
        for row in &mut board.rows {
            row.state_zh = row.state.label_zh();
        }
        let started = board.started_at.is_some();
        let (board, _) = watch::channel(board);
        RemoteOpening {
            board,
            started: Mutex::new(started),
            store: Some(db),
        }
    }

    /// The bids not finished yet (未解密 or 已推送), to open again after a restart; their rows
    /// go back to 未解密 (a pushed request died with the old process).
    pub fn unfinished(&self, file_of: impl Fn(&str) -> PathBuf) -> Vec<RemoteBid> {
        let mut out = Vec::new();
        self.board.send_modify(|b| {
            for row in &mut b.rows {
                if matches!(row.state, BidderState::NotDecrypted | BidderState::Pushed) {
                    row.state = BidderState::NotDecrypted;
                    row.state_zh = row.state.label_zh();
                    row.device = None;
                    out.push(RemoteBid {
                        bid: row.bid.clone(),
                        company: row.company.clone(),
                        file: file_of(&row.bid),
                    });
                }
            }
            b.version += 1;
        });
        out
    }

    /// Ends `bids` 失败 with `code` and `reason` and finishes the board (an opening that
    /// cannot carry on).
    pub async fn fail_all(&self, bids: &[RemoteBid], code: &str, reason: &str) {
        for bid in bids {
            self.update(&bid.bid, |row| {
                row.state = BidderState::Failed;
                row.code = Some(code.to_string());
                row.reason = Some(reason.to_string());
            });
        }
        self.board.send_modify(|b| {
            b.finished = true;
            b.version += 1;
        });
        self.save().await;
    }

    /// Stores the board now (no-op without a store). A write of an older version than the
    /// stored one is ignored by the database.
    pub async fn save(&self) {
        let Some(db) = &self.store else {
            return;
        };
        save_board(db, &self.board()).await;
    }

    fn save_later(&self) {
        if let Some(db) = self.store.clone() {
            let board = self.board();
            tokio::spawn(async move { save_board(&db, &board).await });
        }
    }

    /// The opening of `tender` with `bids`, all 未解密.
    pub fn new(tender: &str, bids: &[RemoteBid]) -> Self {
        let rows = bids
            .iter()
            .map(|b| BidderRow {
                bid: b.bid.clone(),
                company: b.company.clone(),
                state: BidderState::NotDecrypted,
                state_zh: BidderState::NotDecrypted.label_zh(),
                device: None,
                code: None,
                reason: None,
                price: BTreeMap::new(),
                reading: Vec::new(),
            })
            .collect();
        let (board, _) = watch::channel(OpeningBoard {
            tender: tender.to_string(),
            started_at: None,
            finished: false,
            rows,
            version: 0,
        });
        RemoteOpening {
            board,
            started: Mutex::new(false),
            store: None,
        }
    }

    /// The board now.
    pub fn board(&self) -> OpeningBoard {
        self.board.borrow().clone()
    }

    /// The board once its version is past `known` (or after `wait`).
    pub async fn board_after(&self, known: u64, wait: Duration) -> OpeningBoard {
        let mut rx = self.board.subscribe();
        let _ = tokio::time::timeout(wait, rx.wait_for(|b| b.version > known)).await;
        let board = rx.borrow().clone();
        board
    }

    fn update(&self, bid: &str, f: impl FnOnce(&mut BidderRow)) {
        self.board.send_modify(|b| {
            if let Some(row) = b.rows.iter_mut().find(|r| r.bid == bid) {
                f(row);
                row.state_zh = row.state.label_zh();
            }
            b.version += 1;
        });
        self.save_later();
    }

    /// Checks the opening time and marks the opening started; then [`RemoteOpening::run`].
    pub fn begin(&self, tender: &TenderPackage, now: SystemTime) -> Result<(), RemoteOpeningError> {
        let opens_at = tender.manifest.opening_time;
        let now_unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if now_unix < opens_at.unix_timestamp() {
            return Err(RemoteOpeningError::BeforeOpeningTime {
                opens_at: crate::clock::beijing_text(opens_at.unix_timestamp()),
            });
        }
        let mut started = lock(&self.started);
        if *started {
            return Err(RemoteOpeningError::AlreadyStarted);
        }
        *started = true;
        self.board.send_modify(|b| {
            b.started_at = Some(now_unix.max(0) as u64);
            b.version += 1;
        });
        Ok(())
    }

    /// Opens every bid at once by pushed scans (call after [`RemoteOpening::begin`]).
    pub async fn run(
        &self,
        relay: &str,
        tender: &TenderPackage,
        bids: Vec<RemoteBid>,
        work: &Path,
        mailbox: &Arc<PushMailbox>,
        options: ScanOptions,
    ) -> Result<(), RemoteOpeningError> {
        let (hall, signed) = hall_from_tender(tender, SystemTime::now())
            .map_err(|e| RemoteOpeningError::Tender(e.to_string()))?;
        let (platform, project) = refs_from_tender(&tender.manifest);
        let target = ScanTarget {
            relay: relay.to_string(),
            platform,
            project: project.clone(),
            options,
        };
        let tender_id = self.board.borrow().tender.clone();
        let jobs = bids.into_iter().map(|bid| {
            let target = &target;
            let hall = &hall;
            let signed = &signed;
            let project = &project;
            let tender_id = &tender_id;
            async move {
                let mut presenter = PushPresenter {
                    opening: self,
                    mailbox,
                    tender: tender_id.clone(),
                    project: format!("{} {}", project.code, project.name),
                    bid: bid.bid.clone(),
                    uscc: bid.company.uscc.clone(),
                };
                let report =
                    open_by_scan(target, &mut presenter, hall, &bid.file, work, signed).await;
                mailbox
                    .withdraw(&bid.company.uscc, tender_id, &bid.bid)
                    .await;
                self.finish_row(&bid.bid, &report, &tender.manifest.price_form);
                self.save().await;
            }
        });
        futures_util::future::join_all(jobs).await;
        self.board.send_modify(|b| {
            b.finished = true;
            b.version += 1;
        });
        self.save().await;
        Ok(())
    }

    fn finish_row(
        &self,
        bid: &str,
        report: &BidOpeningReport,
        form: &[bidseal_bid::tender::PriceFormField],
    ) {
        self.update(bid, |row| {
            if report.passed {
                row.state = BidderState::Decrypted;
                row.price = report.price.clone();
                row.reading = report
                    .price
                    .iter()
                    .map(|(k, v)| bidseal_bid::opening::price_entry(form, k, v))
                    .collect();
            } else {
                row.state = BidderState::Failed;
                let failure = report.first_failure();
                row.code = Some(
                    failure
                        .and_then(|c| c.code.clone())
                        .unwrap_or_else(|| "OPEN_INCOMPLETE".into()),
                );
                row.reason = Some(
                    failure
                        .map(|c| format!("{}：{}", c.name, c.detail))
                        .unwrap_or_else(|| "开标检查未全部完成".into()),
                );
            }
        });
    }
}

/// Signs the reading (唱标) of a finished board as `bidseal-opening/1` over exact bytes:
/// every bid with its state, reason or reading, and the SHA-256 of the bid file opened
/// (`bid_sha256` by bid id).
pub fn sign_report(
    identity: &crate::identity::PlatformIdentity,
    tender: &crate::db::Tender,
    board: &OpeningBoard,
    bid_sha256: &HashMap<String, String>,
    now: i64,
) -> Result<crate::db::StoredOpeningReport, serde_json::Error> {
    use base64::Engine;
    use bidseal_bid::platform_docs::{
        document_sha256, CompanyRef, OpeningBid, ReceiptTender, SignedOpeningReport, OPENING_FORMAT,
    };
    let report = SignedOpeningReport {
        format: OPENING_FORMAT.into(),
        tender: ReceiptTender {
            id: tender.id.clone(),
            project_id: tender.project_id.clone(),
            lot_id: tender.lot_id.clone(),
            manifest_sha256: tender.manifest_sha256.clone(),
        },
        started_at_unix: board.started_at.unwrap_or(0) as i64,
        published_at: crate::clock::rfc3339(now),
        bids: board
            .rows
            .iter()
            .map(|r| OpeningBid {
                bid: r.bid.clone(),
                bidder: CompanyRef {
                    uscc: r.company.uscc.clone(),
                    name: r.company.name.clone(),
                },
                bid_sha256: bid_sha256.get(&r.bid).cloned().unwrap_or_default(),
                state: match r.state {
                    BidderState::Decrypted => "decrypted",
                    _ => "failed",
                }
                .into(),
                code: r.code.clone(),
                reason: r.reason.clone(),
                price: r.price.clone(),
                reading: r.reading.clone(),
            })
            .collect(),
        platform_fingerprint: identity.fingerprint().to_string(),
    };
    let report_json = serde_json::to_string(&report)?;
    let signature =
        base64::engine::general_purpose::STANDARD.encode(identity.sign(report_json.as_bytes()));
    Ok(crate::db::StoredOpeningReport {
        tender_id: tender.id.clone(),
        sha256: document_sha256(&report_json),
        report_json,
        signature,
        created_at: now,
    })
}

async fn save_board(db: &Db, board: &OpeningBoard) {
    let json = match serde_json::to_string(board) {
        Ok(j) => j,
        Err(e) => return eprintln!("platform: opening board: encode: {e}"),
    };
    let started = board.started_at.unwrap_or(0) as i64;
    if let Err(e) = db
        .save_opening(
            &board.tender,
            board.version as i64,
            board.finished,
            &json,
            started,
            now_i64(),
        )
        .await
    {
        eprintln!("platform: opening board: store: {e}");
    }
}

/// Pushes the QR of one bid's decrypt scan to its company's mailbox.
struct PushPresenter<'a> {
    opening: &'a RemoteOpening,
    mailbox: &'a Arc<PushMailbox>,
    tender: String,
    project: String,
    bid: String,
    uscc: String,
}

impl ScanPresenter for PushPresenter<'_> {
    fn show_qr(&mut self, op: OperationKind, payload: &QrPayload) {
        if op != OperationKind::Decrypt {
            return;
        }
        let request = PushedRequest {
            tender: self.tender.clone(),
            bid: self.bid.clone(),
            project: self.project.clone(),
            qr: payload.to_url(),
            expires_at: payload.expires_at,
        };
        let mailbox = self.mailbox.clone();
        let uscc = self.uscc.clone();
        tokio::spawn(async move { mailbox.push(&uscc, request).await });
        self.opening
            .update(&self.bid, |row| row.state = BidderState::Pushed);
    }

    fn status(&mut self, _line: &str) {}

    fn scanned(&mut self, phone: &PhoneHello) {
        let device = phone.device.clone();
        self.opening
            .update(&self.bid, |row| row.device = Some(device));
    }
}

/// `GET /api/v1/opening/push?wait=SECS` for the phone in standby: the decrypt requests of the
/// caller's company (bearer token of a scan login), each delivered once.
pub mod http {
    use super::PushMailbox;
    use crate::scan::http::{error, CallerAccount};
    use crate::scan::{ScanAccounts, LONG_POLL_MAX};
    use axum::extract::{Query, State};
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::{Json, Router};
    use serde::Deserialize;
    use std::sync::Arc;
    use std::time::Duration;

    /// What the push route needs.
    #[derive(Clone)]
    pub struct PushApi {
        /// The mailbox the openings push to.
        pub mailbox: Arc<PushMailbox>,
        /// How to tell the caller.
        pub caller: Arc<dyn CallerAccount>,
        /// The caller's company.
        pub accounts: Arc<dyn ScanAccounts>,
    }

    /// Query of the long poll.
    #[derive(Debug, Deserialize)]
    pub struct PushQuery {
        /// Longest wait in seconds (0–25, default 25).
        pub wait: Option<u64>,
    }

    /// The route relative to the API root, to be nested under `/api/v1`.
    pub fn router<S: Clone + Send + Sync + 'static>(api: PushApi) -> Router<S> {
        Router::new()
            .route("/opening/push", get(take))
            .with_state(api)
    }

    async fn take(
        State(api): State<PushApi>,
        headers: HeaderMap,
        Query(q): Query<PushQuery>,
    ) -> Response {
        let Some(account) = api.caller.account(&headers).await else {
            return error(
                StatusCode::UNAUTHORIZED,
                "PLATFORM_LOGIN_REQUIRED",
                "手机待命需先扫码登录（会话已过期时请重新启动待命）",
            );
        };
        let company = match api.accounts.account_company(&account).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return error(
                    StatusCode::FORBIDDEN,
                    "PLATFORM_NOT_A_COMPANY",
                    "只有企业账号能接收开标解密请求",
                )
            }
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.code(), &e.to_string()),
        };
        let wait =
            Duration::from_secs(q.wait.unwrap_or(LONG_POLL_MAX.as_secs())).min(LONG_POLL_MAX);
        let requests = api.mailbox.take(&company.uscc, wait).await;
        (
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({ "requests": requests })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(tender: &str, bid: &str, expires_at: u64) -> PushedRequest {
        PushedRequest {
            tender: tender.into(),
            bid: bid.into(),
            project: "P 项目".into(),
            qr: format!("bidseal://scan?bid={bid}"),
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_stored_mailbox_delivers_each_request_once_to_its_company_across_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let later = bidseal_scan::unix_now() + 600;
        {
            let db = Db::open(None, dir.path()).await.expect("db");
            let mailbox = PushMailbox::stored(db);
            mailbox
                .push("91110000aaaa", request("T1", "B1", later))
                .await;
            mailbox.push("91110000AAAA", request("T1", "B2", 1)).await;
            mailbox
                .push("91440300BBBB", request("T1", "B3", later))
                .await;
        }
        // "Restart": a new pool on the same file.
        let db = Db::open(None, dir.path()).await.expect("db again");
        let mailbox = PushMailbox::stored(db.clone());
        assert!(
            mailbox
                .take("91990000CCCC", Duration::ZERO)
                .await
                .is_empty(),
            "a stranger gets nothing"
        );
        let taken = mailbox.take("91110000AAAA", Duration::ZERO).await;
        assert_eq!(
            taken,
            vec![request("T1", "B1", later)],
            "expired B2 not delivered"
        );
        assert!(
            mailbox
                .take("91110000AAAA", Duration::ZERO)
                .await
                .is_empty(),
            "a replayed take gets nothing"
        );
        let again = PushMailbox::stored(db);
        assert!(again.take("91110000AAAA", Duration::ZERO).await.is_empty());
        again.withdraw_tender("T1").await;
        assert!(
            again.take("91440300BBBB", Duration::ZERO).await.is_empty(),
            "withdrawn at restart"
        );
    }

    #[tokio::test]
    async fn a_stored_board_comes_back_and_only_unfinished_bids_are_opened_again() {
        let dir = tempfile::tempdir().expect("tmp");
        let company = Company {
            uscc: "91110000AAAA".into(),
            name: "甲".into(),
        };
        let bids: Vec<RemoteBid> = ["B1", "B2"]
            .iter()
            .map(|b| RemoteBid {
                bid: b.to_string(),
                company: company.clone(),
                file: PathBuf::new(),
            })
            .collect();
        let db = Db::open(None, dir.path()).await.expect("db");
        let opening = RemoteOpening::stored("T1", &bids, db.clone());
        opening.board.send_modify(|b| b.started_at = Some(5));
        opening.update("B1", |r| {
            r.state = BidderState::Decrypted;
            r.reading = vec!["投标总价 1 元".into()];
        });
        opening.update("B2", |r| r.state = BidderState::Pushed);
        opening.save().await;
        let stored = db.opening_board("T1").await.expect("read").expect("stored");
        let board: OpeningBoard = serde_json::from_str(&stored).expect("json");
        let restored = RemoteOpening::restore(board, db.clone());
        assert_eq!(restored.board().rows[0].state_zh, "已解密");
        assert_eq!(restored.board().rows[0].reading, vec!["投标总价 1 元"]);
        let again = restored.unfinished(|b| PathBuf::from(b));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].bid, "B2");
        assert_eq!(restored.board().rows[1].state, BidderState::NotDecrypted);
        // An older board written late does not replace a newer one.
        restored.save().await;
        let newer = restored.board().version;
        save_board(&db, &opening.board()).await;
        let stored = db.opening_board("T1").await.expect("read").expect("stored");
        let board: OpeningBoard = serde_json::from_str(&stored).expect("json");
        assert_eq!(board.version, newer);
    }
}
