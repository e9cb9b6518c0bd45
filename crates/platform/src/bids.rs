//! Bid uploads and receipts (回执): a company uploads its encrypted bid file for a tender in
//! chunks, resumable at the last stored offset; on completion the platform checks the bytes
//! (declared size and SHA-256, our CMS envelope format, the deadline) and answers with a
//! receipt it signs. A later upload replaces the bid; a withdrawal ends it; both only before
//! the deadline, and both signed.
//!
//! Receipt (`receipt_json`, format `bidseal-receipt/1`, see [`SignedReceipt`]): receipt id,
//! action (`submit`/`replace`/`withdraw`), tender (platform id, 项目编号, 标段, manifest
//! SHA-256), bidder (name, 统一社会信用代码), the bid file's SHA-256 and size, the platform's
//! time, and the platform certificate's fingerprint; `signature` is base64 DER ECDSA P-256 /
//! SHA-256 by the platform certificate over those exact bytes.
//!
//! Guarantees: bytes are appended only at the stored offset (a retried chunk is acknowledged,
//! never written twice; a gap is refused with the offset to resume from); the receipt exists
//! only once the file's bytes are on disk (one fsync at completion, plus its folder after the
//! bid file is linked), hashed to the declared SHA-256, parsed as a CMS enveloped bid file,
//! and completed before the deadline; receipt, upload state and current bid change in one
//! transaction. Does not: decrypt or look inside the bid (the opening does), check who the
//! envelope's recipients are.
//!
//! Durability and speed: chunks are written without an fsync each (one per file instead of
//! one per chunk; the deadline rush is disk-bound). A crash may then lose the tail of what
//! was acknowledged: before writing, a chunk request compares the file's length with the
//! recorded offset and, if the file is shorter, records the shorter offset and answers
//! `E_UPLOAD_OFFSET` with it, so the client resumes from bytes that exist. Bytes damaged in
//! place by a crash are caught by the SHA-256 at completion (the upload is voided; upload
//! again). The SHA-256 is computed while receiving ([`UploadCursor`], in memory); after a
//! restart, or a chunk written by another path, completion hashes the file instead.

use crate::db::{Bid, StoredReceipt, Tender, Upload};
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use base64::Engine;
pub use bidseal_bid::platform_docs::{ReceiptTender, SignedReceipt, RECEIPT_FORMAT};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Largest bid file accepted, bytes.
pub const MAX_BID_FILE: i64 = 2 * 1024 * 1024 * 1024;
/// Largest chunk in one `PUT`, bytes.
pub const MAX_CHUNK: usize = 8 * 1024 * 1024;
/// Open (unfinished) uploads one company may have per tender.
pub const MAX_OPEN_UPLOADS: usize = 8;
/// Bytes one company's live unfinished uploads (written to in the last day, tender still
/// open) may declare in all, across tenders: a company cannot fill the platform's disk with
/// uploads it never finishes.
pub const MAX_OPEN_BYTES_PER_COMPANY: i64 = 4 * 1024 * 1024 * 1024;
/// Free space the platform keeps on the disk of its data folder (database, receipts, logs):
/// an upload or chunk that would leave less is refused with `507 E_PLATFORM_STORAGE`.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 512 * 1024 * 1024;

/// Refuses `bytes` more when the data folder's disk would keep less than the platform's
/// reserve (`AppState::min_free_bytes`). Unknown free space (not Unix) is not refused.
fn check_storage(state: &AppState, bytes: u64) -> Result<(), ApiError> {
    let Some(free) = bidseal_bid::fsio::free_space(&state.uploads_dir()) else {
        return Ok(());
    };
    if free < bytes.saturating_add(state.min_free_bytes) {
        return Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "E_PLATFORM_STORAGE",
            "交易平台存储空间不足，暂不能接收该投标文件；请立即联系平台工作人员（已收到的部分会保留，腾出空间后可续传）",
        ));
    }
    Ok(())
}

