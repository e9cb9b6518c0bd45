//! The co-signing service's book of certificates: state, PIN verifier, wrong-PIN counter,
//! service key share and usage log (证书日志), and the one decision function every operation
//! goes through, [`CosignBook::authorise`].
//!
//! Guarantees:
//! - The PIN is never stored: only a PBKDF2-HMAC-SHA256 verifier with a per-certificate salt,
//!   compared in constant time.
//! - Order of checks (each refusal is logged with its code): unknown → revoked (注销) →
//!   certificate expired → disabled (已禁用) → staff authorisation ended (授权结束时间) →
//!   PIN locked → PIN wrong (counts; the 5th wrong PIN locks) → decryption before the opening
//!   time. Only when all pass is the share released.
//! - Every call to `authorise` and every admin action appends one log entry.
//! - [`CosignBook::save`] writes atomically (temp file in the same folder, fsync, rename).
//!
//! It does not authenticate the phone device itself (any caller with the PIN is the holder)
//! and does not rate-limit by network address.

pub use super::opening::TenderEvidence;
use super::opening::{GenerateLedger, PlatformPins};
use crate::key_seal::ServiceShare;
pub use bidseal_scan::RefusalReason;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
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
    /// Public device key (hex SEC1) of the phone this certificate is bound to; calls not
    /// signed by it are refused before the PIN is looked at ([`super::device`]).
    #[serde(default)]
    pub device_key: Option<String>,
    /// Usage log, oldest first.
    pub log: Vec<UsageLogEntry>,
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
            device_key: None,
            log: Vec::new(),
        }
    }

    /// Binds the record to the phone with this public device key (hex SEC1).
    pub fn with_device(mut self, public_hex: &str) -> Self {
        self.device_key = Some(public_hex.to_string());
        self
    }

    fn share(&self) -> Option<ServiceShare> {
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
    /// The new PIN is not 6 digits.
    #[error("新的证书密码（PIN）必须是 6 位数字")]
    BadPin,
    /// Unknown certificate.
    #[error("协同签名服务中没有这本证书")]
    Unknown,
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
}

/// The whole book, persisted as `state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CosignBook {
    /// Records by keystore id.
    pub certs: BTreeMap<String, CertRecord>,
    /// Platform certificates trusted for opening times (configuration, not persisted).
    #[serde(skip)]
    pub platform_pins: PlatformPins,
    /// Recent `generate` authorisations, for trial decryption (not persisted).
    #[serde(skip)]
    generated: GenerateLedger,
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

impl CosignBook {
    /// Decides one operation at time `now`; releases the share only on success. Logs always.
    pub fn authorise(
        &mut self,
        id: &str,
        pin: &str,
        ctx: &OperationContext,
        who: &str,
        now: i64,
    ) -> Result<ServiceShare, RefusalReason> {
        let Some(rec) = self.certs.get_mut(id) else {
            return Err(RefusalReason::NoSuitableCertificate);
        };
        let mut operation = ctx.operation.zh_name().to_string();
        let mut detail = bounded(&ctx.detail, MAX_DETAIL).to_string();
        let decision = Self::decide(rec, pin, now).and_then(|share| {
            match ctx.operation {
                CosignOperation::Decrypt => {
                    let note = Self::decrypt_allowed(
                        &self.platform_pins,
                        &self.generated,
                        &rec.id,
                        ctx,
                        now,
                    )?;
                    if note == DECRYPT_TRIAL {
                        operation = DECRYPT_TRIAL.to_string();
                    } else {
                        detail = format!("{}；{note}", bounded(&detail, MAX_DETAIL / 2));
                    }
                }
                CosignOperation::Generate => {
                    if let Some(digest) = ctx.bound_digest.as_deref() {
                        self.generated.record(&rec.id, &ctx.session_id, digest, now);
                    }
                }
                CosignOperation::Auth | CosignOperation::Sign => {}
            }
            Ok(share)
        });
        rec.log.push(UsageLogEntry {
            at: now,
            who: bounded(who, MAX_WHO).to_string(),
            operation,
            desktop: bounded(&ctx.desktop, MAX_WHO).to_string(),
            session_id: bounded(&ctx.session_id, MAX_WHO).to_string(),
            detail,
            result: match &decision {
                Ok(_) => "OK".to_string(),
                Err(r) => r.code().to_string(),
            },
        });
        decision
    }

