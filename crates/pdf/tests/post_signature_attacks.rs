//! Post-signature attacks (issue #9): each made by `tests/attacks/attack.py` — code written
//! independently of ours, raw byte appends or pyHanko's incremental writer — on a file sealed
//! by us and on a file signed by pyHanko. Our verifier must call every attacked signature
//! invalid and name what changed; pyHanko's validation of the same file must agree. The benign
//! case (a second seal by us) keeps the first signature valid in both.

mod support;

use bidseal_cms::cert::TrustStore;
use bidseal_pdf::verify::{LaterChanges, VerificationReport};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use support::*;

fn setup(name: &str) -> PathBuf {
    let dir = tempdir(name);
    make_pki(&dir);
    make_seal_png(&dir);
    dir
}

fn attack_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attacks/attack.py")
}

fn run_attack(dir: &Path, name: &str, input: &Path, output: &Path) {
    run_ok(
        std::process::Command::new(python())
            .arg(attack_script())
            .arg(name)
            .arg(input)
            .arg(output)
            .current_dir(dir),
    );
}

fn trust(dir: &Path) -> TrustStore {
    let mut t = TrustStore::new();
    t.add_pem_file(&dir.join("ca.pem")).expect("ca");
    t
}

fn verify(dir: &Path, file: &Path) -> VerificationReport {
    bidseal_pdf::verify_file(file, &trust(dir), SystemTime::now()).expect("verify")
}

/// pyHanko's overall verdict per signature: (field, bottom line, modification level).
fn pyhanko_verdicts(dir: &Path, file: &Path) -> Vec<(String, bool, String)> {
    let script = r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.keys import load_cert_from_pemder
from pyhanko_certvalidator import ValidationContext
ca = load_cert_from_pemder(sys.argv[2])
vc = ValidationContext(trust_roots=[ca], allow_fetching=False)
with open(sys.argv[1], 'rb') as f:
    r = PdfFileReader(f, strict=False)
    for s in r.embedded_signatures:
        try:
            st = validate_pdf_signature(s, vc)
            level = st.modification_level.name if st.modification_level is not None else 'NONE'
            print('SIG', s.field_name, st.bottom_line, level)
        except Exception as e:
            print('SIG', s.field_name, False, 'ERROR:' + type(e).__name__)
"#;
    let o = py(
        dir,
        script,
        &[
            file.to_str().expect("utf8"),
            dir.join("ca.pem").to_str().expect("utf8"),
        ],
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("SIG "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1] == "True", f[2].to_owned())
        })
        .collect()
}

/// The signed base files: the attack input sealed by us, and signed by pyHanko.
fn signed_bases(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let input = dir.join("input.pdf");
    run_ok(
        std::process::Command::new(python())
            .arg(attack_script())
            .arg("make-input")
            .arg(&input)
            .current_dir(dir),
    );
    let ours = dir.join("sealed-ours.pdf");
    seal(
        dir,
        &input,
        &ours,
        "公章",
        one_page(1, 400.0, 60.0, 100.0, 100.0),
    )
    .expect("seal");
    let theirs = pyhanko_sign(dir, &input, "signed-pyhanko.pdf", None);
    for f in [&ours, &theirs] {
        assert!(
            verify(dir, f).all_valid(),
            "base not valid: {}",
            f.display()
        );
        assert!(pyhanko_verdicts(dir, f).iter().all(|v| v.1));
    }
    vec![("ours", ours), ("pyhanko", theirs)]
}

