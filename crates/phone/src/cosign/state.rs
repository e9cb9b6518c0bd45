//! The co-signing service's book of certificates: state, PIN verifier, wrong-PIN counter,
//! service key share and usage log (证书日志), and the one decision function every operation
//! goes through, [`CosignBook::authorise`]. Kept in a SQLite database (`state.db`).
//!
//! Guarantees:
//! - The PIN is never stored: only a PBKDF2-HMAC-SHA256 verifier with a per-certificate salt,
//!   compared in constant time. The PBKDF2 work happens outside the book
//!   ([`CosignBook::pin_verifier`] → [`PinVerifier::matches`] → [`CosignBook::authorise_checked`]),
//!   so the service's lock is held only for the short transaction.
//! - Order of checks (each refusal is logged with its code): unknown → revoked (注销) →
//!   certificate expired → disabled (已禁用) → staff authorisation ended (授权结束时间) →
//!   PIN locked → PIN wrong (counts; the 5th wrong PIN locks) → for decrypt, the opening time
//!   established by the service ([`super::opening`]). Only when all pass is the share released.
//! - Every decision and its log entry are one SQLite transaction (WAL, `synchronous=FULL`):
//!   committed before the answer, never half-applied.
//! - Log entries are bounded ([`MAX_DETAIL`], [`MAX_WHO`]) and hash-chained per certificate:
//!   each carries SHA-256 of the previous one and the certificate row keeps the head, so an
//!   edited, removed or reordered entry fails [`verify_chain`].
//!
//! It does not authenticate the phone (the server does, [`super::device`]); the chain shows
//! tampering by someone who edits rows, not by someone who recomputes the whole chain (no
//! outside anchor).

pub use super::opening::TenderEvidence;
use super::opening::{PlatformPins, TRIAL_WINDOW_SECS};
use crate::key_seal::ServiceShare;
pub use bidseal_scan::RefusalReason;
use rand_core::{OsRng, RngCore};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Wrong PINs in a row that lock a certificate.
pub const MAX_WRONG_PINS: u32 = 5;

/// State of a certificate at the service (seed 2.6, 2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertState {
    /// 正常.
    Active,
    /// 已禁用 by the enterprise admin; can be enabled again.
    Disabled,
    /// 注销: final; cannot sign, authenticate or decrypt any more.
    Revoked,
}

/// What the phone wants to do with the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CosignOperation {
    /// Scan authentication (sign a transcript).
    Auth,
    /// Seal / sign hashes.
    Sign,
    /// Sign a bid manifest for generation.
    Generate,
    /// ECDH for opening an envelope.
    Decrypt,
}

impl CosignOperation {
    /// zh-CN name for logs and screens.
    pub fn zh_name(self) -> &'static str {
        match self {
            Self::Auth => "扫码认证",
            Self::Sign => "签章",
            Self::Generate => "生成标书",
            Self::Decrypt => "解密",
        }
    }
}

/// One line of the certificate usage log (证书日志).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageLogEntry {
    /// Unix seconds.
    pub at: i64,
    /// Who: the certificate holder (from the request) or `管理员`.
    pub who: String,
    /// What: operation or admin action, zh-CN.
    pub operation: String,
    /// Which desktop asked (free text from the desktop, e.g. host name / platform).
    pub desktop: String,
    /// Scan session id.
    pub session_id: String,
    /// What was shown to the user (project / document / hash prefix).
    pub detail: String,
    /// `OK` or the refusal code.
    pub result: String,
    /// Position in the service's log (increasing, shared by all certificates).
    #[serde(default)]
    pub seq: i64,
    /// Hex SHA-256 of the previous entry of the same certificate (64 zeros for the first).
    #[serde(default)]
    pub prev_hash: String,
    /// Hex SHA-256 of this entry ([`UsageLogEntry::compute_hash`]).
    #[serde(default)]
    pub hash: String,
}

/// `prev_hash` of a certificate's first log entry.
pub const LOG_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl UsageLogEntry {
    /// SHA-256 (hex) over the JSON array `[cert_id, seq, at, who, operation, desktop,
    /// session_id, detail, result, prev_hash]`.
    pub fn compute_hash(&self, cert_id: &str) -> String {
        let canonical = serde_json::json!([
            cert_id,
            self.seq,
            self.at,
            self.who,
            self.operation,
            self.desktop,
            self.session_id,
            self.detail,
            self.result,
            self.prev_hash
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// A broken usage-log chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("证书 {cert} 的使用日志校验失败：第 {seq} 条记录被改动、删除或调换（哈希链断开），请立即核查协同签名服务")]
pub struct ChainBroken {
    /// Certificate.
    pub cert: String,
    /// The first entry that does not fit (0: the chain's end does not match the head).
    pub seq: i64,
}

/// Checks a certificate's log (oldest first) against its chain and, if given, the head the
/// service keeps. Returns the number of entries.
pub fn verify_chain(
    cert_id: &str,
    entries: &[UsageLogEntry],
    head: Option<&str>,
) -> Result<usize, ChainBroken> {
    let mut prev = LOG_GENESIS.to_string();
    let mut last_seq = i64::MIN;
    for e in entries {
        if e.prev_hash != prev || e.hash != e.compute_hash(cert_id) || e.seq <= last_seq {
            return Err(ChainBroken {
                cert: cert_id.to_string(),
                seq: e.seq,
            });
        }
        last_seq = e.seq;
        prev = e.hash.clone();
    }
    if head.is_some_and(|h| h != prev) {
        return Err(ChainBroken {
            cert: cert_id.to_string(),
            seq: 0,
        });
    }
    Ok(entries.len())
}

/// PBKDF2 verifier of a PIN.
#[derive(Clone, Serialize, Deserialize)]
pub struct PinVerifier {
    salt: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    hash: String,
}

impl std::fmt::Debug for PinVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinVerifier(..)")
    }
}

impl PinVerifier {
    /// Makes a verifier for `pin`.
    pub fn new(pin: &str, iterations: u32) -> Self {
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let iterations = iterations.clamp(1, crate::key_seal::MAX_KDF_ITERATIONS);
        let hash = Self::derive(pin, &salt, iterations);
        Self {
            salt: hex::encode(salt),
            iterations,
            hash: hex::encode(hash.as_ref()),
        }
    }

    fn derive(pin: &str, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(pin.as_bytes(), salt, iterations, out.as_mut());
        out
    }

    /// Constant-time check.
    pub fn matches(&self, pin: &str) -> bool {
        let (Ok(salt), Ok(expected)) = (hex::decode(&self.salt), hex::decode(&self.hash)) else {
            return false;
        };
        if self.iterations == 0 || self.iterations > crate::key_seal::MAX_KDF_ITERATIONS {
            return false;
        }
        let got = Self::derive(pin, &salt, self.iterations);
        expected.len() == 32
            && got
                .iter()
                .zip(&expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Everything the service keeps about one certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertRecord {
    /// Keystore id.
    pub id: String,
    /// SHA-256 fingerprint of the certificate DER (hex).
    pub fingerprint: String,
    /// Holder shown in logs (company or person name).
    pub holder: String,
    /// State.
    pub state: CertState,
    /// Certificate notAfter, Unix seconds.
    pub not_after: i64,
    /// Staff authorisation end (授权结束时间), Unix seconds.
    pub authorised_until: Option<i64>,
    /// PIN verifier.
    pub pin: PinVerifier,
    /// Wrong PINs in a row.
    pub wrong_pins: u32,
    /// The key share, hex (secret: the state file is the service's secret store).
    share: String,
    /// The recovery share for 忘记证书密码, hex (secret).
    #[serde(default)]
    recovery_share: String,
    /// A pending PIN reset (one-time verification code), if the admin issued one.
    #[serde(default)]
    pub pending_reset: Option<PendingReset>,
    /// One-time code of a pending 换机 / 恢复 (key refresh for a new phone), if issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_refresh: Option<PendingReset>,
    /// Public device key (hex SEC1) of the phone this certificate is bound to; calls not
    /// signed by it are refused before the PIN is looked at ([`super::device`]).
    #[serde(default)]
    pub device_key: Option<String>,
    /// The service's share of a split key ([`crate::key_split`]), base64 of its encoding
    /// (secret). A split certificate has no whole key anywhere; its `share` is unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    split_share: Option<String>,
}

/// The two service-side secrets of one certificate.
pub struct CertShares<'a> {
    /// Released for every authorised operation.
    pub share: &'a ServiceShare,
    /// Released only for a PIN reset with a valid one-time code.
    pub recovery_share: &'a ServiceShare,
}

impl CertRecord {
    /// A new active record; `iterations` is the PBKDF2 count of the PIN verifier.
    pub fn new(
        id: &str,
        fingerprint: &str,
        holder: &str,
        not_after: i64,
        pin: &str,
        shares: CertShares<'_>,
        iterations: u32,
    ) -> Self {
        let CertShares {
            share,
            recovery_share,
        } = shares;
        Self {
            id: id.to_string(),
            fingerprint: fingerprint.to_string(),
            holder: holder.to_string(),
            state: CertState::Active,
            not_after,
            authorised_until: None,
            pin: PinVerifier::new(pin, iterations),
            wrong_pins: 0,
            share: hex::encode(share.as_ref()),
            recovery_share: hex::encode(recovery_share.as_ref()),
            pending_reset: None,
            pending_refresh: None,
            device_key: None,
            split_share: None,
        }
    }

    /// Keeps the service's share of a split key for this certificate.
    pub fn with_split_share(
        mut self,
        share: &crate::key_split::KeyShare,
    ) -> Result<Self, crate::key_split::KeySplitError> {
        use base64::Engine;
        let bytes = share.to_secret_bytes()?;
        self.split_share = Some(base64::engine::general_purpose::STANDARD.encode(&*bytes));
        Ok(self)
    }

    /// Whether the certificate's key is split between phone and service.
    pub fn is_split(&self) -> bool {
        self.split_share.is_some()
    }

    /// The service's share of the split key (secret), if the key is split.
    pub(crate) fn split_share(&self) -> Option<crate::key_split::KeyShare> {
        use base64::Engine;
        let text = self.split_share.as_deref()?;
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()?,
        );
        crate::key_split::KeyShare::from_secret_bytes(&bytes, crate::key_split::Side::Service).ok()
    }

    /// Binds the record to the phone with this public device key (hex SEC1).
    pub fn with_device(mut self, public_hex: &str) -> Self {
        self.device_key = Some(public_hex.to_string());
        self
    }

    /// The service key share (secret).
    pub(crate) fn share(&self) -> Option<ServiceShare> {
        decode_share(&self.share)
    }

    fn recovery_share(&self) -> Option<ServiceShare> {
        decode_share(&self.recovery_share)
    }
}

fn decode_share(text: &str) -> Option<ServiceShare> {
    let bytes = Zeroizing::new(hex::decode(text).ok()?);
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return None;
    }
    out.copy_from_slice(&bytes);
    Some(out)
}

impl Drop for CertRecord {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.share);
        zeroize::Zeroize::zeroize(&mut self.recovery_share);
        if let Some(split) = self.split_share.as_mut() {
            zeroize::Zeroize::zeroize(split);
        }
    }
}

