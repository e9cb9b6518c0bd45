//! CMS SignedData (RFC 5652, detached) built around an external ECDSA P-256 signature, and its
//! verification.
//!
//! What it is for: PDF signatures (PAdES B-B, `/SubFilter /ETSI.CAdES.detached`) and the bid
//! manifest signature, where the private key lives on the phone. The flow is split so it can be
//! interrupted and persisted:
//!
//! 1. [`SignedAttributes::new`] builds the signed attributes for a SHA-256 content digest:
//!    `contentType = id-data`, `messageDigest`, `signingCertificateV2` (ESS, RFC 5035), and
//!    `signingTime` only with [`AttributeProfile::CmsWithSigningTime`] — PAdES forbids it (the
//!    time goes into the PDF's `/M`).
//! 2. [`SignedAttributes::to_be_signed`] is the DER that the signer signs (ECDSA P-256 over
//!    its SHA-256).
//! 3. [`SignedAttributes::assemble`] takes the signature value (raw `r‖s`, 64 bytes, or DER),
//!    checks it against the signer certificate's key, and returns the DER `ContentInfo`.
//!
//! [`Signer`] is the async signing trait (the phone implements it in a later issue);
//! [`LocalKeySigner`] reads a PKCS#8 PEM key for tests and staff tools. [`sign_detached`] runs
//! the three steps with a signer. [`verify_detached`] checks digest, signature and chain.
//!
//! What it guarantees: the assembled SignedData never carries a signature that does not verify
//! under the embedded signer certificate; parsing hostile DER never panics.
//!
//! What it does not do: algorithms other than SHA-256 + ECDSA P-256, timestamps (PAdES B-T),
//! revocation data, countersignatures; verification re-encodes the parsed signed attributes as
//! DER (signatures over non-DER attribute sets from other tools are reported as invalid).

use crate::cert::{
    signing_chain, CertError, Certificate, TrustStore, OID_ECDSA_WITH_SHA256, OID_EC_PUBLIC_KEY,
};
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::SystemTime;
use thiserror::Error;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

/// id-data.
pub const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-signedData.
pub const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-sha256.
pub const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const OID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// Why a SignedData could not be built or read.
#[derive(Debug, Error)]
pub enum SignedDataError {
    /// The signature value is neither 64 raw bytes nor a DER ECDSA signature.
    #[error("签名结果格式无效（应为 64 字节 r‖s 或 DER 编码），请重新发起签名")]
    BadSignatureValue,
    /// The signature does not verify under the signer certificate (wrong key or tampering).
    #[error("签名结果与签名证书不匹配（可能用了其他证书的密钥），请确认手机上选择的证书后重试")]
    SignatureMismatch,
    /// The CMS structure could not be parsed.
    #[error("签名数据（CMS）无法解析：{detail}")]
    Malformed {
        /// What the parser reported.
        detail: String,
    },
    /// Algorithms we do not support.
    #[error("签名算法不受支持（{detail}），仅支持 SHA-256 + ECDSA P-256")]
    Unsupported {
        /// Which algorithm.
        detail: String,
    },
    /// A certificate problem (signer key not P-256, ...).
    #[error(transparent)]
    Cert(#[from] CertError),
    /// The signer (phone or local key) refused or failed.
    #[error("签名方未能完成签名：{detail}")]
    Signer {
        /// Why, in words the user can act on.
        detail: String,
    },
    /// A key file could not be read or parsed.
    #[error("无法读取私钥文件 {path}：{detail}（需要 PKCS#8 PEM 格式的 P-256 私钥）")]
    Key {
        /// The key file.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

impl SignedDataError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SignedDataError::BadSignatureValue => "E_SIG_VALUE_FORMAT",
            SignedDataError::SignatureMismatch => "E_SIG_KEY_MISMATCH",
            SignedDataError::Malformed { .. } => "E_CMS_MALFORMED",
            SignedDataError::Unsupported { .. } => "E_CMS_UNSUPPORTED",
            SignedDataError::Cert(e) => e.code(),
            SignedDataError::Signer { .. } => "E_SIGNER",
            SignedDataError::Key { .. } => "E_KEY_FILE",
        }
    }
}

fn malformed(e: der::Error) -> SignedDataError {
    SignedDataError::Malformed {
        detail: e.to_string(),
    }
}

