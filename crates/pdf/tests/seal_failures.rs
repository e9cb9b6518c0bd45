//! Scenario: sealing goes wrong half-way — the phone refuses or never answers, the page list
//! is wrong, the image is not a PNG. Each failure is a typed error with its code; the working
//! copy is rolled back to its last finalized revision, so a retry seals cleanly and nothing
//! half-written ever reaches the output.

mod support;

use bidseal_cms::cert::Certificate;
use bidseal_cms::signed_data::{LocalKeySigner, SignFuture, SignRequest, SignedDataError, Signer};
use bidseal_pdf::{PageRect, SealKind, SealRequest, WidgetLayout, WorkingCopy};
use std::path::Path;
use std::time::{Duration, SystemTime};
use support::*;

/// A signer that refuses, never answers, or passes through to the real key.
enum Phone {
    Refuses(LocalKeySigner),
    NeverAnswers(LocalKeySigner),
}

impl Signer for Phone {
    fn certificate_chain(&self) -> &[Certificate] {
        match self {
            Phone::Refuses(s) | Phone::NeverAnswers(s) => s.certificate_chain(),
        }
    }

    fn sign<'a>(&'a self, _request: &'a SignRequest) -> SignFuture<'a> {
        match self {
            Phone::Refuses(_) => Box::pin(async {
                Err(SignedDataError::Signer {
                    detail: "用户在手机上拒绝".into(),
                })
            }),
            Phone::NeverAnswers(_) => Box::pin(std::future::pending()),
        }
    }
}

fn request(dir: &Path, layout: WidgetLayout) -> SealRequest {
    SealRequest {
        kind: SealKind::Enterprise,
        image_png: std::fs::read(dir.join("seal.png")).expect("png"),
        layout,
        signer_name: "张三".into(),
        time: SystemTime::now(),
        contents_capacity: 0,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn setup(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = tempdir(name);
    make_pki(&dir);
    make_seal_png(&dir);
    let input = reportlab_pdf(&dir, "in.pdf", 3, &[], false);
    (dir, input)
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).expect("meta").len()
}

#[test]
fn a_refusing_signer_leaves_the_working_copy_clean_and_a_retry_seals() {
    let (dir, input) = setup("fail-refuse");
    let out = dir.join("out.pdf");
    let rt = runtime();
    let mut work = WorkingCopy::create(&input, &out).expect("working copy");
    let temp = work.path().to_owned();
    let err = rt
        .block_on(work.seal(
            request(&dir, one_page(1, 60.0, 80.0, 100.0, 100.0)),
            &Phone::Refuses(signer(&dir)),
        ))
        .expect_err("refused");
    assert_eq!(err.code(), "E_SIGNER");
    assert!(err.to_string().contains("拒绝"));
    // Rolled back to the input: the placeholder update is gone.
    assert_eq!(file_len(&temp), file_len(&input));
    assert_eq!(work.safe_len(), file_len(&input));
    // A retry on the same working copy seals normally.
    rt.block_on(work.seal(
        request(&dir, one_page(2, 60.0, 80.0, 100.0, 100.0)),
        &signer(&dir),
    ))
    .expect("retry");
    work.commit(&out).expect("commit");
    assert_prefix(&input, &out);
    assert_pdfsig_valid(&out, 1);
    assert_pyhanko_valid(&dir, &out, 1);
    assert!(!temp.exists());
}

#[test]
fn a_signer_that_never_answers_times_out_and_nothing_half_written_is_kept() {
    let (dir, input) = setup("fail-timeout");
    let out = dir.join("out.pdf");
    let rt = runtime();
    let mut work = WorkingCopy::create(&input, &out).expect("working copy");
    let temp = work.path().to_owned();
    let phone = Phone::NeverAnswers(signer(&dir));
    let timed = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_millis(300),
            work.seal(request(&dir, one_page(1, 60.0, 80.0, 100.0, 100.0)), &phone),
        )
        .await
    });
    assert!(timed.is_err(), "the signer never answers");
    // The cancelled seal left its placeholder behind; committing now must not publish it.
    assert!(file_len(&temp) > file_len(&input));
    work.commit(&out).expect("commit");
    assert_eq!(
        std::fs::read(&out).expect("out"),
        std::fs::read(&input).expect("in"),
        "a cancelled seal reached the output"
    );
    // Same for a working copy that is simply dropped: the temporary file goes.
    let mut work = WorkingCopy::create(&input, &dir.join("out2.pdf")).expect("working copy");
    let temp = work.path().to_owned();
    let _ = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_millis(100),
            work.seal(request(&dir, one_page(1, 60.0, 80.0, 100.0, 100.0)), &phone),
        )
        .await
    });
    drop(work);
    assert!(!temp.exists());
    assert!(!dir.join("out2.pdf").exists());
    // After a timeout the same working copy can seal again (the pending seal is abandoned).
    let mut work = WorkingCopy::create(&input, &out).expect("working copy");
    let _ = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_millis(100),
            work.seal(request(&dir, one_page(1, 60.0, 80.0, 100.0, 100.0)), &phone),
        )
        .await
    });
    rt.block_on(work.seal(
        request(&dir, one_page(3, 60.0, 80.0, 100.0, 100.0)),
        &signer(&dir),
    ))
    .expect("seal after timeout");
    work.commit(&out).expect("commit");
    assert_pdfsig_valid(&out, 1);
    assert_pyhanko_valid(&dir, &out, 1);
}

