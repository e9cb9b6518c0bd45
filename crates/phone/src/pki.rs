//! The test PKI: two test CAs and the certificates a bidding company's phones carry, made
//! fresh by `bidseal phone init` (no test key is checked in).
//!
//! What it makes (all ECDSA P-256, leaf keyUsage digitalSignature + nonRepudiation +
//! keyAgreement so every certificate can sign *and* be an envelope recipient):
//! - `BidSeal 测试CA 一` and `BidSeal 测试CA 二`, self-signed roots;
//! - for 华夏建设工程有限公司: an enterprise certificate (subject CN = O = company name,
//!   `serialNumber` (2.5.4.5) = the 18-character unified social credit code), a legal-person
//!   certificate, personal certificates and colleague certificates, spread over both CAs;
//! - an enterprise certificate of another company (江南路桥集团有限公司);
//! - a personal certificate whose validity already ended (for the expired-certificate case).
//!
//! Person certificates carry the company in O and its credit code in OU (`统一社会信用代码:…`),
//! so the desktop can match a person to the bidder; only the enterprise certificate uses
//! `serialNumber` for the code, as Chinese enterprise certificates do.
//!
//! Guarantees: every certificate chains to one of the two CAs and the key matches. It does not
//! publish CRLs/OCSP (revocation is the co-signing service's certificate state).

