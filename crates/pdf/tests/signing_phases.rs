//! Scenarios around the three signing phases: a prepared seal waits for the phone and is
//! finalized later in "another process"; an abandoned seal leaves nothing behind; several seals
//! in a row on one working copy (hash state reused) all validate; a tampered file is caught.

mod support;

use bidseal_cms::cert::TrustStore;
use bidseal_cms::signed_data::{AttributeProfile, SignRequest, SignedAttributes, Signer};
use bidseal_pdf::{PageRect, PendingSeal, SealKind, SealRequest, WidgetLayout, WorkingCopy};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::SystemTime;
use support::*;

fn request(dir: &Path, page: usize, x: f64) -> SealRequest {
    SealRequest {
        kind: SealKind::LegalPersonSignature,
        image_png: std::fs::read(dir.join("seal.png")).expect("png"),
        layout: WidgetLayout::SameRect {
            pages: vec![page],
            rect: PageRect {
                x,
                y: 100.0,
                w: 90.0,
                h: 90.0,
            },
        },
        signer_name: "张三".into(),
        time: SystemTime::now(),
        contents_capacity: 8192,
    }
}

fn setup(name: &str) -> std::path::PathBuf {
    let dir = tempdir(name);
    make_pki(&dir);
    make_seal_png(&dir);
    dir
}

fn file_sha(p: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(p).expect("read")).into()
}

#[test]
fn prepared_seal_waits_for_the_phone_and_is_finalized_after_a_restart() {
    let dir = setup("phases-resume");
    let input = reportlab_pdf(&dir, "in.pdf", 2, &[], false);
    let before = file_sha(&input);
    let out = dir.join("out.pdf");
    // Process 1: prepare, persist the pending seal as JSON, keep the working copy.
    let mut work = WorkingCopy::create(&input, &out).expect("create");
    let pending = work.prepare(&request(&dir, 2, 100.0)).expect("prepare");
    let json = serde_json::to_string(&pending).expect("serialise");
    let work_path = work.persist().expect("persist");
    assert!(work_path.exists() && !out.exists());
    // The digest is reproducible from the file alone (phase 2 on its own).
    let restored: PendingSeal = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(
        bidseal_pdf::seal::byte_range_digest(&work_path, &restored.byte_range).expect("digest"),
        restored.digest
    );
    // Process 2: the phone answers; resume, build the CMS, finalize, commit.
    let mut work = WorkingCopy::resume(&work_path, &restored).expect("resume");
    let signer = signer(&dir);
    let attrs = SignedAttributes::new(
        restored.digest,
        signer.certificate_chain().to_vec(),
        AttributeProfile::Pades,
    )
    .expect("attrs");
    let req = SignRequest {
        to_be_signed: attrs.to_be_signed().expect("tbs"),
        content_digest: restored.digest,
        description: String::new(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let raw = rt.block_on(signer.sign(&req)).expect("sign");
    let cms = attrs.assemble(&raw).expect("assemble");
    work.finalize(&restored, &cms).expect("finalize");
    work.commit(&out).expect("commit");
    assert!(!work_path.exists());
    assert_eq!(file_sha(&input), before, "input modified");
    assert_prefix(&input, &out);
    assert_pdfsig_valid(&out, 1);
    assert_pyhanko_valid(&dir, &out, 1);
    assert_seal_rendered(
        &out,
        2,
        PageRect {
            x: 100.0,
            y: 100.0,
            w: 90.0,
            h: 90.0,
        },
    );
}

#[test]
fn abandoned_seal_leaves_no_output_and_the_input_untouched() {
    let dir = setup("phases-abandon");
    let input = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    let before = file_sha(&input);
    let out = dir.join("out.pdf");
    {
        let mut work = WorkingCopy::create(&input, &out).expect("create");
        let pending = work.prepare(&request(&dir, 1, 100.0)).expect("prepare");
        // A signature that does not fit is refused and nothing is patched.
        let err = work
            .finalize(&pending, &vec![0x30; pending.contents_capacity + 1])
            .expect_err("too large");
        assert_eq!(err.code(), "E_PDF_SIG_TOO_LARGE");
        work.abandon().expect("abandon");
        assert_eq!(
            std::fs::metadata(work.path()).expect("meta").len(),
            std::fs::metadata(&input).expect("meta").len()
        );
        // Dropped without commit: the working copy disappears.
    }
    assert!(!out.exists());
    let leftovers = std::fs::read_dir(&dir)
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".bidseal-"))
        .count();
    assert_eq!(leftovers, 0, "temporary file left behind");
    assert_eq!(file_sha(&input), before);
}