#[test]
fn wrong_page_lists_and_images_are_refused_with_their_codes() {
    let (dir, input) = setup("fail-pages");
    let out = dir.join("out.pdf");
    let rect = PageRect {
        x: 60.0,
        y: 80.0,
        w: 100.0,
        h: 100.0,
    };
    let same = |pages: Vec<usize>| WidgetLayout::SameRect { pages, rect };
    let cases: Vec<(&str, WidgetLayout, &str)> = vec![
        ("empty", same(vec![]), "E_PDF_PLACEMENT"),
        ("duplicate", same(vec![1, 2, 1]), "E_PDF_PLACEMENT"),
        ("page 0", same(vec![0, 1]), "E_PDF_PLACEMENT"),
        ("beyond the last page", same(vec![1, 4]), "E_PDF_PAGE_RANGE"),
        (
            "per-page duplicate",
            WidgetLayout::PerPage {
                widgets: vec![(2, rect), (2, rect)],
            },
            "E_PDF_PLACEMENT",
        ),
        (
            "骑缝章 over one page",
            WidgetLayout::CrossPage {
                pages: vec![2],
                y: 100.0,
                width: 100.0,
                height: 100.0,
            },
            "E_PDF_PLACEMENT",
        ),
        (
            "rect outside the page",
            one_page(1, 5000.0, 80.0, 100.0, 100.0),
            "E_PDF_PLACEMENT",
        ),
        (
            "empty rect",
            one_page(1, 60.0, 80.0, 0.0, 100.0),
            "E_PDF_PLACEMENT",
        ),
    ];
    let rt = runtime();
    for (what, layout, code) in cases {
        let mut work = WorkingCopy::create(&input, &out).expect("working copy");
        let err = rt
            .block_on(work.seal(request(&dir, layout), &signer(&dir)))
            .expect_err(what);
        assert_eq!(err.code(), code, "{what}: {err}");
        assert_eq!(file_len(work.path()), file_len(&input), "{what}");
    }
    // Not a PNG, and a PNG cut in half.
    let png = std::fs::read(dir.join("seal.png")).expect("png");
    for (what, bytes) in [
        ("text", b"not a png at all".to_vec()),
        ("truncated", png[..png.len() / 2].to_vec()),
    ] {
        let mut work = WorkingCopy::create(&input, &out).expect("working copy");
        let mut req = request(&dir, one_page(1, 60.0, 80.0, 100.0, 100.0));
        req.image_png = bytes;
        let err = rt.block_on(work.seal(req, &signer(&dir))).expect_err(what);
        assert_eq!(err.code(), "E_PDF_IMAGE", "{what}: {err}");
        assert!(err.to_string().contains("PNG"), "{err}");
    }
    assert!(!out.exists());
}

/// A minimal one-page PDF whose classic xref also lists object `high` (pointing at the page).
fn pdf_listing_object(high: u64) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    let mut offs = Vec::new();
    for body in [
        "<</Type /Catalog /Pages 2 0 R>>",
        "<</Type /Pages /Kids [3 0 R] /Count 1>>",
        "<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]>>",
    ] {
        offs.push(b.len());
        b.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", offs.len()).as_bytes());
    }
    let xref = b.len();
    b.extend_from_slice(b"xref\n0 4\n0000000000 65535 f \n");
    for o in &offs {
        b.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    b.extend_from_slice(format!("{high} 1\n{:010} 00000 n \n", offs[2]).as_bytes());
    b.extend_from_slice(
        format!("trailer\n<</Size 4 /Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    b
}

#[test]
fn object_numbers_at_the_limit_are_refused_and_high_ones_are_allocated_above() {
    let dir = tempdir("fail-numbers");
    make_pki(&dir);
    make_seal_png(&dir);
    let rt = runtime();
    // An entry numbered just below u32::MAX: counting on from it would overflow.
    let input = dir.join("max.pdf");
    std::fs::write(&input, pdf_listing_object(u64::from(u32::MAX) - 2)).expect("write");
    let mut work = WorkingCopy::create(&input, &dir.join("out.pdf")).expect("working copy");
    let err = rt
        .block_on(work.seal(
            request(&dir, one_page(1, 60.0, 80.0, 100.0, 100.0)),
            &signer(&dir),
        ))
        .expect_err("no numbers left");
    assert_eq!(err.code(), "E_PDF_OBJECT_NUMBERS", "{err}");
    // A listed object far above /Size: the seal's objects are numbered above it.
    let input = dir.join("high.pdf");
    std::fs::write(&input, pdf_listing_object(5000)).expect("write");
    let out = dir.join("high-out.pdf");
    let pending = seal(
        &dir,
        &input,
        &out,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    )
    .expect("seal");
    let new: Vec<u32> = pending
        .entries
        .iter()
        .map(|e| e.0)
        .filter(|n| *n > 3)
        .collect();
    assert!(!new.is_empty() && new.iter().all(|n| *n > 5000), "{new:?}");
    assert_pdfsig_valid(&out, 1);
}