/// Which signed attributes to include besides contentType, messageDigest and
/// signingCertificateV2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeProfile {
    /// PAdES (`ETSI.CAdES.detached`): no signingTime attribute.
    Pades,
    /// Plain CMS (e.g. the bid manifest): include signingTime.
    CmsWithSigningTime(SystemTime),
}

/// What a signer is asked to sign, with the context a phone shows before the PIN.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// DER of the signed attributes (a `SET OF Attribute`); the ECDSA input (hashed with
    /// SHA-256 by the signer).
    pub to_be_signed: Vec<u8>,
    /// SHA-256 of the content being signed (the PDF byte range or the manifest), for display.
    pub content_digest: [u8; 32],
    /// Human description, e.g. "投标文件.pdf 第 3 页 公章".
    pub description: String,
}

/// A boxed future returned by [`Signer::sign`].
pub type SignFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<u8>, SignedDataError>> + Send + 'a>>;

/// Something that produces ECDSA P-256/SHA-256 signatures for a certificate: a local key in
/// tests and staff tools, the phone in production. Returns raw `r‖s` (64 bytes) or DER.
pub trait Signer: Send + Sync {
    /// The signer certificate first, then any intermediates to embed.
    fn certificate_chain(&self) -> &[Certificate];
    /// Signs `request.to_be_signed`.
    fn sign<'a>(&'a self, request: &'a SignRequest) -> SignFuture<'a>;
}

/// A signer holding a P-256 key in memory (zeroized on drop). Only for tests and staff tools:
/// bidders' keys live on the phone.
pub struct LocalKeySigner {
    key: p256::ecdsa::SigningKey,
    chain: Vec<Certificate>,
}

impl std::fmt::Debug for LocalKeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeySigner")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl LocalKeySigner {
    /// Builds a signer from a key and its certificate chain (signer first); the key must match
    /// the first certificate.
    pub fn new(key: p256::SecretKey, chain: Vec<Certificate>) -> Result<Self, SignedDataError> {
        let leaf = chain.first().ok_or(CertError::Empty)?;
        if leaf.p256_public_key()? != key.public_key() {
            return Err(SignedDataError::SignatureMismatch);
        }
        Ok(Self {
            key: p256::ecdsa::SigningKey::from(key),
            chain,
        })
    }

    /// Reads a PKCS#8 PEM private key and a PEM certificate file (signer first, then
    /// intermediates), plus any extra chain files.
    pub fn from_files(
        key_pem: &Path,
        cert_pem: &Path,
        extra_chain: &[&Path],
    ) -> Result<Self, SignedDataError> {
        Self::from_files_with_roots(key_pem, cert_pem, extra_chain, &[])
    }

    /// Like [`LocalKeySigner::from_files`], with certificates given as users have them: the
    /// signer certificate is the one matching the key, wherever it is; duplicates and order do
    /// not matter; the embedded chain is [`signing_chain`] (leaf, path upwards, and the root
    /// when it is among the files or `roots`).
    pub fn from_files_with_roots(
        key_pem: &Path,
        cert_pem: &Path,
        extra_chain: &[&Path],
        roots: &[Certificate],
    ) -> Result<Self, SignedDataError> {
        use pkcs8::DecodePrivateKey;
        let key_err = |detail: String| SignedDataError::Key {
            path: key_pem.display().to_string(),
            detail,
        };
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(key_pem).map_err(|e| key_err(e.to_string()))?,
        );
        let key = p256::SecretKey::from_pkcs8_pem(&text).map_err(|e| key_err(e.to_string()))?;
        let mut given = Certificate::load_pem_chain(cert_pem)?;
        for path in extra_chain {
            given.extend(Certificate::load_pem_chain(path)?);
        }
        let public = key.public_key();
        let leaf = given
            .iter()
            .find(|c| c.p256_public_key().is_ok_and(|k| k == public))
            .cloned()
            .ok_or(SignedDataError::SignatureMismatch)?;
        let chain = signing_chain(&leaf, &given, roots)?;
        Self::new(key, chain)
    }
}

impl Signer for LocalKeySigner {
    fn certificate_chain(&self) -> &[Certificate] {
        &self.chain
    }

    fn sign<'a>(&'a self, request: &'a SignRequest) -> SignFuture<'a> {
        use p256::ecdsa::signature::Signer as _;
        let sig: p256::ecdsa::Signature = self.key.sign(&request.to_be_signed);
        Box::pin(async move { Ok(sig.to_bytes().to_vec()) })
    }
}