use crate::uscc::UnifiedSocialCreditCode;
use const_oid::db::rfc4519;
use der::asn1::{PrintableStringRef, SetOfVec, UtcTime, Utf8StringRef};
use der::{Any, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use spki::SubjectPublicKeyInfoOwned;
use std::time::{Duration, SystemTime};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::request::{CertReq, CertReqInfo};
/// ecdsa-with-SHA256 (RFC 5758).
const ECDSA_WITH_SHA_256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;
use zeroize::Zeroizing;

/// Errors while making the test PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// ASN.1 encoding failed (a bug in the generator, not user input).
    #[error("证书编码失败：{0}")]
    Der(#[from] der::Error),
    /// The certificate builder refused.
    #[error("证书生成失败：{0}")]
    Builder(#[from] x509_cert::builder::Error),
    /// Key encoding failed.
    #[error("密钥编码失败：{0}")]
    Key(String),
    /// A unified social credit code in the generator's table is wrong.
    #[error("统一社会信用代码错误：{0}")]
    Uscc(#[from] crate::uscc::UsccError),
    /// A certificate request whose signature does not verify under its own public key, or
    /// whose subject is not the one the CA was asked to issue.
    #[error("证书申请（CSR）无效：{0}，测试 CA 拒绝签发")]
    Csr(&'static str),
}

/// What a certificate is for, from the bidder's point of view (seed 2.3 证书类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderRole {
    /// 企业证书: the company itself (公章).
    Enterprise,
    /// 法人证书: the legal representative (法人章, 法人手写签名).
    LegalPerson,
    /// 个人证书: a staff member with personal seals (私章).
    Personal,
    /// A colleague's certificate of the same company, chosen as extra encryption recipient.
    Colleague,
}

/// One test CA: its certificate and (test-only) key.
pub struct TestCa {
    /// Short id used in file names: `ca-1`, `ca-2`.
    pub id: &'static str,
    /// The self-signed certificate.
    pub cert: Certificate,
    key: SigningKey,
}

/// One issued leaf certificate, with its private key when the CA made the key (a split key's
/// certificate is issued from a jointly signed CSR and has none).
pub struct IssuedCert {
    /// What the manifest calls it (`ent-huaxia`, `legal-zhang`, ...).
    pub spec: LeafSpec,
    /// The certificate.
    pub cert: Certificate,
    /// The issuing CA's certificate.
    pub issuer: Certificate,
    /// The PKCS#8 DER of the private key, zeroized on drop; `None` for a split key.
    pub key_pkcs8: Option<Zeroizing<Vec<u8>>>,
}

/// What to issue: the table in [`standard_specs`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeafSpec {
    /// Stable id (file names, CLI `--cert`).
    pub id: String,
    /// Role of the holder.
    pub role: HolderRole,
    /// Company name (O; also CN for an enterprise certificate).
    pub company: String,
    /// Unified social credit code of the company.
    pub uscc: String,
    /// Person name for person certificates (CN), `None` for an enterprise certificate.
    pub person: Option<String>,
    /// Which CA issues it: 0 or 1.
    pub ca_index: usize,
    /// Validity ends this many days after issue; negative means already expired.
    pub valid_days: i64,
    /// Number of personal seals (私章) to draw, 0..=3.
    pub personal_seals: u8,
}

/// The company the demo bidder is.
pub const BIDDER_COMPANY: &str = "华夏建设工程有限公司";
/// Another company (certificate must not match the bidder).
pub const OTHER_COMPANY: &str = "江南路桥集团有限公司";

/// The id of the one non-split test certificate (its key is written whole to
/// `pki/<id>.key.pem` for openssl interop tests; every other key is split).
pub const PLAIN_CERT_ID: &str = "colleague-chen-plain";

/// The standard test population (see the module doc).
pub fn standard_specs() -> Result<Vec<LeafSpec>, PkiError> {
    let bidder = UnifiedSocialCreditCode::from_body("9111010871526726")?.to_string();
    let other = UnifiedSocialCreditCode::from_body("9132010060843123")?.to_string();
    let leaf =
        |id: &str, role, company: &str, uscc: &str, person: Option<&str>, ca, days, seals| {
            LeafSpec {
                id: id.to_string(),
                role,
                company: company.to_string(),
                uscc: uscc.to_string(),
                person: person.map(str::to_string),
                ca_index: ca,
                valid_days: days,
                personal_seals: seals,
            }
        };
    use HolderRole::*;
    Ok(vec![
        leaf(
            "ent-huaxia",
            Enterprise,
            BIDDER_COMPANY,
            &bidder,
            None,
            0,
            730,
            0,
        ),
        leaf(
            "legal-zhang",
            LegalPerson,
            BIDDER_COMPANY,
            &bidder,
            Some("张伟"),
            1,
            730,
            0,
        ),
        leaf(
            "staff-li",
            Personal,
            BIDDER_COMPANY,
            &bidder,
            Some("李娜"),
            1,
            730,
            3,
        ),
        leaf(
            "colleague-wang",
            Colleague,
            BIDDER_COMPANY,
            &bidder,
            Some("王芳"),
            1,
            730,
            1,
        ),
        leaf(
            "colleague-liu",
            Colleague,
            BIDDER_COMPANY,
            &bidder,
            Some("刘洋"),
            0,
            730,
            1,
        ),
        leaf(
            "ent-jiangnan",
            Enterprise,
            OTHER_COMPANY,
            &other,
            None,
            1,
            730,
            0,
        ),
        // The one certificate whose key `phone init` keeps whole (`pki/<id>.key.pem`), for
        // the interop tests where openssl itself must hold a recipient key.
        leaf(
            PLAIN_CERT_ID,
            Colleague,
            BIDDER_COMPANY,
            &bidder,
            Some("陈静"),
            0,
            730,
            1,
        ),
        leaf(
            "expired-zhao",
            Personal,
            BIDDER_COMPANY,
            &bidder,
            Some("赵磊"),
            0,
            -1,
            1,
        ),
        // The other company's legal representative (last: a phone choosing the first
        // certificate with a 法人章 still picks the bidder's own).
        leaf(
            "legal-chen",
            LegalPerson,
            OTHER_COMPANY,
            &other,
            Some("陈静"),
            1,
            730,
            0,
        ),
    ])
}

fn rdn(
    oid: der::asn1::ObjectIdentifier,
    value: Any,
) -> Result<RelativeDistinguishedName, PkiError> {
    let mut set = SetOfVec::new();
    set.insert(AttributeTypeAndValue { oid, value })?;
    Ok(RelativeDistinguishedName(set))
}

fn utf8(s: &str) -> Result<Any, PkiError> {
    Ok(Any::encode_from(&Utf8StringRef::new(s)?)?)
}

fn printable(s: &str) -> Result<Any, PkiError> {
    Ok(Any::encode_from(&PrintableStringRef::new(s)?)?)
}

/// The subject name of a leaf (see module doc for where the credit code goes).
pub fn subject_name(spec: &LeafSpec) -> Result<Name, PkiError> {
    let mut rdns = vec![
        rdn(rfc4519::C, printable("CN")?)?,
        rdn(rfc4519::O, utf8(&spec.company)?)?,
    ];
    match &spec.person {
        None => {
            rdns.push(rdn(rfc4519::CN, utf8(&spec.company)?)?);
            rdns.push(rdn(rfc4519::SERIAL_NUMBER, printable(&spec.uscc)?)?);
        }
        Some(person) => {
            let unit = format!("统一社会信用代码:{}", spec.uscc);
            rdns.push(rdn(rfc4519::OU, utf8(&unit)?)?);
            if spec.role == HolderRole::LegalPerson {
                rdns.push(rdn(rfc4519::TITLE, utf8("法定代表人")?)?);
            }
            rdns.push(rdn(rfc4519::CN, utf8(person)?)?);
        }
    }
    Ok(RdnSequence(rdns))
}

fn ca_name(label: &str) -> Result<Name, PkiError> {
    Ok(RdnSequence(vec![
        rdn(rfc4519::C, printable("CN")?)?,
        rdn(rfc4519::O, utf8("BidSeal 测试")?)?,
        rdn(rfc4519::CN, utf8(label)?)?,
    ]))
}

fn serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::new(&bytes)?)
}

