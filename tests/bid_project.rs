//! A bidder at the command line: import the demo tender into a project, attach PDFs, fill the
//! bid form (a price over the cap is refused), reopen, compose, and find the project in the
//! recent list. The composed PDF is checked by qpdf and poppler, not by our own code.

mod bid_support;

use bid_support::*;

#[test]
fn bidder_builds_a_bid_project_from_the_demo_tender_at_the_command_line() {
    let dir = TestDir::new();
    let d = demo();
    let proj = dir.path().join("示范投标.bidproj");
    let p = s(&proj);

    // Import needs the platform pinned.
    let out = bidseal(
        dir.path(),
        &[
            "project",
            "new",
            p,
            "--tender",
            s(&d.join("demo.tender.zip")),
            "--platform-cert",
            s(&d.join("platform.crt")),
        ],
    );
    let text = ok(&out);
    assert!(text.contains("待办") && text.contains("投标总价"), "{text}");

    let tender_pdf = d.join("tender.pdf");
    for section in ["business", "technical", "qualification"] {
        ok(&bidseal(
            dir.path(),
            &["project", "attach", p, "--section", section, s(&tender_pdf)],
        ));
    }
    refused(
        &bidseal(
            dir.path(),
            &["project", "attach", p, "--section", "bogus", s(&tender_pdf)],
        ),
        "PROJECT_UNKNOWN_SECTION",
    );

    // A price above 最高投标限价 is refused; the stored value stays the last good one.
    ok(&bidseal(
        dir.path(),
        &[
            "project",
            "set",
            p,
            "bidder.name=示范建设集团有限公司",
            "bidder.credit_code=91350100M000100Y43",
            "bidder.legal_representative=张建国",
            "price=4321000.50",
            "duration=300",
            "quality=合格",
            "project_manager=王工",
        ],
    ));
    let err = refused(
        &bidseal(dir.path(), &["project", "set", p, "price=5000001"]),
        "PROJECT_VALUE_REFUSED",
    );
    assert!(err.contains("最高限价"), "{err}");

    // Reopening (a new process) restores everything.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&bidseal(dir.path(), &["project", "show", p, "--json"]))).unwrap();
    assert_eq!(shown["form"]["price"], "4321000.50");
    assert_eq!(shown["bidder"]["legal_representative"], "张建国");
    let tender_pages: u64 =
        String::from_utf8_lossy(&tool("qpdf", &["--show-npages", s(&tender_pdf)]).stdout)
            .trim()
            .parse()
            .unwrap();
    assert_eq!(
        shown["attachments"]["technical"][0]["pages"].as_u64(),
        Some(tender_pages)
    );
    assert!(shown.get("composition").is_none());

    let c: serde_json::Value = serde_json::from_str(&ok(&bidseal(
        dir.path(),
        &["project", "compose", p, "--json"],
    )))
    .unwrap();
    let pdf = proj.join("out/bid.pdf");
    let pages: u64 = String::from_utf8_lossy(&tool("qpdf", &["--show-npages", s(&pdf)]).stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(c["pages"].as_u64(), Some(pages));
    let check = ok(&tool("qpdf", &["--check", s(&pdf)]));
    assert!(
        check.contains("No syntax or stream encoding errors"),
        "{check}"
    );
    let letter_page = c["placements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "letter-enterprise")
        .unwrap()["rects"][0]["page_index"]
        .as_u64()
        .unwrap()
        + 1;
    // No two seals on one page overlap (投标函: 公章 and 法人章; 商务文件末页: 公章 and 法人签名
    // of one node get a place each), and every seal lies on its page.
    assert_seals_apart(&c);
    let lp = letter_page.to_string();
    let letter = ok(&tool("pdftotext", &["-f", &lp, "-l", &lp, s(&pdf), "-"]));
    assert!(
        letter.contains("投标函") && letter.contains("4321000.50"),
        "{letter}"
    );

    // The recorded composition survives reopening; the recent list knows the project.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&bidseal(dir.path(), &["project", "show", p, "--json"]))).unwrap();
    assert_eq!(shown["composition"]["sha256"], c["sha256"]);
    let list = ok(&bidseal(dir.path(), &["project", "list"]));
    assert!(
        list.contains("示范投标.bidproj") && list.contains("ZB-2026-DEMO-001"),
        "{list}"
    );

    // Any edit invalidates the composition (sealing must never use a stale layout).
    ok(&bidseal(dir.path(), &["project", "set", p, "duration=280"]));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&bidseal(dir.path(), &["project", "show", p, "--json"]))).unwrap();
    assert!(shown.get("composition").is_none());
}

