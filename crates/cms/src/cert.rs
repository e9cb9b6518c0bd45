//! X.509 certificates of bidders and CAs, and the multi-CA trust store.
//!
//! What it is for: every flow that meets a certificate (scan authentication, PDF signatures,
//! bid-manifest signatures, envelope recipients, opening) reads it through [`Certificate`] and
//! decides whether to trust it with [`TrustStore::verify_chain`].
//!
//! What it guarantees:
//! - Parsing never panics on hostile input; every failure is a [`CertError`] with a stable
//!   code and a zh-CN message that says what to do.
//! - Chain verification checks, for every link from the leaf up to one of the configured
//!   roots: the issuer's signature (ECDSA P-256 with SHA-256 only), the validity window at the
//!   given time, and that every issuer is a CA (basicConstraints `cA = TRUE`, and keyCertSign
//!   when a keyUsage extension is present). Paths are at most [`MAX_CHAIN_DEPTH`] long.
//!
//! What it does not do (yet): revocation (CRL/OCSP), name constraints, policy processing,
//! critical-extension rejection, algorithms other than ECDSA P-256/SHA-256, or 适用区域
//! (region applicability) — callers that need these must add them.
//!
//! Unified social credit code (统一社会信用代码): Chinese CAs place it in different subject
//! attributes. [`Certificate::credit_code`] looks, in this order, at `organizationIdentifier`
//! (2.5.4.97), `serialNumber` (2.5.4.5) and `organizationalUnitName` (2.5.4.11), and returns
//! the first 18-character run of the code alphabet (digits and upper-case letters without
//! I, O, S, V, Z) found in one of them (so prefixes such as `NTRCN-` or `91…` suffixes work).

use const_oid::db::rfc5280::{ID_CE_BASIC_CONSTRAINTS, ID_CE_KEY_USAGE};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Tag, Tagged};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::SystemTime;
use thiserror::Error;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::name::Name;

pub use cms::cert::IssuerAndSerialNumber;
pub use x509_cert::ext::pkix::KeyUsages;

/// The longest certificate path (leaf + intermediates + root) we follow.
pub const MAX_CHAIN_DEPTH: usize = 8;

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const OID_SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
const OID_ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");
/// id-ecPublicKey.
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / prime256v1 (P-256).
pub const OID_SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// ecdsa-with-SHA256.
pub const OID_ECDSA_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// Why a certificate could not be read or trusted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CertError {
    /// The bytes are neither a DER certificate nor PEM `CERTIFICATE` blocks.
    #[error("证书格式无法识别（{detail}），请提供 PEM 或 DER 格式的 X.509 证书")]
    Malformed {
        /// What the parser reported.
        detail: String,
    },
    /// A PEM file held no certificate.
    #[error("文件中没有找到证书，请确认选择的是 PEM 证书文件")]
    Empty,
    /// A certificate file could not be read.
    #[error("无法读取证书文件 {path}：{detail}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        detail: String,
    },
    /// The subject key is not an EC P-256 key.
    #[error("证书公钥不是 ECDSA P-256 密钥：本工具只支持 P-256 证书，请更换证书")]
    NotP256,
    /// The certificate or issuer signature uses an algorithm we do not verify.
    #[error("证书签名算法 {oid} 不受支持，仅支持 ECDSA P-256/SHA-256，请联系 CA 获取兼容证书")]
    UnsupportedSignatureAlgorithm {
        /// The algorithm OID.
        oid: String,
    },
    /// An issuer's signature over a certificate does not verify.
    #[error("证书“{subject}”的签发者签名无效，证书可能被篡改或证书链不正确")]
    BadSignature {
        /// Subject of the certificate whose signature failed.
        subject: String,
    },
    /// Not yet valid at the checked time.
    #[error("证书“{subject}”尚未生效，请检查系统时间或等待证书生效")]
    NotYetValid {
        /// Subject.
        subject: String,
    },
    /// Expired at the checked time.
    #[error("证书“{subject}”已过期，请到 CA 更新证书")]
    Expired {
        /// Subject.
        subject: String,
    },
    /// An issuer in the path is not a CA.
    #[error("证书“{subject}”不是 CA 证书，不能签发其他证书，证书链无效")]
    NotCa {
        /// Subject of the non-CA issuer.
        subject: String,
    },
    /// No path to any configured root.
    #[error("证书“{subject}”无法链接到任何受信任的根证书，请导入签发该证书的 CA 根证书")]
    UntrustedRoot {
        /// Subject of the last certificate reached.
        subject: String,
    },
    /// The path is longer than [`MAX_CHAIN_DEPTH`].
    #[error("证书链过长（超过 {MAX_CHAIN_DEPTH} 级），已拒绝")]
    ChainTooLong,
    /// Certificates handed over as the signer's chain do not form one path from the signer
    /// certificate upwards.
    #[error("证书链不完整或有多余证书：{detail}")]
    BrokenChain {
        /// Where the path breaks, in words.
        detail: String,
    },
}

