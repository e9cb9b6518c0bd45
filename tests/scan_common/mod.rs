//! Shared harness of the `tests/scan_*.rs` end-to-end tests: a fresh test world per test
//! (`bidseal phone init` with a small PBKDF2 count), the relay (`bidseal relay`) and the
//! co-signing service (`bidseal phone serve-cosign`) as real processes on 127.0.0.1, the phone
//! as a real `bidseal phone scan` process, and independent checks with `openssl`.
//!
//! Every process started here is killed (by its own handle) when its guard drops.

#![allow(dead_code)]

use bidseal_cms::cert::Certificate;
use bidseal_cms::signed_data::{sha256, AttributeProfile, SignedAttributes};
use bidseal_scan::client::{start_scan, DesktopScan, ScanOptions};
use bidseal_scan::{
    Bytes, Digest32, OperationKind, PlatformRef, ProjectRef, SealKind, SignItem, SignedTender,
};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The PIN of every test certificate.
pub const PIN: &str = "123456";
/// The demo bidder.
pub const BIDDER: &str = "华夏建设工程有限公司";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bidseal")
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "bidseal-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server process; killed on drop.
pub struct Server {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_url(line: &str) -> Option<String> {
    let start = line.find("http://127.0.0.1:")?;
    let rest = &line[start..];
    let end = rest
        .char_indices()
        .skip("http://127.0.0.1:".len())
        .find(|(_, c)| !c.is_ascii_digit())
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Starts `bidseal ARGS` and waits for it to print its `http://127.0.0.1:PORT` (stdout or
/// stderr).
pub fn spawn_server(args: &[&str]) -> Server {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bidseal server");
    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(url) = find_url(&line) {
                    let _ = tx.send(url);
                }
            }
        });
    }
    let url = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            panic!(
                "`bidseal {}` did not print its http://127.0.0.1:PORT within 60 s",
                args.join(" ")
            );
        }
    };
    Server { child, url }
}

/// One test world: keys, relay, co-signing service.
pub struct World {
    // Field order is drop order: stop the servers before removing their folder.
    pub relay: Server,
    pub cosign: Server,
    pub dir: TempDir,
}

impl World {
    /// A world of split keys (and the one `-plain` certificate) whose key pairs come from the
    /// test key pool (`docs/key-split.md`: a real DKG once per build, not per world).
    pub fn new() -> Self {
        Self::init(true)
    }

    /// A world whose `phone init` runs a fresh DKG for every split certificate (as for a
    /// person: no test key pool). Costs ~20 s of CPU in a debug build.
    pub fn new_fresh_dkg() -> Self {
        Self::init(false)
    }

