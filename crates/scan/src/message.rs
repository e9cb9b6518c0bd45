//! The messages of every operation, as they travel inside the encrypted channel (JSON).
//!
//! Desktop → phone: [`DesktopMessage`]; phone → desktop: [`PhoneMessage`]. Requests say what
//! they are (platform, project, document, page, seal kind, hash) so the phone can show it
//! before the PIN, and every approval is bound to the exact hashes it covers (CSC "SCAL2").
//!
//! Conventions: the phone never signs a digest the desktop hands it. Each operation signs
//! only what the phone can recognise and hash itself (domain separation):
//! - `auth`: [`AuthRequest::transcript_hash`] (labelled; binds session, platform, purpose,
//!   project, requester, time and challenge);
//! - `sign`: SHA-256 of the DER PAdES signed attributes carried in [`SignItem`];
//! - `generate`: SHA-256 of the DER CMS signed attributes of the bid manifest carried, with
//!   the manifest itself, in [`GenerateRequest`];
//! - `decrypt`: no signature: a key-encryption key for one envelope entry whose `ukm`
//!   ([`EnvelopeUkm`]) names the tender the phone verified ([`SignedTender`]).
//!
//! Every `signature` is a DER-encoded ECDSA signature; certificate chains are DER
//! certificates, leaf first; binary fields are base64url in JSON. Does not verify
//! certificates, signatures or attribute sets: the phone (`bidseal-phone`) and the desktop's
//! trust store (`bidseal-cms`) do; this module carries them and defines the hashes.

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

/// A 32-byte secret key (the key-encryption key of one envelope entry); zeroized on drop,
/// redacted in Debug.
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

impl AuthPurpose {
    /// Stable name, as bound into the auth transcript.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthPurpose::Login => "login",
            AuthPurpose::Bind => "bind",
            AuthPurpose::SyncIntegrity => "sync_integrity",
        }
    }

    /// zh-CN name shown on the phone.
    pub fn name_zh(self) -> &'static str {
        match self {
            AuthPurpose::Login => "登录",
            AuthPurpose::Bind => "绑定证书",
            AuthPurpose::SyncIntegrity => "同步诚信库",
        }
    }
}

/// SHA-256 input helper: a length-prefixed (u64 BE) field.
fn update_field(h: &mut Sha256, field: &[u8]) {
    h.update((field.len() as u64).to_be_bytes());
    h.update(field);
}

/// Most characters of a [`Requester`] field the phone shows (longer ones are cut, "…").
pub const MAX_REQUESTER_SCREEN_CHARS: usize = 48;

/// Who asked for an `auth` the trading platform started for a web browser (扫码登录 / 扫码绑定
/// QR on a web page): the browser's network address and a short summary of its user agent,
/// as the platform saw them. The phone shows both ("登录请求来自 203.0.113.5（Chrome 131 /
/// Windows）"), so a user scanning a QR an attacker relayed to them sees the attacker's
/// address rather than their own; [`AuthRequest::transcript_hash`] binds both, so nobody
/// between the platform and the phone can change them without the signature failing. The
/// platform's statement, not a proof: a browser behind a proxy or VPN shows that address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    /// The browser's IP address as the platform sees it (no port).
    pub address: String,
    /// A short summary of the browser's `User-Agent`, e.g. `Chrome 131 / Linux`.
    pub agent: String,
}

impl Requester {
    /// `address` as the phone shows it ([`screen_safe`]).
    pub fn address_on_screen(&self) -> String {
        screen_safe(&self.address, MAX_REQUESTER_SCREEN_CHARS)
    }

    /// `agent` as the phone shows it ([`screen_safe`]).
    pub fn agent_on_screen(&self) -> String {
        screen_safe(&self.agent, MAX_REQUESTER_SCREEN_CHARS)
    }
}