/// How long a PIN-reset verification code stays valid.
pub const RESET_CODE_TTL_SECS: i64 = 600;

/// A one-time verification code for 忘记证书密码 (in the real product sent by SMS; here the
/// admin CLI prints it). Only its SHA-256 is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingReset {
    code_sha256: String,
    /// Unix seconds after which the code is void.
    pub expires_at: i64,
    /// Wrong codes so far ([`MAX_WRONG_PINS`] void the code).
    pub wrong_codes: u32,
}

/// Why a PIN reset was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ResetRefusal {
    /// No code was issued, it expired, or too many wrong codes voided it.
    #[error("没有有效的验证码（未申请、已过期或输错次数过多），请重新获取验证码")]
    NoValidCode,
    /// Wrong code.
    #[error("验证码错误，还可尝试 {remaining_tries} 次")]
    WrongCode {
        /// Attempts left.
        remaining_tries: u32,
    },
    /// A revoked certificate cannot get a new PIN.
    #[error("证书已注销，不能重置证书密码，请重新办理证书")]
    CertificateRevoked,
    /// An expired certificate cannot get a new PIN.
    #[error("证书已过期（已失效），不能重置证书密码，请办理证书续期")]
    CertificateExpired,
    /// A disabled certificate cannot get a new PIN until the administrator enables it.
    #[error("证书已被单位管理员禁用，不能重置证书密码，请联系单位管理员启用")]
    CertificateDisabled,
    /// The holder's authorisation ended (授权结束时间), Unix seconds.
    #[error("您对该证书的使用授权已到期（授权结束），不能重置证书密码，请联系单位管理员")]
    AuthorisationEnded {
        /// When it ended.
        ended_at: u64,
    },
    /// The new PIN is not 6 digits.
    #[error("新的证书密码（PIN）必须是 6 位数字")]
    BadPin,
    /// Unknown certificate.
    #[error("协同签名服务中没有这本证书")]
    Unknown,
    /// 换机: wrong PIN (counts towards the lockout like every PIN).
    #[error("证书密码（PIN）错误，还可尝试 {remaining_tries} 次")]
    WrongPin {
        /// Attempts left.
        remaining_tries: u32,
    },
    /// 换机: the PIN is locked (the administrator unlocks it, or 忘记证书密码).
    #[error("证书密码已锁定，请联系单位管理员解锁或通过“忘记证书密码”重置")]
    PinLocked,
    /// 换机 needs a split key (the certificate has none to refresh).
    #[error("这本证书的密钥未拆分，不能换机刷新密钥分量，请联系单位管理员")]
    NotSplit,
    /// The call was not signed by the phone the certificate is bound to.
    #[error("协同签名服务不认识这台手机（设备签名无效），请在已绑定证书的手机上操作")]
    DeviceNotRecognised,
    /// Too many attempts from this phone or on this certificate.
    #[error("尝试过于频繁，请 {retry_after_secs} 秒后再试")]
    TooManyAttempts {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
}

/// What a successful PIN reset releases to the phone so it can re-seal its key.
pub struct ResetGrant {
    /// The normal share (the main seal is redone under the new PIN with it).
    pub share: ServiceShare,
    /// The recovery share (opens the recovery seal).
    pub recovery_share: ServiceShare,
}

/// What the phone tells the service about the operation it wants to perform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationContext {
    /// The operation.
    pub operation: CosignOperation,
    /// Desktop description from the scan request (platform, host).
    pub desktop: String,
    /// Scan session id.
    pub session_id: String,
    /// Human-readable summary (project, document, hash prefix); logged, at most
    /// [`MAX_DETAIL`] bytes (longer is cut at a character boundary).
    pub detail: String,
    /// decrypt at the opening: the platform-signed tender, exact `tender.json` bytes and the
    /// platform's DER ECDSA-P256/SHA-256 signature over them (the tender package's
    /// `tender.json` + `tender.json.sig`, see docs/tender-format.md).
    #[serde(default)]
    pub tender: Option<TenderEvidence>,
    /// generate: hex SHA-256 the phone signs (the bid manifest's digest); decrypt as trial
    /// decryption: the same manifest digest of the freshly generated bid.
    #[serde(default)]
    pub bound_digest: Option<String>,
}

/// Longest `detail` kept in the usage log, bytes.
pub const MAX_DETAIL: usize = 1024;

/// Admin actions (enterprise administrator, seed 2.6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AdminAction {
    /// 禁用.
    Disable,
    /// 启用.
    Enable,
    /// 注销 (final).
    Revoke,
    /// Set or clear the staff authorisation end (Unix seconds).
    SetAuthorisationEnd {
        /// End, or `None` for unlimited.
        until: Option<i64>,
    },
    /// Clear the wrong-PIN counter and the lock (解锁), the user remembers the PIN.
    Unlock,
    /// Issue a one-time verification code for 忘记证书密码; the phone then sets a new PIN.
    IssueResetCode,
    /// Issue a one-time code for 换机 / 恢复 (seed 2.6.1.6.1.2 证书未同步): a new phone with
    /// the PIN refreshes the split key's shares and becomes the certificate's device.
    IssueRefreshCode,
}

/// Errors of admin actions and persistence.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// Unknown certificate id.
    #[error("协同签名服务中没有证书 {0}")]
    Unknown(String),
    /// A revoked certificate cannot be enabled again.
    #[error("证书已注销，不能再启用，请重新办理证书")]
    RevokedIsFinal,
    /// State file I/O.
    #[error("协同签名服务状态文件读写失败（{path}）：{source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// State file is not valid JSON of the expected shape.
    #[error("协同签名服务状态文件损坏（{0}），请重新执行 bidseal phone init")]
    Corrupt(String),
    /// The database failed.
    #[error("协同签名服务数据库错误（{0}），请检查磁盘空间与 state.db 文件权限")]
    Db(String),
    /// The usage log does not verify.
    #[error(transparent)]
    Chain(#[from] ChainBroken),
    /// A key refresh was asked for a certificate without a split key.
    #[error("证书 {0} 的密钥未拆分，不能签发换机验证码")]
    NotSplit(String),
    /// An enrolment code was asked for (or an enrolment finished) for an id in use.
    #[error("协同签名服务中已有证书 {0}，不能再开通；请换一个证书编号")]
    AlreadyEnrolled(String),
}

impl From<rusqlite::Error> for BookError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.to_string())
    }
}

/// Format tag stored in the database's `meta` table.
pub const DB_FORMAT: &str = "bidseal-cosign-state/2";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS certs(
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    log_head TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log(
    seq INTEGER PRIMARY KEY,
    cert_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    operation TEXT NOT NULL,
    desktop TEXT NOT NULL,
    session_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    result TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_by_cert ON log(cert_id, seq);
CREATE TABLE IF NOT EXISTS generated(
    cert_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS generated_by_cert ON generated(cert_id, session_id, digest);
CREATE TABLE IF NOT EXISTS enrolments(id TEXT PRIMARY KEY, record TEXT NOT NULL);
";

/// The table of pending enrolments (added after format 2 was fixed: created when missing).
const ENROLMENT_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS enrolments(id TEXT PRIMARY KEY, record TEXT NOT NULL);";

/// The whole book: a SQLite database (`state.db`, mode 0600) plus configuration.
pub struct CosignBook {
    conn: Connection,
    /// Platform certificates trusted for opening times (configuration, not persisted).
    pub platform_pins: PlatformPins,
}

impl std::fmt::Debug for CosignBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CosignBook(..)")
    }
}

/// A PIN checked outside the book: the verifier it was checked against and the answer.
pub struct PinCheck {
    /// The verifier read by [`CosignBook::pin_verifier`].
    pub verifier: PinVerifier,
    /// Whether the PIN matched it.
    pub matches: bool,
}

/// Log operation name of a trial decryption.
pub const DECRYPT_TRIAL: &str = "试解密";
/// Longest `who` / `desktop` / `session_id` kept in the usage log, bytes.
pub const MAX_WHO: usize = 256;

/// `text` cut to at most `max` bytes at a character boundary.
pub fn bounded(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Unix seconds as RFC 3339 in China Standard Time (UTC+8), for logs and phone screens.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.to_offset(time::macros::offset!(+8))
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Parses an RFC 3339 time into Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn log_result_of_reset(r: &ResetRefusal) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// Loads one record inside a transaction.
fn load_record(tx: &Transaction<'_>, id: &str) -> Result<Option<CertRecord>, BookError> {
    let text: Option<Zeroizing<String>> = tx
        .query_row("SELECT record FROM certs WHERE id = ?1", [id], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .map(Zeroizing::new);
    text.map(|t| serde_json::from_str(&t).map_err(|e| BookError::Corrupt(e.to_string())))
        .transpose()
}

fn store_record(tx: &Transaction<'_>, rec: &CertRecord) -> Result<(), BookError> {
    let json =
        Zeroizing::new(serde_json::to_string(rec).map_err(|e| BookError::Corrupt(e.to_string()))?);
    tx.execute(
        "UPDATE certs SET record = ?2 WHERE id = ?1",
        params![rec.id, json.as_str()],
    )?;
    Ok(())
}

/// Appends one bounded, chained entry for `cert_id`.
fn append_log(tx: &Transaction<'_>, cert_id: &str, mut e: UsageLogEntry) -> Result<(), BookError> {
    e.who = bounded(&e.who, MAX_WHO).to_string();
    e.operation = bounded(&e.operation, MAX_WHO).to_string();
    e.desktop = bounded(&e.desktop, MAX_WHO).to_string();
    e.session_id = bounded(&e.session_id, MAX_WHO).to_string();
    e.detail = bounded(&e.detail, MAX_DETAIL).to_string();
    e.result = bounded(&e.result, MAX_WHO).to_string();
    e.prev_hash = tx.query_row("SELECT log_head FROM certs WHERE id = ?1", [cert_id], |r| {
        r.get(0)
    })?;
    e.seq = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM log", [], |r| {
        r.get(0)
    })?;
    e.hash = e.compute_hash(cert_id);
    tx.execute(
        "INSERT INTO log(seq, cert_id, at, who, operation, desktop, session_id, detail, result, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.seq, cert_id, e.at, e.who, e.operation, e.desktop, e.session_id, e.detail, e.result,
            e.prev_hash, e.hash
        ],
    )?;
    tx.execute(
        "UPDATE certs SET log_head = ?2 WHERE id = ?1",
        params![cert_id, e.hash],
    )?;
    Ok(())
}

