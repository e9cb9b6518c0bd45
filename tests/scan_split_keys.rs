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

    // Every share use is in the chained usage log, bound to what it was for; the first line is
    // the certificate's 开通 over the API by `phone init` (its DKG session and fingerprint).
    let log = world.usage_log("ent-huaxia");
    assert_eq!(
        log[0]["operation"], "开通：联合生成密钥并登记证书",
        "{log:#?}"
    );
    assert!(log[0]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("DKG 会话")));
    let log = log[1..].to_vec();
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
    assert!(log[2]["detail"]
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

/// An auth scan answered by `bidseal phone scan` with the keystore in `keystore` as `cert`:
/// the answer the desktop got and the transcript hash it signs.
async fn auth_with_keystore(
    world: &World,
    keystore: &std::path::Path,
    cert: &str,
) -> (Answer, Digest32) {
    let mut scan = world.desktop(OperationKind::Auth, 120).await;
    let phone = std::process::Command::new(bin())
        .args(["phone", "scan", &scan.payload().to_url(), "--keystore"])
        .arg(keystore)
        .args(["--cosign", &world.cosign.url, "--pin", PIN, "--cert", cert])
        .arg("--platform-cert")
        .arg(world.path("platform.pem"))
        .arg("--confirm")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn phone");
    let (_, binding) = scan.wait_scanned().await.expect("scanned");
    let request = AuthRequest {
        platform: platform(),
        purpose: AuthPurpose::Login,
        project: Some(project()),
        requester: None,
        challenge: digest(&format!("challenge-{}", keystore.display())),
        issued_at: unix_now(),
    };
    let answer = scan
        .perform(OperationRequest::Auth(request.clone()), None)
        .await
        .expect("answer");
    finish_phone(phone);
    (answer, request.transcript_hash(&binding))
}

/// 换机 / 恢复 (seed 2.6.1.6.1.2 证书未同步) over the co-signing API of the real service process:
/// the administrator's one-time code + PIN, signed by the new phone's device key; the refresh
/// keeps the public key; the new phone then authenticates with a real `bidseal phone scan`;
/// the old phone (old device) is refused, and the old phone share fails cryptographically even
/// with the new device key; a stranger without the code and a replayed code get nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_phone_refreshes_the_key_with_the_admin_code_and_the_old_share_stops_working() {
    use bidseal_phone::cosign::client::{CosignCallError, CosignClient};
    use bidseal_phone::cosign::device::DeviceKey;
    use bidseal_phone::cosign::state::{CosignOperation, OperationContext, ResetRefusal};
    use bidseal_phone::key_seal::ServiceShare;
    use bidseal_phone::key_split::{KeyShare, Side};
    use bidseal_phone::keystore::Keystore;
    const ID: &str = "legal-zhang";
    let world = World::new();
    let backup = Keystore::load(&world.path("phone")).expect("keystore");
    let entry = backup.entry(ID).expect("entry").clone();
    // The phone share the new phone brings (old phone / its sealed backup), opened with the
    // seal share the service releases after the identity check.
    let opened = std::sync::Mutex::new(None::<Vec<u8>>);
    let open = |seal: &ServiceShare| -> Option<KeyShare> {
        let bytes = entry
            .sealed_key
            .unseal(PIN, seal, &entry.fingerprint)
            .ok()?;
        if let Ok(mut o) = opened.lock() {
            *o = Some(bytes.to_vec());
        }
        KeyShare::from_secret_bytes(&bytes, Side::Phone).ok()
    };
    let client = |device: &DeviceKey| {
        CosignClient::new(&world.cosign.url)
            .expect("client")
            .with_device_key(Some(device))
    };

    // No code issued yet / a stranger guessing: refused, nothing released.
    let stranger = DeviceKey::generate();
    let r = client(&stranger)
        .split_refresh(ID, "123456", PIN, &open)
        .await;
    assert!(
        matches!(
            r,
            Err(CosignCallError::ResetRefused(ResetRefusal::NoValidCode))
        ),
        "{:?}",
        r.err()
    );
    let code_out = world.admin(&["refresh-code", ID]);
    let code = String::from_utf8_lossy(&code_out.stdout).trim().to_string();
    assert_eq!(code.len(), 6, "{code}");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = client(&stranger).split_refresh(ID, wrong, PIN, &open).await;
    assert!(
        matches!(
            r,
            Err(CosignCallError::ResetRefused(
                ResetRefusal::WrongCode { .. }
            ))
        ),
        "{:?}",
        r.err()
    );
    assert!(opened.lock().map(|o| o.is_none()).unwrap_or(false));
    // The right code with a wrong PIN does not release the seal share either (and uses up
    // the code: a thief with code and backup cannot guess the PIN offline or online).
    let r = client(&stranger)
        .split_refresh(ID, &code, "000000", &open)
        .await;
    assert!(
        matches!(
            r,
            Err(CosignCallError::ResetRefused(ResetRefusal::WrongPin { .. }))
        ),
        "{:?}",
        r.err()
    );
    let r = client(&stranger).split_refresh(ID, &code, PIN, &open).await;
    assert!(
        matches!(
            r,
            Err(CosignCallError::ResetRefused(ResetRefusal::NoValidCode))
        ),
        "the code is used up: {:?}",
        r.err()
    );
    assert!(opened.lock().map(|o| o.is_none()).unwrap_or(false));

    // The old phone share, kept by the test (a thief with the backup and the PIN) to try it
    // after the refresh.
    let old_share =
        bidseal_phone::provision::phone_share_for_tests(&world.dir.0, PIN, ID).expect("old share");
    // The real new phone: a fresh code and the PIN, through `bidseal phone restore` (a new
    // phone folder: the command makes its device key and keystore).
    let code_out = world.admin(&["refresh-code", ID]);
    let code = String::from_utf8_lossy(&code_out.stdout).trim().to_string();
    let new_phone = world.path("new-phone");
    let restore = |code: &str, pin: &str, json: bool| {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(["phone", "restore"])
            .arg(&new_phone)
            .arg("--from")
            .arg(world.path("phone"))
            .args(["--cosign", &world.cosign.url, "--cert", ID, "--code", code])
            .args(["--pin", pin]);
        if json {
            cmd.arg("--json");
        }
        cmd.output().expect("run phone restore")
    };
    let out = restore(&code, PIN, true);
    assert!(
        out.status.success(),
        "phone restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json");
    assert_eq!(report["cert"], ID);
    assert_eq!(report["new_keystore"], true);
    assert_eq!(report["fingerprint"], entry.fingerprint.as_str());
    let restored = Keystore::load(&new_phone).expect("new keystore");
    let new_device = restored.device_key().expect("new device key").clone();
    assert_eq!(report["device"], new_device.public_hex().as_str());
    assert_ne!(
        Some(new_device.public_hex()),
        backup.device_key().map(|d| d.public_hex()),
        "the new phone has its own device key"
    );
    let new_entry = restored.entry(ID).expect("restored entry");
    assert_eq!(new_entry.cert_pem, entry.cert_pem, "the certificate stays");
    for seal in &new_entry.seals {
        assert!(
            new_phone.join("seals").join(&seal.file).is_file(),
            "{}",
            seal.file
        );
    }
    // A replayed code through the command: refused (exit 1, a stable code), nothing written.
    let before = std::fs::read(new_phone.join("keystore.json")).expect("read");
    let out = restore(&code, PIN, false);
    assert_eq!(out.status.code(), Some(1), "replayed code");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("E_RESTORE_REFUSED"), "{stderr}");
    assert_eq!(
        std::fs::read(new_phone.join("keystore.json")).expect("read"),
        before
    );
    // A -plain certificate has nothing to refresh: a usage error, before any call.
    let mut cmd = std::process::Command::new(bin());
    let out = cmd
        .args(["phone", "restore"])
        .arg(world.path("other-phone"))
        .arg("--from")
        .arg(world.path("phone"))
        .args([
            "--cosign",
            &world.cosign.url,
            "--cert",
            "colleague-chen-plain",
        ])
        .args(["--code", "000000", "--pin", PIN])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("E_RESTORE_NOT_SPLIT"));

    // The new phone authenticates (a real phone process, joint signature, same certificate).
    let (answer, hash) = auth_with_keystore(&world, &new_phone, ID).await;
    let Answer::Confirmed {
        response: OperationResponse::Auth(auth),
        ..
    } = answer
    else {
        panic!("new phone: {answer:?}")
    };
    let leaf = Certificate::from_der(&auth.certificate_chain[0].0).expect("leaf");
    assert!(openssl_verify_prehash(
        leaf.der(),
        &hash.0,
        &auth.signature.0
    ));
    // The old phone (old device key, old share) is refused.
    let (answer, _) = auth_with_keystore(&world, &world.path("phone"), ID).await;
    assert!(
        matches!(answer, Answer::Rejected(RefusalReason::DeviceNotRecognised)),
        "old phone: {answer:?}"
    );
    // The old phone share, even with the new device key (a thief with the backup who got the
    // new phone's key), signs nothing with the refreshed service share.
    let context = OperationContext {
        operation: CosignOperation::Auth,
        desktop: "test".into(),
        session_id: "refresh".into(),
        detail: "old share".into(),
        tender: None,
        bound_digest: None,
    };
    let public_before = old_share.public_key().expect("pk");
    let old = std::sync::Mutex::new(Some(old_share));
    let give_old = |_: &ServiceShare| old.lock().ok()?.take();
    let r = client(&new_device)
        .split_sign(ID, PIN, "thief", &context, &[[7u8; 32]], &give_old)
        .await;
    assert!(r.is_err(), "the old phone share must not sign");

    // One log line per step, chained (phone admin log checks the chain), and no whole key.
    let log = world.usage_log(ID);
    let ops: Vec<(&str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap_or(""),
                e["result"].as_str().unwrap_or(""),
            )
        })
        .filter(|(op, _)| op.starts_with("换机"))
        .collect();
    assert_eq!(
        ops,
        [
            ("换机：身份核验", "no_valid_code"),
            ("换机：身份核验", "wrong_code"),
            ("换机：身份核验", "wrong_pin"),
            ("换机：身份核验", "no_valid_code"),
            ("换机：身份核验", "OK"),
            ("换机：刷新密钥分量", "OK"),
            ("换机：身份核验", "no_valid_code"),
        ],
        "{log:#?}"
    );
    // The key (unchanged by the refresh) is computed from the new phone's keystore and the
    // service's state; the whole world, old keystore included, holds no trace of it.
    let view = TempDir::new("refresh-view");
    std::os::unix::fs::symlink(&new_phone, view.0.join("phone")).expect("symlink");
    std::os::unix::fs::symlink(world.path("cosign"), view.0.join("cosign")).expect("symlink");
    let refreshed = bidseal_phone::provision::phone_share_for_tests(&view.0, PIN, ID)
        .expect("the new phone's share opens with the PIN and the new seal share");
    assert_eq!(
        refreshed.public_key().expect("pk"),
        public_before,
        "the public key (the certificate) stays"
    );
    let traces = bidseal_phone::provision::whole_key_traces_in(&view.0, PIN, &[&world.dir.0])
        .unwrap_or_else(|e| panic!("leak search: {e}"));
    assert!(traces.is_empty(), "{traces:?}");
}

