//! Scenarios of the sans-IO channel: a desktop and a phone talking frame by frame, and an
//! attacker in the middle replaying, flipping and mixing frames.

use bidseal_scan::*;
use std::time::Duration;

const NOW: u64 = 1_800_000_000;

fn platform() -> PlatformRef {
    PlatformRef {
        id: "gz-ggzy".into(),
        name: "广州公共资源交易中心".into(),
    }
}

fn hello() -> PhoneHello {
    PhoneHello {
        device: "张三的手机".into(),
        app: "bidseal-phone-test".into(),
    }
}

fn sign_request(n: u8) -> OperationRequest {
    OperationRequest::Sign(SignRequest {
        platform: platform(),
        project: None,
        items: vec![SignItem {
            document: "商务标.pdf".into(),
            pages: vec![u32::from(n)],
            seal_kind: SealKind::Enterprise,
            signed_attributes: Bytes(vec![0x31, 1, n]),
        }],
        lookup: vec![],
    })
}

fn sign_response(n: u8) -> OperationResponse {
    OperationResponse::Sign(SignResponse {
        signatures: vec![ItemSignature {
            digest: Digest32([n; 32]),
            signature: Bytes([vec![0x30], vec![n; 69]].concat()),
        }],
        certificate_chain: vec![Bytes(vec![0x30, 0x82])],
        seal_images: vec![],
    })
}

fn pair(op: OperationKind) -> (DesktopSession, PhoneSession) {
    let offer = DesktopOffer::new("http://127.0.0.1:1", op, Duration::from_secs(180), NOW).unwrap();
    let payload = QrPayload::parse(&offer.payload().to_url()).unwrap();
    let (phone, hello_frame) = PhoneSession::join(&payload, &hello(), NOW + 1).unwrap();
    let (desktop, got) = offer.accept_hello(&hello_frame, NOW + 2).unwrap();
    assert_eq!(got, hello());
    assert_eq!(desktop.binding(), phone.binding());
    (desktop, phone)
}

