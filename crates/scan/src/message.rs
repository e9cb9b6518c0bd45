//! The messages of every operation, as they travel inside the encrypted channel (JSON).
//!
//! Desktop → phone: [`DesktopMessage`]; phone → desktop: [`PhoneMessage`]. Requests say what
//! they are (platform, project, document, page, seal kind, hash) so the phone can show it
//! before the PIN, and every approval is bound to the exact hashes it covers (CSC "SCAL2").
//!
//! Conventions: every `digest` is a SHA-256 value the phone signs *as a digest* (ECDSA P-256
//! "prehash", i.e. CSC `signHash`); every `signature` is a DER-encoded ECDSA signature;
//! certificate chains are DER certificates, leaf first; binary fields are base64url in JSON.
//! Does not verify certificates or signatures: that is the desktop's trust store
//! (`bidseal-cms`), this module only carries them.

use crate::channel::SessionBinding;
use crate::payload::OperationKind;
use crate::refusal::RefusalReason;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Arbitrary bytes (DER, PNG, signature), base64url in JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map(Bytes)
            .map_err(serde::de::Error::custom)
    }
}

/// A SHA-256 digest, base64url in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest32(pub [u8; 32]);

impl Digest32 {
    /// SHA-256 of `data`.
    pub fn of(data: &[u8]) -> Self {
        Digest32(Sha256::digest(data).into())
    }

    /// First 8 hex digits, what the phone shows as "hash prefix".
    pub fn short_hex(&self) -> String {
        self.0.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for Digest32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest32({}…)", self.short_hex())
    }
}

impl Serialize for Digest32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Digest32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Bytes(v) = Bytes::deserialize(d)?;
        let arr: [u8; 32] = v
            .try_into()
            .map_err(|_| serde::de::Error::custom("digest must be 32 bytes"))?;
        Ok(Digest32(arr))
    }
}

/// An ECDH shared secret (x-coordinate, 32 bytes); zeroized on drop, redacted in Debug.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub struct SharedSecretBytes(pub Bytes);

impl Zeroize for Bytes {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SharedSecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecretBytes(<redacted>)")
    }
}

/// The trading platform the desktop acts for (shown on the phone; bound into auth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformRef {
    /// Stable platform id, e.g. `gz-ggzy`.
    pub id: String,
    /// Display name, e.g. `广州公共资源交易中心`.
    pub name: String,
}

/// The tender project concerned (shown on the phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    /// Project / section code (项目编号 / 标段编号).
    pub code: String,
    /// Project name.
    pub name: String,
}

/// Kind of seal a signature is placed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealKind {
    /// 公章 (enterprise seal).
    Enterprise,
    /// 法人章 (legal-person seal).
    LegalPerson,
    /// 法人手写签名 (legal-person handwritten signature).
    LegalPersonSignature,
    /// 私章 (personal seal), index 1–3.
    Personal { index: u8 },
    /// 部门章 (department seal).
    Department,
}

impl SealKind {
    /// zh-CN name.
    pub fn name_zh(&self) -> String {
        match self {
            SealKind::Enterprise => "公章".into(),
            SealKind::LegalPerson => "法人章".into(),
            SealKind::LegalPersonSignature => "法人手写签名".into(),
            SealKind::Personal { index } => format!("私章{index}"),
            SealKind::Department => "部门章".into(),
        }
    }
}

/// What the authentication is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthPurpose {
    /// Log in to the platform / bid tool (扫码登录 / 认证).
    Login,
    /// Bind the certificate to a platform account (扫码绑定).
    Bind,
    /// Authorise an integrity-library sync (同步诚信库).
    SyncIntegrity,
}

/// `auth` request: sign a fresh challenge bound to this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub platform: PlatformRef,
    pub purpose: AuthPurpose,
    pub project: Option<ProjectRef>,
    /// 32 fresh random bytes from the desktop (or the platform).
    pub challenge: Digest32,
    /// Unix seconds when the desktop issued the challenge.
    pub issued_at: u64,
}

/// Domain separation label of the auth transcript hash.
pub const AUTH_TRANSCRIPT_LABEL: &[u8] = b"bidseal-scan/v1/auth";
/// Domain separation label of the sign/generate approval hash.
pub const APPROVAL_LABEL: &[u8] = b"bidseal-scan/v1/approval";