fn time_at(t: SystemTime) -> Result<Time, PkiError> {
    Ok(Time::UtcTime(UtcTime::from_system_time(t)?))
}

fn validity(start_offset_days: i64, days: i64) -> Result<Validity, PkiError> {
    let day = 86_400u64;
    let now = SystemTime::now();
    let shift = |d: i64| {
        if d >= 0 {
            now + Duration::from_secs(d as u64 * day)
        } else {
            now - Duration::from_secs(d.unsigned_abs() * day)
        }
    };
    Ok(Validity {
        not_before: time_at(shift(start_offset_days))?,
        not_after: time_at(shift(days))?,
    })
}

fn spki_of(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
    SubjectPublicKeyInfoOwned::from_key(*key.verifying_key())
        .map_err(|e| PkiError::Key(e.to_string()))
}

impl TestCa {
    /// Makes a fresh self-signed test CA valid for ten years.
    pub fn generate(id: &'static str, label: &str) -> Result<Self, PkiError> {
        let key = SigningKey::random(&mut OsRng);
        let builder = CertificateBuilder::new(
            Profile::Root,
            serial()?,
            validity(-1, 3650)?,
            ca_name(label)?,
            spki_of(&key)?,
            &key,
        )?;
        let cert = builder.build::<DerSignature>()?;
        Ok(Self { id, cert, key })
    }

