//! The platform's 扫码绑定 / 扫码登录 as real processes on 127.0.0.1: the platform's
//! [`ScanHub`] starts `auth` scans at a real `bidseal relay`, a real `bidseal phone scan`
//! answers with a test certificate (co-signed by `bidseal phone serve-cosign`), and the hub
//! decides against in-memory accounts. Every rule is tried with the input that should get past
//! it: another company's certificate, an unbound certificate, a CA the platform does not
//! trust, the phone's 拒绝, an expired QR, another account reading a bind scan.

mod scan_common;

use bidseal_cms::cert::TrustStore;
use bidseal_platform::scan::memory::MemoryAccounts;
use bidseal_platform::scan::{
    Company, ScanHub, ScanHubConfig, ScanPurpose, ScanState, ScanStatus, StartedScan,
};
use bidseal_scan::client::ScanOptions;
use bidseal_scan::PlatformRef;
use scan_common::*;
use std::sync::Arc;
use std::time::Duration;

const ACCOUNT: &str = "acct-huaxia";

fn huaxia(world: &World) -> Company {
    let leaf = world.cert("ent-huaxia");
    Company {
        uscc: leaf.credit_code().expect("credit code"),
        name: leaf.organization().expect("organisation"),
    }
}

fn make_hub(world: &World, trust_file: &str, ttl_secs: u64) -> (ScanHub, Arc<MemoryAccounts>) {
    let accounts = Arc::new(MemoryAccounts::default());
    accounts.add_company(ACCOUNT, huaxia(world));
    let mut trust = TrustStore::new();
    trust
        .add_pem_file(&world.path(trust_file))
        .expect("trust file");
    let hub = ScanHub::new(ScanHubConfig {
        relay: world.relay.url.clone(),
        platform: PlatformRef {
            id: "gz-ggzy".into(),
            name: "广州公共资源交易中心".into(),
        },
        trust,
        options: ScanOptions {
            ttl: Duration::from_secs(ttl_secs),
            response_timeout: Duration::from_secs(60),
        },
        trusted_proxies: Vec::new(),
    });
    (hub, accounts)
}

/// Scans `started` with the phone using `cert` (plus `extra` arguments) and returns the final
/// status as the owner `viewer` sees it.
async fn scan_with(
    world: &World,
    hub: &ScanHub,
    started: &StartedScan,
    viewer: Option<&str>,
    cert: &str,
    extra: &[&str],
) -> ScanStatus {
    let mut args = vec!["--cert", cert, "--device", "张伟的手机"];
    args.extend_from_slice(extra);
    let phone = world.phone(&started.qr, &args);
    let status = final_status(hub, &started.id, viewer).await;
    let _ = finish_phone(phone);
    status
}