#[test]
fn five_seals_in_a_row_on_one_working_copy_all_validate() {
    let dir = setup("phases-series");
    let input = reportlab_pdf(&dir, "in.pdf", 3, &[], false);
    let out = dir.join("out.pdf");
    let signer = signer(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let mut work = WorkingCopy::create(&input, &out).expect("create");
    let mut names = Vec::new();
    for k in 0..5 {
        let mut req = request(
            &dir,
            1 + k % 3,
            60.0 + 90.0 * (k / 3) as f64 + 5.0 * k as f64,
        );
        req.kind = if k == 0 {
            SealKind::Enterprise
        } else {
            SealKind::Personal
        };
        let before = work.safe_len();
        let pending = rt.block_on(work.seal(req, &signer)).expect("seal");
        assert_eq!(work.safe_len(), before + pending.update_len);
        names.push(pending.field_name);
    }
    work.commit(&out).expect("commit");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 5, "field names must be unique");
    assert_prefix(&input, &out);
    assert_qpdf_check(&out);
    assert_pdfsig_valid(&out, 5);
    assert_pyhanko_valid(&dir, &out, 5);
    let mut trust = TrustStore::new();
    trust.add_pem_file(&dir.join("ca.pem")).expect("ca");
    let report = bidseal_pdf::verify_file(&out, &trust, SystemTime::now()).expect("verify");
    assert!(report.all_valid());
    assert_eq!(report.signatures[0].seal_kind.as_deref(), Some("公章"));
    assert_eq!(report.signatures[4].seal_kind.as_deref(), Some("私章"));
    assert_eq!(report.revisions, 6);
}

#[test]
fn a_byte_changed_after_sealing_is_reported_by_us_and_by_pdfsig() {
    let dir = setup("phases-tamper");
    let input = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    let out = dir.join("out.pdf");
    seal(
        &dir,
        &input,
        &out,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    )
    .expect("seal");
    let mut bytes = std::fs::read(&out).expect("read");
    let pos = bytes
        .windows(9)
        .position(|w| w == b"ReportLab")
        .expect("producer text in the original part");
    bytes[pos] = b'X';
    let tampered = dir.join("tampered.pdf");
    std::fs::write(&tampered, bytes).expect("write");
    let mut trust = TrustStore::new();
    trust.add_pem_file(&dir.join("ca.pem")).expect("ca");
    let report = bidseal_pdf::verify_file(&tampered, &trust, SystemTime::now()).expect("verify");
    assert_eq!(report.signatures.len(), 1);
    assert!(!report.signatures[0].digest_ok && !report.all_valid());
    assert!(report.signatures[0].summary_line().contains("摘要不符"));
    // pdfsig must list the signature and call it invalid (its digest no longer matches); a
    // crash or an empty listing is not a verdict.
    let o = run(std::process::Command::new("pdfsig").arg(&tampered));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "pdfsig failed on the file:\n{text}"
    );
    let verdicts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Signature Validation:"))
        .collect();
    assert_eq!(
        verdicts.len(),
        1,
        "pdfsig did not list the signature:\n{text}"
    );
    assert!(
        verdicts[0].contains("Digest Mismatch"),
        "pdfsig accepted a tampered file:\n{text}"
    );
    // And an untrusted CA is reported as a chain problem, not as valid.
    let report =
        bidseal_pdf::verify_file(&out, &TrustStore::new(), SystemTime::now()).expect("verify");
    assert!(
        report.signatures[0].digest_ok
            && report.signatures[0].chain_error.is_some()
            && !report.all_valid()
    );
}

#[test]
fn page_content_added_after_sealing_makes_the_seal_invalid_but_a_later_seal_does_not() {
    let dir = setup("phases-later");
    let input = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    let sealed = dir.join("sealed.pdf");
    seal(
        &dir,
        &input,
        &sealed,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    )
    .expect("seal");
    // A second seal afterwards is acceptable bookkeeping for the first.
    let twice = dir.join("twice.pdf");
    seal(
        &dir,
        &sealed,
        &twice,
        "私章",
        one_page(1, 300.0, 80.0, 100.0, 100.0),
    )
    .expect("seal 2");
    let mut trust = TrustStore::new();
    trust.add_pem_file(&dir.join("ca.pem")).expect("ca");
    let report = bidseal_pdf::verify_file(&twice, &trust, SystemTime::now()).expect("verify");
    assert!(
        report.all_valid(),
        "{:?}",
        report
            .signatures
            .iter()
            .map(|s| s.summary_line())
            .collect::<Vec<_>>()
    );
    assert!(report.signatures[0]
        .changes
        .iter()
        .any(|c| c.allowed && c.description == "新增签名控件：第 1 页"));
    // pyHanko (an independent writer) appends visible text to the page in a new revision.
    let altered = dir.join("altered.pdf");
    let script = r#"
import sys
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
w = IncrementalPdfFileWriter(open(sys.argv[1], 'rb'))
ref = w.add_object(generic.StreamObject(stream_data=b'BT /F1 24 Tf 100 500 Td (ALTERED PRICE) Tj ET'))
w.add_stream_to_page(0, ref)
with open(sys.argv[2], 'wb') as out:
    w.write(out)
"#;
    py(
        &dir,
        script,
        &[
            twice.to_str().expect("utf8"),
            altered.to_str().expect("utf8"),
        ],
    );
    let report = bidseal_pdf::verify_file(&altered, &trust, SystemTime::now()).expect("verify");
    for sig in &report.signatures {
        assert!(
            sig.digest_ok && sig.signature_ok,
            "the signed bytes themselves are intact"
        );
        assert_eq!(
            sig.later_changes,
            bidseal_pdf::verify::LaterChanges::Other,
            "{}",
            sig.summary_line()
        );
        assert!(!sig.is_valid());
        assert!(sig.summary_line().contains("签名后文件有其他修改"));
    }
}