impl CertError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CertError::Malformed { .. } => "E_CERT_MALFORMED",
            CertError::Empty => "E_CERT_EMPTY",
            CertError::Io { .. } => "E_CERT_IO",
            CertError::NotP256 => "E_CERT_NOT_P256",
            CertError::UnsupportedSignatureAlgorithm { .. } => "E_CERT_SIG_ALG",
            CertError::BadSignature { .. } => "E_CERT_BAD_SIGNATURE",
            CertError::NotYetValid { .. } => "E_CERT_NOT_YET_VALID",
            CertError::Expired { .. } => "E_CERT_EXPIRED",
            CertError::NotCa { .. } => "E_CERT_NOT_CA",
            CertError::UntrustedRoot { .. } => "E_CERT_UNTRUSTED",
            CertError::ChainTooLong => "E_CERT_CHAIN_TOO_LONG",
            CertError::BrokenChain { .. } => "E_CERT_CHAIN_BROKEN",
        }
    }
}

/// One parsed X.509 certificate together with its exact DER encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    inner: x509_cert::Certificate,
    der: Vec<u8>,
}

impl Certificate {
    /// Parses one DER-encoded certificate (trailing bytes are an error).
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let inner = x509_cert::Certificate::from_der(der).map_err(malformed)?;
        Ok(Self {
            inner,
            der: der.to_vec(),
        })
    }

    /// Parses the first certificate of a PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertError> {
        Self::many_from_pem(pem)?
            .into_iter()
            .next()
            .ok_or(CertError::Empty)
    }

    /// Parses every `CERTIFICATE` block of a PEM text, in order (at least one).
    pub fn many_from_pem(pem: &[u8]) -> Result<Vec<Self>, CertError> {
        let certs = x509_cert::Certificate::load_pem_chain(pem).map_err(malformed)?;
        if certs.is_empty() {
            return Err(CertError::Empty);
        }
        certs.into_iter().map(Self::from_inner).collect()
    }

    /// Parses PEM (one or many) or a single DER certificate, whichever the bytes are.
    pub fn many_from_pem_or_der(bytes: &[u8]) -> Result<Vec<Self>, CertError> {
        if bytes.first() == Some(&0x30) {
            Ok(vec![Self::from_der(bytes)?])
        } else {
            Self::many_from_pem(bytes)
        }
    }

    /// Reads a PEM (or DER) file holding one or more certificates, leaf first by convention.
    pub fn load_pem_chain(path: &Path) -> Result<Vec<Self>, CertError> {
        let bytes = std::fs::read(path).map_err(|e| CertError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::many_from_pem_or_der(&bytes)
    }

    /// Wraps an already parsed certificate.
    pub fn from_inner(inner: x509_cert::Certificate) -> Result<Self, CertError> {
        let der = inner.to_der().map_err(malformed)?;
        Ok(Self { inner, der })
    }

    /// The underlying RustCrypto certificate.
    pub fn inner(&self) -> &x509_cert::Certificate {
        &self.inner
    }

    /// The exact DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject name.
    pub fn subject(&self) -> &Name {
        &self.inner.tbs_certificate.subject
    }

    /// The issuer name.
    pub fn issuer(&self) -> &Name {
        &self.inner.tbs_certificate.issuer
    }

    /// The subject rendered as an RFC 4514 string (for messages and reports).
    pub fn subject_string(&self) -> String {
        self.subject().to_string()
    }

    /// Subject common name (CN), if present and a readable string.
    pub fn common_name(&self) -> Option<String> {
        name_attr(self.subject(), OID_CN).into_iter().next()
    }

    /// Subject organisation (O), the enterprise name for enterprise certificates.
    pub fn organization(&self) -> Option<String> {
        name_attr(self.subject(), OID_O).into_iter().next()
    }

    /// The 18-character unified social credit code (统一社会信用代码), if the subject carries
    /// one in organizationIdentifier, serialNumber or OU (in that order; see the module doc).
    pub fn credit_code(&self) -> Option<String> {
        [OID_ORGANIZATION_IDENTIFIER, OID_SERIAL_NUMBER, OID_OU]
            .into_iter()
            .flat_map(|oid| name_attr(self.subject(), oid))
            .find_map(|value| find_credit_code(&value))
    }

    /// Issuer and serial number, as CMS `SignerIdentifier` / recipient identifiers need.
    pub fn issuer_and_serial(&self) -> IssuerAndSerialNumber {
        IssuerAndSerialNumber {
            issuer: self.issuer().clone(),
            serial_number: self.inner.tbs_certificate.serial_number.clone(),
        }
    }

    /// The serial number as upper-case hex.
    pub fn serial_hex(&self) -> String {
        self.inner
            .tbs_certificate
            .serial_number
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// Start of the validity window.
    pub fn not_before(&self) -> SystemTime {
        self.inner
            .tbs_certificate
            .validity
            .not_before
            .to_system_time()
    }

    /// End of the validity window.
    pub fn not_after(&self) -> SystemTime {
        self.inner
            .tbs_certificate
            .validity
            .not_after
            .to_system_time()
    }

    /// Checks the validity window at `at`.
    pub fn check_validity(&self, at: SystemTime) -> Result<(), CertError> {
        if at < self.not_before() {
            return Err(CertError::NotYetValid {
                subject: self.subject_string(),
            });
        }
        if at > self.not_after() {
            return Err(CertError::Expired {
                subject: self.subject_string(),
            });
        }
        Ok(())
    }

    /// The keyUsage extension, if present and well-formed.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.extension(ID_CE_KEY_USAGE)
            .and_then(|v| KeyUsage::from_der(v).ok())
    }

    /// True when keyUsage is absent (any use allowed) or includes `usage`.
    pub fn allows(&self, usage: KeyUsages) -> bool {
        self.key_usage().is_none_or(|ku| ku.0.contains(usage))
    }

    /// True when basicConstraints says `cA = TRUE`.
    pub fn is_ca(&self) -> bool {
        self.extension(ID_CE_BASIC_CONSTRAINTS)
            .and_then(|v| BasicConstraints::from_der(v).ok())
            .is_some_and(|bc| bc.ca)
    }

    /// The subject's P-256 public key, or [`CertError::NotP256`].
    pub fn p256_public_key(&self) -> Result<p256::PublicKey, CertError> {
        let spki = &self.inner.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
            return Err(CertError::NotP256);
        }
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if curve != Some(OID_SECP256R1) {
            return Err(CertError::NotP256);
        }
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or(CertError::NotP256)?;
        p256::PublicKey::from_sec1_bytes(bits).map_err(|_| CertError::NotP256)
    }

    /// SHA-256 of the DER encoding (the certificate's fingerprint).
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }

    /// Verifies that `issuer`'s key signed this certificate (ECDSA P-256/SHA-256).
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), CertError> {
        use p256::ecdsa::signature::Verifier;
        let alg = &self.inner.signature_algorithm.oid;
        if *alg != OID_ECDSA_WITH_SHA256 {
            return Err(CertError::UnsupportedSignatureAlgorithm {
                oid: alg.to_string(),
            });
        }
        let key = issuer.p256_public_key()?;
        let bad = || CertError::BadSignature {
            subject: self.subject_string(),
        };
        let tbs = self.inner.tbs_certificate.to_der().map_err(|_| bad())?;
        let sig_bytes = self.inner.signature.as_bytes().ok_or_else(bad)?;
        let sig = p256::ecdsa::Signature::from_der(sig_bytes).map_err(|_| bad())?;
        p256::ecdsa::VerifyingKey::from(&key)
            .verify(&tbs, &sig)
            .map_err(|_| bad())
    }

    fn extension(&self, oid: ObjectIdentifier) -> Option<&[u8]> {
        self.inner
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }
}

