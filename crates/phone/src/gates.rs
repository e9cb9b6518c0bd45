//! What the phone checks in a request before it asks the co-signing service for a key — the
//! gates that hold when the desktop is dishonest (issue #10):
//!
//! - [`PinnedPlatforms::verify`]: a decryption names its tender by the platform-signed
//!   `tender.json` ([`SignedTender`]); the phone verifies the signature under the platform
//!   certificates pinned on the phone (`bidseal phone scan --platform-cert`), and reads the
//!   opening time from the signed bytes (never from the desktop);
//! - [`check_pades_attributes`]: a seal (`sign`) item must be a PAdES signed-attribute set
//!   (contentType id-data, messageDigest, signingCertificateV2 naming the phone's certificate,
//!   nothing else — in particular no signingTime), so a bid manifest's attribute set or an
//!   auth transcript cannot be signed as a "seal";
//! - [`check_manifest_attributes`]: a `generate` signature covers CMS attributes with
//!   signingTime whose messageDigest is SHA-256 of the bid manifest shown, and the manifest
//!   names the certificate's own company (credit code).
//!
//! Guarantees: nothing here panics on desktop input; every failure is a typed
//! [`RefusalReason`] with a zh-CN detail. Does not: hold keys or talk to the service.

use bidseal_cms::cert::Certificate;
use bidseal_scan::{Digest32, RefusalReason, SignedTender};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode};
use p256::ecdsa::signature::Verifier;
use serde::Deserialize;
use std::path::Path;
use x509_cert::attr::Attribute;

const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const OID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// Format tag a bid manifest must carry to be signed by `generate`.
pub const BID_MANIFEST_FORMAT: &str = "bidseal-bid/1";

fn suspicious(detail: impl Into<String>) -> RefusalReason {
    RefusalReason::SuspiciousRequest {
        detail: detail.into(),
    }
}

fn unverified(detail: impl Into<String>) -> RefusalReason {
    RefusalReason::TenderUnverified {
        detail: detail.into(),
    }
}

/// DER `IssuerAndSerialNumber` of `cert`: how an envelope entry names its recipient, and how
/// the phone recognises its own entry in a decrypt request.
pub fn recipient_id(cert: &Certificate) -> Result<Vec<u8>, RefusalReason> {
    cert.issuer_and_serial()
        .to_der()
        .map_err(|_| RefusalReason::InvalidRequest {
            detail: "手机证书损坏".into(),
        })
}

/// Trading-platform certificates pinned on the phone.
#[derive(Debug, Clone, Default)]
pub struct PinnedPlatforms {
    certs: Vec<Certificate>,
}

/// What the phone read from a tender whose platform signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedTender {
    /// Opening time, unix seconds, from the signed bytes.
    pub opening_time: i64,
    /// "项目编号/标段 项目名称" for the screen.
    pub project: String,
    /// Platform name and id.
    pub platform: String,
    /// Subject of the platform certificate that verified it.
    pub signer: String,
    /// SHA-256 of the exact `tender.json` bytes.
    pub digest: Digest32,
}

#[derive(Deserialize)]
struct TenderHead {
    project: TenderProjectHead,
    platform: NamedHead,
    #[serde(with = "time::serde::rfc3339")]
    opening_time: time::OffsetDateTime,
}

#[derive(Deserialize)]
struct TenderProjectHead {
    id: String,
    name: String,
    lot: NamedHead,
}

#[derive(Deserialize)]
struct NamedHead {
    id: String,
    name: String,
}

