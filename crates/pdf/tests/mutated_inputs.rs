//! Scenario: damaged files arrive in bulk (bad downloads, tampering). Hundreds of randomly
//! corrupted variants of real PDFs (reportlab + qpdf object streams) are read, sealed up to the
//! prepare phase and verified: every one ends in a result or a typed error, never a panic, and
//! the whole run stays fast.

mod support;

use bidseal_cms::cert::TrustStore;
use bidseal_pdf::reader::PdfReader;
use bidseal_pdf::{PageRect, SealKind, SealRequest, WidgetLayout, WorkingCopy};
use std::time::{Duration, Instant, SystemTime};
use support::*;

/// A small deterministic generator (no external crate needed for reproducible mutations).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn randomly_corrupted_pdfs_never_panic() {
    let dir = tempdir("mutated");
    make_seal_png(&dir);
    let plain = reportlab_pdf(&dir, "plain.pdf", 2, &[], false);
    let objstm = qpdf(&dir, &plain, "objstm.pdf", &["--object-streams=generate"]);
    let image_png = std::fs::read(dir.join("seal.png")).expect("png");
    let started = Instant::now();
    let mut rng = Lcg(0x05ee_db1d_5ea1);
    let (mut opened, mut prepared) = (0, 0);
    for source in [&plain, &objstm] {
        let original = std::fs::read(source).expect("read");
        for round in 0..100 {
            let mut bytes = original.clone();
            match round % 3 {
                // Flip a few bytes anywhere, mostly near the end where the xref lives.
                0 => {
                    for _ in 0..1 + rng.below(4) {
                        let span = if rng.below(2) == 0 {
                            bytes.len()
                        } else {
                            600.min(bytes.len())
                        };
                        let pos = bytes.len() - 1 - rng.below(span);
                        bytes[pos] = rng.next() as u8;
                    }
                }
                // Replace a digit (offsets, lengths, counts, object numbers).
                1 => {
                    let digits: Vec<usize> = (0..bytes.len())
                        .filter(|&i| bytes[i].is_ascii_digit())
                        .collect();
                    let pos = digits[rng.below(digits.len())];
                    bytes[pos] = b'0' + rng.below(10) as u8;
                }
                // Truncate or duplicate a slice.
                _ => {
                    let cut = rng.below(bytes.len());
                    if rng.below(2) == 0 {
                        bytes.truncate(cut);
                    } else {
                        let extra = bytes[cut..].to_vec();
                        bytes.splice(cut..cut, extra.into_iter().take(200));
                    }
                }
            }
            let input = dir.join("mutant.pdf");
            std::fs::write(&input, &bytes).expect("write");
            if PdfReader::open(&input).is_ok() {
                opened += 1;
            }
            let _ = bidseal_pdf::verify_file(&input, &TrustStore::new(), SystemTime::now());
            let out = dir.join("mutant-sealed.pdf");
            if let Ok(mut work) = WorkingCopy::create(&input, &out) {
                let req = SealRequest {
                    kind: SealKind::Enterprise,
                    image_png: image_png.clone(),
                    layout: WidgetLayout::SameRect {
                        pages: vec![1],
                        rect: PageRect {
                            x: 50.0,
                            y: 50.0,
                            w: 80.0,
                            h: 80.0,
                        },
                    },
                    signer_name: String::new(),
                    time: SystemTime::now(),
                    contents_capacity: 4096,
                };
                if work.prepare(&req).is_ok() {
                    prepared += 1;
                }
            }
            assert!(!out.exists());
        }
    }
    // The mutations are not all fatal: the tolerant paths are exercised too.
    assert!(
        opened > 0 && prepared > 0,
        "opened {opened}, prepared {prepared}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
}
