//! 从交易平台获取投标文件: staff of the trading platform log in with account and password, list
//! the hall's tender's bids (`GET /staff/tenders/{id}/bids`), and download each bidder's current
//! bid file (`GET /staff/tenders/{id}/bids/{bid}/file`) into the hall's folder, after the bid
//! deadline.
//!
//! Guarantees: the session must be a staff one (a company account is refused with
//! `E_HALL_FETCH_NOT_STAFF` before anything is listed); a bid is downloaded only if its receipt
//! verifies with the platform certificate pinned for the hall (the one that signed the tender)
//! and names this tender (id and manifest SHA-256), its bidder and the listing's SHA-256 and
//! size — otherwise it is reported with `E_PLATFORM_SIGNATURE` and nothing is written; each
//! file is hashed while it is written (streamed, never whole in memory, never more than the
//! receipt's size kept) and compared with the receipt: a file that differs is kept but
//! flagged (`matches_receipt == false`; the hall refuses to open it), never silently taken as
//! the bid. Files are written as `.part` and renamed when complete. Does not: decide the
//! deadline (the platform refuses before it, `E_HALL_FETCH_SEALED`), open or decrypt anything.

use crate::platform_client::{PlatformClient, PlatformClientError, Retry};
use bidseal_bid::platform_docs::{verify_signed, CompanyRef, SignedReceipt};
use bidseal_bid::tender::PlatformCertificate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Sub-folder of the hall's work folder the downloaded bid files go into.
pub const FETCH_DIR: &str = "platform-bids";

/// Failures of a fetch as a whole (one bid's problem is a [`FetchedBid`] or a refusal).
#[derive(Debug, thiserror::Error)]
pub enum HallFetchError {
    /// The account is a company's.
    #[error("账号“{0}”不是交易平台的工作人员账号：只有工作人员可以获取全部投标文件，请用工作人员账号登录")]
    NotStaff(String),
    /// The bid deadline has not passed.
    #[error("交易平台拒绝：{0}。请在投标截止后再获取投标文件")]
    Sealed(String),
    /// The platform does not know the hall's tender.
    #[error("交易平台 {platform} 上没有本招标项目（{tender}）：请确认平台地址，以及载入的招标文件包是该平台发布的")]
    NoTender {
        /// Platform URL.
        platform: String,
        /// The tender id looked for.
        tender: String,
    },
    /// Talking to the platform failed.
    #[error(transparent)]
    Platform(#[from] PlatformClientError),
    /// A downloaded file could not be written.
    #[error("无法把投标文件保存到 {path}（{detail}），请检查开标工作目录是否可写、磁盘是否已满")]
    Local {
        /// Where.
        path: String,
        /// Why.
        detail: String,
    },
}

impl HallFetchError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            HallFetchError::NotStaff(_) => "E_HALL_FETCH_NOT_STAFF",
            HallFetchError::Sealed(_) => "E_HALL_FETCH_SEALED",
            HallFetchError::NoTender { .. } => "E_HALL_FETCH_NO_TENDER",
            HallFetchError::Platform(e) => e.code(),
            HallFetchError::Local { .. } => "E_HALL_FETCH_IO",
        }
    }
}

/// What a fetch needs of the hall: the tender as the platform names it, the certificate that
/// signed it, and where files go.
#[derive(Debug, Clone)]
pub struct FetchTarget {
    /// The platform's tender id (`T` + 12 hex of the manifest SHA-256).
    pub tender_id: String,
    /// SHA-256 of the signed manifest, hex.
    pub manifest_sha256: String,
    /// The platform certificate the tender verified with (pinned for the hall).
    pub platform: PlatformCertificate,
    /// Folder the files are written into.
    pub dest: PathBuf,
}

impl FetchTarget {
    /// The target for a tender whose signed manifest is `manifest_bytes`.
    pub fn new(manifest_bytes: &[u8], platform: PlatformCertificate, dest: PathBuf) -> Self {
        let manifest_sha256 = hex::encode(Sha256::digest(manifest_bytes));
        FetchTarget {
            tender_id: format!("T{}", &manifest_sha256[..12]),
            manifest_sha256,
            platform,
            dest,
        }
    }
}

/// A bid as staff see it (`StaffBid` in docs/platform-api.yaml; the fields this module reads).
#[derive(Debug, Clone, Deserialize)]
pub struct StaffBidWire {
    /// Bidder as listed.
    pub company: CompanyRef,
    /// `submitted` or `withdrawn`.
    pub state: String,
    /// SHA-256 of the current version, hex.
    pub sha256: String,
    /// Its size.
    pub size: i64,
    /// The current version's id (none once withdrawn).
    #[serde(default)]
    pub bid: Option<String>,
    /// The latest receipt, signed.
    pub receipt: ReceiptWire,
}

/// A signed receipt as listed.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceiptWire {
    /// Receipt id.
    pub id: String,
    /// The signed bytes.
    pub receipt_json: String,
    /// Base64 DER signature over them.
    pub signature: String,
}