    /// Decides whether a decrypt may happen now (after the PIN passed): a trial decryption of
    /// a bid this certificate just generated in this session, or the opening time of a tender
    /// signed by a pinned platform reached on the service's clock. Returns a note for the log.
    fn decrypt_allowed(
        pins: &PlatformPins,
        generated: &GenerateLedger,
        cert: &str,
        ctx: &OperationContext,
        now: i64,
    ) -> Result<String, RefusalReason> {
        if let Some(digest) = ctx.bound_digest.as_deref() {
            if generated.allows_trial(cert, &ctx.session_id, digest, now) {
                return Ok(DECRYPT_TRIAL.to_string());
            }
        }
        let Some(tender) = ctx.tender.as_ref() else {
            return Err(RefusalReason::OpeningTimeUnverified {
                detail: if ctx.bound_digest.is_some() {
                    "本会话中没有用该证书生成这份投标文件的记录（试解密只能在生成后 10 分钟内、同一次扫码会话中进行）".into()
                } else {
                    "请求中没有交易平台签名的招标文件，无法确认开标时间".into()
                },
            });
        };
        let facts = pins.verify(tender, now)?;
        if now < facts.opening_time {
            return Err(RefusalReason::BeforeOpeningTime {
                opens_at: facts.opening_time.max(0) as u64,
            });
        }
        Ok(format!(
            "开标解密：项目 {} 标段 {}，开标时间 {}（平台签名已验证）",
            bounded(&facts.project_id, 128),
            bounded(&facts.lot_id, 64),
            rfc3339(facts.opening_time)
        ))
    }

    fn decide(rec: &mut CertRecord, pin: &str, now: i64) -> Result<ServiceShare, RefusalReason> {
        if rec.state == CertState::Revoked {
            return Err(RefusalReason::CertificateRevoked);
        }
        if now > rec.not_after {
            return Err(RefusalReason::CertificateExpired);
        }
        if rec.state == CertState::Disabled {
            return Err(RefusalReason::CertificateDisabled);
        }
        if let Some(until) = rec.authorised_until {
            if now > until {
                return Err(RefusalReason::AuthorisationEnded {
                    ended_at: until.max(0) as u64,
                });
            }
        }
        if rec.wrong_pins >= MAX_WRONG_PINS {
            return Err(RefusalReason::PinLocked);
        }
        if !rec.pin.matches(pin) {
            rec.wrong_pins += 1;
            if rec.wrong_pins >= MAX_WRONG_PINS {
                return Err(RefusalReason::PinLocked);
            }
            return Err(RefusalReason::WrongPin {
                remaining_tries: (MAX_WRONG_PINS - rec.wrong_pins) as u8,
            });
        }
        rec.wrong_pins = 0;
        rec.share().ok_or(RefusalReason::NoSuitableCertificate)
    }

