//! Scenario: a bidder seals tender documents produced by many different tools, once and then a
//! second time; every independent validator (qpdf, pdfsig, pyHanko, pdftoppm) accepts the
//! result, the original stays a byte prefix, and earlier signatures stay valid.

mod support;

use bidseal_cms::cert::TrustStore;
use bidseal_pdf::{PageRect, WidgetLayout};
use std::path::Path;
use std::time::SystemTime;
use support::*;

fn trust(dir: &Path) -> TrustStore {
    let mut t = TrustStore::new();
    t.add_pem_file(&dir.join("ca.pem")).expect("ca");
    t
}

fn setup(name: &str) -> std::path::PathBuf {
    let dir = tempdir(name);
    make_pki(&dir);
    make_seal_png(&dir);
    dir
}

/// Seals `input` twice (公章 on page 1, 法人章 on `second_page`) and runs every validator.
/// `prior` is the number of signatures the input already has.
fn seal_twice_and_validate(dir: &Path, input: &Path, second_page: usize, prior: usize) {
    let once = dir.join("once.pdf");
    let twice = dir.join("twice.pdf");
    let r1 = PageRect {
        x: 60.0,
        y: 80.0,
        w: 120.0,
        h: 120.0,
    };
    let r2 = PageRect {
        x: 300.0,
        y: 80.0,
        w: 100.0,
        h: 100.0,
    };
    let p1 = seal(
        dir,
        input,
        &once,
        "公章",
        one_page(1, r1.x, r1.y, r1.w, r1.h),
    )
    .expect("first seal");
    let p2 = seal(
        dir,
        &once,
        &twice,
        "法人章",
        one_page(second_page, r2.x, r2.y, r2.w, r2.h),
    )
    .expect("second seal");
    assert_ne!(p1.field_name, p2.field_name, "field names must be unique");
    assert_prefix(input, &once);
    assert_prefix(&once, &twice);
    for f in [&once, &twice] {
        assert_qpdf_check(f);
    }
    if prior == 0 {
        assert_pdfsig_valid(&twice, prior + 2);
    } else {
        assert_pdfsig_signatures_valid(&twice, prior + 2);
    }
    assert_pyhanko_valid(dir, &twice, prior + 2);
    let report = bidseal_pdf::verify_file(&twice, &trust(dir), SystemTime::now()).expect("verify");
    assert_eq!(report.signatures.len(), prior + 2);
    for s in &report.signatures {
        assert!(s.is_valid(), "our verifier: {}", s.summary_line());
    }
    let last = report.signatures.last().expect("a signature");
    assert!(last.covers_whole_file);
    assert_eq!(last.seal_kind.as_deref(), Some("法人章"));
    assert_eq!(last.credit_code.as_deref(), Some("91350100M000100Y43"));
    let first_ours = &report.signatures[prior];
    assert!(!first_ours.covers_whole_file && !first_ours.changes.is_empty());
    assert!(
        first_ours.changes.iter().all(|c| c.allowed)
            && first_ours
                .changes
                .iter()
                .any(|c| c.description.starts_with("新增签名控件")),
        "{}",
        first_ours.summary_line()
    );
    if second_page == 1 {
        assert!(
            red_share(&twice, 1, r1).0 > 0.08 && red_share(&twice, 1, r2).0 > 0.08,
            "both seals visible on page 1"
        );
    } else {
        assert_seal_rendered(&twice, 1, r1);
        assert_seal_rendered(&twice, second_page, r2);
    }
}

#[test]
fn reportlab_document_with_classic_xref() {
    let dir = setup("reportlab");
    let input = reportlab_pdf(&dir, "in.pdf", 3, &[], false);
    seal_twice_and_validate(&dir, &input, 2, 0);
}

#[test]
fn xref_stream_and_object_stream_document() {
    let dir = setup("objstm");
    let src = reportlab_pdf(&dir, "src.pdf", 3, &[], false);
    let input = qpdf(&dir, &src, "objstm.pdf", &["--object-streams=generate"]);
    assert!(std::fs::read(&input)
        .expect("read")
        .windows(11)
        .any(|w| w == b"/Type /XRef" || w == b"/Type/XRef "));
    seal_twice_and_validate(&dir, &input, 3, 0);
}

#[test]
fn linearized_document() {
    let dir = setup("linear");
    let src = reportlab_pdf(&dir, "src.pdf", 4, &[], false);
    let input = qpdf(&dir, &src, "linear.pdf", &["--linearize"]);
    seal_twice_and_validate(&dir, &input, 4, 0);
}

#[test]
fn uncompressed_qdf_document() {
    let dir = setup("qdf");
    let src = reportlab_pdf(&dir, "src.pdf", 2, &[], false);
    let input = qpdf(
        &dir,
        &src,
        "qdf.pdf",
        &["--qdf", "--object-streams=disable"],
    );
    seal_twice_and_validate(&dir, &input, 1, 0);
}