fn entry(who: &str, operation: &str, result: &str, now: i64) -> UsageLogEntry {
    UsageLogEntry {
        at: now,
        who: who.to_string(),
        operation: operation.to_string(),
        desktop: String::new(),
        session_id: String::new(),
        detail: String::new(),
        result: result.to_string(),
        seq: 0,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

impl CosignBook {
    fn with_connection(conn: Connection) -> Result<Self, BookError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(Self {
            conn,
            platform_pins: PlatformPins::default(),
        })
    }

    /// A new, empty database at `path` (refuses an existing file).
    pub fn create(path: &Path) -> Result<Self, BookError> {
        if path.exists() {
            return Err(BookError::Corrupt(format!("{} 已存在", path.display())));
        }
        #[cfg(unix)]
        {
            // Create the file 0600 before SQLite opens it: it holds the shares.
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|source| BookError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
        }
        let book = Self::with_connection(Connection::open(path)?)?;
        book.init_schema()?;
        Ok(book)
    }

    /// A book in memory (tests).
    pub fn in_memory() -> Result<Self, BookError> {
        let book = Self {
            conn: Connection::open_in_memory()?,
            platform_pins: PlatformPins::default(),
        };
        book.init_schema()?;
        Ok(book)
    }

    fn init_schema(&self) -> Result<(), BookError> {
        self.conn.execute_batch(SCHEMA)?;
        self.conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('format', ?1)",
            [DB_FORMAT],
        )?;
        Ok(())
    }

    /// Opens an existing database (never creates one) and checks its format tag.
    pub fn load(path: &Path) -> Result<Self, BookError> {
        if !path.is_file() {
            return Err(BookError::Io {
                path: path.display().to_string(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|e| BookError::Corrupt(e.to_string()))?;
        let format: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| BookError::Corrupt(e.to_string()))?;
        if format.as_deref() != Some(DB_FORMAT) {
            return Err(BookError::Corrupt(format!(
                "格式标记为 {format:?}，应为 {DB_FORMAT}"
            )));
        }
        conn.execute_batch(ENROLMENT_SCHEMA)
            .map_err(|e| BookError::Corrupt(e.to_string()))?;
        Self::with_connection(conn)
    }

    /// Adds a certificate (provisioning).
    pub fn insert(&mut self, rec: &CertRecord) -> Result<(), BookError> {
        let json = Zeroizing::new(
            serde_json::to_string(rec).map_err(|e| BookError::Corrupt(e.to_string()))?,
        );
        self.conn.execute(
            "INSERT INTO certs(id, record, log_head) VALUES (?1, ?2, ?3)",
            params![rec.id, json.as_str(), LOG_GENESIS],
        )?;
        Ok(())
    }

    /// One record (its secrets included), if known.
    pub fn record(&mut self, id: &str) -> Result<Option<CertRecord>, BookError> {
        let tx = self.conn.transaction()?;
        let rec = load_record(&tx, id)?;
        tx.commit()?;
        Ok(rec)
    }

    /// Every record, by id.
    pub fn records(&mut self) -> Result<Vec<CertRecord>, BookError> {
        let ids: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT id FROM certs ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = self.record(&id)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The usage log of `id`, oldest first, and the chain head the book keeps.
    pub fn log(&self, id: &str) -> Result<(Vec<UsageLogEntry>, Option<String>), BookError> {
        let head: Option<String> = self
            .conn
            .query_row("SELECT log_head FROM certs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, who, operation, desktop, session_id, detail, result, prev_hash, hash
             FROM log WHERE cert_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(UsageLogEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                who: r.get(2)?,
                operation: r.get(3)?,
                desktop: r.get(4)?,
                session_id: r.get(5)?,
                detail: r.get(6)?,
                result: r.get(7)?,
                prev_hash: r.get(8)?,
                hash: r.get(9)?,
            })
        })?;
        Ok((rows.collect::<Result<_, _>>()?, head))
    }

    /// Checks the chain of `id`'s log against the stored head; the number of entries.
    pub fn verify_log(&self, id: &str) -> Result<usize, BookError> {
        let (entries, head) = self.log(id)?;
        Ok(verify_chain(id, &entries, head.as_deref())?)
    }

    /// The PIN verifier of `id`, to run PBKDF2 outside the book's lock.
    pub fn pin_verifier(&mut self, id: &str) -> Result<Option<PinVerifier>, BookError> {
        Ok(self.record(id)?.map(|r| r.pin.clone()))
    }

    /// Decides one operation at time `now` (computes the PIN check itself; the server uses
    /// [`Self::pin_verifier`] + [`Self::authorise_checked`] to keep PBKDF2 outside its lock).
    pub fn authorise(
        &mut self,
        id: &str,
        pin: &str,
        ctx: &OperationContext,
        who: &str,
        now: i64,
    ) -> Result<ServiceShare, RefusalReason> {
        let check = match self.pin_verifier(id) {
            Ok(Some(verifier)) => PinCheck {
                matches: verifier.matches(pin),
                verifier,
            },
            Ok(None) => return Err(RefusalReason::NoSuitableCertificate),
            Err(_) => return Err(RefusalReason::CoSigningUnavailable),
        };
        self.authorise_checked(id, pin, check, ctx, who, now)
    }

    /// Decides one operation with a PIN already checked against `check.verifier`; if the
    /// verifier changed meanwhile (a PIN reset), the PIN is checked again here. Releases the
    /// share only on success; the decision and its log entry are one transaction.
    pub fn authorise_checked(
        &mut self,
        id: &str,
        pin: &str,
        check: PinCheck,
        ctx: &OperationContext,
        who: &str,
        now: i64,
    ) -> Result<ServiceShare, RefusalReason> {
        // A split certificate is only used through the joint protocol.
        self.authorise_with(id, pin, check, ctx, who, now, None, |r| {
            if r.is_split() {
                None
            } else {
                r.share()
            }
        })
    }

    /// Like [`Self::authorise_checked`] for a split key: on success returns the service's
    /// share of the split key (never released over the wire: the server runs the joint
    /// protocol with it) and the seal share that opens the phone's sealed share. `binding`
    /// (what the share will be used for: digests, envelope, device) is appended to the log
    /// entry's detail.
    #[allow(clippy::too_many_arguments)]
    pub fn authorise_split_checked(
        &mut self,
        id: &str,
        pin: &str,
        check: PinCheck,
        ctx: &OperationContext,
        who: &str,
        now: i64,
        binding: &str,
    ) -> Result<(crate::key_split::KeyShare, ServiceShare), RefusalReason> {
        self.authorise_with(id, pin, check, ctx, who, now, Some(binding), |r| {
            Some((r.split_share()?, r.share()?))
        })
    }

    /// Logs a use of a split share whose joint protocol failed after its grant (the
    /// `KEYSPLIT_*` code), chained like every other entry. A successful use adds no line: its
    /// grant's line is the record.
    pub fn log_split_use(
        &mut self,
        id: &str,
        who: &str,
        ctx: &OperationContext,
        result: &str,
        detail: &str,
        now: i64,
    ) -> Result<(), BookError> {
        self.transaction(|tx| {
            append_log(
                tx,
                id,
                UsageLogEntry {
                    desktop: ctx.desktop.clone(),
                    session_id: ctx.session_id.clone(),
                    detail: detail.to_string(),
                    ..entry(who, ctx.operation.zh_name(), result, now)
                },
            )
        })
    }

    /// The one decision: gates, PIN, lockout, decrypt rules, log entry; `take` picks the
    /// secret released on success (a missing one is `no_suitable_certificate`, logged so).
    #[allow(clippy::too_many_arguments)]
    fn authorise_with<T>(
        &mut self,
        id: &str,
        pin: &str,
        check: PinCheck,
        ctx: &OperationContext,
        who: &str,
        now: i64,
        binding: Option<&str>,
        take: impl FnOnce(&CertRecord) -> Option<T>,
    ) -> Result<T, RefusalReason> {
        let pins = self.platform_pins.clone();
        self.transaction(|tx| {
            let Some(mut rec) = load_record(tx, id)? else {
                return Ok(Err(RefusalReason::NoSuitableCertificate));
            };
            let pin_ok = if rec.pin.hash == check.verifier.hash {
                check.matches
            } else {
                rec.pin.matches(pin)
            };
            let mut operation = ctx.operation.zh_name().to_string();
            let mut detail = bounded(&ctx.detail, MAX_DETAIL).to_string();
            let mut decision = Self::decide(&mut rec, pin_ok, now);
            if decision.is_ok() {
                match ctx.operation {
                    CosignOperation::Decrypt => match Self::decrypt_allowed(tx, &pins, id, ctx, now)? {
                        Ok(note) if note == DECRYPT_TRIAL => operation = note,
                        Ok(note) => detail = format!("{}；{note}", bounded(&detail, MAX_DETAIL / 2)),
                        Err(r) => decision = Err(r),
                    },
                    CosignOperation::Generate => {
                        if let Some(digest) = ctx.bound_digest.as_deref() {
                            tx.execute(
                                "DELETE FROM generated WHERE at < ?1",
                                [now - TRIAL_WINDOW_SECS],
                            )?;
                            tx.execute(
                                "INSERT INTO generated(cert_id, session_id, digest, at) VALUES (?1, ?2, ?3, ?4)",
                                params![
                                    id,
                                    bounded(&ctx.session_id, MAX_WHO),
                                    bounded(&digest.to_ascii_lowercase(), 128),
                                    now
                                ],
                            )?;
                        }
                    }
                    CosignOperation::Auth | CosignOperation::Sign => {}
                }
            }
            let released = match decision {
                Ok(()) => take(&rec).ok_or(RefusalReason::NoSuitableCertificate),
                Err(r) => Err(r),
            };
            if let Some(binding) = binding {
                detail = format!("{}；{}", bounded(&detail, MAX_DETAIL / 2), bounded(binding, MAX_DETAIL / 2));
            }
            store_record(tx, &rec)?;
            append_log(
                tx,
                id,
                UsageLogEntry {
                    desktop: ctx.desktop.clone(),
                    session_id: ctx.session_id.clone(),
                    detail,
                    ..entry(
                        who,
                        &operation,
                        match &released {
                            Ok(_) => "OK",
                            Err(r) => r.code(),
                        },
                        now,
                    )
                },
            )?;
            Ok(released)
        })
        .unwrap_or(Err(RefusalReason::CoSigningUnavailable))
    }

    /// Runs `f` in one transaction; commits when `f` returns `Ok` (even an `Ok(Err(refusal))`,
    /// which is a decision to persist).
    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, BookError>,
    ) -> Result<T, BookError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Whether a decrypt may happen now (after the PIN passed): a trial decryption of a bid
    /// this certificate just generated in this session, or the opening time of a tender signed
    /// by a pinned platform reached on the service's clock. `Ok(note)` for the log.
    fn decrypt_allowed(
        tx: &Transaction<'_>,
        pins: &PlatformPins,
        cert: &str,
        ctx: &OperationContext,
        now: i64,
    ) -> Result<Result<String, RefusalReason>, BookError> {
        if let Some(digest) = ctx.bound_digest.as_deref() {
            let generated: i64 = tx.query_row(
                "SELECT COUNT(*) FROM generated WHERE cert_id = ?1 AND session_id = ?2
                 AND digest = ?3 AND at <= ?4 AND ?4 - at <= ?5",
                params![
                    cert,
                    bounded(&ctx.session_id, MAX_WHO),
                    bounded(&digest.to_ascii_lowercase(), 128),
                    now,
                    TRIAL_WINDOW_SECS
                ],
                |r| r.get(0),
            )?;
            if generated > 0 {
                return Ok(Ok(DECRYPT_TRIAL.to_string()));
            }
        }
        let Some(tender) = ctx.tender.as_ref() else {
            return Ok(Err(RefusalReason::OpeningTimeUnverified {
                detail: if ctx.bound_digest.is_some() {
                    "本会话中没有用该证书生成这份投标文件的记录（试解密只能在生成后 10 分钟内、同一次扫码会话中进行）".into()
                } else {
                    "请求中没有交易平台签名的招标文件，无法确认开标时间".into()
                },
            }));
        };
        let facts = match pins.verify(tender, now) {
            Ok(f) => f,
            Err(r) => return Ok(Err(r)),
        };
        if now < facts.opening_time {
            return Ok(Err(RefusalReason::BeforeOpeningTime {
                opens_at: facts.opening_time.max(0) as u64,
            }));
        }
        Ok(Ok(format!(
            "开标解密：项目 {} 标段 {}，开标时间 {}（平台签名已验证）",
            bounded(&facts.project_id, 128),
            bounded(&facts.lot_id, 64),
            rfc3339(facts.opening_time)
        )))
    }

    /// The certificate-state checks, in order: revoked → expired → disabled → authorisation
    /// ended. No side effects.
    fn state_refusal(rec: &CertRecord, now: i64) -> Option<RefusalReason> {
        if rec.state == CertState::Revoked {
            return Some(RefusalReason::CertificateRevoked);
        }
        if now > rec.not_after {
            return Some(RefusalReason::CertificateExpired);
        }
        if rec.state == CertState::Disabled {
            return Some(RefusalReason::CertificateDisabled);
        }
        match rec.authorised_until {
            Some(until) if now > until => Some(RefusalReason::AuthorisationEnded {
                ended_at: until.max(0) as u64,
            }),
            _ => None,
        }
    }

    fn decide(rec: &mut CertRecord, pin_ok: bool, now: i64) -> Result<(), RefusalReason> {
        if let Some(refusal) = Self::state_refusal(rec, now) {
            return Err(refusal);
        }
        if rec.wrong_pins >= MAX_WRONG_PINS {
            return Err(RefusalReason::PinLocked);
        }
        if !pin_ok {
            rec.wrong_pins += 1;
            if rec.wrong_pins >= MAX_WRONG_PINS {
                return Err(RefusalReason::PinLocked);
            }
            return Err(RefusalReason::WrongPin {
                remaining_tries: (MAX_WRONG_PINS - rec.wrong_pins) as u8,
            });
        }
        rec.wrong_pins = 0;
        Ok(())
    }

    /// Applies an admin action and logs it. `IssueResetCode` returns the code.
    pub fn admin(
        &mut self,
        id: &str,
        action: &AdminAction,
        now: i64,
    ) -> Result<Option<String>, BookError> {
        self.transaction(|tx| {
            let mut rec = load_record(tx, id)?.ok_or_else(|| BookError::Unknown(id.to_string()))?;
            let mut output = None;
            let what = match action {
                AdminAction::Disable => {
                    if rec.state == CertState::Active {
                        rec.state = CertState::Disabled;
                    }
                    "禁用证书".to_string()
                }
                AdminAction::Enable => {
                    if rec.state == CertState::Revoked {
                        return Err(BookError::RevokedIsFinal);
                    }
                    rec.state = CertState::Active;
                    "启用证书".to_string()
                }
                AdminAction::Revoke => {
                    rec.state = CertState::Revoked;
                    "注销证书".to_string()
                }
                AdminAction::SetAuthorisationEnd { until } => {
                    rec.authorised_until = *until;
                    match until {
                        Some(t) => format!("设置授权结束时间 {}", rfc3339(*t)),
                        None => "取消授权结束时间".to_string(),
                    }
                }
                AdminAction::Unlock => {
                    rec.wrong_pins = 0;
                    "解锁（清除 PIN 错误次数）".to_string()
                }
                AdminAction::IssueResetCode => {
                    let code = one_time_code();
                    rec.pending_reset = Some(PendingReset {
                        code_sha256: hex::encode(Sha256::digest(code.as_bytes())),
                        expires_at: now + RESET_CODE_TTL_SECS,
                        wrong_codes: 0,
                    });
                    output = Some(code);
                    "签发证书密码重置验证码".to_string()
                }
                AdminAction::IssueRefreshCode => {
                    if !rec.is_split() {
                        return Err(BookError::NotSplit(id.to_string()));
                    }
                    let code = one_time_code();
                    rec.pending_refresh = Some(PendingReset {
                        code_sha256: hex::encode(Sha256::digest(code.as_bytes())),
                        expires_at: now + RESET_CODE_TTL_SECS,
                        wrong_codes: 0,
                    });
                    output = Some(code);
                    "签发换机验证码（密钥分量刷新）".to_string()
                }
            };
            store_record(tx, &rec)?;
            append_log(tx, id, entry("管理员", &what, "OK", now))?;
            Ok(output)
        })
    }

    /// 忘记证书密码: checks the certificate's state and the one-time code, sets the new PIN,
    /// clears the lock, and releases both shares so the phone can re-seal its key under the
    /// new PIN. Logged either way.
    pub fn reset_pin(
        &mut self,
        id: &str,
        code: &str,
        new_pin: &str,
        now: i64,
    ) -> Result<ResetGrant, ResetRefusal> {
        if new_pin.len() != 6 || !new_pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ResetRefusal::BadPin);
        }
        let Ok(Some(iterations)) = self.pin_verifier(id).map(|v| v.map(|v| v.iterations)) else {
            return Err(ResetRefusal::Unknown);
        };
        // The new verifier's PBKDF2 runs before the transaction.
        let verifier = PinVerifier::new(new_pin, iterations);
        self.reset_pin_checked(id, code, verifier, now)
    }

    /// [`Self::reset_pin`] with the new PIN's verifier already computed.
    pub fn reset_pin_checked(
        &mut self,
        id: &str,
        code: &str,
        new_verifier: PinVerifier,
        now: i64,
    ) -> Result<ResetGrant, ResetRefusal> {
        self.code_decision(
            id,
            "忘记证书密码：重置 PIN",
            String::new(),
            now,
            |rec| Self::decide_reset(rec, code, new_verifier, now),
        )
    }

    /// One decision that takes a one-time code (PIN reset, 换机): `decide` on the record, the
    /// record stored and one log line (`operation`, `detail`, `OK` or the refusal's code),
    /// in one transaction.
    fn code_decision<T>(
        &mut self,
        id: &str,
        operation: &str,
        detail: String,
        now: i64,
        decide: impl FnOnce(&mut CertRecord) -> Result<T, ResetRefusal>,
    ) -> Result<T, ResetRefusal> {
        self.transaction(|tx| {
            let Some(mut rec) = load_record(tx, id)? else {
                return Ok(Err(ResetRefusal::Unknown));
            };
            let decision = decide(&mut rec);
            store_record(tx, &rec)?;
            let result = match &decision {
                Ok(_) => "OK".to_string(),
                Err(r) => log_result_of_reset(r),
            };
            append_log(
                tx,
                id,
                UsageLogEntry {
                    detail,
                    ..entry(&rec.holder, operation, &result, now)
                },
            )?;
            Ok(decision)
        })
        .unwrap_or(Err(ResetRefusal::Unknown))
    }

    /// The certificate-state checks before a one-time code (PIN reset, 换机), in the order of
    /// every operation; a locked PIN is not one of them (a reset is what it is for).
    fn state_refusal_for_code(rec: &CertRecord, now: i64) -> Result<(), ResetRefusal> {
        match Self::state_refusal(rec, now) {
            Some(RefusalReason::CertificateRevoked) => Err(ResetRefusal::CertificateRevoked),
            Some(RefusalReason::CertificateExpired) => Err(ResetRefusal::CertificateExpired),
            Some(RefusalReason::CertificateDisabled) => Err(ResetRefusal::CertificateDisabled),
            Some(RefusalReason::AuthorisationEnded { ended_at }) => {
                Err(ResetRefusal::AuthorisationEnded { ended_at })
            }
            Some(_) | None => Ok(()),
        }
    }

    fn decide_reset(
        rec: &mut CertRecord,
        code: &str,
        new_verifier: PinVerifier,
        now: i64,
    ) -> Result<ResetGrant, ResetRefusal> {
        // The same state checks as every operation, in the same order; a locked PIN is what
        // a reset is for, so the lock alone does not refuse it.
        Self::state_refusal_for_code(rec, now)?;
        check_one_time_code(&mut rec.pending_reset, code, now)?;
        let (Some(share), Some(recovery_share)) = (rec.share(), rec.recovery_share()) else {
            return Err(ResetRefusal::Unknown);
        };
        rec.pin = new_verifier;
        rec.wrong_pins = 0;
        rec.pending_reset = None;
        Ok(ResetGrant {
            share,
            recovery_share,
        })
    }
}

