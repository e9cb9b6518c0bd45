//! Tamper evidence: a bid envelope with one changed byte — anywhere in the header, any
//! recipient's entry (ours or another's), the ciphertext or the tag — must not open, and must
//! leave nothing at the output path (no partial plaintext, no temporary file).

mod envelope_common;

use envelope_common::*;

/// Offset of what follows `version INTEGER 0`: the originatorInfo [0] with the recipients'
/// certificates, then the recipient-infos SET.
fn recipient_infos_start(envelope: &[u8]) -> usize {
    envelope
        .windows(4)
        .position(|w| w[..3] == [0x02, 0x01, 0x00] && (w[3] == 0xA0 || w[3] == 0x31))
        .expect("version followed by originatorInfo or SET")
        + 3
}

#[test]
fn any_single_changed_byte_stops_decryption_and_leaves_no_output() {
    let dir = TestDir::new("tamper");
    let parties = p256_many(dir.path(), "expert", 3);
    let plain_len = 20_000usize;
    random_file(&dir.join("bid.zip"), plain_len, 42);
    seal(&dir.join("bid.zip"), &dir.join("bid.p7m"), &parties);
    let envelope = std::fs::read(dir.join("bid.p7m")).unwrap();
    let opener = &parties[1];

    // Sanity: the untouched file opens.
    open(&dir.join("bid.p7m"), &dir.join("ok.zip"), opener).unwrap();
    std::fs::remove_file(dir.join("ok.zip")).unwrap();

    let ri_start = recipient_infos_start(&envelope);
    let tag_start = envelope.len() - 16;
    let ct_start = tag_start - 2 - plain_len;
    let mut positions: Vec<usize> = (0..ri_start).collect(); // every header byte
                                                             // certificates, all recipients' entries, GCM params
    positions.extend((ri_start..ct_start).step_by(3));
    positions.extend((ct_start..tag_start).step_by(plain_len / 40)); // ciphertext
    positions.extend(tag_start - 2..envelope.len()); // mac header and tag
    positions.sort();
    positions.dedup();
    assert!(positions.len() >= 200, "only {} positions", positions.len());

    let tampered = dir.join("tampered.p7m");
    let out = dir.join("opened.zip");
    let mut codes = std::collections::BTreeMap::<&'static str, usize>::new();
    for (i, &pos) in positions.iter().enumerate() {
        let mut bytes = envelope.clone();
        bytes[pos] ^= 1 << (i % 8);
        std::fs::write(&tampered, &bytes).unwrap();
        let err = match open(&tampered, &out, opener) {
            Ok(_) => panic!(
                "byte {pos} of {} changed, yet the envelope opened",
                envelope.len()
            ),
            Err(e) => e,
        };
        *codes.entry(err.code()).or_default() += 1;
        assert!(!out.exists(), "output left behind after tampering at {pos}");
        assert_eq!(
            dir.entries()
                .iter()
                .filter(|n| n.ends_with(".part"))
                .count(),
            0,
            "temporary file left behind after tampering at {pos}"
        );
    }
    // Content and tag changes are caught by GCM; others' entries by the recipient binding.
    assert!(codes.contains_key("E_ENV_TAMPERED"), "{codes:?}");
    assert!(codes.contains_key("E_ENV_RECIPIENTS_TAMPERED"), "{codes:?}");
}

#[test]
fn a_changed_tag_in_an_openssl_stream_envelope_leaves_no_output() {
    let dir = TestDir::new("tamper-stream");
    let party = p256(dir.path(), "solo");
    random_file(&dir.join("bid.zip"), 300_000, 5);
    openssl_seal(
        dir.path(),
        &dir.join("bid.zip"),
        &dir.join("bid.p7m"),
        std::slice::from_ref(&party),
        true,
    );
    let envelope = std::fs::read(dir.join("bid.p7m")).unwrap();
    // Indefinite form ends: mac (04 10 <16>) then three end-of-contents markers (6 bytes).
    let tag_end = envelope.len() - 6;
    for pos in [
        tag_end - 1,
        tag_end - 8,
        tag_end - 16,
        envelope.len() / 2,
        envelope.len() - 1,
    ] {
        let mut bytes = envelope.clone();
        bytes[pos] ^= 0x40;
        std::fs::write(dir.join("t.p7m"), &bytes).unwrap();
        assert!(
            open(&dir.join("t.p7m"), &dir.join("o.zip"), &party).is_err(),
            "byte {pos}"
        );
        assert!(!dir.join("o.zip").exists());
    }
}
