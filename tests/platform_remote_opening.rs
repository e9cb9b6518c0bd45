//! 不见面开标 as real processes: `bidseal demo` makes a tender, a bidder's encrypted bid and the
//! phones' world (it waits for the opening time); `bidseal relay` and `bidseal phone
//! serve-cosign` run on 127.0.0.1; the platform's scan and push routes serve on 127.0.0.1 with
//! in-memory accounts; the bidder's phone is a `bidseal phone standby` process that logs in by
//! scan and answers the pushed decrypt request. The platform decrypts as the hall does and the
//! board shows 已解密 and the reading (唱标). Also: the phone's 拒绝, nobody on standby (the
//! request expires), another company's session gets nothing, before the opening time.

mod scan_common;

use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_platform::remote_opening::http::PushApi;
use bidseal_platform::remote_opening::{
    BidderState, PushMailbox, RemoteBid, RemoteOpening, RemoteOpeningError,
};
use bidseal_platform::scan::http::ScanApi;
use bidseal_platform::scan::memory::MemoryAccounts;
use bidseal_platform::scan::{CertIdentity, Company, ScanAccounts, ScanHub, ScanHubConfig};
use bidseal_scan::client::ScanOptions;
use scan_common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

const ACCOUNT: &str = "acct-huaxia";
const BID: &str = "bid/投标文件.bidseal";

/// `bidseal demo` once for this file: tender.zip, platform.pem, phones/, the bid.
fn demo() -> &'static Path {
    static DEMO: OnceLock<PathBuf> = OnceLock::new();
    DEMO.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("bidseal-remote-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let out = base.join("demo");
        // The phones' split keys come from the test key pool (docs/key-split.md).
        let res = Command::new(bin())
            .args(["demo", "--out"])
            .arg(&out)
            .env(
                bidseal_phone::provision::TEST_KEY_POOL_ENV,
                bidseal_phone::provision::test_key_pool_dir(),
            )
            .output()
            .expect("run bidseal demo");
        assert!(
            res.status.success(),
            "bidseal demo failed: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        out
    })
}

fn tender(dir: &Path) -> bidseal_bid::tender::TenderPackage {
    use bidseal_bid::tender::{PlatformCertificate, TrustedPlatforms};
    let pem = std::fs::read_to_string(dir.join("platform.pem")).expect("platform.pem");
    let pinned = TrustedPlatforms::pinned(vec![PlatformCertificate::from_pem(&pem).expect("pem")]);
    bidseal_bid::tender::verify(
        &dir.join("tender.zip"),
        &pinned,
        bidseal_bid::time::OffsetDateTime::now_utc(),
    )
    .expect("pinned tender")
    .package
}

fn company_of(cert: &Certificate) -> Company {
    Company {
        uscc: cert.credit_code().expect("uscc"),
        name: cert.organization().expect("O"),
    }
}

struct Platform {
    url: String,
    accounts: Arc<MemoryAccounts>,
    mailbox: Arc<PushMailbox>,
    relay: Server,
    cosign: Server,
}