    /// The world's CA `id` (`ca-1` or `ca-2`) from `pki_dir/<id>.pem` and `<id>.key.pem`, as
    /// `phone init` wrote them (tests that issue one more certificate in a world).
    pub fn load(pki_dir: &std::path::Path, id: &str) -> Result<Self, PkiError> {
        use der::DecodePem;
        use p256::pkcs8::DecodePrivateKey;
        let id: &'static str = match id {
            "ca-1" => "ca-1",
            "ca-2" => "ca-2",
            _ => {
                return Err(PkiError::Key(format!(
                    "没有测试 CA {id}（只有 ca-1、ca-2）"
                )))
            }
        };
        let read = |name: String| {
            std::fs::read_to_string(pki_dir.join(&name))
                .map(Zeroizing::new)
                .map_err(|e| PkiError::Key(format!("{name}：{e}")))
        };
        let cert = Certificate::from_pem(read(format!("{id}.pem"))?.as_bytes())?;
        let key = SigningKey::from_pkcs8_pem(&read(format!("{id}.key.pem"))?)
            .map_err(|e| PkiError::Key(e.to_string()))?;
        Ok(Self { id, cert, key })
    }

    /// Issues a leaf for `spec` with a fresh key made here.
    pub fn issue(&self, spec: &LeafSpec) -> Result<IssuedCert, PkiError> {
        let leaf_key = SigningKey::random(&mut OsRng);
        let key_pkcs8 = Zeroizing::new(
            leaf_key
                .to_pkcs8_der()
                .map_err(|e| PkiError::Key(e.to_string()))?
                .as_bytes()
                .to_vec(),
        );
        self.issue_for(spec, spki_of(&leaf_key)?, Some(key_pkcs8))
    }

    /// Issues a leaf for `spec` from a certificate request: the CSR's signature must verify
    /// under its own public key (ECDSA P-256 / SHA-256: proof that whoever asks holds the key,
    /// for a split key the phone and the service together) and its subject must be `spec`'s.
    pub fn issue_from_csr(&self, spec: &LeafSpec, csr: &CertReq) -> Result<IssuedCert, PkiError> {
        use p256::ecdsa::signature::Verifier;
        if csr.algorithm.oid != ECDSA_WITH_SHA_256 {
            return Err(PkiError::Csr("签名算法不是 ECDSA-SHA256"));
        }
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(
            csr.info.public_key.subject_public_key.raw_bytes(),
        )
        .map_err(|_| PkiError::Csr("公钥不是 P-256 点"))?;
        let signature = p256::ecdsa::DerSignature::from_bytes(csr.signature.raw_bytes())
            .map_err(|_| PkiError::Csr("签名格式错误"))?;
        key.verify(&csr.info.to_der()?, &signature)
            .map_err(|_| PkiError::Csr("签名与公钥不符"))?;
        if csr.info.subject != subject_name(spec)? {
            return Err(PkiError::Csr("申请的主体与证书规格不符"));
        }
        self.issue_for(spec, csr.info.public_key.clone(), None)
    }

    fn issue_for(
        &self,
        spec: &LeafSpec,
        spki: SubjectPublicKeyInfoOwned,
        key_pkcs8: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<IssuedCert, PkiError> {
        let start = if spec.valid_days < 0 {
            spec.valid_days - 365
        } else {
            -1
        };
        let builder = CertificateBuilder::new(
            Profile::Leaf {
                issuer: self.cert.tbs_certificate.subject.clone(),
                enable_key_agreement: true,
                enable_key_encipherment: false,
            },
            serial()?,
            validity(start, spec.valid_days)?,
            subject_name(spec)?,
            spki,
            &self.key,
        )?;
        let cert = builder.build::<DerSignature>()?;
        Ok(IssuedCert {
            spec: spec.clone(),
            cert,
            issuer: self.cert.clone(),
            key_pkcs8,
        })
    }

    /// The CA key as PKCS#8 PEM (test PKI only).
    pub fn key_pem(&self) -> Result<Zeroizing<String>, PkiError> {
        let pem = self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| PkiError::Key(e.to_string()))?;
        Ok(Zeroizing::new(pem.to_string()))
    }
}

/// PEM of one certificate.
pub fn cert_pem(cert: &Certificate) -> Result<String, PkiError> {
    Ok(cert.to_pem(der::pem::LineEnding::LF)?)
}

/// SHA-256 fingerprint (lower-case hex) of a certificate's DER.
pub fn fingerprint(cert: &Certificate) -> Result<String, PkiError> {
    use sha2::Digest;
    Ok(hex::encode(sha2::Sha256::digest(cert.to_der()?)))
}

/// The to-be-signed part of a certificate request for `spec` with `public` (the caller signs
/// its DER with ECDSA P-256 / SHA-256 and calls [`certificate_request`]).
pub fn request_info(spec: &LeafSpec, public: &p256::PublicKey) -> Result<CertReqInfo, PkiError> {
    Ok(CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: subject_name(spec)?,
        public_key: SubjectPublicKeyInfoOwned::from_key(*public)
            .map_err(|e| PkiError::Key(e.to_string()))?,
        attributes: Default::default(),
    })
}

/// The certificate request from its info and the DER ECDSA signature over the info's DER.
pub fn certificate_request(info: CertReqInfo, signature_der: &[u8]) -> Result<CertReq, PkiError> {
    Ok(CertReq {
        info,
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA_256,
            parameters: None,
        },
        signature: der::asn1::BitString::from_bytes(signature_der)?,
    })
}

impl IssuedCert {
    /// The private key as PKCS#8 PEM (an error for a split key's certificate).
    pub fn key_pem(&self) -> Result<Zeroizing<String>, PkiError> {
        let key = self
            .key_pkcs8
            .as_ref()
            .ok_or_else(|| PkiError::Key("拆分密钥的证书没有完整私钥".into()))?;
        let doc = pkcs8::SecretDocument::try_from(key.as_slice())
            .map_err(|e| PkiError::Key(e.to_string()))?;
        let pem = doc
            .to_pem("PRIVATE KEY", LineEnding::LF)
            .map_err(|e| PkiError::Key(e.to_string()))?;
        Ok(pem)
    }

