//! Recipients of a bid envelope: which certificates may be recipients, and the RFC 5753
//! `KeyAgreeRecipientInfo` that carries the content key to each of them.
//!
//! Sealing ([`RecipientSet`], [`RecipientSet::recipient_info`]): for every certificate a fresh
//! ephemeral P-256 key, ECDH with the certificate's key, the X9.63 KDF with SHA-256 over the
//! DER `ECC-CMS-SharedInfo` (RFC 5753 §7.2: key-wrap algorithm, the optional user keying
//! material `ukm` as `entityUInfo`, key length 256 bits), and AES-256 key wrap of the content key (`dhSinglePass-stdDH-sha256kdf-scheme`,
//! `id-aes256-wrap`). The recipient is named by issuer and serial number.
//!
//! Opening ([`RecipientEntry`]): the parsed recipient list, matching a certificate to its entry
//! and turning an ECDH shared secret into the content key.
//!
//! Guarantees: only P-256 certificates that are valid now, whose keyUsage (when present)
//! allows keyAgreement, each at most once, 1 to [`MAX_RECIPIENTS`] of them. Ephemeral keys,
//! shared secrets and key-encryption keys are zeroized. Does not: check the certificate chain
//! (the caller decides whom to trust, e.g. with `cert::TrustStore`), or support recipients
//! named by subject key identifier, other curves, or other KDF hashes.

use super::agreement::SharedSecret;
use super::error::EnvelopeError;
use super::kdf::x963_kdf_sha256;
use super::keywrap::{self, CEK_LEN};
use crate::cert::Certificate;
use cms::cert::IssuerAndSerialNumber;
use cms::enveloped_data::{
    KeyAgreeRecipientIdentifier, KeyAgreeRecipientInfo, OriginatorIdentifierOrKey,
    OriginatorPublicKey, RecipientEncryptedKey, RecipientInfo,
};
use const_oid::ObjectIdentifier;
use der::asn1::{BitString, OctetString};
use der::{Decode, Encode, Sequence};
use rand_core::OsRng;
use spki::AlgorithmIdentifierOwned;
use std::time::SystemTime;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
use zeroize::Zeroizing;

/// At most this many recipients per envelope.
pub const MAX_RECIPIENTS: usize = 64;

/// id-ecPublicKey.
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 / secp256r1.
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// The SM2 curve (GM/T 0006), as Chinese SM2 certificates name it.
const OID_SM2_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301");
/// rsaEncryption.
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// dhSinglePass-stdDH-sha256kdf-scheme (RFC 5753 §7.1.4).
pub(crate) const OID_ECDH_SHA256_KDF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.132.1.11.1");
/// dhSinglePass-stdDH-sha1kdf-scheme (openssl's default without `ecdh_kdf_md:sha256`).
const OID_ECDH_SHA1_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.133.16.840.63.0.2");
/// id-aes256-wrap (RFC 3565).
pub(crate) const OID_AES256_WRAP: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.45");
/// id-ce-keyUsage.
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// `ECC-CMS-SharedInfo` (RFC 5753 §7.2), the X9.63 KDF's SharedInfo.
#[derive(Sequence)]
struct EccCmsSharedInfo {
    key_info: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    entity_u_info: Option<OctetString>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    supp_pub_info: OctetString,
}

/// A certificate accepted as a recipient.
#[derive(Clone)]
pub struct Recipient {
    certificate: Certificate,
    key: p256::PublicKey,
    id: IssuerAndSerialNumber,
}

impl Recipient {
    /// The recipient's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Issuer and serial number, as written into the envelope.
    pub fn id(&self) -> &IssuerAndSerialNumber {
        &self.id
    }
}

/// Longest user keying material accepted (RFC 5753 allows any length; ours is 78 bytes).
pub const MAX_UKM_LEN: usize = 1024;

/// The checked, duplicate-free list of 1 to [`MAX_RECIPIENTS`] recipient certificates, and
/// the `ukm` every KeyAgreeRecipientInfo carries (none unless [`RecipientSet::with_ukm`]).
#[derive(Clone)]
pub struct RecipientSet {
    recipients: Vec<Recipient>,
    ukm: Option<OctetString>,
}