impl AuthRequest {
    /// The digest the phone signs for `auth`: SHA-256 over a label, the session id, the
    /// desktop's ephemeral key, the channel transcript (which binds both keys and the
    /// operation), the platform id, the issue time and the challenge. A signature over it is
    /// useless in any other session, for any other platform or challenge.
    pub fn transcript_hash(&self, binding: &SessionBinding) -> Digest32 {
        let mut h = Sha256::new();
        h.update(AUTH_TRANSCRIPT_LABEL);
        h.update(binding.session.0);
        h.update(binding.desktop_key.as_bytes());
        h.update(binding.transcript.0);
        h.update((self.platform.id.len() as u64).to_be_bytes());
        h.update(self.platform.id.as_bytes());
        h.update(self.issued_at.to_be_bytes());
        h.update(self.challenge.0);
        Digest32(h.finalize().into())
    }
}

/// `auth` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResponse {
    /// DER certificates, leaf first.
    pub certificate_chain: Vec<Bytes>,
    /// DER ECDSA P-256 signature over [`AuthRequest::transcript_hash`] (as a digest).
    pub signature: Bytes,
    /// Unix seconds when the phone signed.
    pub signed_at: u64,
}

/// One hash to sign and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignItem {
    /// Document name as the user knows it, e.g. `商务标.pdf`.
    pub document: String,
    /// Pages the seal appears on (1-based); several for a cross-page seal 骑缝章.
    pub pages: Vec<u32>,
    pub seal_kind: SealKind,
    /// The digest to sign (for PAdES: SHA-256 of the DER signed attributes).
    pub digest: Digest32,
}

/// `sign` request: one or more digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    pub platform: PlatformRef,
    pub project: Option<ProjectRef>,
    pub items: Vec<SignItem>,
}

impl SignRequest {
    /// Hash of the exact list of digests approved, bound to the session (what the co-signing
    /// service logs as the approval, CSC SCAL2 style).
    pub fn approval_hash(&self, binding: &SessionBinding) -> Digest32 {
        let digests: Vec<&Digest32> = self.items.iter().map(|i| &i.digest).collect();
        approval_hash(binding, &digests)
    }
}

fn approval_hash(binding: &SessionBinding, digests: &[&Digest32]) -> Digest32 {
    let mut h = Sha256::new();
    h.update(APPROVAL_LABEL);
    h.update(binding.transcript.0);
    h.update((digests.len() as u64).to_be_bytes());
    for d in digests {
        h.update(d.0);
    }
    Digest32(h.finalize().into())
}

/// One produced signature, in the order of the request's items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSignature {
    /// Echo of the signed digest (the desktop checks it matches its item).
    pub digest: Digest32,
    /// DER ECDSA P-256 signature over `digest`.
    pub signature: Bytes,
}

/// A seal image the phone holds for the signing certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealImage {
    pub seal_kind: SealKind,
    /// PNG with transparency.
    pub png: Bytes,
}

/// `sign` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignResponse {
    /// One per request item, same order.
    pub signatures: Vec<ItemSignature>,
    /// DER certificates, leaf first.
    pub certificate_chain: Vec<Bytes>,
    /// One image per distinct seal kind of the request.
    pub seal_images: Vec<SealImage>,
}

/// How many colleague certificates the user should pick for encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateChoice {
    /// Fewest extra certificates to choose (0 = optional).
    pub min_extra: u8,
    /// Most extra certificates to choose.
    pub max_extra: u8,
}

/// `generate` request: sign the bid manifest and pick encryption certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub platform: PlatformRef,
    pub project: ProjectRef,
    /// Digest to sign (SHA-256 of the manifest's DER signed attributes, or of the manifest).
    pub manifest_digest: Digest32,
    pub choose: CertificateChoice,
}

impl GenerateRequest {
    /// Approval hash of the manifest digest, bound to the session.
    pub fn approval_hash(&self, binding: &SessionBinding) -> Digest32 {
        approval_hash(binding, &[&self.manifest_digest])
    }
}

/// `generate` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateResponse {
    /// DER ECDSA P-256 signature over `manifest_digest`.
    pub signature: Bytes,
    /// Signing certificate chain, leaf first.
    pub certificate_chain: Vec<Bytes>,
    /// Every certificate that must be able to decrypt the bid: the bidder's own encryption
    /// certificate first, then the colleagues' chosen on the phone (已选择参与加密证书 N 本).
    pub encryption_certificates: Vec<Bytes>,
}

