//! Split keys (密钥拆分, docs/key-split.md) end to end as real processes on 127.0.0.1:
//! `bidseal phone init` (a fresh DKG per certificate, no test key pool), the relay, `bidseal phone scan` and `bidseal phone
//! serve-cosign`. Auth, seal and opening decryption work with joint signatures / joint ECDH;
//! results are checked with openssl (signatures against the certificate, ECDH from the
//! ephemeral side); the usage log shows every share use; and no file of the world holds the
//! whole key of any certificate, before or after.

mod scan_common;

use bidseal_cms::cert::Certificate;
use bidseal_scan::client::Answer;
use bidseal_scan::*;
use scan_common::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(tag: &str) -> Digest32 {
    Digest32::of(tag.as_bytes())
}

fn no_whole_key(world: &World, when: &str) {
    let traces = bidseal_phone::provision::whole_key_traces(&world.dir.0, PIN)
        .unwrap_or_else(|e| panic!("leak search: {e}"));
    assert!(traces.is_empty(), "{when}: {traces:?}");
    for id in ["ent-huaxia", "legal-zhang", "colleague-wang"] {
        assert!(
            !world.path(&format!("pki/{id}.key.pem")).exists(),
            "{when}: {id} has no key file"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_seal_opening_decrypt_and_session_mode_with_split_keys() {
    let world = World::new_fresh_dkg();
    no_whole_key(&world, "after phone init");

    // Auth: a joint signature over the transcript hash, verified by openssl.
    let mut scan = world.desktop(OperationKind::Auth, 120).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm"]);
    let (_, binding) = scan.wait_scanned().await.expect("scanned");
    let request = AuthRequest {
        platform: platform(),
        purpose: AuthPurpose::Login,
        project: Some(project()),
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
    finish_phone(phone);
    let leaf = Certificate::from_der(&auth.certificate_chain[0].0).expect("leaf");
    let hash = request.transcript_hash(&binding);
    assert!(openssl_verify_prehash(
        leaf.der(),
        &hash.0,
        &auth.signature.0
    ));

    // Seal: two PAdES items and the seal image binding, one decision, joint signatures.
    let mut scan = world.desktop(OperationKind::Sign, 120).await;
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
    finish_phone(phone);
    for (item, sig) in items.iter().zip(&signed.signatures) {
        assert!(openssl_verify_prehash(
            leaf.der(),
            &item.digest().0,
            &sig.signature.0
        ));
    }
    assert!(!openssl_verify_prehash(
        leaf.der(),
        &items[1].digest().0,
        &signed.signatures[0].signature.0
    ));
    let image = &signed.seal_images[0];
    let bound = SealImage::binding_hash(leaf.der(), image.seal_kind, &image.png.0);
    assert!(openssl_verify_prehash(
        leaf.der(),
        &bound.0,
        &image.binding.0
    ));

    // Opening decryption: the KEK of the phone's own entry, from joint ECDH.
    let eph = openssl_ephemeral_key();
    let own = world.cert("ent-huaxia");
    let tender = world.signed_tender(unix_now() as i64 - 60);
    let req = decrypt_request(&own, &eph.point, tender.clone(), digest("manifest"));
    let ukm = req.recipients[0].ukm.0.clone();
    let mut scan = world.desktop(OperationKind::Decrypt, 120).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm"]);
    scan.wait_scanned().await.expect("scanned");
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
    finish_phone(phone);
    let z = openssl_ecdh_from_ephemeral(&eph, &world.path("pki/ent-huaxia.pem"));
    let z: [u8; 32] = z.try_into().expect("32 bytes");
    let kek = bidseal_cms::envelope::aes256_wrap_kek(
        &bidseal_cms::envelope::SharedSecret::from_bytes(z),
        Some(&ukm),
    )
    .expect("kek");
    assert_eq!(d.key_encryption_key.0 .0, kek.as_bytes());

    // Every share use is in the chained usage log, bound to what it was for.
    let log = world.usage_log("ent-huaxia");
    let ops: Vec<(&str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap_or(""),
                e["result"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [("扫码认证", "OK"), ("签章", "OK"), ("解密", "OK")],
        "{log:#?}"
    );
    let sign_decision = log[1]["detail"].as_str().unwrap_or("");
    for item in &items {
        assert!(
            sign_decision.contains(&hex(&item.digest().0)),
            "{sign_decision}"
        );
    }
    assert!(log[4]["detail"]
        .as_str()
        .unwrap_or("")
        .contains(&hex(&tender.digest().0)));

    // Session mode (会话签章): five seals with auto-confirm, each a joint grant of its own.
    let mut scan = world.desktop(OperationKind::Sign, 120).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm", "--auto-confirm"]);
    let (_, binding) = scan.wait_scanned().await.expect("scanned");
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
            response: OperationResponse::Sign(signed),
            ..
        } = answer
        else {
            panic!("seal {n}: {answer:?}")
        };
        assert!(
            openssl_verify_prehash(
                leaf.der(),
                &item.digest().0,
                &signed.signatures[0].signature.0
            ),
            "seal {n}"
        );
    }
    scan.end().await.expect("end session");
    finish_phone(phone);
    let log = world.usage_log("ent-huaxia");
    let sid = binding.session.to_base64();
    let in_session = log
        .iter()
        .filter(|e| e["session_id"] == sid.as_str() && e["operation"] == "签章")
        .count();
    assert_eq!(in_session, 5, "one line per seal (its grant): {log:#?}");

    no_whole_key(&world, "after auth, seal, opening and a signing session");
}