/// A receipt as sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReceiptView {
    /// Receipt id.
    pub id: String,
    /// Action.
    pub action: String,
    /// The signed bytes (UTF-8 JSON).
    pub receipt_json: String,
    /// Base64 DER signature over `receipt_json`.
    pub signature: String,
}

impl From<StoredReceipt> for ReceiptView {
    fn from(r: StoredReceipt) -> Self {
        ReceiptView {
            id: r.id,
            action: r.action,
            receipt_json: r.receipt_json,
            signature: r.signature,
        }
    }
}

/// One lock per upload id, so two requests for the same upload never write at once; the
/// lock holds the upload's running SHA-256.
#[derive(Debug, Default)]
pub struct UploadLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<UploadCursor>>>>,
}

/// The SHA-256 of an upload's first `at` bytes, updated as chunks arrive in order. Absent
/// (`None`) when the bytes before `at` were not seen by this process (a restart, an
/// evicted entry): completion then hashes the file.
#[derive(Debug, Default)]
pub struct UploadCursor {
    running: Option<(i64, Sha256)>,
}

impl UploadCursor {
    /// Feeds a chunk written at `offset`; a chunk that does not continue the running hash
    /// drops it (completion will hash the file).
    fn feed(&mut self, offset: i64, bytes: &[u8]) {
        self.running = match self.running.take() {
            Some((at, mut h)) if at == offset => {
                h.update(bytes);
                Some((at + bytes.len() as i64, h))
            }
            None if offset == 0 => {
                let mut h = Sha256::new();
                h.update(bytes);
                Some((bytes.len() as i64, h))
            }
            _ => None,
        };
    }

    /// The hex SHA-256 of exactly `size` bytes, when the running hash covers them.
    fn digest_of(&self, size: i64) -> Option<String> {
        match &self.running {
            Some((at, h)) if *at == size => Some(hex::encode(h.clone().finalize())),
            _ => None,
        }
    }
}

impl UploadLocks {
    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<UploadCursor>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(id.to_string()).or_default().clone()
    }
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

/// Where the bytes of an upload live until (and after) completion.
pub fn upload_path(state: &AppState, upload_id: &str) -> PathBuf {
    state.uploads_dir().join(format!("{upload_id}.part"))
}

/// Where a completed bid file lives (the opening reads it).
pub fn bid_file_path(state: &AppState, upload_id: &str) -> PathBuf {
    state
        .data_dir
        .join("bids")
        .join(format!("{upload_id}.bsbid"))
}

fn deadline_passed(tender: &Tender) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "E_DEADLINE_PASSED",
        format!(
            "投标截止时间（{}）已过，平台不再接受上传、替换或撤回",
            crate::clock::beijing_text(tender.bid_deadline)
        ),
    )
}

/// The tender, refused with `E_DEADLINE_PASSED` at or after its deadline.
pub async fn open_tender(state: &AppState, tender_id: &str) -> Result<Tender, ApiError> {
    let tender = state
        .db
        .tender(tender_id)
        .await?
        .ok_or_else(|| ApiError::not_found("招标项目"))?;
    if state.clock.now_unix() >= tender.bid_deadline {
        return Err(deadline_passed(&tender));
    }
    Ok(tender)
}