#[derive(Debug, Clone, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// ESSCertIDv2 with the default hash algorithm (SHA-256) omitted.
#[derive(Debug, Clone, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Debug, Clone, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// The signed attributes of one pending signature, plus the chain it will embed. Persistable
/// as [`SignedAttributes::to_be_signed`] + the chain; rebuilt with
/// [`SignedAttributes::from_parts`].
#[derive(Debug, Clone)]
pub struct SignedAttributes {
    attrs: SetOfVec<Attribute>,
    chain: Vec<Certificate>,
}

fn attribute(oid: ObjectIdentifier, value: impl Encode) -> Result<Attribute, SignedDataError> {
    let any = Any::from_der(&value.to_der().map_err(malformed)?).map_err(malformed)?;
    let values = SetOfVec::try_from(vec![any]).map_err(malformed)?;
    Ok(Attribute { oid, values })
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: OID_SHA256,
        parameters: None,
    }
}

impl SignedAttributes {
    /// Signed attributes for content with SHA-256 `content_digest`, signed by `chain[0]`.
    pub fn new(
        content_digest: [u8; 32],
        chain: Vec<Certificate>,
        profile: AttributeProfile,
    ) -> Result<Self, SignedDataError> {
        let leaf = chain.first().ok_or(CertError::Empty)?;
        leaf.p256_public_key()?;
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(leaf.sha256_fingerprint().to_vec())
                    .map_err(malformed)?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(leaf.issuer().clone())],
                    serial_number: leaf.inner().tbs_certificate.serial_number.clone(),
                }),
            }],
        };
        let mut list = vec![
            attribute(OID_CONTENT_TYPE, OID_DATA)?,
            attribute(
                OID_MESSAGE_DIGEST,
                OctetString::new(content_digest.to_vec()).map_err(malformed)?,
            )?,
            attribute(OID_SIGNING_CERTIFICATE_V2, ess)?,
        ];
        if let AttributeProfile::CmsWithSigningTime(at) = profile {
            let time = x509_cert::time::Time::try_from(at).map_err(malformed)?;
            list.push(attribute(OID_SIGNING_TIME, time)?);
        }
        let attrs = SetOfVec::try_from(list).map_err(malformed)?;
        Ok(Self { attrs, chain })
    }

    /// Rebuilds pending attributes from their persisted DER and chain.
    pub fn from_parts(
        to_be_signed: &[u8],
        chain: Vec<Certificate>,
    ) -> Result<Self, SignedDataError> {
        let attrs = SetOfVec::<Attribute>::from_der(to_be_signed).map_err(malformed)?;
        if chain.is_empty() {
            return Err(CertError::Empty.into());
        }
        Ok(Self { attrs, chain })
    }

    /// The DER `SET OF Attribute` the signer signs.
    pub fn to_be_signed(&self) -> Result<Vec<u8>, SignedDataError> {
        self.attrs.to_der().map_err(malformed)
    }

    /// The certificates that will be embedded (signer first).
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// Checks `signature` (raw `r‖s` or DER) against the signer key and returns the DER
    /// `ContentInfo` holding the detached SignedData.
    pub fn assemble(&self, signature: &[u8]) -> Result<Vec<u8>, SignedDataError> {
        use p256::ecdsa::signature::Verifier;
        let leaf = self.chain.first().ok_or(CertError::Empty)?;
        let sig = parse_signature(signature)?;
        let tbs = self.to_be_signed()?;
        p256::ecdsa::VerifyingKey::from(&leaf.p256_public_key()?)
            .verify(&tbs, &sig)
            .map_err(|_| SignedDataError::SignatureMismatch)?;
        let issuer_serial = leaf.issuer_and_serial();
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(issuer_serial),
            digest_alg: sha256_alg(),
            signed_attrs: Some(self.attrs.clone()),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: OID_ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: OctetString::new(sig.to_der().as_bytes().to_vec()).map_err(malformed)?,
            unsigned_attrs: None,
        };
        // Each certificate once (a DER SET OF may not repeat an element; signers may hand
        // over the leaf twice).
        let mut unique: Vec<&Certificate> = Vec::with_capacity(self.chain.len());
        for c in &self.chain {
            if !unique.iter().any(|u| u.der() == c.der()) {
                unique.push(c);
            }
        }
        let certs: Vec<CertificateChoices> = unique
            .iter()
            .map(|c| CertificateChoices::Certificate(c.inner().clone()))
            .collect();
        let signed = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).map_err(malformed)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: OID_DATA,
                econtent: None,
            },
            certificates: Some(CertificateSet(
                SetOfVec::try_from(certs).map_err(malformed)?,
            )),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(malformed)?),
        };
        let mut signed_der = signed.to_der().map_err(malformed)?;
        leaf_first(&mut signed_der, &unique);
        let content = Any::from_der(&signed_der).map_err(malformed)?;
        ContentInfo {
            content_type: OID_SIGNED_DATA,
            content,
        }
        .to_der()
        .map_err(malformed)
    }
}

