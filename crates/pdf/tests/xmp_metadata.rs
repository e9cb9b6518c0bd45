//! XMP metadata and later revisions (issue #9 point 5): ghostscript's PDF 2.0 writer leaves
//! malformed XMP (an unquoted attribute), and pyHanko refuses any later revision over
//! unparsable `/Metadata`. A seal on such a file writes a fresh packet; two of our seals then
//! validate in pyHanko, pdfsig and our verifier. Well-formed XMP is left alone.

mod support;

use bidseal_cms::cert::TrustStore;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;
use support::*;

fn setup(name: &str) -> PathBuf {
    let dir = tempdir(name);
    make_pki(&dir);
    make_seal_png(&dir);
    dir
}

fn gs(dir: &Path, input: &Path, level: &str, name: &str) -> PathBuf {
    let out = dir.join(name);
    run_ok(
        Command::new("gs")
            .args(["-q", "-dBATCH", "-dNOPAUSE", "-dSAFER", "-sDEVICE=pdfwrite"])
            .arg(format!("-dCompatibilityLevel={level}"))
            .arg(format!("-sOutputFile={}", out.display()))
            .arg(input),
    );
    out
}

/// (object number of /Metadata, whether lxml parses it as pyHanko does).
fn metadata(dir: &Path, file: &Path) -> (u32, bool) {
    let o = py(
        dir,
        r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from lxml import etree
r = PdfFileReader(open(sys.argv[1], 'rb'))
ref = r.root.raw_get('/Metadata')
try:
    etree.fromstring(r.root['/Metadata'].data, parser=etree.XMLParser(resolve_entities=False, encoding='utf-8'))
    ok = True
except Exception:
    ok = False
print(ref.idnum, ok)
"#,
        &[file.to_str().expect("utf8")],
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let f: Vec<&str> = text.split_whitespace().collect();
    (f[0].parse().expect("num"), f[1] == "True")
}

fn seal_twice(dir: &Path, input: &Path) -> (PathBuf, PathBuf) {
    let once = dir.join("once.pdf");
    let twice = dir.join("twice.pdf");
    seal(
        dir,
        input,
        &once,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    )
    .expect("seal 1");
    seal(
        dir,
        &once,
        &twice,
        "法人章",
        one_page(1, 300.0, 80.0, 100.0, 100.0),
    )
    .expect("seal 2");
    (once, twice)
}

#[test]
fn ghostscript_pdf20_with_malformed_xmp_sealed_twice_validates_in_pyhanko_and_pdfsig() {
    let dir = setup("xmp-gs20");
    let base = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    let input = gs(&dir, &base, "2.0", "gs20.pdf");
    let (orig_num, orig_ok) = metadata(&dir, &input);
    assert!(!orig_ok, "the premise: gs 2.0 XMP does not parse in lxml");
    let (once, twice) = seal_twice(&dir, &input);
    assert_pyhanko_valid(&dir, &twice, 2);
    // The first seal replaced the packet with a well-formed one (a new object); the second
    // found nothing to fix.
    let (once_num, once_ok) = metadata(&dir, &once);
    assert!(once_ok && once_num != orig_num);
    assert_eq!(metadata(&dir, &twice), (once_num, true));
    assert_prefix(&input, &once);
    assert_prefix(&once, &twice);
    assert_qpdf_check(&twice);
    assert_pdfsig_valid(&twice, 2);
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
}

#[test]
fn well_formed_xmp_is_left_alone() {
    let dir = setup("xmp-gs17");
    let base = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    let input = gs(&dir, &base, "1.7", "gs17.pdf");
    let (num, ok) = metadata(&dir, &input);
    assert!(ok);
    let (_, twice) = seal_twice(&dir, &input);
    assert_eq!(metadata(&dir, &twice), (num, true));
    assert_pyhanko_valid(&dir, &twice, 2);
}