/// Starts an upload of `size` bytes hashing to `sha256` for the company.
pub async fn start_upload(
    state: &AppState,
    tender_id: &str,
    company_uscc: &str,
    size: i64,
    sha256: &str,
) -> Result<Upload, ApiError> {
    open_tender(state, tender_id).await?;
    if size <= 0 || size > MAX_BID_FILE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "E_TOO_LARGE",
            format!("投标文件大小 {size} 字节不在允许范围内（1 字节至 {MAX_BID_FILE} 字节）"),
        ));
    }
    let sha = sha256.to_ascii_lowercase();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "E_BAD_REQUEST",
            "sha256 应为 64 位十六进制字符串",
        ));
    }
    let now = state.clock.now_unix();
    let pending = state
        .db
        .open_upload_bytes(company_uscc, now - 86_400, now)
        .await?;
    if pending.saturating_add(size) > MAX_OPEN_BYTES_PER_COMPANY {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "E_TOO_MANY_UPLOADS",
            format!(
                "本单位未完成的上传共 {pending} 字节，再加 {size} 字节将超过上限 {MAX_OPEN_BYTES_PER_COMPANY} 字节：请先续传完成已开始的上传（一天未续传的上传不再计入）"
            ),
        ));
    }
    check_storage(state, size as u64)?;
    let open = state.db.open_uploads(tender_id, company_uscc).await?;
    if open.len() >= MAX_OPEN_UPLOADS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "E_TOO_MANY_UPLOADS",
            format!(
                "未完成的上传过多（{}），请续传已有的上传或稍后再试",
                open.len()
            ),
        ));
    }
    let upload = Upload {
        id: random_id("U"),
        tender_id: tender_id.to_string(),
        company_uscc: company_uscc.to_string(),
        size,
        sha256: sha,
        received: 0,
        state: "open".into(),
        receipt_id: None,
    };
    let path = upload_path(state, &upload.id);
    tokio::task::spawn_blocking(move || std::fs::File::create(&path).and_then(|f| f.sync_all()))
        .await
        .map_err(|e| ApiError::internal("upload create task", e))?
        .map_err(|e| ApiError::internal("upload create", e))?;
    state
        .db
        .insert_upload(&upload, state.clock.now_unix())
        .await?;
    Ok(upload)
}

/// The caller's upload, or 404 (another company's upload is not found either).
pub async fn own_upload(
    state: &AppState,
    upload_id: &str,
    company_uscc: &str,
) -> Result<Upload, ApiError> {
    state
        .db
        .upload(upload_id)
        .await?
        .filter(|u| u.company_uscc == company_uscc)
        .ok_or_else(|| ApiError::not_found("上传"))
}

fn offset_conflict(received: i64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "E_UPLOAD_OFFSET",
        format!("上传位置不连续：平台已收到 {received} 字节，请从该位置续传"),
    )
}

/// Stores `bytes` at `offset` of the upload; returns the bytes received so far.
pub async fn put_chunk(
    state: &AppState,
    upload: &Upload,
    offset: i64,
    bytes: axum::body::Bytes,
) -> Result<i64, ApiError> {
    if bytes.len() > MAX_CHUNK {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "E_TOO_LARGE",
            format!("单次上传不得超过 {MAX_CHUNK} 字节"),
        ));
    }
    let lock = state.upload_locks.lock_for(&upload.id);
    let mut cursor = lock.lock().await;
    // Re-read under the lock: another request may have advanced it.
    let upload = state
        .db
        .upload(&upload.id)
        .await?
        .ok_or_else(|| ApiError::not_found("上传"))?;
    if upload.state != "open" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "E_UPLOAD_CLOSED",
            "该上传已完成或已作废，请重新开始上传",
        ));
    }
    open_tender(state, &upload.tender_id).await?;
    let end = offset
        .checked_add(bytes.len() as i64)
        .ok_or_else(|| offset_conflict(upload.received))?;
    if offset < 0 || end > upload.size {
        return Err(ApiError::bad_request(
            "E_UPLOAD_RANGE",
            format!(
                "上传范围 {offset}..{end} 超出声明的文件大小 {}",
                upload.size
            ),
        ));
    }
    if end <= upload.received {
        // A retry of a chunk already stored: acknowledge, write nothing.
        return Ok(upload.received);
    }
    if offset != upload.received {
        return Err(offset_conflict(upload.received));
    }
    check_storage(state, bytes.len() as u64)?;
    let path = upload_path(state, &upload.id);
    let chunk = bytes.clone();
    let on_disk = tokio::task::spawn_blocking(move || -> std::io::Result<Option<i64>> {
        let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
        let len = f.metadata()?.len();
        if len < offset as u64 {
            // A crash lost acknowledged bytes (they were not fsynced): do not write past a
            // hole; the client resumes from what is on disk.
            return Ok(Some(len as i64));
        }
        f.set_len(offset as u64)?;
        f.seek(SeekFrom::Start(offset as u64))?;
        f.write_all(&chunk)?;
        Ok(None)
    })
    .await
    .map_err(|e| ApiError::internal("chunk task", e))?
    .map_err(|e| ApiError::internal("chunk write", e))?;
    if let Some(len) = on_disk {
        cursor.running = None;
        state
            .db
            .record_upload_progress(&upload.id, upload.received, len, state.clock.now_unix())
            .await?;
        return Err(offset_conflict(len));
    }
    cursor.feed(offset, &bytes);
    if !state
        .db
        .record_upload_progress(&upload.id, offset, end, state.clock.now_unix())
        .await?
    {
        return Err(offset_conflict(upload.received));
    }
    Ok(end)
}