impl PinnedPlatforms {
    /// Pins the certificates in these PEM files (each may hold several).
    pub fn from_pem_files(paths: &[impl AsRef<Path>]) -> Result<Self, String> {
        let mut certs = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let bytes = std::fs::read(path)
                .map_err(|e| format!("无法读取平台证书 {}：{e}", path.display()))?;
            let mut found = Certificate::many_from_pem(&bytes)
                .map_err(|e| format!("平台证书 {} 无法解析：{e}", path.display()))?;
            if found.is_empty() {
                return Err(format!("{} 中没有证书", path.display()));
            }
            certs.append(&mut found);
        }
        Ok(Self { certs })
    }

    /// Pins these certificates.
    pub fn new(certs: Vec<Certificate>) -> Self {
        Self { certs }
    }

    /// Whether no platform is pinned (then no decryption is possible).
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Verifies `tender` at `now` (unix seconds): the signature under a pinned certificate
    /// valid at `now`, then reads the opening time and names from the signed bytes.
    pub fn verify(&self, tender: &SignedTender, now: i64) -> Result<VerifiedTender, RefusalReason> {
        if self.certs.is_empty() {
            return Err(unverified("手机未导入任何交易平台证书"));
        }
        let sig = p256::ecdsa::Signature::from_der(&tender.signature.0)
            .map_err(|_| unverified("平台签名格式错误"))?;
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.max(0) as u64);
        let mut signer = None;
        let mut expired = None;
        for cert in &self.certs {
            let Ok(key) = cert.p256_public_key() else {
                continue;
            };
            if p256::ecdsa::VerifyingKey::from(&key)
                .verify(&tender.manifest.0, &sig)
                .is_ok()
            {
                if cert.check_validity(at).is_ok() {
                    signer = Some(cert);
                    break;
                }
                expired = Some(cert.subject_string());
            }
        }
        let signer = match (signer, expired) {
            (Some(c), _) => c,
            (None, Some(subject)) => {
                return Err(unverified(format!("平台证书“{subject}”不在有效期内")))
            }
            (None, None) => {
                return Err(unverified(
                    "招标文件清单不是手机已导入的交易平台所签，或已被修改",
                ))
            }
        };
        let head: TenderHead = serde_json::from_slice(&tender.manifest.0)
            .map_err(|e| unverified(format!("招标文件清单无法读取（{e}）")))?;
        Ok(VerifiedTender {
            opening_time: head.opening_time.unix_timestamp(),
            project: format!(
                "{}/{} {} {}",
                head.project.id, head.project.lot.id, head.project.name, head.project.lot.name
            ),
            platform: format!("{}（{}）", head.platform.name, head.platform.id),
            signer: signer.subject_string(),
            digest: tender.digest(),
        })
    }
}

/// The attributes of a DER `SET OF Attribute`, each with exactly one value, no OID twice.
fn parse_attributes(der: &[u8]) -> Result<Vec<(ObjectIdentifier, Vec<u8>)>, String> {
    let set = SetOfVec::<Attribute>::from_der(der).map_err(|_| "不是 DER 签名属性集合")?;
    if set.to_der().map_err(|e| e.to_string())? != der {
        return Err("签名属性不是规范 DER 编码".into());
    }
    let mut out: Vec<(ObjectIdentifier, Vec<u8>)> = Vec::new();
    for attr in set.iter() {
        if out.iter().any(|(oid, _)| *oid == attr.oid) {
            return Err(format!("属性 {} 出现两次", attr.oid));
        }
        let mut values = attr.values.iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(format!("属性 {} 须恰有一个值", attr.oid));
        };
        out.push((attr.oid, value.to_der().map_err(|e| e.to_string())?));
    }
    Ok(out)
}

/// The messageDigest of a signed-attribute set (for the screen, before any check), if it has
/// one.
pub fn message_digest_of(der: &[u8]) -> Option<Digest32> {
    let attrs = parse_attributes(der).ok()?;
    let (_, value) = attrs.iter().find(|(oid, _)| *oid == OID_MESSAGE_DIGEST)?;
    let digest = OctetString::from_der(value).ok()?;
    Some(Digest32(digest.as_bytes().try_into().ok()?))
}

/// The checked content of a signed-attribute set.
#[derive(Debug, Clone, Copy)]
pub struct CheckedAttributes {
    /// The messageDigest attribute (SHA-256 of the signed content).
    pub message_digest: Digest32,
    /// SHA-256 of the attribute DER: what the phone signs.
    pub to_sign: Digest32,
}

