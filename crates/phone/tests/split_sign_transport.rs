//! Joint signatures and joint ECDH with a split key over the co-signing HTTP API
//! (`cosign::split`): the real service router on 127.0.0.1, the phone's client, and an attacker
//! who changes requests, replays or reorders rounds, uses another device, calls after the
//! certificate was stopped, or asks for a decrypt part before the opening time.

use bidseal_phone::cosign::client::{CosignCallError, CosignClient};
use bidseal_phone::cosign::device::{DeviceKey, DeviceRoute};
use bidseal_phone::cosign::opening::PlatformPins;
use bidseal_phone::cosign::server::{serve_with, SecretText, ServiceConfig};
use bidseal_phone::cosign::split::{b64, sign_id, unb64, SplitRound, SplitSignRequest};
use bidseal_phone::cosign::state::{
    rfc3339, AdminAction, CertRecord, CertShares, CosignBook, CosignOperation, OperationContext,
    RefusalReason, TenderEvidence,
};
use bidseal_phone::key_seal::{SealedKey, ServiceShare};
use bidseal_phone::key_split::{KeyShare, PhoneDkg, PhoneSign, ServiceDkg, Side};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

const PIN: &str = "246810";
const TOKEN: &str = "admin-token-for-tests";
const FP: &str = "fp-legal-zhang";

struct World {
    _dir: tempfile::TempDir,
    state: PathBuf,
    url: String,
    device: DeviceKey,
    sealed: SealedKey,
    public: p256::PublicKey,
    platform: bidseal_bid::tender::PlatformSigner,
}