/// Signs a receipt and returns the row to store.
async fn sign_receipt(
    state: &AppState,
    action: &str,
    tender: &Tender,
    bidder: &crate::db::Company,
    sha256: &str,
    size: i64,
) -> Result<StoredReceipt, ApiError> {
    let now = state.clock.now_unix();
    let sequence = state
        .db
        .next_receipt_sequence(&tender.id, &bidder.uscc)
        .await?;
    let signed = SignedReceipt {
        format: RECEIPT_FORMAT.into(),
        id: random_id("RC"),
        sequence,
        action: action.into(),
        tender: ReceiptTender {
            id: tender.id.clone(),
            project_id: tender.project_id.clone(),
            lot_id: tender.lot_id.clone(),
            manifest_sha256: tender.manifest_sha256.clone(),
        },
        bidder: bidder.clone(),
        sha256: sha256.to_string(),
        size,
        received_at: crate::clock::rfc3339(now),
        received_at_unix: now,
        platform_fingerprint: state.identity.fingerprint().to_string(),
    };
    let receipt_json =
        serde_json::to_string(&signed).map_err(|e| ApiError::internal("receipt json", e))?;
    let signature = base64::engine::general_purpose::STANDARD
        .encode(state.identity.sign(receipt_json.as_bytes()));
    Ok(StoredReceipt {
        id: signed.id,
        tender_id: tender.id.clone(),
        company_uscc: bidder.uscc.clone(),
        sequence,
        action: action.into(),
        receipt_json,
        signature,
        created_at: now,
    })
}

