//! Scan flows through a real relay on 127.0.0.1 with real WebSocket clients: the desktop
//! uses `bidseal_scan::client::start_scan`, the phone `bidseal_scan::client::join` driven by a
//! small test responder holding a real P-256 key. Attacks and faults come from a misbehaving
//! relay (`RelayConfig::fault`), raw sockets and relay shutdowns.

use bidseal_relay::fault::{FaultAction, FrameFault};
use bidseal_relay::{Relay, RelayConfig, RelayHandle};
use bidseal_scan::client::{self, Answer, PhoneLink, PhoneOptions, ScanEvent, ScanOptions};
use bidseal_scan::wire::Role;
use bidseal_scan::*;
use futures_util::{SinkExt, StreamExt};
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn platform() -> PlatformRef {
    PlatformRef {
        id: "gz-ggzy".into(),
        name: "广州公共资源交易中心".into(),
    }
}

fn project() -> ProjectRef {
    ProjectRef {
        code: "GZ2026-001".into(),
        name: "某某道路改造工程".into(),
    }
}

fn hello() -> PhoneHello {
    PhoneHello {
        device: "张三的手机".into(),
        app: "relay-test-responder".into(),
    }
}

fn opts(ttl: u64, response: u64) -> ScanOptions {
    ScanOptions {
        ttl: Duration::from_secs(ttl),
        response_timeout: Duration::from_secs(response),
    }
}

/// The phone's key (a real P-256 key; the certificate bytes are placeholders — certificate
/// validation is the phone crate's and the cms crate's business).
fn phone_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).unwrap()
}

fn sign(digest: &Digest32) -> Bytes {
    let sig: Signature = phone_key().sign_prehash(&digest.0).unwrap();
    Bytes(sig.to_der().as_bytes().to_vec())
}

fn verify(digest: &Digest32, sig: &Bytes) -> bool {
    let vk = VerifyingKey::from(&phone_key());
    Signature::from_der(&sig.0)
        .map(|s| vk.verify_prehash(&digest.0, &s).is_ok())
        .unwrap_or(false)
}

/// What a confirming phone answers.
fn respond_to(link: &PhoneLink, req: &IncomingRequest) -> OperationResponse {
    // Fake DER of the documented shape (`0` is 0x30, a SEQUENCE tag: crate::answer).
    let chain = vec![
        Bytes(b"0leaf-cert-der".to_vec()),
        Bytes(b"0ca-cert-der".to_vec()),
    ];
    match &req.request {
        OperationRequest::Auth(a) => OperationResponse::Auth(AuthResponse {
            certificate_chain: chain,
            signature: sign(&a.transcript_hash(link.binding())),
            signed_at: unix_now(),
        }),
        OperationRequest::Sign(s) => OperationResponse::Sign(SignResponse {
            signatures: s
                .items
                .iter()
                .map(|i| ItemSignature {
                    digest: i.digest(),
                    signature: sign(&i.digest()),
                })
                .collect(),
            certificate_chain: chain,
            seal_images: vec![SealImage {
                seal_kind: SealKind::Enterprise,
                png: Bytes(vec![0x89, b'P', b'N', b'G']),
                binding: Bytes(b"0binding".to_vec()),
            }],
        }),
        OperationRequest::Generate(g) => OperationResponse::Generate(GenerateResponse {
            signature: sign(&g.manifest_digest()),
            certificate_chain: chain,
            encryption_certificates: vec![
                Bytes(b"0own-enc".to_vec()),
                Bytes(b"0colleague-1".to_vec()),
                Bytes(b"0colleague-2".to_vec()),
            ],
        }),
        OperationRequest::Decrypt(d) => {
            // Transport test: the fake phone answers for the first entry with the raw ECDH
            // value (the real phone's KDF is tested in the phone and end-to-end tests).
            let sk = p256::SecretKey::from_slice(&[0x42; 32]).unwrap();
            let pk = p256::PublicKey::from_sec1_bytes(&d.recipients[0].originator_key.0).unwrap();
            let z = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
            OperationResponse::Decrypt(DecryptResponse {
                certificate: Bytes(b"0enc-cert".to_vec()),
                recipient: 0,
                key_encryption_key: SharedSecretBytes(Bytes(z.raw_secret_bytes().to_vec())),
            })
        }
    }
}

#[derive(Clone, Copy)]
enum Behaviour {
    Confirm,
    ConfirmWithSession {
        auto_confirm: bool,
    },
    Refuse(fn() -> RefusalReason),
    Silent,
    /// Confirm, then stay connected for a while (a phone that keeps the app open).
    ConfirmAndLinger,
}

/// Runs a phone for `payload`; returns how many requests it saw and how it ended.
type PhoneResult = (u32, Result<(), ScanError>);

