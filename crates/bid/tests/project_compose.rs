//! A bidder's project from import to composed PDF, through the library: import the demo tender
//! (signed with a fresh platform key), attach PDFs, fill the bid form, reopen, compose; then
//! check the PDF with qpdf, poppler (pdffonts, pdftotext) and qpdf's JSON view of the
//! bookmarks, and check every signing node's rectangle against where poppler sees the text.
//! Validators missing from the machine fail the test (scripts/setup.sh installs them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bidseal_bid::compose::{compose, ComposeError};
use bidseal_bid::project::index::{ProjectIndex, ScanRecord};
use bidseal_bid::project::{BidProject, ProjectError};
use bidseal_bid::tender::{
    self, PackageInputs, PlatformCertificate, PlatformSigner, TenderSpec, TrustedPlatforms,
};
use time::OffsetDateTime;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo-tender")
}

fn tool(name: &str, args: &[&str]) -> Output {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("validator `{name}` is required (scripts/setup.sh installs it): {e}")
    });
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Signs the demo spec with a fresh platform key; returns (package, pinned platforms).
fn tender_package(dir: &Path) -> (PathBuf, TrustedPlatforms) {
    let (key, cert) = bidseal_testkit::self_signed(dir, "platform", "/CN=test-platform", 30);
    let platform = PlatformCertificate::from_pem(&std::fs::read_to_string(&cert).unwrap()).unwrap();
    let signer = PlatformSigner::from_pem_file(&key).unwrap();
    let spec: TenderSpec =
        serde_json::from_slice(&std::fs::read(demo().join("spec.json")).unwrap()).unwrap();
    let pdf = std::fs::read(demo().join("tender.pdf")).unwrap();
    let ca = std::fs::read(demo().join("ca-demo-1.pem")).unwrap();
    let pkg = dir.join("demo.tender.zip");
    tender::make(
        spec,
        PackageInputs {
            tender_pdf: &pdf,
            extra_docs: vec![],
            accepted_cas: vec![("ca-demo-1".into(), "Demo CA 1".into(), ca)],
            platform_cert: &platform,
            signer: &signer,
        },
        OffsetDateTime::now_utc(),
        &pkg,
    )
    .unwrap();
    (pkg, TrustedPlatforms::pinned(vec![platform]))
}

/// A PDF of `pages` pages cut from the demo tender PDF with qpdf (letter-size when asked, to
/// exercise placements on non-A4 pages).
fn attachment(dir: &Path, name: &str, pages: u32, letter: bool) -> PathBuf {
    let src = demo().join("tender.pdf");
    let out = dir.join(name);
    let n = tool("qpdf", &["--show-npages", s(&src)]);
    let total: u32 = String::from_utf8_lossy(&n.stdout).trim().parse().unwrap();
    let range: Vec<String> = (0..pages).map(|i| (i % total + 1).to_string()).collect();
    tool(
        "qpdf",
        &[
            "--empty",
            "--pages",
            s(&src),
            &range.join(","),
            "--",
            s(&out),
        ],
    );
    if letter {
        // Re-box every page as US Letter (612x792): content stays, geometry changes. QDF
        // mode makes the file editable as text; fix-qdf repairs the offsets afterwards.
        let qdf = dir.join(format!("qdf-{name}"));
        let edited = dir.join(format!("edited-{name}"));
        tool(
            "qpdf",
            &["--qdf", "--object-streams=disable", s(&out), s(&qdf)],
        );
        let py = "import sys,re\nb=open(sys.argv[1],'rb').read()\nb=re.sub(rb'/MediaBox \\[[^\\]]*\\]', b'/MediaBox [0 0 612 792]', b)\nopen(sys.argv[2],'wb').write(b)";
        tool("python3", &["-c", py, s(&qdf), s(&edited)]);
        let fixed = tool("fix-qdf", &[s(&edited)]);
        std::fs::write(&edited, &fixed.stdout).unwrap();
        tool("qpdf", &[s(&edited), s(&out)]);
        let info = String::from_utf8_lossy(&tool("pdfinfo", &[s(&out)]).stdout).into_owned();
        assert!(info.contains("612 x 792"), "re-boxing failed: {info}");
    }
    out
}