/// Completes an upload: checks size, hash, format and deadline, signs the receipt, makes the
/// file the company's bid. Completing again returns the same receipt.
pub async fn complete(
    state: &AppState,
    upload: &Upload,
    bidder: &crate::db::Company,
) -> Result<StoredReceipt, ApiError> {
    let lock = state.upload_locks.lock_for(&upload.id);
    let cursor = lock.lock().await;
    let upload = state
        .db
        .upload(&upload.id)
        .await?
        .ok_or_else(|| ApiError::not_found("上传"))?;
    if let (Some(rid), "complete") = (&upload.receipt_id, upload.state.as_str()) {
        return state
            .db
            .receipt(rid)
            .await?
            .ok_or_else(|| ApiError::internal("receipt missing", rid));
    }
    if upload.state != "open" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "E_UPLOAD_CLOSED",
            "该上传已作废，请重新开始上传",
        ));
    }
    let tender = open_tender(state, &upload.tender_id).await?;
    if upload.received != upload.size {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "E_UPLOAD_INCOMPLETE",
            format!(
                "文件尚未传完（已收到 {} / {} 字节），请续传后再提交",
                upload.received, upload.size
            ),
        ));
    }
    let part = upload_path(state, &upload.id);
    let check_path = part.clone();
    let running = cursor.digest_of(upload.size);
    let (sha, len, envelope) = tokio::task::spawn_blocking(move || {
        // The receipt promises the platform holds these bytes: on disk before it is signed.
        let file = std::fs::File::open(&check_path)?;
        file.sync_all()?;
        let (sha, len) = match running {
            Some(sha) => (sha, file.metadata()?.len()),
            None => bidseal_bid::bidfile::manifest::hash_file(&check_path)
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        };
        let envelope = bidseal_cms::envelope::inspect_file(&check_path)
            .map(|h| h.recipients.entries.len())
            .map_err(|e| e.to_string());
        Ok::<_, std::io::Error>((sha, len, envelope))
    })
    .await
    .map_err(|e| ApiError::internal("hash task", e))?
    .map_err(|e| ApiError::internal("hash", e))?;
    if len as i64 != upload.size || sha != upload.sha256 {
        let message = format!(
            "平台收到的文件 SHA-256 为 {sha}，与声明的 {} 不符：传输中文件被改动，请重新上传",
            upload.sha256
        );
        return Err(abort(state, &upload.id, "E_UPLOAD_HASH", message).await);
    }
    match envelope {
        Ok(n) if n > 0 => {}
        Ok(_) | Err(_) => return Err(abort(
            state,
            &upload.id,
            "E_NOT_BID_FILE",
            "该文件不是 BidSeal 加密投标文件（CMS 数字信封），请上传“生成标书”得到的 .bsbid 文件"
                .into(),
        )
        .await),
    }
    let previous = state.db.bid(&tender.id, &bidder.uscc).await?;
    let action = match &previous {
        Some(b) if b.state == "submitted" => "replace",
        _ => "submit",
    };
    let receipt = sign_receipt(state, action, &tender, bidder, &sha, upload.size).await?;
    let final_path = bid_file_path(state, &upload.id);
    let (from, to) = (part.clone(), final_path.clone());
    tokio::task::spawn_blocking(move || {
        std::fs::hard_link(&from, &to).or_else(|_| {
            std::fs::copy(&from, &to)?;
            std::fs::File::open(&to)?.sync_all()
        })?;
        // The new name must survive a crash too.
        match to.parent() {
            Some(dir) => std::fs::File::open(dir)?.sync_all(),
            None => Ok(()),
        }
    })
    .await
    .map_err(|e| ApiError::internal("link task", e))?
    .map_err(|e| ApiError::internal("link bid file", e))?;
    if !state.db.complete_upload(&upload, &receipt).await? {
        let _ = std::fs::remove_file(&final_path);
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "E_UPLOAD_CLOSED",
            "该上传状态已改变，请查询投标状态后再操作",
        ));
    }
    let _ = std::fs::remove_file(&part);
    Ok(receipt)
}