/// A fresh 6-digit one-time code.
fn one_time_code() -> String {
    let mut n = [0u8; 4];
    OsRng.fill_bytes(&mut n);
    format!("{:06}", u32::from_be_bytes(n) % 1_000_000)
}

/// Checks `code` against a pending one-time code: void when expired or after
/// [`MAX_WRONG_PINS`] wrong codes; a wrong code counts; the right one is consumed (a replay
/// finds none).
fn check_one_time_code(
    pending: &mut Option<PendingReset>,
    code: &str,
    now: i64,
) -> Result<(), ResetRefusal> {
    let Some(p) = pending.as_mut() else {
        return Err(ResetRefusal::NoValidCode);
    };
    if now > p.expires_at || p.wrong_codes >= MAX_WRONG_PINS {
        *pending = None;
        return Err(ResetRefusal::NoValidCode);
    }
    let got = hex::encode(Sha256::digest(code.trim().as_bytes()));
    let same = got.len() == p.code_sha256.len()
        && got
            .bytes()
            .zip(p.code_sha256.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0;
    if !same {
        p.wrong_codes += 1;
        let remaining = MAX_WRONG_PINS.saturating_sub(p.wrong_codes);
        if remaining == 0 {
            *pending = None;
            return Err(ResetRefusal::NoValidCode);
        }
        return Err(ResetRefusal::WrongCode {
            remaining_tries: remaining,
        });
    }
    *pending = None;
    Ok(())
}

/// What the service keeps between the calls of a 换机 refresh.
pub struct RefreshGrant {
    /// The service's current split share (refreshed with the phone's).
    pub split_share: crate::key_split::KeyShare,
    /// The seal share that opens the phone share the new phone brings (backup / old phone).
    pub seal_share: ServiceShare,
    /// The recovery share (unchanged by a refresh), for the new phone's recovery seal.
    pub recovery_share: ServiceShare,
}

/// What a finished refresh gives the new phone to seal its new share.
pub struct RefreshDone {
    /// The new seal share (the new phone share is sealed under PIN + this).
    pub seal_share: ServiceShare,
    /// The recovery share (the recovery seal for 忘记证书密码 is redone with it).
    pub recovery_share: ServiceShare,
}

impl CosignBook {
    /// 换机 / 恢复, step 1: the identity check. The certificate's state (as for a PIN reset),
    /// the administrator's one-time code (consumed; wrong codes count, five void it), then the
    /// PIN (wrong PINs count towards the lockout). On success returns the service's split share
    /// and the seal share, so the new phone can open the phone share it brings and run the
    /// refresh. Logged either way, with the new device.
    pub fn begin_refresh(
        &mut self,
        id: &str,
        code: &str,
        pin: &str,
        new_device: &str,
        now: i64,
    ) -> Result<RefreshGrant, ResetRefusal> {
        let detail = format!("新设备 {}", bounded(new_device, 200));
        self.code_decision(id, "换机：身份核验", detail, now, |rec| {
            Self::decide_refresh(rec, code, pin, now)
        })
    }

    fn decide_refresh(
        rec: &mut CertRecord,
        code: &str,
        pin: &str,
        now: i64,
    ) -> Result<RefreshGrant, ResetRefusal> {
        Self::state_refusal_for_code(rec, now)?;
        let (Some(split_share), Some(seal_share), Some(recovery_share)) =
            (rec.split_share(), rec.share(), rec.recovery_share())
        else {
            return Err(ResetRefusal::NotSplit);
        };
        check_one_time_code(&mut rec.pending_refresh, code, now)?;
        let pin_ok = rec.pin.matches(pin);
        match Self::decide(rec, pin_ok, now) {
            Ok(()) => Ok(RefreshGrant {
                split_share,
                seal_share,
                recovery_share,
            }),
            Err(RefusalReason::WrongPin { remaining_tries }) => Err(ResetRefusal::WrongPin {
                remaining_tries: remaining_tries.into(),
            }),
            Err(_) => Err(ResetRefusal::PinLocked),
        }
    }

    /// 换机 / 恢复, last step: stores the refreshed service share (the old phone share stops
    /// working with it), the new seal share `seal_share` (chosen at the begin and already given
    /// to the new phone, which staged its new share sealed under it) and the new phone as the
    /// certificate's device, in one transaction with one log line. Refuses when the certificate
    /// changed state meanwhile.
    pub fn finish_refresh(
        &mut self,
        id: &str,
        refreshed: &crate::key_split::KeyShare,
        new_device: &str,
        seal_share: &ServiceShare,
        now: i64,
    ) -> Result<RefreshDone, BookError> {
        self.transaction(|tx| {
            let mut rec = load_record(tx, id)?.ok_or_else(|| BookError::Unknown(id.to_string()))?;
            if Self::state_refusal(&rec, now).is_some() || !rec.is_split() {
                return Err(BookError::NotSplit(id.to_string()));
            }
            let recovery_share = rec
                .recovery_share()
                .ok_or_else(|| BookError::Corrupt("恢复分量缺失".into()))?;
            rec.share = hex::encode(seal_share.as_ref());
            let old_device = rec.device_key.clone().unwrap_or_default();
            rec.device_key = Some(new_device.to_string());
            let rec = rec
                .with_split_share(refreshed)
                .map_err(|e| BookError::Corrupt(e.to_string()))?;
            store_record(tx, &rec)?;
            append_log(
                tx,
                id,
                UsageLogEntry {
                    detail: format!(
                        "密钥分量已刷新（公钥不变），旧手机分量失效；设备 {} → {}",
                        bounded(&old_device, 200),
                        bounded(new_device, 200)
                    ),
                    ..entry(&rec.holder, "换机：刷新密钥分量", "OK", now)
                },
            )?;
            Ok(RefreshDone {
                seal_share: seal_share.clone(),
                recovery_share,
            })
        })
    }
}

/// How long an enrolment code stays valid.
pub const ENROL_CODE_TTL_SECS: i64 = 600;

/// A pending enrolment (开通): what the administrator decided for a certificate id that does
/// not exist yet, and the one-time code the phone must present.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingEnrolment {
    /// Holder shown in logs (the administrator names it, not the phone).
    pub holder: String,
    /// PBKDF2 count of the PIN verifier the certificate will get.
    pub kdf_iterations: u32,
    /// When the administrator issued the code.
    pub issued_at: i64,
    code: PendingReset,
}

