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
