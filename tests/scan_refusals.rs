//! Refusals and faults end to end as real processes on 127.0.0.1: what the co-signing service
//! enforces (wrong PIN and lockout, 已禁用, 注销, 授权结束时间, expired certificate, opening time)
//! reaches the desktop as a typed refusal with a zh-CN message, and a phone that never answers
//! ends the scan with a clear error instead of a hang.

mod scan_common;

use bidseal_scan::client::Answer;
use bidseal_scan::*;
use scan_common::*;

fn personal_seal_request(world: &World, cert: &str, tag: &str) -> OperationRequest {
    OperationRequest::Sign(SignRequest {
        platform: platform(),
        project: Some(project()),
        items: vec![world.pades_item(
            cert,
            "授权委托书.pdf",
            SealKind::Personal { index: 1 },
            tag.as_bytes(),
        )],
        lookup: vec![],
    })
}

/// `cert` if this world has it, else a certificate that exists (for the attribute set).
fn known<'a>(world: &World, cert: &'a str) -> &'a str {
    if world.path(&format!("pki/{cert}.pem")).exists() {
        cert
    } else {
        "staff-li"
    }
}

/// One single-request sign scan with `cert` and `pin`; returns the desktop's answer.
async fn sign_once(world: &World, cert: &str, pin: &str, tag: &str) -> Answer {
    let mut scan = world.desktop(OperationKind::Sign, 60).await;
    let phone = world.phone_with_pin(
        &scan.payload().to_url(),
        pin,
        &["--confirm", "--cert", cert],
    );
    scan.wait_scanned().await.expect("scanned");
    let answer = scan
        .perform(personal_seal_request(world, known(world, cert), tag), None)
        .await
        .expect("answer");
    finish_phone(phone);
    answer
}