/// What a valid enrolment code gives: the administrator's decisions for the certificate.
#[derive(Debug, Clone)]
pub struct EnrolmentGrant {
    /// Holder for the log.
    pub holder: String,
    /// PBKDF2 count of the PIN verifier.
    pub kdf_iterations: u32,
    /// When the code was issued.
    pub issued_at: i64,
}

/// A fresh 16-digit enrolment code: unlike the 6-digit PIN-reset and 换机 codes it is not
/// backed by a PIN (the PIN is set by the enrolment), so it carries ~53 bits itself.
fn enrolment_code() -> String {
    let mut n = [0u8; 8];
    OsRng.fill_bytes(&mut n);
    format!("{:016}", u64::from_be_bytes(n) % 10_000_000_000_000_000)
}

impl CosignBook {
    /// `phone admin enrol-code`: a one-time code with which a phone may run the key
    /// generation (DKG) for the new certificate `id` with this service ([`ENROL_CODE_TTL_SECS`],
    /// five wrong codes void it; only its SHA-256 is kept). Replaces an earlier code for `id`;
    /// refuses an id the service already has.
    pub fn issue_enrolment_code(
        &mut self,
        id: &str,
        holder: &str,
        kdf_iterations: u32,
        now: i64,
    ) -> Result<String, BookError> {
        let code = enrolment_code();
        self.transaction(|tx| {
            if load_record(tx, id)?.is_some() {
                return Err(BookError::AlreadyEnrolled(id.to_string()));
            }
            let pending = PendingEnrolment {
                holder: bounded(holder, MAX_WHO).to_string(),
                kdf_iterations,
                issued_at: now,
                code: PendingReset {
                    code_sha256: hex::encode(Sha256::digest(code.as_bytes())),
                    expires_at: now + ENROL_CODE_TTL_SECS,
                    wrong_codes: 0,
                },
            };
            let json =
                serde_json::to_string(&pending).map_err(|e| BookError::Corrupt(e.to_string()))?;
            tx.execute(
                "INSERT OR REPLACE INTO enrolments(id, record) VALUES (?1, ?2)",
                params![id, json],
            )?;
            Ok(())
        })?;
        Ok(code)
    }

