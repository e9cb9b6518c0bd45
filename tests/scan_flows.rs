//! Scan flows end to end as real processes on 127.0.0.1: the desktop client
//! (`bidseal_scan::client`) ↔ `bidseal relay` ↔ `bidseal phone scan` ↔ `bidseal phone
//! serve-cosign`. Results are checked independently: certificate chains with the desktop's
//! trust store over the test CAs and `openssl verify`, signatures and ECDH with `openssl
//! pkeyutl`.

mod scan_common;

use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_scan::client::Answer;
use bidseal_scan::*;
use scan_common::*;
use std::time::SystemTime;

/// `openssl verify -CAfile CA -untrusted <rest of chain> <leaf>`; (accepted, output).
fn openssl_verify_chain(chain: &[Certificate], ca_file: &std::path::Path) -> (bool, String) {
    let tmp = TempDir::new("ossl-chain");
    let to_pem = |i: usize, c: &Certificate| -> std::path::PathBuf {
        let der = tmp.0.join(format!("{i}.der"));
        let pem = tmp.0.join(format!("{i}.pem"));
        std::fs::write(&der, c.der()).expect("write DER");
        let out = std::process::Command::new("openssl")
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&der)
            .arg("-out")
            .arg(&pem)
            .output()
            .expect("openssl is required (scripts/setup.sh installs it)");
        assert!(out.status.success(), "openssl x509: {out:?}");
        pem
    };
    let leaf = to_pem(0, &chain[0]);
    let mut untrusted = String::new();
    for (i, c) in chain.iter().enumerate().skip(1) {
        untrusted.push_str(&std::fs::read_to_string(to_pem(i, c)).expect("PEM"));
    }
    let bundle = tmp.0.join("untrusted.pem");
    std::fs::write(&bundle, untrusted).expect("write bundle");
    let out = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(ca_file)
        .arg("-untrusted")
        .arg(&bundle)
        .arg(&leaf)
        .output()
        .expect("run openssl verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains(": OK"), text)
}

fn trust(world: &World) -> TrustStore {
    let mut t = TrustStore::new();
    t.add_pem_file(&world.path("pki/trust.pem"))
        .expect("trust.pem");
    t
}

fn digest(tag: &str) -> Digest32 {
    Digest32::of(tag.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_returns_enterprise_chain_of_a_test_ca_and_a_signature_bound_to_the_session() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Auth, 60).await;
    let phone = world.phone(
        &scan.payload().to_url(),
        &["--confirm", "--device", "张伟的手机"],
    );
    let (hello, binding) = scan.wait_scanned().await.expect("phone scanned");
    assert_eq!(hello.device, "张伟的手机");
    let request = AuthRequest {
        platform: platform(),
        purpose: AuthPurpose::Login,
        project: Some(project()),
        requester: None,
        challenge: digest("challenge-1"),
        issued_at: unix_now(),
    };
    let answer = scan
        .perform(OperationRequest::Auth(request.clone()), None)
        .await
        .expect("answer");
    let Answer::Confirmed {
        response: OperationResponse::Auth(auth),
        ..
    } = answer
    else {
        panic!("auth not confirmed: {answer:?}")
    };
    let (summary, stderr) = finish_phone(phone);
    assert_eq!(summary["answered"][0]["outcome"], "confirmed");
    assert!(
        stderr.contains("广州公共资源交易中心"),
        "phone showed the platform: {stderr}"
    );

    // Chain: leaf + CA, verifies against the multi-CA trust store.
    let chain: Vec<Certificate> = auth
        .certificate_chain
        .iter()
        .map(|c| Certificate::from_der(&c.0).expect("DER cert"))
        .collect();
    let leaf = &chain[0];
    trust(&world)
        .verify_chain(leaf, &chain[1..], SystemTime::now())
        .expect("chain verifies");
    // Independently: `openssl verify` against the test CAs accepts it, against the other CA
    // only (ent-huaxia is issued by 测试CA 一) it does not.
    let (ok, out) = openssl_verify_chain(&chain, &world.path("pki/trust.pem"));
    assert!(ok, "openssl verify: {out}");
    let (ok, out) = openssl_verify_chain(&chain, &world.path("pki/ca-2.pem"));
    assert!(
        !ok,
        "openssl verify must refuse a chain to an untrusted CA: {out}"
    );
    assert_eq!(leaf.organization().as_deref(), Some(BIDDER));
    let code = leaf.credit_code().expect("credit code in subject");
    assert_eq!(code.len(), 18);

    // Signature over the transcript hash the desktop computes itself.
    let hash = request.transcript_hash(&binding);
    assert!(
        openssl_verify_prehash(leaf.der(), &hash.0, &auth.signature.0),
        "openssl verifies auth signature"
    );
    // ...and it is bound: the same signature does not verify for another challenge.
    let other = AuthRequest {
        challenge: digest("challenge-2"),
        ..request
    };
    assert!(!openssl_verify_prehash(
        leaf.der(),
        &other.transcript_hash(&binding).0,
        &auth.signature.0
    ));

    // Logged at the co-signing service, with the session id.
    let log = world.usage_log("ent-huaxia");
    let last = log.last().expect("a log entry");
    assert_eq!(last["operation"], "扫码认证");
    assert_eq!(last["result"], "OK");
    assert_eq!(last["session_id"], binding.session.to_base64());
    let desktop = last["desktop"].as_str().unwrap_or("");
    assert!(
        desktop.contains("广州公共资源交易中心") && desktop.contains("gz-ggzy"),
        "{desktop}"
    );
}