fn refusal(answer: Answer) -> RefusalReason {
    match answer {
        Answer::Rejected(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_pins_lock_the_certificate_and_the_right_pin_is_then_refused() {
    let world = World::new();
    for remaining in (1..=4u8).rev() {
        let r = refusal(sign_once(&world, "staff-li", "000000", "wrong").await);
        assert_eq!(
            r,
            RefusalReason::WrongPin {
                remaining_tries: remaining
            }
        );
        assert!(
            r.message_zh().contains(&format!("还可尝试 {remaining} 次")),
            "{}",
            r.message_zh()
        );
    }
    let r = refusal(sign_once(&world, "staff-li", "000000", "wrong").await);
    assert_eq!(r, RefusalReason::PinLocked, "the 5th wrong PIN locks");
    assert!(r.message_zh().contains("锁定"), "{}", r.message_zh());
    // 6th attempt with the RIGHT PIN: still locked, no key share released.
    let r = refusal(sign_once(&world, "staff-li", PIN, "right").await);
    assert_eq!(r, RefusalReason::PinLocked);
    let log = world.usage_log("staff-li");
    let results: Vec<&str> = log
        .iter()
        .map(|e| e["result"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        results,
        [
            "wrong_pin",
            "wrong_pin",
            "wrong_pin",
            "wrong_pin",
            "pin_locked",
            "pin_locked"
        ]
    );
    // 忘记证书密码: a one-time code (the admin CLI plays the SMS) lets the phone set a new PIN;
    // the phone re-seals its key, the lock is gone, the old PIN no longer works.
    let code = String::from_utf8_lossy(&world.admin(&["reset-code", "staff-li"]).stdout)
        .trim()
        .to_string();
    assert_eq!(code.len(), 6, "six-digit code: {code}");
    let out = std::process::Command::new(bin())
        .args(["phone", "reset-pin", "--keystore"])
        .arg(&world.dir.0)
        .args([
            "--cosign",
            &world.cosign.url,
            "--cert",
            "staff-li",
            "--code",
            &code,
            "--new-pin",
            "654321",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reset-pin: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = sign_once(&world, "staff-li", "654321", "after-reset").await;
    let Answer::Confirmed {
        response: OperationResponse::Sign(signed),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    let cert = pem_file_to_der(&world.path("pki/staff-li.pem"));
    let item = world.pades_item(
        "staff-li",
        "授权委托书.pdf",
        SealKind::Personal { index: 1 },
        b"after-reset",
    );
    assert!(openssl_verify_prehash(
        &cert,
        &item.digest().0,
        &signed.signatures[0].signature.0
    ));
    let r = refusal(sign_once(&world, "staff-li", PIN, "old-pin").await);
    assert_eq!(r, RefusalReason::WrongPin { remaining_tries: 4 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_disabled_by_the_enterprise_admin_is_refused_until_enabled() {
    let world = World::new();
    world.admin(&["disable", "colleague-liu"]);
    let r = refusal(sign_once(&world, "colleague-liu", PIN, "d").await);
    assert_eq!(r, RefusalReason::CertificateDisabled);
    assert!(r.message_zh().contains("禁用"), "{}", r.message_zh());
    world.admin(&["enable", "colleague-liu"]);
    assert!(matches!(
        sign_once(&world, "colleague-liu", PIN, "e").await,
        Answer::Confirmed { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_certificate_can_no_longer_decrypt_or_be_enabled() {
    let world = World::new();
    world.admin(&["revoke", "ent-jiangnan"]);
    let eph = openssl_ephemeral_key();
    let own = world.cert("ent-jiangnan");
    let mut scan = world.desktop(OperationKind::Decrypt, 60).await;
    let phone = world.phone(
        &scan.payload().to_url(),
        &["--confirm", "--cert", "ent-jiangnan"],
    );
    scan.wait_scanned().await.expect("scanned");
    let req = decrypt_request(
        &own,
        &eph.point,
        world.signed_tender(unix_now() as i64 - 10),
        Digest32::of(b"manifest"),
    );
    let r = refusal(
        scan.perform(OperationRequest::Decrypt(req), None)
            .await
            .expect("answer"),
    );
    finish_phone(phone);
    assert_eq!(r, RefusalReason::CertificateRevoked);
    assert!(r.message_zh().contains("注销"), "{}", r.message_zh());
    // 注销 is final: the admin cannot enable it again.
    let out = std::process::Command::new(bin())
        .args(["phone", "admin", "--cosign", &world.cosign.url, "--state"])
        .arg(&world.dir.0)
        .args(["enable", "ent-jiangnan"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("注销"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_authorisation_that_ended_is_refused() {
    let world = World::new();
    let ended = unix_now() - 3600;
    world.admin(&["authorise-until", "colleague-wang", &ended.to_string()]);
    let r = refusal(sign_once(&world, "colleague-wang", PIN, "a").await);
    assert_eq!(r, RefusalReason::AuthorisationEnded { ended_at: ended });
    assert!(r.message_zh().contains("授权"), "{}", r.message_zh());
    // Extending the authorisation lets the staff member seal again.
    let later = (unix_now() + 86_400).to_string();
    world.admin(&["authorise-until", "colleague-wang", &later]);
    assert!(matches!(
        sign_once(&world, "colleague-wang", PIN, "b").await,
        Answer::Confirmed { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificate_is_refused() {
    let world = World::new();
    let r = refusal(sign_once(&world, "expired-zhao", PIN, "x").await);
    assert_eq!(r, RefusalReason::CertificateExpired);
    assert!(r.message_zh().contains("过期"), "{}", r.message_zh());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decryption_before_the_opening_time_is_refused() {
    let world = World::new();
    let eph = openssl_ephemeral_key();
    let own = world.cert("ent-huaxia");
    let opens_at = unix_now() + 3600;
    let mut scan = world.desktop(OperationKind::Decrypt, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm"]);
    scan.wait_scanned().await.expect("scanned");
    let req = decrypt_request(
        &own,
        &eph.point,
        world.signed_tender(opens_at as i64),
        Digest32::of(b"manifest"),
    );
    let r = refusal(
        scan.perform(OperationRequest::Decrypt(req), None)
            .await
            .expect("answer"),
    );
    finish_phone(phone);
    assert_eq!(r, RefusalReason::BeforeOpeningTime { opens_at });
    assert!(r.message_zh().contains("开标"), "{}", r.message_zh());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_that_never_answers_ends_the_scan_with_a_timeout() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Sign, 3).await;
    let mut phone = world.phone(&scan.payload().to_url(), &["--confirm", "--never-answer"]);
    scan.wait_scanned().await.expect("scanned");
    let started = std::time::Instant::now();
    let result = scan
        .perform(personal_seal_request(&world, "staff-li", "silent"), None)
        .await;
    let err = result.expect_err("no answer must not look like an answer");
    assert_eq!(err, ScanError::PhoneTimeout);
    assert!(err.to_string().contains("手机未在规定时间内确认"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "gave up in time"
    );
    // The phone never reached the co-signing service.
    assert!(world.usage_log("staff-li").is_empty());
    let _ = phone.kill();
    let _ = phone.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn co_signing_service_down_is_reported_not_worked_around() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Sign, 60).await;
    // A port nothing listens on: the phone cannot reach its back office.
    let phone = std::process::Command::new(bin())
        .args(["phone", "scan", &scan.payload().to_url(), "--keystore"])
        .arg(&world.dir.0)
        .args([
            "--cosign",
            "http://127.0.0.1:9",
            "--pin",
            PIN,
            "--confirm",
            "--cert",
            "staff-li",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    scan.wait_scanned().await.expect("scanned");
    let r = refusal(
        scan.perform(personal_seal_request(&world, "staff-li", "down"), None)
            .await
            .expect("answer"),
    );
    finish_phone(phone);
    assert_eq!(r, RefusalReason::CoSigningUnavailable);
    assert!(
        r.message_zh().contains("协同签名服务"),
        "{}",
        r.message_zh()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_certificate_and_missing_seal_are_refused_with_reasons() {
    let world = World::new();
    // The enterprise certificate has no personal seal.
    let r = refusal(sign_once(&world, "ent-huaxia", PIN, "s").await);
    assert_eq!(
        r,
        RefusalReason::SealNotAvailable {
            seal_kind: SealKind::Personal { index: 1 }
        }
    );
    assert!(r.message_zh().contains("私章"), "{}", r.message_zh());
    let r = refusal(sign_once(&world, "no-such-cert", PIN, "u").await);
    assert_eq!(r, RefusalReason::NoSuitableCertificate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_refuses_an_expired_or_garbled_qr_with_a_clear_message() {
    let world = World::new();
    let scan = bidseal_scan::client::start_scan(
        &world.relay.url,
        OperationKind::Auth,
        bidseal_scan::client::ScanOptions {
            ttl: std::time::Duration::from_secs(1),
            response_timeout: std::time::Duration::from_secs(5),
        },
    )
    .await
    .expect("start scan");
    let url = scan.payload().to_url();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let out = world
        .phone(&url, &["--confirm"])
        .wait_with_output()
        .unwrap();
    assert!(!out.status.success(), "an expired QR must not be accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("二维码已过期"), "{stderr}");

    let out = world
        .phone("bidseal://scan?garbage", &["--confirm"])
        .wait_with_output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("二维码内容无效"), "{stderr}");
    // Nothing reached the co-signing service.
    assert!(world.usage_log("ent-huaxia").is_empty());
}