async fn phone(payload: QrPayload, behaviour: Behaviour) -> PhoneResult {
    let mut link = match client::join(&payload, &hello(), PhoneOptions::default()).await {
        Ok(l) => l,
        Err(e) => return (0, Err(e)),
    };
    let mut seen = 0;
    loop {
        let req = match link.next_request().await {
            Ok(Some(r)) => r,
            Ok(None) => return (seen, Ok(())),
            Err(e) => return (seen, Err(e)),
        };
        seen += 1;
        let outcome = match behaviour {
            Behaviour::Silent => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return (seen, Ok(()));
            }
            Behaviour::Refuse(reason) => OperationOutcome::Refused { reason: reason() },
            Behaviour::Confirm | Behaviour::ConfirmAndLinger => OperationOutcome::Confirmed {
                response: respond_to(&link, &req),
                session: None,
            },
            Behaviour::ConfirmWithSession { auto_confirm } => {
                if seen > 1 {
                    assert_eq!(req.needs_confirmation, !auto_confirm);
                }
                let session = req.session_mode.map(|m| SessionGrant {
                    idle_timeout_secs: m.idle_timeout_secs,
                    auto_confirm,
                    max_requests: 64,
                    expires_at: u64::MAX,
                });
                OperationOutcome::Confirmed {
                    response: respond_to(&link, &req),
                    session,
                }
            }
        };
        if let Err(e) = link.respond(req, outcome).await {
            return (seen, Err(e));
        }
        if !link.is_open() {
            if matches!(behaviour, Behaviour::ConfirmAndLinger) {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            return (seen, Ok(()));
        }
    }
}

async fn relay() -> RelayHandle {
    Relay::bind("127.0.0.1:0").await.unwrap()
}

async fn relay_with(fault: Arc<dyn FrameFault>) -> RelayHandle {
    Relay::bind_with(
        "127.0.0.1:0",
        RelayConfig {
            fault: Some(fault),
            ..RelayConfig::default()
        },
    )
    .await
    .unwrap()
}

/// Starts a scan and a phone; returns the desktop handle after `Scanned`, the binding and the
/// phone task.
async fn scanned(
    relay: &RelayHandle,
    op: OperationKind,
    options: ScanOptions,
    behaviour: Behaviour,
) -> (
    client::DesktopScan,
    SessionBinding,
    tokio::task::JoinHandle<PhoneResult>,
) {
    let mut scan = client::start_scan(&relay.url(), op, options).await.unwrap();
    let payload = QrPayload::parse(&scan.payload().to_url()).unwrap();
    let phone = tokio::spawn(phone(payload, behaviour));
    assert!(matches!(
        scan.next_event().await,
        Some(ScanEvent::Waiting { .. })
    ));
    let (device, binding) = scan.wait_scanned().await.unwrap();
    assert_eq!(device, hello());
    (scan, binding, phone)
}

fn auth_request() -> OperationRequest {
    OperationRequest::Auth(AuthRequest {
        platform: platform(),
        purpose: AuthPurpose::Login,
        project: Some(project()),
        requester: None,
        challenge: Digest32::of(b"fresh challenge"),
        issued_at: unix_now(),
    })
}

fn sign_request(n: u8) -> OperationRequest {
    OperationRequest::Sign(SignRequest {
        platform: platform(),
        project: Some(project()),
        items: vec![
            SignItem {
                document: "商务标.pdf".into(),
                pages: vec![1],
                seal_kind: SealKind::Enterprise,
                signed_attributes: Bytes(vec![n; 32]),
            },
            SignItem {
                document: "商务标.pdf".into(),
                pages: vec![2, 3],
                seal_kind: SealKind::Enterprise,
                signed_attributes: Bytes(vec![n ^ 0xff; 32]),
            },
        ],
        lookup: vec![],
    })
}