/// The platform's facts about a fetched file (from its verified receipt).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlatformFacts {
    /// Bidder name.
    pub bidder: String,
    /// Bidder's 统一社会信用代码.
    pub bidder_uscc: String,
    /// Receipt id.
    pub receipt_id: String,
    /// When the platform received it (RFC 3339 UTC, signed).
    pub received_at: String,
    /// The same time for people: Beijing time (the signed text itself if it does not parse).
    pub received_at_text: String,
    /// SHA-256 the receipt names, hex.
    pub receipt_sha256: String,
    /// Size the receipt names.
    pub receipt_size: i64,
    /// Whether the downloaded file is exactly what the receipt names.
    pub matches_receipt: bool,
}

/// One downloaded file.
#[derive(Debug, Clone)]
pub struct FetchedBid {
    /// Where it was written.
    pub path: PathBuf,
    /// The receipt's facts and whether the file matches them.
    pub facts: PlatformFacts,
    /// SHA-256 of what was downloaded, hex.
    pub sha256: String,
}

/// A bid that was not downloaded, and why.
#[derive(Debug)]
pub struct SkippedBid {
    /// Bidder (as the listing names it).
    pub bidder: String,
    /// Why.
    pub error: PlatformClientError,
}

/// What a fetch brought.
#[derive(Debug, Default)]
pub struct FetchOutcome {
    /// Downloaded files (matching or flagged).
    pub fetched: Vec<FetchedBid>,
    /// Bids not downloaded (receipt did not verify, transfer failed).
    pub skipped: Vec<SkippedBid>,
    /// Bids withdrawn before the deadline (nothing to fetch).
    pub withdrawn: usize,
}

/// Progress of a fetch.
#[derive(Debug, Clone, Serialize)]
pub struct FetchProgress {
    /// Which file (1-based).
    pub file: usize,
    /// Of how many.
    pub files: usize,
    /// Bidder of this file.
    pub bidder: String,
    /// Bytes of all files so far.
    pub done: u64,
    /// Bytes of all files.
    pub total: u64,
}

/// The checks of a listed bid's receipt: signed by the pinned platform, for this tender, this
/// bidder, this SHA-256 and size, not a withdrawal.
pub fn check_listed(
    target: &FetchTarget,
    b: &StaffBidWire,
) -> Result<SignedReceipt, PlatformClientError> {
    let r: SignedReceipt = verify_signed(
        &target.platform,
        &b.receipt.receipt_json,
        &b.receipt.signature,
    )
    .map_err(|e| PlatformClientError::BadSignature(format!("{} 的回执：{e}", b.company.name)))?;
    let bad = |what: String| {
        PlatformClientError::BadSignature(format!("{} 的回执内容不符：{what}", b.company.name))
    };
    if r.id != b.receipt.id {
        return Err(bad("编号与签名内容不一致".into()));
    }
    if r.tender.id != target.tender_id || r.tender.manifest_sha256 != target.manifest_sha256 {
        return Err(bad(format!("回执针对的招标项目是 {}", r.tender.id)));
    }
    if r.bidder.uscc != b.company.uscc {
        return Err(bad(format!("回执中的投标人是 {}", r.bidder.uscc)));
    }
    if r.action == "withdraw" {
        return Err(bad("最近的回执是撤回回执".into()));
    }
    if !r.sha256.eq_ignore_ascii_case(&b.sha256) || r.size != b.size {
        return Err(bad(format!(
            "回执中的文件 SHA-256 {}（{} 字节）不是列表中的 {}（{} 字节）",
            r.sha256, r.size, b.sha256, b.size
        )));
    }
    Ok(r)
}

fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Logs in at `base` as staff `account`, lists the target tender's bids and downloads each
/// current one into `target.dest` (see the module doc); `progress` sees every received piece.
pub async fn fetch_bids(
    base: &str,
    account: &str,
    password: &str,
    target: &FetchTarget,
    progress: &mut (dyn FnMut(FetchProgress) + Send),
) -> Result<FetchOutcome, HallFetchError> {
    let mut client = PlatformClient::new(base)?;
    client.login_password(account, password).await?;
    if client.company.is_some() {
        return Err(HallFetchError::NotStaff(account.to_string()));
    }
    let listed: Vec<StaffBidWire> = match client
        .get_json(&format!("/staff/tenders/{}/bids", target.tender_id))
        .await
    {
        Ok(l) => l,
        Err(PlatformClientError::Refused { code, .. }) if code == "E_NOT_FOUND" => {
            return Err(HallFetchError::NoTender {
                platform: client.base().to_string(),
                tender: target.tender_id.clone(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    let mut outcome = FetchOutcome::default();
    let mut todo = Vec::new();
    for b in listed {
        if b.state != "submitted" {
            outcome.withdrawn += 1;
            continue;
        }
        let checked = check_listed(target, &b).and_then(|r| match &b.bid {
            Some(id) if plain_id(id) && plain_id(&b.company.uscc) => Ok((r, id.clone())),
            _ => Err(PlatformClientError::Protocol(format!(
                "{} 的投标文件编号无效",
                b.company.name
            ))),
        });
        match checked {
            Ok((r, id)) => todo.push((b, r, id)),
            Err(error) => outcome.skipped.push(SkippedBid {
                bidder: b.company.name.clone(),
                error,
            }),
        }
    }
    std::fs::create_dir_all(&target.dest).map_err(|e| HallFetchError::Local {
        path: target.dest.display().to_string(),
        detail: e.to_string(),
    })?;
    let total: u64 = todo.iter().map(|(_, r, _)| r.size.max(0) as u64).sum();
    let files = todo.len();
    let mut done = 0u64;
    for (i, (b, r, id)) in todo.into_iter().enumerate() {
        let path = target.dest.join(format!("{}-{id}.bsbid", b.company.uscc));
        let mut tick = |n: u64| {
            done += n;
            progress(FetchProgress {
                file: i + 1,
                files,
                bidder: b.company.name.clone(),
                done,
                total,
            })
        };
        let url = format!(
            "{}/api/v1/staff/tenders/{}/bids/{id}/file",
            client.base(),
            target.tender_id
        );
        match download(&client, &url, &path, r.size.max(0) as u64, &mut tick).await {
            Ok(sha256) => {
                let matches_receipt = sha256.eq_ignore_ascii_case(&r.sha256)
                    && std::fs::metadata(&path).map(|m| m.len() as i64).ok() == Some(r.size);
                outcome.fetched.push(FetchedBid {
                    path,
                    sha256,
                    facts: PlatformFacts {
                        bidder: r.bidder.name.clone(),
                        bidder_uscc: r.bidder.uscc.clone(),
                        receipt_id: r.id.clone(),
                        received_at: r.received_at.clone(),
                        received_at_text: beijing_text(&r.received_at),
                        receipt_sha256: r.sha256.clone(),
                        receipt_size: r.size,
                        matches_receipt,
                    },
                });
            }
            Err(DownloadError::Local(e)) => {
                return Err(HallFetchError::Local {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })
            }
            Err(DownloadError::Platform(PlatformClientError::Refused {
                code, message, ..
            })) if code == "E_BIDS_SEALED" => return Err(HallFetchError::Sealed(message)),
            Err(DownloadError::Platform(error)) => outcome.skipped.push(SkippedBid {
                bidder: b.company.name.clone(),
                error,
            }),
        }
    }
    Ok(outcome)
}

enum DownloadError {
    Platform(PlatformClientError),
    Local(std::io::Error),
}

/// Streams `url` into `path` (via `path.part`), hashing as it goes; keeps at most `size + 1`
/// bytes (one more shows the file is longer than the receipt says). Returns the SHA-256 hex.
async fn download(
    client: &PlatformClient,
    url: &str,
    path: &Path,
    size: u64,
    tick: &mut (dyn FnMut(u64) + Send),
) -> Result<String, DownloadError> {
    let mut resp = client
        .send(Retry::Idempotent, |c| c.get(url))
        .await
        .map_err(DownloadError::Platform)?;
    let part = path.with_extension("bsbid.part");
    let mut file = std::fs::File::create(&part).map_err(DownloadError::Local)?;
    let mut hasher = Sha256::new();
    let mut kept = 0u64;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(DownloadError::Platform(PlatformClientError::Offline {
                    url: client.base().to_string(),
                    detail: e.to_string(),
                }));
            }
        };
        let room = (size + 1).saturating_sub(kept) as usize;
        let piece = &chunk[..chunk.len().min(room)];
        file.write_all(piece).map_err(DownloadError::Local)?;
        hasher.update(piece);
        kept += piece.len() as u64;
        tick(piece.len() as u64);
        if kept > size {
            break;
        }
    }
    file.sync_all().map_err(DownloadError::Local)?;
    drop(file);
    std::fs::rename(&part, path).map_err(DownloadError::Local)?;
    Ok(hex::encode(hasher.finalize()))
}

/// An RFC 3339 time in Beijing time for people; the text itself when it does not parse.
fn beijing_text(rfc3339: &str) -> String {
    use bidseal_bid::time::{format_description::well_known::Rfc3339, OffsetDateTime};
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .map(crate::report::format_beijing_time)
        .unwrap_or_else(|_| rfc3339.to_string())
}

#[cfg(test)]
mod beijing_tests {
    #[test]
    fn a_receipt_time_reads_in_beijing_time_and_junk_stays_as_signed() {
        assert_eq!(
            super::beijing_text("2026-12-02T04:40:38Z"),
            "2026-12-02 12:40:38（北京时间）"
        );
        assert_eq!(super::beijing_text("not a time"), "not a time");
    }
}