/// `decrypt` request: ECDH with the originator keys of one envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecryptRequest {
    pub platform: PlatformRef,
    pub project: ProjectRef,
    /// Bid file name shown to the user.
    pub bid_file: String,
    /// SHA-256 of the whole envelope (logged by the co-signing service).
    pub envelope_digest: Digest32,
    /// The envelope's originator ephemeral public keys (SEC1, compressed or not), one per
    /// recipient info the phone may match.
    pub originator_keys: Vec<Bytes>,
    /// Recipient certificates of the envelope (DER), so the phone picks its own.
    pub recipient_certificates: Vec<Bytes>,
    /// Opening time, unix seconds (the co-signing service refuses before it).
    pub opens_at: u64,
}

/// `decrypt` result: the raw ECDH x-coordinates, delivered only inside the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecryptResponse {
    /// The certificate whose key performed the ECDH (DER).
    pub certificate: Bytes,
    /// One per originator key, same order; the x-coordinate of the shared point.
    pub shared_secrets: Vec<SharedSecretBytes>,
}

/// A request of one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OperationRequest {
    Auth(AuthRequest),
    Sign(SignRequest),
    Generate(GenerateRequest),
    Decrypt(DecryptRequest),
}

impl OperationRequest {
    /// The operation kind of this request.
    pub fn kind(&self) -> OperationKind {
        match self {
            OperationRequest::Auth(_) => OperationKind::Auth,
            OperationRequest::Sign(_) => OperationKind::Sign,
            OperationRequest::Generate(_) => OperationKind::Generate,
            OperationRequest::Decrypt(_) => OperationKind::Decrypt,
        }
    }
}

/// A result of one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OperationResponse {
    Auth(AuthResponse),
    Sign(SignResponse),
    Generate(GenerateResponse),
    Decrypt(DecryptResponse),
}

impl OperationResponse {
    /// The operation kind of this response.
    pub fn kind(&self) -> OperationKind {
        match self {
            OperationResponse::Auth(_) => OperationKind::Auth,
            OperationResponse::Sign(_) => OperationKind::Sign,
            OperationResponse::Generate(_) => OperationKind::Generate,
            OperationResponse::Decrypt(_) => OperationKind::Decrypt,
        }
    }
}

/// The desktop asks to keep the channel open after this request (会话签章, "建立会话").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionModeRequest {
    /// Idle timeout the desktop proposes, seconds.
    pub idle_timeout_secs: u32,
}

/// The phone opened session mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGrant {
    /// Idle timeout both ends enforce, seconds (≤ the desktop's proposal).
    pub idle_timeout_secs: u32,
    /// The user ticked "自动确认": later requests are signed without a prompt.
    pub auto_confirm: bool,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndReason {
    /// The user pressed "结束会话".
    EndedByUser,
    /// The idle timeout passed.
    IdleTimeout,
    /// The operation is complete (single-request scan).
    Completed,
}

/// Desktop → phone.
#[allow(clippy::large_enum_variant)] // a short-lived message value; boxing buys nothing
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DesktopMessage {
    /// A request; `id` counts from 1 within the session.
    Request {
        id: u32,
        request: OperationRequest,
        /// Present on the first request when the desktop wants session mode.
        session: Option<SessionModeRequest>,
    },
    /// "结束会话".
    EndSession { reason: SessionEndReason },
}

/// What the phone tells the desktop right after scanning (the desktop's "scanned" state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneHello {
    /// Device label shown on the desktop, e.g. `张三的手机`.
    pub device: String,
    /// Phone app name and version.
    pub app: String,
}

/// The outcome of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OperationOutcome {
    /// The user confirmed; here is the result.
    Confirmed {
        response: OperationResponse,
        /// Present when the phone opened session mode on this request.
        session: Option<SessionGrant>,
    },
    /// The phone refused.
    Refused { reason: RefusalReason },
}

/// Phone → desktop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PhoneMessage {
    /// First message after the scan.
    Hello(PhoneHello),
    /// Answer to request `id`.
    Response { id: u32, outcome: OperationOutcome },
    /// "结束会话" on the phone.
    EndSession { reason: SessionEndReason },
}