fn common_checks(
    attrs: &[(ObjectIdentifier, Vec<u8>)],
    certificate: &Certificate,
) -> Result<Digest32, String> {
    let value = |oid: ObjectIdentifier| {
        attrs
            .iter()
            .find(|(o, _)| *o == oid)
            .map(|(_, v)| v.as_slice())
    };
    let content_type = value(OID_CONTENT_TYPE)
        .and_then(|v| ObjectIdentifier::from_der(v).ok())
        .ok_or("缺少 contentType 属性")?;
    if content_type != OID_DATA {
        return Err(format!("contentType 为 {content_type}，不是 id-data"));
    }
    let digest = value(OID_MESSAGE_DIGEST)
        .and_then(|v| OctetString::from_der(v).ok())
        .ok_or("缺少 messageDigest 属性")?;
    let digest: [u8; 32] = digest
        .as_bytes()
        .try_into()
        .map_err(|_| "messageDigest 不是 SHA-256 长度")?;
    // ESSCertIDv2.certHash (SHA-256 by default) must name this certificate.
    let ess = value(OID_SIGNING_CERTIFICATE_V2).ok_or("缺少 signingCertificateV2 属性")?;
    let mut cert_hash = vec![0x04, 0x20];
    cert_hash.extend_from_slice(&certificate.sha256_fingerprint());
    if !ess
        .windows(cert_hash.len())
        .any(|w| w == cert_hash.as_slice())
    {
        return Err("signingCertificateV2 指向的不是手机上的签章证书".into());
    }
    Ok(Digest32(digest))
}

/// Checks that `der` is a PAdES signed-attribute set for `certificate`: exactly contentType
/// (id-data), messageDigest and signingCertificateV2 (naming `certificate`), canonical DER.
pub fn check_pades_attributes(
    der: &[u8],
    certificate: &Certificate,
) -> Result<CheckedAttributes, RefusalReason> {
    let refuse = |why: String| suspicious(format!("签章内容不是 PDF 签章（PAdES）签名属性：{why}"));
    let attrs = parse_attributes(der).map_err(refuse)?;
    if attrs.iter().any(|(oid, _)| *oid == OID_SIGNING_TIME) {
        return Err(refuse(
            "含 signingTime 属性（投标文件清单等 CMS 签名才有），不能作为签章".into(),
        ));
    }
    if attrs.len() != 3 {
        return Err(refuse(format!("应恰有 3 个属性，实际 {} 个", attrs.len())));
    }
    let message_digest = common_checks(&attrs, certificate).map_err(refuse)?;
    Ok(CheckedAttributes {
        message_digest,
        to_sign: Digest32::of(der),
    })
}

/// What the phone read from a bid manifest it signs.
#[derive(Debug, Clone)]
pub struct CheckedManifest {
    /// The checked attributes.
    pub attributes: CheckedAttributes,
    /// SHA-256 of the exact manifest bytes.
    pub manifest_digest: Digest32,
    /// Bidder name from the manifest.
    pub bidder: String,
    /// Project id / lot from the manifest.
    pub project: String,
}

#[derive(Deserialize)]
struct ManifestHead {
    format: String,
    project: ManifestProjectHead,
    bidder: ManifestBidderHead,
}

#[derive(Deserialize)]
struct ManifestProjectHead {
    project_id: String,
    lot_id: String,
}

#[derive(Deserialize)]
struct ManifestBidderHead {
    name: String,
    credit_code: String,
}