#[test]
fn ghostscript_document() {
    let dir = setup("gs");
    let src = reportlab_pdf(&dir, "src.pdf", 2, &[], true);
    let input = ghostscript(&dir, &src);
    seal_twice_and_validate(&dir, &input, 2, 0);
}

#[test]
fn document_already_signed_by_pyhanko_keeps_its_signature_valid() {
    let dir = setup("pyhanko");
    let src = reportlab_pdf(&dir, "src.pdf", 2, &[], false);
    let input = pyhanko_sign(&dir, &src, "pyhanko-signed.pdf", None);
    seal_twice_and_validate(&dir, &input, 2, 1);
}

#[test]
fn document_with_an_acroform() {
    let dir = setup("acroform");
    let input = reportlab_acroform(&dir);
    seal_twice_and_validate(&dir, &input, 1, 0);
}

#[test]
fn rotated_pages_show_the_seal_upright_inside_the_rect() {
    let dir = setup("rotated");
    let input = reportlab_pdf(&dir, "rotated.pdf", 4, &[0, 90, 180, 270], false);
    let mut current = input.clone();
    // A wide rectangle near the displayed bottom-left corner of every page.
    let rect = PageRect {
        x: 40.0,
        y: 30.0,
        w: 160.0,
        h: 90.0,
    };
    for page in 1..=4 {
        let out = dir.join(format!("rot{page}.pdf"));
        seal(
            &dir,
            &current,
            &out,
            "公章",
            WidgetLayout::SameRect {
                pages: vec![page],
                rect,
            },
        )
        .expect("seal");
        current = out;
    }
    for page in 1..=4 {
        assert_seal_rendered(&current, page, rect);
    }
    assert_qpdf_check(&current);
    assert_pdfsig_valid(&current, 4);
    assert_pyhanko_valid(&dir, &current, 4);

    // Upright: an image that is red only in its top-left quadrant must show red only in the
    // top-left quadrant of the displayed rectangle on every rotation (a round seal would pass
    // even when turned by 90°/180°/270°).
    run_ok(
        std::process::Command::new("convert")
            .args(["-size", "200x200", "xc:none", "-fill", "rgb(220,0,0)"])
            .args(["-draw", "rectangle 0,0 99,99", "seal.png"])
            .current_dir(&dir),
    );
    let square = PageRect {
        x: 60.0,
        y: 200.0,
        w: 120.0,
        h: 120.0,
    };
    let mut current = input.clone();
    for page in 1..=4 {
        let out = dir.join(format!("upright{page}.pdf"));
        seal(
            &dir,
            &current,
            &out,
            "公章",
            WidgetLayout::SameRect {
                pages: vec![page],
                rect: square,
            },
        )
        .expect("seal");
        current = out;
    }
    let (hw, hh) = (square.w / 2.0, square.h / 2.0);
    let quadrant = |dx: f64, dy: f64| PageRect {
        x: square.x + dx + 3.0,
        y: square.y + dy + 3.0,
        w: hw - 6.0,
        h: hh - 6.0,
    };
    for page in 1..=4 {
        let top_left = red_share(&current, page, quadrant(0.0, hh)).0;
        let others = [quadrant(hw, hh), quadrant(0.0, 0.0), quadrant(hw, 0.0)]
            .map(|q| red_share(&current, page, q).0);
        assert!(
            top_left > 0.9 && others.iter().all(|o| *o < 0.02),
            "page {page} (rotated {}°): top-left red {top_left:.2}, others {others:?}",
            [0, 90, 180, 270][page - 1]
        );
    }
}

#[test]
fn one_seal_with_a_widget_at_its_own_place_on_each_page() {
    // "Seal every node of this kind at once" where the nodes sit at different places: one
    // signature, one widget per page, each at its own rectangle.
    let dir = setup("per-page");
    let input = reportlab_pdf(&dir, "nodes.pdf", 3, &[], false);
    let out = dir.join("nodes-sealed.pdf");
    let widgets = vec![
        (
            1,
            PageRect {
                x: 60.0,
                y: 80.0,
                w: 110.0,
                h: 110.0,
            },
        ),
        (
            3,
            PageRect {
                x: 380.0,
                y: 500.0,
                w: 90.0,
                h: 90.0,
            },
        ),
    ];
    seal(
        &dir,
        &input,
        &out,
        "公章",
        WidgetLayout::PerPage {
            widgets: widgets.clone(),
        },
    )
    .expect("seal");
    assert_prefix(&input, &out);
    for (page, rect) in &widgets {
        assert_seal_rendered(&out, *page, *rect);
    }
    // Page 2 carries no widget: no seal pixels where page 1's seal sits.
    let (red, _) = red_share(&out, 2, widgets[0].1);
    assert!(red < 0.01, "page 2 has seal pixels ({red})");
    assert_qpdf_check(&out);
    // pdfsig lists a multi-widget signature once per widget.
    assert_pdfsig_valid(&out, 2);
    assert_eq!(assert_pyhanko_valid(&dir, &out, 1), 1);
}