impl RecipientSet {
    /// Checks every certificate (key type, keyUsage, validity at `at`, duplicates, count).
    pub fn new(certificates: Vec<Certificate>, at: SystemTime) -> Result<Self, EnvelopeError> {
        if certificates.is_empty() {
            return Err(EnvelopeError::NoRecipients);
        }
        if certificates.len() > MAX_RECIPIENTS {
            return Err(EnvelopeError::TooManyRecipients {
                count: certificates.len(),
                max: MAX_RECIPIENTS,
            });
        }
        let mut recipients: Vec<Recipient> = Vec::with_capacity(certificates.len());
        for certificate in certificates {
            let recipient = check_recipient(certificate, at)?;
            if recipients.iter().any(|r| r.id == recipient.id) {
                return Err(EnvelopeError::DuplicateRecipient {
                    subject: recipient.certificate.subject_string(),
                    serial: recipient.certificate.serial_hex(),
                });
            }
            recipients.push(recipient);
        }
        Ok(Self {
            recipients,
            ukm: None,
        })
    }

    /// Puts `ukm` (RFC 5753 user keying material, 1 to [`MAX_UKM_LEN`] bytes) into every
    /// recipient info; it enters each key-encryption key through the KDF's SharedInfo, so an
    /// opener must use the same bytes (standard: `openssl cms -decrypt` does).
    pub fn with_ukm(mut self, ukm: &[u8]) -> Result<Self, EnvelopeError> {
        if ukm.is_empty() || ukm.len() > MAX_UKM_LEN {
            return Err(EnvelopeError::Unsupported {
                what: format!("ukm 长度 {} 字节（须为 1–{MAX_UKM_LEN}）", ukm.len()),
            });
        }
        self.ukm = Some(OctetString::new(ukm.to_vec()).map_err(|e| encode_error("ukm", e))?);
        Ok(self)
    }

    /// The recipients, in the order given.
    pub fn recipients(&self) -> &[Recipient] {
        &self.recipients
    }

    /// Number of recipients.
    pub fn len(&self) -> usize {
        self.recipients.len()
    }

    /// Always false (a set has at least one recipient); present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.recipients.is_empty()
    }

    /// The DER `RecipientInfo` (`[1] KeyAgreeRecipientInfo`) carrying `cek` to `recipient`.
    pub(crate) fn recipient_info(
        &self,
        recipient: &Recipient,
        cek: &[u8; CEK_LEN],
    ) -> Result<Vec<u8>, EnvelopeError> {
        let ephemeral = p256::ecdh::EphemeralSecret::random(&mut OsRng);
        let ephemeral_public = p256::EncodedPoint::from(ephemeral.public_key());
        let shared = ephemeral.diffie_hellman(&recipient.key);
        let mut z = Zeroizing::new([0u8; 32]);
        z.copy_from_slice(shared.raw_secret_bytes());
        let wrap_alg = AlgorithmIdentifierOwned {
            oid: OID_AES256_WRAP,
            parameters: None,
        };
        let kek = derive_kek(&SharedSecret::from_bytes(*z), &wrap_alg, self.ukm.as_ref())?;
        let wrapped = keywrap::wrap(kek.as_bytes(), cek);
        let kari = KeyAgreeRecipientInfo {
            version: cms::content_info::CmsVersion::V3,
            originator: OriginatorIdentifierOrKey::OriginatorKey(OriginatorPublicKey {
                algorithm: AlgorithmIdentifierOwned {
                    oid: OID_EC_PUBLIC_KEY,
                    parameters: None,
                },
                public_key: BitString::from_bytes(ephemeral_public.as_bytes())
                    .map_err(|e| encode_error("originator key", e))?,
            }),
            ukm: self.ukm.clone(),
            key_enc_alg: AlgorithmIdentifierOwned {
                oid: OID_ECDH_SHA256_KDF,
                parameters: Some(
                    der::Any::encode_from(&wrap_alg).map_err(|e| encode_error("wrap alg", e))?,
                ),
            },
            recipient_enc_keys: vec![RecipientEncryptedKey {
                rid: KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(recipient.id.clone()),
                enc_key: OctetString::new(wrapped.to_vec())
                    .map_err(|e| encode_error("encrypted key", e))?,
            }],
        };
        RecipientInfo::Kari(kari)
            .to_der()
            .map_err(|e| encode_error("recipient info", e))
    }
}

fn encode_error(what: &str, e: der::Error) -> EnvelopeError {
    EnvelopeError::Unsupported {
        what: format!("无法编码{what}（{e}）"),
    }
}