fn filled_project(dir: &Path) -> BidProject {
    let (pkg, trusted) = tender_package(dir);
    let mut p = BidProject::create(
        &dir.join("demo.bidproj"),
        &pkg,
        &trusted,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    p.attach("business", &attachment(dir, "商务偏离表.pdf", 2, true))
        .unwrap();
    p.attach("technical", &attachment(dir, "施工组织设计.pdf", 3, false))
        .unwrap();
    p.attach("qualification", &attachment(dir, "营业执照.pdf", 1, false))
        .unwrap();
    for (k, v) in [
        ("bidder.name", "示范建设集团有限公司"),
        ("bidder.credit_code", "91350100M000100Y43"),
        ("bidder.legal_representative", "张建国"),
        ("bidder.address", "福建省福州市鼓楼区示范路 88 号"),
        ("bidder.contact", "李明"),
        ("bidder.phone", "0591-88886666"),
        ("price", "4,321,000.5"),
        ("duration", "300"),
        ("quality", "合格"),
        ("project_manager", "王工"),
    ] {
        p.set(k, v).unwrap();
    }
    p
}

#[test]
fn project_round_trip_restores_everything_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let p = filled_project(dir.path());
    let before = p.file().clone();
    drop(p);
    let reopened = BidProject::open(&dir.path().join("demo.bidproj")).unwrap();
    assert_eq!(reopened.file(), &before);
    assert_eq!(
        reopened.file().form.get("price").map(String::as_str),
        Some("4321000.50")
    );
    assert_eq!(
        reopened.file().attachments["business"][0].original_name,
        "商务偏离表.pdf"
    );
    assert_eq!(reopened.file().attachments["technical"][0].pages, 3);
    assert!(reopened.missing().is_empty(), "{:?}", reopened.missing());
    // The folder is what the bidder sees.
    for f in [
        "project.json",
        "sources/tender.zip",
        "sources/business/01.pdf",
        "work",
        "out",
    ] {
        assert!(
            dir.path().join("demo.bidproj").join(f).exists(),
            "{f} missing"
        );
    }
}

#[test]
fn bad_values_are_refused_and_nothing_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = filled_project(dir.path());
    let over = p.set("price", "5000000.01").unwrap_err();
    assert_eq!(over.code(), "PROJECT_VALUE_REFUSED");
    assert!(over.to_string().contains("最高限价"), "{over}");
    assert_eq!(
        p.set("bidder.credit_code", "91350100M000100Y44")
            .unwrap_err()
            .code(),
        "PROJECT_VALUE_REFUSED"
    );
    assert_eq!(
        p.set("discount", "3").unwrap_err().code(),
        "PROJECT_UNKNOWN_KEY"
    );
    assert!(matches!(
        p.attach("nope", &demo().join("tender.pdf")),
        Err(ProjectError::UnknownSection { .. })
    ));
    let not_pdf = dir.path().join("x.pdf");
    std::fs::write(&not_pdf, b"hello").unwrap();
    assert_eq!(
        p.attach("business", &not_pdf).unwrap_err().code(),
        "PROJECT_ATTACHMENT_INVALID"
    );
    let reopened = BidProject::open(&dir.path().join("demo.bidproj")).unwrap();
    assert_eq!(
        reopened.file().form.get("price").map(String::as_str),
        Some("4321000.50")
    );
    assert_eq!(reopened.file().attachments["business"].len(), 1);
}

#[test]
fn an_incomplete_project_is_not_composed_and_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (pkg, trusted) = tender_package(dir.path());
    let mut p = BidProject::create(
        &dir.path().join("a.bidproj"),
        &pkg,
        &trusted,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    match compose(&mut p, OffsetDateTime::now_utc()) {
        Err(ComposeError::Incomplete(list)) => {
            let all = list.join("\n");
            for needle in ["投标人名称", "投标总价", "技术文件"] {
                assert!(all.contains(needle), "missing list lacks {needle}: {all}");
            }
        }
        other => panic!("expected Incomplete, got {other:?}"),
    }
    assert!(!dir.path().join("a.bidproj/out/bid.pdf").exists());
}