#[test]
fn media_box_and_crop_box_not_at_origin() {
    let dir = setup("offset");
    let input = offset_boxes_pdf(&dir);
    seal_twice_and_validate(&dir, &input, 1, 0);
}

#[test]
fn cjk_300_pages_every_page_seal_and_cross_page_seal() {
    let dir = setup("cjk300");
    let input = reportlab_pdf(&dir, "cjk300.pdf", 300, &[], true);
    let every = dir.join("every.pdf");
    let rect = PageRect {
        x: 420.0,
        y: 40.0,
        w: 100.0,
        h: 100.0,
    };
    let pages: Vec<usize> = (1..=300).collect();
    seal(
        &dir,
        &input,
        &every,
        "公章",
        WidgetLayout::SameRect { pages, rect },
    )
    .expect("every-page seal");
    let cross = dir.join("cross.pdf");
    let cross_pages: Vec<usize> = (1..=6).collect();
    let layout = WidgetLayout::CrossPage {
        pages: cross_pages,
        y: 400.0,
        width: 120.0,
        height: 120.0,
    };
    seal(&dir, &every, &cross, "骑缝章", layout).expect("cross-page seal");
    assert_prefix(&input, &every);
    assert_prefix(&every, &cross);
    assert_qpdf_check(&cross);
    assert_pyhanko_valid(&dir, &cross, 2);
    for page in [1, 150, 300] {
        assert!(
            red_share(&cross, page, rect).0 > 0.08,
            "every-page seal missing on page {page}"
        );
    }
    // Slice i of 6 sits at the right edge of page i (A4 width 595.28).
    for page in 1..=6 {
        let slice = PageRect {
            x: 595.2756 - 20.0,
            y: 400.0,
            w: 20.0,
            h: 120.0,
        };
        assert!(
            red_share(&cross, page, slice).0 > 0.02,
            "cross-page slice missing on page {page}"
        );
    }
    let report = bidseal_pdf::verify_file(&cross, &trust(&dir), SystemTime::now()).expect("verify");
    assert!(report.all_valid());
}

#[test]
fn certified_no_changes_document_is_refused_without_output() {
    let dir = setup("docmdp");
    let src = reportlab_pdf(&dir, "src.pdf", 1, &[], false);
    let input = pyhanko_sign(&dir, &src, "certified.pdf", Some("NO_CHANGES"));
    let out = dir.join("out.pdf");
    let err = seal(
        &dir,
        &input,
        &out,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    )
    .expect_err("must refuse");
    assert_eq!(err.code(), "E_PDF_CERTIFIED_NO_CHANGES");
    assert!(err.to_string().contains("不允许任何修改"));
    assert!(!out.exists());
    // "Fill forms only" (P=2) forbids new signature fields: refused too, with its own code.
    let fill = pyhanko_sign(&dir, &src, "certified-fill.pdf", Some("FILL_FORMS"));
    let err = seal(
        &dir,
        &fill,
        &out,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    )
    .expect_err("P=2");
    assert_eq!(err.code(), "E_PDF_CERTIFIED_FORMS_ONLY");
    assert!(!out.exists());
    // A certification that allows annotations (P=3) can be sealed. (pyHanko's diff policy
    // does not model P=3 and flags any new field after a certification, so pdfsig judges.)
    let annotate = pyhanko_sign(&dir, &src, "certified-annotate.pdf", Some("ANNOTATE"));
    seal(
        &dir,
        &annotate,
        &out,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    )
    .expect("P=3 allows sealing");
    assert_pdfsig_signatures_valid(&out, 2);
    assert_prefix(&annotate, &out);
}

#[test]
fn growth_per_seal_is_at_most_image_plus_16_kib() {
    let dir = setup("growth");
    let input = reportlab_pdf(&dir, "in.pdf", 1, &[], false);
    // A read-only input (as downloads often are) is fine: it is only ever read.
    let mut perms = std::fs::metadata(&input).expect("meta").permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&input, perms).expect("chmod");
    let out = dir.join("out.pdf");
    let pending = seal(
        &dir,
        &input,
        &out,
        "公章",
        one_page(1, 60.0, 80.0, 100.0, 100.0),
    )
    .expect("seal");
    let out_perms = std::fs::metadata(&out).expect("out meta").permissions();
    assert!(
        !out_perms.readonly(),
        "the sealed output must be writable by its owner"
    );
    let png = std::fs::metadata(dir.join("seal.png")).expect("png").len();
    let growth =
        std::fs::metadata(&out).expect("out").len() - std::fs::metadata(&input).expect("in").len();
    assert_eq!(growth, pending.update_len);
    assert!(
        growth <= png + 16 * 1024,
        "growth {growth} > png {png} + 16 KiB"
    );
}