/// Names the kind of key in a certificate that is not P-256, for the error message.
fn foreign_key_type(certificate: &Certificate) -> Option<String> {
    let alg = &certificate
        .inner()
        .tbs_certificate
        .subject_public_key_info
        .algorithm;
    if alg.oid == OID_RSA {
        return Some("RSA".to_string());
    }
    if alg.oid == OID_SM2_CURVE {
        return Some("SM2（国密）".to_string());
    }
    if alg.oid != OID_EC_PUBLIC_KEY {
        return Some(format!("未知算法（{}）", alg.oid));
    }
    let curve = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    match curve {
        Some(OID_P256) => None,
        Some(OID_SM2_CURVE) => Some("SM2（国密）".to_string()),
        Some(other) => Some(format!("ECC（曲线 {other}）")),
        None => Some("ECC（未指明曲线）".to_string()),
    }
}

/// One certificate's fitness as a recipient at time `at`.
fn check_recipient(certificate: Certificate, at: SystemTime) -> Result<Recipient, EnvelopeError> {
    let subject = certificate.subject_string();
    if let Some(key_type) = foreign_key_type(&certificate) {
        return Err(EnvelopeError::UnsupportedKeyType { subject, key_type });
    }
    let key = certificate
        .p256_public_key()
        .map_err(|_| EnvelopeError::UnsupportedKeyType {
            subject: subject.clone(),
            key_type: "无效的 P-256 公钥".to_string(),
        })?;
    let extensions = certificate.inner().tbs_certificate.extensions.as_deref();
    if let Some(ext) = extensions
        .unwrap_or_default()
        .iter()
        .find(|e| e.extn_id == OID_KEY_USAGE)
    {
        // Present but unreadable counts as "does not allow keyAgreement".
        let allows = KeyUsage::from_der(ext.extn_value.as_bytes())
            .map(|ku| ku.0.contains(KeyUsages::KeyAgreement))
            .unwrap_or(false);
        if !allows {
            return Err(EnvelopeError::NoKeyAgreementUsage { subject });
        }
    }
    let validity = &certificate.inner().tbs_certificate.validity;
    let state = if at < validity.not_before.to_system_time() {
        Some("尚未生效")
    } else if at > validity.not_after.to_system_time() {
        Some("已过期")
    } else {
        None
    };
    if let Some(state) = state {
        return Err(EnvelopeError::CertificateNotValid {
            subject,
            state,
            not_before: validity.not_before.to_string(),
            not_after: validity.not_after.to_string(),
        });
    }
    let id = certificate.issuer_and_serial();
    Ok(Recipient {
        certificate,
        key,
        id,
    })
}

/// A 256-bit key-encryption key (the KDF output that wraps the content key), zeroized on
/// drop, redacted in `Debug`. What the phone returns for one recipient entry.
pub struct KeyEncryptionKey(Zeroizing<[u8; 32]>);

impl KeyEncryptionKey {
    /// Wraps raw key bytes (e.g. as returned by the phone).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

/// The key-encryption key of a BidSeal recipient entry (`id-aes256-wrap`, X9.63-KDF with
/// SHA-256) from the ECDH shared secret and the entry's `ukm`: what a holder of the private
/// key (the phone) computes without the rest of the envelope.
pub fn aes256_wrap_kek(
    secret: &SharedSecret,
    ukm: Option<&[u8]>,
) -> Result<KeyEncryptionKey, EnvelopeError> {
    let wrap_alg = AlgorithmIdentifierOwned {
        oid: OID_AES256_WRAP,
        parameters: None,
    };
    let ukm = ukm
        .map(|u| OctetString::new(u.to_vec()).map_err(|e| encode_error("ukm", e)))
        .transpose()?;
    derive_kek(secret, &wrap_alg, ukm.as_ref())
}

/// Derives the 256-bit key-encryption key from an ECDH shared secret (RFC 5753 §3.1.2/§7.2).
fn derive_kek(
    secret: &SharedSecret,
    wrap_alg: &AlgorithmIdentifierOwned,
    ukm: Option<&OctetString>,
) -> Result<KeyEncryptionKey, EnvelopeError> {
    let shared_info = EccCmsSharedInfo {
        key_info: wrap_alg.clone(),
        entity_u_info: ukm.cloned(),
        // keydatalen in bits, 32-bit big-endian: 256 for AES-256 wrap.
        supp_pub_info: OctetString::new(256u32.to_be_bytes().to_vec())
            .map_err(|e| encode_error("SharedInfo", e))?,
    }
    .to_der()
    .map_err(|e| encode_error("SharedInfo", e))?;
    let mut kek = Zeroizing::new([0u8; 32]);
    x963_kdf_sha256(secret.as_bytes(), &shared_info, kek.as_mut_slice()).map_err(|_| {
        EnvelopeError::Unsupported {
            what: "KDF 输出长度".to_string(),
        }
    })?;
    Ok(KeyEncryptionKey(kek))
}

/// One recipient as found in an envelope: who, and what their content key is wrapped with.
#[derive(Clone, Debug)]
pub struct RecipientEntry {
    id: IssuerAndSerialNumber,
    originator: Result<p256::PublicKey, String>,
    key_enc_alg: ObjectIdentifier,
    wrap_alg: Option<AlgorithmIdentifierOwned>,
    ukm: Option<OctetString>,
    encrypted_key: Vec<u8>,
}

impl RecipientEntry {
    /// Issuer and serial number of the recipient certificate.
    pub fn id(&self) -> &IssuerAndSerialNumber {
        &self.id
    }