fn expect_request(phone: &mut PhoneSession, frame: &[u8]) -> IncomingRequest {
    match phone.open_frame(frame).unwrap() {
        PhoneEvent::Request(r) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

#[test]
fn one_sign_round_trip_then_the_channel_is_spent() {
    let (mut desktop, mut phone) = pair(OperationKind::Sign);
    let (pending, frame) = desktop.seal_request(sign_request(1), None).unwrap();
    let req = expect_request(&mut phone, &frame);
    assert!(req.needs_confirmation);
    assert_eq!(req.request, sign_request(1));
    let outcome = OperationOutcome::Confirmed {
        response: sign_response(1),
        session: None,
    };
    let answer = phone.seal_response(req, outcome.clone()).unwrap();
    assert_eq!(
        desktop.open_frame(&answer).unwrap(),
        DesktopEvent::Outcome {
            id: pending.id,
            outcome
        }
    );
    assert!(!desktop.can_request());
    assert!(matches!(
        desktop.seal_request(sign_request(2), None),
        Err(ScanError::SessionEnded)
    ));
    assert!(!phone.is_open());
}

#[test]
fn session_mode_carries_five_requests_with_auto_confirm_then_ends() {
    let (mut desktop, mut phone) = pair(OperationKind::Sign);
    let mode = SessionModeRequest {
        idle_timeout_secs: 600,
    };
    let grant = SessionGrant {
        idle_timeout_secs: 300,
        auto_confirm: true,
        max_requests: 64,
        expires_at: u64::MAX,
    };
    for n in 1..=5u8 {
        let (_, frame) = desktop
            .seal_request(sign_request(n), (n == 1).then_some(mode))
            .unwrap();
        let req = expect_request(&mut phone, &frame);
        assert_eq!(req.needs_confirmation, n == 1, "request {n}");
        let session = (n == 1).then_some(grant);
        let answer = phone
            .seal_response(
                req,
                OperationOutcome::Confirmed {
                    response: sign_response(n),
                    session,
                },
            )
            .unwrap();
        assert!(
            matches!(desktop.open_frame(&answer).unwrap(), DesktopEvent::Outcome { id, .. } if id == u32::from(n))
        );
        assert_eq!(desktop.grant(), Some(grant));
    }
    let end = desktop.seal_end(SessionEndReason::EndedByUser).unwrap();
    assert!(matches!(
        phone.open_frame(&end).unwrap(),
        PhoneEvent::Ended {
            reason: SessionEndReason::EndedByUser
        }
    ));
    assert!(!phone.is_open());
    assert_eq!(
        desktop.seal_request(sign_request(6), None).err(),
        Some(ScanError::SessionEnded)
    );
}

fn sign_in_session_mode() -> (DesktopSession, PhoneSession, Vec<u8>) {
    let (mut desktop, mut phone) = pair(OperationKind::Sign);
    let (_, frame) = desktop
        .seal_request(
            sign_request(1),
            Some(SessionModeRequest {
                idle_timeout_secs: 60,
            }),
        )
        .unwrap();
    let req = expect_request(&mut phone, &frame);
    let answer = phone
        .seal_response(
            req,
            OperationOutcome::Confirmed {
                response: sign_response(1),
                session: Some(SessionGrant {
                    idle_timeout_secs: 60,
                    auto_confirm: false,
                    max_requests: 64,
                    expires_at: u64::MAX,
                }),
            },
        )
        .unwrap();
    (desktop, phone, answer)
}

#[test]
fn flipped_byte_replayed_and_foreign_frames_are_detected() {
    // Foreign: a frame of another session (same sequence number) does not authenticate, in
    // either direction of use.
    let (mut desktop, mut phone) = pair(OperationKind::Sign);
    let (mut other_desktop, mut other_phone) = pair(OperationKind::Sign);
    let (_, frame) = desktop.seal_request(sign_request(1), None).unwrap();
    let (_, foreign) = other_desktop.seal_request(sign_request(1), None).unwrap();
    assert_eq!(
        other_phone.open_frame(&frame).err(),
        Some(ScanError::Tampered)
    );
    assert_eq!(phone.open_frame(&foreign).err(), Some(ScanError::Tampered));
    // The channel stays poisoned even for the genuine frame afterwards.
    assert_eq!(phone.open_frame(&frame).err(), Some(ScanError::Tampered));

    // Flipped: one bit of the phone's answer changed on the way, opened by the desktop of the
    // same session (which would have accepted the genuine answer, see below).
    let (mut desktop, _phone, answer) = sign_in_session_mode();
    let mut flipped = answer.clone();
    let last = flipped.len() - 20;
    flipped[last] ^= 0x01;
    assert_eq!(
        desktop.open_frame(&flipped).err(),
        Some(ScanError::Tampered)
    );
    assert_eq!(desktop.open_frame(&answer).err(), Some(ScanError::Tampered));

    // Replayed: the genuine answer, opened once (accepted), then again (authentic but old).
    let (mut desktop, _phone, answer) = sign_in_session_mode();
    assert!(matches!(
        desktop.open_frame(&answer).unwrap(),
        DesktopEvent::Outcome { id: 1, .. }
    ));
    assert_eq!(
        desktop.open_frame(&answer).err(),
        Some(ScanError::OutOfOrder {
            expected: 2,
            got: 1
        })
    );
}

#[test]
fn every_single_byte_flip_of_a_frame_fails_authentication_or_ordering() {
    // Each flip gets a session of its own (a failed frame poisons the channel). In that
    // session the phone first opens the genuine frame (so the keys and state are right), then
    // the flipped copy: an authentic frame would now be `OutOfOrder` (a replay of seq 0), so
    // anything but `Tampered`/`Malformed` means the flip got past authentication.
    let request = || {
        OperationRequest::Auth(AuthRequest {
            platform: platform(),
            purpose: AuthPurpose::Login,
            project: None,
            requester: None,
            challenge: Digest32([5; 32]),
            issued_at: NOW,
        })
    };
    let len = {
        let (mut d, _) = pair(OperationKind::Auth);
        d.seal_request(request(), None).unwrap().1.len()
    };
    for i in 0..len {
        for bit in [0x01u8, 0x80] {
            let (mut desktop, mut phone) = pair(OperationKind::Auth);
            let (_, frame) = desktop.seal_request(request(), None).unwrap();
            assert_eq!(frame.len(), len);
            let mut bad = frame.clone();
            bad[i] ^= bit;
            assert_eq!(expect_request(&mut phone, &frame).request, request());
            let err = phone.open_frame(&bad).err();
            assert!(
                matches!(err, Some(ScanError::Tampered | ScanError::Malformed { .. })),
                "flip {bit:#04x} at {i}: {err:?}"
            );
        }
    }
    // The same for the phone's answer, opened by the desktop of the same session.
    let (_, _, answer) = sign_in_session_mode();
    for i in 0..answer.len() {
        let (mut desktop, _phone, answer) = sign_in_session_mode();
        let mut bad = answer.clone();
        bad[i] ^= 0x80;
        assert!(matches!(
            desktop.open_frame(&answer).unwrap(),
            DesktopEvent::Outcome { id: 1, .. }
        ));
        let err = desktop.open_frame(&bad).err();
        assert!(
            matches!(err, Some(ScanError::Tampered | ScanError::Malformed { .. })),
            "answer flip at {i}: {err:?}"
        );
    }
}

#[test]
fn every_single_byte_flip_of_the_hello_is_refused_and_the_offer_survives() {
    let offer = DesktopOffer::new(
        "http://127.0.0.1:1",
        OperationKind::Auth,
        Duration::from_secs(180),
        NOW,
    )
    .unwrap();
    let payload = offer.payload().clone();
    let (_, hello_frame) = PhoneSession::join(&payload, &hello(), NOW).unwrap();
    let mut offer = offer;
    for i in 0..hello_frame.len() {
        let mut bad = hello_frame.clone();
        bad[i] ^= 0x80;
        let refused = offer.accept_hello(&bad, NOW + 1).err().unwrap();
        assert!(
            matches!(
                refused.error,
                ScanError::Tampered | ScanError::Malformed { .. } | ScanError::Protocol { .. }
            ),
            "hello flip at {i}: {:?}",
            refused.error
        );
        // Not the phone's hello: the offer comes back unchanged to wait for the real one.
        offer = *refused.offer.expect("offer handed back");
    }
    let (_, got) = offer.accept_hello(&hello_frame, NOW + 1).unwrap();
    assert_eq!(got, hello());
}

#[test]
fn a_phone_cannot_join_an_expired_qr_and_the_desktop_refuses_a_late_hello() {
    let offer = DesktopOffer::new(
        "http://127.0.0.1:1",
        OperationKind::Auth,
        Duration::from_secs(120),
        NOW,
    )
    .unwrap();
    let payload = offer.payload().clone();
    assert_eq!(
        PhoneSession::join(&payload, &hello(), NOW + 121).err(),
        Some(ScanError::Expired)
    );
    let (_, hello_frame) = PhoneSession::join(&payload, &hello(), NOW + 100).unwrap();
    assert_eq!(
        offer
            .accept_hello(&hello_frame, NOW + 121)
            .err()
            .map(|r| r.error),
        Some(ScanError::Expired)
    );
}

#[test]
fn a_hello_made_for_another_qr_is_refused() {
    let offer = DesktopOffer::new(
        "http://127.0.0.1:1",
        OperationKind::Auth,
        Duration::from_secs(120),
        NOW,
    )
    .unwrap();
    let other = DesktopOffer::new(
        "http://127.0.0.1:1",
        OperationKind::Auth,
        Duration::from_secs(120),
        NOW,
    )
    .unwrap();
    let (_, hello_frame) = PhoneSession::join(other.payload(), &hello(), NOW).unwrap();
    assert_eq!(
        offer.accept_hello(&hello_frame, NOW).err().map(|r| r.error),
        Some(ScanError::Tampered)
    );
}

#[test]
fn operations_other_than_the_qrs_are_refused_on_both_ends() {
    // Desktop end: it will not seal a request of another operation.
    let (mut desktop, mut phone) = pair(OperationKind::Auth);
    assert!(matches!(
        desktop.seal_request(sign_request(1), None),
        Err(ScanError::OperationMismatch { .. })
    ));
    // Phone end: it will not seal an answer of another operation to an auth request. (A
    // desktop or phone that skips its own check is refused on receipt: `session.rs` unit
    // tests, which can seal frames below these checks.)
    let (_, frame) = desktop
        .seal_request(
            OperationRequest::Auth(AuthRequest {
                platform: platform(),
                purpose: AuthPurpose::Login,
                project: None,
                requester: None,
                challenge: Digest32([5; 32]),
                issued_at: NOW,
            }),
            None,
        )
        .unwrap();
    let req = expect_request(&mut phone, &frame);
    assert!(matches!(
        phone.seal_response(
            req,
            OperationOutcome::Confirmed {
                response: sign_response(1),
                session: None,
            },
        ),
        Err(ScanError::OperationMismatch { .. })
    ));
}

#[test]
fn auth_transcript_binds_session_platform_and_challenge() {
    let (d1, _) = pair(OperationKind::Auth);
    let (d2, _) = pair(OperationKind::Auth);
    let req = AuthRequest {
        platform: platform(),
        purpose: AuthPurpose::Login,
        project: None,
        requester: None,
        challenge: Digest32([5; 32]),
        issued_at: NOW,
    };
    let h1 = req.transcript_hash(d1.binding());
    assert_ne!(h1, req.transcript_hash(d2.binding()));
    let mut other = req.clone();
    other.platform.id = "sz-ggzy".into();
    assert_ne!(h1, other.transcript_hash(d1.binding()));
    other = req.clone();
    other.challenge = Digest32([6; 32]);
    assert_ne!(h1, other.transcript_hash(d1.binding()));
}

#[test]
fn refusal_reasons_have_codes_and_chinese_messages() {
    let reasons = [
        RefusalReason::RejectedByUser,
        RefusalReason::WrongPin { remaining_tries: 3 },
        RefusalReason::PinLocked,
        RefusalReason::CertificateDisabled,
        RefusalReason::CertificateRevoked,
        RefusalReason::CertificateExpired,
        RefusalReason::AuthorisationEnded { ended_at: NOW },
        RefusalReason::BeforeOpeningTime { opens_at: NOW },
        RefusalReason::NotARecipient,
        RefusalReason::NoSuitableCertificate,
        RefusalReason::SealNotAvailable {
            seal_kind: SealKind::Personal { index: 2 },
        },
        RefusalReason::PlatformNotAllowed,
        RefusalReason::CoSigningUnavailable,
        RefusalReason::InvalidRequest {
            detail: "空".into(),
        },
    ];
    for r in reasons {
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["code"], r.code());
        assert_eq!(serde_json::from_value::<RefusalReason>(json).unwrap(), r);
        assert!(r
            .message_zh()
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
    }
    assert!(RefusalReason::WrongPin { remaining_tries: 3 }
        .message_zh()
        .contains('3'));
    assert!(RefusalReason::CertificateDisabled
        .message_zh()
        .contains("已禁用"));
    assert!(RefusalReason::CertificateRevoked
        .message_zh()
        .contains("注销"));
    assert!(RefusalReason::AuthorisationEnded { ended_at: 0 }
        .message_zh()
        .contains("授权结束"));
}

#[test]
fn auth_transcript_binds_purpose_and_project() {
    let (desktop, _) = pair(OperationKind::Auth);
    let base = AuthRequest {
        platform: PlatformRef {
            id: "gz-ggzy".into(),
            name: "广州".into(),
        },
        purpose: AuthPurpose::Login,
        project: None,
        requester: None,
        challenge: Digest32([7; 32]),
        issued_at: NOW,
    };
    let h = base.transcript_hash(desktop.binding());
    let mut bind = base.clone();
    bind.purpose = AuthPurpose::Bind;
    assert_ne!(h, bind.transcript_hash(desktop.binding()), "purpose");
    let mut with_project = base.clone();
    with_project.project = Some(ProjectRef {
        code: "P1".into(),
        name: "工程".into(),
    });
    let hp = with_project.transcript_hash(desktop.binding());
    assert_ne!(h, hp, "project");
    // Length prefixes: moving a character between code and name changes the hash.
    let mut shifted = with_project.clone();
    shifted.project = Some(ProjectRef {
        code: "P".into(),
        name: "1工程".into(),
    });
    assert_ne!(hp, shifted.transcript_hash(desktop.binding()));
}

/// The requester is bound: another address, another agent, a requester added or taken
/// away, or a character moved between address and agent gives another hash.
#[test]
fn auth_transcript_binds_the_requester() {
    let (desktop, _) = pair(OperationKind::Auth);
    let with = |address: &str, agent: &str| AuthRequest {
        platform: platform(),
        purpose: AuthPurpose::Login,
        project: None,
        requester: Some(Requester {
            address: address.into(),
            agent: agent.into(),
        }),
        challenge: Digest32([7; 32]),
        issued_at: NOW,
    };
    let base = with("203.0.113.5", "Chrome 131 / Windows");
    let h = base.transcript_hash(desktop.binding());
    for (what, other) in [
        ("address", with("198.51.100.7", "Chrome 131 / Windows")),
        ("agent", with("203.0.113.5", "Chrome 131 / Linux")),
        ("shifted", with("203.0.113.", "5Chrome 131 / Windows")),
        (
            "none",
            AuthRequest {
                requester: None,
                ..base.clone()
            },
        ),
    ] {
        assert_ne!(h, other.transcript_hash(desktop.binding()), "{what}");
    }
    // The requester travels in the request and reads back the same (and stays out of the
    // JSON when there is none).
    let json = serde_json::to_string(&base).expect("json");
    assert_eq!(
        serde_json::from_str::<AuthRequest>(&json).expect("parse"),
        base
    );
    let none = AuthRequest {
        requester: None,
        ..base.clone()
    };
    assert!(!serde_json::to_string(&none)
        .expect("json")
        .contains("requester"));
    // An unknown field in a requester is refused, not ignored.
    let extra = json.replace("\"agent\"", "\"shown\":\"x\",\"agent\"");
    assert!(serde_json::from_str::<AuthRequest>(&extra).is_err());
}

/// A hostile requester cannot flood, hide or reorder the phone's screen line.
#[test]
fn a_hostile_requester_is_cut_and_cleaned_for_the_screen() {
    let long = Requester {
        address: "203.0.113.5".into(),
        agent: "A".repeat(10 * 1024),
    };
    let shown = long.agent_on_screen();
    assert_eq!(shown.chars().count(), MAX_REQUESTER_SCREEN_CHARS + 1);
    assert!(shown.ends_with('…'));
    let hostile = Requester {
        address: "203.0.113.5\r\n\u{1b}[2J".into(),
        agent: "Chrome\u{202E}swodniW\u{202C} / \u{200B}\u{2066}Linux\u{2069}\n\t确认".into(),
    };
    assert_eq!(hostile.address_on_screen(), "203.0.113.5 [2J");
    assert_eq!(hostile.agent_on_screen(), "ChromeswodniW / Linux 确认");
    assert_eq!(screen_safe("\u{202E}\u{0}  ", 10), "（空）");
    assert_eq!(screen_safe("短", 10), "短");
    assert_eq!(screen_safe("一二三四五", 3), "一二三…");
}

#[test]
fn envelope_ukm_round_trips_and_rejects_other_bytes() {
    let ukm = EnvelopeUkm {
        tender: Digest32([1; 32]),
        manifest: Digest32([2; 32]),
    };
    let bytes = ukm.to_bytes();
    assert_eq!(bytes.len(), UKM_LEN);
    assert!(bytes.starts_with(b"bidseal-ukm/v1"));
    assert_eq!(EnvelopeUkm::parse(&bytes), Some(ukm));
    assert_eq!(EnvelopeUkm::parse(&bytes[..UKM_LEN - 1]), None);
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(EnvelopeUkm::parse(&longer), None);
    let mut relabelled = bytes.clone();
    relabelled[0] = b'B';
    assert_eq!(EnvelopeUkm::parse(&relabelled), None);
}

#[test]
fn a_generate_scan_admits_exactly_one_trial_decrypt_and_nothing_else() {
    let gen_request = || {
        OperationRequest::Generate(GenerateRequest {
            platform: platform(),
            project: ProjectRef {
                code: "P".into(),
                name: "p".into(),
            },
            manifest: Bytes(b"m".to_vec()),
            signed_attributes: Bytes(b"a".to_vec()),
            choose: CertificateChoice {
                min_extra: 0,
                max_extra: 0,
            },
            trial: true,
        })
    };
    let decrypt_request = || {
        OperationRequest::Decrypt(DecryptRequest {
            platform: platform(),
            project: ProjectRef {
                code: "P".into(),
                name: "p".into(),
            },
            bid_file: "b".into(),
            envelope_digest: Digest32([0; 32]),
            tender: SignedTender {
                manifest: Bytes(vec![]),
                signature: Bytes(vec![]),
            },
            recipients: vec![],
        })
    };
    let gen_response = || {
        OperationResponse::Generate(GenerateResponse {
            signature: Bytes(vec![0x30; 8]),
            certificate_chain: vec![Bytes(vec![0x30, 0x82])],
            encryption_certificates: vec![],
        })
    };
    // Before the Generate: a decrypt is not allowed on a generate channel.
    let (mut desktop, _) = pair(OperationKind::Generate);
    assert!(desktop.seal_request(decrypt_request(), None).is_err());
    // After a confirmed Generate: exactly one decrypt.
    let (mut desktop, mut phone) = pair(OperationKind::Generate);
    let (_, frame) = desktop.seal_request(gen_request(), None).unwrap();
    let req = expect_request(&mut phone, &frame);
    let answer = phone
        .seal_response(
            req,
            OperationOutcome::Confirmed {
                response: gen_response(),
                session: None,
            },
        )
        .unwrap();
    desktop.open_frame(&answer).unwrap();
    assert!(phone.is_open(), "waiting for the trial");
    // A second Generate is not the trial.
    assert!(desktop.seal_request(gen_request(), None).is_err());
    let (_, frame) = desktop.seal_request(decrypt_request(), None).unwrap();
    let req = expect_request(&mut phone, &frame);
    assert_eq!(req.request.kind(), OperationKind::Decrypt);
    let answer = phone
        .seal_response(
            req,
            OperationOutcome::Refused {
                reason: RefusalReason::NotARecipient,
            },
        )
        .unwrap();
    desktop.open_frame(&answer).unwrap();
    assert!(!phone.is_open(), "one trial only");
    assert!(!desktop.can_request());
    assert!(desktop.seal_request(decrypt_request(), None).is_err());
}
