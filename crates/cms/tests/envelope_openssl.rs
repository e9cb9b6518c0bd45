//! Interop with `openssl cms`, both ways: every recipient's key opens our envelopes with
//! `openssl cms -decrypt`, and we open what `openssl cms -encrypt -aes-256-gcm` makes, with
//! and without `-stream` (indefinite-length BER), for 1, 3 and 64 recipients.

mod envelope_common;

use envelope_common::*;
use std::sync::OnceLock;

/// One set of 64 recipient certificates shared by the tests of this binary.
fn sixty_four() -> &'static (TestDir, Vec<Party>) {
    static PKI: OnceLock<(TestDir, Vec<Party>)> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = TestDir::new("pki64");
        let parties = p256_many(dir.path(), "opener", 64);
        (dir, parties)
    })
}

/// A bid file a little over 2 MiB, so that pieces cross the 1 MiB chunk boundary.
const BID_LEN: usize = (2 << 20) + 12_345;

/// With 64 recipients every key opens a smaller file (keeps the debug test run short).
const BID_LEN_64: usize = 150_001;

fn openssl_opens_ours(parties: &[Party], len: usize) {
    let dir = TestDir::new("ours");
    let plain = random_file(&dir.join("bid.zip"), len, parties.len() as u64);
    let summary = seal(&dir.join("bid.zip"), &dir.join("bid.p7m"), parties);
    assert_eq!(summary.plaintext_len, len as u64);
    assert_eq!(
        std::fs::metadata(dir.join("bid.p7m")).unwrap().len(),
        summary.envelope_len
    );
    for (i, party) in parties.iter().enumerate() {
        let out = dir.join(&format!("opened-{i}.zip"));
        let result = openssl_open(dir.path(), &dir.join("bid.p7m"), &out, party);
        assert!(
            result.status.success(),
            "openssl could not open our envelope as {}: {}",
            party.name,
            String::from_utf8_lossy(&result.stderr)
        );
        assert!(
            std::fs::read(&out).unwrap() == plain,
            "openssl output differs for {}",
            party.name
        );
        std::fs::remove_file(&out).unwrap();
    }
}

