//! 平台测试's 生成标书, 试解密 and 扫码解密 (`workflow::staff_lab`) against the real processes
//! the console runs: the lab's relay in this process, `bidseal phone serve-cosign` and one
//! `bidseal phone scan` per QR, over a `phone init` world. The lab makes its own tender and
//! bid project, seals, authenticates and generates by scan; openssl opens the bid file with
//! the `-plain` colleague's key (and not with a stranger's); 试解密 and the hall's 扫码解密 read
//! the price back; refusals, a certificate that cannot do the flow, a stranger's certificate
//! and a changed byte of the bid file end the run as they must.

mod flow_support;

use bidseal_workflow::staff_lab::{
    LabEvent, LabFault, LabFlow, LabOutcome, PhoneAnswer, StaffLab, LAB_PRICE,
};
use flow_support::{fresh_dir, init_world, PLAIN_CERT_ID};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIDDER: &str = "ent-huaxia";

/// One run; the outcome and whether a QR was shown.
async fn run(
    lab: &StaffLab,
    flow: LabFlow,
    cert: &str,
    answer: PhoneAnswer,
    fault: LabFault,
) -> (LabOutcome, bool, String) {
    let events = Mutex::new(Vec::new());
    let sink = |e: LabEvent| {
        if let Ok(mut v) = events.lock() {
            v.push(e);
        }
    };
    let outcome = lab.run(flow, cert, answer, fault, &sink).await;
    let events = events.into_inner().unwrap_or_default();
    let qr = events.iter().any(|e| matches!(e, LabEvent::Qr { .. }));
    let steps: String = events
        .iter()
        .filter_map(|e| match e {
            LabEvent::Step(s) => Some(format!("{} {} {}\n", s.at_ms, s.actor, s.text)),
            _ => None,
        })
        .collect();
    (outcome, qr, steps)
}

/// One run without a fault.
async fn go(
    lab: &StaffLab,
    flow: LabFlow,
    cert: &str,
    answer: PhoneAnswer,
) -> (LabOutcome, bool, String) {
    run(lab, flow, cert, answer, LabFault::None).await
}