/// Whether `c` must not reach a screen line: control characters, line and paragraph
/// separators, and the invisible formatting characters (bidirectional overrides and isolates,
/// zero-width characters, the byte order mark, tag characters) that reorder or hide the text
/// around them.
pub(crate) fn hidden_or_reordering(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// `text` fit for one line of a phone screen: runs of white space (line breaks and tabs
/// included) made one space, hidden and reordering characters ([`hidden_or_reordering`])
/// dropped, cut to `max`
/// characters with "…" when longer. Never fails; an empty result reads `（空）`.
pub fn screen_safe(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0usize;
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if hidden_or_reordering(c) {
            continue;
        }
        let needed = usize::from(space) + 1;
        if count + needed > max {
            out.push('…');
            return out;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    if out.is_empty() {
        out.push_str("（空）");
    }
    out
}

/// `auth` request: sign a fresh challenge bound to this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub platform: PlatformRef,
    pub purpose: AuthPurpose,
    pub project: Option<ProjectRef>,
    /// Who asked, when the platform started the scan for a web browser (the desktop's own
    /// scans leave it out: the user sits at the machine that asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Requester>,
    /// 32 fresh random bytes from the desktop (or the platform).
    pub challenge: Digest32,
    /// Unix seconds when the desktop issued the challenge.
    pub issued_at: u64,
}

/// Domain separation label of the auth transcript hash.
pub const AUTH_TRANSCRIPT_LABEL: &[u8] = b"bidseal-scan/v2/auth";
/// Domain separation label of the sign/generate approval hash.
pub const APPROVAL_LABEL: &[u8] = b"bidseal-scan/v1/approval";

impl AuthRequest {
    /// The digest the phone signs for `auth`: SHA-256 over a label, the session id, the
    /// desktop's ephemeral key, the channel transcript (which binds both keys and the
    /// operation), the platform id, the purpose, the project (code and name, or a marker for
    /// none), the requester (address and agent, or a marker for none), the issue time and the
    /// challenge. A signature over it is useless in any other session, for any other platform,
    /// purpose, project, requester or challenge; the label keeps it
    /// apart from every other hash the phone signs (attribute sets start with a DER SET tag,
    /// not with the label, and are hashed by the phone itself).
    pub fn transcript_hash(&self, binding: &SessionBinding) -> Digest32 {
        let mut h = Sha256::new();
        h.update(AUTH_TRANSCRIPT_LABEL);
        h.update(binding.session.0);
        h.update(binding.desktop_key.as_bytes());
        h.update(binding.transcript.0);
        update_field(&mut h, self.platform.id.as_bytes());
        update_field(&mut h, self.purpose.as_str().as_bytes());
        match &self.project {
            Some(p) => {
                h.update([1u8]);
                update_field(&mut h, p.code.as_bytes());
                update_field(&mut h, p.name.as_bytes());
            }
            None => h.update([0u8]),
        }
        match &self.requester {
            Some(r) => {
                h.update([1u8]);
                update_field(&mut h, r.address.as_bytes());
                update_field(&mut h, r.agent.as_bytes());
            }
            None => h.update([0u8]),
        }
        h.update(self.issued_at.to_be_bytes());
        h.update(self.challenge.0);
        Digest32(h.finalize().into())
    }
}

/// `auth` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthResponse {
    /// DER certificates, leaf first.
    pub certificate_chain: Vec<Bytes>,
    /// DER ECDSA P-256 signature over [`AuthRequest::transcript_hash`] (as a digest).
    pub signature: Bytes,
    /// Unix seconds when the phone signed.
    pub signed_at: u64,
}

/// One PDF seal to sign and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignItem {
    /// Document name as the user knows it, e.g. `商务标.pdf`.
    pub document: String,
    /// Pages the seal appears on (1-based); several for a cross-page seal 骑缝章.
    pub pages: Vec<u32>,
    pub seal_kind: SealKind,
    /// The DER PAdES signed attributes (`SET OF Attribute`: contentType id-data,
    /// messageDigest of the PDF byte range, signingCertificateV2 of the phone's certificate,
    /// no signingTime). The phone checks them and signs SHA-256 of exactly these bytes.
    pub signed_attributes: Bytes,
}

impl SignItem {
    /// SHA-256 of the signed attributes: what the phone signs for this item.
    pub fn digest(&self) -> Digest32 {
        Digest32::of(&self.signed_attributes.0)
    }
}

/// `sign` request: one or more PDF seals, or (no items) a seal lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    pub platform: PlatformRef,
    pub project: Option<ProjectRef>,
    pub items: Vec<SignItem>,
    /// With no `items`: the seal kinds whose certificate chain and bound seal images the
    /// desktop needs before it can build PAdES attributes (nothing is signed but the image
    /// bindings).
    #[serde(default)]
    pub lookup: Vec<SealKind>,
}