    /// The first call of an enrolment: checks the one-time code for `id` (a wrong code counts
    /// and is persisted; the right one is consumed, so a replay finds none).
    pub fn begin_enrolment(
        &mut self,
        id: &str,
        code: &str,
        now: i64,
    ) -> Result<EnrolmentGrant, ResetRefusal> {
        self.transaction(|tx| {
            let text: Option<String> = tx
                .query_row("SELECT record FROM enrolments WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(text) = text else {
                return Ok(Err(ResetRefusal::NoValidCode));
            };
            let mut pending: PendingEnrolment =
                serde_json::from_str(&text).map_err(|e| BookError::Corrupt(e.to_string()))?;
            if load_record(tx, id)?.is_some() {
                tx.execute("DELETE FROM enrolments WHERE id = ?1", [id])?;
                return Ok(Err(ResetRefusal::NoValidCode));
            }
            let mut slot = Some(pending.code.clone());
            let decision = check_one_time_code(&mut slot, code, now);
            match (&decision, slot) {
                (Ok(()), _) | (Err(_), None) => {
                    tx.execute("DELETE FROM enrolments WHERE id = ?1", [id])?;
                }
                (Err(_), Some(left)) => {
                    pending.code = left;
                    let json = serde_json::to_string(&pending)
                        .map_err(|e| BookError::Corrupt(e.to_string()))?;
                    tx.execute(
                        "UPDATE enrolments SET record = ?2 WHERE id = ?1",
                        params![id, json],
                    )?;
                }
            }
            Ok(decision.map(|()| EnrolmentGrant {
                holder: pending.holder,
                kdf_iterations: pending.kdf_iterations,
                issued_at: pending.issued_at,
            }))
        })
        .unwrap_or(Err(ResetRefusal::Unknown))
    }

    /// The last call of an enrolment: stores the new certificate's record (service share,
    /// PIN verifier, seal and recovery shares, device) and its first log line in one
    /// transaction. Refuses an id taken meanwhile.
    pub fn finish_enrolment(
        &mut self,
        rec: &CertRecord,
        detail: &str,
        now: i64,
    ) -> Result<(), BookError> {
        self.transaction(|tx| {
            if load_record(tx, &rec.id)?.is_some() {
                return Err(BookError::AlreadyEnrolled(rec.id.clone()));
            }
            let json = Zeroizing::new(
                serde_json::to_string(rec).map_err(|e| BookError::Corrupt(e.to_string()))?,
            );
            tx.execute(
                "INSERT INTO certs(id, record, log_head) VALUES (?1, ?2, ?3)",
                params![rec.id, json.as_str(), LOG_GENESIS],
            )?;
            append_log(
                tx,
                &rec.id,
                UsageLogEntry {
                    detail: detail.to_string(),
                    ..entry(&rec.holder, "开通：联合生成密钥并登记证书", "OK", now)
                },
            )
        })
    }
}