    /// DER of the issuer and serial number (how the phone recognises its own entry).
    pub fn id_der(&self) -> Result<Vec<u8>, EnvelopeError> {
        self.id.to_der().map_err(|e| encode_error("接收者标识", e))
    }

    /// Upper-case hex of the serial number.
    pub fn serial_hex(&self) -> String {
        self.id
            .serial_number
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// "颁发者 …，序列号 …" for messages.
    pub fn describe(&self) -> String {
        format!("颁发者 {}，序列号 {}", self.id.issuer, self.serial_hex())
    }

    /// True when `certificate` is this recipient (same issuer and serial number).
    pub fn is_for(&self, certificate: &Certificate) -> bool {
        self.id == certificate.issuer_and_serial()
    }

    /// The originator's ephemeral public key, the input of the key agreement.
    pub fn originator_key(&self) -> Result<&p256::PublicKey, EnvelopeError> {
        self.check_scheme()?;
        self.originator
            .as_ref()
            .map_err(|what| EnvelopeError::Unsupported { what: what.clone() })
    }

    fn check_scheme(&self) -> Result<(), EnvelopeError> {
        if self.key_enc_alg == OID_ECDH_SHA1_KDF {
            return Err(EnvelopeError::Unsupported {
                what: "密钥协商使用 SHA-1 KDF（openssl 需加 -keyopt ecdh_kdf_md:sha256）"
                    .to_string(),
            });
        }
        if self.key_enc_alg != OID_ECDH_SHA256_KDF {
            return Err(EnvelopeError::Unsupported {
                what: format!("密钥协商算法 {}", self.key_enc_alg),
            });
        }
        match &self.wrap_alg {
            Some(alg) if alg.oid == OID_AES256_WRAP && alg.parameters.is_none() => Ok(()),
            Some(alg) => Err(EnvelopeError::Unsupported {
                what: format!("密钥包装算法 {}", alg.oid),
            }),
            None => Err(EnvelopeError::Unsupported {
                what: "缺少密钥包装算法".to_string(),
            }),
        }
    }

    /// The entry's user keying material (RFC 5753 `ukm`), if any.
    pub fn ukm(&self) -> Option<&[u8]> {
        self.ukm.as_ref().map(OctetString::as_bytes)
    }

    /// Derives this entry's key-encryption key from an ECDH `secret` (with its `ukm`).
    pub fn key_encryption_key(
        &self,
        secret: &SharedSecret,
    ) -> Result<KeyEncryptionKey, EnvelopeError> {
        self.check_scheme()?;
        let wrap_alg = self
            .wrap_alg
            .as_ref()
            .ok_or(EnvelopeError::KeyUnwrapFailed)?;
        derive_kek(secret, wrap_alg, self.ukm.as_ref())
    }

    /// Unwraps the content key with this entry's key-encryption key.
    pub fn unwrap_content_key(
        &self,
        kek: &KeyEncryptionKey,
    ) -> Result<Zeroizing<[u8; CEK_LEN]>, EnvelopeError> {
        self.check_scheme()?;
        keywrap::unwrap(kek.as_bytes(), &self.encrypted_key).ok_or(EnvelopeError::KeyUnwrapFailed)
    }
}

/// What the recipient list of an envelope holds.
#[derive(Clone, Debug, Default)]
pub struct RecipientList {
    /// Key-agreement recipients named by issuer and serial number.
    pub entries: Vec<RecipientEntry>,
    /// Recipients of other kinds (RSA key transport, passwords, key identifiers, ...), which
    /// this crate lists but cannot open.
    pub other: usize,
}

impl RecipientList {
    /// Parses the contents of a DER `RecipientInfos` SET (without its own header).
    /// `offset` is the file offset of `contents`, for error messages.
    pub(crate) fn parse(mut contents: &[u8], offset: u64) -> Result<Self, EnvelopeError> {
        let total = contents.len();
        let mut list = RecipientList::default();
        while !contents.is_empty() {
            let here = offset + (total - contents.len()) as u64;
            let mut reader = der::SliceReader::new(contents)
                .map_err(|e| EnvelopeError::malformed(here, format!("接收者信息：{e}")))?;
            let info = <RecipientInfo as der::Decode>::decode(&mut reader)
                .map_err(|e| EnvelopeError::malformed(here, format!("接收者信息：{e}")))?;
            let used = usize::try_from(u32::from(der::Reader::position(&reader)))
                .map_err(|_| EnvelopeError::malformed(here, "接收者信息长度"))?;
            contents = contents.get(used..).unwrap_or_default();
            match info {
                RecipientInfo::Kari(kari) => list.add_kari(kari, here)?,
                _ => list.other += 1,
            }
        }
        if list.entries.len() + list.other == 0 {
            return Err(EnvelopeError::malformed(offset, "接收者列表为空"));
        }
        Ok(list)
    }

