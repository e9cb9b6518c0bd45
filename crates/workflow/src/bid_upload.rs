//! 上传投标文件: send the encrypted bid file to the trading platform before the deadline,
//! resumably, and keep the receipt (回执) the platform signs; replace and withdraw; check a
//! bid file against the kept receipts.
//!
//! Steps: find the platform's tender whose manifest SHA-256 is the project's tender's → check
//! the file is our CMS envelope (before any byte is sent) → start an upload with size and
//! SHA-256, or resume the one noted in `PROJECT/work/upload-state.json` at the offset the
//! platform reports → chunks at offsets (retried with back-off; a repeated chunk is harmless)
//! → complete → verify the receipt against the platform certificate pinned in the tender
//! package, the file's SHA-256 and size, the tender and the bidder → keep it as
//! `PROJECT/receipts/RECEIPT-ID.json`.
//!
//! Guarantees: a receipt is kept only if it verifies and states exactly this file, tender and
//! bidder; otherwise the upload is reported as failed (`E_PLATFORM_SIGNATURE`) even though the
//! platform answered. Does not: decide deadlines locally (the platform's clock decides and
//! its refusal is shown as `E_DEADLINE_PASSED`).

use crate::platform_client::{PlatformClient, PlatformClientError, Retry};
use bidseal_bid::platform_docs::{verify_signed, SignedReceipt};
use bidseal_bid::project::BidProject;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where an unfinished upload is noted, for resuming.
pub const UPLOAD_STATE_FILE: &str = "work/upload-state.json";
/// Where receipts are kept.
pub const RECEIPTS_DIR: &str = "receipts";
/// Chunk size used when the platform allows it.
pub const CHUNK: usize = 4 * 1024 * 1024;

/// A receipt as the platform sends it and the project keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReceiptWire {
    /// Receipt id.
    pub id: String,
    /// Action.
    pub action: String,
    /// The signed JSON.
    pub receipt_json: String,
    /// Base64 DER signature.
    pub signature: String,
}

/// A receipt that verified.
#[derive(Debug, Clone)]
pub struct KeptReceipt {
    /// The parsed receipt.
    pub receipt: SignedReceipt,
    /// Where it is kept.
    pub path: PathBuf,
}

/// What an upload did.
#[derive(Debug, Clone)]
pub struct UploadOutcome {
    /// The verified, kept receipt.
    pub receipt: KeptReceipt,
    /// The offset the upload resumed from (0 for a fresh upload).
    pub resumed_from: i64,
    /// The platform's tender id.
    pub tender_id: String,
}

#[derive(Debug, Deserialize)]
struct TenderWire {
    id: String,
    manifest_sha256: String,
}

