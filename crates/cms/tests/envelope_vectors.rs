//! Known-answer tests for the envelope's building blocks: the ANSI X9.63 KDF with SHA-256
//! (NIST CAVS `ansx963_2001.rsp` vectors, and the same inputs through `openssl kdf X963KDF`)
//! and AES key wrap (RFC 3394 §4.6).

mod envelope_common;

use bidseal_cms::envelope::kdf::x963_kdf_sha256;
use bidseal_cms::envelope::keywrap;
use envelope_common::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// NIST CAVS 12.0 `ansx963_2001.rsp`, [SHA-256].
const CAVS: &[(&str, &str, &str)] = &[
    // shared secret 192 bits, no SharedInfo, 128-bit key.
    ("96c05619d56c328ab95fe84b18264b08725b85e33fd34f08", "", "443024c3dae66b95e6f5670601558f71"),
    // shared secret 192 bits, 128-bit SharedInfo, 1024-bit key.
    (
        "22518b10e70f2a3f243810ae3254139efbee04aa57c7af7d",
        "75eef81aa3041e33b80971203d2c0c52",
        "c498af77161cc59f2962b9a713e2b215152d139766ce34a776df11866a69bf2e52a13d9c7c6fc878c50c5ea0bc7b00e0da2447cfd874f6cf92f30d0097111485500c90c3af8b487872d04685d14c8d1dc8d7fa08beb0ce0ababc11f0bd496269142d43525a78e5bc79a17f59676a5706dc54d54d4d1f0bd7e386128ec26afc21",
    ),
];

#[test]
fn x963_kdf_matches_nist_cavs_vectors() {
    for (z, info, expected) in CAVS {
        let expected = hex(expected);
        let mut out = vec![0u8; expected.len()];
        x963_kdf_sha256(&hex(z), &hex(info), &mut out).unwrap();
        assert_eq!(to_hex(&out), to_hex(&expected), "Z = {z}");
    }
}

#[test]
fn x963_kdf_matches_openssl_for_a_p256_sized_secret() {
    let dir = TestDir::new("kdf");
    // A 32-byte secret and an ECC-CMS-SharedInfo like the envelope's (aes256-wrap, 256 bits).
    let z = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
    // SEQUENCE { SEQUENCE { id-aes256-wrap }, [2] { OCTET STRING 00000100 } }
    let info = "3015300b060960864801650304012da2060404".to_string() + "00000100";
    for shared_info in [info.as_str(), ""] {
        let out = openssl(
            dir.path(),
            &[
                "kdf",
                "-keylen",
                "48",
                "-kdfopt",
                "digest:SHA256",
                "-kdfopt",
                &format!("hexsecret:{z}"),
                "-kdfopt",
                &format!("hexinfo:{shared_info}"),
                "X963KDF",
            ],
        );
        let theirs: String = String::from_utf8(out.stdout)
            .unwrap()
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect::<String>()
            .to_lowercase();
        let mut ours = [0u8; 48];
        x963_kdf_sha256(&hex(z), &hex(shared_info), &mut ours).unwrap();
        assert_eq!(to_hex(&ours), theirs);
    }
}

#[test]
fn aes256_key_wrap_matches_rfc3394_section_4_6() {
    let kek: [u8; 32] = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
        .try_into()
        .unwrap();
    let key: [u8; 32] = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
        .try_into()
        .unwrap();
    let expected =
        hex("28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21");
    let wrapped = keywrap::wrap(&kek, &key);
    assert_eq!(wrapped.to_vec(), expected);
    assert_eq!(*keywrap::unwrap(&kek, &wrapped).unwrap(), key);
    let mut bad = wrapped;
    bad[0] ^= 1;
    assert!(
        keywrap::unwrap(&kek, &bad).is_none(),
        "integrity check must catch a change"
    );
    let mut other_kek = kek;
    other_kek[31] ^= 1;
    assert!(
        keywrap::unwrap(&other_kek, &wrapped).is_none(),
        "wrong KEK must fail"
    );
}