/// Voids an upload whose bytes were refused and deletes them; returns the 422 to answer.
async fn abort(state: &AppState, upload_id: &str, code: &'static str, message: String) -> ApiError {
    let _ = state.db.abort_upload(upload_id).await;
    let _ = std::fs::remove_file(upload_path(state, upload_id));
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// Withdraws the company's bid before the deadline; returns the signed withdrawal receipt.
pub async fn withdraw(
    state: &AppState,
    tender_id: &str,
    bidder: &crate::db::Company,
) -> Result<StoredReceipt, ApiError> {
    let tender = open_tender(state, tender_id).await?;
    let bid: Bid = state
        .db
        .bid(tender_id, &bidder.uscc)
        .await?
        .filter(|b| b.state == "submitted")
        .ok_or_else(|| ApiError::not_found("已提交的投标文件"))?;
    let receipt = sign_receipt(state, "withdraw", &tender, bidder, &bid.sha256, bid.size).await?;
    if !state.db.withdraw_bid(&receipt).await? {
        return Err(ApiError::not_found("已提交的投标文件"));
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{serve, PlatformConfig, RunningPlatform};

    const MIB: usize = 1024 * 1024;

    async fn platform(dir: &std::path::Path) -> RunningPlatform {
        serve(PlatformConfig {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.to_path_buf(),
            relay_url: None,
            database_url: None,
            demo_world: None,
            demo_password: String::new(),
            demo_bind: false,
            trusted_proxies: Vec::new(),
            test_clock: false,
        })
        .await
        .expect("platform")
    }

    /// A tender open for a day and a company; returns (tender id, company).
    async fn tender_and_company(state: &AppState) -> (String, crate::db::Company) {
        let now = state.clock.now_unix();
        let tender = Tender {
            id: "T000000000001".into(),
            project_id: "P-1".into(),
            project_name: "项目".into(),
            lot_id: "1".into(),
            lot_name: "标段".into(),
            tenderer: "招标人".into(),
            bid_deadline: now + 86_400,
            opening_time: now + 86_400,
            published_at: now,
            manifest_sha256: "00".repeat(32),
            state: "published".into(),
        };
        assert!(state
            .db
            .insert_tender(&tender, b"pkg")
            .await
            .expect("tender"));
        let company = crate::db::Company {
            uscc: "91110000TEST00001X".into(),
            name: "测试公司".into(),
        };
        state
            .db
            .upsert_company(&company, now)
            .await
            .expect("company");
        (tender.id, company)
    }

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    async fn start(state: &AppState, tender: &str, company: &str, data: &[u8]) -> Upload {
        let sha = hex::encode(Sha256::digest(data));
        start_upload(state, tender, company, data.len() as i64, &sha)
            .await
            .expect("start")
    }

    async fn put(state: &AppState, up: &Upload, data: &[u8], from: usize, to: usize) -> i64 {
        put_chunk(
            state,
            up,
            from as i64,
            axum::body::Bytes::copy_from_slice(&data[from..to]),
        )
        .await
        .expect("chunk")
    }

    #[tokio::test]
    async fn a_full_disk_refuses_new_uploads_and_chunks_and_one_company_cannot_hoard_space() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = platform(dir.path()).await;
        let (tender, company) = tender_and_company(&p.state).await;
        let data = bytes(MIB);
        let up = start(&p.state, &tender, &company.uscc, &data).await;
        put(&p.state, &up, &data, 0, MIB / 2).await;
        // The disk fills up (the reserve is now more than any disk has).
        let full = AppState {
            min_free_bytes: u64::MAX / 2,
            ..p.state.clone()
        };
        let sha = hex::encode(Sha256::digest(&data));
        let refused = start_upload(&full, &tender, &company.uscc, MIB as i64, &sha)
            .await
            .expect_err("no new upload on a full disk");
        assert_eq!(
            (refused.status.as_u16(), refused.code),
            (507, "E_PLATFORM_STORAGE")
        );
        let refused = put_chunk(
            &full,
            &up,
            (MIB / 2) as i64,
            axum::body::Bytes::copy_from_slice(&data[MIB / 2..]),
        )
        .await
        .expect_err("no chunk on a full disk");
        assert_eq!(refused.code, "E_PLATFORM_STORAGE");
        let stored = p.state.db.upload(&up.id).await.expect("db").expect("row");
        assert_eq!(stored.received, (MIB / 2) as i64, "what arrived is kept");
        // Space again: the same upload resumes.
        put(&p.state, &up, &data, MIB / 2, MIB).await;
        assert_eq!(
            code(complete(&p.state, &up, &company).await),
            "E_NOT_BID_FILE"
        );

        // Unfinished uploads that declare 4 GiB in all (across tenders) stop the next one.
        let big = MAX_BID_FILE / 2;
        let roomy = AppState {
            min_free_bytes: 0,
            ..p.state.clone()
        };
        let fake_sha = "ab".repeat(32);
        let mut started = 0;
        let refused = loop {
            match start_upload(&roomy, &tender, &company.uscc, big, &fake_sha).await {
                Ok(_) => started += 1,
                Err(e) => break e,
            }
            assert!(started <= 4, "the per-company limit never applied");
        };
        if refused.code == "E_PLATFORM_STORAGE" {
            // This disk has less than 4 GiB free: the storage check came first. Still refused.
            assert_eq!(refused.status.as_u16(), 507);
        } else {
            assert_eq!((refused.code, started), ("E_TOO_MANY_UPLOADS", 4));
            assert!(refused.message.contains("上限"), "{}", refused.message);
        }
        p.shutdown().await;
    }

    /// A restart of the process: same database and files, no memory of running hashes.
    fn restarted(state: &AppState) -> AppState {
        AppState {
            upload_locks: Arc::new(UploadLocks::default()),
            ..state.clone()
        }
    }

    fn code(r: Result<StoredReceipt, ApiError>) -> &'static str {
        match r {
            Ok(_) => "receipt",
            Err(e) => e.code,
        }
    }

    #[tokio::test]
    async fn a_crash_that_loses_an_unsynced_tail_resumes_from_the_bytes_on_disk() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = platform(dir.path()).await;
        let (tender, company) = tender_and_company(&p.state).await;
        let data = bytes(3 * MIB);
        let up = start(&p.state, &tender, &company.uscc, &data).await;
        put(&p.state, &up, &data, 0, MIB).await;
        assert_eq!(
            put(&p.state, &up, &data, MIB, 2 * MIB).await,
            2 * MIB as i64
        );
        // The crash: the last 512 KiB acknowledged never reached the disk.
        let part = upload_path(&p.state, &up.id);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&part)
            .and_then(|f| f.set_len((MIB + MIB / 2) as u64))
            .expect("truncate");
        let state = restarted(&p.state);
        let refused = put_chunk(
            &state,
            &up,
            2 * MIB as i64,
            axum::body::Bytes::copy_from_slice(&data[2 * MIB..]),
        )
        .await
        .expect_err("a write past the hole is refused");
        assert_eq!(refused.code, "E_UPLOAD_OFFSET");
        assert!(
            refused.message.contains(&(MIB + MIB / 2).to_string()),
            "{}",
            refused.message
        );
        let stored = state.db.upload(&up.id).await.expect("db").expect("row");
        assert_eq!(
            stored.received,
            (MIB + MIB / 2) as i64,
            "the offset follows the disk"
        );
        put(&state, &up, &data, MIB + MIB / 2, 3 * MIB).await;
        // Hash matched (whole-file hash after the restart); the bytes are not an envelope.
        assert_eq!(
            code(complete(&state, &up, &company).await),
            "E_NOT_BID_FILE"
        );
        p.shutdown().await;
    }

    #[tokio::test]
    async fn completion_checks_the_hash_while_receiving_and_after_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = platform(dir.path()).await;
        let (tender, company) = tender_and_company(&p.state).await;
        let data = bytes(2 * MIB + 17);

        // In one process: the running hash is the file's hash.
        let up = start(&p.state, &tender, &company.uscc, &data).await;
        put(&p.state, &up, &data, 0, MIB).await;
        put(&p.state, &up, &data, MIB, data.len()).await;
        assert_eq!(
            p.state
                .upload_locks
                .lock_for(&up.id)
                .lock()
                .await
                .digest_of(data.len() as i64),
            Some(hex::encode(Sha256::digest(&data)))
        );
        assert_eq!(
            code(complete(&p.state, &up, &company).await),
            "E_NOT_BID_FILE"
        );

        // A declared hash the bytes do not have is refused on the running hash too.
        let mut other = data.clone();
        other[5] ^= 1;
        let sha = hex::encode(Sha256::digest(&other));
        let up = start_upload(&p.state, &tender, &company.uscc, data.len() as i64, &sha)
            .await
            .expect("start");
        put(&p.state, &up, &data, 0, data.len()).await;
        assert_eq!(
            code(complete(&p.state, &up, &company).await),
            "E_UPLOAD_HASH"
        );

        // After a restart, bytes damaged on disk are found by hashing the file.
        let up = start(&p.state, &tender, &company.uscc, &data).await;
        put(&p.state, &up, &data, 0, data.len()).await;
        let part = upload_path(&p.state, &up.id);
        let mut on_disk = std::fs::read(&part).expect("read");
        on_disk[MIB + 3] ^= 0x40;
        std::fs::write(&part, &on_disk).expect("damage");
        let state = restarted(&p.state);
        assert_eq!(code(complete(&state, &up, &company).await), "E_UPLOAD_HASH");
        assert!(!part.exists(), "a refused upload's bytes are deleted");
        p.shutdown().await;
    }
}