fn openssl_decrypt(bid: &Path, cert: &Path, key: &Path, out: &Path) -> std::process::Output {
    Command::new("openssl")
        .args(["cms", "-decrypt", "-inform", "DER", "-in"])
        .arg(bid)
        .arg("-recip")
        .arg(cert)
        .arg("-inkey")
        .arg(key)
        .arg("-out")
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_generates_a_bid_on_its_own_tender_and_opens_it_as_the_bidder_and_the_hall_do() {
    let dir = fresh_dir("staff-lab-bid");
    let world = dir.join("world");
    init_world(&world);
    let pki = world.join("pki");
    let mut lab = StaffLab::new(&world, Path::new(env!("CARGO_BIN_EXE_bidseal")))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.start_relay().await.unwrap_or_else(|e| panic!("{e}"));
    lab.start_cosign().await.unwrap_or_else(|e| panic!("{e}"));
    let ok = |o: &LabOutcome, what: &str| {
        assert_eq!(o.result, "success", "{what}: {o:?}");
    };

    // Nothing to open before a bid is generated: said before any QR.
    for flow in [LabFlow::Trial, LabFlow::Decrypt] {
        let (o, qr, _) = go(&lab, flow, BIDDER, PhoneAnswer::Confirm).await;
        assert_eq!(o.code.as_deref(), Some("E_LAB_NO_BID"), "{flow:?}: {o:?}");
        assert!(!qr);
    }
    // A colleague's certificate cannot be the bidder: refused before any QR.
    let (o, qr, _) = go(&lab, LabFlow::Generate, PLAIN_CERT_ID, PhoneAnswer::Confirm).await;
    assert_eq!(o.code.as_deref(), Some("E_LAB_CERT"), "{o:?}");
    assert!(!qr);
    // A lab tender whose deadline has come by the time of generation: refused (a bid project
    // is not made after the deadline; the lab moves no gate), and no bid is kept.
    lab.set_bid_window(Duration::ZERO);
    let (o, _, steps) = go(&lab, LabFlow::Generate, BIDDER, PhoneAnswer::Confirm).await;
    assert_eq!(
        o.code.as_deref(),
        Some("PROJECT_DEADLINE_PASSED"),
        "{o:?}\n{steps}"
    );
    assert!(lab.lab_bid_file().is_none());
    // The phone rejects the first scan (标书签章): rejected, no bid.
    lab.set_bid_window(Duration::from_secs(30));
    let (o, qr, _) = go(&lab, LabFlow::Generate, BIDDER, PhoneAnswer::Reject).await;
    assert_eq!(
        (o.result, o.code.as_deref()),
        ("rejected", Some("rejected_by_user")),
        "{o:?}"
    );
    assert!(qr && lab.lab_bid_file().is_none());

    // The certificate disabled at the co-signing service for the run: refused, no bid; it is
    // enabled again after.
    let (o, _, steps) = run(
        &lab,
        LabFlow::Generate,
        BIDDER,
        PhoneAnswer::Confirm,
        LabFault::CertificateDisabled,
    )
    .await;
    assert_eq!(
        (o.result, o.code.as_deref()),
        ("rejected", Some("certificate_disabled")),
        "{o:?}\n{steps}"
    );
    assert!(steps.contains("已恢复证书") && lab.lab_bid_file().is_none());

    // 生成标书: seal, authenticate, generate — three scans.
    let started = Instant::now();
    let (o, _, steps) = go(&lab, LabFlow::Generate, BIDDER, PhoneAnswer::Confirm).await;
    ok(&o, &steps);
    eprintln!("生成标书 in {:?}\n{steps}", started.elapsed());
    assert!(steps.contains("标书签章完成"), "{steps}");
    let bid = o.bid.clone().unwrap_or_else(|| panic!("no bid: {o:?}"));
    let bid_file = Path::new(&bid.bid_file).to_path_buf();
    assert_eq!(lab.lab_bid_file().as_deref(), Some(bid_file.as_path()));
    assert_eq!(
        std::fs::metadata(&bid_file).map(|m| m.len()).ok(),
        Some(bid.size)
    );
    // The bidder's certificate and its company's colleagues (the -plain one among them).
    assert!(bid.recipients.len() >= 2, "{bid:?}");
    assert!(bid.recipients.iter().any(|r| r.contains("陈静")), "{bid:?}");

    // openssl opens it with the -plain colleague's key; a stranger's key does not.
    let plain = dir.join("plain.zip");
    let out = openssl_decrypt(
        &bid_file,
        &pki.join(format!("{PLAIN_CERT_ID}.pem")),
        &pki.join(format!("{PLAIN_CERT_ID}.key.pem")),
        &plain,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&plain).unwrap_or_default().starts_with(b"PK"));
    let stranger_key = dir.join("stranger.key.pem");
    let stranger_cert = dir.join("stranger.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=stranger", "-keyout"])
        .arg(&stranger_key)
        .arg("-out")
        .arg(&stranger_cert)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(made.status.success());
    let out = openssl_decrypt(
        &bid_file,
        &stranger_cert,
        &stranger_key,
        &dir.join("stranger.zip"),
    );
    assert!(!out.status.success(), "a stranger's key opened the bid");

    // 试解密: only with the bidder's certificate; a wrong PIN is refused; then it passes.
    let (o, qr, _) = go(&lab, LabFlow::Trial, PLAIN_CERT_ID, PhoneAnswer::Confirm).await;
    assert_eq!(o.code.as_deref(), Some("E_LAB_CERT"), "{o:?}");
    assert!(!qr);
    let (o, _, _) = go(&lab, LabFlow::Trial, BIDDER, PhoneAnswer::WrongPin).await;
    assert_eq!(
        (o.result, o.code.as_deref()),
        ("rejected", Some("wrong_pin")),
        "{o:?}"
    );
    let (o, _, steps) = go(&lab, LabFlow::Trial, BIDDER, PhoneAnswer::Confirm).await;
    ok(&o, &steps);
    let trial = o.bid.unwrap_or_else(|| panic!("no trial result"));
    assert!(
        trial.reading.iter().any(|r| r.contains(LAB_PRICE)),
        "{trial:?}"
    );

    // 扫码解密: the lab waits for the opening time; the colleague rejects, then confirms.
    let (o, _, steps) = go(&lab, LabFlow::Decrypt, PLAIN_CERT_ID, PhoneAnswer::Reject).await;
    assert_eq!(
        (o.result, o.code.as_deref()),
        ("rejected", Some("rejected_by_user")),
        "{o:?}\n{steps}"
    );
    let (o, _, steps) = go(&lab, LabFlow::Decrypt, PLAIN_CERT_ID, PhoneAnswer::Confirm).await;
    ok(&o, &steps);
    eprintln!("扫码解密: {}\n{steps}", o.message);
    let opened = o.bid.unwrap_or_else(|| panic!("no decrypt result"));
    assert!(
        opened.reading.iter().any(|r| r.contains(LAB_PRICE)),
        "{opened:?}"
    );
    assert!(!opened.checks.is_empty() && opened.checks.iter().all(|c| c.starts_with("[通过]")));
    assert!(opened.bidder.is_some_and(|b| b.contains("华夏")));

    // A certificate of another company is not a recipient: the phone refuses.
    let stranger = std::fs::read_dir(&pki)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".chain.pem").map(str::to_string))
        .find(|id| id.starts_with("ent-") && id != BIDDER)
        .unwrap_or_else(|| panic!("phone init makes a second company"));
    let (o, _, _) = go(&lab, LabFlow::Decrypt, &stranger, PhoneAnswer::Confirm).await;
    assert_eq!(o.result, "rejected", "{o:?}");
    assert!(o.bid.is_none() || o.bid.is_some_and(|b| b.reading.is_empty()));

    // A changed byte of the bid file: never read out.
    let mut bytes = std::fs::read(&bid_file).unwrap_or_default();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&bid_file, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (o, _, _) = go(&lab, LabFlow::Decrypt, PLAIN_CERT_ID, PhoneAnswer::Confirm).await;
    assert_ne!(o.result, "success", "{o:?}");
    assert!(o.bid.is_none_or(|b| b.reading.is_empty()), "read out");

    lab.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