    fn add_kari(&mut self, kari: KeyAgreeRecipientInfo, at: u64) -> Result<(), EnvelopeError> {
        if kari.version != cms::content_info::CmsVersion::V3 {
            return Err(EnvelopeError::malformed(
                at,
                "KeyAgreeRecipientInfo 版本不是 3",
            ));
        }
        let originator = match &kari.originator {
            OriginatorIdentifierOrKey::OriginatorKey(key) => originator_public_key(key),
            _ => Err("发送方不是临时公钥（不支持静态-静态 ECDH）".to_string()),
        };
        let wrap_alg = kari
            .key_enc_alg
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok());
        for rek in kari.recipient_enc_keys {
            match rek.rid {
                KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(id) => {
                    self.entries.push(RecipientEntry {
                        id,
                        originator: originator.clone(),
                        key_enc_alg: kari.key_enc_alg.oid,
                        wrap_alg: wrap_alg.clone(),
                        ukm: kari.ukm.clone(),
                        encrypted_key: rek.enc_key.into_bytes(),
                    })
                }
                KeyAgreeRecipientIdentifier::RKeyId(_) => self.other += 1,
            }
        }
        Ok(())
    }

    /// The entry for `certificate`, or the "not a recipient" error listing everyone.
    pub fn entry_for(&self, certificate: &Certificate) -> Result<&RecipientEntry, EnvelopeError> {
        self.entries
            .iter()
            .find(|e| e.is_for(certificate))
            .ok_or_else(|| {
                let mut recipients: Vec<String> =
                    self.entries.iter().map(RecipientEntry::describe).collect();
                if self.other > 0 {
                    recipients.push(format!("另有 {} 个其他类型的接收者", self.other));
                }
                EnvelopeError::NotRecipient { recipients }
            })
    }
}

fn originator_public_key(key: &OriginatorPublicKey) -> Result<p256::PublicKey, String> {
    if key.algorithm.oid != OID_EC_PUBLIC_KEY {
        return Err(format!("发送方公钥算法 {}", key.algorithm.oid));
    }
    // RFC 5753 allows absent parameters, NULL, or the curve OID.
    if let Some(params) = &key.algorithm.parameters {
        let is_null = der::Tagged::tag(params) == der::Tag::Null;
        let is_p256 = params.decode_as::<ObjectIdentifier>().ok() == Some(OID_P256);
        if !is_null && !is_p256 {
            return Err("发送方公钥不是 P-256".to_string());
        }
    }
    let bytes = key
        .public_key
        .as_bytes()
        .ok_or_else(|| "发送方公钥编码无效".to_string())?;
    p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| "发送方公钥不是有效的 P-256 点".to_string())
}
