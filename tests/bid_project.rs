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