impl SignRequest {
    /// Hash of the exact list of digests approved, bound to the session (what the co-signing
    /// service logs as the approval, CSC SCAL2 style).
    pub fn approval_hash(&self, binding: &SessionBinding) -> Digest32 {
        let digests: Vec<Digest32> = self.items.iter().map(SignItem::digest).collect();
        let refs: Vec<&Digest32> = digests.iter().collect();
        approval_hash(binding, &refs)
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
#[serde(deny_unknown_fields)]
pub struct ItemSignature {
    /// Echo of the signed digest (the desktop checks it matches its item).
    pub digest: Digest32,
    /// DER ECDSA P-256 signature over `digest`.
    pub signature: Bytes,
}

/// A seal image the phone holds for the signing certificate, bound to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealImage {
    pub seal_kind: SealKind,
    /// PNG with transparency.
    pub png: Bytes,
    /// DER ECDSA signature by the signing certificate's key over
    /// [`SealImage::binding_hash`]: the certificate's holder vouches that this image is their
    /// seal of this kind (the desktop checks it before placing the image).
    pub binding: Bytes,
}

/// Domain separation label of the seal-image binding.
pub const SEAL_IMAGE_LABEL: &[u8] = b"bidseal-scan/v1/seal-image";

impl SealImage {
    /// SHA-256("bidseal-scan/v1/seal-image" ‖ SHA-256(certificate DER) ‖ len‖seal kind ‖
    /// SHA-256(png)).
    pub fn binding_hash(certificate_der: &[u8], seal_kind: SealKind, png: &[u8]) -> Digest32 {
        let mut h = Sha256::new();
        h.update(SEAL_IMAGE_LABEL);
        h.update(Sha256::digest(certificate_der));
        update_field(&mut h, seal_kind.name_zh().as_bytes());
        h.update(Sha256::digest(png));
        Digest32(h.finalize().into())
    }
}

/// `sign` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The exact bid manifest bytes (`manifest.json`, a `bidseal-bid-manifest` JSON).
    pub manifest: Bytes,
    /// The DER CMS signed attributes over the manifest (contentType id-data, signingTime,
    /// messageDigest = SHA-256(manifest), signingCertificateV2). The phone checks them and
    /// signs SHA-256 of exactly these bytes.
    pub signed_attributes: Bytes,
    pub choose: CertificateChoice,
    /// A trial decryption (试解密) follows on this channel: the phone signs the manifest
    /// again only to prove, within this scan, which bid may be opened before the opening time.
    #[serde(default)]
    pub trial: bool,
}

impl GenerateRequest {
    /// SHA-256 of the signed attributes: the digest the phone signs, and the `bound_digest`
    /// of a trial decryption in the same scan.
    pub fn manifest_digest(&self) -> Digest32 {
        Digest32::of(&self.signed_attributes.0)
    }

    /// Approval hash of the manifest digest, bound to the session.
    pub fn approval_hash(&self, binding: &SessionBinding) -> Digest32 {
        approval_hash(binding, &[&self.manifest_digest()])
    }
}

/// `generate` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateResponse {
    /// DER ECDSA P-256 signature over [`GenerateRequest::manifest_digest`].
    pub signature: Bytes,
    /// Signing certificate chain, leaf first.
    pub certificate_chain: Vec<Bytes>,
    /// Every certificate that must be able to decrypt the bid: the bidder's own encryption
    /// certificate first, then the colleagues' chosen on the phone (已选择参与加密证书 N 本).
    pub encryption_certificates: Vec<Bytes>,
}

/// The tender as the trading platform signed it: the exact `tender.json` bytes and the
/// platform's DER ECDSA P-256 / SHA-256 signature over them (`tender.json.sig`). The phone
/// verifies it under the platform certificates pinned on the phone and reads the opening
/// time from it; the desktop cannot change either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTender {
    /// Exact bytes of `tender.json`.
    pub manifest: Bytes,
    /// DER ECDSA signature of the platform over `manifest`.
    pub signature: Bytes,
}

impl SignedTender {
    /// SHA-256 of `tender.json`, as named in every envelope's `ukm`.
    pub fn digest(&self) -> Digest32 {
        Digest32::of(&self.manifest.0)
    }
}

/// Label at the start of every BidSeal envelope `ukm`.
pub const UKM_LABEL: &[u8] = b"bidseal-ukm/v1";
/// Length of a BidSeal `ukm`: label ‖ tender digest ‖ manifest digest.
pub const UKM_LEN: usize = 14 + 32 + 32;

