//! Fuzz target: the BER reader of encrypted bid files — `EnvelopeReader::open` on arbitrary
//! bytes (ContentInfo → AuthEnvelopedData → recipient list → content header), then the raw
//! `BerReader` walking every element with a known input length.
#![no_main]

use bidseal_cms::envelope::ber::BerReader;
use bidseal_cms::envelope::EnvelopeReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = EnvelopeReader::open(data);
    // Generic walk: open constructed values, read primitives (bounded), close at ends.
    let mut ber = BerReader::with_input_len(data, data.len() as u64);
    for _ in 0..10_000 {
        match ber.at_end() {
            Ok(true) => {
                if ber.depth() == 0 || ber.close("fuzz").is_err() {
                    break;
                }
                continue;
            }
            Ok(false) => {}
            Err(_) => break,
        }
        let Ok(header) = ber.read_header() else { break };
        if header.constructed() {
            if ber.open(&header).is_err() {
                break;
            }
        } else if ber.read_value(&header, 1 << 16, "fuzz").is_err() {
            break;
        }
    }
});
