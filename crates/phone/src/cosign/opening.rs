//! When may a key decrypt? The co-signing service's own answer, independent of the desktop.
//!
//! Two ways to be allowed (docs/phone-and-cosign.md, "Decrypt: opening time"):
//! - **Opening** (开标解密): the phone forwards the platform-signed tender (`tender.json` bytes
//!   and `tender.json.sig`, [`TenderEvidence`]); the signature must verify under one of the
//!   platform certificates pinned at the service (`serve-cosign --platform-cert`), and the
//!   service's own clock must be at or after the manifest's `opening_time`.
//! - **Trial decryption** (试解密, right after generating a bid): the same certificate had a
//!   successful `generate` authorisation for the same manifest digest in the same scan session
//!   within [`TRIAL_WINDOW_SECS`] (the book's `generated` table).
//!
//! Guarantees: the manifest is parsed only after its signature verified, and only the fields
//! needed here (`opening_time`, project id, lot id); the time the desktop states is never used.
//! Does not: check that the tender belongs to the envelope being opened (the envelope carries
//! no tender binding yet).

use bidseal_bid::tender::PlatformCertificate;
use bidseal_scan::{Bytes, RefusalReason};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How long after a `generate` authorisation a trial decryption of the same bid is allowed.
pub const TRIAL_WINDOW_SECS: i64 = 600;

/// Largest `tender.json` accepted as evidence.
pub const MAX_TENDER_MANIFEST: usize = 128 * 1024;

/// The platform-signed tender the phone forwards with a decrypt request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenderEvidence {
    /// The exact bytes of `tender.json`.
    pub manifest: Bytes,
    /// The platform's DER ECDSA-P256/SHA-256 signature over them (`tender.json.sig`).
    pub signature: Bytes,
}

/// What a verified tender says about the opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningFacts {
    /// Opening time, Unix seconds.
    pub opening_time: i64,
    /// Project id (招标项目编号).
    pub project_id: String,
    /// Lot id (标段编号).
    pub lot_id: String,
}

/// Errors loading the pinned platform certificates.
#[derive(Debug, thiserror::Error)]
pub enum PlatformPinError {
    /// The file could not be read.
    #[error("读取平台证书 {path} 失败：{why}，请检查 --platform-cert 参数")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        why: String,
    },
    /// The file holds no usable P-256 certificate.
    #[error("平台证书 {path} 无效：{why}，请使用交易平台发布的 PEM 证书（ECDSA P-256）")]
    Invalid {
        /// Path.
        path: String,
        /// Cause.
        why: String,
    },
}

/// Platform certificates the service trusts to state opening times.
#[derive(Debug, Clone, Default)]
pub struct PlatformPins {
    certs: Vec<PlatformCertificate>,
}

impl PlatformPins {
    /// Pins these certificates.
    pub fn new(certs: Vec<PlatformCertificate>) -> Self {
        Self { certs }
    }

    /// Reads one or more PEM certificates from each file.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, PlatformPinError> {
        use der::EncodePem;
        let mut certs = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let shown = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|e| PlatformPinError::Io {
                path: shown.clone(),
                why: e.to_string(),
            })?;
            let chain = x509_cert::Certificate::load_pem_chain(&bytes).map_err(|e| {
                PlatformPinError::Invalid {
                    path: shown.clone(),
                    why: e.to_string(),
                }
            })?;
            if chain.is_empty() {
                return Err(PlatformPinError::Invalid {
                    path: shown,
                    why: "文件中没有证书".into(),
                });
            }
            for cert in chain {
                let pem = cert.to_pem(der::pem::LineEnding::LF).map_err(|e| {
                    PlatformPinError::Invalid {
                        path: shown.clone(),
                        why: e.to_string(),
                    }
                })?;
                certs.push(PlatformCertificate::from_pem(&pem).map_err(|e| {
                    PlatformPinError::Invalid {
                        path: shown.clone(),
                        why: e.to_string(),
                    }
                })?);
            }
        }
        Ok(Self { certs })
    }

    /// Whether nothing is pinned.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Verifies the tender under a pinned certificate valid at `now`, then reads the opening
    /// facts. Refusals are [`RefusalReason::OpeningTimeUnverified`] with a zh-CN detail.
    pub fn verify(
        &self,
        evidence: &TenderEvidence,
        now: i64,
    ) -> Result<OpeningFacts, RefusalReason> {
        let unverified = |detail: &str| RefusalReason::OpeningTimeUnverified {
            detail: detail.to_string(),
        };
        if self.certs.is_empty() {
            return Err(unverified(
                "协同签名服务未配置交易平台证书，无法确认开标时间，请联系服务管理员配置 --platform-cert",
            ));
        }
        if evidence.manifest.0.len() > MAX_TENDER_MANIFEST {
            return Err(unverified("招标文件清单过大"));
        }
        let now_unix = u64::try_from(now).unwrap_or(0);
        let signed_by_pinned = self.certs.iter().any(|c| {
            c.check_validity(now_unix).is_ok()
                && c.verify(&evidence.manifest.0, &evidence.signature.0)
                    .is_ok()
        });
        if !signed_by_pinned {
            return Err(unverified(
                "招标文件的平台签名无效或不是受信任的交易平台所签，请使用平台发布的原始招标文件",
            ));
        }
        opening_facts(&evidence.manifest.0)
            .ok_or_else(|| unverified("招标文件清单缺少有效的开标时间（opening_time）"))
    }
}

fn opening_facts(manifest: &[u8]) -> Option<OpeningFacts> {
    #[derive(Deserialize)]
    struct Lot {
        id: String,
    }
    #[derive(Deserialize)]
    struct Project {
        id: String,
        lot: Lot,
    }
    #[derive(Deserialize)]
    struct Manifest {
        project: Project,
        opening_time: String,
    }
    let m: Manifest = serde_json::from_slice(manifest).ok()?;
    Some(OpeningFacts {
        opening_time: super::state::parse_rfc3339(&m.opening_time)?,
        project_id: m.project.id,
        lot_id: m.project.lot.id,
    })
}
