//! Scenario: someone hands the sealing tool a broken or malicious file. Each one gives a clear,
//! typed error with a zh-CN message, leaves no output (and no temporary file) behind, and
//! finishes quickly — never a panic, a hang or a memory blow-up.

mod support;

use bidseal_cms::cert::TrustStore;
use bidseal_pdf::PdfError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use support::*;

/// Writes a classic-xref PDF from object bodies (numbered 1..), with `trailer_extra` keys.
fn classic_pdf(objects: &[&[u8]], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        writeln!(out, "{} 0 obj", i + 1).unwrap();
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).unwrap();
    for off in offsets {
        writeln!(out, "{off:010} 00000 n ").unwrap();
    }
    write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    )
    .unwrap();
    out
}

/// An xref-stream PDF whose catalog (object 1) lives in object stream 4 with the given
/// `/Length` text and (Flate) data.
fn objstm_pdf(length: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = std::collections::BTreeMap::new();
    for (num, body) in [(2u32, PAGES), (3, PAGE)] {
        offsets.insert(num, out.len());
        writeln!(out, "{num} 0 obj").unwrap();
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    offsets.insert(4, out.len());
    write!(out, "4 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {length} >>\nstream\n")
        .unwrap();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let xref_off = out.len();
    let mut rows = Vec::new();
    let row = |t: u8, a: u32, b: u16| {
        let mut r = vec![t];
        r.extend_from_slice(&a.to_be_bytes());
        r.extend_from_slice(&b.to_be_bytes());
        r
    };
    rows.extend(row(0, 0, 65535));
    rows.extend(row(2, 4, 0)); // obj 1 in object stream 4, index 0
    rows.extend(row(1, offsets[&2] as u32, 0));
    rows.extend(row(1, offsets[&3] as u32, 0));
    rows.extend(row(1, offsets[&4] as u32, 0));
    rows.extend(row(1, xref_off as u32, 0));
    write!(
        out,
        "5 0 obj\n<< /Type /XRef /Size 6 /W [1 4 2] /Root 1 0 R /Length {} >>\nstream\n",
        rows.len()
    )
    .unwrap();
    out.extend_from_slice(&rows);
    write!(out, "\nendstream\nendobj\nstartxref\n{xref_off}\n%%EOF\n").unwrap();
    out
}

const PAGES: &[u8] = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>";
const PAGE: &[u8] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>";
const CATALOG: &[u8] = b"<< /Type /Catalog /Pages 2 0 R >>";

/// Tries to seal `input`; asserts the error code, no output, no temp file, bounded time.
fn assert_refused(dir: &Path, input: &Path, code: &str) -> PdfError {
    let out = dir.join(format!(
        "{}.sealed.pdf",
        input.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    ));
    let started = Instant::now();
    let err = seal(
        dir,
        input,
        &out,
        "公章",
        one_page(1, 50.0, 50.0, 100.0, 100.0),
    )
    .expect_err("hostile input sealed");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), code, "{}: {err}", input.display());
    assert!(!out.exists(), "an output file was left behind");
    let leftovers: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains(".bidseal-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // zh-CN message that says what happened.
    assert!(
        err.to_string()
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "message not zh-CN: {err}"
    );
    // Verification of the same file fails just as cleanly: the same typed error when the
    // file cannot be opened, else a report that finds no signature (these files hold none).
    let started = Instant::now();
    match bidseal_pdf::verify_file(input, &TrustStore::new(), SystemTime::now()) {
        Err(e) => assert_eq!(e.code(), code, "verify: {e}"),
        Ok(report) => assert!(
            report.signatures.is_empty() && !report.all_valid(),
            "verify found signatures in {}",
            input.display()
        ),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    err
}

fn setup(name: &str) -> PathBuf {
    let dir = tempdir(name);
    make_pki(&dir);
    make_seal_png(&dir);
    dir
}

#[test]
fn empty_and_non_pdf_files_are_refused() {
    let dir = setup("hostile-notpdf");
    let empty = dir.join("empty.pdf");
    std::fs::write(&empty, b"").unwrap();
    assert_refused(&dir, &empty, "E_PDF_NOT_PDF");
    let text = dir.join("notes.pdf");
    std::fs::write(&text, "这不是 PDF，只是一段文字。\n".repeat(100)).unwrap();
    assert_refused(&dir, &text, "E_PDF_NOT_PDF");
    let png = dir.join("image.pdf");
    std::fs::copy(dir.join("seal.png"), &png).unwrap();
    assert_refused(&dir, &png, "E_PDF_NOT_PDF");
}

#[test]
fn truncated_pdf_is_refused() {
    let dir = setup("hostile-truncated");
    let full = reportlab_pdf(&dir, "full.pdf", 3, &[], false);
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.join("cut.pdf");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    assert_refused(&dir, &cut, "E_PDF_CORRUPT");
    // startxref present but pointing past the end.
    let mut lying = bytes.clone();
    let pos = lying.windows(9).rposition(|w| w == b"startxref").unwrap();
    lying.truncate(pos);
    lying.extend_from_slice(b"startxref\n99999999\n%%EOF\n");
    let lie = dir.join("lying.pdf");
    std::fs::write(&lie, lying).unwrap();
    assert_refused(&dir, &lie, "E_PDF_CORRUPT");
}

#[test]
fn circular_prev_chain_is_refused() {
    let dir = setup("hostile-prev");
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in [CATALOG, PAGES, PAGE].iter().enumerate() {
        offsets.push(out.len());
        writeln!(out, "{} 0 obj", i + 1).unwrap();
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    // Two sections whose /Prev point at each other. Section A is written first; its /Prev is
    // B's offset, which is known once A's length is fixed (A is padded to a fixed width).
    let a_off = out.len();
    let entries: String = offsets
        .iter()
        .map(|o| format!("{o:010} 00000 n \n"))
        .collect();
    let a_body = |b_off: usize| {
        format!("xref\n0 4\n0000000000 65535 f \n{entries}trailer\n<< /Size 4 /Root 1 0 R /Prev {b_off:010} >>\n")
    };
    let b_off = a_off + a_body(0).len();
    out.extend_from_slice(a_body(b_off).as_bytes());
    write!(
        out,
        "xref\n1 1\n{:010} 00000 n \ntrailer\n<< /Size 4 /Root 1 0 R /Prev {a_off} >>\n",
        offsets[0]
    )
    .unwrap();
    write!(out, "startxref\n{b_off}\n%%EOF\n").unwrap();
    let file = dir.join("loop.pdf");
    std::fs::write(&file, out).unwrap();
    assert_refused(&dir, &file, "E_PDF_XREF_LOOP");
}

#[test]
fn self_referencing_objects_are_refused() {
    let dir = setup("hostile-selfref");
    // A page tree node that is its own kid.
    let file = dir.join("pages-loop.pdf");
    std::fs::write(
        &file,
        classic_pdf(
            &[CATALOG, b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>", PAGE],
            "",
        ),
    )
    .unwrap();
    assert_refused(&dir, &file, "E_PDF_REF_LOOP");
    // An object stream (holding the catalog) whose /Length refers to itself.
    let file = dir.join("length-loop.pdf");
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(b"1 0 << /Type /Catalog /Pages 2 0 R >> ")
        .unwrap();
    std::fs::write(&file, objstm_pdf("4 0 R", &enc.finish().unwrap())).unwrap();
    let err = assert_refused(&dir, &file, "E_PDF_REF_LOOP");
    assert!(err.to_string().contains("循环引用"));
}

#[test]
fn flate_bomb_in_an_object_stream_is_refused() {
    let dir = setup("hostile-bomb");
    // The catalog lives in an object stream that inflates to 80 MB.
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(b"1 0 << /Type /Catalog /Pages 2 0 R >> ")
        .unwrap();
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..80 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    let out = objstm_pdf(&format!("{}", bomb.len()), &bomb);
    let file = dir.join("bomb.pdf");
    std::fs::write(&file, out).unwrap();
    assert!(
        std::fs::metadata(&file).unwrap().len() < 2 << 20,
        "the bomb itself is small"
    );
    assert_refused(&dir, &file, "E_PDF_FLATE_BOMB");
}

#[test]
fn deep_nesting_is_refused() {
    let dir = setup("hostile-deep");
    let deep = format!(
        "<< /Type /Catalog /Pages 2 0 R /X {}1{} >>",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let file = dir.join("deep.pdf");
    std::fs::write(&file, classic_pdf(&[deep.as_bytes(), PAGES, PAGE], "")).unwrap();
    assert_refused(&dir, &file, "E_PDF_TOO_DEEP");
}

#[test]
fn password_encrypted_pdf_is_refused() {
    let dir = setup("hostile-encrypted");
    let src = reportlab_pdf(&dir, "plain.pdf", 1, &[], false);
    let enc = qpdf(
        &dir,
        &src,
        "encrypted.pdf",
        &["--encrypt", "user", "owner", "256", "--"],
    );
    let err = assert_refused(&dir, &enc, "E_PDF_ENCRYPTED");
    assert!(err.to_string().contains("加密"));
}

#[test]
fn a_well_formed_minimal_pdf_from_the_same_builder_is_accepted() {
    // Guards the hostile tests: the builder itself makes valid files, so each refusal above
    // is due to the hostile part only.
    let dir = setup("hostile-control");
    let file = dir.join("ok.pdf");
    std::fs::write(&file, classic_pdf(&[CATALOG, PAGES, PAGE], "")).unwrap();
    let out = dir.join("ok-sealed.pdf");
    seal(
        &dir,
        &file,
        &out,
        "公章",
        one_page(1, 50.0, 50.0, 100.0, 100.0),
    )
    .expect("valid minimal PDF seals");
    assert_qpdf_check(&out);
    assert_pdfsig_valid(&out, 1);
}