/// Puts the embedded certificates in path order (leaf first, then upwards) inside an encoded
/// SignedData. DER sorts a SET OF by encoding, which can put a CA before the signer; poppler/NSS
/// then reports "Unknown issue with Certificate" for later signatures by the same certificate.
/// The `certificates` field is not covered by the signature, and CMS readers take any order
/// (RFC 5652 §5.1 defines it as a BER SET), so the same bytes are rewritten in place.
fn leaf_first(encoded: &mut [u8], path: &[&Certificate]) {
    let total: usize = path.iter().map(|c| c.der().len()).sum();
    // The sorted block starts at the certificate whose encoding sorts first.
    let Some(first) = path.iter().map(|c| c.der()).min() else {
        return;
    };
    let Some(start) = encoded.windows(first.len()).position(|w| w == first) else {
        return;
    };
    let Some(block) = encoded.get_mut(start..start + total) else {
        return;
    };
    // Only rewrite when the block is exactly these certificates (it always is for our own
    // encoding; anything else is left alone).
    let mut sorted: Vec<&[u8]> = path.iter().map(|c| c.der()).collect();
    sorted.sort();
    if sorted.concat() != block {
        return;
    }
    let ordered: Vec<u8> = path.iter().flat_map(|c| c.der().iter().copied()).collect();
    block.copy_from_slice(&ordered);
}

fn parse_signature(bytes: &[u8]) -> Result<p256::ecdsa::Signature, SignedDataError> {
    if bytes.len() == 64 {
        p256::ecdsa::Signature::from_slice(bytes).map_err(|_| SignedDataError::BadSignatureValue)
    } else {
        p256::ecdsa::Signature::from_der(bytes).map_err(|_| SignedDataError::BadSignatureValue)
    }
}

/// Runs the whole flow with `signer`: attributes → sign → assemble.
pub async fn sign_detached(
    signer: &dyn Signer,
    content_digest: [u8; 32],
    profile: AttributeProfile,
    description: &str,
) -> Result<Vec<u8>, SignedDataError> {
    let attrs =
        SignedAttributes::new(content_digest, signer.certificate_chain().to_vec(), profile)?;
    let request = SignRequest {
        to_be_signed: attrs.to_be_signed()?,
        content_digest,
        description: description.to_owned(),
    };
    let signature = signer.sign(&request).await?;
    attrs.assemble(&signature)
}

/// The outcome of checking one detached SignedData.
#[derive(Debug)]
pub struct SignatureVerification {
    /// The signer certificate (found by issuer+serial among the embedded certificates).
    pub signer: Certificate,
    /// Every embedded certificate.
    pub certificates: Vec<Certificate>,
    /// The messageDigest attribute equals the digest of the signed content.
    pub digest_matches: bool,
    /// The ECDSA signature over the signed attributes verifies under the signer key.
    pub signature_valid: bool,
    /// signingCertificateV2, when present, names this signer certificate.
    pub signing_certificate_matches: bool,
    /// The path to a trust anchor, or why there is none.
    pub chain: Result<Vec<Certificate>, CertError>,
    /// The signingTime attribute, if present (PAdES signatures must not have one).
    pub signing_time: Option<SystemTime>,
}

impl SignatureVerification {
    /// Digest, signature, signing-certificate binding and chain are all good.
    pub fn is_valid(&self) -> bool {
        self.digest_matches
            && self.signature_valid
            && self.signing_certificate_matches
            && self.chain.is_ok()
    }
}