/// Applies `attack` to each base and checks both verdicts; `expect` must appear among our
/// findings for the attacked signature.
fn attack_is_caught(dir: &Path, attack: &str, expect: &str) {
    for (who, base) in signed_bases_cached(dir) {
        let out = dir.join(format!("{who}-{attack}.pdf"));
        run_attack(dir, attack, &base, &out);
        let report = verify(dir, &out);
        assert_eq!(report.signatures.len(), 1, "{who}/{attack}");
        let sig = &report.signatures[0];
        assert!(
            sig.digest_ok && sig.signature_ok,
            "{who}/{attack}: the signed bytes are intact"
        );
        assert!(!sig.is_valid(), "{who}/{attack}: {}", sig.summary_line());
        assert_eq!(sig.later_changes, LaterChanges::Other, "{who}/{attack}");
        assert!(
            sig.violations().any(|c| c.description.contains(expect)),
            "{who}/{attack}: expected “{expect}” in {:#?}",
            sig.changes
        );
        assert!(
            sig.summary_line().contains(expect),
            "{}",
            sig.summary_line()
        );
        let verdicts = pyhanko_verdicts(dir, &out);
        assert_eq!(verdicts.len(), 1, "{who}/{attack}: pyHanko {verdicts:?}");
        assert!(
            !verdicts[0].1,
            "{who}/{attack}: pyHanko accepted the attacked file: {verdicts:?}"
        );
    }
}

fn signed_bases_cached(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let ours = dir.join("sealed-ours.pdf");
    let theirs = dir.join("signed-pyhanko.pdf");
    if ours.exists() && theirs.exists() {
        return vec![("ours", ours), ("pyhanko", theirs)];
    }
    signed_bases(dir)
}

#[test]
fn content_stream_swapped_with_identical_dictionary_and_length() {
    let dir = setup("attack-swap");
    attack_is_caught(&dir, "stream-swap", "签名后页面内容被替换：第 1 页");
}

#[test]
fn overlay_annotations_of_several_subtypes() {
    let dir = setup("attack-annots");
    for subtype in ["FreeText", "Stamp", "Square", "Ink", "Link"] {
        attack_is_caught(
            &dir,
            &format!("annot-{subtype}"),
            &format!("签名后新增注释：第 1 页（{subtype}）"),
        );
    }
}

#[test]
fn page_dictionary_changes() {
    let dir = setup("attack-page");
    attack_is_caught(&dir, "rotate", "签名后页面属性被修改：第 1 页（/Rotate）");
    attack_is_caught(
        &dir,
        "mediabox",
        "签名后页面属性被修改：第 1 页（/MediaBox）",
    );
    attack_is_caught(
        &dir,
        "resources",
        "签名后页面资源被修改：第 1 页（/Resources）",
    );
}

#[test]
fn font_and_image_objects_replaced() {
    let dir = setup("attack-font-image");
    attack_is_caught(&dir, "font", "签名后字体被替换：第 1 页");
    attack_is_caught(&dir, "image", "签名后图像被替换：第 1 页");
}

#[test]
fn object_shadowed_by_a_new_xref_section_without_new_object_bytes() {
    let dir = setup("attack-shadow");
    attack_is_caught(&dir, "shadow", "签名后页面内容被替换：第 1 页");
}

#[test]
fn update_hidden_after_eof_junk() {
    let dir = setup("attack-eof-junk");
    attack_is_caught(&dir, "eof-junk", "签名后页面内容被替换：第 1 页");
}

#[test]
fn widgets_that_are_not_clean_new_signature_widgets() {
    let dir = setup("attack-widgets");
    // The appearance of a new signature widget redefines the page's content object.
    attack_is_caught(&dir, "widget-ap-override", "签名后页面内容被替换：第 1 页");
    // A widget of a new text field, drawn over the page.
    attack_is_caught(&dir, "text-widget", "签名后新增了非签名表单域（/FT Tx");
}

#[test]
fn an_object_the_signed_page_referred_to_but_never_defined_is_defined_later() {
    // The signed page draws `/Later Do`, XObject 99 0 R, which does not exist (nothing drawn).
    // Defining object 99 afterwards references nothing new from a changed object: only a walk
    // of the document finds that it is displayed. (pyHanko's verdict is printed, not required:
    // it judges new object numbers by what changed, so it may accept this.)
    let dir = setup("attack-dangling");
    let input = dir.join("input.pdf");
    run_ok(
        std::process::Command::new(python())
            .arg(attack_script())
            .arg("make-input-dangling")
            .arg(&input)
            .current_dir(&dir),
    );
    let ours = dir.join("sealed-ours.pdf");
    seal(
        &dir,
        &input,
        &ours,
        "公章",
        one_page(1, 400.0, 60.0, 100.0, 100.0),
    )
    .expect("seal");
    let theirs = pyhanko_sign(&dir, &input, "signed-pyhanko.pdf", None);
    for (who, base) in [("ours", ours), ("pyhanko", theirs)] {
        assert!(verify(&dir, &base).all_valid(), "{who}: base");
        let out = dir.join(format!("{who}-dangling.pdf"));
        run_attack(&dir, "dangling", &base, &out);
        let sig = verify(&dir, &out).signatures[0].clone();
        assert!(!sig.is_valid(), "{who}: {}", sig.summary_line());
        assert!(
            sig.violations().any(|c| c.object == Some(99)),
            "{who}: {:#?}",
            sig.changes
        );
        eprintln!(
            "{who}: pyHanko on the dangling attack: {:?}",
            pyhanko_verdicts(&dir, &out)
        );
    }
}

