//! Joint signatures with a split key over the co-signing HTTP API (`cosign::split`): the real
//! service router on 127.0.0.1, the phone's client, and an attacker who changes requests,
//! replays rounds, uses another device, or calls after the certificate was stopped.

use bidseal_phone::cosign::client::{CosignCallError, CosignClient};
use bidseal_phone::cosign::device::{DeviceKey, DeviceRoute};
use bidseal_phone::cosign::server::{serve_with, SecretText, ServiceConfig};
use bidseal_phone::cosign::split::{
    b64, sign_id, unb64, SplitSignFinishRequest, SplitSignRequest, SplitSignStarted,
};
use bidseal_phone::cosign::state::{
    AdminAction, CertRecord, CertShares, CosignBook, CosignOperation, OperationContext,
    RefusalReason,
};
use bidseal_phone::key_split::{KeyShare, PhoneDkg, PhoneSign, ServiceDkg};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

const PIN: &str = "246810";
const TOKEN: &str = "admin-token-for-tests";

struct World {
    _dir: tempfile::TempDir,
    state: PathBuf,
    url: String,
    device: DeviceKey,
    phone: KeyShare,
    public: p256::PublicKey,
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
    let device = DeviceKey::generate();
    let mut book = CosignBook::create(&state.join("state.db")).expect("book");
    let rec = CertRecord::new(
        "legal-zhang",
        "fp",
        "张伟",
        i64::MAX / 2,
        PIN,
        CertShares {
            share: &bidseal_phone::key_seal::new_share(),
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serve_state = state.clone();
    tokio::spawn(async move {
        let _ = serve_with(listener, &serve_state, ServiceConfig::default()).await;
    });
    let public = phone.public_key().expect("pk");
    World {
        _dir: dir,
        state,
        url: format!("http://{addr}"),
        device,
        phone,
        public,
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
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let call = device.sign_call(route, "legal-zhang", now, body);
        let mut sent = body.to_vec();
        tamper(&mut sent);
        let mut req = reqwest::Client::new()
            .post(format!(
                "{}/v1/certs/legal-zhang/{}",
                self.url,
                route.name()
            ))
            .header("content-type", "application/json");
        for (name, value) in call.headers() {
            req = req.header(name, value);
        }
        let resp = req.body(sent).send().await.expect("send");
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    /// The first round by hand: returns the phone's protocol state and the service answer.
    async fn first_round<'a>(
        &'a self,
        d: &[u8; 32],
    ) -> (PhoneSign<'a>, Vec<u8>, (u16, serde_json::Value)) {
        let mut raw = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
        let nonce = hex::encode(raw);
        let id = sign_id(
            "legal-zhang",
            &self.device.public_hex(),
            &ctx(),
            &hex::encode(d),
            &nonce,
        );
        let (phone, first) = PhoneSign::start(&self.phone, &id, d).expect("start");
        let req = SplitSignRequest {
            pin: SecretText::new(PIN.into()),
            who: "张伟".into(),
            context: ctx(),
            digest: hex::encode(d),
            nonce,
            message: b64(&first),
        };
        let body = serde_json::to_vec(&req).expect("json");
        let answer = self
            .post(&self.device, DeviceRoute::SplitSign, &body, |_| {})
            .await;
        (phone, body, answer)
    }
}

fn refusal_code(v: &serde_json::Value) -> &str {
    v["refusal"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joint_signature_over_http_verifies_and_every_use_is_logged() {
    let w = world().await;
    let d = digest("投标函.pdf 的签名属性");
    let sig = w
        .client()
        .split_sign("legal-zhang", PIN, "张伟", &ctx(), &w.phone, &d)
        .await
        .expect("joint signature");
    p256::ecdsa::VerifyingKey::from(w.public)
        .verify_prehash(&d, &sig)
        .expect("ordinary ECDSA P-256");
    let log = w.log();
    assert_eq!(log.len(), 2, "one decision, one end: {log:?}");
    let hex_digest = hex::encode(d);
    assert_eq!(log[0].result, "OK");
    assert!(log[0].detail.contains(&hex_digest), "{}", log[0].detail);
    assert!(log[0].detail.contains(&w.device.public_hex()));
    assert_eq!(log[0].session_id, "session-1");
    assert_eq!(log[1].result, "OK");
    let sig_hash = hex::encode(Sha256::digest(sig.to_der().as_bytes()));
    assert!(log[1].detail.contains(&sig_hash), "{}", log[1].detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_changed_in_flight_or_from_another_device_is_refused() {
    let w = world().await;
    let d = digest("x");
    let (_phone, body, ok) = w.first_round(&d).await;
    assert_eq!(ok.0, 200, "{:?}", ok.1);
    // The same body signed, then one byte changed (the digest's first hex digit).
    let at = body
        .windows(9)
        .position(|win| win == b"\"digest\":")
        .expect("digest field")
        + 10;
    let (status, answer) = w
        .post(&w.device, DeviceRoute::SplitSign, &body, |b| {
            b[at] = if b[at] == b'0' { b'1' } else { b'0' };
        })
        .await;
    assert_eq!(
        (status, refusal_code(&answer)),
        (403, "device_not_recognised")
    );
    // A byte of the protocol message changed.
    let (status, answer) = w
        .post(&w.device, DeviceRoute::SplitSign, &body, |b| {
            let i = b.len() - 5;
            b[i] ^= 1;
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
    // The first-round signature does not pass for the second-round route.
    let (status, answer) = w
        .post(&w.device, DeviceRoute::SplitSignFinish, &body, |_| {})
        .await;
    assert!(status == 403 || status == 422, "{status} {answer}");
    // Only the one good call was decided and logged.
    assert_eq!(w.log().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_round_is_single_use_and_a_tampered_round_is_detected() {
    let w = world().await;
    let d = digest("y");
    let (mut phone, _body, (status, started)) = w.first_round(&d).await;
    assert_eq!(status, 200, "{started}");
    let started: SplitSignStarted = serde_json::from_value(started).expect("started");
    let second = phone
        .step(&unb64(&started.message).expect("b64"))
        .expect("step");
    // A validly signed second round whose protocol message was changed by a modified app.
    let mut changed = second.clone();
    let i = changed.len() / 2;
    changed[i] ^= 0x40;
    let finish = SplitSignFinishRequest {
        token: started.token.clone(),
        message: b64(&changed),
    };
    let body = serde_json::to_vec(&finish).expect("json");
    let (status, answer) = w
        .post(&w.device, DeviceRoute::SplitSignFinish, &body, |_| {})
        .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(refusal_code(&answer), "invalid_request", "{answer}");
    // The token is gone: the honest second round now finds nothing.
    let finish = SplitSignFinishRequest {
        token: started.token,
        message: b64(&second),
    };
    let body = serde_json::to_vec(&finish).expect("json");
    let (status, answer) = w
        .post(&w.device, DeviceRoute::SplitSignFinish, &body, |_| {})
        .await;
    assert_eq!((status, refusal_code(&answer)), (403, "invalid_request"));
    let log = w.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[1].result.starts_with("KEYSPLIT_"), "{:?}", log[1]);

    // A full honest run, then its finish replayed with a fresh device signature.
    let (mut phone, _body, (status, started)) = w.first_round(&d).await;
    assert_eq!(status, 200);
    let started: SplitSignStarted = serde_json::from_value(started).expect("started");
    let second = phone
        .step(&unb64(&started.message).expect("b64"))
        .expect("step");
    let body = serde_json::to_vec(&SplitSignFinishRequest {
        token: started.token,
        message: b64(&second),
    })
    .expect("json");
    let (status, done) = w
        .post(&w.device, DeviceRoute::SplitSignFinish, &body, |_| {})
        .await;
    assert_eq!(status, 200, "{done}");
    let last = unb64(done["message"].as_str().expect("message")).expect("b64");
    let sig = phone.finish(&last).expect("signature");
    assert!(p256::ecdsa::VerifyingKey::from(w.public)
        .verify_prehash(&d, &sig)
        .is_ok());
    let (status, again) = w
        .post(&w.device, DeviceRoute::SplitSignFinish, &body, |_| {})
        .await;
    assert_eq!((status, refusal_code(&again)), (403, "invalid_request"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_lockout_disable_revoke_and_authorisation_end_stop_the_service_share() {
    let w = world().await;
    let client = w.client();
    let d = digest("z");
    let sign = |pin: &'static str| {
        let client = client.clone();
        let phone = &w.phone;
        async move {
            client
                .split_sign("legal-zhang", pin, "张伟", &ctx(), phone, &d)
                .await
        }
    };
    let refusal = |r: Result<p256::ecdsa::Signature, CosignCallError>| match r {
        Err(CosignCallError::Refused(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(matches!(
        refusal(sign("000000").await),
        RefusalReason::WrongPin { .. }
    ));
    let admin = CosignClient::new(&w.url).expect("client");
    for (action, expected) in [
        (AdminAction::Disable, "certificate_disabled"),
        (
            AdminAction::SetAuthorisationEnd { until: Some(1) },
            "authorisation_ended",
        ),
    ] {
        admin
            .admin(TOKEN, "legal-zhang", &action)
            .await
            .expect("admin");
        assert_eq!(refusal(sign(PIN).await).code(), expected);
        let undo = match action {
            AdminAction::Disable => AdminAction::Enable,
            _ => AdminAction::SetAuthorisationEnd { until: None },
        };
        admin
            .admin(TOKEN, "legal-zhang", &undo)
            .await
            .expect("undo");
    }
    assert!(sign(PIN).await.is_ok(), "back to normal");
    for _ in 0..5 {
        let _ = sign("999999").await;
    }
    assert_eq!(refusal(sign(PIN).await).code(), "pin_locked");
    admin
        .admin(TOKEN, "legal-zhang", &AdminAction::Unlock)
        .await
        .expect("unlock");
    admin
        .admin(TOKEN, "legal-zhang", &AdminAction::Revoke)
        .await
        .expect("revoke");
    assert_eq!(refusal(sign(PIN).await).code(), "certificate_revoked");
    // The share took part exactly once (the one run between the undo and the lockout); every
    // refusal is in the log with its code.
    let log = w.log();
    let used: Vec<_> = log
        .iter()
        .filter(|e| e.result == "OK" && e.detail.contains("联合签名"))
        .collect();
    assert_eq!(used.len(), 2, "{log:#?}");
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
