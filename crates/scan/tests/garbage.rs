//! Hostile input never panics: random and mutated payload URLs, frames and JSON messages are
//! refused with typed errors (a poor man's fuzzing pass that runs in the default test suite).

use bidseal_scan::*;
use std::time::Duration;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn random_and_mutated_payload_urls_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let offer = DesktopOffer::new(
        "http://127.0.0.1:47001",
        OperationKind::Sign,
        Duration::from_secs(180),
        1_800_000_000,
    )
    .unwrap();
    let url = offer.payload().to_url();
    let mut refused = 0;
    for i in 0..20_000 {
        let text = if i % 2 == 0 {
            let n = (rng.next() % 300) as usize;
            String::from_utf8_lossy(&rng.bytes(n)).into_owned()
        } else {
            let mut b = url.clone().into_bytes();
            for _ in 0..=(rng.next() % 4) {
                let at = (rng.next() as usize) % b.len();
                b[at] = rng.next() as u8;
            }
            String::from_utf8_lossy(&b).into_owned()
        };
        match QrPayload::parse(&text) {
            Ok(p) => assert!(p.to_url().len() <= payload::MAX_PAYLOAD_LEN + 16),
            Err(e) => {
                assert_eq!(e.code(), "scan.bad_payload", "{text:?}");
                refused += 1;
            }
        }
    }
    assert!(refused > 15_000, "only {refused} refused");
}

#[test]
fn random_frames_at_both_ends_are_refused_without_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let now = 1_800_000_000;
    let hello = PhoneHello {
        device: "d".into(),
        app: "a".into(),
    };
    for i in 0..300 {
        let offer = DesktopOffer::new(
            "http://127.0.0.1:1",
            OperationKind::Auth,
            Duration::from_secs(60),
            now,
        )
        .unwrap();
        let n = (rng.next() % 200) as usize;
        let mut frame = rng.bytes(n);
        if i % 3 == 0 && !frame.is_empty() {
            frame[0] = 0x01; // looks like a hello
        }
        assert!(offer.accept_hello(&frame, now).is_err());
        let offer = DesktopOffer::new(
            "http://127.0.0.1:1",
            OperationKind::Auth,
            Duration::from_secs(60),
            now,
        )
        .unwrap();
        let (mut phone, hello_frame) = PhoneSession::join(offer.payload(), &hello, now).unwrap();
        let (mut desktop, _) = offer.accept_hello(&hello_frame, now).unwrap();
        if i % 3 == 1 && frame.len() > 9 {
            frame[0] = 0x02;
            frame[1..9].copy_from_slice(&0u64.to_be_bytes());
        }
        assert!(phone.open_frame(&frame).is_err());
        assert!(desktop.open_frame(&frame).is_err());
    }
}

#[test]
fn an_authentic_answer_from_another_channel_is_refused() {
    let now = 1_800_000_000;
    let offer = DesktopOffer::new(
        "http://127.0.0.1:1",
        OperationKind::Sign,
        Duration::from_secs(60),
        now,
    )
    .unwrap();
    let payload = offer.payload().clone();
    let hello = PhoneHello {
        device: "d".into(),
        app: "a".into(),
    };
    let (_phone, frame) = PhoneSession::join(&payload, &hello, now).unwrap();
    let (mut desktop, _) = offer.accept_hello(&frame, now).unwrap();
    // A genuine phone of another session answers; the frame reaches this desktop.
    let offer2 = DesktopOffer::new(
        "http://127.0.0.1:1",
        OperationKind::Sign,
        Duration::from_secs(60),
        now,
    )
    .unwrap();
    let (mut phone2, hello2) = PhoneSession::join(offer2.payload(), &hello, now).unwrap();
    let (mut desktop2, _) = offer2.accept_hello(&hello2, now).unwrap();
    let (_, req) = desktop2
        .seal_request(
            OperationRequest::Sign(SignRequest {
                platform: PlatformRef {
                    id: "p".into(),
                    name: "p".into(),
                },
                project: None,
                items: vec![],
                lookup: vec![],
            }),
            None,
        )
        .unwrap();
    let PhoneEvent::Request(incoming) = phone2.open_frame(&req).unwrap() else {
        panic!()
    };
    let answer = phone2
        .seal_response(
            incoming,
            OperationOutcome::Refused {
                reason: RefusalReason::InvalidRequest {
                    detail: "空".into(),
                },
            },
        )
        .unwrap();
    assert_eq!(desktop.open_frame(&answer).err(), Some(ScanError::Tampered));
    // Its own desktop accepts it.
    assert!(desktop2.open_frame(&answer).is_ok());
}
