//! Issue #10 as attacks, end to end with real processes on 127.0.0.1 (`bidseal relay`,
//! `bidseal phone scan`, `bidseal phone serve-cosign`): the desktop is the dishonest party — a
//! modified desktop builds its own requests through the scan client — and every attack is
//! refused by the phone with a zh-CN reason, or yields nothing useful.

mod scan_common;

use bidseal_cms::cert::Certificate;
use bidseal_cms::envelope::{self, EnvelopeError, KeyEncryptionKey, RecipientSet};
use bidseal_scan::client::Answer;
use bidseal_scan::*;
use scan_common::*;
use std::time::SystemTime;

fn refusal(answer: Answer) -> RefusalReason {
    match answer {
        Answer::Rejected(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// One single-request scan of `op` with the phone as `cert`; returns the answer and the
/// phone's stderr.
async fn one_request(
    world: &World,
    op: OperationKind,
    cert: &str,
    request: OperationRequest,
    session: Option<SessionModeRequest>,
) -> (Answer, String) {
    let mut scan = world.desktop(op, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm", "--cert", cert]);
    scan.wait_scanned().await.expect("scanned");
    let answer = scan.perform(request, session).await.expect("answer");
    let _ = scan.end().await;
    let (_, stderr) = finish_phone(phone);
    (answer, stderr)
}

fn suspicious(r: &RefusalReason) -> String {
    match r {
        RefusalReason::SuspiciousRequest { detail } => detail.clone(),
        other => panic!("expected suspicious_request, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_decryption_with_a_forged_or_absent_opening_time_is_refused() {
    let world = World::new();
    let eph = openssl_ephemeral_key();
    let own = world.cert("ent-huaxia");
    let manifest = Digest32::of(b"manifest");
    // The genuine tender opens in an hour.
    let genuine = world.signed_tender(unix_now() as i64 + 3600);

    // 1. The desktop rewrites the opening time in tender.json and keeps the signature.
    let text = String::from_utf8(genuine.manifest.0.clone()).unwrap();
    let start = text.find("\"opening_time\"").unwrap();
    let value_start = start + text[start..].find(": \"").unwrap() + 3;
    let value_end = value_start + text[value_start..].find('"').unwrap();
    let forged_text = format!(
        "{}2020-01-01T00:00:00Z{}",
        &text[..value_start],
        &text[value_end..]
    );
    let forged = SignedTender {
        manifest: Bytes(forged_text.into_bytes()),
        signature: genuine.signature.clone(),
    };
    let request = decrypt_request(&own, &eph.point, forged, manifest);
    let (answer, _) = one_request(
        &world,
        OperationKind::Decrypt,
        "ent-huaxia",
        OperationRequest::Decrypt(request),
        None,
    )
    .await;
    let r = refusal(answer);
    assert_eq!(r.code(), "tender_unverified", "{r:?}");
    assert!(r.message_zh().contains("招标文件"), "{}", r.message_zh());

    // 2. The desktop signs its own tender with a key the phone does not pin.
    let rogue = bidseal_phone::pki::TestCa::generate("platform", "伪造平台").unwrap();
    let signer =
        bidseal_bid::tender::PlatformSigner::from_pkcs8_pem(rogue.key_pem().unwrap()).unwrap();
    let mut own_tender = world.signed_tender(unix_now() as i64 - 3600);
    own_tender.signature = Bytes(signer.sign(&own_tender.manifest.0));
    let request = decrypt_request(&own, &eph.point, own_tender, manifest);
    let (answer, _) = one_request(
        &world,
        OperationKind::Decrypt,
        "ent-huaxia",
        OperationRequest::Decrypt(request),
        None,
    )
    .await;
    assert_eq!(refusal(answer).code(), "tender_unverified");

    // 3. No tender at all (no opening time to show).
    let absent = SignedTender {
        manifest: Bytes(Vec::new()),
        signature: Bytes(Vec::new()),
    };
    let request = decrypt_request(&own, &eph.point, absent, manifest);
    let (answer, _) = one_request(
        &world,
        OperationKind::Decrypt,
        "ent-huaxia",
        OperationRequest::Decrypt(request),
        None,
    )
    .await;
    assert_eq!(refusal(answer).code(), "tender_unverified");

    // 4. The genuine tender: the phone's clock says not yet.
    let request = decrypt_request(&own, &eph.point, genuine.clone(), manifest);
    let (answer, stderr) = one_request(
        &world,
        OperationKind::Decrypt,
        "ent-huaxia",
        OperationRequest::Decrypt(request),
        None,
    )
    .await;
    let r = refusal(answer);
    assert!(
        matches!(r, RefusalReason::BeforeOpeningTime { .. }),
        "{r:?}"
    );
    assert!(
        stderr.contains("开标时间"),
        "the phone shows the opening time: {stderr}"
    );
    // None of these reached the co-signing service: no key share was released.
    assert!(world.usage_log("ent-huaxia").is_empty());
}

/// A real envelope to ent-huaxia bound to `tender` and `manifest`; returns its file.
fn envelope_for(
    world: &World,
    tag: &str,
    tender: &SignedTender,
    manifest: Digest32,
) -> std::path::PathBuf {
    let plain = world.path(&format!("{tag}.txt"));
    std::fs::write(&plain, format!("bid {tag}")).unwrap();
    let out = world.path(&format!("{tag}.bidseal"));
    let ukm = EnvelopeUkm {
        tender: tender.digest(),
        manifest,
    };
    let set = RecipientSet::new(vec![world.cert("ent-huaxia")], SystemTime::now())
        .unwrap()
        .with_ukm(&ukm.to_bytes())
        .unwrap();
    envelope::encrypt_file(&plain, &out, &set, &mut |_, _| {}).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decrypt_request_carrying_another_bids_keys_yields_a_useless_key() {
    let world = World::new();
    let own = world.cert("ent-huaxia");
    // Bid A: tender already open. Bid B: another tender, opening in an hour.
    let tender_a = world.signed_tender(unix_now() as i64 - 60);
    let tender_b = world.signed_tender_with(unix_now() as i64 + 3600, "GZ2026-999");
    let file_a = envelope_for(&world, "a", &tender_a, Digest32::of(b"manifest a"));
    let file_b = envelope_for(&world, "b", &tender_b, Digest32::of(b"manifest b"));
    let entry_a = envelope::inspect_file(&file_a).unwrap().recipients.entries[0].clone();
    let entry_b = envelope::inspect_file(&file_b).unwrap().recipients.entries[0].clone();
    let point_b = entry_b
        .originator_key()
        .map(|k| k.to_sec1_bytes().to_vec())
        .unwrap();
    let ukm_a = entry_a.ukm().unwrap().to_vec();

    // 1. Bid B's originator key under bid A's (open) tender and ukm: the phone answers, but
    //    the key is bound to A's ukm and does not unwrap B's content key.
    let mut request = decrypt_request(&own, &point_b, tender_a.clone(), Digest32::of(b"x"));
    request.recipients[0].ukm = Bytes(ukm_a.clone());
    let (answer, _) = one_request(
        &world,
        OperationKind::Decrypt,
        "ent-huaxia",
        OperationRequest::Decrypt(request),
        None,
    )
    .await;
    let Answer::Confirmed {
        response: OperationResponse::Decrypt(d),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    let kek = KeyEncryptionKey::from_bytes(d.key_encryption_key.0 .0.clone().try_into().unwrap());
    assert!(matches!(
        entry_b.unwrap_content_key(&kek),
        Err(EnvelopeError::KeyUnwrapFailed)
    ));

    // 2. Bid B's key with B's own ukm, under A's tender: the phone sees the ukm names another
    //    tender and refuses.
    let mut request = decrypt_request(&own, &point_b, tender_a.clone(), Digest32::of(b"x"));
    request.recipients[0].ukm = Bytes(entry_b.ukm().unwrap().to_vec());
    let (answer, _) = one_request(
        &world,
        OperationKind::Decrypt,
        "ent-huaxia",
        OperationRequest::Decrypt(request),
        None,
    )
    .await;
    let r = refusal(answer);
    assert!(suspicious(&r).contains("另一份招标文件"), "{r:?}");
    assert!(r.message_zh().contains("可疑"), "{}", r.message_zh());

    // 3. Two entries for the same certificate (A's and B's keys smuggled together): refused.
    let mut request = decrypt_request(
        &own,
        &entry_a.originator_key().unwrap().to_sec1_bytes(),
        tender_a.clone(),
        Digest32::of(b"manifest a"),
    );
    let mut second = request.recipients[0].clone();
    second.originator_key = Bytes(point_b.clone());
    request.recipients.push(second);
    let (answer, _) = one_request(
        &world,
        OperationKind::Decrypt,
        "ent-huaxia",
        OperationRequest::Decrypt(request),
        None,
    )
    .await;
    assert!(suspicious(&refusal(answer)).contains("多个接收者条目"));

    // Control: bid A's own entry opens bid A (the key above was not wrong by accident).
    let request = decrypt_request(
        &own,
        &entry_a.originator_key().unwrap().to_sec1_bytes(),
        tender_a,
        Digest32::of(b"manifest a"),
    );
    let (answer, _) = one_request(
        &world,
        OperationKind::Decrypt,
        "ent-huaxia",
        OperationRequest::Decrypt(request),
        None,
    )
    .await;
    let Answer::Confirmed {
        response: OperationResponse::Decrypt(d),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    let kek = KeyEncryptionKey::from_bytes(d.key_encryption_key.0 .0.clone().try_into().unwrap());
    assert!(entry_a.unwrap_content_key(&kek).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_decryption_opens_only_the_manifest_signed_in_the_same_scan() {
    let world = World::new();
    let own = world.cert("ent-huaxia");
    let tender = world.signed_tender(unix_now() as i64 + 3600);
    let (manifest_a, attrs_a) = world.manifest("ent-huaxia", "a");
    let (manifest_b, _) = world.manifest("ent-huaxia", "b");
    let file_a = envelope_for(&world, "a", &tender, Digest32::of(&manifest_a));
    let file_b = envelope_for(&world, "b", &tender, Digest32::of(&manifest_b));
    let entry =
        |f: &std::path::Path| envelope::inspect_file(f).unwrap().recipients.entries[0].clone();
    let (entry_a, entry_b) = (entry(&file_a), entry(&file_b));

    for (target, expect_open) in [(&entry_b, false), (&entry_a, true)] {
        let mut scan = world.desktop(OperationKind::Generate, 60).await;
        let phone = world.phone(&scan.payload().to_url(), &["--confirm"]);
        scan.wait_scanned().await.expect("scanned");
        let generate = GenerateRequest {
            platform: platform(),
            project: project(),
            manifest: Bytes(manifest_a.clone()),
            signed_attributes: Bytes(attrs_a.clone()),
            choose: CertificateChoice {
                min_extra: 0,
                max_extra: 0,
            },
            trial: true,
        };
        let answer = scan
            .perform(OperationRequest::Generate(generate), None)
            .await
            .expect("generate");
        assert!(matches!(answer, Answer::Confirmed { .. }), "{answer:?}");
        let mut request = decrypt_request(
            &own,
            &target.originator_key().unwrap().to_sec1_bytes(),
            tender.clone(),
            Digest32::of(b"unused"),
        );
        request.recipients[0].ukm = Bytes(target.ukm().unwrap().to_vec());
        let answer = scan
            .perform(OperationRequest::Decrypt(request), None)
            .await
            .expect("trial decrypt");
        let _ = scan.end().await;
        let (_, stderr) = finish_phone(phone);
        if expect_open {
            let Answer::Confirmed {
                response: OperationResponse::Decrypt(d),
                ..
            } = answer
            else {
                panic!("{answer:?}")
            };
            let kek =
                KeyEncryptionKey::from_bytes(d.key_encryption_key.0 .0.clone().try_into().unwrap());
            assert!(target.unwrap_content_key(&kek).is_ok());
            assert!(stderr.contains("试解密"), "{stderr}");
        } else {
            // Bid B of the same bidder, same tender, but not the manifest just confirmed.
            let r = refusal(answer);
            assert!(
                matches!(r, RefusalReason::BeforeOpeningTime { .. }),
                "{r:?}"
            );
        }
    }
    // A trial outside a generate scan is impossible: the channel refuses a second operation.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_item_that_is_a_manifest_or_an_auth_transcript_is_refused() {
    let world = World::new();
    let sign = |item: SignItem| {
        OperationRequest::Sign(SignRequest {
            platform: platform(),
            project: Some(project()),
            items: vec![item],
            lookup: vec![],
        })
    };
    // 1. Another manifest's signed attributes (with signingTime) passed as a "seal".
    let (_, attrs) = world.manifest("ent-huaxia", "forged");
    let item = SignItem {
        document: "商务标.pdf".into(),
        pages: vec![1],
        seal_kind: SealKind::Enterprise,
        signed_attributes: Bytes(attrs),
    };
    let (answer, _) =
        one_request(&world, OperationKind::Sign, "ent-huaxia", sign(item), None).await;
    let r = refusal(answer);
    assert!(suspicious(&r).contains("signingTime"), "{r:?}");

    // 2. An auth transcript hash of another session passed as a "seal".
    let transcript = Digest32::of(b"another session's auth transcript");
    let item = SignItem {
        document: "商务标.pdf".into(),
        pages: vec![1],
        seal_kind: SealKind::Enterprise,
        signed_attributes: Bytes(transcript.0.to_vec()),
    };
    let (answer, _) =
        one_request(&world, OperationKind::Sign, "ent-huaxia", sign(item), None).await;
    assert!(suspicious(&refusal(answer)).contains("PAdES"));

    // 3. A PAdES set naming another company's certificate.
    let item = world.pades_item("ent-jiangnan", "商务标.pdf", SealKind::Enterprise, b"pdf");
    let (answer, _) =
        one_request(&world, OperationKind::Sign, "ent-huaxia", sign(item), None).await;
    assert!(suspicious(&refusal(answer)).contains("signingCertificateV2"));

    // 4. A PAdES set as a manifest signature in `generate`: refused (no signingTime, and the
    //    manifest's digest is not the messageDigest).
    let (manifest, _) = world.manifest("ent-huaxia", "m");
    let pades = world.pades_item("ent-huaxia", "x", SealKind::Enterprise, &manifest);
    let generate = OperationRequest::Generate(GenerateRequest {
        platform: platform(),
        project: project(),
        manifest: Bytes(manifest),
        signed_attributes: pades.signed_attributes,
        choose: CertificateChoice {
            min_extra: 0,
            max_extra: 0,
        },
        trial: false,
    });
    let (answer, _) = one_request(
        &world,
        OperationKind::Generate,
        "ent-huaxia",
        generate,
        None,
    )
    .await;
    assert!(suspicious(&refusal(answer)).contains("清单"));
    // Nothing was signed: the service never saw a request.
    assert!(world.usage_log("ent-huaxia").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decrypt_or_generate_in_session_mode_is_refused() {
    let world = World::new();
    let eph = openssl_ephemeral_key();
    let own = world.cert("ent-huaxia");
    let request = decrypt_request(
        &own,
        &eph.point,
        world.signed_tender(unix_now() as i64 - 60),
        Digest32::of(b"m"),
    );
    let mode = Some(SessionModeRequest {
        idle_timeout_secs: 300,
    });
    let (answer, _) = one_request(
        &world,
        OperationKind::Decrypt,
        "ent-huaxia",
        OperationRequest::Decrypt(request),
        mode,
    )
    .await;
    let r = refusal(answer);
    assert!(suspicious(&r).contains("会话模式只用于签章"), "{r:?}");
    let (manifest, attrs) = world.manifest("ent-huaxia", "s");
    let generate = OperationRequest::Generate(GenerateRequest {
        platform: platform(),
        project: project(),
        manifest: Bytes(manifest),
        signed_attributes: Bytes(attrs),
        choose: CertificateChoice {
            min_extra: 0,
            max_extra: 0,
        },
        trial: false,
    });
    let (answer, _) = one_request(
        &world,
        OperationKind::Generate,
        "ent-huaxia",
        generate,
        mode,
    )
    .await;
    assert!(suspicious(&refusal(answer)).contains("会话模式只用于签章"));
    assert!(world.usage_log("ent-huaxia").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_session_is_capped_in_idle_time_and_requests() {
    let world = World::new();
    let mut scan = world.desktop(OperationKind::Sign, 60).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm", "--auto-confirm"]);
    scan.wait_scanned().await.expect("scanned");
    let request = |n: u32| {
        OperationRequest::Sign(SignRequest {
            platform: platform(),
            project: None,
            items: vec![world.pades_item(
                "ent-huaxia",
                "附件.pdf",
                SealKind::Enterprise,
                format!("{n}").as_bytes(),
            )],
            lookup: vec![],
        })
    };
    // The desktop asks for 30 minutes idle; the phone grants at most 5.
    let answer = scan
        .perform(
            request(1),
            Some(SessionModeRequest {
                idle_timeout_secs: 1800,
            }),
        )
        .await
        .expect("first");
    let Answer::Confirmed {
        session: Some(grant),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    assert_eq!(grant.idle_timeout_secs, MAX_GRANT_IDLE_SECS);
    assert_eq!(grant.max_requests, MAX_GRANT_REQUESTS);
    assert!(grant.expires_at <= unix_now() + MAX_GRANT_LIFETIME_SECS);
    for n in 2..=grant.max_requests {
        let answer = scan.perform(request(n), None).await.expect("seal");
        assert!(
            matches!(answer, Answer::Confirmed { .. }),
            "{n}: {answer:?}"
        );
    }
    // One more than granted: the phone has ended the session.
    let more = scan.perform(request(grant.max_requests + 1), None).await;
    assert!(more.is_err(), "request beyond the grant: {more:?}");
    let (summary, stderr) = finish_phone(phone);
    assert_eq!(summary["ended"], "session_limit", "{stderr}");
    assert_eq!(
        summary["answered"].as_array().map(Vec::len),
        Some(grant.max_requests as usize)
    );
}

/// Shows every QR to a `bidseal phone scan` process that seals as `cert`.
struct ProcessPhone<'a> {
    world: &'a World,
    cert: &'static str,
    children: Vec<std::process::Child>,
}

impl bidseal_workflow::scan_session::ScanPresenter for ProcessPhone<'_> {
    fn show_qr(&mut self, _op: OperationKind, payload: &QrPayload) {
        self.children.push(self.world.phone(
            &payload.to_url(),
            &["--confirm", "--auto-confirm", "--cert", self.cert],
        ));
    }

    fn status(&mut self, _line: &str) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_sealed_with_another_companys_certificate_is_refused_before_embedding() {
    use bidseal_pdf::{PageRect, WidgetLayout};
    use bidseal_workflow::phone_adapters::SealPolicy;
    use bidseal_workflow::scan_session::ScanTarget;
    use bidseal_workflow::seal::{seal_by_scan, SealJob, SealPlacement};
    let world = World::new();
    let input = world.path("composed.pdf");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo-tender/tender.pdf"),
        &input,
    )
    .unwrap();
    let mut accepted = bidseal_cms::cert::TrustStore::new();
    accepted.add_pem_file(&world.path("pki/trust.pem")).unwrap();
    let bidder_cert = world.cert("ent-huaxia");
    let job = SealJob {
        input: input.clone(),
        output: world.path("sealed.pdf"),
        document: "投标文件.pdf".into(),
        placements: vec![SealPlacement {
            node_ids: vec!["n1".into()],
            label: "公章".into(),
            kind: SealKind::Enterprise,
            layout: WidgetLayout::SameRect {
                pages: vec![1],
                rect: PageRect {
                    x: 400.0,
                    y: 80.0,
                    w: 110.0,
                    h: 110.0,
                },
            },
        }],
        policy: SealPolicy {
            accepted,
            bidder: bidseal_bid::bidfile::BidderIds {
                name: bidder_cert.organization().unwrap(),
                credit_code: bidder_cert.credit_code().unwrap(),
            },
        },
    };
    let target = ScanTarget {
        relay: world.relay.url.clone(),
        platform: platform(),
        project: project(),
        options: bidseal_scan::client::ScanOptions {
            ttl: std::time::Duration::from_secs(60),
            response_timeout: std::time::Duration::from_secs(60),
        },
    };
    let before = std::fs::read(&input).unwrap();
    // Whoever scans first is 江南路桥 (another company, its own 公章).
    let mut phone = ProcessPhone {
        world: &world,
        cert: "ent-jiangnan",
        children: Vec::new(),
    };
    let err = seal_by_scan(&target, &mut phone, &job).await.err();
    for child in phone.children.drain(..) {
        let _ = finish_phone(child);
    }
    let err = err.expect("must be refused");
    assert_eq!(err.code(), "E_SEAL_CERTIFICATE_REFUSED", "{err}");
    let text = err.to_string();
    assert!(text.contains("江南路桥") && text.contains("公章"), "{text}");
    assert!(!job.output.exists(), "nothing was embedded or written");
    assert_eq!(std::fs::read(&input).unwrap(), before);
    // No seal signature was made: the lookup is the only thing in the log.
    let log = world.usage_log("ent-jiangnan");
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0]["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("签章准备"));

    // The bidder's own certificate seals the same job.
    let mut phone = ProcessPhone {
        world: &world,
        cert: "ent-huaxia",
        children: Vec::new(),
    };
    let done = seal_by_scan(&target, &mut phone, &job).await;
    for child in phone.children.drain(..) {
        let _ = finish_phone(child);
    }
    assert_eq!(done.map(|d| d.len()).map_err(|e| e.to_string()), Ok(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_image_not_bound_to_the_certificate_is_refused() {
    let world = World::new();
    let request = OperationRequest::Sign(SignRequest {
        platform: platform(),
        project: None,
        items: vec![],
        lookup: vec![SealKind::Enterprise],
    });
    let (answer, _) = one_request(&world, OperationKind::Sign, "ent-huaxia", request, None).await;
    let Answer::Confirmed {
        response: OperationResponse::Sign(s),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    assert!(s.signatures.is_empty(), "a lookup signs no document");
    let leaf = Certificate::from_der(&s.certificate_chain[0].0).unwrap();
    let image = s.seal_images[0].clone();
    assert!(bidseal_workflow::phone_adapters::check_seal_image(&leaf, &image).is_ok());
    // Another picture under the same binding, or the binding checked against another company's
    // certificate: refused.
    let mut swapped = image.clone();
    swapped.png.0.push(0);
    let err = bidseal_workflow::phone_adapters::check_seal_image(&leaf, &swapped).unwrap_err();
    assert_eq!(err.code(), "E_SEAL_CERTIFICATE_REFUSED");
    assert!(bidseal_workflow::phone_adapters::check_seal_image(
        &world.cert("ent-jiangnan"),
        &image
    )
    .is_err());
}