/// Writes `bytes` to `path` via a temporary file in the same folder, fsync, rename (mode 0600
/// on Unix because state files hold secrets).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let mut suffix = [0u8; 6];
    OsRng.fill_bytes(&mut suffix);
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> CosignBook {
        let mut b = CosignBook::in_memory().unwrap();
        b.insert(&CertRecord::new(
            "c",
            "fp",
            "张伟",
            i64::MAX / 2,
            "123456",
            CertShares {
                share: &crate::key_seal::new_share(),
                recovery_share: &crate::key_seal::new_share(),
            },
            1000,
        ))
        .unwrap();
        b
    }

    fn ctx(op: CosignOperation) -> OperationContext {
        OperationContext {
            operation: op,
            desktop: "d".into(),
            session_id: "s".into(),
            detail: String::new(),
            tender: None,
            bound_digest: None,
        }
    }

    #[test]
    fn five_wrong_pins_lock_and_the_right_pin_is_then_refused_until_reset() {
        let mut b = book();
        for i in 1..=4 {
            assert_eq!(
                b.authorise("c", "000000", &ctx(CosignOperation::Sign), "x", 0)
                    .err(),
                Some(RefusalReason::WrongPin {
                    remaining_tries: 5 - i as u8
                })
            );
        }
        assert_eq!(
            b.authorise("c", "000000", &ctx(CosignOperation::Sign), "x", 0)
                .err(),
            Some(RefusalReason::PinLocked)
        );
        assert_eq!(
            b.authorise("c", "123456", &ctx(CosignOperation::Sign), "x", 0)
                .err(),
            Some(RefusalReason::PinLocked)
        );
        b.admin("c", &AdminAction::Unlock, 0).unwrap();
        assert!(b
            .authorise("c", "123456", &ctx(CosignOperation::Sign), "x", 0)
            .is_ok());
        assert_eq!(b.verify_log("c").unwrap(), 8);
    }

    #[test]
    fn forgotten_pin_is_reset_with_a_one_time_code_and_the_old_pin_stops_working() {
        let mut b = book();
        assert_eq!(
            b.reset_pin("c", "000000", "654321", 0).err(),
            Some(ResetRefusal::NoValidCode)
        );
        let code = b
            .admin("c", &AdminAction::IssueResetCode, 0)
            .unwrap()
            .unwrap();
        let wrong = if code == "111111" { "222222" } else { "111111" };
        assert_eq!(
            b.reset_pin("c", wrong, "654321", 1).err(),
            Some(ResetRefusal::WrongCode { remaining_tries: 4 })
        );
        assert!(b.reset_pin("c", &code, "654321", 2).is_ok());
        assert!(b.reset_pin("c", &code, "654321", 3).is_err(), "single use");
        assert!(b
            .authorise("c", "654321", &ctx(CosignOperation::Sign), "x", 4)
            .is_ok());
        assert!(b
            .authorise("c", "123456", &ctx(CosignOperation::Sign), "x", 5)
            .is_err());
        let code = b
            .admin("c", &AdminAction::IssueResetCode, 10)
            .unwrap()
            .unwrap();
        assert_eq!(
            b.reset_pin("c", &code, "111111", 10 + RESET_CODE_TTL_SECS + 1)
                .err(),
            Some(ResetRefusal::NoValidCode),
            "expired code"
        );
    }

    fn issue_code(b: &mut CosignBook) -> (String, String) {
        let code = b
            .admin("c", &AdminAction::IssueResetCode, 0)
            .unwrap()
            .unwrap();
        let wrong = if code == "111111" { "222222" } else { "111111" };
        (code, wrong.to_string())
    }

    #[test]
    fn reset_pin_applies_every_state_check_before_the_code() {
        // (set-up, expected refusal) — each with a valid, pending code.
        let cases: Vec<(AdminAction, i64, ResetRefusal)> = vec![
            (AdminAction::Revoke, 1, ResetRefusal::CertificateRevoked),
            (AdminAction::Disable, 1, ResetRefusal::CertificateDisabled),
            (
                AdminAction::SetAuthorisationEnd { until: Some(0) },
                1,
                ResetRefusal::AuthorisationEnded { ended_at: 0 },
            ),
        ];
        for (action, now, expected) in cases {
            let mut b = book();
            let (code, _) = issue_code(&mut b);
            b.admin("c", &action, 0).unwrap();
            assert_eq!(
                b.reset_pin("c", &code, "654321", now).err(),
                Some(expected.clone())
            );
            // Nothing changed: the old PIN is still the PIN (for a usable certificate), the
            // code was not consumed by the refusal.
            assert!(b.record("c").unwrap().unwrap().pin.matches("123456"));
            assert!(b.record("c").unwrap().unwrap().pending_reset.is_some());
        }
        // Expired certificate.
        let mut b = CosignBook::in_memory().unwrap();
        b.insert(&CertRecord::new(
            "c",
            "fp",
            "赵磊",
            100,
            "123456",
            CertShares {
                share: &crate::key_seal::new_share(),
                recovery_share: &crate::key_seal::new_share(),
            },
            1000,
        ))
        .unwrap();
        let (code, _) = issue_code(&mut b);
        assert_eq!(
            b.reset_pin("c", &code, "654321", 101).err(),
            Some(ResetRefusal::CertificateExpired)
        );
        assert!(
            b.reset_pin("c", &code, "654321", 100).is_ok(),
            "until notAfter"
        );
        // A locked PIN is what a reset is for: allowed, and it clears the lock.
        let mut b = book();
        for _ in 0..MAX_WRONG_PINS {
            let _ = b.authorise("c", "000000", &ctx(CosignOperation::Sign), "x", 0);
        }
        assert_eq!(
            b.authorise("c", "123456", &ctx(CosignOperation::Sign), "x", 0)
                .err(),
            Some(RefusalReason::PinLocked)
        );
        let (code, _) = issue_code(&mut b);
        assert!(b.reset_pin("c", &code, "654321", 1).is_ok());
        assert!(b
            .authorise("c", "654321", &ctx(CosignOperation::Sign), "x", 2)
            .is_ok());
    }

    #[test]
    fn five_wrong_reset_codes_void_the_code_and_the_right_one_then_fails() {
        let mut b = book();
        let (code, wrong) = issue_code(&mut b);
        for remaining in (1..MAX_WRONG_PINS).rev() {
            assert_eq!(
                b.reset_pin("c", &wrong, "654321", 1).err(),
                Some(ResetRefusal::WrongCode {
                    remaining_tries: remaining
                })
            );
        }
        assert_eq!(
            b.reset_pin("c", &wrong, "654321", 1).err(),
            Some(ResetRefusal::NoValidCode),
            "the fifth wrong code voids it"
        );
        assert_eq!(
            b.reset_pin("c", &code, "654321", 1).err(),
            Some(ResetRefusal::NoValidCode),
            "the right code no longer works"
        );
        assert!(b.record("c").unwrap().unwrap().pin.matches("123456"));
        // A wrong code does not clear the wrong-PIN counter either.
        let _ = b.authorise("c", "000000", &ctx(CosignOperation::Sign), "x", 2);
        let (_, wrong) = issue_code(&mut b);
        let _ = b.reset_pin("c", &wrong, "654321", 3);
        assert_eq!(b.record("c").unwrap().unwrap().wrong_pins, 1);
    }

    #[test]
    fn a_correct_pin_clears_the_wrong_pin_counter() {
        let mut b = book();
        for _ in 0..MAX_WRONG_PINS - 1 {
            let _ = b.authorise("c", "000000", &ctx(CosignOperation::Sign), "x", 0);
        }
        assert_eq!(
            b.record("c").unwrap().unwrap().wrong_pins,
            MAX_WRONG_PINS - 1
        );
        assert!(b
            .authorise("c", "123456", &ctx(CosignOperation::Sign), "x", 0)
            .is_ok());
        assert_eq!(b.record("c").unwrap().unwrap().wrong_pins, 0);
        // So four more wrong PINs do not lock (the counter started again).
        for _ in 0..MAX_WRONG_PINS - 1 {
            let _ = b.authorise("c", "000000", &ctx(CosignOperation::Sign), "x", 0);
        }
        assert!(b
            .authorise("c", "123456", &ctx(CosignOperation::Sign), "x", 0)
            .is_ok());
    }

    #[test]
    fn pin_verifier_refuses_tampered_hashes_and_iteration_counts() {
        let v = PinVerifier::new("123456", 10);
        assert!(v.matches("123456"));
        assert!(!v.matches("123457"));
        // Two bytes of the stored hash flipped by the same mask: a comparison that XORs the
        // differences together (instead of OR) would call this equal.
        let mut raw = hex::decode(&v.hash).unwrap();
        raw[0] ^= 0x5a;
        raw[1] ^= 0x5a;
        let twice = PinVerifier {
            hash: hex::encode(&raw),
            ..v.clone()
        };
        assert!(!twice.matches("123456"));
        // A stored iteration count of 0 (or above the maximum) is refused, not run.
        for iterations in [0, crate::key_seal::MAX_KDF_ITERATIONS + 1] {
            let bad = PinVerifier {
                iterations,
                ..v.clone()
            };
            assert!(!bad.matches("123456"));
        }
        let short = PinVerifier {
            hash: v.hash[..62].to_string(),
            ..v.clone()
        };
        assert!(!short.matches("123456"));
    }

    #[test]
    fn log_entries_name_the_operation_in_chinese() {
        let mut b = book();
        for op in [
            CosignOperation::Auth,
            CosignOperation::Sign,
            CosignOperation::Generate,
            CosignOperation::Decrypt,
        ] {
            let _ = b.authorise("c", "123456", &ctx(op), "x", 0);
        }
        let log = b.log("c").unwrap().0;
        assert!(log.iter().all(|e| e.desktop == "d" && e.session_id == "s"));
        let names: Vec<String> = b
            .log("c")
            .unwrap()
            .0
            .into_iter()
            .map(|e| e.operation)
            .collect();
        assert_eq!(names, ["扫码认证", "签章", "生成标书", "解密"]);
    }

    #[test]
    fn bounded_cuts_at_a_character_boundary_and_keeps_short_text() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abc", 2), "ab");
        assert_eq!(bounded("", 0), "");
        // "签" is 3 bytes: cutting at 4 or 5 keeps one character, never half of one.
        assert_eq!(bounded("签名", 4), "签");
        assert_eq!(bounded("签名", 5), "签");
        assert_eq!(bounded("签名", 6), "签名");
        assert_eq!(bounded("签名", 2), "");
    }

    #[test]
    fn reset_refusals_are_logged_with_their_code_and_the_grant_carries_both_shares() {
        let mut b = CosignBook::in_memory().unwrap();
        let share = crate::key_seal::new_share();
        let recovery_share = crate::key_seal::new_share();
        b.insert(&CertRecord::new(
            "c",
            "fp",
            "张伟",
            i64::MAX / 2,
            "123456",
            CertShares {
                share: &share,
                recovery_share: &recovery_share,
            },
            1000,
        ))
        .unwrap();
        let (code, wrong) = issue_code(&mut b);
        let _ = b.reset_pin("c", &wrong, "654321", 1);
        let grant = b.reset_pin("c", &code, "654321", 2).unwrap();
        assert_eq!(*grant.share, *share);
        assert_eq!(*grant.recovery_share, *recovery_share);
        b.admin("c", &AdminAction::Revoke, 3).unwrap();
        let _ = b.reset_pin("c", &code, "111111", 4);
        let results: Vec<String> = b
            .log("c")
            .unwrap()
            .0
            .into_iter()
            .filter(|e| e.operation.contains("重置 PIN"))
            .map(|e| e.result)
            .collect();
        assert_eq!(results, ["wrong_code", "OK", "certificate_revoked"]);
    }

    #[test]
    fn revoked_cannot_decrypt_and_cannot_be_enabled_again() {
        let mut b = book();
        b.admin("c", &AdminAction::Revoke, 0).unwrap();
        assert_eq!(
            b.authorise("c", "123456", &ctx(CosignOperation::Decrypt), "x", 0)
                .err(),
            Some(RefusalReason::CertificateRevoked)
        );
        assert!(matches!(
            b.admin("c", &AdminAction::Enable, 0),
            Err(BookError::RevokedIsFinal)
        ));
    }

    /// A platform (self-signed P-256 certificate + key) and a tender it signed.
    struct Platform {
        cert_pem: String,
        signer: bidseal_bid::tender::PlatformSigner,
    }

    impl Platform {
        fn new() -> Self {
            let ca = crate::pki::TestCa::generate("ca-1", "某交易平台").unwrap();
            Self {
                cert_pem: crate::pki::cert_pem(&ca.cert).unwrap(),
                signer: bidseal_bid::tender::PlatformSigner::from_pkcs8_pem(ca.key_pem().unwrap())
                    .unwrap(),
            }
        }

        fn pins(&self) -> PlatformPins {
            PlatformPins::new(vec![bidseal_bid::tender::PlatformCertificate::from_pem(
                &self.cert_pem,
            )
            .unwrap()])
        }

        /// A signed tender opening at `opens` (Unix seconds).
        fn tender(&self, opens: i64) -> TenderEvidence {
            let manifest = serde_json::json!({
                "format": "bidseal-tender/1",
                "project": {"id": "ZB-2026-001", "name": "某工程", "lot": {"id": "BD01", "name": "第一标段"}},
                "opening_time": rfc3339(opens),
            })
            .to_string()
            .into_bytes();
            let signature = self.signer.sign(&manifest);
            TenderEvidence {
                manifest: manifest.into(),
                signature: signature.into(),
            }
        }
    }

    fn decrypt(
        tender: Option<TenderEvidence>,
        digest: Option<&str>,
        session: &str,
    ) -> OperationContext {
        OperationContext {
            tender,
            bound_digest: digest.map(str::to_string),
            session_id: session.into(),
            ..ctx(CosignOperation::Decrypt)
        }
    }

    fn unverified(r: Result<ServiceShare, RefusalReason>) -> bool {
        matches!(r, Err(RefusalReason::OpeningTimeUnverified { .. }))
    }

    #[test]
    fn opening_decrypt_needs_a_tender_signed_by_a_pinned_platform_and_the_service_clock() {
        let platform = Platform::new();
        let mut b = book();
        b.platform_pins = platform.pins();
        let open = 1_800_000_000;
        let good = platform.tender(open);
        // The service's clock decides: one second before the opening is refused.
        assert_eq!(
            b.authorise(
                "c",
                "123456",
                &decrypt(Some(good.clone()), None, "s"),
                "x",
                open - 1
            )
            .err(),
            Some(RefusalReason::BeforeOpeningTime {
                opens_at: open as u64
            })
        );
        assert!(b
            .authorise(
                "c",
                "123456",
                &decrypt(Some(good.clone()), None, "s"),
                "x",
                open
            )
            .is_ok());
        let log = b.log("c").unwrap().0;
        assert!(
            log.last().unwrap().detail.contains("ZB-2026-001"),
            "{log:?}"
        );

        // A tender signed by another key (a forged platform) is refused, even past the time.
        let forger = Platform::new();
        assert!(unverified(b.authorise(
            "c",
            "123456",
            &decrypt(Some(forger.tender(0)), None, "s"),
            "x",
            open
        )));
        // The pinned platform's signature over different bytes (opening moved earlier).
        let mut moved = platform.tender(open);
        moved.manifest = platform.tender(0).manifest;
        assert!(unverified(b.authorise(
            "c",
            "123456",
            &decrypt(Some(moved), None, "s"),
            "x",
            open - 1
        )));
        // No tender at all.
        assert!(unverified(b.authorise(
            "c",
            "123456",
            &decrypt(None, None, "s"),
            "x",
            open
        )));
        // Signed, but not a manifest with an opening time.
        let mut junk = platform.tender(0);
        junk.manifest = b"{\"opening_time\": \"tomorrow\"}".to_vec().into();
        junk.signature = platform.signer.sign(&junk.manifest.0).into();
        assert!(unverified(b.authorise(
            "c",
            "123456",
            &decrypt(Some(junk), None, "s"),
            "x",
            open
        )));
        // A wrong PIN is still a wrong PIN, whatever the tender says.
        assert!(matches!(
            b.authorise("c", "000000", &decrypt(Some(good), None, "s"), "x", open),
            Err(RefusalReason::WrongPin { .. })
        ));
    }

    #[test]
    fn without_a_pinned_platform_every_opening_decrypt_is_refused_but_trial_works() {
        let platform = Platform::new();
        let mut b = book();
        assert!(b.platform_pins.is_empty());
        let r = b.authorise(
            "c",
            "123456",
            &decrypt(Some(platform.tender(0)), None, "s"),
            "x",
            1_000,
        );
        match r {
            Err(RefusalReason::OpeningTimeUnverified { detail }) => {
                assert!(detail.contains("未配置交易平台证书"), "{detail}")
            }
            other => panic!("{:?}", other.err()),
        }
        let gen = OperationContext {
            bound_digest: Some("ab".repeat(32)),
            ..ctx(CosignOperation::Generate)
        };
        b.authorise("c", "123456", &gen, "x", 1_000).unwrap();
        assert!(b
            .authorise(
                "c",
                "123456",
                &decrypt(None, Some(&"ab".repeat(32)), "s"),
                "x",
                1_001
            )
            .is_ok());
        assert_eq!(
            b.log("c").unwrap().0.last().unwrap().operation,
            DECRYPT_TRIAL
        );
    }

    #[test]
    fn trial_decrypt_only_for_the_digest_generated_in_this_session_within_ten_minutes() {
        let mut b = book();
        b.insert(&CertRecord::new(
            "other",
            "fp2",
            "王芳",
            i64::MAX / 2,
            "123456",
            CertShares {
                share: &crate::key_seal::new_share(),
                recovery_share: &crate::key_seal::new_share(),
            },
            1000,
        ))
        .unwrap();
        let digest = "cd".repeat(32);
        let t0 = 5_000;
        let gen = OperationContext {
            bound_digest: Some(digest.clone()),
            session_id: "s".into(),
            ..ctx(CosignOperation::Generate)
        };
        b.authorise("c", "123456", &gen, "x", t0).unwrap();
        // Another digest, another session, another certificate: refused.
        assert!(unverified(b.authorise(
            "c",
            "123456",
            &decrypt(None, Some(&"ce".repeat(32)), "s"),
            "x",
            t0 + 1
        )));
        assert!(unverified(b.authorise(
            "c",
            "123456",
            &decrypt(None, Some(&digest), "s2"),
            "x",
            t0 + 1
        )));
        assert!(unverified(b.authorise(
            "other",
            "123456",
            &decrypt(None, Some(&digest), "s"),
            "x",
            t0 + 1
        )));
        // Within the window (inclusive) it works, after it not.
        assert!(b
            .authorise(
                "c",
                "123456",
                &decrypt(None, Some(&digest), "s"),
                "x",
                t0 + super::super::opening::TRIAL_WINDOW_SECS
            )
            .is_ok());
        assert!(unverified(b.authorise(
            "c",
            "123456",
            &decrypt(None, Some(&digest), "s"),
            "x",
            t0 + super::super::opening::TRIAL_WINDOW_SECS + 1
        )));
        // A refused generate (wrong PIN) records nothing.
        let gen2 = OperationContext {
            bound_digest: Some("ef".repeat(32)),
            session_id: "s3".into(),
            ..ctx(CosignOperation::Generate)
        };
        assert!(b.authorise("c", "000000", &gen2, "x", t0).is_err());
        assert!(unverified(b.authorise(
            "c",
            "123456",
            &decrypt(None, Some(&"ef".repeat(32)), "s3"),
            "x",
            t0 + 1
        )));
    }

    #[test]
    fn ended_authorisation_and_disabled_are_refused() {
        let mut b = book();
        b.admin(
            "c",
            &AdminAction::SetAuthorisationEnd { until: Some(10) },
            0,
        )
        .unwrap();
        assert!(matches!(
            b.authorise("c", "123456", &ctx(CosignOperation::Auth), "x", 11),
            Err(RefusalReason::AuthorisationEnded { .. })
        ));
        b.admin("c", &AdminAction::SetAuthorisationEnd { until: None }, 0)
            .unwrap();
        b.admin("c", &AdminAction::Disable, 0).unwrap();
        assert_eq!(
            b.authorise("c", "123456", &ctx(CosignOperation::Auth), "x", 11)
                .err(),
            Some(RefusalReason::CertificateDisabled)
        );
    }

    #[test]
    fn state_db_round_trips_without_the_pin_and_keeps_the_trial_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut b = CosignBook::create(&path).unwrap();
            b.insert(&book().record("c").unwrap().unwrap()).unwrap();
            let gen = OperationContext {
                bound_digest: Some("ab".repeat(32)),
                ..ctx(CosignOperation::Generate)
            };
            b.authorise("c", "123456", &gen, "x", 100).unwrap();
        }
        assert!(CosignBook::create(&path).is_err(), "never overwritten");
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(6).any(|w| w == b"123456"));
        let mut b = CosignBook::load(&path).unwrap();
        assert!(b.record("c").unwrap().unwrap().pin.matches("123456"));
        // The generate survives a restart: trial decryption still allowed.
        assert!(b
            .authorise(
                "c",
                "123456",
                &decrypt(None, Some(&"ab".repeat(32)), "s"),
                "x",
                101
            )
            .is_ok());
        assert_eq!(b.verify_log("c").unwrap(), 2);
    }

    #[test]
    fn an_edited_removed_or_reordered_log_entry_breaks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut b = CosignBook::create(&path).unwrap();
        b.insert(&book().record("c").unwrap().unwrap()).unwrap();
        for (i, pin) in ["123456", "000000", "123456", "123456"].iter().enumerate() {
            let _ = b.authorise("c", pin, &ctx(CosignOperation::Sign), "李娜", i as i64);
        }
        assert_eq!(b.verify_log("c").unwrap(), 4);
        let edit = |sql: &str| {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(sql).unwrap();
        };
        // Someone with database access turns the wrong PIN into OK.
        edit("UPDATE log SET result = 'OK' WHERE result = 'wrong_pin'");
        assert!(matches!(
            b.verify_log("c"),
            Err(BookError::Chain(ChainBroken { seq: 2, .. }))
        ));
        edit("UPDATE log SET result = 'wrong_pin' WHERE seq = 2");
        assert_eq!(b.verify_log("c").unwrap(), 4, "restored");
        // Swapping two entries' times.
        edit("UPDATE log SET at = 9 WHERE seq = 3");
        assert!(matches!(
            b.verify_log("c"),
            Err(BookError::Chain(ChainBroken { seq: 3, .. }))
        ));
        edit("UPDATE log SET at = 2 WHERE seq = 3");
        // Removing the last entry: the chain itself holds, the head does not.
        edit("DELETE FROM log WHERE seq = 4");
        assert!(matches!(
            b.verify_log("c"),
            Err(BookError::Chain(ChainBroken { seq: 0, .. }))
        ));
        // Removing one in the middle.
        edit("DELETE FROM log WHERE seq = 2");
        assert!(matches!(
            b.verify_log("c"),
            Err(BookError::Chain(ChainBroken { seq: 3, .. }))
        ));
    }

    #[test]
    fn oversized_details_are_cut_and_the_state_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut b = CosignBook::create(&path).unwrap();
        // Size, not durability, is measured here: skip the fsync per transaction.
        b.conn.pragma_update(None, "synchronous", "OFF").unwrap();
        let mut rec = book().record("c").unwrap().unwrap();
        rec.pin = PinVerifier::new("123456", 1);
        b.insert(&rec).unwrap();
        let huge = OperationContext {
            detail: "签".repeat(64 * 1024 / 3),
            desktop: "d".repeat(64 * 1024),
            session_id: "s".repeat(64 * 1024),
            ..ctx(CosignOperation::Sign)
        };
        let who = "w".repeat(64 * 1024);
        let n = 10_000;
        let started = std::time::Instant::now();
        for i in 0..n {
            b.authorise("c", "123456", &huge, &who, i).unwrap();
        }
        let (log, _) = b.log("c").unwrap();
        assert_eq!(log.len(), n as usize);
        assert!(log.iter().all(|e| e.detail.len() <= MAX_DETAIL
            && e.desktop.len() <= MAX_WHO
            && e.who.len() <= MAX_WHO
            && e.session_id.len() <= MAX_WHO));
        drop(b);
        let size: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        // ≤ 2.5 KiB per entry (1 KiB detail + 4 × 256 B + hashes), not 4 × 64 KiB.
        assert!(
            size < n as u64 * 2560,
            "state is {size} bytes for {n} calls"
        );
        println!(
            "state.db after {n} oversized calls: {size} bytes, {:?}",
            started.elapsed()
        );
    }
}

