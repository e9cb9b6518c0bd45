//! Fuzz target: the PDF reader and verifier on arbitrary bytes — `verify_file` (xref chain,
//! object streams, signature dictionaries, CMS, change analysis), then the page tree as the
//! sealer reads it. Any panic, abort or hang is a finding; typed errors are fine.
#![no_main]

use bidseal_cms::cert::TrustStore;
use libfuzzer_sys::fuzz_target;
use std::time::SystemTime;

fuzz_target!(|data: &[u8]| {
    // verify_file and the reader take a path: one scratch file per fuzzing process.
    let path = std::env::temp_dir().join(format!("bidseal-fuzz-{}.pdf", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = bidseal_pdf::verify_file(&path, &TrustStore::new(), SystemTime::UNIX_EPOCH);
    if let Ok(mut reader) = bidseal_pdf::reader::PdfReader::open(&path) {
        if let Ok(count) = bidseal_pdf::pages::page_count(&mut reader) {
            let wanted: Vec<usize> = (0..count.min(4)).collect();
            let _ = bidseal_pdf::pages::find_pages(&mut reader, &wanted);
        }
        let _ = reader.next_free_number();
    }
});