#[test]
fn a_change_between_two_seals_invalidates_only_the_first() {
    // Sealed, content swapped, then sealed twice more on top: the later seals cover the swap
    // (they are valid), the first must still see it.
    let dir = setup("attack-between");
    for (who, base) in signed_bases(&dir) {
        let swapped = dir.join(format!("{who}-swapped.pdf"));
        run_attack(&dir, "stream-swap", &base, &swapped);
        let resealed = dir.join(format!("{who}-resealed.pdf"));
        seal(
            &dir,
            &swapped,
            &resealed,
            "法人章",
            one_page(1, 400.0, 200.0, 100.0, 100.0),
        )
        .expect("seal on top");
        // And a third seal, so that the swap lies between two signatures that are not the
        // last (each span between covered ends is compared on its own).
        let thrice = dir.join(format!("{who}-thrice.pdf"));
        seal(
            &dir,
            &resealed,
            &thrice,
            "私章",
            one_page(1, 400.0, 320.0, 100.0, 100.0),
        )
        .expect("third seal");
        let report = verify(&dir, &thrice);
        assert_eq!(report.signatures.len(), 3);
        assert!(report.signatures[2].is_valid());
        let (first, second) = (&report.signatures[0], &report.signatures[1]);
        assert!(!first.is_valid(), "{who}: {}", first.summary_line());
        assert!(
            first
                .violations()
                .any(|c| c.description.contains("签名后页面内容被替换：第 1 页")),
            "{who}: {:#?}",
            first.changes
        );
        assert!(second.is_valid(), "{who}: {}", second.summary_line());
        let verdicts = pyhanko_verdicts(&dir, &thrice);
        assert_eq!(verdicts.len(), 3, "{who}: {verdicts:?}");
        assert!(
            !verdicts[0].1 && verdicts[1].1 && verdicts[2].1,
            "{who}: pyHanko {verdicts:?}"
        );
    }
}

#[test]
fn a_second_seal_by_us_keeps_the_first_valid_in_both_verifiers() {
    let dir = setup("attack-benign");
    for (who, base) in signed_bases(&dir) {
        let twice = dir.join(format!("{who}-twice.pdf"));
        seal(
            &dir,
            &base,
            &twice,
            "法人章",
            one_page(1, 400.0, 200.0, 100.0, 100.0),
        )
        .expect("second seal");
        let report = verify(&dir, &twice);
        assert_eq!(report.signatures.len(), 2);
        assert!(
            report.all_valid(),
            "{who}: {:?}",
            report
                .signatures
                .iter()
                .map(|s| s.summary_line())
                .collect::<Vec<_>>()
        );
        let verdicts = pyhanko_verdicts(&dir, &twice);
        assert!(
            verdicts.len() == 2 && verdicts.iter().all(|v| v.1),
            "{who}: pyHanko {verdicts:?}"
        );
        if who == "ours" {
            // pyHanko's own signer after our seal (its update: field, widget, /Info or XMP).
            let later = pyhanko_sign(&dir, &base, "ours-then-pyhanko.pdf", None);
            let report = verify(&dir, &later);
            assert!(
                report.signatures.len() == 2 && report.all_valid(),
                "{:?}",
                report
                    .signatures
                    .iter()
                    .map(|s| s.summary_line())
                    .collect::<Vec<_>>()
            );
            assert!(pyhanko_verdicts(&dir, &later).iter().all(|v| v.1));
        }
    }
}
