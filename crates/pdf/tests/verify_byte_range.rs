//! The verifier's own checks on a signature, attacked one at a time on a file sealed by us:
//! `/ByteRange` sanity (the gap must be exactly this signature's `/Contents` hex string, the
//! ranges inside the file, not overlapping, not negative, starting at 0, four integers) and a
//! signature value altered while the covered bytes — hence the digest — still match. pdfsig
//! and pyHanko judge the altered signature value too.

mod support;

use bidseal_cms::cert::TrustStore;
use bidseal_pdf::verify::SignatureReport;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use support::*;

fn sealed(name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
    let dir = tempdir(name);
    make_pki(&dir);
    make_seal_png(&dir);
    let input = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    let out = dir.join("sealed.pdf");
    seal(
        &dir,
        &input,
        &out,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    )
    .expect("seal");
    let bytes = std::fs::read(&out).expect("read");
    (dir, out, bytes)
}

fn verify_one(dir: &Path, file: &Path) -> SignatureReport {
    let mut trust = TrustStore::new();
    trust.add_pem_file(&dir.join("ca.pem")).expect("ca");
    let report = bidseal_pdf::verify_file(file, &trust, SystemTime::now()).expect("verify");
    assert_eq!(report.signatures.len(), 1);
    report.signatures[0].clone()
}

/// The `/ByteRange [...]` slot of our signature (padded to a fixed width) and its numbers.
fn byte_range_slot(bytes: &[u8]) -> (usize, usize, [i64; 4]) {
    let at = bytes
        .windows(11)
        .rposition(|w| w == b"/ByteRange ")
        .expect("ByteRange")
        + 11;
    let end = at + bytes[at..].iter().position(|b| *b == b']').expect("]") + 1;
    let text = std::str::from_utf8(&bytes[at..end]).expect("ascii");
    let nums: Vec<i64> = text
        .trim_matches(|c| c == '[' || c == ']')
        .split_whitespace()
        .map(|n| n.parse().expect("int"))
        .collect();
    // The slot is padded with spaces up to ` /Contents`.
    let slot_end = at
        + bytes[at..]
            .windows(10)
            .position(|w| w == b" /Contents")
            .expect("Contents");
    (at, slot_end, [nums[0], nums[1], nums[2], nums[3]])
}

fn with_byte_range(dir: &Path, bytes: &[u8], name: &str, text: &str) -> PathBuf {
    let (at, slot_end, _) = byte_range_slot(bytes);
    let mut b = bytes.to_vec();
    assert!(text.len() <= slot_end - at, "{text} does not fit");
    let padded = format!("{text:<width$}", width = slot_end - at);
    b[at..slot_end].copy_from_slice(padded.as_bytes());
    let p = dir.join(name);
    std::fs::write(&p, b).expect("write");
    p
}

#[test]
fn the_untouched_file_is_valid_and_the_slot_rewrite_itself_is_neutral() {
    let (dir, out, bytes) = sealed("br-neutral");
    assert!(verify_one(&dir, &out).is_valid());
    let (_, _, [s, a, b, c]) = byte_range_slot(&bytes);
    // The helper that rewrites the slot changes nothing by itself (same numbers, same bytes),
    // so the failures below come from the numbers alone.
    let same = with_byte_range(&dir, &bytes, "same.pdf", &format!("[{s} {a} {b} {c}]"));
    assert!(verify_one(&dir, &same).is_valid());
}

#[test]
fn byte_range_attacks_are_reported() {
    let (dir, _out, bytes) = sealed("br-attacks");
    let (_, _, [_, a, b, c]) = byte_range_slot(&bytes);
    let len = bytes.len() as i64;
    let cases: Vec<(&str, String, &str)> = vec![
        // Gap one byte wider than `<hex>`: a byte of the file is left unsigned.
        (
            "wider-gap",
            format!("[0 {a} {} {}]", b + 1, c - 1),
            "签名范围异常",
        ),
        // Gap of the right width but shifted: it no longer is the /Contents string.
        (
            "shifted-gap",
            format!("[0 {} {} {}]", a - 2, b - 2, c + 2),
            "签名范围异常",
        ),
        // Second range running past the end of the file.
        (
            "past-eof",
            format!("[0 {a} {b} {}]", c + 100),
            "/ByteRange 超出文件范围",
        ),
        // Overlapping ranges (the second starts before the first ends).
        (
            "overlap",
            format!("[0 {b} {a} {}]", len - a),
            "/ByteRange 超出文件范围",
        ),
        // Negative numbers.
        (
            "negative",
            format!("[0 {a} -{b} {c}]"),
            "/ByteRange 格式无效",
        ),
        (
            "negative-start",
            format!("[-1 {a} {b} {c}]"),
            "/ByteRange 格式无效",
        ),
        // Not starting at 0: the file header would be unsigned.
        (
            "not-from-zero",
            format!("[10 {} {b} {c}]", a - 10),
            "/ByteRange 格式无效",
        ),
        // Five numbers, and reals.
        ("five", format!("[0 {a} {b} {c} 0]"), "/ByteRange 格式无效"),
        ("reals", format!("[0 {a}.0 {b} {c}]"), "/ByteRange 格式无效"),
        // Huge numbers that overflow when added.
        (
            "overflow",
            format!("[0 {a} {b} {}]", i64::MAX),
            "/ByteRange 超出文件范围",
        ),
    ];
    // A gap of the right width that starts with `<` and ends with `>` but lies elsewhere:
    // only its content tells it is not this signature's /Contents.
    let width = (b - a) as usize;
    let p = 20usize;
    assert!(
        p + width < a as usize,
        "the decoy gap must lie before the signature"
    );
    let mut decoy = bytes.clone();
    decoy[p] = b'<';
    decoy[p + width - 1] = b'>';
    let decoy_file = with_byte_range(
        &dir,
        &decoy,
        "gap-elsewhere.pdf",
        &format!("[0 {p} {} {}]", p + width, len - (p + width) as i64),
    );
    let sig = verify_one(&dir, &decoy_file);
    assert!(
        !sig.byte_range_ok && !sig.is_valid(),
        "{}",
        sig.summary_line()
    );
    assert!(sig.summary_line().contains("签名范围异常"));
    for (name, text, expect) in cases {
        let file = with_byte_range(&dir, &bytes, &format!("{name}.pdf"), &text);
        let sig = verify_one(&dir, &file);
        assert!(!sig.is_valid(), "{name}: {}", sig.summary_line());
        assert!(
            sig.summary_line().contains(expect),
            "{name}: expected “{expect}”: {}",
            sig.summary_line()
        );
    }
}