/// One device-signed call to the co-signing service, as a (possibly modified) phone app would
/// make it: the status and the JSON answer.
async fn signed_post(
    url: &str,
    device: &bidseal_phone::cosign::device::DeviceKey,
    route: bidseal_phone::cosign::device::DeviceRoute,
    id: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let bytes = serde_json::to_vec(body).expect("json");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let mut call = reqwest::Client::new()
        .post(format!("{url}/v1/certs/{id}/{}", route.name()))
        .header("content-type", "application/json")
        .timeout(std::time::Duration::from_secs(120));
    for (name, value) in device.sign_call(route, id, now, &bytes).headers() {
        call = call.header(name, value);
    }
    let resp = call.body(bytes).send().await.expect("service reachable");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

fn b64(bytes: &[u8]) -> String {
    bidseal_phone::cosign::split::b64(bytes)
}

fn unb64(v: &serde_json::Value) -> Vec<u8> {
    bidseal_phone::cosign::split::unb64(v["messages"][0].as_str().expect("message"))
        .expect("base64")
}

/// The refusal detail of a 403 (protocol failures carry their `KEYSPLIT_*` code).
fn refusal(answer: &(u16, serde_json::Value)) -> String {
    assert_eq!(answer.0, 403, "{answer:?}");
    answer.1["refusal"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_is_enrolled_by_a_dkg_over_the_api_and_attackers_get_nothing() {
    use bidseal_phone::cosign::client::{CosignCallError, CosignClient};
    use bidseal_phone::cosign::device::{DeviceKey, DeviceRoute};
    use bidseal_phone::cosign::state::ResetRefusal;
    use bidseal_phone::key_split::PhoneDkg;
    use bidseal_phone::keystore::Keystore;
    use bidseal_phone::pki::{self, TestCa};
    const ID: &str = "staff-new";
    let world = World::new();
    let url = world.cosign.url.clone();
    let ca = TestCa::load(&world.path("pki"), "ca-1").expect("the world's CA");
    let mut spec = pki::standard_specs()
        .expect("specs")
        .into_iter()
        .find(|s| s.id == "colleague-wang")
        .expect("spec");
    spec.id = ID.into();
    spec.person = Some("王芳".into());
    let phone = Keystore::load(&world.path("phone")).expect("keystore");
    let device = phone.device_key().expect("device key").clone();
    let client = CosignClient::new(&url)
        .expect("client")
        .with_device_key(Some(&device));
    // The phone's side of 开通 as `phone init` runs it: the client's DKG, the CSR for `spec`,
    // the world's CA issuing from it.
    let enrol = |client: &CosignClient, code: &str| {
        let (client, code) = (client.clone(), code.to_string());
        let (ca, spec) = (&ca, &spec);
        async move {
            bidseal_phone::provision::enrol_certificate(&client, ca, spec, &code, PIN)
                .await
                .map_err(|e| match e {
                    bidseal_phone::provision::ProvisionError::Enrol(_, e) => e,
                    other => panic!("{other}"),
                })
        }
    };
    let code = |world: &World| {
        let out = world.admin(&[
            "enrol-code",
            ID,
            "--holder",
            "王芳",
            "--kdf-iterations",
            "1000",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    // A stranger (any device) without a code: nothing issued yet, refused before any DKG.
    let stranger = DeviceKey::generate();
    let stranger_client = CosignClient::new(&url)
        .expect("client")
        .with_device_key(Some(&stranger));
    let r = enrol(&stranger_client, "1234567890123456").await;
    assert!(
        matches!(
            r,
            Err(CosignCallError::ResetRefused(ResetRefusal::NoValidCode))
        ),
        "{:?}",
        r.err()
    );
    // With a code issued, a wrong guess counts; an id the service has is refused to the admin.
    let first = code(&world);
    assert_eq!(first.len(), 16, "{first}");
    let wrong = if first.starts_with('0') {
        "1".repeat(16)
    } else {
        "0".repeat(16)
    };
    let r = enrol(&stranger_client, &wrong).await;
    assert!(
        matches!(
            r,
            Err(CosignCallError::ResetRefused(
                ResetRefusal::WrongCode { .. }
            ))
        ),
        "{:?}",
        r.err()
    );
    let taken = std::process::Command::new(bin())
        .args(["phone", "admin", "--cosign", &url, "--state"])
        .arg(&world.dir.0)
        .args(["enrol-code", "legal-zhang", "--holder", "x"])
        .output()
        .expect("run");
    assert!(!taken.status.success(), "an enrolled id gets no code");

    // A modified phone app: the DKG's last message changed (signed by the device, so the
    // device check passes) — the service's DKG refuses it (KEYSPLIT_*), the enrolment is over
    // and the code used up.
    let begin = |code: String| {
        let device = device.clone();
        let url = url.clone();
        async move {
            let answer = signed_post(
                &url,
                &device,
                DeviceRoute::Enrol,
                ID,
                &serde_json::json!({"code": code, "device": device.public_hex()}),
            )
            .await;
            assert_eq!(answer.0, 200, "{answer:?}");
            let token = answer.1["token"].as_str().expect("token").to_string();
            let session = hex_decode(answer.1["session_id"].as_str().expect("session"));
            (token, session)
        }
    };
    let (token, session) = begin(first.clone()).await;
    let (dkg, hello) = PhoneDkg::start(&session).expect("dkg");
    let reply = signed_post(
        &url,
        &device,
        DeviceRoute::EnrolRound,
        ID,
        &serde_json::json!({"token": token, "messages": [b64(&hello)]}),
    )
    .await;
    assert_eq!(reply.0, 200, "{reply:?}");
    let (share, mut finish) = dkg.finish(&unb64(&reply.1)).expect("phone side");
    // The service checks the DKG before it reads the request: any bytes do here.
    let info = b"certification request".to_vec();
    let at = finish.len() / 2;
    finish[at] ^= 0x01;
    let sign_id = bidseal_phone::cosign::split::enrol_csr_sign_id(ID, &device.public_hex(), &{
        let mut s = [0u8; 32];
        s.copy_from_slice(&session);
        s
    });
    let digest = [3u8; 32];
    let (_sign, sign_hello) =
        bidseal_phone::key_split::PhoneSign::start(&share, &sign_id, &digest).expect("sign");
    let tampered = signed_post(
        &url,
        &device,
        DeviceRoute::EnrolCsr,
        ID,
        &serde_json::json!({"token": token, "messages": [b64(&finish), b64(&info), b64(&sign_hello)]}),
    )
    .await;
    assert!(refusal(&tampered).contains("KEYSPLIT_"), "{tampered:?}");
    // The enrolment is gone: the honest message now finds nothing; the code is used up.
    finish[at] ^= 0x01;
    let again = signed_post(
        &url,
        &device,
        DeviceRoute::EnrolCsr,
        ID,
        &serde_json::json!({"token": token, "messages": [b64(&finish), b64(&info), b64(&sign_hello)]}),
    )
    .await;
    assert!(
        refusal(&again).contains("不属于任何进行中的开通"),
        "{again:?}"
    );
    let r = enrol(&client, &first).await;
    assert!(
        matches!(
            r,
            Err(CosignCallError::ResetRefused(ResetRefusal::NoValidCode))
        ),
        "used-up code: {:?}",
        r.err()
    );

    // The service's answer changed on the way (or by a rogue service): the phone's DKG
    // refuses it.
    let (token, session) = begin(code(&world)).await;
    let (dkg, hello) = PhoneDkg::start(&session).expect("dkg");
    let reply = signed_post(
        &url,
        &device,
        DeviceRoute::EnrolRound,
        ID,
        &serde_json::json!({"token": token, "messages": [b64(&hello)]}),
    )
    .await;
    let mut bytes = unb64(&reply.1);
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    assert!(
        dkg.finish(&bytes).is_err(),
        "a changed DKG answer is refused"
    );

    // Out of order and replayed rounds: the CSR step before the DKG round, then the round
    // (the enrolment is over); a round replayed with its exact signed request (the device
    // nonce is single use) and re-signed (the stage has moved on).
    let (token, _session) = begin(code(&world)).await;
    let early = signed_post(
        &url,
        &device,
        DeviceRoute::EnrolCsr,
        ID,
        &serde_json::json!({"token": token, "messages": ["AA==", "AA==", "AA=="]}),
    )
    .await;
    assert!(refusal(&early).contains("顺序"), "{early:?}");
    let (token, session) = begin(code(&world)).await;
    let (_dkg, hello) = PhoneDkg::start(&session).expect("dkg");
    let body = serde_json::json!({"token": token, "messages": [b64(&hello)]});
    assert_eq!(
        signed_post(&url, &device, DeviceRoute::EnrolRound, ID, &body)
            .await
            .0,
        200
    );
    let replayed = signed_post(&url, &device, DeviceRoute::EnrolRound, ID, &body).await;
    assert!(refusal(&replayed).contains("顺序"), "{replayed:?}");
    // Another device cannot continue someone's enrolment (its signature is not the one bound).
    let (token, session) = begin(code(&world)).await;
    let (_dkg, hello) = PhoneDkg::start(&session).expect("dkg");
    let foreign = signed_post(
        &url,
        &stranger,
        DeviceRoute::EnrolRound,
        ID,
        &serde_json::json!({"token": token, "messages": [b64(&hello)]}),
    )
    .await;
    assert!(
        refusal(&foreign).contains("device_not_recognised"),
        "{foreign:?}"
    );
    // Nothing of the above registered a certificate.
    let list = world.admin(&["list", "--json"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains(ID));

    // The honest phone: DKG, jointly signed CSR, the world's CA issues, registered.
    let good = code(&world);
    let started = std::time::Instant::now();
    let (issued, enrolled) = enrol(&client, &good)
        .await
        .unwrap_or_else(|e| panic!("enrol: {e}"));
    assert_eq!(
        pki::fingerprint(&issued.cert).expect("fp"),
        pki::fingerprint(&enrolled.certificate).expect("fp"),
        "the certificate the service registered is the one the CA issued"
    );
    eprintln!(
        "one DKG + joint CSR + registration over loopback (debug): {:?}",
        started.elapsed()
    );
    let certified = enrolled
        .certificate
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    assert_eq!(
        certified,
        enrolled
            .share
            .public_key()
            .expect("pk")
            .to_sec1_bytes()
            .as_ref()
    );
    // The code is single use.
    let r = enrol(&client, &good).await;
    assert!(matches!(
        r,
        Err(CosignCallError::ResetRefused(ResetRefusal::NoValidCode))
    ));
    // The service knows the certificate (holder from the admin), one chained log line.
    let list = world.admin(&["list", "--json"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("王芳"));
    let log = world.usage_log(ID);
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["operation"], "开通：联合生成密钥并登记证书");
    assert_eq!(log[0]["result"], "OK");

    // The certificate works: a joint signature with the phone's share and the PIN, checked by
    // openssl against the issued certificate.
    let cert_der = Certificate::from_pem(
        pki::cert_pem(&enrolled.certificate)
            .expect("pem")
            .as_bytes(),
    )
    .expect("cert")
    .der()
    .to_vec();
    let secret = enrolled.share.to_secret_bytes().expect("bytes");
    let context = bidseal_phone::cosign::state::OperationContext {
        operation: bidseal_phone::cosign::state::CosignOperation::Auth,
        desktop: "test".into(),
        session_id: "enrolled".into(),
        detail: "first use".into(),
        tender: None,
        bound_digest: None,
    };
    let digest = [9u8; 32];
    let give = |_: &bidseal_phone::key_seal::ServiceShare| {
        bidseal_phone::key_split::KeyShare::from_secret_bytes(
            &secret,
            bidseal_phone::key_split::Side::Phone,
        )
        .ok()
    };
    let signatures = client
        .split_sign(ID, PIN, "王芳", &context, &[digest], &give)
        .await
        .unwrap_or_else(|e| panic!("sign: {e}"));
    assert!(openssl_verify_prehash(
        &cert_der,
        &digest,
        signatures[0].to_der().as_bytes()
    ));
    // A wrong PIN is refused like for every certificate.
    assert!(client
        .split_sign(ID, "000000", "王芳", &context, &[digest], &give)
        .await
        .is_err());

    // No whole key: the world plus a phone keystore holding this certificate sealed under the
    // PIN and the service's seal share, searched with the service's state.
    let view = TempDir::new("enrol-view");
    std::fs::create_dir_all(view.0.join("phone")).expect("mkdir");
    std::os::unix::fs::symlink(world.path("cosign"), view.0.join("cosign")).expect("symlink");
    let fingerprint = pki::fingerprint(&enrolled.certificate).expect("fp");
    let cert_pem = pki::cert_pem(&enrolled.certificate).expect("pem");
    let entry = bidseal_phone::keystore::KeystoreEntry {
        id: ID.into(),
        role: spec.role,
        company: spec.company.clone(),
        uscc: spec.uscc.clone(),
        person: spec.person.clone(),
        ca: "ca-1".into(),
        fingerprint: fingerprint.clone(),
        chain_pem: format!("{cert_pem}{}", pki::cert_pem(&ca.cert).expect("ca pem")),
        cert_pem,
        sealed_key: bidseal_phone::key_seal::SealedKey::seal(
            &secret,
            PIN,
            &enrolled.seal_share,
            &fingerprint,
            1000,
        )
        .expect("seal"),
        split: true,
        recovery: None,
        seals: Vec::new(),
    };
    let manifest = bidseal_phone::keystore::KeystoreManifest {
        version: bidseal_phone::keystore::KEYSTORE_VERSION,
        certificates: vec![entry],
        device_key: Some(device.clone()),
    };
    std::fs::write(
        view.0.join("phone/keystore.json"),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("write");
    let traces =
        bidseal_phone::provision::whole_key_traces_in(&view.0, PIN, &[&world.dir.0, &view.0])
            .unwrap_or_else(|e| panic!("leak search: {e}"));
    assert!(traces.is_empty(), "{traces:?}");
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `bidseal phone enroll` against the separately running `bidseal phone serve-cosign`: the
/// administrator's code (`phone admin enrol-code`), 开通 of a new split certificate into the
/// world's existing phone, the world's CA issuing from the jointly signed CSR; the new
/// certificate then authenticates and seals through a real `bidseal phone scan` (joint
/// signatures checked by openssl against `pki/<id>.pem`, whose chain openssl verifies to the
/// world's CA). Refused: a wrong code, the used code, an id the phone has, a bad USCC, the
/// service gone (exit 3) — none of them changes the phone's keystore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_enroll_adds_a_split_certificate_against_the_running_service() {
    const ID: &str = "staff-wu";
    let world = World::new();
    let keystore = world.path("phone/keystore.json");
    let uscc = bidseal_phone::uscc::UnifiedSocialCreditCode::from_body("9111010871526726")
        .expect("uscc")
        .to_string();
    let enroll = |cosign: &str, code: &str, id: &str, uscc: &str| {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(["phone", "enroll"])
            .arg(&world.dir.0)
            .args(["--cosign", cosign, "--code", code, "--cert", id])
            .args([
                "--holder",
                "吴敏",
                "--company",
                bidseal_phone::pki::BIDDER_COMPANY,
            ])
            .args(["--uscc", uscc, "--personal-seals", "2"])
            .args(["--kdf-iterations", "1000", "--pin-stdin", "--json"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn phone enroll");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            writeln!(stdin, "{PIN}").expect("pin");
        }
        child.wait_with_output().expect("phone enroll")
    };
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).to_string();
    let url = world.cosign.url.clone();
    let code_out = world.admin(&[
        "enrol-code",
        ID,
        "--holder",
        "吴敏",
        "--kdf-iterations",
        "1000",
    ]);
    assert!(code_out.status.success(), "{}", stderr(&code_out));
    let code = String::from_utf8_lossy(&code_out.stdout).trim().to_string();
    assert_eq!(code.len(), 16, "{code}");
    let before = std::fs::read(&keystore).expect("keystore");

    // A wrong code: the service says no (exit 1, a stable code, zh-CN), nothing written.
    let wrong = if code.starts_with('0') {
        "1".repeat(16)
    } else {
        "0".repeat(16)
    };
    let out = enroll(&url, &wrong, ID, &uscc);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("E_ENROL_REFUSED"), "{}", stderr(&out));
    assert!(stderr(&out).contains("验证码"), "{}", stderr(&out));
    // A USCC with a wrong check character and an id the phone has: usage errors (exit 2)
    // before any call (the code is not used up by them).
    let mut bad = uscc.clone();
    let last = if bad.ends_with('0') { "1" } else { "0" };
    bad.replace_range(17.., last);
    let out = enroll(&url, &code, ID, &bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("统一社会信用代码"),
        "{}",
        stderr(&out)
    );
    let out = enroll(&url, &code, "legal-zhang", &uscc);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("E_ENROL_CERT_ID"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&keystore).expect("keystore"), before);

    // The honest enrolment.
    let out = enroll(&url, &code, ID, &uscc);
    assert!(out.status.success(), "phone enroll: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json");
    assert_eq!(report["cert"], ID);
    assert_eq!(report["ca"], "ca-1");
    assert_eq!(report["seals"], 2);
    let phone = bidseal_phone::keystore::Keystore::load(&world.path("phone")).expect("keystore");
    let entry = phone.entry(ID).expect("the new entry").clone();
    assert!(entry.split);
    assert_eq!(report["fingerprint"], entry.fingerprint.as_str());
    assert_eq!(
        report["device"],
        phone.device_key().expect("device").public_hex().as_str()
    );
    for seal in &entry.seals {
        assert!(world.path("phone/seals").join(&seal.file).is_file());
    }
    let cert_file = world.path(&format!("pki/{ID}.pem"));
    assert_eq!(
        std::fs::read_to_string(&cert_file).expect("pki/<id>.pem"),
        entry.cert_pem
    );
    let chain = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(world.path("pki/ca-1.pem"))
        .arg(&cert_file)
        .output()
        .expect("openssl");
    assert!(chain.status.success(), "{}", stderr(&chain));
    // The service registered it with the administrator's holder, one log line.
    let log = world.usage_log(ID);
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["operation"], "开通：联合生成密钥并登记证书");
    // The used code again: refused, the keystore unchanged.
    let after = std::fs::read(&keystore).expect("keystore");
    let out = enroll(&url, &code, "staff-wu-2", &uscc);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("E_ENROL_REFUSED"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&keystore).expect("keystore"), after);

    // The new certificate authenticates through a real `bidseal phone scan` …
    let (answer, hash) = auth_with_keystore(&world, &world.path("phone"), ID).await;
    let Answer::Confirmed {
        response: OperationResponse::Auth(auth),
        ..
    } = answer
    else {
        panic!("auth with the enrolled certificate: {answer:?}")
    };
    let leaf = Certificate::from_der(&auth.certificate_chain[0].0).expect("leaf");
    assert_eq!(leaf.der(), world.cert(ID).der(), "the enrolled certificate");
    assert!(openssl_verify_prehash(
        leaf.der(),
        &hash.0,
        &auth.signature.0
    ));
    // … and seals (its 私章: a PAdES item, a joint signature openssl verifies).
    let mut scan = world.desktop(OperationKind::Sign, 120).await;
    let phone = world.phone(&scan.payload().to_url(), &["--confirm", "--cert", ID]);
    scan.wait_scanned().await.expect("scanned");
    let item = world.pades_item(ID, "投标函.pdf", SealKind::Personal { index: 1 }, b"wu");
    let answer = scan
        .perform(
            OperationRequest::Sign(SignRequest {
                platform: platform(),
                project: Some(project()),
                items: vec![item.clone()],
                lookup: vec![],
            }),
            None,
        )
        .await
        .expect("answer");
    let Answer::Confirmed {
        response: OperationResponse::Sign(signed),
        ..
    } = answer
    else {
        panic!("seal with the enrolled certificate: {answer:?}")
    };
    finish_phone(phone);
    assert!(openssl_verify_prehash(
        leaf.der(),
        &item.digest().0,
        &signed.signatures[0].signature.0
    ));
    let traces = bidseal_phone::provision::whole_key_traces(&world.dir.0, PIN)
        .unwrap_or_else(|e| panic!("leak search: {e}"));
    assert!(traces.is_empty(), "{traces:?}");

    // The service gone: exit 3 with a zh-CN message, nothing written.
    let code_out = world.admin(&["enrol-code", "staff-wu-3", "--holder", "吴敏"]);
    let code = String::from_utf8_lossy(&code_out.stdout).trim().to_string();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let out = enroll(&closed, &code, "staff-wu-3", &uscc);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("E_COSIGN_UNREACHABLE") && stderr(&out).contains("协同签名服务"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&keystore).expect("keystore"), after);
}

/// `phone restore` is crash safe: the new phone stages its new share (sealed under PIN + the
/// seal share the service will store) before the finish call. A keystore write that fails
/// after the service finished (injected, `BIDSEAL_TEST_RESTORE_FAULT=after-finish`) leaves the
/// certificate recoverable: exit 3 `E_RESTORE_UNFINISHED`, the old phone already void, and the
/// same command run again finishes from the staged file without a new code (one joint
/// signature proves it) — the new phone then authenticates through `bidseal phone scan`. A run
/// stopped before the finish (`before-finish`) leaves a staged share the service never
/// registered: the next run voids it (exit 1) and the old phone still works. No whole key in
/// any staged file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_that_fails_after_the_refresh_finishes_from_its_staged_share() {
    use bidseal_phone::keystore::Keystore;
    use bidseal_phone::restore::{staged_path, RESTORE_FAULT_ENV};
    let world = World::new();
    let restore = |new_phone: &std::path::Path, id: &str, code: &str, fault: Option<&str>| {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(["phone", "restore"])
            .arg(new_phone)
            .arg("--from")
            .arg(world.path("phone"))
            .args(["--cosign", &world.cosign.url, "--cert", id, "--code", code])
            .args(["--pin", PIN, "--json"])
            .env_remove(RESTORE_FAULT_ENV);
        if let Some(fault) = fault {
            cmd.env(RESTORE_FAULT_ENV, fault);
        }
        cmd.output().expect("run phone restore")
    };
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).to_string();
    let refresh_code = |id: &str| {
        let out = world.admin(&["refresh-code", id]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    // The keystore write fails after the service finished the refresh.
    const ID: &str = "legal-zhang";
    let new_phone = world.path("new-phone");
    let code = refresh_code(ID);
    let out = restore(&new_phone, ID, &code, Some("after-finish"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("E_RESTORE_UNFINISHED"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("重新运行同一条"), "{}", stderr(&out));
    let staged = staged_path(&new_phone, ID);
    assert!(staged.is_file(), "the new share is staged");
    let skeleton = Keystore::load(&new_phone).expect("the device key is on disk");
    assert!(skeleton.entry(ID).is_err(), "the keystore was not written");
    let log = world.usage_log(ID);
    assert_eq!(
        log.last().expect("log")["operation"],
        "换机：刷新密钥分量",
        "the service finished"
    );
    // The old phone is void already: without the staged share the certificate would be lost.
    let (answer, _) = auth_with_keystore(&world, &world.path("phone"), ID).await;
    assert!(
        matches!(answer, Answer::Rejected(RefusalReason::DeviceNotRecognised)),
        "old phone: {answer:?}"
    );
    // The staged entry opens with the PIN and the service's new seal share (the key is
    // computed from it and the service's state), and no file — the staged one included —
    // holds the whole key.
    let staged_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&staged).expect("read staged")).expect("json");
    let view = TempDir::new("staged-view");
    std::fs::create_dir_all(view.0.join("phone")).expect("mkdir");
    std::os::unix::fs::symlink(world.path("cosign"), view.0.join("cosign")).expect("symlink");
    std::fs::write(
        view.0.join("phone/keystore.json"),
        serde_json::to_vec(&serde_json::json!({
            "version": bidseal_phone::keystore::KEYSTORE_VERSION,
            "certificates": [staged_json["entry"]],
        }))
        .expect("json"),
    )
    .expect("write view");
    bidseal_phone::provision::phone_share_for_tests(&view.0, PIN, ID)
        .expect("the staged share opens with the PIN and the stored seal share");
    let traces =
        bidseal_phone::provision::whole_key_traces_in(&view.0, PIN, &[&world.dir.0, &new_phone])
            .unwrap_or_else(|e| panic!("leak search: {e}"));
    assert!(traces.is_empty(), "{traces:?}");
    // The same command again (the code is used up and not needed): finished from the stage.
    let out = restore(&new_phone, ID, &code, None);
    assert!(out.status.success(), "finish: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json");
    assert_eq!(report["cert"], ID);
    assert!(!staged.exists(), "the staged file is gone once installed");
    let restored = Keystore::load(&new_phone).expect("keystore");
    assert_eq!(
        report["device"],
        restored.device_key().expect("device").public_hex().as_str()
    );
    assert_eq!(
        world.usage_log(ID).last().expect("log")["detail"]
            .as_str()
            .map(|d| d.contains("换机恢复")),
        Some(true),
        "the check is logged"
    );
    let (answer, hash) = auth_with_keystore(&world, &new_phone, ID).await;
    let Answer::Confirmed {
        response: OperationResponse::Auth(auth),
        ..
    } = answer
    else {
        panic!("the recovered phone: {answer:?}")
    };
    let leaf = Certificate::from_der(&auth.certificate_chain[0].0).expect("leaf");
    assert!(openssl_verify_prehash(
        leaf.der(),
        &hash.0,
        &auth.signature.0
    ));

    // A run stopped before the finish: the service never registered the staged share.
    const OTHER: &str = "staff-li";
    let other_phone = world.path("other-phone");
    let code = refresh_code(OTHER);
    let out = restore(&other_phone, OTHER, &code, Some("before-finish"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("E_RESTORE_UNFINISHED"),
        "{}",
        stderr(&out)
    );
    let staged = staged_path(&other_phone, OTHER);
    assert!(staged.is_file());
    let out = restore(&other_phone, OTHER, &code, None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("E_RESTORE_STAGED_VOID"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("旧手机的分量仍然有效"),
        "{}",
        stderr(&out)
    );
    assert!(!staged.exists(), "a void stage is removed");
    let (answer, _) = auth_with_keystore(&world, &world.path("phone"), OTHER).await;
    assert!(
        matches!(answer, Answer::Confirmed { .. }),
        "the old phone still works: {answer:?}"
    );
}
