//! Inputs found by `fuzz/` (cargo fuzz) that once broke a property, kept as regression tests.
//! Each file under `tests/fuzz_regressions/` is named `<target>-<what it broke>`.

use bidseal_scan::QrPayload;

/// qr_payload: a relay address with raw NUL bytes and a blank parsed; printed back it was
/// longer than a QR holds and no longer parsed. Now refused, and every payload that parses
/// prints to one that parses to the same payload.
#[test]
fn qr_payload_with_raw_control_bytes_in_the_relay_is_refused() {
    let bytes = include_bytes!("fuzz_regressions/qr_payload-raw-nul-in-relay");
    let text = std::str::from_utf8(bytes).expect("utf8");
    let err = QrPayload::parse(text).expect_err("raw NULs in r");
    assert!(err.to_string().contains("中继地址"), "{err}");
    // Encoded control characters are refused too (an encoded blank is a legal relay path).
    let clean = text.replace(['\0', ' '], "");
    let ok = QrPayload::parse(&clean).expect("the same payload without the junk parses");
    assert_eq!(QrPayload::parse(&ok.to_url()).expect("round trip"), ok);
    for junk in ["%00", "%0A", "%7F", " "] {
        let hostile = clean.replace("1z", &format!("1z{junk}"));
        assert!(QrPayload::parse(&hostile).is_err(), "{junk}");
    }
}