/// Opens openssl's envelope with every `step`-th recipient key (always the first and last).
fn we_open_openssls(parties: &[Party], stream: bool, len: usize, step: usize) {
    let dir = TestDir::new("theirs");
    let plain = random_file(&dir.join("bid.zip"), len, 7 + parties.len() as u64);
    openssl_seal(
        dir.path(),
        &dir.join("bid.zip"),
        &dir.join("bid.p7m"),
        parties,
        stream,
    );
    let first = std::fs::read(dir.join("bid.p7m")).unwrap();
    // `-stream` output is indefinite-length BER: ContentInfo starts 30 80.
    assert_eq!(
        first[..2] == [0x30, 0x80],
        stream,
        "unexpected openssl encoding"
    );
    let last = parties.len() - 1;
    for (i, party) in parties
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == last)
    {
        let out = dir.join(&format!("opened-{i}.zip"));
        let summary = open(&dir.join("bid.p7m"), &out, party).unwrap_or_else(|e| {
            panic!(
                "we could not open openssl's envelope as {}: [{}] {e}",
                party.name,
                e.code()
            )
        });
        assert_eq!(summary.plaintext_len, len as u64);
        assert_eq!(
            summary.binding,
            bidseal_cms::envelope::RecipientBinding::Absent
        );
        assert!(
            std::fs::read(&out).unwrap() == plain,
            "our output differs for {}",
            party.name
        );
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn openssl_opens_our_envelope_for_one_recipient() {
    let dir = TestDir::new("one");
    openssl_opens_ours(&[p256(dir.path(), "solo")], BID_LEN);
}

#[test]
fn openssl_opens_our_envelope_with_each_of_three_recipient_keys() {
    let dir = TestDir::new("three");
    openssl_opens_ours(&p256_many(dir.path(), "expert", 3), BID_LEN);
}

#[test]
fn openssl_opens_our_envelope_with_each_of_64_recipient_keys() {
    openssl_opens_ours(&sixty_four().1, BID_LEN_64);
}

#[test]
fn we_open_openssl_der_and_stream_envelopes_for_one_recipient() {
    let dir = TestDir::new("one");
    let parties = [p256(dir.path(), "solo")];
    we_open_openssls(&parties, false, BID_LEN, 1);
    we_open_openssls(&parties, true, BID_LEN, 1);
}

#[test]
fn we_open_openssl_der_and_stream_envelopes_with_each_of_three_keys() {
    let dir = TestDir::new("three");
    let parties = p256_many(dir.path(), "expert", 3);
    we_open_openssls(&parties, false, BID_LEN, 1);
    we_open_openssls(&parties, true, BID_LEN, 1);
}

#[test]
fn we_open_openssl_der_and_stream_envelopes_with_each_of_64_keys() {
    let parties = &sixty_four().1;
    we_open_openssls(parties, false, BID_LEN_64, 1);
    we_open_openssls(parties, true, BID_LEN_64, 7);
}

#[test]
fn our_own_round_trip_verifies_the_recipient_binding() {
    let dir = TestDir::new("own");
    let parties = p256_many(dir.path(), "expert", 2);
    let plain = random_file(&dir.join("bid.zip"), 100_000, 3);
    seal(&dir.join("bid.zip"), &dir.join("bid.p7m"), &parties);
    let summary = open(&dir.join("bid.p7m"), &dir.join("out.zip"), &parties[1]).unwrap();
    assert_eq!(
        summary.binding,
        bidseal_cms::envelope::RecipientBinding::Verified
    );
    assert!(summary.opened_as.contains("序列号"));
    assert!(std::fs::read(dir.join("out.zip")).unwrap() == plain);
}

#[test]
fn empty_and_tiny_files_interoperate() {
    let dir = TestDir::new("tiny");
    let party = p256(dir.path(), "solo");
    for len in [0usize, 1, 15, 16, 17] {
        let plain = random_file(&dir.join("bid.zip"), len, len as u64);
        seal(
            &dir.join("bid.zip"),
            &dir.join("bid.p7m"),
            std::slice::from_ref(&party),
        );
        let result = openssl_open(dir.path(), &dir.join("bid.p7m"), &dir.join("o1"), &party);
        assert!(
            result.status.success(),
            "len {len}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert_eq!(std::fs::read(dir.join("o1")).unwrap(), plain);
        open(&dir.join("bid.p7m"), &dir.join("o2"), &party).unwrap();
        assert_eq!(std::fs::read(dir.join("o2")).unwrap(), plain);
        // openssl 3.0 cannot `-stream` an empty input ("Error writing CMS output").
        let stream = len > 0;
        openssl_seal(
            dir.path(),
            &dir.join("bid.zip"),
            &dir.join("s.p7m"),
            std::slice::from_ref(&party),
            stream,
        );
        open(&dir.join("s.p7m"), &dir.join("o3"), &party).unwrap();
        assert_eq!(std::fs::read(dir.join("o3")).unwrap(), plain);
    }
}

#[test]
fn decrypting_can_run_on_a_multithreaded_runtime() {
    // The desktop spawns the opening flow on tokio: the future must be Send.
    fn assert_send<T: Send>(_: &T) {}
    let dir = TestDir::new("send");
    let party = p256(dir.path(), "solo");
    random_file(&dir.join("bid.zip"), 10_000, 4);
    seal(
        &dir.join("bid.zip"),
        &dir.join("bid.p7m"),
        std::slice::from_ref(&party),
    );
    let agreement = party.agreement();
    let mut progress = |_: u64, _: u64| {};
    let input = dir.join("bid.p7m");
    let output = dir.join("out.zip");
    let future = bidseal_cms::envelope::decrypt_file(&input, &output, &agreement, &mut progress);
    assert_send(&future);
    let summary = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(future)
        .unwrap();
    assert_eq!(summary.plaintext_len, 10_000);
}