    /// Leaf then issuer, PEM.
    pub fn chain_pem(&self) -> Result<String, PkiError> {
        Ok(format!(
            "{}{}",
            cert_pem(&self.cert)?,
            cert_pem(&self.issuer)?
        ))
    }

    /// The notAfter of the certificate as Unix seconds.
    pub fn not_after_unix(&self) -> i64 {
        self.cert
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;
    use x509_cert::ext::pkix::{KeyUsage, KeyUsages};

    #[test]
    fn every_leaf_chains_to_its_ca_and_can_sign_and_agree_keys() {
        let cas = [
            TestCa::generate("ca-1", "BidSeal 测试CA 一").unwrap(),
            TestCa::generate("ca-2", "BidSeal 测试CA 二").unwrap(),
        ];
        for spec in standard_specs().unwrap() {
            let issued = cas[spec.ca_index].issue(&spec).unwrap();
            let tbs = issued.cert.tbs_certificate.to_der().unwrap();
            let ca_key = VerifyingKey::from_sec1_bytes(
                cas[spec.ca_index]
                    .cert
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
            )
            .unwrap();
            let sig =
                p256::ecdsa::DerSignature::from_bytes(issued.cert.signature.raw_bytes()).unwrap();
            ca_key.verify(&tbs, &sig).unwrap();
            let exts = issued.cert.tbs_certificate.extensions.clone().unwrap();
            let ku = exts
                .iter()
                .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_KEY_USAGE)
                .unwrap();
            let ku = KeyUsage::from_der(ku.extn_value.as_bytes()).unwrap();
            assert!(
                ku.0.contains(KeyUsages::DigitalSignature)
                    && ku.0.contains(KeyUsages::KeyAgreement)
            );
            // The key really is the certificate's: it signs what the certificate's public key
            // verifies, and agrees on the same ECDH secret as a peer using that public key.
            use p256::pkcs8::DecodePrivateKey;
            let secret =
                p256::SecretKey::from_pkcs8_der(issued.key_pkcs8.as_ref().unwrap()).unwrap();
            let cert_key = p256::PublicKey::from_sec1_bytes(
                issued
                    .cert
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
            )
            .unwrap();
            let leaf_verifier = VerifyingKey::from(&cert_key);
            let message = format!("{} 的投标文件摘要", spec.id);
            let signature: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(
                &SigningKey::from(&secret),
                message.as_bytes(),
            );
            leaf_verifier
                .verify(message.as_bytes(), &signature)
                .unwrap();
            assert!(
                leaf_verifier
                    .verify(b"another message", &signature)
                    .is_err(),
                "a signature verifies only its own message"
            );
            let peer = p256::SecretKey::random(&mut OsRng);
            let ours = p256::ecdh::diffie_hellman(
                secret.to_nonzero_scalar(),
                peer.public_key().as_affine(),
            );
            let theirs = p256::ecdh::diffie_hellman(peer.to_nonzero_scalar(), cert_key.as_affine());
            assert_eq!(ours.raw_secret_bytes(), theirs.raw_secret_bytes());
            let stranger = p256::SecretKey::random(&mut OsRng);
            let wrong = p256::ecdh::diffie_hellman(
                stranger.to_nonzero_scalar(),
                peer.public_key().as_affine(),
            );
            assert_ne!(wrong.raw_secret_bytes(), theirs.raw_secret_bytes());
            let subject = issued.cert.tbs_certificate.subject.to_string();
            assert!(subject.contains(&spec.company), "{subject}");
        }
    }

    #[test]
    fn enterprise_subject_carries_company_and_valid_credit_code() {
        let spec = standard_specs()
            .unwrap()
            .into_iter()
            .find(|s| s.role == HolderRole::Enterprise)
            .unwrap();
        let name = subject_name(&spec).unwrap();
        let code = name
            .0
            .iter()
            .flat_map(|r| r.0.iter())
            .find(|a| a.oid == rfc4519::SERIAL_NUMBER)
            .map(|a| PrintableStringRef::try_from(&a.value).unwrap().to_string())
            .unwrap();
        assert!(UnifiedSocialCreditCode::parse(&code).is_ok());
        assert_eq!(code.len(), 18);
    }
}
