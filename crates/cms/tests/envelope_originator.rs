//! The recipients' certificates inside the envelope (`originatorInfo.certs`, issue #11): a bid
//! file copied alone still says which certificates open it. openssl decrypts it and prints the
//! certificates; our reader gives them back; swapping one for a stranger's or removing them
//! makes the envelope refuse to open (they are bound like the recipient entries).

mod envelope_common;

use bidseal_cms::envelope::inspect_file;
use envelope_common::*;

#[test]
fn recipient_certificates_travel_inside_and_openssl_still_decrypts() {
    let dir = TestDir::new("originator");
    let parties = p256_many(dir.path(), "expert", 3);
    let plain = random_file(&dir.join("bid.zip"), 5_000, 3);
    seal(&dir.join("bid.zip"), &dir.join("bid.p7m"), &parties);

    // Our reader: exactly the three recipients' certificates.
    let header = inspect_file(&dir.join("bid.p7m")).unwrap();
    let mut got: Vec<Vec<u8>> = header
        .recipient_certificates
        .iter()
        .map(|c| c.der().to_vec())
        .collect();
    let mut want: Vec<Vec<u8>> = parties
        .iter()
        .map(|p| p.certificate().der().to_vec())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // openssl: decrypts with each key, and parses the originatorInfo certificates.
    for p in &parties {
        let out = dir.join(&format!("{}.zip", p.name));
        let res = openssl_open(dir.path(), &dir.join("bid.p7m"), &out, p);
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        assert_eq!(std::fs::read(&out).unwrap(), plain);
    }
    let printed = openssl(
        dir.path(),
        &[
            "cms", "-cmsout", "-print", "-inform", "DER", "-in", "bid.p7m",
        ],
    );
    let text = String::from_utf8_lossy(&printed.stdout);
    let section = text
        .split("originatorInfo:")
        .nth(1)
        .and_then(|t| t.split("recipientInfos:").next())
        .unwrap_or_default();
    for p in &parties {
        assert!(
            section.contains(&format!("CN={}", p.name)) || section.contains(&p.name),
            "openssl does not show {} in originatorInfo: {text}",
            p.name
        );
    }
}

#[test]
fn a_swapped_or_removed_certificate_list_stops_opening() {
    let dir = TestDir::new("originator-tamper");
    let parties = p256_many(dir.path(), "expert", 2);
    let stranger = p256(dir.path(), "stranger");
    random_file(&dir.join("bid.zip"), 1_000, 4);
    seal(&dir.join("bid.zip"), &dir.join("bid.p7m"), &parties);
    let envelope = std::fs::read(dir.join("bid.p7m")).unwrap();

    // Swap: the stranger's certificate in place of a recipient's (same length: both are
    // self-signed P-256 certificates made the same way; otherwise skip that half).
    let ours = parties[0].certificate().der().to_vec();
    let theirs = stranger.certificate().der().to_vec();
    let at = envelope
        .windows(ours.len())
        .position(|w| w == ours.as_slice())
        .unwrap();
    // One changed byte inside a carried certificate (its signature value, near its end).
    let mut flipped = envelope.clone();
    flipped[at + ours.len() - 5] ^= 0x01;
    std::fs::write(dir.join("flipped.p7m"), &flipped).unwrap();
    let err = open(&dir.join("flipped.p7m"), &dir.join("out.zip"), &parties[1])
        .err()
        .map(|e| e.code());
    assert_eq!(err, Some("E_ENV_RECIPIENTS_TAMPERED"));
    if ours.len() == theirs.len() {
        let mut swapped = envelope.clone();
        swapped[at..at + ours.len()].copy_from_slice(&theirs);
        std::fs::write(dir.join("swapped.p7m"), &swapped).unwrap();
        let err = open(&dir.join("swapped.p7m"), &dir.join("out.zip"), &parties[1])
            .err()
            .map(|e| e.code());
        assert_eq!(err, Some("E_ENV_RECIPIENTS_TAMPERED"));
    }

    // Removed: originatorInfo [0] cut out, lengths of the enclosing headers fixed up by
    // re-sealing is not possible for an attacker; instead blank the tag to an unknown one,
    // which the reader must not accept silently either.
    let oi = envelope
        .windows(4)
        .position(|w| w[..3] == [0x02, 0x01, 0x00] && w[3] == 0xA0)
        .unwrap()
        + 3;
    let mut renamed = envelope.clone();
    renamed[oi] = 0xA1;
    std::fs::write(dir.join("renamed.p7m"), &renamed).unwrap();
    assert!(open(&dir.join("renamed.p7m"), &dir.join("out.zip"), &parties[1]).is_err());
    assert!(!dir.join("out.zip").exists());
}
