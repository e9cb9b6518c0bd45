//! Scenario: a hostile "encrypted bid file" declares lengths far beyond its size. Reading it
//! from disk checks every declared length against the bytes that exist before reading, so a
//! 20-byte file cannot make the reader wait for, or allocate, gigabytes: it is refused as
//! truncated at once.

mod envelope_common;

use bidseal_cms::envelope::inspect_file;
use envelope_common::*;

#[test]
fn an_envelope_whose_outer_length_exceeds_the_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("bidseal-env-outer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let parties = [p256(&dir, "a")];
    random_file(&dir.join("plain.bin"), 1000, 7);
    seal(&dir.join("plain.bin"), &dir.join("bid.p7m"), &parties);
    assert!(inspect_file(&dir.join("bid.p7m")).is_ok());
    // The header is all there, but the outer ContentInfo claims far more than the file holds:
    // reading on would only ever end in "truncated", so it is refused before anything else.
    let mut bytes = std::fs::read(dir.join("bid.p7m")).unwrap();
    assert_eq!(bytes[0], 0x30);
    let n = usize::from(bytes[1] & 0x7f);
    assert!(
        bytes[1] & 0x80 != 0 && n >= 2,
        "definite long-form outer length"
    );
    bytes[2] = 0x7f;
    std::fs::write(dir.join("lying.p7m"), &bytes).unwrap();
    let err = inspect_file(&dir.join("lying.p7m")).unwrap_err();
    assert_eq!(err.code(), "E_ENV_TRUNCATED", "{err}");
}

#[test]
fn declared_lengths_beyond_the_file_are_refused_at_once() {
    let dir = std::env::temp_dir().join(format!("bidseal-env-bounds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // ContentInfo SEQUENCE claiming 2 GiB, then the start of an OID.
    let mut bytes = vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
    bytes.extend_from_slice(&[0x06, 0x0b, 0x2a, 0x86, 0x48]);
    let path = dir.join("huge.p7m");
    std::fs::write(&path, &bytes).unwrap();
    let err = inspect_file(&path).unwrap_err();
    assert_eq!(err.code(), "E_ENV_TRUNCATED", "{err}");
    // The same with an indefinite outer length and an inner OCTET STRING claiming 1 GiB.
    let mut bytes = vec![0x30, 0x80, 0x04, 0x84, 0x40, 0x00, 0x00, 0x00];
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&path, &bytes).unwrap();
    let err = inspect_file(&path).unwrap_err();
    assert!(
        matches!(err.code(), "E_ENV_TRUNCATED" | "E_ENV_MALFORMED"),
        "{err}"
    );
}