#[tokio::test]
async fn auth_round_trip_returns_a_signature_bound_to_this_session() {
    let relay = relay().await;
    let (mut scan, binding, phone) = scanned(
        &relay,
        OperationKind::Auth,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    let request = auth_request();
    let Answer::Confirmed {
        response: OperationResponse::Auth(r),
        session: None,
    } = scan.perform(request.clone(), None).await.unwrap()
    else {
        panic!("not an auth confirmation");
    };
    let OperationRequest::Auth(a) = request else {
        unreachable!()
    };
    assert!(
        verify(&a.transcript_hash(&binding), &r.signature),
        "signature must verify over this session's transcript"
    );
    // The same signature is useless for another session.
    let (other, other_binding, other_phone) = scanned(
        &relay,
        OperationKind::Auth,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    assert!(!verify(&a.transcript_hash(&other_binding), &r.signature));
    assert_eq!(r.certificate_chain.len(), 2);
    assert_eq!(
        scan.next_event().await,
        None,
        "single-request scan ends after the answer"
    );
    assert_eq!(phone.await.unwrap(), (1, Ok(())));
    other.end().await.unwrap();
    let _ = other_phone.await;
    relay.shutdown().await;
}

#[tokio::test]
async fn sign_round_trip_signs_every_hash() {
    let relay = relay().await;
    let (mut scan, _, phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    let answer = scan.perform(sign_request(7), None).await.unwrap();
    let Answer::Confirmed {
        response: OperationResponse::Sign(r),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    assert_eq!(r.signatures.len(), 2);
    for (s, d) in r
        .signatures
        .iter()
        .zip([Digest32::of(&[7; 32]), Digest32::of(&[7 ^ 0xff; 32])])
    {
        assert_eq!(s.digest, d);
        assert!(verify(&d, &s.signature));
    }
    assert_eq!(r.seal_images[0].seal_kind, SealKind::Enterprise);
    assert_eq!(phone.await.unwrap(), (1, Ok(())));
}

#[tokio::test]
async fn generate_round_trip_returns_signature_and_two_colleague_certificates() {
    let relay = relay().await;
    let (mut scan, _, phone) = scanned(
        &relay,
        OperationKind::Generate,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    let digest = Digest32::of(b"attributes");
    let request = OperationRequest::Generate(GenerateRequest {
        platform: platform(),
        project: project(),
        manifest: Bytes(b"manifest".to_vec()),
        signed_attributes: Bytes(b"attributes".to_vec()),
        choose: CertificateChoice {
            min_extra: 0,
            max_extra: 5,
        },
        trial: false,
    });
    let Answer::Confirmed {
        response: OperationResponse::Generate(r),
        ..
    } = scan.perform(request, None).await.unwrap()
    else {
        panic!()
    };
    assert!(verify(&digest, &r.signature));
    assert_eq!(r.encryption_certificates.len(), 3);
    // A trial decryption may follow a Generate on this channel; none does here.
    scan.end().await.unwrap();
    assert_eq!(phone.await.unwrap(), (1, Ok(())));
}

#[tokio::test]
async fn decrypt_round_trip_returns_the_key_the_desktop_expects() {
    let relay = relay().await;
    let (mut scan, _, phone) = scanned(
        &relay,
        OperationKind::Decrypt,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    // Two originator keys as an envelope would carry; the desktop checks the phone's ECDH
    // against the recipient's public key.
    let originators: Vec<p256::SecretKey> = (1..=2u8)
        .map(|i| p256::SecretKey::from_slice(&[i; 32]).unwrap())
        .collect();
    let recipient = p256::SecretKey::from_slice(&[0x42; 32])
        .unwrap()
        .public_key();
    let request = OperationRequest::Decrypt(DecryptRequest {
        platform: platform(),
        project: project(),
        bid_file: "投标文件.bsbid".into(),
        envelope_digest: Digest32::of(b"envelope"),
        tender: SignedTender {
            manifest: Bytes(b"{}".to_vec()),
            signature: Bytes(vec![]),
        },
        recipients: originators
            .iter()
            .map(|k| DecryptRecipient {
                recipient: Bytes(vec![]),
                originator_key: Bytes(k.public_key().to_sec1_bytes().to_vec()),
                ukm: Bytes(vec![]),
            })
            .collect(),
    });
    let Answer::Confirmed {
        response: OperationResponse::Decrypt(r),
        ..
    } = scan.perform(request, None).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(r.recipient, 0);
    let want =
        p256::ecdh::diffie_hellman(originators[0].to_nonzero_scalar(), recipient.as_affine());
    assert_eq!(r.key_encryption_key.0 .0, want.raw_secret_bytes().to_vec());
    assert_eq!(phone.await.unwrap(), (1, Ok(())));
}

#[tokio::test]
async fn refusals_arrive_with_their_reason_and_chinese_message() {
    let relay = relay().await;
    type Case = (fn() -> RefusalReason, &'static str, &'static str);
    let cases: [Case; 4] = [
        (
            || RefusalReason::WrongPin { remaining_tries: 4 },
            "wrong_pin",
            "4",
        ),
        (
            || RefusalReason::CertificateDisabled,
            "certificate_disabled",
            "已禁用",
        ),
        (
            || RefusalReason::CertificateRevoked,
            "certificate_revoked",
            "注销",
        ),
        (
            || RefusalReason::AuthorisationEnded { ended_at: 1 },
            "authorisation_ended",
            "授权",
        ),
    ];
    for (reason, code, text) in cases {
        let (mut scan, _, phone) = scanned(
            &relay,
            OperationKind::Sign,
            opts(180, 30),
            Behaviour::Refuse(reason),
        )
        .await;
        let Answer::Rejected(r) = scan.perform(sign_request(1), None).await.unwrap() else {
            panic!()
        };
        assert_eq!(r.code(), code);
        assert!(r.message_zh().contains(text), "{}", r.message_zh());
        assert_eq!(phone.await.unwrap(), (1, Ok(())));
    }
}

#[tokio::test]
async fn session_mode_five_seals_with_auto_confirm_then_desktop_ends_it() {
    let relay = relay().await;
    let (mut scan, _, phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::ConfirmWithSession { auto_confirm: true },
    )
    .await;
    for n in 1..=5u8 {
        let mode = (n == 1).then_some(SessionModeRequest {
            idle_timeout_secs: 120,
        });
        let Answer::Confirmed {
            response: OperationResponse::Sign(r),
            session,
        } = scan.perform(sign_request(n), mode).await.unwrap()
        else {
            panic!()
        };
        assert!(verify(&Digest32::of(&[n; 32]), &r.signatures[0].signature));
        assert_eq!(session.is_some(), n == 1);
    }
    scan.end().await.unwrap();
    assert_eq!(
        scan.next_event().await,
        Some(ScanEvent::SessionEnded {
            reason: SessionEndReason::EndedByUser,
            by_phone: false
        })
    );
    // The phone saw five requests and then the end of the session.
    assert_eq!(phone.await.unwrap(), (5, Ok(())));
    assert_eq!(relay.sessions(), 0);
}

#[tokio::test]
async fn session_mode_ends_on_both_sides_after_the_idle_timeout() {
    let relay = relay().await;
    let (mut scan, _, phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::ConfirmWithSession {
            auto_confirm: false,
        },
    )
    .await;
    let mode = Some(SessionModeRequest {
        idle_timeout_secs: 1,
    });
    assert!(matches!(
        scan.perform(sign_request(1), mode).await.unwrap(),
        Answer::Confirmed { .. }
    ));
    let ended = tokio::time::timeout(Duration::from_secs(5), scan.next_event())
        .await
        .unwrap();
    // Both ends time out after the same second; under load either may be first.
    assert!(
        matches!(
            ended,
            Some(ScanEvent::SessionEnded {
                reason: SessionEndReason::IdleTimeout,
                ..
            })
        ),
        "{ended:?}"
    );
    let (_, result) = tokio::time::timeout(Duration::from_secs(5), phone)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(result, Ok(()) | Err(ScanError::IdleTimeout)),
        "{result:?}"
    );
}

#[tokio::test]
async fn without_session_mode_a_second_request_is_refused_locally() {
    let relay = relay().await;
    let (mut scan, _, phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    scan.perform(sign_request(1), None).await.unwrap();
    assert_eq!(
        scan.request(sign_request(2), None).await.err(),
        Some(ScanError::SessionEnded)
    );
    let _ = phone.await;
}

#[tokio::test]
async fn an_unscanned_qr_expires() {
    let relay = relay().await;
    let mut scan = client::start_scan(&relay.url(), OperationKind::Auth, opts(1, 30))
        .await
        .unwrap();
    assert!(matches!(
        scan.next_event().await,
        Some(ScanEvent::Waiting { .. })
    ));
    let e = tokio::time::timeout(Duration::from_secs(5), scan.next_event())
        .await
        .unwrap();
    assert_eq!(e, Some(ScanEvent::Expired));
    // A phone that scans too late gets a clear answer.
    let late = client::join(scan.payload(), &hello(), PhoneOptions::default())
        .await
        .err();
    assert!(
        matches!(late, Some(ScanError::Expired | ScanError::UnknownSession)),
        "{late:?}"
    );
}

#[tokio::test]
async fn a_qr_is_single_use_and_unknown_sessions_are_refused() {
    let relay = relay().await;
    let (_scan, _, _phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::Silent,
    )
    .await;
    let payload = _scan.payload().clone();
    assert_eq!(
        client::join(&payload, &hello(), PhoneOptions::default())
            .await
            .err(),
        Some(ScanError::AlreadyScanned)
    );
    let mut unknown = payload.clone();
    unknown.session = SessionId([1; 16]);
    assert_eq!(
        client::join(&unknown, &hello(), PhoneOptions::default())
            .await
            .err(),
        Some(ScanError::UnknownSession)
    );
}

#[tokio::test]
async fn a_phone_that_never_answers_times_out() {
    let relay = relay().await;
    let (mut scan, _, phone) =
        scanned(&relay, OperationKind::Sign, opts(180, 1), Behaviour::Silent).await;
    let id = scan.request(sign_request(1), None).await.unwrap();
    assert_eq!(id, 1);
    let e = tokio::time::timeout(Duration::from_secs(5), scan.next_event())
        .await
        .unwrap();
    assert_eq!(e, Some(ScanEvent::Failed(ScanError::PhoneTimeout)));
    assert_eq!(ScanError::PhoneTimeout.code(), "scan.phone_timeout");
    phone.abort();
}

#[tokio::test]
async fn relay_shutdown_mid_session_fails_both_ends_clearly() {
    let relay = relay().await;
    let (mut scan, _, phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    relay.shutdown().await;
    let e = tokio::time::timeout(Duration::from_secs(5), scan.next_event())
        .await
        .unwrap();
    assert!(
        matches!(e, Some(ScanEvent::Failed(ScanError::RelayLost { .. }))),
        "{e:?}"
    );
    let (_, r) = tokio::time::timeout(Duration::from_secs(5), phone)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(r, Err(ScanError::RelayLost { .. })), "{r:?}");
}

#[test]
fn relay_process_dying_mid_session_fails_both_ends_and_a_restarted_relay_knows_nothing() {
    // The relay runs on its own runtime; dropping that runtime kills every relay task and
    // closes its sockets without a goodbye, as a crash would.
    let relay_rt = tokio::runtime::Runtime::new().unwrap();
    let handle = relay_rt.block_on(Relay::bind("127.0.0.1:0")).unwrap();
    let url = handle.url();
    let addr = handle.addr;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut scan = client::start_scan(&url, OperationKind::Sign, opts(180, 30))
            .await
            .unwrap();
        let payload = scan.payload().clone();
        let phone = tokio::spawn(phone(payload.clone(), Behaviour::Confirm));
        scan.wait_scanned().await.unwrap();
        relay_rt.shutdown_background();
        let e = tokio::time::timeout(Duration::from_secs(5), scan.next_event())
            .await
            .unwrap();
        assert!(
            matches!(e, Some(ScanEvent::Failed(ScanError::RelayLost { .. }))),
            "{e:?}"
        );
        let (_, r) = tokio::time::timeout(Duration::from_secs(5), phone)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(r, Err(ScanError::RelayLost { .. })), "{r:?}");
        // Restarted on the same address: the session is gone, the phone is told so.
        // `shutdown_background` does not wait for the old listener to be dropped: retry the
        // bind for up to 3 s (a crashed relay's port is free again only once its socket is).
        let mut tries = 0;
        let restarted = loop {
            match Relay::bind(&addr.to_string()).await {
                Ok(r) => break r,
                Err(e) if tries < 30 => {
                    tries += 1;
                    eprintln!("rebind {addr}: {e:?}, retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebind {addr}: {e:?}"),
            }
        };
        let mut fresh = payload.clone();
        fresh.relay = restarted.url();
        assert_eq!(
            client::join(&fresh, &hello(), PhoneOptions::default())
                .await
                .err(),
            Some(ScanError::UnknownSession)
        );
        restarted.shutdown().await;
    });
}

/// A relay that applies `f` to frames from `role` at `index`.
struct At<F: Fn(Vec<u8>) -> FaultAction + Send + Sync + 'static> {
    role: Role,
    index: u64,
    f: F,
}

impl<F: Fn(Vec<u8>) -> FaultAction + Send + Sync + 'static> FrameFault for At<F> {
    fn on_frame(&self, _s: SessionId, from: Role, index: u64, frame: Vec<u8>) -> FaultAction {
        if from == self.role && index == self.index {
            (self.f)(frame)
        } else {
            FaultAction::Forward(frame)
        }
    }
}

#[tokio::test]
async fn a_relay_flipping_a_byte_of_the_response_is_caught() {
    let relay = relay_with(Arc::new(At {
        role: Role::Phone,
        index: 1,
        f: |mut f: Vec<u8>| {
            let last = f.len() - 20;
            f[last] ^= 1;
            FaultAction::Forward(f)
        },
    }))
    .await;
    let (mut scan, _, _phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    assert_eq!(
        scan.perform(sign_request(1), None).await.err(),
        Some(ScanError::Tampered)
    );
}

#[tokio::test]
async fn a_relay_flipping_a_byte_of_the_request_is_caught_by_the_phone() {
    let relay = relay_with(Arc::new(At {
        role: Role::Desktop,
        index: 0,
        f: |mut f: Vec<u8>| {
            f[12] ^= 0x80;
            FaultAction::Forward(f)
        },
    }))
    .await;
    let (scan, _, phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    scan.request(sign_request(1), None).await.unwrap();
    assert_eq!(phone.await.unwrap(), (0, Err(ScanError::Tampered)));
}

#[tokio::test]
async fn a_relay_flipping_the_hello_never_gets_the_scan_reported_as_scanned() {
    let relay = relay_with(Arc::new(At {
        role: Role::Phone,
        index: 0,
        f: |mut f: Vec<u8>| {
            let i = f.len() - 1;
            f[i] ^= 1;
            FaultAction::Forward(f)
        },
    }))
    .await;
    // The flipped hello is ignored (it may be a stranger's); no authentic hello follows, so
    // the QR runs out instead of showing "scanned".
    let mut scan = client::start_scan(&relay.url(), OperationKind::Auth, opts(2, 30))
        .await
        .unwrap();
    let _phone = tokio::spawn(phone(scan.payload().clone(), Behaviour::Confirm));
    assert_eq!(scan.wait_scanned().await.err(), Some(ScanError::Expired));
}

/// Hellos the real phone cannot have sent: made for another QR (wrong secret and keys),
/// truncated, garbage, a data frame instead of a hello, a hello with a key off the curve.
fn forged_hellos(payload: &QrPayload) -> Vec<Vec<u8>> {
    let other = DesktopOffer::new(
        &payload.relay,
        payload.op,
        Duration::from_secs(60),
        unix_now(),
    )
    .unwrap();
    let mut forged_payload = other.payload().clone();
    // Same session id, op and expiry as the real QR, only the secret and key unknown.
    forged_payload.session = payload.session;
    forged_payload.expires_at = payload.expires_at;
    let (_, wrong_secret) = PhoneSession::join(&forged_payload, &hello(), unix_now()).unwrap();
    let mut off_curve = wrong_secret.clone();
    off_curve[1] = 0x07;
    vec![
        wrong_secret,
        b"\x01not a hello".to_vec(),
        vec![0x02; 40],
        off_curve,
    ]
}

/// A relay that puts the frames in its slot in front of the real phone's hello (the test
/// fills the slot once it knows the scan's payload).
struct InjectBeforeHello(Arc<Mutex<Vec<Vec<u8>>>>);

impl FrameFault for InjectBeforeHello {
    fn on_frame(&self, _s: SessionId, from: Role, index: u64, frame: Vec<u8>) -> FaultAction {
        if from == Role::Phone && index == 0 {
            let mut all = self.0.lock().unwrap().clone();
            all.push(frame);
            FaultAction::ForwardAll(all)
        } else {
            FaultAction::Forward(frame)
        }
    }
}

async fn relay_injecting_before_hello() -> (RelayHandle, Arc<Mutex<Vec<Vec<u8>>>>) {
    let slot: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let relay = relay_with(Arc::new(InjectBeforeHello(slot.clone()))).await;
    (relay, slot)
}

#[tokio::test]
async fn forged_hellos_up_to_the_limit_are_ignored_and_the_real_phone_completes() {
    let (relay, slot) = relay_injecting_before_hello().await;
    let mut scan = client::start_scan(&relay.url(), OperationKind::Auth, opts(180, 30))
        .await
        .unwrap();
    let forged = forged_hellos(scan.payload());
    assert_eq!(forged.len() as u32, client::MAX_REFUSED_HELLOS);
    *slot.lock().unwrap() = forged;
    let phone = tokio::spawn(phone(scan.payload().clone(), Behaviour::Confirm));
    let (device, binding) = scan.wait_scanned().await.unwrap();
    assert_eq!(device, hello());
    let request = auth_request();
    let answer = scan.perform(request.clone(), None).await.unwrap();
    let (
        Answer::Confirmed {
            response: OperationResponse::Auth(r),
            ..
        },
        OperationRequest::Auth(a),
    ) = (answer, request)
    else {
        panic!("not an auth confirmation")
    };
    // The real phone's signature over this channel's transcript.
    assert!(verify(&a.transcript_hash(&binding), &r.signature));
    assert_eq!(phone.await.unwrap(), (1, Ok(())));
}

#[tokio::test]
async fn one_forged_hello_past_the_limit_fails_the_scan() {
    let (relay, slot) = relay_injecting_before_hello().await;
    let mut scan = client::start_scan(&relay.url(), OperationKind::Auth, opts(180, 30))
        .await
        .unwrap();
    let mut forged = forged_hellos(scan.payload());
    forged.push(forged[0].clone());
    *slot.lock().unwrap() = forged;
    let _phone = tokio::spawn(phone(scan.payload().clone(), Behaviour::Confirm));
    assert_eq!(scan.wait_scanned().await.err(), Some(ScanError::Tampered));
}

#[tokio::test]
async fn a_relay_dropping_the_response_leads_to_a_timeout() {
    let relay = relay_with(Arc::new(At {
        role: Role::Phone,
        index: 1,
        f: |_| FaultAction::Drop,
    }))
    .await;
    let (mut scan, _, _phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 1),
        Behaviour::ConfirmAndLinger,
    )
    .await;
    assert_eq!(
        scan.perform(sign_request(1), None).await.err(),
        Some(ScanError::PhoneTimeout)
    );
}

/// A slow relay: every frame of `role` (both ends when `None`) leaves `ms` (plus 2 ms per
/// index, keeping the order) after it came.
struct Slow {
    role: Option<Role>,
    ms: u64,
}

impl FrameFault for Slow {
    fn on_frame(&self, _s: SessionId, from: Role, index: u64, frame: Vec<u8>) -> FaultAction {
        if self.role.is_none_or(|r| r == from) {
            FaultAction::Delay(Duration::from_millis(self.ms + 2 * index), frame)
        } else {
            FaultAction::Forward(frame)
        }
    }
}

#[tokio::test]
async fn a_slow_relay_delivers_the_phones_last_answer_before_telling_it_left() {
    // The phone answers and leaves at once; its answer is held 400 ms (and, in the second
    // round, the desktop's request too). The desktop must get the answer, not "peer left".
    for role in [Some(Role::Phone), None] {
        let relay = relay_with(Arc::new(Slow { role, ms: 400 })).await;
        let (mut scan, _, phone) = scanned(
            &relay,
            OperationKind::Auth,
            opts(180, 30),
            Behaviour::Confirm,
        )
        .await;
        let answer = scan.perform(auth_request(), None).await;
        assert!(
            matches!(answer, Ok(Answer::Confirmed { .. })),
            "the delayed answer arrives: {:?}",
            answer.err()
        );
        assert_eq!(phone.await.unwrap(), (1, Ok(())));
        relay.shutdown().await;
    }
}

#[tokio::test]
async fn a_relay_delaying_the_hello_past_expiry_gives_expired() {
    let relay = relay_with(Arc::new(At {
        role: Role::Phone,
        index: 0,
        f: |f| FaultAction::Delay(Duration::from_millis(3500), f),
    }))
    .await;
    let mut scan = client::start_scan(&relay.url(), OperationKind::Auth, opts(2, 30))
        .await
        .unwrap();
    let _phone = tokio::spawn(phone(scan.payload().clone(), Behaviour::Confirm));
    assert_eq!(scan.wait_scanned().await.err(), Some(ScanError::Expired));
}

#[tokio::test]
async fn a_relay_reordering_frames_is_caught() {
    // The phone's first response (index 1) is held back and delivered after its second.
    let relay = relay_with(Arc::new(At {
        role: Role::Phone,
        index: 1,
        f: FaultAction::HoldForReorder,
    }))
    .await;
    let (mut scan, _, _phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 2),
        Behaviour::ConfirmWithSession { auto_confirm: true },
    )
    .await;
    // Nothing arrives for request 1 (held), so the desktop times out rather than accept.
    let r = scan
        .perform(
            sign_request(1),
            Some(SessionModeRequest {
                idle_timeout_secs: 60,
            }),
        )
        .await;
    assert_eq!(r.err(), Some(ScanError::PhoneTimeout));

    // With the phone sending two frames in a row (answer, then end of session) the swap is
    // seen directly.
    let relay = relay_with(Arc::new(At {
        role: Role::Phone,
        index: 1,
        f: FaultAction::HoldForReorder,
    }))
    .await;
    let mut scan = client::start_scan(&relay.url(), OperationKind::Sign, opts(180, 30))
        .await
        .unwrap();
    let payload = scan.payload().clone();
    let phone = tokio::spawn(async move {
        let mut link = client::join(&payload, &hello(), PhoneOptions::default())
            .await
            .unwrap();
        let req = link.next_request().await.unwrap().unwrap();
        let response = respond_to(&link, &req);
        let grant = SessionGrant {
            idle_timeout_secs: 60,
            auto_confirm: true,
            max_requests: 64,
            expires_at: u64::MAX,
        };
        link.respond(
            req,
            OperationOutcome::Confirmed {
                response,
                session: Some(grant),
            },
        )
        .await
        .unwrap();
        link.end(SessionEndReason::EndedByUser).await
    });
    scan.wait_scanned().await.unwrap();
    let r = scan
        .perform(
            sign_request(1),
            Some(SessionModeRequest {
                idle_timeout_secs: 60,
            }),
        )
        .await;
    assert_eq!(
        r.err(),
        Some(ScanError::OutOfOrder {
            expected: 1,
            got: 2
        })
    );
    let _ = phone.await;
}

/// One forwarded frame: session, sender, index, bytes.
type Recorded = (SessionId, Role, u64, Vec<u8>);

/// Remembers every frame; replays stored frames in place of later ones.
#[derive(Default)]
struct Recorder {
    frames: Mutex<Vec<Recorded>>,
    /// Replace (from, index) of any session with the stored frame (from, index_src) of the
    /// first session seen.
    replace: Option<(Role, u64, u64, bool)>,
}

impl FrameFault for Recorder {
    fn on_frame(&self, s: SessionId, from: Role, index: u64, frame: Vec<u8>) -> FaultAction {
        let mut frames = self.frames.lock().unwrap();
        frames.push((s, from, index, frame.clone()));
        if let Some((role, at, src, other_session)) = self.replace {
            if role == from && index == at {
                let first = frames.first().map(|f| f.0);
                let found = frames.iter().find(|(fs, fr, fi, _)| {
                    *fr == role
                        && *fi == src
                        && (if other_session {
                            Some(*fs) == first && *fs != s
                        } else {
                            *fs == s
                        })
                });
                if let Some((_, _, _, old)) = found {
                    return FaultAction::Forward(old.clone());
                }
            }
        }
        FaultAction::Forward(frame)
    }
}

#[tokio::test]
async fn a_replayed_response_is_caught() {
    // Session mode: the relay answers request 2 with the phone's (authentic) answer to request 1.
    let relay = relay_with(Arc::new(Recorder {
        replace: Some((Role::Phone, 2, 1, false)),
        ..Default::default()
    }))
    .await;
    let (mut scan, _, _phone) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::ConfirmWithSession { auto_confirm: true },
    )
    .await;
    scan.perform(
        sign_request(1),
        Some(SessionModeRequest {
            idle_timeout_secs: 60,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        scan.perform(sign_request(2), None).await.err(),
        Some(ScanError::OutOfOrder {
            expected: 2,
            got: 1
        })
    );
}

#[tokio::test]
async fn a_response_from_another_session_is_caught() {
    let relay = relay_with(Arc::new(Recorder {
        replace: Some((Role::Phone, 1, 1, true)),
        ..Default::default()
    }))
    .await;
    // Session A completes normally (its response is recorded).
    let (mut a, _, _pa) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    a.perform(sign_request(1), None).await.unwrap();
    // Session B receives A's response instead of its own.
    let (mut b, _, _pb) = scanned(
        &relay,
        OperationKind::Sign,
        opts(180, 30),
        Behaviour::Confirm,
    )
    .await;
    assert_eq!(
        b.perform(sign_request(1), None).await.err(),
        Some(ScanError::Tampered)
    );
}

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Joins session `sid` as a bare WebSocket, presenting `token` (the join header) if any.
async fn raw_join(
    relay: &RelayHandle,
    sid: &SessionId,
    token: Option<&str>,
) -> Result<RawWs, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("ws://{}{}", relay.addr, bidseal_scan::wire::phone_path(sid));
    let mut request = url.into_client_request().unwrap();
    if let Some(t) = token {
        request
            .headers_mut()
            .insert(bidseal_scan::wire::JOIN_TOKEN_HEADER, t.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.map(|c| c.0)
}

/// The HTTP status of a refused WebSocket handshake (`None`: not an HTTP refusal).
fn http_status<T>(r: &Result<T, tokio_tungstenite::tungstenite::Error>) -> Option<u16> {
    match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Some(resp.status().as_u16()),
        _ => None,
    }
}

/// The phone of `payload` as a bare WebSocket (with the right join token).
async fn raw_phone(relay: &RelayHandle, payload: &QrPayload) -> RawWs {
    let token = payload.join_token().unwrap().to_base64();
    raw_join(relay, &payload.session, Some(&token))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stranger_knowing_only_the_session_id_is_refused_and_the_real_phone_completes() {
    let relay = relay().await;
    let mut scan = client::start_scan(&relay.url(), OperationKind::Sign, opts(180, 30))
        .await
        .unwrap();
    let payload = scan.payload().clone();
    let sid = payload.session;
    // The stranger read the session id (e.g. from a proxy log of the desktop's request) but
    // not the QR fragment: no token, a made-up token, the token of another QR for the same
    // session id, the real token of another session id.
    let other_qr = {
        let mut p = payload.clone();
        p.secret = QrSecret::from_bytes([0x5a; 16]);
        p.join_token().unwrap().to_base64()
    };
    let other_sid = {
        let mut p = payload.clone();
        p.session = SessionId([3; 16]);
        p.join_token().unwrap().to_base64()
    };
    let real = payload.join_token().unwrap().to_base64();
    let mut flipped = real.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [
        None,
        Some(""),
        Some("not base64 !"),
        Some(other_qr.as_str()),
        Some(other_sid.as_str()),
        Some(flipped.as_str()),
        Some(&real[..real.len() - 1]),
    ] {
        let r = raw_join(&relay, &sid, bad).await;
        assert_eq!(http_status(&r), Some(403), "token {bad:?}");
    }
    // The desktop noticed nothing and the real phone completes.
    let phone = tokio::spawn(phone(payload, Behaviour::Confirm));
    let (device, _) = scan.wait_scanned().await.unwrap();
    assert_eq!(device, hello());
    // While it is joined: the right token again is 409 (single use), a stranger still 403.
    assert_eq!(
        http_status(&raw_join(&relay, &sid, Some(&real)).await),
        Some(409)
    );
    assert_eq!(http_status(&raw_join(&relay, &sid, None).await), Some(403));
    assert!(matches!(
        scan.perform(sign_request(1), None).await.unwrap(),
        Answer::Confirmed { .. }
    ));
    assert_eq!(phone.await.unwrap(), (1, Ok(())));
    // After the scan the session is gone.
    assert_eq!(
        http_status(&raw_join(&relay, &sid, Some(&real)).await),
        Some(404)
    );
    relay.shutdown().await;
}

async fn relay_error_of(ws: &mut RawWs) -> Option<String> {
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            if let Ok(bidseal_scan::wire::RelayEvent::Error { code, .. }) =
                serde_json::from_str(t.as_str())
            {
                return Some(code);
            }
        }
    }
    None
}

#[tokio::test]
async fn oversized_malformed_text_and_flooding_frames_end_the_session_with_a_reason() {
    let relay = relay().await;
    // Oversized: 1.5 MiB binary frame.
    let mut scan = client::start_scan(&relay.url(), OperationKind::Sign, opts(180, 30))
        .await
        .unwrap();
    let mut ws = raw_phone(&relay, scan.payload()).await;
    ws.send(Message::binary(vec![0u8; 1536 * 1024]))
        .await
        .unwrap();
    assert_eq!(
        relay_error_of(&mut ws).await.as_deref(),
        Some(bidseal_scan::wire::RELAY_TOO_LARGE)
    );
    let mut last = None;
    while let Some(e) = scan.next_event().await {
        last = Some(e);
    }
    assert!(
        matches!(last, Some(ScanEvent::Failed(ScanError::Relay { ref code, .. })) if code == "relay.too_large"),
        "{last:?}"
    );

    // Malformed: garbage instead of a hello, once more than the desktop ignores.
    let mut scan = client::start_scan(&relay.url(), OperationKind::Sign, opts(180, 30))
        .await
        .unwrap();
    let mut ws = raw_phone(&relay, scan.payload()).await;
    for _ in 0..=client::MAX_REFUSED_HELLOS {
        ws.send(Message::binary(b"\x01not a hello".to_vec()))
            .await
            .unwrap();
    }
    assert!(matches!(
        scan.wait_scanned().await.err(),
        Some(ScanError::Malformed { .. })
    ));
    drop(ws);

    // Text frames are not forwarded.
    let scan = client::start_scan(&relay.url(), OperationKind::Sign, opts(180, 30))
        .await
        .unwrap();
    let mut ws = raw_phone(&relay, scan.payload()).await;
    ws.send(Message::text("{\"type\":\"hello\"}"))
        .await
        .unwrap();
    assert_eq!(
        relay_error_of(&mut ws).await.as_deref(),
        Some(bidseal_scan::wire::RELAY_BAD_FRAME)
    );

    // Flooding: 200 frames at once exceed the rate limit (raw desktop that ignores them).
    let sid = SessionId([7; 16]);
    let token =
        bidseal_scan::wire::JoinToken::derive(&QrSecret::from_bytes([1; 16]), &sid).unwrap();
    let url = format!(
        "ws://{}{}",
        relay.addr,
        bidseal_scan::wire::desktop_path(&sid, 60, &token.commitment())
    );
    let (_desktop, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut ws = raw_join(&relay, &sid, Some(&token.to_base64()))
        .await
        .unwrap();
    for _ in 0..200 {
        if ws.send(Message::binary(vec![2u8; 64])).await.is_err() {
            break;
        }
    }
    assert_eq!(
        relay_error_of(&mut ws).await.as_deref(),
        Some(bidseal_scan::wire::RELAY_RATE_LIMITED)
    );
    drop(scan);
    relay.shutdown().await;
}

#[tokio::test]
async fn garbage_paths_and_payloads_get_http_errors_not_panics() {
    let relay = relay().await;
    let base = format!("ws://{}", relay.addr);
    let jc =
        bidseal_scan::wire::JoinToken::derive(&QrSecret::from_bytes([1; 16]), &SessionId([1; 16]))
            .unwrap()
            .commitment()
            .to_base64();
    let cases = [
        ("/v1/sessions/not-base64!/phone".to_string(), 400),
        (format!("/v1/sessions/AAAA/desktop?ttl=5&jc={jc}"), 400),
        (
            format!("/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA/desktop?ttl=99999&jc={jc}"),
            400,
        ),
        (
            format!("/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA/desktop?ttl=0&jc={jc}"),
            400,
        ),
        // Without (or with a malformed) commitment no session is created.
        (
            "/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA/desktop?ttl=5".to_string(),
            400,
        ),
        (
            "/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA/desktop?ttl=5&jc=AAAA".to_string(),
            400,
        ),
        // Unknown session.
        ("/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA/phone".to_string(), 404),
        ("/v1/nothing".to_string(), 404),
    ];
    for (path, status) in cases {
        let r = tokio_tungstenite::connect_async(format!("{base}{path}")).await;
        assert_eq!(http_status(&r), Some(status), "{path}");
    }
    assert_eq!(relay.sessions(), 0, "no refused request created a session");
    // The relay still serves.
    let scan = client::start_scan(&relay.url(), OperationKind::Sign, opts(180, 30)).await;
    assert!(scan.is_ok());
}