/// Checks a `generate` request: `manifest` is a bid manifest of `credit_code`'s company, and
/// `der` its CMS signed attributes for `certificate` (contentType id-data, messageDigest =
/// SHA-256(manifest), signingCertificateV2, signingTime; nothing else).
pub fn check_manifest_attributes(
    manifest: &[u8],
    der: &[u8],
    certificate: &Certificate,
    credit_code: &str,
) -> Result<CheckedManifest, RefusalReason> {
    let refuse = |why: String| suspicious(format!("待签内容不是本单位的投标文件清单：{why}"));
    let head: ManifestHead =
        serde_json::from_slice(manifest).map_err(|e| refuse(format!("清单无法读取（{e}）")))?;
    if head.format != BID_MANIFEST_FORMAT {
        return Err(refuse(format!("清单格式为“{}”", head.format)));
    }
    if head.bidder.credit_code != credit_code {
        return Err(refuse(format!(
            "清单的投标人统一社会信用代码 {} 与证书的 {credit_code} 不同",
            head.bidder.credit_code
        )));
    }
    let attrs = parse_attributes(der).map_err(refuse)?;
    if !attrs.iter().any(|(oid, _)| *oid == OID_SIGNING_TIME) || attrs.len() != 4 {
        return Err(refuse(
            "签名属性应恰为 contentType、messageDigest、signingCertificateV2、signingTime".into(),
        ));
    }
    let message_digest = common_checks(&attrs, certificate).map_err(refuse)?;
    let manifest_digest = Digest32::of(manifest);
    if message_digest != manifest_digest {
        return Err(refuse("messageDigest 与所示清单的摘要不符".into()));
    }
    Ok(CheckedManifest {
        attributes: CheckedAttributes {
            message_digest,
            to_sign: Digest32::of(der),
        },
        manifest_digest,
        bidder: head.bidder.name,
        project: format!("{}/{}", head.project.project_id, head.project.lot_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidseal_cms::signed_data::{sha256, AttributeProfile, SignedAttributes};

    fn certs() -> (Certificate, Certificate, String) {
        let ca = crate::pki::TestCa::generate("ca-1", "测试CA").unwrap();
        let specs = crate::pki::standard_specs().unwrap();
        let leaf = |id: &str| {
            let spec = specs.iter().find(|s| s.id == id).unwrap();
            let issued = ca.issue(spec).unwrap();
            Certificate::from_der(&issued.cert.to_der().unwrap()).unwrap()
        };
        let uscc = specs
            .iter()
            .find(|s| s.id == "ent-huaxia")
            .unwrap()
            .uscc
            .clone();
        (leaf("ent-huaxia"), leaf("ent-jiangnan"), uscc)
    }

    fn attrs(content: &[u8], cert: &Certificate, profile: AttributeProfile) -> Vec<u8> {
        SignedAttributes::new(sha256(content), vec![cert.clone()], profile)
            .unwrap()
            .to_be_signed()
            .unwrap()
    }

    fn detail(r: RefusalReason) -> String {
        match r {
            RefusalReason::SuspiciousRequest { detail } => detail,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_a_pades_set_for_this_certificate_is_a_seal() {
        let (own, other, _) = certs();
        let pades = attrs(b"pdf", &own, AttributeProfile::Pades);
        let ok = check_pades_attributes(&pades, &own).unwrap();
        assert_eq!(ok.message_digest, Digest32(sha256(b"pdf")));
        assert_eq!(ok.to_sign, Digest32::of(&pades));
        // A manifest attribute set (signingTime) is not a seal.
        let cms = attrs(
            b"m",
            &own,
            AttributeProfile::CmsWithSigningTime(std::time::SystemTime::now()),
        );
        assert!(detail(check_pades_attributes(&cms, &own).unwrap_err()).contains("signingTime"));
        // Another certificate's set, a bare digest, trailing bytes.
        assert!(check_pades_attributes(&pades, &other).is_err());
        assert!(check_pades_attributes(&[0x42; 32], &own).is_err());
        let mut trailing = pades.clone();
        trailing.push(0);
        assert!(check_pades_attributes(&trailing, &own).is_err());
    }

    #[test]
    fn a_manifest_signature_covers_this_companys_manifest_only() {
        let (own, _, uscc) = certs();
        let manifest = format!(
            r#"{{"format":"bidseal-bid/1","project":{{"project_id":"P","lot_id":"1"}},"bidder":{{"name":"华夏","credit_code":"{uscc}"}}}}"#
        )
        .into_bytes();
        let now = AttributeProfile::CmsWithSigningTime(std::time::SystemTime::now());
        let good = attrs(&manifest, &own, now);
        let checked = check_manifest_attributes(&manifest, &good, &own, &uscc).unwrap();
        assert_eq!(checked.manifest_digest, Digest32::of(&manifest));
        // Attributes over another manifest, a PAdES set, another company's code.
        let other = attrs(b"other manifest", &own, now);
        assert!(check_manifest_attributes(&manifest, &other, &own, &uscc).is_err());
        let pades = attrs(&manifest, &own, AttributeProfile::Pades);
        assert!(check_manifest_attributes(&manifest, &pades, &own, &uscc).is_err());
        assert!(check_manifest_attributes(&manifest, &good, &own, "91110000000000000X").is_err());
    }
}
