//! A test world for the flow tests: the phone's test PKI and keystore (`bidseal phone init`),
//! the co-signing service and the scan relay listening on 127.0.0.1, and a simulated phone
//! that joins every QR the flow shows.
#![allow(dead_code)]

use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_phone::cosign::client::CosignClient;
use bidseal_phone::keystore::Keystore;
use bidseal_phone::scan_loop::{run_scan, PhoneBehaviour};
use bidseal_phone::simulator::{PhoneSimulator, PhoneUser, UserDecision};
use bidseal_relay::{Relay, RelayHandle};
use bidseal_scan::client::ScanOptions;
use bidseal_scan::{OperationKind, PlatformRef, ProjectRef, QrPayload};
use bidseal_workflow::scan_session::{ScanPresenter, ScanTarget};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const PIN: &str = "123456";
#[allow(unused_imports)]
pub use bidseal_phone::pki::PLAIN_CERT_ID;

/// `phone init` in this process: split keys from the test key pool (docs/key-split.md), the
/// one `-plain` certificate with its key file.
pub fn init_world(dir: &Path) {
    let options = bidseal_phone::provision::InitOptions {
        key_pool: Some(bidseal_phone::provision::test_key_pool_dir()),
    };
    bidseal_phone::provision::init_test_world_with(dir, PIN, 1000, options)
        .unwrap_or_else(|e| panic!("phone init: {e}"));
}

pub struct World {
    pub dir: PathBuf,
    pub cosign_url: String,
    pub relay: RelayHandle,
}

pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bidseal-flow-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

impl World {
    pub async fn start(name: &str) -> World {
        let dir = fresh_dir(name);
        let world = dir.join("world");
        init_world(&world);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind cosign: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let relay = Relay::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("relay: {e}"));
        // The trading platform whose signed tenders the phones accept.
        let platform = bidseal_phone::pki::TestCa::generate("platform", "测试交易平台")
            .unwrap_or_else(|e| panic!("{e}"));
        let pem = bidseal_phone::pki::cert_pem(&platform.cert).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("platform.pem"), pem).unwrap_or_else(|e| panic!("{e}"));
        // The co-signing service pins the same platform (opening time from its tenders).
        let pins = bidseal_phone::cosign::opening::PlatformPins::load(&[dir.join("platform.pem")])
            .unwrap_or_else(|e| panic!("{e}"));
        let state = world.join("cosign");
        tokio::spawn(async move {
            let config = bidseal_phone::cosign::server::ServiceConfig {
                platform_pins: pins,
                ..Default::default()
            };
            let _ = bidseal_phone::cosign::server::serve_with(listener, &state, config).await;
        });
        let key = platform.key_pem().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("platform.key.pem"), key.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        World {
            dir,
            cosign_url: format!("http://{addr}"),
            relay,
        }
    }

    pub fn pki(&self, file: &str) -> PathBuf {
        self.dir.join("world").join("pki").join(file)
    }

    pub fn cert(&self, id: &str) -> Certificate {
        let pem = std::fs::read(self.pki(&format!("{id}.pem"))).unwrap_or_else(|e| panic!("{e}"));
        Certificate::from_pem(&pem).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A tender signed by this world's platform, opening at `opening_time` (unix seconds).
    pub fn signed_tender(&self, opening_time: i64) -> bidseal_scan::SignedTender {
        let at = bidseal_bid::time::OffsetDateTime::from_unix_timestamp(opening_time)
            .unwrap_or_else(|e| panic!("{e}"));
        let text = at
            .format(&bidseal_bid::time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::json!({
            "project": {"id": "DEMO-2026-001", "name": "演示项目", "lot": {"id": "01", "name": "一标段"}},
            "platform": {"id": "demo-ggzy", "name": "演示公共资源交易平台"},
            "opening_time": text,
        });
        let manifest = serde_json::to_vec_pretty(&json).unwrap_or_else(|e| panic!("{e}"));
        let signer =
            bidseal_bid::tender::PlatformSigner::from_pem_file(&self.dir.join("platform.key.pem"))
                .unwrap_or_else(|e| panic!("{e}"));
        bidseal_scan::SignedTender {
            signature: signer.sign(&manifest).into(),
            manifest: manifest.into(),
        }
    }

    pub fn trust(&self, cas: &[&str]) -> TrustStore {
        let mut store = TrustStore::new();
        for ca in cas {
            store
                .add_pem_file(&self.pki(&format!("{ca}.pem")))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        store
    }

    pub fn target(&self) -> ScanTarget {
        ScanTarget {
            relay: self.relay.url(),
            platform: PlatformRef {
                id: "demo-ggzy".into(),
                name: "演示公共资源交易平台".into(),
            },
            project: ProjectRef {
                code: "DEMO-2026-001/01".into(),
                name: "演示项目 一标段".into(),
            },
            options: ScanOptions {
                ttl: Duration::from_secs(60),
                response_timeout: Duration::from_secs(60),
            },
        }
    }

    /// A phone holding the whole test keystore; `cert` forces one certificate.
    pub fn phone(&self, cert: Option<&str>, colleagues: &[&str]) -> TestPhone {
        self.phone_of(None, cert, colleagues)
    }

    /// A phone holding only the certificates of company `uscc` (a second bidder's own phone).
    pub fn company_phone(&self, uscc: &str, cert: Option<&str>) -> TestPhone {
        self.phone_of(Some(uscc), cert, &[])
    }

    fn phone_of(&self, uscc: Option<&str>, cert: Option<&str>, colleagues: &[&str]) -> TestPhone {
        let mut keystore = Keystore::load(&self.dir.join("world").join("phone"))
            .unwrap_or_else(|e| panic!("keystore: {e}"));
        if let Some(uscc) = uscc {
            keystore.manifest.certificates.retain(|e| e.uscc == uscc);
        }
        let cosign = CosignClient::new(&self.cosign_url)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_device_key(keystore.device_key());
        let user = PhoneUser {
            pin: PIN.to_string().into(),
            decision: UserDecision::Confirm,
            auto_confirm: true,
            cert: cert.map(str::to_string),
            colleagues: colleagues.iter().map(|s| s.to_string()).collect(),
        };
        let platforms =
            bidseal_phone::gates::PinnedPlatforms::from_pem_files(&[self.dir.join("platform.pem")])
                .unwrap_or_else(|e| panic!("{e}"));
        TestPhone {
            phone: Arc::new(PhoneSimulator::new(keystore, cosign, user).with_platforms(platforms)),
            shown: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

/// Joins every QR shown, as the phone would after the user scans it.
pub struct TestPhone {
    pub phone: Arc<PhoneSimulator>,
    pub shown: Arc<Mutex<Vec<(OperationKind, String)>>>,
}

impl ScanPresenter for TestPhone {
    fn show_qr(&mut self, op: OperationKind, payload: &QrPayload) {
        let text = payload.to_url();
        if let Ok(mut shown) = self.shown.lock() {
            shown.push((op, text.clone()));
        }
        let phone = self.phone.clone();
        tokio::spawn(async move {
            let _ = run_scan(
                &text,
                &phone,
                "测试手机",
                PhoneBehaviour::Normal,
                &mut |_| {},
            )
            .await;
        });
    }

    fn status(&mut self, _line: &str) {}
}

pub fn run(cmd: &mut std::process::Command) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run scripts/setup.sh)"))
}

pub fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
