//! Clear, typed refusals: certificates that cannot be recipients (RSA, SM2, no keyAgreement,
//! expired, duplicates, too many), a certificate that is not a recipient, a key that does not
//! match its certificate, and files that are truncated, declare huge lengths or are garbage.
//! None of them panics, allocates by a declared length, or leaves an output file.

mod envelope_common;

use bidseal_cms::envelope::{inspect_file, EnvelopeError, LocalKeyAgreement, RecipientSet};
use envelope_common::*;
use std::time::{Duration, Instant, SystemTime};

fn refusal(parties: &[Party]) -> EnvelopeError {
    match recipient_set(parties) {
        Ok(_) => panic!("recipient set accepted"),
        Err(e) => e,
    }
}

#[test]
fn rsa_certificate_is_refused_as_recipient() {
    let dir = TestDir::new("rsa");
    let err = refusal(&[
        p256(dir.path(), "ok"),
        party(dir.path(), "rsa", "rsa:2048", None),
    ]);
    assert_eq!(err.code(), "E_ENV_KEY_TYPE");
    assert!(
        err.to_string().contains("RSA") && err.to_string().contains("rsa"),
        "{err}"
    );
}

#[test]
fn sm2_certificate_is_refused_as_recipient() {
    let dir = TestDir::new("sm2");
    let err = refusal(&[sm2(dir.path(), "guomi")]);
    assert_eq!(err.code(), "E_ENV_KEY_TYPE");
    assert!(err.to_string().contains("SM2"), "{err}");
}

#[test]
fn signing_only_certificate_is_refused_but_one_without_key_usage_is_accepted() {
    let dir = TestDir::new("ku");
    let err = refusal(&[party(
        dir.path(),
        "signer",
        "ec",
        Some("critical,digitalSignature"),
    )]);
    assert_eq!(err.code(), "E_ENV_KEY_USAGE");
    assert!(err.to_string().contains("keyAgreement"), "{err}");
    let plain = party(dir.path(), "plain", "ec", None);
    assert_eq!(recipient_set(&[plain]).unwrap().len(), 1);
}

#[test]
fn expired_certificate_is_refused() {
    let dir = TestDir::new("expired");
    let err = refusal(&[expired_p256(dir.path(), "old")]);
    assert_eq!(err.code(), "E_ENV_CERT_NOT_VALID");
    assert!(
        err.to_string().contains("已过期") && err.to_string().contains("2020"),
        "{err}"
    );
}

#[test]
fn duplicate_and_too_many_and_no_recipients_are_refused() {
    let dir = TestDir::new("count");
    let a = p256(dir.path(), "a");
    let b = p256(dir.path(), "b");
    let err = refusal(&[a.clone(), b.clone(), a.clone()]);
    assert_eq!(err.code(), "E_ENV_DUPLICATE_RECIPIENT");
    assert!(err.to_string().contains("CN=a"), "{err}");
    let err = refusal(&vec![a.clone(); 65]);
    assert_eq!(err.code(), "E_ENV_TOO_MANY_RECIPIENTS");
    let err = RecipientSet::new(Vec::new(), SystemTime::now())
        .err()
        .unwrap();
    assert_eq!(err.code(), "E_ENV_NO_RECIPIENTS");
}

#[test]
fn non_recipient_is_told_which_certificates_can_open_the_bid() {
    let dir = TestDir::new("nonrecipient");
    let parties = p256_many(dir.path(), "expert", 2);
    let stranger = p256(dir.path(), "stranger");
    random_file(&dir.join("bid.zip"), 5000, 1);
    seal(&dir.join("bid.zip"), &dir.join("bid.p7m"), &parties);
    let err = open(&dir.join("bid.p7m"), &dir.join("out.zip"), &stranger).unwrap_err();
    assert_eq!(err.code(), "E_ENV_NOT_RECIPIENT");
    let message = err.to_string();
    assert!(
        message.starts_with("不是本投标文件的接收者；可解密的证书为："),
        "{message}"
    );
    for p in &parties {
        let serial = p.certificate().serial_hex();
        assert!(message.contains(&serial), "{message} lacks {serial}");
    }
    assert!(!dir.join("out.zip").exists());

    // inspect lists the same recipients without any key.
    let header = inspect_file(&dir.join("bid.p7m")).unwrap();
    let mut listed: Vec<String> = header
        .recipients
        .entries
        .iter()
        .map(|e| e.serial_hex())
        .collect();
    let mut expected: Vec<String> = parties
        .iter()
        .map(|p| p.certificate().serial_hex())
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(header.content_len, Some(5000));
}

#[test]
fn private_key_of_another_certificate_is_refused() {
    let dir = TestDir::new("mismatch");
    let a = p256(dir.path(), "a");
    let b = p256(dir.path(), "b");
    let err = LocalKeyAgreement::from_pem_files(&a.cert, &b.key)
        .err()
        .unwrap();
    assert_eq!(err.code(), "E_ENV_KEY_MISMATCH");
}

