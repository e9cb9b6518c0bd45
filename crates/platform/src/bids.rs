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
//! never written twice; a gap is refused with the offset to resume from); a chunk is fsynced
//! before its offset is recorded; the receipt exists only if the file hashed to the declared
//! SHA-256, parsed as a CMS enveloped bid file, and completed before the deadline; receipt,
//! upload state and current bid change in one transaction. Does not: decrypt or look inside
//! the bid (the opening does), check who the envelope's recipients are.

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
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Largest bid file accepted, bytes.
pub const MAX_BID_FILE: i64 = 2 * 1024 * 1024 * 1024;
/// Largest chunk in one `PUT`, bytes.
pub const MAX_CHUNK: usize = 8 * 1024 * 1024;
/// Open (unfinished) uploads one company may have per tender.
pub const MAX_OPEN_UPLOADS: usize = 8;

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

/// One lock per upload id, so two requests for the same upload never write at once.
#[derive(Debug, Default)]
pub struct UploadLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl UploadLocks {
    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
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
            crate::clock::rfc3339(tender.bid_deadline)
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
    let _guard = lock.lock().await;
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
    let path = upload_path(state, &upload.id);
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
        f.set_len(offset as u64)?;
        f.seek(SeekFrom::Start(offset as u64))?;
        f.write_all(&bytes)?;
        f.sync_data()
    })
    .await
    .map_err(|e| ApiError::internal("chunk task", e))?
    .map_err(|e| ApiError::internal("chunk write", e))?;
    if !state
        .db
        .record_upload_progress(&upload.id, offset, end, state.clock.now_unix())
        .await?
    {
        return Err(offset_conflict(upload.received));
    }
    Ok(end)
}

/// Hashes the stored bytes (streamed).
fn hash_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
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
    let _guard = lock.lock().await;
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
    let (sha, len, envelope) = tokio::task::spawn_blocking(move || {
        let (sha, len) = hash_file(&check_path)?;
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
        std::fs::hard_link(&from, &to).or_else(|_| std::fs::copy(&from, &to).map(|_| ()))
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