    fn init(pooled: bool) -> Self {
        let dir = TempDir::new("scan");
        let mut init = Command::new(bin());
        init.args(["phone", "init"])
            .arg(&dir.0)
            .args(["--pin", PIN, "--kdf-iterations", "1000"]);
        if pooled {
            init.env(
                bidseal_phone::provision::TEST_KEY_POOL_ENV,
                bidseal_phone::provision::test_key_pool_dir(),
            );
        } else {
            init.env_remove(bidseal_phone::provision::TEST_KEY_POOL_ENV);
        }
        let out = init.output().expect("run phone init");
        assert!(
            out.status.success(),
            "phone init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The trading platform whose signed tenders the phones accept (--platform-cert).
        let platform =
            bidseal_phone::pki::TestCa::generate("platform", "测试交易平台").expect("platform key");
        std::fs::write(
            dir.0.join("platform.pem"),
            bidseal_phone::pki::cert_pem(&platform.cert).expect("platform pem"),
        )
        .expect("write platform.pem");
        std::fs::write(
            dir.0.join("platform.key.pem"),
            platform.key_pem().expect("platform key pem").as_bytes(),
        )
        .expect("write platform key");
        // The co-signing service pins the same platform (opening time from its tenders).
        let state = dir.0.to_string_lossy().to_string();
        let platform_pem = dir.0.join("platform.pem").to_string_lossy().to_string();
        let cosign = spawn_server(&[
            "phone",
            "serve-cosign",
            "--listen",
            "127.0.0.1:0",
            "--state",
            &state,
            "--platform-cert",
            &platform_pem,
        ]);
        let relay = spawn_server(&["relay", "--listen", "127.0.0.1:0"]);
        World { relay, cosign, dir }
    }

    /// A tender signed by this world's platform, opening at `opening_time` (unix seconds).
    pub fn signed_tender(&self, opening_time: i64) -> SignedTender {
        self.signed_tender_with(opening_time, "GZ2026-001")
    }

    /// A tender of project `project_id` signed by this world's platform.
    pub fn signed_tender_with(&self, opening_time: i64, project_id: &str) -> SignedTender {
        let at =
            bidseal_bid::time::OffsetDateTime::from_unix_timestamp(opening_time).expect("time");
        let text = at
            .format(&bidseal_bid::time::format_description::well_known::Rfc3339)
            .expect("rfc3339");
        let json = serde_json::json!({
            "format": "bidseal-tender/1",
            "project": {"id": project_id, "name": "某某道路改造工程", "lot": {"id": "BD01", "name": "第一标段"}},
            "platform": {"id": "gz-ggzy", "name": "广州公共资源交易中心"},
            "opening_time": text,
        });
        let manifest = serde_json::to_vec_pretty(&json).expect("json");
        let signer =
            bidseal_bid::tender::PlatformSigner::from_pem_file(&self.path("platform.key.pem"))
                .expect("platform signer");
        SignedTender {
            signature: Bytes(signer.sign(&manifest)),
            manifest: Bytes(manifest),
        }
    }

    /// A test certificate of this world.
    pub fn cert(&self, id: &str) -> Certificate {
        Certificate::from_pem(&std::fs::read(self.path(&format!("pki/{id}.pem"))).expect("pem"))
            .expect("certificate")
    }

    /// A seal item: the PAdES signed attributes over `content` for certificate `cert`.
    pub fn pades_item(
        &self,
        cert: &str,
        document: &str,
        kind: SealKind,
        content: &[u8],
    ) -> SignItem {
        let attrs = SignedAttributes::new(
            sha256(content),
            vec![self.cert(cert)],
            AttributeProfile::Pades,
        )
        .expect("attributes");
        SignItem {
            document: document.into(),
            pages: vec![1],
            seal_kind: kind,
            signed_attributes: Bytes(attrs.to_be_signed().expect("der")),
        }
    }

    /// A bid manifest of the bidder and its CMS signed attributes for `cert` (with signingTime).
    pub fn manifest(&self, cert: &str, tag: &str) -> (Vec<u8>, Vec<u8>) {
        let leaf = self.cert(cert);
        let json = serde_json::json!({
            "format": "bidseal-bid/1",
            "project": {"project_id": "GZ2026-001", "project_name": "某某道路改造工程",
                        "lot_id": "BD01", "lot_name": "第一标段", "platform_id": "gz-ggzy"},
            "bidder": {"name": leaf.organization().unwrap_or_default(),
                       "credit_code": leaf.credit_code().unwrap_or_default()},
            "parts": [], "price": {"tag": tag}, "integrity_records": [],
            "tool_version": "test", "created_at": "2026-12-01T00:00:00Z",
        });
        let manifest = serde_json::to_vec_pretty(&json).expect("json");
        let attrs = SignedAttributes::new(
            sha256(&manifest),
            vec![leaf],
            AttributeProfile::CmsWithSigningTime(std::time::SystemTime::now()),
        )
        .expect("attributes");
        (manifest, attrs.to_be_signed().expect("der"))
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.0.join(rel)
    }

    /// Starts the phone for `payload` with extra arguments; returns the running process.
    pub fn phone(&self, payload: &str, extra: &[&str]) -> Child {
        self.phone_with_pin(payload, PIN, extra)
    }

    pub fn phone_with_pin(&self, payload: &str, pin: &str, extra: &[&str]) -> Child {
        Command::new(bin())
            .args(["phone", "scan", payload, "--keystore"])
            .arg(&self.dir.0)
            .args(["--cosign", &self.cosign.url, "--pin", pin])
            .arg("--platform-cert")
            .arg(self.path("platform.pem"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn phone")
    }

    /// `bidseal phone admin ...` against this world's service.
    pub fn admin(&self, args: &[&str]) -> Output {
        let out = Command::new(bin())
            .args(["phone", "admin", "--cosign", &self.cosign.url, "--state"])
            .arg(&self.dir.0)
            .args(args)
            .output()
            .expect("run phone admin");
        assert!(
            out.status.success(),
            "phone admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The usage log of a certificate, as JSON values.
    pub fn usage_log(&self, cert: &str) -> Vec<serde_json::Value> {
        let out = self.admin(&["log", cert]);
        serde_json::from_slice(&out.stdout).expect("log is JSON")
    }

    /// Starts a desktop scan on this world's relay.
    pub async fn desktop(&self, op: OperationKind, response_timeout_secs: u64) -> DesktopScan {
        start_scan(
            &self.relay.url,
            op,
            ScanOptions {
                ttl: Duration::from_secs(120),
                response_timeout: Duration::from_secs(response_timeout_secs),
            },
        )
        .await
        .expect("start scan at the relay")
    }
}

/// Waits for the phone process and returns (summary JSON, stderr text). The exit code must
/// match the summary (docs/cli.md): 1 when a request was refused, else 0.
pub fn finish_phone(child: Child) -> (serde_json::Value, String) {
    let out = child.wait_with_output().expect("phone exits");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("phone failed, summary not JSON ({e}): {stderr}"));
    let refused = summary["answered"]
        .as_array()
        .is_some_and(|a| a.iter().any(|r| r["outcome"] != "confirmed"));
    let expected = if refused { 1 } else { 0 };
    assert_eq!(
        out.status.code(),
        Some(expected),
        "phone exit code does not match its summary {summary}: {stderr}"
    );
    (summary, stderr)
}

pub fn platform() -> PlatformRef {
    PlatformRef {
        id: "gz-ggzy".into(),
        name: "广州公共资源交易中心".into(),
    }
}

pub fn project() -> ProjectRef {
    ProjectRef {
        code: "GZ2026-001".into(),
        name: "某某道路改造工程".into(),
    }
}

// ---- independent checks with openssl -------------------------------------------------------

fn openssl(args: &[&str], dir: &Path) -> Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl is required for these tests (scripts/setup.sh installs it): {e}")
        });
    out
}

/// Verifies a DER ECDSA signature over a SHA-256 digest (prehash) with the public key of a DER
/// certificate, using `openssl pkeyutl -verify`.
pub fn openssl_verify_prehash(cert_der: &[u8], digest: &[u8; 32], sig_der: &[u8]) -> bool {
    let tmp = TempDir::new("ossl");
    std::fs::write(tmp.0.join("cert.der"), cert_der).unwrap();
    std::fs::write(tmp.0.join("digest.bin"), digest).unwrap();
    std::fs::write(tmp.0.join("sig.der"), sig_der).unwrap();
    let o = openssl(
        &[
            "x509", "-inform", "DER", "-in", "cert.der", "-pubkey", "-noout", "-out", "pub.pem",
        ],
        &tmp.0,
    );
    assert!(
        o.status.success(),
        "openssl x509: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = openssl(
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-in",
            "digest.bin",
            "-sigfile",
            "sig.der",
        ],
        &tmp.0,
    );
    o.status.success()
}

