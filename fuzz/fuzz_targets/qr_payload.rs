//! Fuzz target: the QR payload parser (what the phone scans). Anything that parses must print
//! back to a URL that parses to the same payload.
#![no_main]

use bidseal_scan::QrPayload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(payload) = QrPayload::parse(text) {
        let again = QrPayload::parse(&payload.to_url()).expect("printed payload must parse");
        assert_eq!(again, payload);
    }
});