#[test]
fn openssl_default_sha1_kdf_gets_a_hint() {
    let dir = TestDir::new("sha1");
    let party = p256(dir.path(), "solo");
    random_file(&dir.join("bid.zip"), 1000, 1);
    openssl(
        dir.path(),
        &[
            "cms",
            "-encrypt",
            "-aes-256-gcm",
            "-binary",
            "-outform",
            "DER",
            "-in",
            "bid.zip",
            "-out",
            "bid.p7m",
            "-recip",
            &party.cert.display().to_string(),
        ],
    );
    let err = open(&dir.join("bid.p7m"), &dir.join("out.zip"), &party).unwrap_err();
    assert_eq!(err.code(), "E_ENV_UNSUPPORTED");
    assert!(err.to_string().contains("ecdh_kdf_md:sha256"), "{err}");
}

#[test]
fn truncated_envelope_fails_cleanly_at_every_cut() {
    let dir = TestDir::new("truncated");
    let party = p256(dir.path(), "solo");
    random_file(&dir.join("bid.zip"), 3000, 9);
    seal(
        &dir.join("bid.zip"),
        &dir.join("bid.p7m"),
        std::slice::from_ref(&party),
    );
    openssl_seal(
        dir.path(),
        &dir.join("bid.zip"),
        &dir.join("s.p7m"),
        std::slice::from_ref(&party),
        true,
    );
    for name in ["bid.p7m", "s.p7m"] {
        let envelope = std::fs::read(dir.join(name)).unwrap();
        for cut in (0..envelope.len())
            .step_by(13)
            .chain(envelope.len() - 20..envelope.len())
        {
            std::fs::write(dir.join("cut.p7m"), &envelope[..cut]).unwrap();
            let err = open(&dir.join("cut.p7m"), &dir.join("out.zip"), &party).unwrap_err();
            assert!(
                matches!(err.code(), "E_ENV_TRUNCATED" | "E_ENV_MALFORMED"),
                "{name} cut at {cut}: [{}] {err}",
                err.code()
            );
            assert!(!dir.join("out.zip").exists());
        }
    }
}

#[test]
fn huge_declared_lengths_are_refused_without_allocating_or_hanging() {
    let dir = TestDir::new("huge");
    let party = p256(dir.path(), "solo");
    let auth_enveloped = [
        0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17,
    ];
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // ContentInfo claiming 2^63 bytes.
    cases.push((
        "outer",
        [
            &[0x30, 0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
            &auth_enveloped,
        ]
        .concat(),
    ));
    // Indefinite containers, then a recipient list claiming 1 TB.
    let mut infos = vec![0x30, 0x80];
    infos.extend_from_slice(&auth_enveloped);
    infos.extend_from_slice(&[
        0xa0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x00, 0x31, 0x85, 0x01, 0, 0, 0, 0,
    ]);
    infos.extend_from_slice(&[0u8; 64]);
    cases.push(("recipient list", infos));
    // Our real header with the ciphertext length raised to 2^56.
    random_file(&dir.join("bid.zip"), 100, 3);
    seal(
        &dir.join("bid.zip"),
        &dir.join("bid.p7m"),
        std::slice::from_ref(&party),
    );
    let mut real = std::fs::read(dir.join("bid.p7m")).unwrap();
    let content_tag = real.len() - 18 - 100 - 2;
    assert_eq!(real[content_tag..content_tag + 2], [0x80, 100]);
    real.splice(
        content_tag + 1..content_tag + 2,
        [0x87, 1, 0, 0, 0, 0, 0, 0],
    );
    cases.push(("ciphertext", real));

    for (what, bytes) in cases {
        std::fs::write(dir.join("huge.p7m"), &bytes).unwrap();
        let started = Instant::now();
        let err = open(&dir.join("huge.p7m"), &dir.join("out.zip"), &party).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what} took {:?}",
            started.elapsed()
        );
        assert!(
            matches!(
                err.code(),
                "E_ENV_TOO_LARGE" | "E_ENV_MALFORMED" | "E_ENV_TRUNCATED"
            ),
            "{what}: [{}] {err}",
            err.code()
        );
        assert!(!dir.join("out.zip").exists());
    }
}

#[test]
fn garbage_and_wrong_files_are_clear_errors() {
    let dir = TestDir::new("garbage");
    let party = p256(dir.path(), "solo");
    let cert_der = openssl(
        dir.path(),
        &[
            "x509",
            "-in",
            &party.cert.display().to_string(),
            "-outform",
            "DER",
        ],
    )
    .stdout;
    let mut noise = Vec::new();
    for seed in 1..40u64 {
        noise.push(random_file(
            &dir.join("n"),
            (seed * 37 % 500) as usize,
            seed,
        ));
    }
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"PK\x03\x04 this is a zip, not an envelope".to_vec(),
        std::fs::read(&party.cert).unwrap(),
        cert_der,
        vec![0x30, 0x80, 0x00, 0x00],
        vec![0x30, 0x03, 0x06, 0x01, 0x00],
        vec![0x1f, 0x81, 0x80, 0x01],
    ];
    inputs.extend(noise);
    for bytes in inputs {
        std::fs::write(dir.join("g.p7m"), &bytes).unwrap();
        let err = open(&dir.join("g.p7m"), &dir.join("out.zip"), &party).unwrap_err();
        assert!(err.code().starts_with("E_ENV_"), "{err}");
        assert!(!err.to_string().is_empty());
        assert!(!dir.join("out.zip").exists());
        assert!(inspect_file(&dir.join("g.p7m")).is_err());
    }
}