/// A fresh P-256 key made by openssl: (PEM private key path holder, uncompressed SEC1 point).
pub struct OpensslKey {
    pub dir: TempDir,
    pub point: Vec<u8>,
}

pub fn openssl_ephemeral_key() -> OpensslKey {
    let tmp = TempDir::new("eph");
    bidseal_testkit::key(&tmp.0, "eph");
    let o = openssl(
        &["pkey", "-in", "eph.key", "-pubout", "-out", "eph.pub.pem"],
        &tmp.0,
    );
    assert!(o.status.success());
    let o = openssl(
        &["pkey", "-in", "eph.key", "-pubout", "-outform", "DER"],
        &tmp.0,
    );
    assert!(o.status.success());
    let spki = o.stdout;
    assert!(spki.len() >= 65);
    let point = spki[spki.len() - 65..].to_vec();
    assert_eq!(point[0], 0x04, "uncompressed point");
    OpensslKey { dir: tmp, point }
}

/// ECDH computed by openssl from the ephemeral side: the ephemeral private key with the
/// certificate's public key (a split certificate has no whole key to compute it the other way).
pub fn openssl_ecdh_from_ephemeral(eph: &OpensslKey, cert_pem: &Path) -> Vec<u8> {
    let public = eph.dir.0.join("cert.pub.pem");
    let o = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(cert_pem)
        .output()
        .expect("openssl x509");
    assert!(o.status.success());
    std::fs::write(&public, &o.stdout).expect("write public key");
    let o = Command::new("openssl")
        .args(["pkeyutl", "-derive", "-inkey"])
        .arg(eph.dir.0.join("eph.key"))
        .arg("-peerkey")
        .arg(&public)
        .output()
        .expect("openssl pkeyutl -derive");
    assert!(
        o.status.success(),
        "openssl derive: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// A decrypt request for one entry naming `cert` with originator key `point` and the BidSeal
/// `ukm` of `tender` and `manifest`.
pub fn decrypt_request(
    cert: &Certificate,
    point: &[u8],
    tender: SignedTender,
    manifest: Digest32,
) -> bidseal_scan::DecryptRequest {
    let ukm = bidseal_scan::EnvelopeUkm {
        tender: tender.digest(),
        manifest,
    }
    .to_bytes();
    bidseal_scan::DecryptRequest {
        platform: platform(),
        project: project(),
        bid_file: "华夏建设-投标文件.bid".into(),
        envelope_digest: Digest32::of(b"env"),
        tender,
        recipients: vec![bidseal_scan::DecryptRecipient {
            recipient: issuer_serial(cert),
            originator_key: Bytes(point.to_vec()),
            ukm: Bytes(ukm),
        }],
    }
}

/// DER IssuerAndSerialNumber of `cert` (how an envelope names its recipients).
pub fn issuer_serial(cert: &Certificate) -> Bytes {
    Bytes(bidseal_phone::gates::recipient_id(cert).expect("der"))
}

/// SHA-256 of `data` as a [`Digest32`].
pub fn digest_of(data: &[u8]) -> Digest32 {
    Digest32::of(data)
}

/// The DER of a PEM certificate file.
pub fn pem_file_to_der(path: &Path) -> Vec<u8> {
    let o = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(path)
        .output()
        .expect("openssl x509");
    assert!(o.status.success());
    o.stdout
}