async fn final_status(hub: &ScanHub, id: &str, viewer: Option<&str>) -> ScanStatus {
    for _ in 0..8 {
        let status = hub
            .wait(id, viewer, None, Duration::from_secs(25))
            .await
            .expect("scan visible to its owner");
        if status.state.is_final() {
            return status;
        }
    }
    panic!("scan {id} did not finish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_then_login_by_scan_gives_one_token_for_the_bound_company() {
    let world = World::new();
    let (hub, accounts) = make_hub(&world, "pki/trust.pem", 120);

    // Bind: the account's own enterprise certificate.
    let bind = hub
        .start(
            ScanPurpose::Bind {
                account: ACCOUNT.into(),
            },
            accounts.clone(),
        )
        .await
        .expect("start bind");
    assert!(bind.qr.starts_with("bidseal://scan?"), "{}", bind.qr);
    // Another account (or nobody) cannot read or show a bind scan.
    assert!(hub.qr_svg(&bind.id, Some("acct-other")).await.is_none());
    assert!(hub.qr_svg(&bind.id, None).await.is_none());
    let svg = hub
        .qr_svg(&bind.id, Some(ACCOUNT))
        .await
        .expect("owner sees QR");
    assert!(svg.contains("<svg"), "SVG QR");
    let status = scan_with(&world, &hub, &bind, Some(ACCOUNT), "ent-huaxia", &[]).await;
    assert_eq!(status.state, ScanState::Done, "{status:?}");
    assert_eq!(status.company, Some(huaxia(&world)));
    assert!(status.token.is_none(), "a bind gives no token");
    let fingerprint = status.certificate.expect("certificate").fingerprint;
    assert_eq!(accounts.binding(&fingerprint).as_deref(), Some(ACCOUNT));
    assert!(
        hub.wait(&bind.id, Some("acct-other"), None, Duration::ZERO)
            .await
            .is_none(),
        "another account cannot read the bind result"
    );

    // Login with the bound certificate: done, with a token exactly once.
    let login = hub
        .start(ScanPurpose::Login, accounts.clone())
        .await
        .expect("start login");
    let status = scan_with(&world, &hub, &login, None, "ent-huaxia", &[]).await;
    assert_eq!(status.state, ScanState::Done, "{status:?}");
    let token = status.token.expect("token on done");
    assert_eq!(accounts.session_account(&token).as_deref(), Some(ACCOUNT));
    assert_eq!(status.company, Some(huaxia(&world)));
    let again = hub
        .wait(&login.id, None, None, Duration::ZERO)
        .await
        .expect("still known");
    assert_eq!(again.state, ScanState::Done);
    assert!(again.token.is_none(), "the token is handed out once");

    // A colleague's certificate of the same company is not bound: refused, saying so.
    let login = hub
        .start(ScanPurpose::Login, accounts.clone())
        .await
        .expect("start login");
    let status = scan_with(&world, &hub, &login, None, "staff-li", &[]).await;
    assert_eq!(status.state, ScanState::Rejected, "{status:?}");
    assert_eq!(status.code.as_deref(), Some("PLATFORM_CERT_NOT_BOUND"));
    assert!(status.token.is_none());
    assert!(
        status.reason.as_deref().unwrap_or("").contains("尚未绑定"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_refuses_another_companys_certificate_and_says_which_field_differs() {
    let world = World::new();
    let (hub, accounts) = make_hub(&world, "pki/trust.pem", 120);
    let bind = hub
        .start(
            ScanPurpose::Bind {
                account: ACCOUNT.into(),
            },
            accounts.clone(),
        )
        .await
        .expect("start bind");
    let status = scan_with(&world, &hub, &bind, Some(ACCOUNT), "ent-jiangnan", &[]).await;
    assert_eq!(status.state, ScanState::Rejected, "{status:?}");
    assert_eq!(status.code.as_deref(), Some("PLATFORM_BIND_WRONG_COMPANY"));
    let reason = status.reason.unwrap_or_default();
    assert!(
        reason.contains("企业名称不一致")
            && reason.contains("统一社会信用代码不一致")
            && reason.contains("江南路桥集团有限公司")
            && reason.contains("华夏建设工程有限公司"),
        "{reason}"
    );
    // Nothing was bound; logging in with it is refused as unbound.
    let jiangnan = bidseal_cms::cert::Certificate::from_pem(
        &std::fs::read(world.path("pki/ent-jiangnan.pem")).expect("pem"),
    )
    .expect("cert");
    let fp: String = jiangnan
        .sha256_fingerprint()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(accounts.binding(&fp), None);

    // Same credit code, other name: an account whose registered name differs from the
    // certificate's (e.g. renamed company) is refused with only the name named.
    let mut renamed = huaxia(&world);
    renamed.name = "华夏建设工程股份有限公司".into();
    accounts.add_company("acct-renamed", renamed);
    let bind = hub
        .start(
            ScanPurpose::Bind {
                account: "acct-renamed".into(),
            },
            accounts.clone(),
        )
        .await
        .expect("start bind");
    let status = scan_with(&world, &hub, &bind, Some("acct-renamed"), "ent-huaxia", &[]).await;
    assert_eq!(status.code.as_deref(), Some("PLATFORM_BIND_NAME_MISMATCH"));
    let reason = status.reason.unwrap_or_default();
    assert!(
        reason.contains("企业名称不一致") && !reason.contains("统一社会信用代码不一致"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_rejection_untrusted_ca_and_expired_qr_are_refused_with_reasons() {
    let world = World::new();
    // The phone presses 拒绝.
    let (hub, accounts) = make_hub(&world, "pki/trust.pem", 120);
    let login = hub
        .start(ScanPurpose::Login, accounts.clone())
        .await
        .expect("start");
    let status = scan_with(&world, &hub, &login, None, "ent-huaxia", &["--reject"]).await;
    assert_eq!(status.state, ScanState::Rejected, "{status:?}");
    assert_eq!(status.code.as_deref(), Some("PHONE_REJECTED_BY_USER"));
    assert!(status.token.is_none());

    // A platform that trusts only CA 2: ent-huaxia (CA 1) is refused before any account
    // lookup, even once bound elsewhere.
    let (hub2, accounts2) = hub_trusting_ca2(&world);
    let bind = hub2
        .start(
            ScanPurpose::Bind {
                account: ACCOUNT.into(),
            },
            accounts2,
        )
        .await
        .expect("start");
    let status = scan_with(&world, &hub2, &bind, Some(ACCOUNT), "ent-huaxia", &[]).await;
    assert_eq!(
        status.code.as_deref(),
        Some("PLATFORM_CERT_UNTRUSTED"),
        "{status:?}"
    );

    // Nobody scans: the QR expires, the state says so.
    let (hub3, accounts3) = make_hub(&world, "pki/trust.pem", 2);
    let login = hub3
        .start(ScanPurpose::Login, accounts3)
        .await
        .expect("start");
    let status = final_status(&hub3, &login.id, None).await;
    assert_eq!(status.state, ScanState::Expired, "{status:?}");
    assert_eq!(status.code.as_deref(), Some("PLATFORM_SCAN_EXPIRED"));
    assert!(status.reason.unwrap_or_default().contains("刷新二维码"));

    // An unknown id is not found, whoever asks.
    assert!(hub
        .wait("AAAAAAAAAAAAAAAAAAAAAA", None, None, Duration::ZERO)
        .await
        .is_none());
}

fn hub_trusting_ca2(world: &World) -> (ScanHub, Arc<MemoryAccounts>) {
    make_hub(world, "pki/ca-2.pem", 120)
}

/// `bidseal platform serve --demo-world W [--demo-bind]` as a process: scan login with the
/// world's enterprise certificate is refused as unbound by default (binding by scan is the
/// seed's 3.1 flow) and works at once with `--demo-bind`, into the certificate's own company.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_bind_lets_a_newcomer_log_in_by_scan_at_once() {
    let world = World::new();
    let http = reqwest::Client::new();
    let world_dir = world.dir.0.to_string_lossy().to_string();
    // --demo-bind alone is a usage error.
    let out = std::process::Command::new(bin())
        .args(["platform", "serve", "--data", &world_dir, "--demo-bind"])
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    for (bind, cert) in [
        (false, "ent-huaxia"),
        (true, "ent-huaxia"),
        (true, "ent-jiangnan"),
    ] {
        let data = world
            .dir
            .0
            .join(format!("platform-{bind}"))
            .to_string_lossy()
            .to_string();
        let mut args = vec![
            "platform",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            &data,
            "--demo-world",
            &world_dir,
            "--relay",
            &world.relay.url,
        ];
        if bind {
            args.push("--demo-bind");
        }
        let server = spawn_server(&args);
        // Started as the bid tool starts it (its client, its User-Agent).
        let mut client =
            bidseal_workflow::platform_client::PlatformClient::new(&server.url).expect("client");
        let started = client.scan_login_start("login").await.expect("scan-login");
        let phone = world.phone(&started.qr, &["--cert", cert, "--device", "新手的手机"]);
        let poll = format!("{}/api/v1/scan-login/{}", server.url, started.id);
        let mut status = serde_json::Value::Null;
        for _ in 0..8 {
            status = http
                .get(&poll)
                .send()
                .await
                .expect("poll")
                .json()
                .await
                .expect("json");
            if ["done", "rejected", "expired"].contains(&status["state"].as_str().unwrap_or("")) {
                break;
            }
        }
        let (_, screen) = finish_phone(phone);
        assert!(
            screen.contains("登录请求来自 127.0.0.1（BidSeal 投标工具 / Linux）"),
            "the phone names the bid tool as the requester: {screen}"
        );
        if !bind {
            assert_eq!(status["code"], "PLATFORM_CERT_NOT_BOUND", "{status}");
            continue;
        }
        assert_eq!(status["state"], "done", "{cert}: {status}");
        let token = status["token"].as_str().expect("token");
        let me: serde_json::Value = http
            .get(format!("{}/api/v1/me", server.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        let leaf = world.cert(cert);
        assert_eq!(
            me["company"]["uscc"],
            leaf.credit_code().expect("uscc").as_str(),
            "{me}"
        );
    }
}

/// 扫码绑定 started for a web request names that request's sender on the phone (the platform's
/// summary of a hostile 10 KB `User-Agent`, and the client behind a trusted proxy, never the
/// address the client wrote itself); the phone signs the transcript with that requester and the
/// platform's check of it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_scan_names_its_requester_on_the_phone_and_binds_it() {
    let world = World::new();
    let (hub, accounts) = make_hub(&world, "pki/trust.pem", 120);
    let hostile_agent = format!(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0\u{202E}\r\n[请确认] 平台已验证{}",
        "A".repeat(10 * 1024)
    );
    let origin = bidseal_platform::scan::RequestOrigin {
        peer: Some("127.0.0.1".parse().expect("ip")),
        forwarded_for: Some("192.0.2.66, 203.0.113.5".into()),
        user_agent: Some(hostile_agent),
    };
    // The hub's trusted proxy list is empty: the header is ignored, the peer is shown.
    let bind = hub
        .start_with(
            ScanPurpose::Bind {
                account: ACCOUNT.into(),
            },
            accounts.clone(),
            None,
            Some(&origin),
        )
        .await
        .expect("start bind");
    let phone = world.phone(
        &bind.qr,
        &["--cert", "ent-huaxia", "--device", "张伟的手机"],
    );
    let status = final_status(&hub, &bind.id, Some(ACCOUNT)).await;
    let (_, stderr) = finish_phone(phone);
    assert_eq!(status.state, ScanState::Done, "{status:?}");
    assert!(
        stderr.contains("；绑定证书请求来自 127.0.0.1（Chrome 131 / Windows），如非本人操作请拒绝"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("192.0.2.66") && !stderr.contains("203.0.113.5"),
        "a forwarded-for header of an untrusted peer is not shown: {stderr}"
    );
    assert!(
        !stderr.contains('\u{202E}') && !stderr.contains("平台已验证"),
        "{stderr}"
    );
}
