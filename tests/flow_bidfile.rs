//! Scenarios of issue #6 (second half) against real listeners on 127.0.0.1: the scan relay,
//! the co-signing service and a simulated phone joining each QR. The bidder seals a PDF by
//! scan, authenticates, generates the encrypted bid file with two colleague certificates, and
//! the hall opens it with each of the three certificates; openssl opens it with each
//! recipient key; failure paths say exactly why.

mod flow_support;

use bidseal_bid::bidfile::{BidManifest, BidPart, BidProjectIds, BidderIds, MANIFEST_FORMAT};
use bidseal_bid::compose::{NodePlacement, NodeRect};
use bidseal_bid::opening::HallContext;
use bidseal_pdf::{PageRect, WidgetLayout};
use bidseal_scan::{unix_now, CertificateChoice, SealKind};
use bidseal_workflow::auth::authenticate;
use bidseal_workflow::generate::{generate_bid_file, trial_decrypt, GenerateJob};
use bidseal_workflow::hall::open_by_scan;
use bidseal_workflow::phone_adapters::SealPolicy;
use bidseal_workflow::seal::{ensure_mandatory_sealed, seal_by_scan, SealJob, SealPlacement};
use flow_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

const PDF_NAME: &str = "投标文件.pdf";

fn bidder_of(world: &World) -> BidderIds {
    let cert = world.cert("ent-huaxia");
    BidderIds {
        name: cert.organization().unwrap_or_default(),
        credit_code: cert.credit_code().unwrap_or_default(),
    }
}

fn project() -> BidProjectIds {
    BidProjectIds {
        project_id: "DEMO-2026-001".into(),
        project_name: "演示项目".into(),
        lot_id: "01".into(),
        lot_name: "一标段".into(),
        platform_id: "demo-ggzy".into(),
    }
}

fn manifest_for(world: &World, pdf: &Path) -> BidManifest {
    let mut price = BTreeMap::new();
    price.insert("bid_price".into(), "1234567.89".into());
    BidManifest {
        format: MANIFEST_FORMAT.into(),
        project: project(),
        bidder: bidder_of(world),
        parts: vec![BidPart::from_file(PDF_NAME, Some("商务标".into()), pdf)
            .unwrap_or_else(|e| panic!("{e}"))],
        price,
        integrity_records: vec!["QUAL-001".into()],
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_at: "2026-11-29T20:00:00Z".into(),
    }
}

fn hall(world: &World) -> HallContext {
    HallContext {
        accepted: world.trust(&["ca-1", "ca-2"]),
        expected_project: project(),
        bid_deadline: SystemTime::now() + std::time::Duration::from_secs(3600),
        opens_at: 0,
        at: SystemTime::now(),
    }
}