#[test]
fn a_signature_value_altered_while_the_digest_still_matches() {
    let (dir, out, bytes) = sealed("br-sigvalue");
    let (_, _, [_, a, _, _]) = byte_range_slot(&bytes);
    // The CMS DER starts after `<`; its length is in the outer SEQUENCE header (30 82 hi lo).
    let hex_at = a as usize + 1;
    let header = std::str::from_utf8(&bytes[hex_at..hex_at + 8]).expect("hex");
    assert!(header.starts_with("3082"), "{header}");
    let der_len = 4 + usize::from_str_radix(&header[4..8], 16).expect("len");
    // The last byte of the DER is the last byte of the ECDSA signature value (s).
    let last = hex_at + 2 * (der_len - 1);
    let mut b = bytes.clone();
    let old = u8::from_str_radix(std::str::from_utf8(&b[last..last + 2]).expect("hex"), 16)
        .expect("byte");
    let new = format!("{:02X}", old ^ 0x01);
    b[last..last + 2].copy_from_slice(new.as_bytes());
    let altered = dir.join("altered-sig.pdf");
    std::fs::write(&altered, &b).expect("write");
    let sig = verify_one(&dir, &altered);
    assert!(sig.byte_range_ok && sig.digest_ok, "{}", sig.summary_line());
    assert!(!sig.signature_ok && !sig.is_valid());
    assert!(
        sig.summary_line().contains("签名值无效"),
        "{}",
        sig.summary_line()
    );
    // The untouched file is valid (the flip is what breaks it).
    assert!(verify_one(&dir, &out).is_valid());
    // pdfsig lists the signature as invalid, pyHanko as not valid.
    let o = run(std::process::Command::new("pdfsig").arg(&altered));
    let text = String::from_utf8_lossy(&o.stdout);
    let verdicts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Signature Validation:"))
        .collect();
    assert_eq!(verdicts.len(), 1, "pdfsig:\n{text}");
    assert!(
        verdicts[0].contains("Signature is Invalid"),
        "pdfsig:\n{text}"
    );
    let o = py(
        &dir,
        r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
r = PdfFileReader(open(sys.argv[1], 'rb'))
for s in r.embedded_signatures:
    st = validate_pdf_signature(s)
    print('SIG', st.intact, st.valid)
"#,
        &[altered.to_str().expect("utf8")],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "SIG True False",
        "pyHanko"
    );
}

#[test]
fn bytes_appended_without_a_revision() {
    let (dir, _out, bytes) = sealed("br-appended");
    let write = |name: &str, tail: &[u8]| {
        let p = dir.join(name);
        let mut b = bytes.clone();
        b.extend_from_slice(tail);
        std::fs::write(&p, b).expect("write");
        p
    };
    // Line ends only (some transfer tools add them): nothing changed.
    let sig = verify_one(&dir, &write("newlines.pdf", b"\r\n\n"));
    assert!(
        sig.is_valid() && sig.changes.is_empty(),
        "{}",
        sig.summary_line()
    );
    // Also a longer run of them (still within the 2 KiB in which readers look for startxref).
    let sig = verify_one(&dir, &write("many-newlines.pdf", &[b'\n'; 1500]));
    assert!(
        sig.is_valid() && sig.changes.is_empty(),
        "{}",
        sig.summary_line()
    );
    // Data after the last %%EOF: what a repairing reader would pick up.
    let sig = verify_one(&dir, &write("junk.pdf", b"5 0 obj (junk) endobj\n"));
    assert!(!sig.is_valid());
    assert!(
        sig.summary_line()
            .contains("文件末尾 %%EOF 之后有未被交叉引用表引用的数据"),
        "{}",
        sig.summary_line()
    );
    // Data that ends with its own %%EOF but is no revision.
    let sig = verify_one(
        &dir,
        &write("fake-eof.pdf", b"5 0 obj (junk) endobj\n%%EOF\n"),
    );
    assert!(!sig.is_valid());
    assert!(
        sig.summary_line()
            .contains("签名后追加了未被任何修订引用的数据"),
        "{}",
        sig.summary_line()
    );
}