/// A fresh `phone init` world and `tender make --world` fit together: the tender accepts the
/// world's two CAs (and only them), is signed by the world's platform key, imports with the
/// world's platform certificate and not with another world's.
#[test]
fn a_fresh_world_makes_a_tender_that_accepts_its_own_cas() {
    let dir = TestDir::new();
    let world = dir.path().join("world");
    let other = dir.path().join("other");
    for w in [&world, &other] {
        ok(&bidseal(
            dir.path(),
            &["phone", "init", s(w), "--kdf-iterations", "1000"],
        ));
    }
    let tender = dir.path().join("tender.zip");
    let made = ok(&bidseal(
        dir.path(),
        &[
            "tender",
            "make",
            "--world",
            s(&world),
            "--out",
            s(&tender),
            "--deadline",
            "2030-01-01T09:00:00+08:00",
            "--opening-time",
            "2030-01-01T09:30:00+08:00",
        ],
    ));
    assert!(
        made.contains("测试CA 一") && made.contains("测试CA 二"),
        "{made}"
    );
    let manifest: serde_json::Value = serde_json::from_str(&ok(&bidseal(
        dir.path(),
        &["tender", "inspect", s(&tender), "--json"],
    )))
    .expect("manifest JSON");
    assert_eq!(manifest["opening_time"], "2030-01-01T09:30:00+08:00");
    // The accepted CA files are byte-for-byte the world's CA certificates.
    let cas = manifest["accepted_cas"].as_array().expect("accepted_cas");
    assert_eq!(cas.len(), 2, "{manifest}");
    for (i, ca) in cas.iter().enumerate() {
        let packaged = dir.path().join(format!("packaged-{i}.pem"));
        extract(&tender, ca["file"].as_str().expect("file"), &packaged);
        let ours = std::fs::read(world.join(format!("pki/ca-{}.pem", i + 1))).expect("ca");
        assert_eq!(std::fs::read(&packaged).expect("packaged"), ours);
    }
    // Signed by this world's platform: trusted with its certificate, not with the other's.
    ok(&bidseal(
        dir.path(),
        &[
            "tender",
            "verify",
            s(&tender),
            "--platform-cert",
            s(&world.join("pki/platform.crt")),
        ],
    ));
    let stranger = bidseal(
        dir.path(),
        &[
            "tender",
            "verify",
            s(&tender),
            "--platform-cert",
            s(&other.join("pki/platform.crt")),
        ],
    );
    refused(&stranger, "TENDER_UNTRUSTED_PLATFORM");
    assert_eq!(stranger.status.code(), Some(1));
    ok(&bidseal(
        dir.path(),
        &[
            "project",
            "new",
            s(&dir.path().join("p.bidproj")),
            "--tender",
            s(&tender),
            "--platform-cert",
            s(&world.join("pki/platform.crt")),
        ],
    ));
    // Bad inputs: opening before the deadline, no world and no keys, a folder that is no world.
    let early = bidseal(
        dir.path(),
        &[
            "tender",
            "make",
            "--world",
            s(&world),
            "--out",
            s(&tender),
            "--deadline",
            "2030-01-01T09:00:00+08:00",
            "--opening-time",
            "2029-12-31T09:00:00+08:00",
        ],
    );
    refused(&early, "E_USAGE");
    assert_eq!(early.status.code(), Some(2));
    let nothing = bidseal(dir.path(), &["tender", "make", "--out", s(&tender)]);
    refused(&nothing, "E_USAGE");
    assert_eq!(nothing.status.code(), Some(2));
    let not_a_world = bidseal(
        dir.path(),
        &[
            "tender",
            "make",
            "--world",
            s(dir.path()),
            "--out",
            s(&tender),
        ],
    );
    assert_eq!(not_a_world.status.code(), Some(3));
}