#[test]
fn an_edited_pending_record_is_refused_on_resume() {
    let dir = setup("phases-edited");
    let input = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    let out = dir.join("out.pdf");
    let mut work = WorkingCopy::create(&input, &out).expect("create");
    let pending = work.prepare(&request(&dir, 1, 100.0)).expect("prepare");
    assert!(pending.is_consistent());
    let path = work.persist().expect("persist");
    let mut edited = pending.clone();
    edited.contents_offset = 3; // would patch bytes of the original document
    assert_eq!(
        WorkingCopy::resume(&path, &edited)
            .expect_err("edited")
            .code(),
        "E_PDF_WORKING_COPY"
    );
    let mut edited = pending.clone();
    edited.digest[0] ^= 1;
    assert_eq!(
        WorkingCopy::resume(&path, &edited)
            .expect_err("edited")
            .code(),
        "E_PDF_WORKING_COPY"
    );
    assert!(WorkingCopy::resume(&path, &pending).is_ok());
}

/// Object numbers of the first page's content streams and of every object of `file`'s
/// newest xref (via qpdf, an independent reader).
fn page_content_number(dir: &Path, file: &Path) -> u32 {
    let o = py(
        dir,
        r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
r = PdfFileReader(open(sys.argv[1], 'rb'))
page = r.root['/Pages']['/Kids'][0].get_object()
c = page.raw_get('/Contents')
print(c.idnum)
"#,
        &[file.to_str().expect("utf8")],
    );
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .expect("content object number")
}

#[test]
fn an_update_that_would_replace_document_objects_is_refused_before_anything_is_written() {
    let dir = setup("phases-selfcheck");
    let input = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    let before = file_sha(&input);
    let out = dir.join("out.pdf");
    let content = page_content_number(&dir, &input);
    let mut work = WorkingCopy::create(&input, &out).expect("create");
    let safe = work.safe_len();
    // Allocation collides with the page's content stream (the image goes there first).
    work.force_next_object_number_for_test(content);
    let err = work
        .prepare(&request(&dir, 1, 100.0))
        .expect_err("a colliding update must be refused");
    assert_eq!(err.code(), "E_PDF_SELF_CHECK", "{err}");
    assert!(
        err.to_string().contains("签名后页面内容被替换：第 1 页"),
        "{err}"
    );
    // Nothing appended, nothing written, the input untouched.
    assert_eq!(
        std::fs::metadata(work.path()).expect("working copy").len(),
        safe
    );
    drop(work);
    assert!(!out.exists());
    assert_eq!(file_sha(&input), before);
    // A collision with a non-content object (the catalog, object 1.. of reportlab) too.
    let mut work = WorkingCopy::create(&input, &out).expect("create");
    work.force_next_object_number_for_test(1);
    let err = work
        .prepare(&request(&dir, 1, 100.0))
        .expect_err("a colliding update must be refused");
    assert_eq!(err.code(), "E_PDF_SELF_CHECK", "{err}");
    // Without the forced numbers the same working copy seals fine.
    let pending = work.prepare(&request(&dir, 1, 100.0)).expect("prepare");
    assert!(pending.is_consistent());
}

#[test]
fn a_trailer_size_too_low_never_yields_a_seal_that_replaced_content() {
    let dir = setup("phases-lowsize");
    let input = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    // Lower the trailer's /Size in place (same byte length): object numbers from /Size on are
    // taken by the document's own objects.
    let mut bytes = std::fs::read(&input).expect("read");
    let at = bytes
        .windows(6)
        .rposition(|w| w == b"/Size ")
        .expect("trailer /Size");
    let digits = bytes[at + 6..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let low = format!("{:<width$}", 3, width = digits);
    bytes[at + 6..at + 6 + digits].copy_from_slice(low.as_bytes());
    let crafted = dir.join("low-size.pdf");
    std::fs::write(&crafted, &bytes).expect("write");
    let out = dir.join("out.pdf");
    match seal(
        &dir,
        &crafted,
        &out,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    ) {
        // Our guard caught the collision: nothing written.
        Err(e) => {
            assert_eq!(e.code(), "E_PDF_SELF_CHECK", "{e}");
            assert!(!out.exists());
        }
        // Allocation avoided it (issue #9 allocation fix): the result must be a clean seal.
        Ok(_) => {
            let mut trust = TrustStore::new();
            trust.add_pem_file(&dir.join("ca.pem")).expect("ca");
            let report = bidseal_pdf::verify_file(&out, &trust, SystemTime::now()).expect("verify");
            assert!(report.all_valid());
            // pyHanko's strict reader refuses the crafted *input* (objects beyond its /Size),
            // whoever sealed it: judge the seal with its lenient reader then.
            let strict = pyhanko_reads_strictly(&dir, &crafted);
            assert_pyhanko_valid_with(&dir, &out, 1, strict);
        }
    }
}