fn dkg() -> (KeyShare, KeyShare) {
    let (phone, hello) = PhoneDkg::start(b"transport-test").expect("start");
    let (service, reply) = ServiceDkg::answer(b"transport-test", &hello).expect("answer");
    let (phone_share, finish) = phone.finish(&reply).expect("finish");
    (
        phone_share,
        service.finish(&finish).expect("service finish"),
    )
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("cosign");
    std::fs::create_dir_all(&state).expect("mkdir");
    let (phone, service) = dkg();
    let public = phone.public_key().expect("pk");
    let device = DeviceKey::generate();
    let seal_share = bidseal_phone::key_seal::new_share();
    let sealed = SealedKey::seal(
        &phone.to_secret_bytes().expect("encode"),
        PIN,
        &seal_share,
        FP,
        1000,
    )
    .expect("seal");
    drop(phone);
    let mut book = CosignBook::create(&state.join("state.db")).expect("book");
    let rec = CertRecord::new(
        "legal-zhang",
        FP,
        "张伟",
        i64::MAX / 2,
        PIN,
        CertShares {
            share: &seal_share,
            recovery_share: &bidseal_phone::key_seal::new_share(),
        },
        1000,
    )
    .with_device(&device.public_hex())
    .with_split_share(&service)
    .expect("split share");
    book.insert(&rec).expect("insert");
    drop(book);
    std::fs::write(state.join("admin-token"), TOKEN).expect("token");
    let ca = bidseal_phone::pki::TestCa::generate("ca-1", "某交易平台").expect("platform");
    let pins = PlatformPins::new(vec![bidseal_bid::tender::PlatformCertificate::from_pem(
        &bidseal_phone::pki::cert_pem(&ca.cert).expect("pem"),
    )
    .expect("pin")]);
    let platform = bidseal_bid::tender::PlatformSigner::from_pkcs8_pem(ca.key_pem().expect("key"))
        .expect("signer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serve_state = state.clone();
    tokio::spawn(async move {
        let config = ServiceConfig {
            platform_pins: pins,
            ..Default::default()
        };
        let _ = serve_with(listener, &serve_state, config).await;
    });
    World {
        _dir: dir,
        state,
        url: format!("http://{addr}"),
        device,
        sealed,
        public,
        platform,
    }
}

fn ctx() -> OperationContext {
    OperationContext {
        operation: CosignOperation::Sign,
        desktop: "test-desktop".into(),
        session_id: "session-1".into(),
        detail: "签章 投标函.pdf".into(),
        tender: None,
        bound_digest: None,
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl World {
    fn client(&self) -> CosignClient {
        CosignClient::new(&self.url)
            .expect("client")
            .with_device_key(Some(&self.device))
    }

    /// Opens the phone's sealed share with the seal share the service released.
    fn open(&self, seal_share: &ServiceShare) -> Option<KeyShare> {
        let bytes = self.sealed.unseal(PIN, seal_share, FP).ok()?;
        KeyShare::from_secret_bytes(&bytes, Side::Phone).ok()
    }

    async fn sign(
        &self,
        pin: &str,
        digests: &[[u8; 32]],
    ) -> Result<Vec<p256::ecdsa::Signature>, CosignCallError> {
        self.client()
            .split_sign("legal-zhang", pin, "张伟", &ctx(), digests, &|s| {
                self.open(s)
            })
            .await
    }

    fn log(&self) -> Vec<bidseal_phone::cosign::state::UsageLogEntry> {
        let book = CosignBook::load(&self.state.join("state.db")).expect("load");
        assert!(book.verify_log("legal-zhang").is_ok(), "chain intact");
        book.log("legal-zhang").expect("log").0
    }

    /// A raw device-signed POST; `tamper` changes the body after it was signed.
    async fn post(
        &self,
        device: &DeviceKey,
        route: DeviceRoute,
        body: &[u8],
        tamper: impl FnOnce(&mut Vec<u8>),
    ) -> (u16, serde_json::Value) {
        self.post_to("legal-zhang", device, route, body, tamper)
            .await
    }

    /// [`World::post`] for the certificate `id`.
    async fn post_to(
        &self,
        id: &str,
        device: &DeviceKey,
        route: DeviceRoute,
        body: &[u8],
        tamper: impl FnOnce(&mut Vec<u8>),
    ) -> (u16, serde_json::Value) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let call = device.sign_call(route, id, now, body);
        let mut sent = body.to_vec();
        tamper(&mut sent);
        let mut req = reqwest::Client::new()
            .post(format!("{}/v1/certs/{id}/{}", self.url, route.name()))
            .header("content-type", "application/json");
        for (name, value) in call.headers() {
            req = req.header(name, value);
        }
        let resp = req.body(sent).send().await.expect("send");
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    /// `enrol/certificate` of the new certificate with `body`, signed by `device`.
    async fn hand_in(&self, device: &DeviceKey, body: &[u8]) -> (u16, serde_json::Value) {
        self.post_to(NEW_ID, device, DeviceRoute::EnrolCertificate, body, |_| {})
            .await
    }

    async fn post_json(
        &self,
        route: DeviceRoute,
        value: &impl serde::Serialize,
    ) -> (u16, serde_json::Value) {
        let body = serde_json::to_vec(value).expect("json");
        self.post(&self.device, route, &body, |_| {}).await
    }

    fn grant_request(&self, d: &[u8; 32], nonce: &str) -> SplitSignRequest {
        SplitSignRequest {
            pin: SecretText::new(PIN.into()),
            who: "张伟".into(),
            context: ctx(),
            digests: vec![hex::encode(d)],
            nonce: nonce.into(),
        }
    }

    fn tender(&self, opens: i64) -> TenderEvidence {
        let manifest = serde_json::json!({
            "format": "bidseal-tender/1",
            "project": {"id": "ZB-2026-001", "name": "某工程", "lot": {"id": "BD01", "name": "第一标段"}},
            "opening_time": rfc3339(opens),
        })
        .to_string()
        .into_bytes();
        let signature = self.platform.sign(&manifest);
        TenderEvidence {
            manifest: manifest.into(),
            signature: signature.into(),
        }
    }
}

fn refusal_code(v: &serde_json::Value) -> &str {
    v["refusal"]["code"].as_str().unwrap_or("")
}

const NONCE: &str = "00112233445566778899aabbccddeeff";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joint_signatures_over_http_verify_and_every_use_is_logged() {
    let w = world().await;
    let digests = [digest("投标函.pdf 的签名属性"), digest("印章绑定")];
    let sigs = w.sign(PIN, &digests).await.expect("joint signatures");
    for (d, sig) in digests.iter().zip(&sigs) {
        p256::ecdsa::VerifyingKey::from(w.public)
            .verify_prehash(d, sig)
            .expect("ordinary ECDSA P-256");
    }
    // One line per grant (the decision, bound to digests, device and session), chained; a
    // grant that ends in signatures writes no second line.
    let log = w.log();
    assert_eq!(log.len(), 1, "one line per grant: {log:?}");
    assert_eq!(log[0].result, "OK");
    for d in &digests {
        assert!(log[0].detail.contains(&hex::encode(d)), "{}", log[0].detail);
    }
    assert!(log[0].detail.contains(&w.device.public_hex()));
    assert_eq!(log[0].session_id, "session-1");
    let sigs = w.sign(PIN, &digests).await.expect("a second grant");
    assert_eq!(sigs.len(), 2);
    let log = w.log();
    assert_eq!(log.len(), 2, "two grants, two lines: {log:?}");
    assert_eq!(log[1].prev_hash, log[0].hash, "chained");
    // The plain authorise route gives nothing for a split certificate.
    let refused = w
        .client()
        .authorise("legal-zhang", PIN, "张伟", &ctx())
        .await
        .expect_err("no static share for a split key");
    assert_eq!(refused.to_refusal().code(), "no_suitable_certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_changed_in_flight_or_from_another_device_is_refused() {
    let w = world().await;
    let d = digest("x");
    let body = serde_json::to_vec(&w.grant_request(&d, NONCE)).expect("json");
    // The same body signed, then one digit of the digest changed.
    let at = body
        .windows(11)
        .position(|win| win == b"\"digests\":[")
        .expect("digests field")
        + 12;
    let (status, answer) = w
        .post(&w.device, DeviceRoute::SplitSign, &body, |b| {
            b[at] = if b[at] == b'0' { b'1' } else { b'0' };
        })
        .await;
    assert_eq!(
        (status, refusal_code(&answer)),
        (403, "device_not_recognised")
    );
    // A stranger's device with the right PIN.
    let stranger = DeviceKey::generate();
    let (status, answer) = w
        .post(&stranger, DeviceRoute::SplitSign, &body, |_| {})
        .await;
    assert_eq!(
        (status, refusal_code(&answer)),
        (403, "device_not_recognised")
    );
    // A signature for another route does not pass.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let call = w
        .device
        .sign_call(DeviceRoute::Authorise, "legal-zhang", now, &body);
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/certs/legal-zhang/split-sign", w.url))
        .header("content-type", "application/json");
    for (name, value) in call.headers() {
        req = req.header(name, value);
    }
    let resp = req.body(body.clone()).send().await.expect("send");
    assert_eq!(resp.status().as_u16(), 403);
    // Nothing was decided or logged.
    assert!(w.log().is_empty());
    // The untouched call passes.
    let (status, answer) = w
        .post(&w.device, DeviceRoute::SplitSign, &body, |_| {})
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(w.log().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_are_single_use_in_order_and_a_tampered_round_is_detected() {
    let w = world().await;
    let d = digest("y");
    let start = |nonce: &'static str| {
        let w = &w;
        async move {
            let (status, grant) = w
                .post_json(DeviceRoute::SplitSign, &w.grant_request(&d, nonce))
                .await;
            assert_eq!(status, 200, "{grant}");
            let token = grant["token"].as_str().expect("token").to_string();
            let seal = grant["seal_share"].as_str().expect("seal share");
            let mut raw = zeroize::Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(seal, raw.as_mut()).expect("hex");
            (token, w.open(&raw).expect("phone share opens"))
        }
    };
    let id = |nonce: &str| {
        sign_id(
            "legal-zhang",
            &w.device.public_hex(),
            &ctx(),
            &hex::encode(d),
            nonce,
            0,
        )
    };

    // finish before round: refused, and the grant is gone.
    let (token, _share) = start(NONCE).await;
    let early = SplitRound {
        token: token.clone(),
        messages: vec![b64(b"x")],
    };
    let (status, answer) = w.post_json(DeviceRoute::SplitSignFinish, &early).await;
    assert_eq!((status, refusal_code(&answer)), (403, "invalid_request"));
    let (status, _) = w
        .post_json(
            DeviceRoute::SplitSignRound,
            &SplitRound {
                token,
                messages: vec![b64(b"x")],
            },
        )
        .await;
    assert_eq!(status, 403, "the grant was used up by the wrong call");

    // A validly signed second round whose protocol message a modified app changed.
    let nonce2 = "ffeeddccbbaa99887766554433221100";
    let (token, share) = start(nonce2).await;
    let (mut phone, first) = PhoneSign::start(&share, &id(nonce2), &d).expect("start");
    let (status, reply) = w
        .post_json(
            DeviceRoute::SplitSignRound,
            &SplitRound {
                token: token.clone(),
                messages: vec![b64(&first)],
            },
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let reply = unb64(reply["messages"][0].as_str().expect("message")).expect("b64");
    let second = phone.step(&reply).expect("step");
    let mut changed = second.clone();
    let i = changed.len() / 2;
    changed[i] ^= 0x40;
    let (status, answer) = w
        .post_json(
            DeviceRoute::SplitSignFinish,
            &SplitRound {
                token: token.clone(),
                messages: vec![b64(&changed)],
            },
        )
        .await;
    assert_eq!(
        (status, refusal_code(&answer)),
        (403, "invalid_request"),
        "{answer}"
    );
    // The honest second round now finds nothing.
    let (status, answer) = w
        .post_json(
            DeviceRoute::SplitSignFinish,
            &SplitRound {
                token,
                messages: vec![b64(&second)],
            },
        )
        .await;
    assert_eq!((status, refusal_code(&answer)), (403, "invalid_request"));
    let log = w.log();
    assert!(
        log.iter().any(|e| e.result.starts_with("KEYSPLIT_")),
        "{log:#?}"
    );

    // A phone first message made for another digest does not give a signature of this one.
    let nonce3 = "0123456789abcdef0123456789abcdef";
    let (token, share) = start(nonce3).await;
    let other = digest("another document");
    let (_phone, first) = PhoneSign::start(&share, &id(nonce3), &other).expect("start");
    let (status, answer) = w
        .post_json(
            DeviceRoute::SplitSignRound,
            &SplitRound {
                token,
                messages: vec![b64(&first)],
            },
        )
        .await;
    // The library binds the first round to the digest: refused at once.
    assert_eq!(refusal_code(&answer), "invalid_request", "{answer}");
    assert_eq!(status, 403, "the service signs only the digest it logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_lockout_disable_revoke_and_authorisation_end_stop_the_service_share() {
    let w = world().await;
    let d = [digest("z")];
    let refusal = |r: Result<Vec<p256::ecdsa::Signature>, CosignCallError>| match r {
        Err(CosignCallError::Refused(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(matches!(
        refusal(w.sign("000000", &d).await),
        RefusalReason::WrongPin { .. }
    ));
    let admin = CosignClient::new(&w.url).expect("client");
    for (action, undo, expected) in [
        (
            AdminAction::Disable,
            AdminAction::Enable,
            "certificate_disabled",
        ),
        (
            AdminAction::SetAuthorisationEnd { until: Some(1) },
            AdminAction::SetAuthorisationEnd { until: None },
            "authorisation_ended",
        ),
    ] {
        admin
            .admin(TOKEN, "legal-zhang", &action)
            .await
            .expect("admin");
        assert_eq!(refusal(w.sign(PIN, &d).await).code(), expected);
        admin
            .admin(TOKEN, "legal-zhang", &undo)
            .await
            .expect("undo");
    }
    assert!(w.sign(PIN, &d).await.is_ok(), "back to normal");
    for _ in 0..5 {
        let _ = w.sign("999999", &d).await;
    }
    assert_eq!(refusal(w.sign(PIN, &d).await).code(), "pin_locked");
    admin
        .admin(TOKEN, "legal-zhang", &AdminAction::Unlock)
        .await
        .expect("unlock");
    admin
        .admin(TOKEN, "legal-zhang", &AdminAction::Revoke)
        .await
        .expect("revoke");
    assert_eq!(refusal(w.sign(PIN, &d).await).code(), "certificate_revoked");
    // The share took part exactly once (the run between the undo and the lockout): one line.
    let log = w.log();
    let used = log
        .iter()
        .filter(|e| e.result == "OK" && e.detail.contains("联合签名"))
        .count();
    assert_eq!(used, 1, "{log:#?}");
    for code in [
        "wrong_pin",
        "certificate_disabled",
        "authorisation_ended",
        "pin_locked",
        "certificate_revoked",
    ] {
        assert!(log.iter().any(|e| e.result == code), "{code} logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decrypt_part_comes_only_after_the_opening_time_and_for_the_tenders_envelope() {
    let w = world().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ephemeral = p256::SecretKey::random(&mut rand_core::OsRng);
    let originator = ephemeral.public_key();
    let expected = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), w.public.as_affine());
    let decrypt = |tender: Option<TenderEvidence>| OperationContext {
        operation: CosignOperation::Decrypt,
        tender,
        ..ctx()
    };
    let ukm_for = |t: &TenderEvidence| {
        bidseal_scan::EnvelopeUkm {
            tender: bidseal_scan::Digest32::of(&t.manifest.0),
            manifest: bidseal_scan::Digest32([9; 32]),
        }
        .to_bytes()
    };
    let call = |context: OperationContext, ukm: Vec<u8>| {
        let w = &w;
        async move {
            w.client()
                .split_ecdh(
                    "legal-zhang",
                    PIN,
                    "张伟",
                    &context,
                    &originator,
                    &ukm,
                    &|s| w.open(s),
                )
                .await
        }
    };
    // Before the opening time: refused, logged.
    let future = w.tender(now + 3600);
    let early = call(decrypt(Some(future.clone())), ukm_for(&future)).await;
    match early {
        Err(CosignCallError::Refused(RefusalReason::BeforeOpeningTime { .. })) => {}
        other => panic!("expected before_opening_time, got {other:?}"),
    }
    // No tender at all: refused.
    let none = call(decrypt(None), ukm_for(&future)).await;
    assert!(matches!(
        none,
        Err(CosignCallError::Refused(
            RefusalReason::OpeningTimeUnverified { .. }
        ))
    ));
    // After the opening time, but the envelope belongs to another tender.
    let opened = w.tender(now - 60);
    let wrong = call(decrypt(Some(opened.clone())), ukm_for(&future)).await;
    assert!(
        matches!(
            wrong,
            Err(CosignCallError::Refused(
                RefusalReason::SuspiciousRequest { .. }
            ))
        ),
        "{wrong:?}"
    );
    // After the opening time, the right envelope: the joint secret is the ECDH secret.
    let z = call(decrypt(Some(opened.clone())), ukm_for(&opened))
        .await
        .expect("joint ECDH");
    assert_eq!(z.as_slice(), expected.raw_secret_bytes().as_slice());
    let log = w.log();
    assert_eq!(
        log.iter().filter(|e| e.result == "OK").count(),
        1,
        "{log:#?}"
    );
    assert!(log.iter().any(|e| e.result == "before_opening_time"));
}

/// 换机 over the API, attacked: a begin whose signature is not by the device the body names, a
/// body changed after signing, rounds signed by a stranger or by the old phone, a garbage round
/// (the refresh is then gone), a round before the begin's token exists. Only the new phone's own
/// signed calls continue the refresh it began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_is_begun_and_continued_only_by_the_new_device_it_names() {
    use bidseal_phone::cosign::split::RefreshBegun;
    let w = world().await;
    let admin = CosignClient::new(&w.url).expect("client");
    let code = admin
        .admin(TOKEN, "legal-zhang", &AdminAction::IssueRefreshCode)
        .await
        .expect("code")
        .expect("a code");
    let new_device = DeviceKey::generate();
    let stranger = DeviceKey::generate();
    let begin = serde_json::to_vec(&serde_json::json!({
        "code": code, "pin": PIN, "new_device": new_device.public_hex(),
    }))
    .expect("json");
    // Signed by another key than the one named, or changed after signing: refused before the
    // code is looked at (the code stays valid, nothing is logged).
    let (status, body) = w
        .post(&stranger, DeviceRoute::SplitRefresh, &begin, |_| {})
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["refusal"]["code"], "device_not_recognised", "{body}");
    let (status, _) = w
        .post(&new_device, DeviceRoute::SplitRefresh, &begin, |b| {
            let s = String::from_utf8_lossy(b).replace(PIN, "135790");
            *b = s.into_bytes();
        })
        .await;
    assert_eq!(status, 403);
    assert!(w.log().iter().all(|e| !e.operation.starts_with("换机")));
    // The real begin.
    let (status, body) = w
        .post(&new_device, DeviceRoute::SplitRefresh, &begin, |_| {})
        .await;
    assert_eq!(status, 200, "{body}");
    let begun: RefreshBegun = serde_json::from_value(body).expect("begun");
    let seal: ServiceShare = {
        let mut s = zeroize::Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(begun.seal_share.expose(), s.as_mut()).expect("hex");
        s
    };
    let share = w.open(&seal).expect("the backup opens");
    let refresh_id = hex::decode(&begun.refresh_id).expect("hex");
    let (_phone, hello) =
        bidseal_phone::key_split::PhoneRefresh::start(share, &refresh_id).expect("start");
    let round = serde_json::to_vec(&SplitRound {
        token: begun.token.clone(),
        messages: vec![b64(&hello)],
    })
    .expect("json");
    // A stranger or the old phone cannot continue it.
    for device in [&stranger, &w.device] {
        let (status, body) = w
            .post(device, DeviceRoute::SplitRefreshRound, &round, |_| {})
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["refusal"]["code"], "device_not_recognised", "{body}");
    }
    // The finish before the round is out of order: refused, and the refresh is gone.
    let (status, body) = w
        .post(&new_device, DeviceRoute::SplitRefreshFinish, &round, |_| {})
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = w
        .post(&new_device, DeviceRoute::SplitRefreshRound, &round, |_| {})
        .await;
    assert_eq!(status, 403, "single use: {body}");
    assert_eq!(body["refusal"]["code"], "invalid_request", "{body}");
    // Nothing changed: the old phone still signs (the refresh never finished).
    assert!(w.sign(PIN, &[digest("still mine")]).await.is_ok());
}

/// The new certificate of the enrolment tests.
const NEW_ID: &str = "staff-new";

/// An enrolment driven call by call as a (possibly modified) phone app makes it, up to the
/// jointly signed CSR: `enrol` with `code`, the DKG round, the CSR step and its finish. Returns
/// the token, the joint public key and the certificate the CA issues from the honest CSR.
async fn enrolled_up_to_the_certificate(
    w: &World,
    device: &DeviceKey,
    code: &str,
    ca: &bidseal_phone::pki::TestCa,
    spec: &bidseal_phone::pki::LeafSpec,
) -> (String, p256::PublicKey, x509_cert::Certificate) {
    use bidseal_phone::cosign::split::{enrol_csr_sign_id, EnrolBegun};
    use bidseal_phone::pki;
    let call = |route, value: serde_json::Value| async move {
        let body = serde_json::to_vec(&value).expect("json");
        let (status, answer) = w.post_to(NEW_ID, device, route, &body, |_| {}).await;
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let one = |answer: serde_json::Value| {
        unb64(answer["messages"][0].as_str().expect("message")).expect("base64")
    };
    let begun: EnrolBegun = serde_json::from_value(
        call(
            DeviceRoute::Enrol,
            serde_json::json!({"code": code, "device": device.public_hex()}),
        )
        .await,
    )
    .expect("begun");
    let session: [u8; 32] = bidseal_phone::cosign::split::hex_exact(&begun.session_id).expect("id");
    let token = begun.token;
    let (dkg, hello) = PhoneDkg::start(&session).expect("dkg");
    let reply = one(call(
        DeviceRoute::EnrolRound,
        serde_json::json!({"token": token, "messages": [b64(&hello)]}),
    )
    .await);
    let (share, finish) = dkg.finish(&reply).expect("dkg finish");
    let public = share.public_key().expect("pk");
    let info = pki::request_info(spec, &public).expect("info");
    let info_der = der::Encode::to_der(&info).expect("der");
    let digest: [u8; 32] = Sha256::digest(&info_der).into();
    let sign_id = enrol_csr_sign_id(NEW_ID, &device.public_hex(), &session);
    let (mut sign, sign_hello) = PhoneSign::start(&share, &sign_id, &digest).expect("sign");
    let reply = one(
        call(
            DeviceRoute::EnrolCsr,
            serde_json::json!({"token": token, "messages": [b64(&finish), b64(&info_der), b64(&sign_hello)]}),
        )
        .await,
    );
    let sign_finish = sign.step(&reply).expect("step");
    let done = one(call(
        DeviceRoute::EnrolCsrFinish,
        serde_json::json!({"token": token, "messages": [b64(&sign_finish)]}),
    )
    .await);
    let signature = sign.finish(&done).expect("joint signature");
    let csr = pki::certificate_request(info, signature.to_der().as_bytes()).expect("csr");
    let issued = ca.issue_from_csr(spec, &csr).expect("the CA issues");
    (token, public, issued.cert)
}

/// A certificate for `public` with `spec`'s subject, signed by `signer` (an attacker's own
/// "CA").
fn certificate_for(
    public: &p256::PublicKey,
    spec: &bidseal_phone::pki::LeafSpec,
    signer: &p256::ecdsa::SigningKey,
) -> x509_cert::Certificate {
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(*public).expect("spki");
    let subject = bidseal_phone::pki::subject_name(spec).expect("subject");
    let validity = x509_cert::time::Validity::from_now(std::time::Duration::from_secs(86_400))
        .expect("validity");
    CertificateBuilder::new(
        Profile::Leaf {
            issuer: subject.clone(),
            enable_key_agreement: true,
            enable_key_encipherment: false,
        },
        x509_cert::serial_number::SerialNumber::new(&[1]).expect("serial"),
        validity,
        subject,
        spki,
        signer,
    )
    .expect("builder")
    .build::<p256::ecdsa::DerSignature>()
    .expect("certificate")
}

/// `enrol/certificate` refuses what the phone presents unless it is a certificate for the
/// jointly generated key with the subject of the jointly signed CSR, presented once by the
/// enrolling device and issued by a CA of the service's `enrol-issuers.pem`: the honest
/// certificate while that file is missing, a certificate for another key, one for the right
/// key with another subject, garbage, one for the right key and subject from a same-named CA
/// with another key or self-made, a call signed by another device, the right certificate a
/// second time. Each refusal says why; none registers anything, and the id stays free for the honest
/// enrolment with a new code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_certificate_takes_only_the_jointly_requested_certificate_once() {
    use bidseal_phone::cosign::split::EnrolCertificate;
    use bidseal_phone::pki::{self, TestCa};
    let w = world().await;
    let admin = CosignClient::new(&w.url).expect("client");
    let ca = TestCa::generate("ca-1", "BidSeal 测试CA 一").expect("ca");
    let mut spec = pki::standard_specs()
        .expect("specs")
        .into_iter()
        .find(|s| s.id == "colleague-wang")
        .expect("spec");
    spec.id = NEW_ID.into();
    spec.person = Some("王芳".into());
    let device = DeviceKey::generate();
    let present = |token: &str, certificate: String| {
        serde_json::to_vec(&EnrolCertificate {
            token: token.to_string(),
            pin: SecretText::new(PIN.into()),
            certificate,
        })
        .expect("json")
    };
    let registered = |w: &World| {
        CosignBook::load(&w.state.join("state.db"))
            .expect("load")
            .record(NEW_ID)
            .expect("read")
            .is_some()
    };
    let new_code = || async {
        admin
            .enrol_code(TOKEN, NEW_ID, "王芳", Some(1000))
            .await
            .expect("enrol code")
    };
    let refused_with = |answer: (u16, serde_json::Value), detail: &str| {
        assert_eq!(answer.0, 403, "{answer:?}");
        assert_eq!(refusal_code(&answer.1), "invalid_request", "{answer:?}");
        let said = answer.1["refusal"]["detail"].as_str().unwrap_or("");
        assert!(said.contains(detail), "{said} (wanted {detail})");
        said.to_string()
    };

    // (0) The honest certificate while the service has no CA to check it against: refused.
    let issuers = w
        .state
        .join(bidseal_phone::cosign::server::ENROL_ISSUERS_FILE);
    let code = new_code().await;
    let (token, _, honest) = enrolled_up_to_the_certificate(&w, &device, &code, &ca, &spec).await;
    let body = present(&token, pki::cert_pem(&honest).expect("pem"));
    let answer = w.hand_in(&device, &body).await;
    let said = refused_with(answer, "没有配置开通证书的签发 CA");
    assert!(
        !said.contains(&w.state.display().to_string()),
        "the service's folder stays its own: {said}"
    );
    assert!(!registered(&w), "nothing registered without issuers");
    // A file that holds no certificate is no configuration either.
    std::fs::write(&issuers, "not a certificate\n").expect("issuers");
    let code = new_code().await;
    let (token, _, honest) = enrolled_up_to_the_certificate(&w, &device, &code, &ca, &spec).await;
    let body = present(&token, pki::cert_pem(&honest).expect("pem"));
    refused_with(w.hand_in(&device, &body).await, "不是 PEM 格式的证书");
    assert!(
        !registered(&w),
        "nothing registered with a broken issuers file"
    );
    std::fs::write(&issuers, pki::cert_pem(&ca.cert).expect("pem")).expect("issuers");

    // (a) A certificate for another key, with the right subject, from the right CA.
    let code = new_code().await;
    let (token, _public, _honest) =
        enrolled_up_to_the_certificate(&w, &device, &code, &ca, &spec).await;
    let other_key = ca.issue(&spec).expect("issue");
    let body = present(&token, pki::cert_pem(&other_key.cert).expect("pem"));
    let answer = w.hand_in(&device, &body).await;
    refused_with(answer, "不是为本次联合生成的公钥签发的");
    assert!(
        !registered(&w),
        "a certificate for another key is not registered"
    );

    // (b) The right key, another subject (another person of another company).
    let code = new_code().await;
    let (token, public, honest) =
        enrolled_up_to_the_certificate(&w, &device, &code, &ca, &spec).await;
    let mut other = spec.clone();
    other.person = Some("李四".into());
    other.company = pki::OTHER_COMPANY.into();
    let attacker = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let forged = certificate_for(&public, &other, &attacker);
    let body = present(&token, pki::cert_pem(&forged).expect("pem"));
    let answer = w.hand_in(&device, &body).await;
    refused_with(answer, "主体与联合签名的证书申请（CSR）不符");
    assert!(!registered(&w), "another subject is not registered");
    // The token was used by the refused call: the honest certificate now finds nothing.
    let again = present(&token, pki::cert_pem(&honest).expect("pem"));
    let answer = w.hand_in(&device, &again).await;
    refused_with(answer, "不属于任何进行中的开通");

    // (c) Garbage: not PEM, and a PEM block that is no certificate.
    for garbage in [
        "not a certificate".to_string(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string(),
    ] {
        let code = new_code().await;
        let (token, _, _) = enrolled_up_to_the_certificate(&w, &device, &code, &ca, &spec).await;
        let answer = w.hand_in(&device, &present(&token, garbage)).await;
        refused_with(answer, "不是 PEM 格式的 X.509 证书");
        assert!(!registered(&w));
    }

    // (f) The right key and subject, but not from the CA the service trusts: from a CA of the
    // same name with another key (issued from the honest CSR), and from the attacker's own key.
    let impostor = TestCa::generate("ca-1", "BidSeal 测试CA 一").expect("impostor ca");
    let code = new_code().await;
    let (token, _, from_impostor) =
        enrolled_up_to_the_certificate(&w, &device, &code, &impostor, &spec).await;
    assert_eq!(
        from_impostor.tbs_certificate.issuer,
        ca.cert.tbs_certificate.subject
    );
    let answer = w
        .hand_in(
            &device,
            &present(&token, pki::cert_pem(&from_impostor).expect("pem")),
        )
        .await;
    refused_with(answer, "不是由本服务信任的 CA 签发的");
    assert!(
        !registered(&w),
        "a same-named CA's certificate is not registered"
    );
    let code = new_code().await;
    let (token, public, _) = enrolled_up_to_the_certificate(&w, &device, &code, &ca, &spec).await;
    let self_made = certificate_for(
        &public,
        &spec,
        &p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
    );
    let answer = w
        .hand_in(
            &device,
            &present(&token, pki::cert_pem(&self_made).expect("pem")),
        )
        .await;
    refused_with(answer, "不是由本服务信任的 CA 签发的");
    assert!(!registered(&w), "a self-made certificate is not registered");
    // The peer agrees: openssl verifies neither against the service's CA file.
    for (name, cert, trusted) in [
        ("impostor", &from_impostor, false),
        ("self-made", &self_made, false),
        ("honest", &honest, true),
    ] {
        let file = w.state.join(format!("{name}.pem"));
        std::fs::write(&file, pki::cert_pem(cert).expect("pem")).expect("write");
        let verified = std::process::Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&issuers)
            .arg(&file)
            .output()
            .expect("run openssl")
            .status
            .success();
        assert_eq!(
            verified, trusted,
            "openssl verify of the {name} certificate"
        );
    }

    // The honest phone with a new code: (e) first a stranger signs the valid call (refused,
    // the enrolment stays for its device), then the device itself, then (d) the same
    // certificate a second time.
    let code = new_code().await;
    let (token, public, honest) =
        enrolled_up_to_the_certificate(&w, &device, &code, &ca, &spec).await;
    let body = present(&token, pki::cert_pem(&honest).expect("pem"));
    let stranger = DeviceKey::generate();
    let (status, answer) = w.hand_in(&stranger, &body).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(refusal_code(&answer), "device_not_recognised", "{answer}");
    assert!(!registered(&w), "a stranger's call registers nothing");
    let (status, answer) = w.hand_in(&device, &body).await;
    assert_eq!(status, 200, "{answer}");
    let record = CosignBook::load(&w.state.join("state.db"))
        .expect("load")
        .record(NEW_ID)
        .expect("read")
        .expect("registered");
    assert_eq!(record.fingerprint, pki::fingerprint(&honest).expect("fp"));
    let certified = honest
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    assert_eq!(certified, public.to_sec1_bytes().as_ref());
    let answer = w.hand_in(&device, &body).await;
    refused_with(answer, "不属于任何进行中的开通");
    let book = CosignBook::load(&w.state.join("state.db")).expect("load");
    assert_eq!(book.log(NEW_ID).expect("log").0.len(), 1, "one 开通 line");
}