/// The platform's scan + push routes on 127.0.0.1, with the demo bidder's account and its
/// enterprise certificate bound (as 扫码绑定 leaves it).
async fn platform(dir: &Path) -> Platform {
    let relay = spawn_server(&["relay", "--listen", "127.0.0.1:0"]);
    let state = dir.join("phones").to_string_lossy().to_string();
    let pin = dir.join("platform.pem").to_string_lossy().to_string();
    let cosign = spawn_server(&[
        "phone",
        "serve-cosign",
        "--listen",
        "127.0.0.1:0",
        "--state",
        &state,
        "--platform-cert",
        &pin,
    ]);
    let leaf = Certificate::from_pem(
        &std::fs::read(dir.join("phones/pki/ent-huaxia.pem")).expect("ent-huaxia.pem"),
    )
    .expect("cert");
    let accounts = Arc::new(MemoryAccounts::default());
    accounts.add_company(ACCOUNT, company_of(&leaf));
    let identity = CertIdentity::of_leaf(&leaf).expect("identity");
    accounts
        .store_binding(ACCOUNT, &identity)
        .await
        .expect("bind");
    let mut trust = TrustStore::new();
    trust
        .add_pem_file(&dir.join("phones/pki/trust.pem"))
        .expect("trust");
    let package = tender(dir);
    let hub = ScanHub::new(ScanHubConfig {
        relay: relay.url.clone(),
        platform: bidseal_scan::PlatformRef {
            id: package.manifest.platform.id.clone(),
            name: package.manifest.platform.name.clone(),
        },
        trust,
        options: ScanOptions {
            ttl: Duration::from_secs(60),
            response_timeout: Duration::from_secs(60),
        },
        trusted_proxies: Vec::new(),
    });
    let mailbox = Arc::new(PushMailbox::default());
    let api: axum::Router = bidseal_platform::scan::http::router(ScanApi {
        hub,
        caller: accounts.clone(),
        accounts: accounts.clone(),
    })
    .merge(bidseal_platform::remote_opening::http::router(PushApi {
        mailbox: mailbox.clone(),
        caller: accounts.clone(),
        accounts: accounts.clone(),
    }));
    let app = axum::Router::new().nest("/api/v1", api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Platform {
        url,
        accounts,
        mailbox,
        relay,
        cosign,
    }
}

fn standby(dir: &Path, p: &Platform, extra: &[&str]) -> std::process::Child {
    Command::new(bin())
        .args(["phone", "standby", "--platform", &p.url, "--keystore"])
        .arg(dir.join("phones"))
        .args([
            "--cosign",
            &p.cosign.url,
            "--pin",
            PIN,
            "--cert",
            "ent-huaxia",
        ])
        .arg("--platform-cert")
        .arg(dir.join("platform.pem"))
        .args([
            "--count",
            "1",
            "--idle-secs",
            "60",
            "--device",
            "华夏投标专员的手机",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn phone standby")
}

fn bids(dir: &Path) -> Vec<RemoteBid> {
    let leaf =
        Certificate::from_pem(&std::fs::read(dir.join("phones/pki/ent-huaxia.pem")).expect("pem"))
            .expect("cert");
    vec![RemoteBid {
        bid: "B1".into(),
        company: company_of(&leaf),
        file: dir.join(BID),
    }]
}

async fn open(dir: &Path, p: &Platform, work: &str, ttl_secs: u64) -> RemoteOpening {
    let package = tender(dir);
    let bids = bids(dir);
    let opening = RemoteOpening::new("T1", &bids);
    opening.begin(&package, SystemTime::now()).expect("begin");
    let work = dir.join(work);
    std::fs::create_dir_all(&work).expect("work");
    opening
        .run(
            &p.relay.url,
            &package,
            bids,
            &work,
            &p.mailbox,
            ScanOptions {
                ttl: Duration::from_secs(ttl_secs),
                response_timeout: Duration::from_secs(60),
            },
        )
        .await
        .expect("run");
    opening
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_opening_pushes_to_the_standby_phone_and_publishes_the_reading() {
    let dir = demo();
    let p = platform(dir).await;

    // The phone on standby approves: 已解密 with the reading.
    let phone = standby(dir, &p, &[]);
    let opening = open(dir, &p, "work-ok", 60).await;
    let out = phone.wait_with_output().expect("standby exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "standby: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["handled"][0]["bid"], "B1", "{summary}");
    assert_eq!(
        summary["handled"][0]["scan"]["answered"][0]["outcome"], "confirmed",
        "{summary}"
    );
    assert!(stderr.contains("收到开标解密请求"), "{stderr}");
    let board = opening.board();
    assert!(board.finished && board.started_at.is_some());
    let row = &board.rows[0];
    assert_eq!(row.state, BidderState::Decrypted, "{row:?}");
    assert_eq!(row.state_zh, "已解密");
    assert_eq!(row.device.as_deref(), Some("华夏投标专员的手机"));
    assert!(!row.price.is_empty(), "reading table: {row:?}");
    assert!(
        dir.join("work-ok").read_dir().expect("work").count() > 0,
        "the platform extracted the bid"
    );

    // The phone's user presses 拒绝: 失败 with the phone's reason.
    let phone = standby(dir, &p, &["--reject"]);
    let opening = open(dir, &p, "work-reject", 60).await;
    let out = phone.wait_with_output().expect("standby exits");
    assert_eq!(out.status.code(), Some(1), "a refused push exits 1");
    let row = &opening.board().rows[0];
    assert_eq!(row.state, BidderState::Failed, "{row:?}");
    assert_eq!(row.code.as_deref(), Some("rejected_by_user"), "{row:?}");
    assert!(row.price.is_empty(), "nothing read out of a refused bid");

    // Nobody on standby: the request expires, 失败 says so; nothing is left in the mailbox.
    let opening = open(dir, &p, "work-nobody", 3).await;
    let row = &opening.board().rows[0];
    assert_eq!(row.state, BidderState::Failed, "{row:?}");
    assert!(
        row.reason.as_deref().unwrap_or("").contains("过期"),
        "{row:?}"
    );
    let uscc = &bids(dir)[0].company.uscc;
    assert!(p.mailbox.take(uscc, Duration::ZERO).await.is_empty());
    let _ = &p.accounts;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_go_only_to_the_bids_company_and_never_before_the_opening_time() {
    let dir = demo();
    let package = tender(dir);
    let bids = bids(dir);
    // Before the opening time by the platform's clock: refused.
    let opening = RemoteOpening::new("T1", &bids);
    let early = SystemTime::UNIX_EPOCH
        + Duration::from_secs(package.manifest.opening_time.unix_timestamp() as u64 - 60);
    let r = opening.begin(&package, early);
    assert!(
        matches!(r, Err(RemoteOpeningError::BeforeOpeningTime { .. })),
        "{r:?}"
    );
    assert_eq!(opening.board().started_at, None);
    opening.begin(&package, SystemTime::now()).expect("at time");
    assert!(matches!(
        opening.begin(&package, SystemTime::now()),
        Err(RemoteOpeningError::AlreadyStarted)
    ));

    // Another company's standby session asks for pushes while the bid's request is pending:
    // it gets nothing; the bidder's gets it once.
    let p = platform(dir).await;
    let other = "acct-jiangnan";
    let jiangnan = Certificate::from_pem(
        &std::fs::read(dir.join("phones/pki/ent-jiangnan.pem")).expect("pem"),
    )
    .expect("cert");
    p.accounts.add_company(other, company_of(&jiangnan));
    let token_other = p.accounts.create_session(other).await.expect("session");
    let token_huaxia = p.accounts.create_session(ACCOUNT).await.expect("session");
    let opening = Arc::new(RemoteOpening::new("T1", &bids));
    opening.begin(&package, SystemTime::now()).expect("begin");
    let work = dir.join("work-other");
    std::fs::create_dir_all(&work).expect("work");
    let runner = {
        let opening = opening.clone();
        let relay = p.relay.url.clone();
        let mailbox = p.mailbox.clone();
        let bids = bids.clone();
        tokio::spawn(async move {
            let package = tender(demo());
            opening
                .run(
                    &relay,
                    &package,
                    bids,
                    &work,
                    &mailbox,
                    ScanOptions {
                        ttl: Duration::from_secs(4),
                        response_timeout: Duration::from_secs(10),
                    },
                )
                .await
        })
    };
    let http = reqwest::Client::new();
    let poll = |token: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/opening/push?wait=2", p.url);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.expect("GET");
            assert!(r.status().is_success());
            r.json::<serde_json::Value>().await.expect("json")
        }
    };
    let got = poll(token_other.clone()).await;
    assert_eq!(got["requests"].as_array().map(Vec::len), Some(0), "{got}");
    let got = poll(token_huaxia.clone()).await;
    assert_eq!(got["requests"].as_array().map(Vec::len), Some(1), "{got}");
    assert!(got["requests"][0]["qr"]
        .as_str()
        .unwrap_or("")
        .contains("op=decrypt"));
    let again = poll(token_huaxia).await;
    assert_eq!(again["requests"].as_array().map(Vec::len), Some(0), "once");
    // Without a session: 401.
    let r = http
        .get(format!("{}/api/v1/opening/push?wait=0", p.url))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 401);
    let _ = runner.await;
    assert_eq!(opening.board().rows[0].state, BidderState::Failed);
}

/// A hostile phone takes the pushed request itself (it is the bid's company's phone: it logged
/// in) and answers, inside the authentic channel, what it likes.
async fn hostile_phone(
    mailbox: Arc<PushMailbox>,
    uscc: String,
    device: String,
    answer: fn(&bidseal_scan::DecryptRequest, &[u8]) -> bidseal_scan::OperationResponse,
    own_cert: Vec<u8>,
) {
    use bidseal_scan::client::{join, PhoneOptions};
    use bidseal_scan::{OperationOutcome, OperationRequest, PhoneHello, QrPayload};
    let pushed = loop {
        if let Some(r) = mailbox
            .take(&uscc, Duration::from_secs(25))
            .await
            .into_iter()
            .next()
        {
            break r;
        }
    };
    let payload = QrPayload::parse(&pushed.qr).expect("pushed payload");
    let hello = PhoneHello {
        device,
        app: "hostile".into(),
    };
    let mut link = join(&payload, &hello, PhoneOptions::default())
        .await
        .expect("join");
    // After a hello it does not accept, the platform sends no request.
    let Ok(Some(request)) = link.next_request().await else {
        return;
    };
    let OperationRequest::Decrypt(d) = &request.request else {
        panic!("pushed a non-decrypt request")
    };
    let response = answer(d, &own_cert);
    let _ = link
        .respond(
            request,
            OperationOutcome::Confirmed {
                response,
                session: None,
            },
        )
        .await;
}

/// The phones' answers are used only in the documented shape (`DecryptAnswer` /
/// `PhoneHello` in docs/platform-api.yaml): an oversized key, an index outside the envelope,
/// a hostile device name end the bid 失败 with `scan.bad_answer` naming the field (nothing
/// shown of the hostile name); an answer of the right shape with another bid's key (the own
/// certificate, a key that is not this envelope's) ends 失败 at the key unwrap. Never 已解密,
/// never a crash; the opening finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_phone_answers_end_the_bid_failed_with_a_reason() {
    use bidseal_scan::{Bytes, DecryptResponse, OperationResponse, SharedSecretBytes};
    let dir = demo();
    let p = platform(dir).await;
    let uscc = bids(dir)[0].company.uscc.clone();
    let own_cert =
        Certificate::from_pem(&std::fs::read(dir.join("phones/pki/ent-huaxia.pem")).expect("pem"))
            .expect("cert")
            .der()
            .to_vec();
    type Answer = fn(&bidseal_scan::DecryptRequest, &[u8]) -> OperationResponse;
    let cases: [(&str, &str, Answer); 4] = [
        ("oversized-kek", "华夏的手机", |_, c| {
            OperationResponse::Decrypt(DecryptResponse {
                certificate: Bytes(c.to_vec()),
                recipient: 0,
                key_encryption_key: SharedSecretBytes(Bytes(vec![0x5a; 4096])),
            })
        }),
        ("index", "华夏的手机", |d, c| {
            OperationResponse::Decrypt(DecryptResponse {
                certificate: Bytes(c.to_vec()),
                recipient: u32::try_from(d.recipients.len()).unwrap_or(u32::MAX),
                key_encryption_key: SharedSecretBytes(Bytes(vec![0x5a; 32])),
            })
        }),
        ("device", "华夏的手机\u{202E}已解密\n", |_, _| {
            unreachable!("no request after a refused hello")
        }),
        // The entry naming the own certificate and a key of the right size that is not this
        // envelope's (as one taken from another bid).
        ("other-bid", "华夏的手机", |_, c| {
            OperationResponse::Decrypt(DecryptResponse {
                certificate: Bytes(c.to_vec()),
                recipient: 0,
                key_encryption_key: SharedSecretBytes(Bytes(vec![0x5a; 32])),
            })
        }),
    ];
    for (case, device, answer) in cases {
        let phone = tokio::spawn(hostile_phone(
            p.mailbox.clone(),
            uscc.clone(),
            device.to_string(),
            answer,
            own_cert.clone(),
        ));
        let opening = open(dir, &p, &format!("work-hostile-{case}"), 60).await;
        phone.await.expect("hostile phone task");
        let board = opening.board();
        assert!(board.finished, "{case}: the opening finishes");
        let row = &board.rows[0];
        assert_eq!(row.state, BidderState::Failed, "{case}: {row:?}");
        assert!(
            row.price.is_empty() && row.reading.is_empty(),
            "{case}: {row:?}"
        );
        let code = row.code.as_deref().unwrap_or("");
        let reason = row.reason.as_deref().unwrap_or("");
        match case {
            "oversized-kek" => {
                assert_eq!(code, "scan.bad_answer", "{case}: {row:?}");
                assert!(reason.contains("key_encryption_key"), "{case}: {reason}");
            }
            "index" => {
                assert_eq!(code, "scan.bad_answer", "{case}: {row:?}");
                assert!(reason.contains("recipient"), "{case}: {reason}");
            }
            "device" => {
                assert_eq!(code, "scan.bad_answer", "{case}: {row:?}");
                assert!(reason.contains("device"), "{case}: {reason}");
                assert!(
                    row.device.is_none(),
                    "the hostile name is not shown: {row:?}"
                );
            }
            _ => assert_ne!(
                code, "scan.bad_answer",
                "{case}: the shape is right: {row:?}"
            ),
        }
    }
}