/// A set of trusted CA roots (several CAs are normal in Chinese tendering: 互认).
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    roots: Vec<Certificate>,
}

impl TrustStore {
    /// An empty store (trusts nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `roots`.
    pub fn with_roots(roots: impl IntoIterator<Item = Certificate>) -> Self {
        Self {
            roots: roots.into_iter().collect(),
        }
    }

    /// Adds one root.
    pub fn add_root(&mut self, root: Certificate) {
        self.roots.push(root);
    }

    /// Adds every certificate of a PEM/DER file as a root.
    pub fn add_pem_file(&mut self, path: &Path) -> Result<(), CertError> {
        self.roots.extend(Certificate::load_pem_chain(path)?);
        Ok(())
    }

    /// The configured roots.
    pub fn roots(&self) -> &[Certificate] {
        &self.roots
    }

    /// Builds and checks a path from `leaf` through any of `intermediates` to a root, at time
    /// `at`. Returns the path, leaf first and root last.
    pub fn verify_chain(
        &self,
        leaf: &Certificate,
        intermediates: &[Certificate],
        at: SystemTime,
    ) -> Result<Vec<Certificate>, CertError> {
        let mut path = vec![leaf.clone()];
        leaf.check_validity(at)?;
        if self.roots.iter().any(|r| r.der == leaf.der) {
            return Ok(path);
        }
        loop {
            if path.len() >= MAX_CHAIN_DEPTH {
                return Err(CertError::ChainTooLong);
            }
            let current = path.last().ok_or(CertError::Empty)?.clone();
            let mut last_err = None;
            // Prefer a root; then an intermediate not already on the path.
            let roots = self.roots.iter().map(|c| (c, true));
            let inters = intermediates.iter().map(|c| (c, false));
            let mut next = None;
            for (cand, is_root) in roots.chain(inters) {
                if cand.subject() != current.issuer() || path.iter().any(|p| p.der == cand.der) {
                    continue;
                }
                match check_issuer(&current, cand, at) {
                    Ok(()) => {
                        next = Some((cand.clone(), is_root));
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            match next {
                Some((cand, true)) => {
                    path.push(cand);
                    return Ok(path);
                }
                Some((cand, false)) => path.push(cand),
                None => {
                    return Err(last_err.unwrap_or(CertError::UntrustedRoot {
                        subject: current.subject_string(),
                    }))
                }
            }
        }
    }
}

/// The certificates to embed with a signature by `leaf`, as users hand them over: `given` may
/// hold the leaf again, duplicates, and the CAs in any order (a CA's "chain file" usually starts
/// with the leaf). Returns each certificate once: the leaf, then the path upwards — every
/// issuer found in `given` or `roots` whose signature over the previous certificate verifies —
/// ending at a self-signed root when one is known (from `given` or `roots`; validators such as
/// poppler/NSS need it to judge a signature whose chain would otherwise stop at an intermediate).
///
/// Unused `roots` are fine (a trust store holds many CAs); a certificate in `given` that is not
/// on the path is an error that says where the path breaks ([`CertError::BrokenChain`]):
/// a missing intermediate, a same-named CA with another key, or an unrelated certificate.
pub fn signing_chain(
    leaf: &Certificate,
    given: &[Certificate],
    roots: &[Certificate],
) -> Result<Vec<Certificate>, CertError> {
    let mut path = vec![leaf.clone()];
    let mut mismatch: Option<String> = None;
    loop {
        let current = path.last().ok_or(CertError::Empty)?;
        if current.subject() == current.issuer() && issued_by(current, current) {
            break;
        }
        if path.len() >= MAX_CHAIN_DEPTH {
            return Err(CertError::ChainTooLong);
        }
        let mut found = None;
        for cand in given.iter().chain(roots) {
            if cand.subject() != current.issuer() || path.iter().any(|p| p.der == cand.der) {
                continue;
            }
            match issued_by(current, cand) {
                true => {
                    found = Some(cand.clone());
                    break;
                }
                false => {
                    mismatch = Some(format!(
                        "证书“{}”与“{}”的签发者同名，但其公钥验证不了该证书的签名（可能是同名的另一个 CA 或旧证书）",
                        cand.subject_string(),
                        current.subject_string()
                    ))
                }
            }
        }
        match found {
            Some(next) => path.push(next),
            None => break,
        }
    }
    let stray: Vec<&Certificate> = given
        .iter()
        .filter(|c| !path.iter().any(|p| p.der == c.der))
        .collect();
    if let Some(first) = stray.first() {
        let last = path.last().ok_or(CertError::Empty)?;
        let detail = match mismatch {
            Some(m) => m,
            None => format!(
                "提供的证书“{}”不在签名证书的签发路径上：路径 {} 在“{}”处中断，缺少其签发者“{}”的证书；请提供完整的 CA 证书链（或去掉无关证书）",
                first.subject_string(),
                path.iter()
                    .map(|c| format!("“{}”", c.subject_string()))
                    .collect::<Vec<_>>()
                    .join(" → "),
                last.subject_string(),
                last.issuer()
            ),
        };
        return Err(CertError::BrokenChain { detail });
    }
    Ok(path)
}

/// `issuer`'s key verifies `child`'s signature — or cannot be checked here (an algorithm
/// other than ECDSA P-256/SHA-256), in which case the matching name decides.
fn issued_by(child: &Certificate, issuer: &Certificate) -> bool {
    match child.verify_signed_by(issuer) {
        Ok(()) => true,
        Err(CertError::UnsupportedSignatureAlgorithm { .. } | CertError::NotP256) => true,
        Err(_) => false,
    }
}

/// Whether `issuer` issued `child`: a CA allowed to sign certificates, valid at `at`, whose
/// key verifies `child`'s signature. (`child`'s own validity is not looked at.)
pub fn check_issuer(
    child: &Certificate,
    issuer: &Certificate,
    at: SystemTime,
) -> Result<(), CertError> {
    if !issuer.is_ca() || !issuer.allows(KeyUsages::KeyCertSign) {
        return Err(CertError::NotCa {
            subject: issuer.subject_string(),
        });
    }
    issuer.check_validity(at)?;
    child.verify_signed_by(issuer)
}

fn malformed(e: der::Error) -> CertError {
    CertError::Malformed {
        detail: e.to_string(),
    }
}

/// All string values of attribute `oid` in `name`, in order.
fn name_attr(name: &Name, oid: ObjectIdentifier) -> Vec<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == oid)
        .filter_map(|atv| directory_string(&atv.value))
        .collect()
}

fn directory_string(any: &der::Any) -> Option<String> {
    let bytes = any.value();
    match any.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            String::from_utf8(bytes.to_vec()).ok()
        }
        Tag::BmpString => {
            let pairs = bytes.chunks_exact(2);
            if !pairs.remainder().is_empty() {
                return None;
            }
            let units: Vec<u16> = pairs.map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

const CREDIT_CODE_LEN: usize = 18;

fn is_credit_code_char(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && !matches!(c, 'I' | 'O' | 'S' | 'V' | 'Z'))
}

/// The first run of exactly 18 code-alphabet characters in `value`.
fn find_credit_code(value: &str) -> Option<String> {
    value
        .split(|c: char| !is_credit_code_char(c))
        .find(|run| run.len() == CREDIT_CODE_LEN)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_code_is_found_after_a_prefix() {
        assert_eq!(
            find_credit_code("NTRCN-91350100M000100Y43").as_deref(),
            Some("91350100M000100Y43")
        );
        assert_eq!(
            find_credit_code("91350100M000100Y43").as_deref(),
            Some("91350100M000100Y43")
        );
        assert_eq!(find_credit_code("1234"), None);
        // 19 characters is not a code.
        assert_eq!(find_credit_code("91350100M000100Y431"), None);
    }

    #[test]
    fn garbage_is_a_typed_error_not_a_panic() {
        assert_eq!(
            Certificate::from_der(b"\x30\x03abc").unwrap_err().code(),
            "E_CERT_MALFORMED"
        );
        assert!(Certificate::many_from_pem(b"hello").is_err());
    }
}