/// Seals the demo tender PDF by scan: 公章 on both pages as one signature, 法人章 on page 1.
async fn sealed_pdf(world: &World) -> PathBuf {
    let composed = world.dir.join("composed.pdf");
    copy(&repo_path("assets/demo-tender/tender.pdf"), &composed);
    let sealed = world.dir.join("sealed.pdf");
    let job = SealJob {
        input: composed.clone(),
        output: sealed.clone(),
        document: PDF_NAME.into(),
        placements: vec![
            SealPlacement {
                node_ids: vec!["n-ent-1".into(), "n-ent-2".into()],
                label: "公章".into(),
                kind: SealKind::Enterprise,
                layout: WidgetLayout::SameRect {
                    pages: vec![1, 2],
                    rect: PageRect {
                        x: 400.0,
                        y: 80.0,
                        w: 110.0,
                        h: 110.0,
                    },
                },
            },
            SealPlacement {
                node_ids: vec!["n-legal".into()],
                label: "法人章".into(),
                kind: SealKind::LegalPerson,
                layout: WidgetLayout::SameRect {
                    pages: vec![1],
                    rect: PageRect {
                        x: 250.0,
                        y: 80.0,
                        w: 60.0,
                        h: 60.0,
                    },
                },
            },
        ],
        policy: SealPolicy {
            accepted: world.trust(&["ca-1", "ca-2"]),
            bidder: bidder_of(world),
        },
    };
    let mut phone = world.phone(None, &[]);
    let before = std::fs::read(&composed).unwrap_or_default();
    let done = seal_by_scan(&world.target(), &mut phone, &job)
        .await
        .unwrap_or_else(|e| panic!("[{}] {e}", e.code()));
    assert_eq!(done.len(), 2);
    assert_eq!(
        phone.shown.lock().map(|s| s.len()).unwrap_or(0),
        1,
        "session mode: one scan for all seals"
    );
    let after = std::fs::read(&sealed).unwrap_or_default();
    assert_eq!(
        std::fs::read(&composed).unwrap_or_default(),
        before,
        "input untouched"
    );
    assert!(
        after.starts_with(&before),
        "composed PDF is a byte prefix of the sealed one"
    );
    sealed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidder_seals_generates_with_two_colleagues_and_each_certificate_opens() {
    let world = World::start("happy").await;
    let sealed = sealed_pdf(&world).await;

    // pdfsig (poppler) validates both signatures, independently of our code.
    let out = run(Command::new("pdfsig").arg(&sealed));
    let text = String::from_utf8_lossy(&out.stdout);
    // pdfsig lists one entry per widget: 公章 on two pages is one field with two widgets.
    let entries = text.matches("Signature #").count();
    assert!(entries >= 2, "pdfsig: {text}");
    assert_eq!(
        text.matches("Signature Validation: Signature is Valid.")
            .count(),
        entries,
        "pdfsig: {text}"
    );
    let mut fields: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- Signature Field Name: "))
        .collect();
    fields.dedup();
    assert_eq!(fields.len(), 2, "two signatures: {text}");

    let accepted = world.trust(&["ca-1", "ca-2"]);
    let mut phone = world.phone(None, &["colleague-wang", PLAIN_CERT_ID]);
    let target = world.target();
    let bidder = authenticate(&target, &mut phone, &accepted, &bidder_of(&world))
        .await
        .unwrap_or_else(|e| panic!("[{}] {e}", e.code()));
    let output = world.dir.join("bid.bidseal");
    // The tender opens shortly: generation and the trial decryption come before, the hall after.
    let opens_at = unix_now() as i64 + 25;
    let tender = world.signed_tender(opens_at);
    let job = GenerateJob {
        manifest: manifest_for(&world, &sealed),
        files: vec![(PDF_NAME.into(), sealed.clone())],
        output: output.clone(),
        colleagues: CertificateChoice {
            min_extra: 2,
            max_extra: 2,
        },
        tender_digest: tender.digest(),
    };
    let summary = generate_bid_file(&target, &mut phone, &accepted, &bidder, &job)
        .await
        .unwrap_or_else(|e| panic!("[{}] {e}", e.code()));
    assert_eq!(summary.recipients.len(), 3);

    // Trial decryption right after generation passes every check and leaves no plaintext.
    let work = world.dir.join("trial");
    let manifest_bytes = job.manifest.to_bytes().unwrap_or_default();
    assert!(
        (unix_now() as i64) < opens_at,
        "the trial must come before the opening time"
    );
    let trial = trial_decrypt(
        &target,
        &mut phone,
        &hall(&world),
        &tender,
        &manifest_bytes,
        &output,
        &work,
    )
    .await;
    assert!(trial.passed, "trial: {:#?}", trial.checks);
    assert!(!bidseal_bid::opening::opened_dir(&work, &output).exists());
    // Before the opening time, outside a trial, the phone refuses (opening time from the tender).
    let mut early = world.phone(Some("colleague-wang"), &[]);
    let report = open_by_scan(
        &target,
        &mut early,
        &hall(&world),
        &output,
        &world.dir.join("early"),
        &tender,
    )
    .await;
    assert_eq!(
        report
            .first_failure()
            .and_then(|c| c.code.clone())
            .as_deref(),
        Some("before_opening_time"),
        "{:#?}",
        report.checks
    );
    let wait = (opens_at - unix_now() as i64).max(0) as u64 + 1;
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;

    for id in ["ent-huaxia", "colleague-wang", PLAIN_CERT_ID] {
        // openssl opens it with the `-plain` recipient's key (the others are split: only the
        // phone with the co-signing service opens for them, below).
        if id == PLAIN_CERT_ID {
            let plain = world.dir.join(format!("{id}.zip"));
            let out = run(Command::new("openssl")
                .args(["cms", "-decrypt", "-inform", "DER", "-in"])
                .arg(&output)
                .arg("-recip")
                .arg(world.pki(&format!("{id}.pem")))
                .arg("-inkey")
                .arg(world.pki(&format!("{id}.key.pem")))
                .arg("-out")
                .arg(&plain));
            assert!(
                out.status.success(),
                "openssl {id}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let zip = std::fs::read(&plain).unwrap_or_default();
            assert!(zip.starts_with(b"PK"), "{id}: plaintext is the package zip");
        }

        // The hall opens it by scan with this certificate; every check passes.
        let mut hall_phone = world.phone(Some(id), &[]);
        let work = world.dir.join(format!("hall-{id}"));
        let report = open_by_scan(
            &target,
            &mut hall_phone,
            &hall(&world),
            &output,
            &work,
            &tender,
        )
        .await;
        assert!(report.passed, "{id}: {:#?}", report.checks);
        for key in ["decrypt_scan", "envelope", "package", "manifest_signature"] {
            assert!(
                report.checks.iter().any(|c| c.key == key && c.passed),
                "{id}: {key}"
            );
        }
        assert!(report
            .checks
            .iter()
            .any(|c| c.key == format!("pdf:{PDF_NAME}") && c.passed));
        assert_eq!(
            report.price.get("bid_price").map(String::as_str),
            Some("1234567.89")
        );
    }

    // A certificate of another company is not a recipient: the phone refuses, nothing opens.
    let mut other = world.phone(Some("ent-jiangnan"), &[]);
    let report = open_by_scan(
        &target,
        &mut other,
        &hall(&world),
        &output,
        &world.dir.join("x"),
        &tender,
    )
    .await;
    assert!(!report.passed);
    let failure = report
        .first_failure()
        .map(|c| (c.key.clone(), c.code.clone()));
    assert_eq!(
        failure,
        Some(("decrypt_scan".into(), Some("not_a_recipient".into()))),
        "{:#?}",
        report.checks
    );

    // One flipped byte in the ciphertext: the envelope says "tampered".
    let tampered = world.dir.join("tampered.bidseal");
    let mut bytes = std::fs::read(&output).unwrap_or_default();
    let at = bytes.len() - 200;
    bytes[at] ^= 0x01;
    std::fs::write(&tampered, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let mut p = world.phone(Some("colleague-wang"), &[]);
    let report = open_by_scan(
        &target,
        &mut p,
        &hall(&world),
        &tampered,
        &world.dir.join("t"),
        &tender,
    )
    .await;
    let env = report.checks.iter().find(|c| c.key == "envelope");
    assert_eq!(
        env.map(|c| (c.passed, c.code.clone())),
        Some((false, Some("E_ENV_TAMPERED".into()))),
        "{:#?}",
        report.checks
    );
    assert!(!report.passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_of_another_company_or_unaccepted_ca_is_refused_before_signing() {
    let world = World::start("refusals").await;
    let target = world.target();
    // Another company's certificate.
    let mut phone = world.phone(Some("ent-jiangnan"), &[]);
    let err = authenticate(
        &target,
        &mut phone,
        &world.trust(&["ca-1", "ca-2"]),
        &bidder_of(&world),
    )
    .await
    .err()
    .map(|e| e.code());
    assert_eq!(err, Some("BID_WRONG_COMPANY"));
    // The tender accepts only CA 二; the bidder's enterprise certificate is from CA 一.
    let mut phone = world.phone(None, &[]);
    let err = authenticate(
        &target,
        &mut phone,
        &world.trust(&["ca-2"]),
        &bidder_of(&world),
    )
    .await
    .err()
    .map(|e| e.code());
    assert_eq!(err, Some("BID_CA_NOT_ACCEPTED"));
}

#[test]
fn a_missing_mandatory_seal_blocks_generation_with_a_list() {
    use bidseal_bid::compose::page::PdfRect;
    use bidseal_bid::tender::SealKind as NodeKind;
    let node = |id: &str, mandatory| NodePlacement {
        node_id: id.into(),
        section: "business".into(),
        label: format!("投标函 {id}"),
        seal_kinds: vec![NodeKind::Enterprise, NodeKind::LegalPerson],
        mandatory,
        cross_page: false,
        rects: vec![NodeRect {
            page_index: 0,
            rect: PdfRect {
                x1: 0.0,
                y1: 0.0,
                x2: 10.0,
                y2: 10.0,
            },
            kind: None,
        }],
        anchor_rects: Vec::new(),
        placed: false,
    };
    let nodes = vec![node("n1", true), node("n2", true), node("n3", false)];
    let sealed = vec![bidseal_workflow::seal::SealedPlacement {
        node_ids: vec!["n1".into()],
        field_name: "Seal1".into(),
        signer: "x".into(),
    }];
    let err = ensure_mandatory_sealed(&nodes, &sealed).err();
    let Some(bidseal_workflow::FlowError::MissingSeals { missing }) = err else {
        panic!("expected MissingSeals");
    };
    assert_eq!(missing.len(), 1);
    assert!(
        missing[0].contains("n2") && missing[0].contains("公章"),
        "{missing:?}"
    );
}