#[test]
fn an_attachment_changed_on_disk_blocks_composition() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = filled_project(dir.path());
    let f = dir.path().join("demo.bidproj/sources/technical/01.pdf");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.extend_from_slice(b"\n% edited\n");
    std::fs::write(&f, bytes).unwrap();
    assert_eq!(
        compose(&mut p, OffsetDateTime::now_utc())
            .unwrap_err()
            .code(),
        "COMPOSE_ATTACHMENT_CHANGED"
    );
}

#[test]
fn import_refuses_an_unpinned_platform_and_a_replaced_package() {
    let dir = tempfile::tempdir().unwrap();
    let (pkg, trusted) = tender_package(dir.path());
    let e = BidProject::create(
        &dir.path().join("u.bidproj"),
        &pkg,
        &TrustedPlatforms::default(),
        OffsetDateTime::now_utc(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "PROJECT_PLATFORM_NOT_PINNED");
    let p = BidProject::create(
        &dir.path().join("r.bidproj"),
        &pkg,
        &trusted,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    drop(p);
    // Another validly signed package (new key) swapped into the folder is noticed on reopening.
    let other = tempfile::tempdir().unwrap();
    let (pkg2, _) = tender_package(other.path());
    std::fs::copy(&pkg2, dir.path().join("r.bidproj/sources/tender.zip")).unwrap();
    assert_eq!(
        BidProject::open(&dir.path().join("r.bidproj"))
            .unwrap_err()
            .code(),
        "PROJECT_TENDER_REPLACED"
    );
}

#[test]
fn index_lists_recent_projects_and_keeps_scan_history() {
    let dir = tempfile::tempdir().unwrap();
    let p = filled_project(dir.path());
    let index = ProjectIndex::open(&dir.path().join("idx/index.sqlite")).unwrap();
    index.touch(&p.recent_entry()).unwrap();
    let entry = p.recent_entry();
    index
        .record_scan(&ScanRecord {
            project_path: entry.path.clone(),
            at_unix: 1,
            operation: "seal".into(),
            outcome: "confirmed".into(),
            detail: "letter-enterprise".into(),
        })
        .unwrap();
    drop(index);
    let index = ProjectIndex::open(&dir.path().join("idx/index.sqlite")).unwrap();
    let recent = index.recent(10).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].tender_project_id, "ZB-2026-DEMO-001");
    assert_eq!(
        index.scans(&entry.path).unwrap()[0].detail,
        "letter-enterprise"
    );
}