#[derive(Debug, Deserialize)]
struct UploadWire {
    id: String,
    received: i64,
    state: String,
    max_chunk: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct UploadState {
    platform: String,
    tender_id: String,
    upload_id: String,
    sha256: String,
    size: i64,
}

fn local(e: impl std::fmt::Display) -> PlatformClientError {
    PlatformClientError::Local(e.to_string())
}

/// The platform's id of the project's tender (by manifest SHA-256).
pub async fn find_tender(
    client: &PlatformClient,
    project: &BidProject,
) -> Result<String, PlatformClientError> {
    let want = hex::encode(Sha256::digest(&project.tender().manifest_bytes));
    let tenders: Vec<TenderWire> = client.get_json("/tenders").await?;
    tenders
        .into_iter()
        .find(|t| t.manifest_sha256 == want)
        .map(|t| t.id)
        .ok_or_else(|| PlatformClientError::Refused {
            status: 404,
            code: "E_TENDER_NOT_ON_PLATFORM".into(),
            message: format!(
                "该平台没有发布本项目的招标文件（清单 SHA-256 {want}），请确认平台地址"
            ),
        })
}

/// SHA-256 and size of a file, streamed.
pub fn file_digest(path: &Path) -> Result<(String, i64), PlatformClientError> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| local(format!("无法读取 {}：{e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut n_total = 0i64;
    loop {
        let n = f.read(&mut buf).map_err(local)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        n_total += n as i64;
    }
    Ok((hex::encode(h.finalize()), n_total))
}

fn read_chunk(path: &Path, offset: i64, len: usize) -> Result<Vec<u8>, PlatformClientError> {
    let mut f = std::fs::File::open(path).map_err(local)?;
    f.seek(SeekFrom::Start(offset as u64)).map_err(local)?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).map_err(local)?;
    Ok(buf)
}

/// Uploads `bid_file` for `project`; `progress(sent, total)` after each chunk.
pub async fn upload_bid(
    client: &PlatformClient,
    project: &BidProject,
    bid_file: &Path,
    progress: &mut (dyn FnMut(i64, i64) + Send),
) -> Result<UploadOutcome, PlatformClientError> {
    bidseal_cms::envelope::inspect_file(bid_file).map_err(|e| PlatformClientError::Refused {
        status: 0,
        code: "E_NOT_BID_FILE".into(),
        message: format!(
            "{} 不是 BidSeal 加密投标文件（{e}），请上传“生成标书”得到的 .bsbid 文件",
            bid_file.display()
        ),
    })?;
    let tender_id = find_tender(client, project).await?;
    let (sha256, size) = file_digest(bid_file)?;
    let dir = project.dir();
    let state_path = dir.join(UPLOAD_STATE_FILE);
    let mut upload: Option<UploadWire> = None;
    if let Ok(bytes) = std::fs::read(&state_path) {
        if let Ok(s) = serde_json::from_slice::<UploadState>(&bytes) {
            if s.platform == client.base()
                && s.tender_id == tender_id
                && s.sha256 == sha256
                && s.size == size
            {
                if let Ok(u) = client
                    .get_json::<UploadWire>(&format!("/uploads/{}", s.upload_id))
                    .await
                {
                    if u.state == "open" {
                        upload = Some(u);
                    }
                }
            }
        }
    }
    let mut upload = match upload {
        Some(u) => u,
        None => {
            let body = serde_json::json!({ "size": size, "sha256": sha256 });
            let u: UploadWire = client
                .post_json(&format!("/tenders/{tender_id}/uploads"), &body, Retry::Once)
                .await?;
            let note = UploadState {
                platform: client.base().to_string(),
                tender_id: tender_id.clone(),
                upload_id: u.id.clone(),
                sha256: sha256.clone(),
                size,
            };
            std::fs::create_dir_all(dir.join("work")).map_err(local)?;
            let json = serde_json::to_vec(&note).map_err(local)?;
            bidseal_bid::fsio::write_atomic(&state_path, &json).map_err(local)?;
            u
        }
    };
    let resumed_from = upload.received;
    let chunk = CHUNK.min(upload.max_chunk.max(1));
    while upload.received < size {
        let offset = upload.received;
        let len = ((size - offset) as usize).min(chunk);
        let bytes = read_chunk(bid_file, offset, len)?;
        let answer: UploadWire = client
            .put_bytes(&format!("/uploads/{}?offset={offset}", upload.id), bytes)
            .await?;
        if answer.received <= offset {
            return Err(PlatformClientError::Protocol(format!(
                "平台未确认收到偏移 {offset} 处的数据"
            )));
        }
        upload.received = answer.received;
        progress(upload.received, size);
    }
    let wire: ReceiptWire = client
        .post_json(
            &format!("/uploads/{}/complete", upload.id),
            &serde_json::json!({}),
            Retry::Idempotent,
        )
        .await?;
    let receipt = keep_receipt(project, &wire, Some((&sha256, size)), &tender_id)?;
    let _ = std::fs::remove_file(&state_path);
    Ok(UploadOutcome {
        receipt,
        resumed_from,
        tender_id,
    })
}

/// Withdraws the project's bid; returns the kept withdrawal receipt.
pub async fn withdraw_bid(
    client: &PlatformClient,
    project: &BidProject,
) -> Result<KeptReceipt, PlatformClientError> {
    let tender_id = find_tender(client, project).await?;
    let wire: ReceiptWire = client
        .delete_json(&format!("/tenders/{tender_id}/bid"))
        .await?;
    keep_receipt(project, &wire, None, &tender_id)
}

/// Verifies a receipt (pinned platform certificate, tender, bidder, and — for a submission —
/// the file's SHA-256 and size) and keeps it in the project.
pub fn keep_receipt(
    project: &BidProject,
    wire: &ReceiptWire,
    file: Option<(&str, i64)>,
    tender_id: &str,
) -> Result<KeptReceipt, PlatformClientError> {
    let receipt = check_receipt(project, wire, file, tender_id)?;
    let dir = project.dir().join(RECEIPTS_DIR);
    std::fs::create_dir_all(&dir).map_err(local)?;
    let safe_id: String = receipt
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let path = dir.join(format!("{safe_id}.json"));
    let json = serde_json::to_vec_pretty(wire).map_err(local)?;
    bidseal_bid::fsio::write_atomic(&path, &json).map_err(local)?;
    Ok(KeptReceipt { receipt, path })
}

/// The checks of [`keep_receipt`], without keeping.
pub fn check_receipt(
    project: &BidProject,
    wire: &ReceiptWire,
    file: Option<(&str, i64)>,
    tender_id: &str,
) -> Result<SignedReceipt, PlatformClientError> {
    let cert = &project.tender().platform;
    let r: SignedReceipt = verify_signed(cert, &wire.receipt_json, &wire.signature)
        .map_err(|e| PlatformClientError::BadSignature(format!("回执：{e}")))?;
    let bad = |what: String| PlatformClientError::BadSignature(format!("回执内容不符：{what}"));
    if r.id != wire.id || r.action != wire.action {
        return Err(bad("编号或动作与签名内容不一致".into()));
    }
    let manifest_sha = hex::encode(Sha256::digest(&project.tender().manifest_bytes));
    if r.tender.id != tender_id || r.tender.manifest_sha256 != manifest_sha {
        return Err(bad(format!("回执针对的招标项目是 {}", r.tender.id)));
    }
    let bidder = &project.file().bidder;
    if !bidder.credit_code.is_empty() && r.bidder.uscc != bidder.credit_code {
        return Err(bad(format!("回执中的投标人是 {}", r.bidder.uscc)));
    }
    if let Some((sha, size)) = file {
        if r.sha256 != sha || r.size != size {
            return Err(bad(format!(
                "回执中的文件 SHA-256 {}（{} 字节）不是本次上传的 {sha}（{size} 字节）",
                r.sha256, r.size
            )));
        }
        if r.action == "withdraw" {
            return Err(bad("上传得到的是撤回回执".into()));
        }
    }
    Ok(r)
}

/// The kept receipts of a project that still verify, oldest first (by the platform's
/// sequence number).
pub fn kept_receipts(project: &BidProject) -> Result<Vec<KeptReceipt>, PlatformClientError> {
    let dir = project.dir().join(RECEIPTS_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(wire) = serde_json::from_slice::<ReceiptWire>(&bytes) else {
            continue;
        };
        let cert = &project.tender().platform;
        if let Ok(receipt) =
            verify_signed::<SignedReceipt>(cert, &wire.receipt_json, &wire.signature)
        {
            out.push(KeptReceipt { receipt, path });
        }
    }
    // Only receipts for this project's tender count (a file copied from another project
    // verifies too, but proves nothing here).
    let manifest_sha = hex::encode(Sha256::digest(&project.tender().manifest_bytes));
    out.retain(|k| k.receipt.tender.manifest_sha256 == manifest_sha);
    out.sort_by_key(|k| k.receipt.sequence);
    Ok(out)
}

/// Whether `bid_file` is the bid the latest kept receipt accepted: `Ok(receipt)` if so,
/// `E_RECEIPT_MISMATCH` if its SHA-256 differs (the file changed after upload, or another
/// file), and an error if the latest receipt is a withdrawal or there is none.
pub fn check_file_against_receipt(
    project: &BidProject,
    bid_file: &Path,
) -> Result<SignedReceipt, PlatformClientError> {
    let latest = kept_receipts(project)?
        .pop()
        .ok_or_else(|| PlatformClientError::Refused {
            status: 0,
            code: "E_NO_RECEIPT".into(),
            message: "项目中没有交易平台回执，请先上传投标文件".into(),
        })?;
    if latest.receipt.action == "withdraw" {
        return Err(PlatformClientError::Refused {
            status: 0,
            code: "E_BID_WITHDRAWN".into(),
            message: "最近的回执是撤回回执：平台上已没有本单位的投标文件".into(),
        });
    }
    let (sha, size) = file_digest(bid_file)?;
    if sha != latest.receipt.sha256 || size != latest.receipt.size {
        return Err(PlatformClientError::Refused {
            status: 0,
            code: "E_RECEIPT_MISMATCH".into(),
            message: format!(
                "{} 的 SHA-256 {sha} 与平台回执 {} 中的 {} 不一致：该文件不是平台收到的投标文件",
                bid_file.display(),
                latest.receipt.id,
                latest.receipt.sha256
            ),
        });
    }
    Ok(latest.receipt)
}