#[cfg(test)]
mod hostile_file_tests {
    use super::*;

    #[test]
    fn garbled_or_foreign_state_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        assert!(matches!(CosignBook::load(&path), Err(BookError::Io { .. })));
        std::fs::write(&path, b"{\"certs\": {\"x\": 1}}").unwrap();
        assert!(matches!(
            CosignBook::load(&path),
            Err(BookError::Corrupt(_))
        ));
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            CosignBook::load(&path),
            Err(BookError::Corrupt(_))
        ));
        // A valid SQLite database that is not ours.
        std::fs::remove_file(&path).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        assert!(matches!(
            CosignBook::load(&path),
            Err(BookError::Corrupt(_))
        ));
        // Ours, with a record that is not JSON: refused when used, not a panic.
        std::fs::remove_file(&path).unwrap();
        let mut b = CosignBook::create(&path).unwrap();
        b.conn
            .execute(
                "INSERT INTO certs(id, record, log_head) VALUES ('x', 'nope', '')",
                [],
            )
            .unwrap();
        assert!(matches!(b.record("x"), Err(BookError::Corrupt(_))));
        let ctx = OperationContext {
            operation: CosignOperation::Sign,
            desktop: String::new(),
            session_id: String::new(),
            detail: String::new(),
            tender: None,
            bound_digest: None,
        };
        assert_eq!(
            b.authorise("x", "123456", &ctx, "x", 0).err(),
            Some(RefusalReason::CoSigningUnavailable)
        );
    }
}