    /// Applies an admin action and logs it. `IssueResetCode` returns the code.
    pub fn admin(
        &mut self,
        id: &str,
        action: &AdminAction,
        now: i64,
    ) -> Result<Option<String>, BookError> {
        let mut output = None;
        let rec = self
            .certs
            .get_mut(id)
            .ok_or_else(|| BookError::Unknown(id.to_string()))?;
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
                let mut n = [0u8; 4];
                OsRng.fill_bytes(&mut n);
                let code = format!("{:06}", u32::from_be_bytes(n) % 1_000_000);
                rec.pending_reset = Some(PendingReset {
                    code_sha256: hex::encode(Sha256::digest(code.as_bytes())),
                    expires_at: now + RESET_CODE_TTL_SECS,
                    wrong_codes: 0,
                });
                output = Some(code);
                "签发证书密码重置验证码".to_string()
            }
        };
        rec.log.push(UsageLogEntry {
            at: now,
            who: "管理员".to_string(),
            operation: what,
            desktop: String::new(),
            session_id: String::new(),
            detail: String::new(),
            result: "OK".to_string(),
        });
        Ok(output)
    }

    /// 忘记证书密码: checks the one-time code, sets the new PIN, clears the lock, and releases
    /// both shares so the phone can re-seal its key under the new PIN. Logged either way.
    pub fn reset_pin(
        &mut self,
        id: &str,
        code: &str,
        new_pin: &str,
        now: i64,
    ) -> Result<ResetGrant, ResetRefusal> {
        let rec = self.certs.get_mut(id).ok_or(ResetRefusal::Unknown)?;
        let decision = Self::decide_reset(rec, code, new_pin, now);
        rec.log.push(UsageLogEntry {
            at: now,
            who: rec.holder.clone(),
            operation: "忘记证书密码：重置 PIN".to_string(),
            desktop: String::new(),
            session_id: String::new(),
            detail: String::new(),
            result: match &decision {
                Ok(_) => "OK".to_string(),
                Err(r) => serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
                    .unwrap_or_default(),
            },
        });
        decision
    }

    fn decide_reset(
        rec: &mut CertRecord,
        code: &str,
        new_pin: &str,
        now: i64,
    ) -> Result<ResetGrant, ResetRefusal> {
        if rec.state == CertState::Revoked {
            return Err(ResetRefusal::CertificateRevoked);
        }
        if new_pin.len() != 6 || !new_pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ResetRefusal::BadPin);
        }
        let Some(pending) = rec.pending_reset.as_mut() else {
            return Err(ResetRefusal::NoValidCode);
        };
        if now > pending.expires_at || pending.wrong_codes >= MAX_WRONG_PINS {
            rec.pending_reset = None;
            return Err(ResetRefusal::NoValidCode);
        }
        let got = hex::encode(Sha256::digest(code.trim().as_bytes()));
        let same = got.len() == pending.code_sha256.len()
            && got
                .bytes()
                .zip(pending.code_sha256.bytes())
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                == 0;
        if !same {
            pending.wrong_codes += 1;
            let remaining = MAX_WRONG_PINS.saturating_sub(pending.wrong_codes);
            if remaining == 0 {
                rec.pending_reset = None;
                return Err(ResetRefusal::NoValidCode);
            }
            return Err(ResetRefusal::WrongCode {
                remaining_tries: remaining,
            });
        }
        let (Some(share), Some(recovery_share)) = (rec.share(), rec.recovery_share()) else {
            return Err(ResetRefusal::Unknown);
        };
        let iterations = rec.pin.iterations;
        rec.pin = PinVerifier::new(new_pin, iterations);
        rec.wrong_pins = 0;
        rec.pending_reset = None;
        Ok(ResetGrant {
            share,
            recovery_share,
        })
    }

    /// Loads `state.json`.
    pub fn load(path: &Path) -> Result<Self, BookError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| BookError::Io {
            path: path.display().to_string(),
            source,
        })?);
        serde_json::from_slice(&bytes).map_err(|e| BookError::Corrupt(e.to_string()))
    }

    /// Saves atomically (temp + fsync + rename).
    pub fn save(&self, path: &Path) -> Result<(), BookError> {
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(self).map_err(|e| BookError::Corrupt(e.to_string()))?,
        );
        write_atomic(path, &json).map_err(|source| BookError::Io {
            path: path.display().to_string(),
            source,
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
        let mut b = CosignBook::default();
        b.certs.insert(
            "c".into(),
            CertRecord::new(
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
            ),
        );
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
        assert_eq!(b.certs["c"].log.len(), 8);
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
        let log = &b.certs["c"].log;
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
        assert_eq!(b.certs["c"].log.last().unwrap().operation, DECRYPT_TRIAL);
    }

    #[test]
    fn trial_decrypt_only_for_the_digest_generated_in_this_session_within_ten_minutes() {
        let mut b = book();
        b.certs.insert(
            "other".into(),
            CertRecord::new(
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
            ),
        );
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
    fn state_file_round_trips_without_the_pin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        book().save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("123456"));
        let b = CosignBook::load(&path).unwrap();
        assert!(b.certs["c"].pin.matches("123456"));
    }
}

#[cfg(test)]
mod hostile_file_tests {
    use super::*;

    #[test]
    fn garbled_state_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
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
    }
}
