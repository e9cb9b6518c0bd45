//! Which CA roots a PDF signature is checked against, and saying which: the roots the user
//! named, the CAs the tender accepts (a project or a tender package given), or the system's
//! trust store. Shared by `bidseal verify` and the desktop, so both say the same thing.
//!
//! Guarantees: the trust list always comes with a description of where it came from (a
//! verdict of "valid" is only as good as its trust list); the tender's CAs are taken only from
//! a package whose platform signature verified (pinned to the platform certificates given, or
//! "signature only" and said so); an unreadable certificate in the system store is skipped
//! and counted, never fatal. Does not: fetch anything, check revocation.

use crate::FlowError;
use bidseal_bid::tender::TenderPackage;
use bidseal_cms::cert::{Certificate, TrustStore};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where the roots of a [`TrustList`] came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum TrustSource {
    /// Certificate files the user named (`--trust`).
    Files {
        /// The files, as given.
        files: Vec<String>,
    },
    /// The CAs a tender accepts (from a project's tender or a tender package).
    Tender {
        /// Project id and lot id of the tender.
        project: String,
        /// The accepted CAs' titles.
        cas: Vec<String>,
        /// Whether the package's platform signature was checked against a platform
        /// certificate the user trusts (a project always pinned it), or only in itself.
        platform_pinned: bool,
    },
    /// The operating system's trust store.
    System {
        /// The bundle file read.
        file: String,
        /// Certificates in it that could not be read (skipped).
        skipped: usize,
    },
}

impl TrustSource {
    /// One line saying which trust list was used, zh-CN.
    pub fn describe_zh(&self, roots: usize) -> String {
        match self {
            TrustSource::Files { files } => {
                format!("信任列表：指定的 CA 证书 {}（{roots} 个根证书）", files.join("、"))
            }
            TrustSource::Tender {
                project,
                cas,
                platform_pinned,
            } => format!(
                "信任列表：招标文件 {project} 认可的 CA：{}（{roots} 个根证书{}）",
                cas.join("、"),
                if *platform_pinned {
                    "，招标文件由受信任的平台证书签名"
                } else {
                    "；招标文件的平台签名有效，但未与信任的平台证书比对（可加 --platform-cert）"
                }
            ),
            TrustSource::System { file, skipped } => format!(
                "信任列表：系统信任库 {file}（{roots} 个根证书{}）。国内 CA 多不在系统信任库中：验证投标文件请用 --project 或 --tender 以招标文件认可的 CA 为准",
                if *skipped > 0 {
                    format!("，{skipped} 个无法读取已跳过")
                } else {
                    String::new()
                }
            ),
        }
    }
}

/// CA roots and where they came from.
#[derive(Debug, Clone)]
pub struct TrustList {
    /// The roots.
    pub store: TrustStore,
    /// Where they came from.
    pub source: TrustSource,
}

impl TrustList {
    /// One line saying which trust list this is, zh-CN.
    pub fn describe_zh(&self) -> String {
        self.source.describe_zh(self.store.roots().len())
    }
}

/// The roots in the certificate files `paths` (PEM or DER, several per file allowed).
pub fn from_files(paths: &[PathBuf]) -> Result<TrustList, FlowError> {
    let mut store = TrustStore::new();
    for path in paths {
        store.add_pem_file(path).map_err(|e| FlowError::NotReady {
            code: e.code(),
            message: format!("信任的 CA 证书 {} 无法读取：{e}", path.display()),
        })?;
    }
    Ok(TrustList {
        store,
        source: TrustSource::Files {
            files: paths.iter().map(|p| p.display().to_string()).collect(),
        },
    })
}

/// The CAs `tender` accepts; `platform_pinned` says whether its platform signature was checked
/// against a trusted platform certificate (the caller verified the package either way).
pub fn from_tender(tender: &TenderPackage, platform_pinned: bool) -> Result<TrustList, FlowError> {
    let store = bidseal_bid::bidfile::accepted_cas(tender)?;
    let m = &tender.manifest;
    Ok(TrustList {
        store,
        source: TrustSource::Tender {
            project: format!("{} {}", m.project.id, m.project.lot.id),
            cas: m.accepted_cas.iter().map(|c| c.title.clone()).collect(),
            platform_pinned,
        },
    })
}

/// Where the system's CA bundle is looked for: `SSL_CERT_FILE`, then the usual places of
/// Debian/Ubuntu, Fedora/RHEL, openSUSE and Alpine/macOS.
pub const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The roots of the system's trust store (the first bundle found, see [`SYSTEM_BUNDLES`]).
pub fn system() -> Result<TrustList, FlowError> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let candidates = from_env
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from));
    for path in candidates {
        if let Ok(text) = std::fs::read(&path) {
            return Ok(from_bundle(&path, &text));
        }
    }
    Err(FlowError::NotReady {
        code: "E_NO_TRUST",
        message: format!(
            "没有找到系统信任库（{}，或环境变量 SSL_CERT_FILE）：请用 --trust 指定 CA 根证书，或用 --project / --tender 以招标文件认可的 CA 验证",
            SYSTEM_BUNDLES.join("、")
        ),
    })
}

/// The certificates of a PEM bundle; a block that does not parse is skipped and counted.
fn from_bundle(path: &Path, text: &[u8]) -> TrustList {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    let text = String::from_utf8_lossy(text);
    let mut store = TrustStore::new();
    let mut skipped = 0;
    for block in text.split(BEGIN).skip(1) {
        let pem = format!("{BEGIN}{block}");
        match Certificate::from_pem(pem.as_bytes()) {
            Ok(cert) => store.add_root(cert),
            Err(_) => skipped += 1,
        }
    }
    TrustList {
        store,
        source: TrustSource::System {
            file: path.display().to_string(),
            skipped,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_with_a_broken_block_keeps_the_others_and_says_so() {
        let demo = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/demo-tender/ca-demo-1.pem"
        );
        let good = std::fs::read_to_string(demo).expect("demo CA");
        let broken = "-----BEGIN CERTIFICATE-----\nMIIBroken\n-----END CERTIFICATE-----\n";
        let bundle = format!("{good}{broken}{good}");
        let list = from_bundle(Path::new("bundle.pem"), bundle.as_bytes());
        assert_eq!(list.store.roots().len(), 2);
        assert_eq!(
            list.source,
            TrustSource::System {
                file: "bundle.pem".into(),
                skipped: 1
            }
        );
        let line = list.describe_zh();
        assert!(
            line.contains("系统信任库 bundle.pem（2 个根证书，1 个无法读取已跳过）"),
            "{line}"
        );
        assert!(line.contains("--project"), "{line}");
    }

    #[test]
    fn an_unreadable_trust_file_is_an_error_before_anything_is_checked() {
        let err = from_files(&[PathBuf::from("/nonexistent/ca.pem")]).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