/// A web requester (a hostile one: 10 KB, control characters, a right-to-left override)
/// reaches the real phone's screen cut and cleaned, the phone still answers, and its signature
/// is bound to the requester: the same signature over a transcript with another address,
/// another agent or no requester does not verify (openssl) — whoever changes the requester
/// between the platform and the phone, or after, breaks the signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_is_shown_cleaned_and_bound_into_the_auth_signature() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Auth, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm"]);
    let (_, binding) = scan.wait_scanned().await.expect("phone scanned");
    let requester = Requester {
        address: "203.0.113.5\r\n".into(),
        agent: format!(
            "Chrome 131\u{202E}swodniW\u{1b}[2J\n[请确认] 平台已验证{}",
            "A".repeat(10 * 1024)
        ),
    };
    let request = AuthRequest {
        platform: platform(),
        purpose: AuthPurpose::Login,
        project: None,
        requester: Some(requester.clone()),
        challenge: digest("challenge-requester"),
        issued_at: unix_now(),
    };
    let answer = scan
        .perform(OperationRequest::Auth(request.clone()), None)
        .await
        .expect("answer");
    let Answer::Confirmed {
        response: OperationResponse::Auth(auth),
        ..
    } = answer
    else {
        panic!("auth not confirmed: {answer:?}")
    };
    let (_, stderr) = finish_phone(phone);
    let line = stderr
        .lines()
        .find(|l| l.contains("请求来自"))
        .unwrap_or_else(|| panic!("no requester line: {stderr}"));
    assert!(
        line.contains("登录请求来自 203.0.113.5（Chrome 131swodniW[2J [请确认] 平台已验证AAA"),
        "{line}"
    );
    assert!(line.ends_with("…），如非本人操作请拒绝"), "{line}");
    assert!(
        !line.contains('\u{202E}') && !line.contains('\u{1b}'),
        "{line}"
    );
    assert!(line.chars().count() < 300, "{} chars", line.chars().count());

    let leaf = Certificate::from_der(&auth.certificate_chain[0].0).expect("leaf");
    let hash = request.transcript_hash(&binding);
    assert!(openssl_verify_prehash(
        leaf.der(),
        &hash.0,
        &auth.signature.0
    ));
    let changed = |r: Option<Requester>| AuthRequest {
        requester: r,
        ..request.clone()
    };
    for (what, other) in [
        (
            "address",
            changed(Some(Requester {
                address: "198.51.100.7".into(),
                ..requester.clone()
            })),
        ),
        (
            "agent",
            changed(Some(Requester {
                agent: "Chrome 131 / Windows".into(),
                ..requester.clone()
            })),
        ),
        ("none", changed(None)),
    ] {
        assert!(
            !openssl_verify_prehash(
                leaf.der(),
                &other.transcript_hash(&binding).0,
                &auth.signature.0
            ),
            "a signature must not verify for a changed requester ({what})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_two_seals_signatures_verify_with_openssl_and_seal_image_is_png() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Sign, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm"]);
    scan.wait_scanned().await.expect("scanned");
    let items = vec![
        world.pades_item("ent-huaxia", "商务标.pdf", SealKind::Enterprise, b"a"),
        world.pades_item("ent-huaxia", "技术标.pdf", SealKind::Enterprise, b"b"),
    ];
    let req = SignRequest {
        platform: platform(),
        project: Some(project()),
        items: items.clone(),
        lookup: vec![],
    };
    let answer = scan
        .perform(OperationRequest::Sign(req), None)
        .await
        .expect("answer");
    let Answer::Confirmed {
        response: OperationResponse::Sign(signed),
        ..
    } = answer
    else {
        panic!("sign not confirmed: {answer:?}")
    };
    let (_, stderr) = finish_phone(phone);
    assert!(
        stderr.contains("商务标.pdf") && stderr.contains("公章"),
        "phone showed document and seal kind: {stderr}"
    );
    assert!(
        stderr.contains(&items[0].digest().short_hex()),
        "phone showed the hash prefix"
    );

    let leaf = Certificate::from_der(&signed.certificate_chain[0].0).expect("leaf");
    assert_eq!(leaf.common_name().as_deref(), Some(BIDDER));
    assert_eq!(signed.signatures.len(), 2);
    for (item, sig) in items.iter().zip(&signed.signatures) {
        assert_eq!(item.digest(), sig.digest);
        assert!(
            openssl_verify_prehash(leaf.der(), &item.digest().0, &sig.signature.0),
            "openssl verifies seal signature"
        );
    }
    // A signature does not verify for the other document's digest.
    assert!(!openssl_verify_prehash(
        leaf.der(),
        &items[1].digest().0,
        &signed.signatures[0].signature.0
    ));
    // The seal image is bound to the signing certificate by its key.
    let image = &signed.seal_images[0];
    let bound = SealImage::binding_hash(leaf.der(), image.seal_kind, &image.png.0);
    assert!(openssl_verify_prehash(
        leaf.der(),
        &bound.0,
        &image.binding.0
    ));
    assert_eq!(signed.seal_images.len(), 1);
    assert_eq!(signed.seal_images[0].seal_kind, SealKind::Enterprise);
    assert!(signed.seal_images[0]
        .png
        .0
        .starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legal_person_seal_is_signed_with_the_legal_person_certificate() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Sign, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm"]);
    scan.wait_scanned().await.expect("scanned");
    let item = world.pades_item("legal-zhang", "投标函.pdf", SealKind::LegalPerson, b"c");
    let req = SignRequest {
        platform: platform(),
        project: None,
        items: vec![item.clone()],
        lookup: vec![],
    };
    let answer = scan
        .perform(OperationRequest::Sign(req), None)
        .await
        .expect("answer");
    let Answer::Confirmed {
        response: OperationResponse::Sign(signed),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    finish_phone(phone);
    let leaf = Certificate::from_der(&signed.certificate_chain[0].0).unwrap();
    assert_eq!(leaf.common_name().as_deref(), Some("张伟"));
    assert!(openssl_verify_prehash(
        leaf.der(),
        &item.digest().0,
        &signed.signatures[0].signature.0
    ));
    assert_eq!(signed.seal_images[0].seal_kind, SealKind::LegalPerson);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_two_colleague_certificates_returns_three_recipients_of_the_same_company() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Generate, 60).await;
    let phone = world.phone(
        &scan.payload().to_url(),
        &[
            "--confirm",
            "--pick-colleague",
            "colleague-wang",
            "--pick-colleague",
            "colleague-liu",
        ],
    );
    scan.wait_scanned().await.expect("scanned");
    let (manifest, attrs) = world.manifest("ent-huaxia", "generate");
    let req = GenerateRequest {
        platform: platform(),
        project: project(),
        manifest: Bytes(manifest),
        signed_attributes: Bytes(attrs),
        choose: CertificateChoice {
            min_extra: 0,
            max_extra: 4,
        },
        trial: false,
    };
    let answer = scan
        .perform(OperationRequest::Generate(req.clone()), None)
        .await
        .expect("answer");
    let Answer::Confirmed {
        response: OperationResponse::Generate(g),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    scan.end().await.expect("end: no trial decryption follows");
    let (_, stderr) = finish_phone(phone);
    assert!(stderr.contains("生成标书"), "{stderr}");

    let signer = Certificate::from_der(&g.certificate_chain[0].0).unwrap();
    assert!(openssl_verify_prehash(
        signer.der(),
        &req.manifest_digest().0,
        &g.signature.0
    ));
    assert_eq!(g.encryption_certificates.len(), 3, "own + 2 colleagues");
    let certs: Vec<Certificate> = g
        .encryption_certificates
        .iter()
        .map(|c| Certificate::from_der(&c.0).unwrap())
        .collect();
    assert_eq!(certs[0].der(), signer.der(), "own certificate first");
    assert_eq!(
        certs[1].der(),
        pem_file_to_der(&world.path("pki/colleague-wang.pem"))
    );
    assert_eq!(
        certs[2].der(),
        pem_file_to_der(&world.path("pki/colleague-liu.pem"))
    );
    let code = signer.credit_code().unwrap();
    let store = trust(&world);
    for c in &certs {
        assert_eq!(
            c.credit_code().as_deref(),
            Some(code.as_str()),
            "same enterprise"
        );
        store
            .verify_chain(c, &[], SystemTime::now())
            .expect("colleague chains to a test CA");
    }
    // The colleagues come from both test CAs.
    assert_ne!(certs[1].issuer(), certs[2].issuer());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colleague_of_another_company_cannot_be_picked() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Generate, 60).await;
    let phone = world.phone(
        &scan.payload().to_url(),
        &["--confirm", "--pick-colleague", "ent-jiangnan"],
    );
    scan.wait_scanned().await.expect("scanned");
    let (manifest, attrs) = world.manifest("ent-huaxia", "other");
    let req = GenerateRequest {
        platform: platform(),
        project: project(),
        manifest: Bytes(manifest),
        signed_attributes: Bytes(attrs),
        choose: CertificateChoice {
            min_extra: 0,
            max_extra: 4,
        },
        trial: false,
    };
    let answer = scan
        .perform(OperationRequest::Generate(req), None)
        .await
        .expect("answer");
    finish_phone(phone);
    let Answer::Rejected(RefusalReason::InvalidRequest { detail }) = answer else {
        panic!("{answer:?}")
    };
    assert!(detail.contains("不属于本单位"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decrypt_returns_the_key_encryption_key_of_its_own_entry_only() {
    let world = World::new();
    let k1 = openssl_ephemeral_key();
    let k2 = openssl_ephemeral_key();
    let own = world.cert("ent-huaxia");
    let other = world.cert("colleague-wang");
    let tender = world.signed_tender(unix_now() as i64 - 60);
    let ukm = EnvelopeUkm {
        tender: tender.digest(),
        manifest: digest("manifest"),
    }
    .to_bytes();
    let id = issuer_serial;
    let mut scan = world.desktop(OperationKind::Decrypt, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm"]);
    scan.wait_scanned().await.expect("scanned");
    let req = DecryptRequest {
        platform: platform(),
        project: project(),
        bid_file: "华夏建设-投标文件.bid".into(),
        envelope_digest: digest("envelope"),
        tender,
        recipients: vec![
            DecryptRecipient {
                recipient: id(&other),
                originator_key: Bytes(k1.point.clone()),
                ukm: Bytes(ukm.clone()),
            },
            DecryptRecipient {
                recipient: id(&own),
                originator_key: Bytes(k2.point.clone()),
                ukm: Bytes(ukm.clone()),
            },
        ],
    };
    let answer = scan
        .perform(OperationRequest::Decrypt(req), None)
        .await
        .expect("answer");
    let Answer::Confirmed {
        response: OperationResponse::Decrypt(d),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    let (_, stderr) = finish_phone(phone);
    assert!(
        stderr.contains("扫码解密") && stderr.contains("招标文件已验证"),
        "{stderr}"
    );
    assert_eq!(
        d.certificate.0,
        own.der(),
        "the phone answers for its own certificate"
    );
    assert_eq!(d.recipient, 1, "and only for its own entry");
    // The KEK is X9.63-KDF(ECDH (openssl), SharedInfo{aes256-wrap, ukm, 256}).
    // ent-huaxia's key is split: openssl computes Z from the ephemeral side.
    let z = openssl_ecdh_from_ephemeral(&k2, &world.path("pki/ent-huaxia.pem"));
    let z: [u8; 32] = z.try_into().unwrap();
    let kek = bidseal_cms::envelope::aes256_wrap_kek(
        &bidseal_cms::envelope::SharedSecret::from_bytes(z),
        Some(&ukm),
    )
    .unwrap();
    assert_eq!(d.key_encryption_key.0 .0, kek.as_bytes());
    assert_ne!(d.key_encryption_key.0 .0, z, "never the raw ECDH secret");
    let log = world.usage_log("ent-huaxia");
    assert_eq!(log.last().unwrap()["operation"], "解密");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_mode_five_seals_with_auto_confirm_then_end_session() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Sign, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm", "--auto-confirm"]);
    let (_, binding) = scan.wait_scanned().await.expect("scanned");
    let key_der = pem_file_to_der(&world.path("pki/ent-huaxia.pem"));
    for n in 1..=5u32 {
        let item = world.pades_item(
            "ent-huaxia",
            &format!("第{n}册.pdf"),
            SealKind::Enterprise,
            format!("doc-{n}").as_bytes(),
        );
        let req = SignRequest {
            platform: platform(),
            project: Some(project()),
            items: vec![item.clone()],
            lookup: vec![],
        };
        let session = (n == 1).then_some(SessionModeRequest {
            idle_timeout_secs: 120,
        });
        let answer = scan
            .perform(OperationRequest::Sign(req), session)
            .await
            .expect("answer");
        let Answer::Confirmed {
            response: OperationResponse::Sign(s),
            session: grant,
        } = answer
        else {
            panic!("seal {n}: {answer:?}")
        };
        if n == 1 {
            let g = grant.expect("session opened on the first seal");
            assert!(g.auto_confirm);
        }
        assert!(
            openssl_verify_prehash(&key_der, &item.digest().0, &s.signatures[0].signature.0),
            "seal {n}"
        );
    }
    scan.end().await.expect("end session");
    let (summary, stderr) = finish_phone(phone);
    let answered = summary["answered"].as_array().unwrap();
    assert_eq!(answered.len(), 5);
    assert_eq!(answered[0]["prompted"], true, "first seal asks the user");
    for a in &answered[1..] {
        assert_eq!(a["prompted"], false, "auto-confirm: no prompt");
        assert_eq!(a["outcome"], "confirmed");
    }
    assert_eq!(summary["ended"], "ended_by_desktop");
    assert!(stderr.contains("自动确认"), "{stderr}");
    assert!(
        stderr.contains("最多 64 次签章请求") && stderr.contains("有效至"),
        "the phone shows the session limits: {stderr}"
    );
    // Every seal was still authorised and logged separately, bound to this session.
    let log = world.usage_log("ent-huaxia");
    let sid = binding.session.to_base64();
    let seals: Vec<_> = log
        .iter()
        .filter(|e| e["session_id"] == sid.as_str() && e["operation"] == "签章")
        .collect();
    assert_eq!(seals.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_scans_a_png_of_the_qr_code() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Auth, 60).await;
    let png = bidseal_scan::qr::render_png(scan.payload()).expect("render QR");
    let file = world.path("qr.png");
    std::fs::write(&file, png).unwrap();
    let child = std::process::Command::new(bin())
        .args(["phone", "scan", "--qr-png"])
        .arg(&file)
        .arg("--keystore")
        .arg(&world.dir.0)
        .args(["--cosign", &world.cosign.url, "--pin", PIN, "--confirm"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    scan.wait_scanned().await.expect("scanned from the PNG");
    let request = AuthRequest {
        platform: platform(),
        purpose: AuthPurpose::Bind,
        project: None,
        requester: None,
        challenge: digest("png"),
        issued_at: unix_now(),
    };
    let answer = scan
        .perform(OperationRequest::Auth(request), None)
        .await
        .expect("answer");
    assert!(matches!(answer, Answer::Confirmed { .. }), "{answer:?}");
    finish_phone(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_rejects_on_the_phone() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Sign, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--reject"]);
    scan.wait_scanned().await.expect("scanned");
    let item = world.pades_item("ent-huaxia", "商务标.pdf", SealKind::Enterprise, b"r");
    let req = SignRequest {
        platform: platform(),
        project: None,
        items: vec![item],
        lookup: vec![],
    };
    let answer = scan
        .perform(OperationRequest::Sign(req), None)
        .await
        .expect("answer");
    finish_phone(phone);
    let Answer::Rejected(reason) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(reason, RefusalReason::RejectedByUser);
    assert!(reason.message_zh().contains("拒绝"));
    // Nothing reached the co-signing service: a rejection never releases a key share.
    assert!(world.usage_log("ent-huaxia").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_mode_without_auto_confirm_asks_scan_seal_confirmation_each_time() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Sign, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm"]);
    scan.wait_scanned().await.expect("scanned");
    for n in 1..=2u32 {
        let item = world.pades_item(
            "ent-huaxia",
            &format!("附件{n}.pdf"),
            SealKind::Enterprise,
            format!("att-{n}").as_bytes(),
        );
        let req = SignRequest {
            platform: platform(),
            project: None,
            items: vec![item],
            lookup: vec![],
        };
        let session = (n == 1).then_some(SessionModeRequest {
            idle_timeout_secs: 60,
        });
        let answer = scan
            .perform(OperationRequest::Sign(req), session)
            .await
            .expect("answer");
        let Answer::Confirmed { session: grant, .. } = answer else {
            panic!("seal {n}: {answer:?}")
        };
        if n == 1 {
            assert_eq!(grant.map(|g| g.auto_confirm), Some(false));
        }
    }
    scan.end().await.expect("end session");
    let (summary, stderr) = finish_phone(phone);
    let answered = summary["answered"].as_array().unwrap();
    assert_eq!(answered.len(), 2);
    assert!(
        answered.iter().all(|a| a["prompted"] == true),
        "every seal asked: {summary}"
    );
    assert!(stderr.contains("扫码签章确认"), "{stderr}");
}