/// The RFC 5753 user keying material of every KeyAgreeRecipientInfo of a bid envelope:
/// `"bidseal-ukm/v1" ‖ SHA-256(tender.json) ‖ SHA-256(manifest.json)` (78 bytes). It enters
/// the X9.63 KDF (as `entityUInfo` of `ECC-CMS-SharedInfo`), so a key-encryption key is
/// bound to one tender and one bid manifest: the phone checks the tender part against the
/// tender it verified and, for a trial decryption, the manifest part against the manifest
/// it signed in the same scan. Kept readable (not hashed) so the phone can check both parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeUkm {
    /// SHA-256 of the exact `tender.json` bytes.
    pub tender: Digest32,
    /// SHA-256 of the exact bid `manifest.json` bytes.
    pub manifest: Digest32,
}

impl EnvelopeUkm {
    /// The 78 `ukm` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(UKM_LEN);
        out.extend_from_slice(UKM_LABEL);
        out.extend_from_slice(&self.tender.0);
        out.extend_from_slice(&self.manifest.0);
        out
    }

    /// Parses `ukm` bytes; `None` unless exactly label ‖ 32 ‖ 32 bytes.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != UKM_LEN || !bytes.starts_with(UKM_LABEL) {
            return None;
        }
        let rest = bytes.get(UKM_LABEL.len()..)?;
        let tender: [u8; 32] = rest.get(..32)?.try_into().ok()?;
        let manifest: [u8; 32] = rest.get(32..)?.try_into().ok()?;
        Some(Self {
            tender: Digest32(tender),
            manifest: Digest32(manifest),
        })
    }
}

/// One key-agreement recipient entry of the envelope, as the phone needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecryptRecipient {
    /// DER `IssuerAndSerialNumber` naming the recipient certificate.
    pub recipient: Bytes,
    /// The entry's originator ephemeral public key (SEC1, compressed or not).
    pub originator_key: Bytes,
    /// The entry's `ukm` ([`EnvelopeUkm`]).
    pub ukm: Bytes,
}

/// `decrypt` request: the key-encryption key of the phone's own entry of one envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecryptRequest {
    pub platform: PlatformRef,
    pub project: ProjectRef,
    /// Bid file name shown to the user.
    pub bid_file: String,
    /// SHA-256 of the whole envelope (logged by the co-signing service).
    pub envelope_digest: Digest32,
    /// The platform-signed tender: the phone's only source for the opening time.
    pub tender: SignedTender,
    /// The envelope's key-agreement entries (the phone uses the one naming its certificate).
    pub recipients: Vec<DecryptRecipient>,
}

/// `decrypt` result: one key-encryption key, delivered only inside the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptResponse {
    /// The certificate whose key performed the ECDH (DER).
    pub certificate: Bytes,
    /// Index into the request's `recipients` of the entry this key opens.
    pub recipient: u32,
    /// X9.63-KDF(ECDH(certificate key, originator key), ECC-CMS-SharedInfo{id-aes256-wrap,
    /// ukm, 256}) for that entry, with the `ukm` the phone checked.
    pub key_encryption_key: SharedSecretBytes,
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
/// Only for `sign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionModeRequest {
    /// Idle timeout the desktop proposes, seconds.
    pub idle_timeout_secs: u32,
}

/// Longest idle time-out a phone grants, seconds.
pub const MAX_GRANT_IDLE_SECS: u32 = 300;
/// Most requests (each one seal signature or more) a session may carry, the first included.
pub const MAX_GRANT_REQUESTS: u32 = 64;
/// Longest lifetime of a session from the grant, seconds.
pub const MAX_GRANT_LIFETIME_SECS: u64 = 1800;

/// The phone opened session mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGrant {
    /// Idle timeout both ends enforce, seconds (≤ the desktop's proposal and
    /// [`MAX_GRANT_IDLE_SECS`]).
    pub idle_timeout_secs: u32,
    /// The user ticked "自动确认": later requests are signed without a prompt.
    pub auto_confirm: bool,
    /// Requests the session may carry in all, the granting one included
    /// (≤ [`MAX_GRANT_REQUESTS`]); the phone refuses more.
    pub max_requests: u32,
    /// Unix seconds after which the phone answers no more requests of this session
    /// (≤ grant time + [`MAX_GRANT_LIFETIME_SECS`]).
    pub expires_at: u64,
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
#[serde(deny_unknown_fields)]
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
