//! Why the phone (its user or the co-signing service behind it) refused an operation.
//!
//! A refusal travels inside an authenticated response, so the desktop can trust that the phone
//! said it. Each reason has a stable `code()` and a zh-CN `message_zh()` the desktop shows as is.
//! Not for transport failures: those are [`crate::ScanError`].

use serde::{Deserialize, Serialize};

/// Why an operation was refused. Serialised as `{"code": "...", ...fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RefusalReason {
    /// The user pressed "拒绝" on the phone.
    RejectedByUser,
    /// Wrong certificate PIN; `remaining_tries` more before it locks.
    WrongPin { remaining_tries: u8 },
    /// Too many wrong PINs: the certificate PIN is locked.
    PinLocked,
    /// The enterprise administrator disabled the certificate (已禁用).
    CertificateDisabled,
    /// The certificate was revoked (注销) and can no longer sign or decrypt.
    CertificateRevoked,
    /// The certificate's validity period is over (已失效).
    CertificateExpired,
    /// The staff member's authorisation to use the certificate ended (授权结束时间), unix seconds.
    AuthorisationEnded { ended_at: u64 },
    /// Decryption refused before the tender's opening time, unix seconds.
    BeforeOpeningTime { opens_at: u64 },
    /// None of the phone's certificates is a recipient of this bid file.
    NotARecipient,
    /// The phone holds no certificate suitable for this request (kind, platform, region).
    NoSuitableCertificate,
    /// The certificate has no seal image of the requested kind.
    SealNotAvailable { seal_kind: crate::SealKind },
    /// The certificate does not apply to this platform or region (适用区域 / 互认).
    PlatformNotAllowed,
    /// The co-signing service could not be reached or failed.
    CoSigningUnavailable,
    /// The request is not acceptable (for example an empty hash list); `detail` says why.
    InvalidRequest { detail: String },
    /// The tender the desktop sent for decryption did not verify under a platform certificate
    /// pinned on the phone (forged, changed or unknown platform); `detail` says which check.
    TenderUnverified { detail: String },
    /// The request breaks a rule of its operation in a way an honest desktop never does (a
    /// "seal" that is no PDF signature, another bid's keys, session mode for decryption...);
    /// `detail` says what.
    SuspiciousRequest { detail: String },
    /// The co-signing service could not establish the opening time itself (no platform-signed
    /// tender, a signature it does not trust, no trial-decryption record); `detail` says why.
    OpeningTimeUnverified { detail: String },
    /// The call did not come from the phone the certificate is bound to (device signature
    /// missing, wrong or stale); refused before the PIN is looked at.
    DeviceNotRecognised,
    /// Too many attempts from this phone or on this certificate; retry after the given seconds.
    TooManyAttempts { retry_after_secs: u64 },
}

impl RefusalReason {
    /// Stable machine-readable code (the same string as the serialised `code` tag).
    pub fn code(&self) -> &'static str {
        match self {
            RefusalReason::RejectedByUser => "rejected_by_user",
            RefusalReason::WrongPin { .. } => "wrong_pin",
            RefusalReason::PinLocked => "pin_locked",
            RefusalReason::CertificateDisabled => "certificate_disabled",
            RefusalReason::CertificateRevoked => "certificate_revoked",
            RefusalReason::CertificateExpired => "certificate_expired",
            RefusalReason::AuthorisationEnded { .. } => "authorisation_ended",
            RefusalReason::BeforeOpeningTime { .. } => "before_opening_time",
            RefusalReason::NotARecipient => "not_a_recipient",
            RefusalReason::NoSuitableCertificate => "no_suitable_certificate",
            RefusalReason::SealNotAvailable { .. } => "seal_not_available",
            RefusalReason::PlatformNotAllowed => "platform_not_allowed",
            RefusalReason::CoSigningUnavailable => "co_signing_unavailable",
            RefusalReason::InvalidRequest { .. } => "invalid_request",
            RefusalReason::TenderUnverified { .. } => "tender_unverified",
            RefusalReason::SuspiciousRequest { .. } => "suspicious_request",
            RefusalReason::OpeningTimeUnverified { .. } => "opening_time_unverified",
            RefusalReason::DeviceNotRecognised => "device_not_recognised",
            RefusalReason::TooManyAttempts { .. } => "too_many_attempts",
        }
    }

    /// The zh-CN message the desktop shows; it says what happened and what to do.
    pub fn message_zh(&self) -> String {
        match self {
            RefusalReason::RejectedByUser => "手机端用户已拒绝本次操作".into(),
            RefusalReason::WrongPin { remaining_tries } => {
                format!(
                    "证书口令（PIN）错误，还可尝试 {remaining_tries} 次，请重新扫码并输入正确口令"
                )
            }
            RefusalReason::PinLocked => {
                "证书口令（PIN）错误次数过多已锁定，请在手机端重置证书口令后再试".into()
            }
            RefusalReason::CertificateDisabled => {
                "证书已被单位管理员禁用（已禁用），请联系单位管理员启用".into()
            }
            RefusalReason::CertificateRevoked => {
                "证书已注销，不能再签名或解密，请联系证书机构办理新证书".into()
            }
            RefusalReason::CertificateExpired => {
                "证书已过期（已失效），请办理证书续期后再试".into()
            }
            RefusalReason::AuthorisationEnded { .. } => {
                "您对该证书的使用授权已到期（授权结束），请联系单位管理员延长授权".into()
            }
            RefusalReason::BeforeOpeningTime { .. } => {
                "尚未到开标时间，暂不能解密投标文件，请在开标开始后扫码解密".into()
            }
            RefusalReason::NotARecipient => {
                "手机中的证书都不是本投标文件的解密证书，请使用生成标书时选择的证书扫码".into()
            }
            RefusalReason::NoSuitableCertificate => {
                "手机中没有适用于本次操作的证书，请先在手机端申领或导入证书".into()
            }
            RefusalReason::SealNotAvailable { seal_kind } => {
                format!(
                    "证书没有可用的{}，请先在手机端制作或上传印章",
                    seal_kind.name_zh()
                )
            }
            RefusalReason::PlatformNotAllowed => {
                "该证书不适用于本交易平台或地区（未互认），请使用适用本平台的证书".into()
            }
            RefusalReason::CoSigningUnavailable => "协同签名服务暂不可用，请稍后重新扫码".into(),
            RefusalReason::InvalidRequest { detail } => {
                format!("手机端认为请求无效（{detail}），请在桌面端重新发起")
            }
            RefusalReason::TenderUnverified { detail } => format!(
                "招标文件未通过手机端的交易平台签名验证（{detail}）：请使用交易平台发布的原始招标文件包，或在手机端导入该平台的证书后重新扫码"
            ),
            RefusalReason::SuspiciousRequest { detail } => format!(
                "手机拒绝了可疑请求：{detail}。桌面端程序可能被篡改或出错，请停止操作、检查电脑后再重新发起"
            ),
            RefusalReason::OpeningTimeUnverified { detail } => {
                format!("协同签名服务无法确认已到开标时间，拒绝解密：{detail}")
            }
            RefusalReason::DeviceNotRecognised => {
                "协同签名服务不认识这台手机（设备签名无效），请在已绑定证书的手机上操作或重新绑定"
                    .into()
            }
            RefusalReason::TooManyAttempts { retry_after_secs } => {
                format!("尝试过于频繁，请 {retry_after_secs} 秒后再试")
            }
        }
    }
}