/// `project set` is all or nothing; `attach` takes PDFs, JPG/PNG scans (one page each) and .md
/// chapters and refuses anything else by name and content; an edit after sealing retires the
/// sealed PDF loudly; `project status` says what to do next.
#[test]
fn set_is_all_or_nothing_scans_become_pages_and_edits_retire_seals() {
    let dir = TestDir::new();
    let d = demo();
    let proj = dir.path().join("扫描件.bidproj");
    let p = s(&proj);
    ok(&bidseal(
        dir.path(),
        &[
            "project",
            "new",
            p,
            "--tender",
            s(&d.join("demo.tender.zip")),
            "--platform-cert",
            s(&d.join("platform.crt")),
        ],
    ));
    // Half-valid assignments store nothing.
    let half = bidseal(
        dir.path(),
        &["project", "set", p, "quality=合格", "price=abc"],
    );
    let err = refused(&half, "PROJECT_VALUE_REFUSED");
    assert!(err.contains("全部未写入"), "{err}");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&bidseal(dir.path(), &["project", "show", p, "--json"]))).unwrap();
    assert!(
        shown["form"].get("quality").is_none(),
        "nothing stored: {shown}"
    );
    let bad = bidseal(dir.path(), &["project", "set", p, "quality=合格", "nokey"]);
    refused(&bad, "PROJECT_BAD_ASSIGNMENT");
    assert_eq!(bad.status.code(), Some(2));

    // Scans: a page of the tender rendered to PNG and JPEG by poppler.
    let tender_pdf = d.join("tender.pdf");
    let scan = dir.path().join("营业执照");
    ok(&tool(
        "pdftoppm",
        &[
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            "-png",
            s(&tender_pdf),
            s(&scan),
        ],
    ));
    ok(&tool(
        "pdftoppm",
        &[
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            "-jpeg",
            s(&tender_pdf),
            s(&scan),
        ],
    ));
    for f in ["营业执照.png", "营业执照.jpg"] {
        let out = ok(&bidseal(
            dir.path(),
            &[
                "project",
                "attach",
                p,
                "--section",
                "qualification",
                s(&dir.path().join(f)),
            ],
        ));
        assert!(out.contains("扫描件，合成为 1 页"), "{out}");
    }
    // What is not a PDF, a scan or a chapter is refused, by name and by content.
    let txt = dir.path().join("说明.txt");
    std::fs::write(&txt, "纯文本").unwrap();
    let docx = dir.path().join("报价.docx");
    std::fs::write(&docx, "PK\x03\x04").unwrap();
    let fake_png = dir.path().join("假图片.png");
    std::fs::write(&fake_png, "not a png").unwrap();
    let bomb = dir.path().join("炸弹.png");
    let mut header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    header.extend_from_slice(&100_000u32.to_be_bytes());
    header.extend_from_slice(&100_000u32.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    std::fs::write(&bomb, header).unwrap();
    for (file, why) in [
        (&txt, ".md"),
        (&docx, "转换为 PDF"),
        (&fake_png, "不是 PNG"),
        (&bomb, "万像素"),
    ] {
        let out = bidseal(
            dir.path(),
            &["project", "attach", p, "--section", "business", s(file)],
        );
        let err = refused(&out, "PROJECT_ATTACHMENT_INVALID");
        assert!(err.contains(why), "{}: {err}", file.display());
    }
    for section in ["business", "technical"] {
        ok(&bidseal(
            dir.path(),
            &["project", "attach", p, "--section", section, s(&tender_pdf)],
        ));
    }
    let st: serde_json::Value = serde_json::from_str(&ok(&bidseal(
        dir.path(),
        &["project", "status", p, "--json"],
    )))
    .unwrap();
    assert!(st["composed"].is_null(), "{st}");
    assert!(
        st["next"].as_str().unwrap_or_default().contains("补全"),
        "{st}"
    );
    ok(&bidseal(
        dir.path(),
        &[
            "project",
            "set",
            p,
            "bidder.name=示范建设集团有限公司",
            "bidder.credit_code=91350100M000100Y43",
            "bidder.legal_representative=张建国",
            "price=4321000.50",
            "duration=300",
            "quality=合格",
            "project_manager=王工",
        ],
    ));
    let c: serde_json::Value = serde_json::from_str(&ok(&bidseal(
        dir.path(),
        &["project", "compose", p, "--json"],
    )))
    .unwrap();
    let pdf = proj.join("out/bid.pdf");
    ok(&tool("qpdf", &["--check", s(&pdf)]));
    // Each scan is one page holding one image (pdfimages lists the image XObjects per page).
    let section = c["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["section"] == "qualification")
        .unwrap()
        .clone();
    let listed =
        String::from_utf8_lossy(&tool("pdfimages", &["-list", s(&pdf)]).stdout).into_owned();
    let image_pages: Vec<u64> = listed
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    // Section pages are 0-based page indexes; pdfimages counts from 1.
    let (first, last) = (
        section["first_page"].as_u64().unwrap() + 1,
        section["last_page"].as_u64().unwrap() + 1,
    );
    let in_section: Vec<&u64> = image_pages
        .iter()
        .filter(|p| (first..=last).contains(*p))
        .collect();
    assert_eq!(
        in_section.len(),
        2,
        "two scans in 资格审查文件 (pages {first}–{last}): {listed}"
    );
    let st: serde_json::Value = serde_json::from_str(&ok(&bidseal(
        dir.path(),
        &["project", "status", p, "--json"],
    )))
    .unwrap();
    assert_eq!(st["composed"]["current"], true, "{st}");
    assert!(
        st["next"]
            .as_str()
            .unwrap_or_default()
            .contains("project seal"),
        "{st}"
    );

    // A sealed PDF (stand-in bytes) from before an edit is moved out of the way, loudly.
    std::fs::write(proj.join("out/sealed.pdf"), b"%PDF-1.7 sealed earlier").unwrap();
    let edit = bidseal(dir.path(), &["project", "set", p, "price=4320000.00"]);
    ok(&edit);
    let warning = String::from_utf8_lossy(&edit.stderr);
    assert!(
        warning.contains("原签章已失效") && warning.contains("out/stale"),
        "{warning}"
    );
    assert!(!proj.join("out/sealed.pdf").exists());
    let moved: Vec<_> = std::fs::read_dir(proj.join("out/stale")).unwrap().collect();
    assert_eq!(moved.len(), 1);
}

/// Every pair of single-page seal rectangles on one page is disjoint, each lies within the
/// A4 page, and a node with several seal kinds has one rectangle per kind.
fn assert_seals_apart(composition: &serde_json::Value) {
    let mut rects: Vec<(String, u64, [f64; 4])> = Vec::new();
    for n in composition["placements"].as_array().expect("placements") {
        if n["cross_page"] == true {
            continue;
        }
        let kinds = n["seal_kinds"].as_array().map_or(0, Vec::len);
        let node_rects = n["rects"].as_array().expect("rects");
        if kinds > 1 {
            assert_eq!(node_rects.len(), kinds, "one place per kind: {n}");
        }
        for r in node_rects {
            let q = &r["rect"];
            let v = |k: &str| q[k].as_f64().expect("coordinate");
            let rect = [v("x1"), v("y1"), v("x2"), v("y2")];
            assert!(
                rect[0] >= 0.0 && rect[1] >= 0.0 && rect[2] <= 595.3 && rect[3] <= 841.9,
                "off the page: {n}"
            );
            let label = format!("{} {}", n["node_id"], r["kind"]);
            rects.push((label, r["page_index"].as_u64().expect("page"), rect));
        }
    }
    for (i, (a, pa, ra)) in rects.iter().enumerate() {
        for (b, pb, rb) in &rects[i + 1..] {
            let apart = ra[2] <= rb[0] || rb[2] <= ra[0] || ra[3] <= rb[1] || rb[3] <= ra[1];
            assert!(
                pa != pb || apart,
                "{a} and {b} overlap on page {}: {ra:?} {rb:?}",
                pa + 1
            );
        }
    }
}