/// Verifies a detached SignedData (`ContentInfo` DER, trailing zero padding allowed, as in a
/// PDF `/Contents`) against the SHA-256 digest of the content, at time `at`.
pub fn verify_detached(
    der: &[u8],
    content_digest: &[u8; 32],
    trust: &TrustStore,
    at: SystemTime,
) -> Result<SignatureVerification, SignedDataError> {
    use p256::ecdsa::signature::Verifier;
    let der = strip_padding(der)?;
    let info = ContentInfo::from_der(der).map_err(malformed)?;
    if info.content_type != OID_SIGNED_DATA {
        return Err(SignedDataError::Unsupported {
            detail: info.content_type.to_string(),
        });
    }
    let sd: SignedData = info.content.decode_as().map_err(malformed)?;
    let certificates: Vec<Certificate> = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(c) => Certificate::from_inner(c.clone()).ok(),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let si = sd
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| SignedDataError::Malformed {
            detail: "no SignerInfo".into(),
        })?;
    if si.digest_alg.oid != OID_SHA256 {
        return Err(SignedDataError::Unsupported {
            detail: format!("digest {}", si.digest_alg.oid),
        });
    }
    let sig_alg = si.signature_algorithm.oid;
    if sig_alg != OID_ECDSA_WITH_SHA256 && sig_alg != OID_EC_PUBLIC_KEY {
        return Err(SignedDataError::Unsupported {
            detail: format!("signature {sig_alg}"),
        });
    }
    let signer = match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => certificates
            .iter()
            .find(|c| {
                c.issuer() == &ias.issuer
                    && c.inner().tbs_certificate.serial_number == ias.serial_number
            })
            .cloned(),
        SignerIdentifier::SubjectKeyIdentifier(_) => None,
    }
    .ok_or_else(|| SignedDataError::Malformed {
        detail: "signer certificate not embedded".into(),
    })?;
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| SignedDataError::Unsupported {
            detail: "no signed attributes".into(),
        })?;
    let attr_value = |oid: ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let digest_matches = attr_value(OID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .is_some_and(|d| d.as_bytes() == content_digest.as_slice());
    let signing_certificate_matches = match attr_value(OID_SIGNING_CERTIFICATE_V2) {
        None => true,
        Some(v) => v
            .decode_as::<SigningCertificateV2>()
            .ok()
            .and_then(|s| s.certs.into_iter().next())
            .is_some_and(|id| id.cert_hash.as_bytes() == signer.sha256_fingerprint().as_slice()),
    };
    let signing_time = attr_value(OID_SIGNING_TIME)
        .and_then(|v| v.to_der().ok())
        .and_then(|d| x509_cert::time::Time::from_der(&d).ok())
        .map(|t| t.to_system_time());
    let tbs = attrs.to_der().map_err(malformed)?;
    let signature_valid = match (
        signer.p256_public_key(),
        p256::ecdsa::Signature::from_der(si.signature.as_bytes()),
    ) {
        (Ok(key), Ok(sig)) => p256::ecdsa::VerifyingKey::from(&key)
            .verify(&tbs, &sig)
            .is_ok(),
        _ => false,
    };
    let others: Vec<Certificate> = certificates
        .iter()
        .filter(|c| **c != signer)
        .cloned()
        .collect();
    let chain = trust.verify_chain(&signer, &others, at);
    Ok(SignatureVerification {
        signer,
        certificates,
        digest_matches,
        signature_valid,
        signing_certificate_matches,
        chain,
        signing_time,
    })
}

/// SHA-256 helper for callers that hold the whole content.
pub fn sha256(content: &[u8]) -> [u8; 32] {
    Sha256::digest(content).into()
}

/// Returns the DER prefix of `bytes` (one TLV), ignoring trailing zero padding.
fn strip_padding(bytes: &[u8]) -> Result<&[u8], SignedDataError> {
    let mut reader = der::SliceReader::new(bytes).map_err(malformed)?;
    let header = der::Header::decode(&mut reader).map_err(malformed)?;
    let total = (header.encoded_len().map_err(malformed)? + header.length).map_err(malformed)?;
    let total = usize::try_from(total).map_err(malformed)?;
    let (tlv, rest) = bytes
        .split_at_checked(total)
        .ok_or_else(|| SignedDataError::Malformed {
            detail: "truncated".into(),
        })?;
    if rest.iter().any(|b| *b != 0) {
        return Err(SignedDataError::Malformed {
            detail: "trailing data".into(),
        });
    }
    Ok(tlv)
}
