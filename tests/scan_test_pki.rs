//! `bidseal phone init` makes a test PKI that independent tools accept: `openssl verify`
//! chains every certificate to one of the two test CAs (and rejects the expired one), the
//! enterprise subject carries the company and a GB 32100-valid credit code in serialNumber,
//! keys can both sign and agree keys, and the seal images are PNGs with transparency
//! (ImageMagick `identify`).

mod scan_common;

use scan_common::*;
use std::path::Path;
use std::process::Command;

fn openssl_text(args: &[&str], file: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .arg(file)
        .output()
        .expect("openssl is required (scripts/setup.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// GB 32100-2015 check character, written independently of `bidseal_phone::uscc`.
fn gb32100_valid(code: &str) -> bool {
    const A: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [usize; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let v: Option<Vec<usize>> = code.chars().map(|c| A.find(c)).collect();
    let Some(v) = v else { return false };
    if v.len() != 18 {
        return false;
    }
    let sum: usize = v[..17].iter().zip(W).map(|(a, b)| a * b).sum();
    (31 - sum % 31) % 31 == v[17]
}

#[test]
fn test_pki_is_accepted_by_openssl_and_carries_the_credit_code() {
    let dir = TempDir::new("pki");
    let out = Command::new(bin())
        .args(["phone", "init"])
        .arg(&dir.0)
        .args(["--kdf-iterations", "1000"])
        .env(
            bidseal_phone::provision::TEST_KEY_POOL_ENV,
            bidseal_phone::provision::test_key_pool_dir(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pki = dir.0.join("pki");
    let trust = pki.join("trust.pem");
    let trust_s = trust.to_string_lossy().to_string();
    let mut issuers = std::collections::BTreeSet::new();
    for id in [
        "ent-huaxia",
        "legal-zhang",
        "staff-li",
        "colleague-wang",
        "colleague-liu",
        bidseal_phone::pki::PLAIN_CERT_ID,
        "ent-jiangnan",
        "legal-chen",
    ] {
        let (ok, text) = openssl_text(
            &["verify", "-CAfile", &trust_s],
            &pki.join(format!("{id}.pem")),
        );
        assert!(ok, "{id}: {text}");
        let (_, text) = openssl_text(
            &["x509", "-noout", "-text", "-nameopt", "utf8", "-in"],
            &pki.join(format!("{id}.pem")),
        );
        assert!(
            text.contains("Digital Signature") && text.contains("Key Agreement"),
            "{id}: {text}"
        );
        assert!(text.contains("ASN1 OID: prime256v1"), "{id} is P-256");
        let (_, issuer) = openssl_text(
            &["x509", "-noout", "-issuer", "-nameopt", "utf8", "-in"],
            &pki.join(format!("{id}.pem")),
        );
        issuers.insert(issuer);
        // Only the `-plain` certificate has a key file (PKCS#8, matching the certificate);
        // every other key is split between phone and co-signing service.
        let key_file = pki.join(format!("{id}.key.pem"));
        if id == bidseal_phone::pki::PLAIN_CERT_ID {
            let (_, cert_pub) = openssl_text(
                &["x509", "-noout", "-pubkey", "-in"],
                &pki.join(format!("{id}.pem")),
            );
            let (_, key_pub) = openssl_text(&["pkey", "-pubout", "-in"], &key_file);
            assert_eq!(cert_pub, key_pub, "{id}: key matches certificate");
        } else {
            assert!(!key_file.exists(), "{id}: a split key has no key file");
        }
    }
    assert_eq!(issuers.len(), 2, "two different test CAs: {issuers:?}");
    let (ok, text) = openssl_text(
        &["verify", "-CAfile", &trust_s],
        &pki.join("expired-zhao.pem"),
    );
    assert!(
        !ok && text.contains("expired"),
        "expired certificate: {text}"
    );

    let (_, subject) = openssl_text(
        &[
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "utf8,sep_comma_plus_space",
            "-in",
        ],
        &pki.join("ent-huaxia.pem"),
    );
    assert!(
        subject.contains(&format!("O={BIDDER}")) && subject.contains(&format!("CN={BIDDER}")),
        "{subject}"
    );
    let code = subject
        .split("serialNumber=")
        .nth(1)
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    assert_eq!(code.len(), 18, "{subject}");
    assert!(
        gb32100_valid(&code),
        "credit code {code} has a valid GB 32100 check character"
    );

    let seals = dir.0.join("phone/seals");
    let mut count = 0;
    for entry in std::fs::read_dir(&seals).unwrap() {
        let path = entry.unwrap().path();
        let out = Command::new("identify")
            .args(["-format", "%m %[channels]"])
            .arg(&path)
            .output()
            .expect("imagemagick identify");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.starts_with("PNG") && text.contains('a'),
            "{}: {text}",
            path.display()
        );
        count += 1;
    }
    // 公章 ×2 companies, 法人章 + 法人手写签名 ×2 (张伟, 江南路桥's 陈静), 私章 3 (李娜) + 1 each
    // for 王芳, 刘洋, 华夏's 陈静 (the -plain colleague), 赵磊.
    assert_eq!(count, 2 + 2 * 2 + 3 + 4);
}