/// Word boxes (xMin, yMin, xMax, yMax in top-left coordinates) and texts of one page.
fn words(pdf: &Path, page: u32) -> Vec<(f32, f32, f32, f32, String)> {
    let p = page.to_string();
    let out = tool("pdftotext", &["-bbox", "-f", &p, "-l", &p, s(pdf), "-"]);
    let html = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut v = Vec::new();
    for line in html.lines().filter(|l| l.trim_start().starts_with("<word")) {
        let attr = |name: &str| -> f32 {
            let key = format!("{name}=\"");
            let start = line.find(&key).unwrap() + key.len();
            line[start..].split('"').next().unwrap().parse().unwrap()
        };
        let text = line
            .split('>')
            .nth(1)
            .unwrap_or("")
            .split('<')
            .next()
            .unwrap_or("")
            .to_string();
        v.push((attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax"), text));
    }
    v
}

#[test]
fn composed_bid_passes_qpdf_embeds_a_subset_cjk_font_and_places_every_signing_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = filled_project(dir.path());
    let c = compose(&mut p, OffsetDateTime::now_utc()).unwrap();
    let pdf = dir.path().join("demo.bidproj/out/bid.pdf");
    // cover + 1 TOC + business 2 + technical 3 + 投标函 + 基本情况表 + qualification 1.
    assert_eq!(c.pages, 10);
    assert_eq!(
        String::from_utf8_lossy(&tool("qpdf", &["--show-npages", s(&pdf)]).stdout).trim(),
        "10"
    );
    let check = String::from_utf8_lossy(&tool("qpdf", &["--check", s(&pdf)]).stdout).into_owned();
    assert!(
        check.contains("No syntax or stream encoding errors"),
        "{check}"
    );

    // Our font: embedded, subset (ABCDEF+ prefix), with a ToUnicode map.
    let fonts = String::from_utf8_lossy(&tool("pdffonts", &[s(&pdf)]).stdout).into_owned();
    let ours = fonts
        .lines()
        .find(|l| l.contains("NotoSansCJKsc-Regular"))
        .unwrap_or_else(|| panic!("{fonts}"));
    let cols: Vec<&str> = ours.split_whitespace().collect();
    assert!(
        cols[0].len() > 7 && cols[0].as_bytes()[6] == b'+',
        "not a subset name: {ours}"
    );
    assert!(
        ours.contains("yes yes yes"),
        "emb/sub/uni not all yes: {ours}"
    );

    // The Chinese text we wrote reads back.
    let text = String::from_utf8_lossy(&tool("pdftotext", &[s(&pdf), "-"]).stdout).into_owned();
    for needle in [
        "投标函",
        "投标文件",
        "目",
        "4321000.50",
        "肆佰叁拾贰万壹仟元伍角整",
        "示范建设集团有限公司",
        "91350100M000100Y43",
        "第 10 页 共 10 页",
    ] {
        assert!(text.contains(needle), "pdftotext lacks {needle}");
    }
    // Page numbers on an imported page (page 3 is the first page of the business attachment).
    let page3 =
        String::from_utf8_lossy(&tool("pdftotext", &["-f", "3", "-l", "3", s(&pdf), "-"]).stdout)
            .into_owned();
    assert!(page3.contains("第 3 页 共 10 页"), "{page3}");

    // Bookmarks: sections and signing nodes, read by qpdf.
    let json =
        String::from_utf8_lossy(&tool("qpdf", &["--json", "--json-key=outlines", s(&pdf)]).stdout)
            .into_owned();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let outlines = v["outlines"].as_array().unwrap();
    let titles: Vec<&str> = outlines
        .iter()
        .map(|o| o["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "封面",
            "目录",
            "商务文件",
            "技术文件",
            "报价文件",
            "资格审查文件"
        ]
    );
    let price = &outlines[4];
    assert_eq!(price["destpageposfrom1"].as_u64(), Some(8));
    let kids: Vec<&str> = price["kids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["title"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&"投标函")
            && kids
                .iter()
                .any(|k| k.starts_with("签章：投标函落款（投标人盖章）")),
        "{kids:?}"
    );

    // Signing nodes: the 投标函 seal boxes sit on page 8 over the bidder name / legal rep.
    let node = |id: &str| {
        c.placements
            .iter()
            .find(|n| n.node_id == id)
            .unwrap_or_else(|| panic!("{id} not placed"))
    };
    let page_h = 841.89;
    let page8 = words(&pdf, 8);
    for (id, who) in [
        ("letter-enterprise", "示范建设集团有限公司"),
        ("letter-legal", "张建国"),
    ] {
        let n = node(id);
        assert_eq!(n.rects.len(), 1);
        assert_eq!(n.rects[0].page_index, 7, "{id} not on page 8");
        let r = n.rects[0].rect;
        let w = page8
            .iter()
            .find(|w| w.4.contains(who))
            .unwrap_or_else(|| panic!("{who} not found on page 8"));
        // Convert the word's vertical centre to PDF user space (origin bottom-left).
        let y_mid = page_h - (w.1 + w.3) / 2.0;
        assert!(
            r.y1 < y_mid && y_mid < r.y2,
            "{id}: seal box {r:?} misses the line at y={y_mid}"
        );
        assert!(
            r.x1 < w.2 && r.x2 > w.0,
            "{id}: seal box {r:?} misses the words x={}..{}",
            w.0,
            w.2
        );
    }
    let profile = node("profile-enterprise");
    assert_eq!(profile.rects[0].page_index, 8);
    // Last page of the (US Letter) business attachment: 30 mm from right and bottom edges.
    let last = node("business-last");
    assert_eq!(last.rects[0].page_index, 3);
    let r = last.rects[0].rect;
    let mm = 72.0 / 25.4;
    assert!(
        (r.x2 - (612.0 - 30.0 * mm)).abs() < 0.5 && (r.y1 - 30.0 * mm).abs() < 0.5,
        "{r:?}"
    );
    // Cross-page seal: one slice per technical page, at the right edge.
    let cross = node("technical-cross");
    assert!(cross.cross_page);
    assert_eq!(
        cross.rects.iter().map(|r| r.page_index).collect::<Vec<_>>(),
        [4, 5, 6]
    );
    assert!(cross.rects.iter().all(|r| (r.rect.x2 - 595.3).abs() < 0.5));

    // Recorded in the project, and the hash matches the file.
    let reopened = BidProject::open(&dir.path().join("demo.bidproj")).unwrap();
    assert_eq!(reopened.file().composition.as_ref(), Some(&c));
    let sum = String::from_utf8_lossy(&tool("sha256sum", &[s(&pdf)]).stdout).into_owned();
    assert!(sum.starts_with(&c.sha256));
}

#[test]
fn a_text_chapter_with_images_is_laid_out_with_the_same_subset_font() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = filled_project(dir.path());
    let src = dir.path().join("chapter");
    std::fs::create_dir_all(src.join("img")).unwrap();
    tool(
        "convert",
        &[
            "-size",
            "800x400",
            "gradient:skyblue-navy",
            s(&src.join("img/site.png")),
        ],
    );
    let mut text = String::from("# 第一章 施工组织设计\n\n");
    for i in 0..60 {
        text.push_str(&format!("本工程施工组织设计第{i}段：项目部按照质量、安全、进度三大目标组织施工，确保工程按期优质完成。\n\n"));
        if i == 3 {
            text.push_str("![图1 施工总平面布置图](img/site.png)\n\n## 1.1 质量保证措施\n\n");
        }
    }
    std::fs::write(src.join("施工组织设计.md"), text).unwrap();
    let a = p.attach("technical", &src.join("施工组织设计.md")).unwrap();
    assert_eq!(a.images.len(), 1, "the image is copied into the project");
    assert!(dir
        .path()
        .join("demo.bidproj")
        .join(&a.images[0].file)
        .exists());

    let c = compose(&mut p, OffsetDateTime::now_utc()).unwrap();
    let pdf = dir.path().join("demo.bidproj/out/bid.pdf");
    let technical = c
        .sections
        .iter()
        .find(|s| s.section == "technical")
        .unwrap();
    // 3 PDF pages + at least 2 chapter pages.
    assert!(
        technical.last_page - technical.first_page + 1 >= 5,
        "{technical:?}"
    );
    let first_chapter_page = technical.first_page + 3 + 1; // 1-based
    let pg = first_chapter_page.to_string();
    let text =
        String::from_utf8_lossy(&tool("pdftotext", &["-f", &pg, "-l", &pg, s(&pdf), "-"]).stdout)
            .into_owned();
    assert!(
        text.contains("第一章 施工组织设计") && text.contains("项目部按照质量"),
        "{text}"
    );
    let images = String::from_utf8_lossy(
        &tool("pdfimages", &["-list", "-f", &pg, "-l", &pg, s(&pdf)]).stdout,
    )
    .into_owned();
    assert!(
        images
            .lines()
            .any(|l| l.contains(" 800 ") && l.contains(" 400 ")),
        "image not on the first chapter page: {images}"
    );
    // Still exactly one font of ours, subset.
    let fonts = String::from_utf8_lossy(&tool("pdffonts", &[s(&pdf)]).stdout).into_owned();
    assert_eq!(
        fonts
            .lines()
            .filter(|l| l.contains("NotoSansCJKsc-Regular"))
            .count(),
        1,
        "{fonts}"
    );
    // The cross-page seal now spans every technical page.
    let cross = c
        .placements
        .iter()
        .find(|n| n.node_id == "technical-cross")
        .unwrap();
    assert_eq!(
        cross.rects.len() as u32,
        technical.last_page - technical.first_page + 1
    );
}
