//! Staff download of bid files and the hall's fetch from the platform, with real processes on
//! 127.0.0.1, on SQLite and on PostgreSQL: `bidseal platform serve --demo-world`, bids uploaded
//! over the API with `curl`, then after the deadline `bidseal open --from-platform`.
//!
//! Attacker side: before the deadline the file is sealed (`E_BIDS_SEALED`, also for the CLI);
//! a bidder account (own bid or another's), no session, a replaced or withdrawn version, a bid
//! id of another tender and path-shaped ids are all refused with 4xx and the server keeps
//! serving; a stored file changed on the platform's disk is downloaded but flagged
//! (`E_HALL_FETCH_HASH`), never opened; a company account and a wrong password are refused by
//! the fetch with their codes.

mod platform_support;
mod scan_common;

use platform_support::*;
use scan_common::TempDir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PASSWORD: &str = "Demo@1234";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rfc3339(unix: i64) -> String {
    bidseal_bid::time::OffsetDateTime::from_unix_timestamp(unix)
        .expect("time")
        .format(&bidseal_bid::time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn uscc_of(world: &Path, cert: &str) -> String {
    bidseal_cms::cert::Certificate::from_pem(
        &std::fs::read(world.join(format!("pki/{cert}.pem"))).expect("pem"),
    )
    .expect("cert")
    .credit_code()
    .unwrap_or_default()
}

/// A bid file in our format: a CMS envelope to `to`'s enterprise certificate.
fn bid_file(home: &Path, world: &Path, name: &str, to: &str, seed: u8) -> PathBuf {
    let plain = home.join(format!("{name}.plain"));
    let bytes: Vec<u8> = (0..300_000usize)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    std::fs::write(&plain, bytes).expect("write plain");
    let out = home.join(format!("{name}.bsbid"));
    ok(bidseal(home)
        .args(["envelope", "encrypt", s(&plain), s(&out), "--to"])
        .arg(world.join(format!("pki/{to}.pem"))));
    out
}

fn sha256_hex(file: &Path) -> String {
    bidseal_workflow::bid_upload::file_digest(file)
        .expect("digest")
        .0
}

/// Uploads `file` for `tender` as the company behind `token`; returns the upload (bid) id.
fn upload(api: &str, token: &str, tender: &str, file: &Path) -> String {
    let bytes = std::fs::read(file).expect("bid");
    let body = serde_json::json!({"size": bytes.len(), "sha256": sha256_hex(file)}).to_string();
    let r = curl(
        "POST",
        &format!("{api}/tenders/{tender}/uploads"),
        Some(token),
        &["-H", "content-type: application/json", "--data", &body],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().expect("upload id").to_string();
    let r = curl(
        "PUT",
        &format!("{api}/uploads/{id}?offset=0"),
        Some(token),
        &[
            "-H",
            "content-type: application/octet-stream",
            "--data-binary",
            &format!("@{}", s(file)),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = curl(
        "POST",
        &format!("{api}/uploads/{id}/complete"),
        Some(token),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

/// `GET` of a bid file into `out`; the status.
fn download(url: &str, token: Option<&str>, out: &Path) -> Http {
    let _ = std::fs::remove_file(out);
    curl("GET", url, token, &["-o", s(out)])
}

fn error_code(out: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out).unwrap_or_default()).unwrap_or_default();
    v["code"].as_str().unwrap_or_default().to_string()
}

fn open_from_platform(
    home: &Path,
    world: &Path,
    tender: &Path,
    work: &Path,
    base: &str,
    account: &str,
    password: &str,
) -> Output {
    // The password on standard input (`--password-stdin`), as a script keeps it out of the
    // process list.
    let mut child = bidseal(home)
        .args(["open", "--tender", s(tender), "--platform-cert"])
        .arg(world.join("pki/platform.crt"))
        .args(["--work", s(work), "--from-platform", base])
        .args(["--staff-account", account, "--password-stdin"])
        .args(["--relay", "http://127.0.0.1:9", "--qr-ttl", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bidseal open");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{password}").expect("password");
    }
    child.wait_with_output().expect("bidseal open")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The receipt of the caller's bid for `tender` (as `GET /tenders/{id}/bid` gives it).
fn demo_receipt(api: &str, token: &str, tender: &str) -> serde_json::Value {
    let r = curl(
        "GET",
        &format!("{api}/tenders/{tender}/bid"),
        Some(token),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["receipt"].clone()
}

/// What the hall accepts of a staff listing: the real one passes; a listing whose row was
/// changed (SHA-256, size, bidder), whose receipt is another tender's or another bidder's, or
/// whose signature has a changed byte is refused with `E_PLATFORM_SIGNATURE`.
fn hostile_listings(
    tender_zip: &Path,
    world: &Path,
    listed: &serde_json::Value,
    huaxia_uscc: &str,
    other_tender_receipt: &serde_json::Value,
) {
    use bidseal_workflow::hall_fetch::{check_listed, FetchTarget, StaffBidWire};
    let cert = bidseal_bid::tender::PlatformCertificate::from_pem(
        &std::fs::read_to_string(world.join("pki/platform.crt")).expect("crt"),
    )
    .expect("cert");
    let package = bidseal_bid::tender::package::open(tender_zip).expect("package");
    let target = FetchTarget::new(&package.manifest_bytes, cert, world.join("unused"));
    let rows: Vec<StaffBidWire> = serde_json::from_value(listed.clone()).expect("listing");
    let huaxia = rows
        .iter()
        .find(|r| r.company.uscc == huaxia_uscc)
        .expect("华夏")
        .clone();
    let other = rows
        .iter()
        .find(|r| r.company.uscc != huaxia_uscc && r.state == "submitted")
        .cloned();
    assert!(check_listed(&target, &huaxia).is_ok());
    let mut changes: Vec<(&str, StaffBidWire)> = Vec::new();
    let mut sha = huaxia.clone();
    sha.sha256 = "0".repeat(64);
    changes.push(("sha256", sha));
    let mut size = huaxia.clone();
    size.size += 1;
    changes.push(("size", size));
    let mut bidder = huaxia.clone();
    bidder.company.uscc = "91330000000000000X".into();
    changes.push(("bidder", bidder));
    let mut tender = huaxia.clone();
    tender.receipt = serde_json::from_value(other_tender_receipt.clone()).expect("other receipt");
    // The row made to agree with that receipt, so only its tender differs.
    let signed: serde_json::Value =
        serde_json::from_str(&tender.receipt.receipt_json).expect("receipt json");
    tender.sha256 = signed["sha256"].as_str().unwrap_or_default().to_string();
    tender.size = signed["size"].as_i64().unwrap_or_default();
    changes.push(("another tender's receipt", tender));
    if let Some(o) = other {
        let mut swapped = huaxia.clone();
        swapped.receipt = o.receipt.clone();
        changes.push(("another bidder's receipt", swapped));
    }
    let mut sig = huaxia.clone();
    let mut der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        sig.receipt.signature.as_bytes(),
    )
    .expect("b64");
    let last = der.len() - 1;
    der[last] ^= 1;
    sig.receipt.signature = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    changes.push(("signature byte", sig));
    let mut json = huaxia.clone();
    json.receipt.receipt_json = json
        .receipt
        .receipt_json
        .replacen("\"size\":", "\"size\":1", 1);
    changes.push(("receipt byte", json));
    for (what, row) in changes {
        let e = check_listed(&target, &row).expect_err(what);
        assert_eq!(e.code(), "E_PLATFORM_SIGNATURE", "{what}: {e}");
    }
}

fn scenario(pg: Option<PgCluster>) {
    let home = TempDir::new("bid-download");
    let h = &home.0;
    let world = h.join("world");
    ok(bidseal(h).args([
        "phone",
        "init",
        s(&world),
        "--pin",
        "123456",
        "--kdf-iterations",
        "1000",
    ]));
    let deadline = now() + 25;
    let rush = h.join("rush.zip");
    ok(bidseal(h)
        .args(["tender", "make", "--world", s(&world), "--out", s(&rush)])
        .args([
            "--deadline".to_string(),
            rfc3339(deadline),
            "--opening-time".into(),
            rfc3339(deadline + 3),
        ]));
    let data = h.join("data");
    let server = spawn_platform(&data, &world, pg.as_ref().map(|p| p.url.as_str()));
    let base = server.url.clone();
    let api = format!("{base}/api/v1");
    let staff = login(&base, "staff", PASSWORD);
    let r = curl(
        "POST",
        &format!("{api}/staff/tenders"),
        Some(&staff),
        &["--data-binary", &format!("@{}", s(&rush))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let rush_id = r.json()["id"].as_str().expect("id").to_string();
    let demo_id = curl("GET", &format!("{api}/tenders"), None, &[])
        .json()
        .as_array()
        .and_then(|a| a.iter().find(|t| t["id"] != rush_id.as_str()).cloned())
        .and_then(|t| t["id"].as_str().map(str::to_string))
        .expect("demo tender");

    let huaxia_uscc = uscc_of(&world, "ent-huaxia");
    let jiangnan_uscc = uscc_of(&world, "ent-jiangnan");
    let huaxia = login(&base, &huaxia_uscc, PASSWORD);
    let jiangnan = login(&base, &jiangnan_uscc, PASSWORD);
    // 华夏: a first version, then replaced; 江南路桥: a bid withdrawn, then a new one.
    let first = bid_file(h, &world, "huaxia-1", "ent-huaxia", 1);
    let second = bid_file(h, &world, "huaxia-2", "ent-huaxia", 2);
    let jn_old = bid_file(h, &world, "jiangnan-old", "ent-jiangnan", 4);
    let jn = bid_file(h, &world, "jiangnan", "ent-jiangnan", 3);
    let replaced_id = upload(&api, &huaxia, &rush_id, &first);
    let huaxia_id = upload(&api, &huaxia, &rush_id, &second);
    let withdrawn_id = upload(&api, &jiangnan, &rush_id, &jn_old);
    let r = curl(
        "DELETE",
        &format!("{api}/tenders/{rush_id}/bid"),
        Some(&jiangnan),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = curl(
        "GET",
        &format!("{api}/staff/tenders/{rush_id}/bids"),
        Some(&staff),
        &[],
    );
    let withdrawn_row = listed
        .json()
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|b| b["company"]["uscc"] == jiangnan_uscc.as_str())
                .cloned()
        })
        .expect("江南路桥 listed");
    assert_eq!(withdrawn_row["state"], "withdrawn");
    assert!(withdrawn_row["bid"].is_null(), "{withdrawn_row}");
    let jiangnan_id = upload(&api, &jiangnan, &rush_id, &jn);
    // A bid for the demo tender (deadline far ahead): its id used on the rush tender.
    let demo_bid = upload(&api, &huaxia, &demo_id, &first);
    let file_url =
        |tender: &str, bid: &str| format!("{api}/staff/tenders/{tender}/bids/{bid}/file");
    let got = h.join("got.bin");

    // --- before the deadline: sealed, for the API and for the fetch -------------------------
    let r = download(&file_url(&rush_id, &huaxia_id), Some(&staff), &got);
    assert_eq!(r.status, 403);
    assert_eq!(error_code(&got), "E_BIDS_SEALED");
    let r = download(&file_url(&demo_id, &demo_bid), Some(&staff), &got);
    assert_eq!(
        (r.status, error_code(&got).as_str()),
        (403, "E_BIDS_SEALED")
    );
    let early = open_from_platform(h, &world, &rush, &h.join("early"), &base, "staff", PASSWORD);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    assert!(
        text(&early).contains("[E_HALL_FETCH_SEALED]"),
        "{}",
        text(&early)
    );
    assert!(!h
        .join("early/platform-bids")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some()));

    // The listing carries the receipt facts and the signed receipt.
    let listed = curl(
        "GET",
        &format!("{api}/staff/tenders/{rush_id}/bids"),
        Some(&staff),
        &[],
    );
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = listed.json();
    let row = listed
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|b| b["company"]["uscc"] == huaxia_uscc.as_str())
        })
        .expect("华夏 listed")
        .clone();
    assert_eq!(row["bid"], huaxia_id.as_str());
    assert_eq!(row["sha256"], sha256_hex(&second).as_str());
    assert!(row["received_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let cert = bidseal_bid::tender::PlatformCertificate::from_pem(
        &std::fs::read_to_string(world.join("pki/platform.crt")).expect("crt"),
    )
    .expect("platform cert");
    let receipt: bidseal_bid::platform_docs::SignedReceipt =
        bidseal_bid::platform_docs::verify_signed(
            &cert,
            row["receipt"]["receipt_json"].as_str().expect("json"),
            row["receipt"]["signature"].as_str().expect("sig"),
        )
        .expect("the listing's receipt verifies");
    assert_eq!(receipt.sha256, row["sha256"].as_str().unwrap_or_default());
    hostile_listings(
        &rush,
        &world,
        &listed,
        &huaxia_uscc,
        &demo_receipt(&api, &huaxia, &demo_id),
    );

    // --- the deadline passes -----------------------------------------------------------------
    let wait = deadline - now() + 1;
    if wait > 0 {
        std::thread::sleep(Duration::from_secs(wait as u64));
    }

    // Staff: the current versions, byte for byte.
    let r = download(&file_url(&rush_id, &huaxia_id), Some(&staff), &got);
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(&got).ok(), std::fs::read(&second).ok());
    let r = download(&file_url(&rush_id, &jiangnan_id), Some(&staff), &got);
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(&got).ok(), std::fs::read(&jn).ok());

    // Attackers.
    let cases: Vec<(String, Option<&str>, u16, &str)> = vec![
        (
            file_url(&rush_id, &huaxia_id),
            Some(huaxia.as_str()),
            403,
            "E_FORBIDDEN",
        ),
        (
            file_url(&rush_id, &jiangnan_id),
            Some(huaxia.as_str()),
            403,
            "E_FORBIDDEN",
        ),
        (
            file_url(&rush_id, &huaxia_id),
            Some(jiangnan.as_str()),
            403,
            "E_FORBIDDEN",
        ),
        (file_url(&rush_id, &huaxia_id), None, 401, "E_AUTH_REQUIRED"),
        (
            file_url(&rush_id, &huaxia_id),
            Some("forged-token"),
            401,
            "",
        ),
        (
            file_url(&rush_id, &replaced_id),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
        (
            file_url(&rush_id, &withdrawn_id),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
        (
            file_url(&rush_id, &demo_bid),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
        (
            file_url("Tnope", &huaxia_id),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
        (
            file_url(&rush_id, "..%2F..%2Fplatform.db"),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
        (
            file_url(&rush_id, "%2e%2e"),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
        (
            file_url(&rush_id, &huaxia_id.to_uppercase()),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
        (
            file_url(&rush_id, &format!("{huaxia_id}%00")),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
        (
            file_url(&rush_id, &"U".repeat(5000)),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
        (
            format!("{api}/staff/tenders/{rush_id}/bids/..%2F..%2Fbids%2F{huaxia_id}.bsbid/file"),
            Some(staff.as_str()),
            404,
            "E_NOT_FOUND",
        ),
    ];
    for (url, token, status, code) in &cases {
        let r = download(url, *token, &got);
        assert_eq!(r.status, *status, "{url}");
        if !code.is_empty() {
            assert_eq!(error_code(&got), *code, "{url}");
        }
        let body = std::fs::read(&got).unwrap_or_default();
        assert!(
            body.len() < 1000,
            "{url}: no bid bytes in a refusal ({} bytes)",
            body.len()
        );
    }
    let r = download(&file_url(&rush_id, &huaxia_id), Some(&staff), &got);
    assert_eq!(r.status, 200, "still serving after the attacks");

    // --- the hall's fetch (CLI) ------------------------------------------------------------
    let company = open_from_platform(
        h,
        &world,
        &rush,
        &h.join("co"),
        &base,
        &huaxia_uscc,
        PASSWORD,
    );
    assert_eq!(company.status.code(), Some(1), "{}", text(&company));
    assert!(
        text(&company).contains("[E_HALL_FETCH_NOT_STAFF]"),
        "{}",
        text(&company)
    );
    let wrong = open_from_platform(
        h,
        &world,
        &rush,
        &h.join("wr"),
        &base,
        "staff",
        "Wrong@1234",
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("[E_LOGIN_FAILED]"),
        "{}",
        text(&wrong)
    );
    let offline = open_from_platform(
        h,
        &world,
        &rush,
        &h.join("off"),
        "http://127.0.0.1:9",
        "staff",
        PASSWORD,
    );
    assert_eq!(offline.status.code(), Some(3), "{}", text(&offline));
    assert!(
        text(&offline).contains("[E_PLATFORM_OFFLINE]"),
        "{}",
        text(&offline)
    );

    // An intruder changes one byte of 华夏's stored bid on the platform's disk: the fetch
    // downloads it, finds it is not what the receipt names, flags it and does not open it.
    let stored = data.join("bids").join(format!("{huaxia_id}.bsbid"));
    let mut bytes = std::fs::read(&stored).expect("stored bid");
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&stored, &bytes).expect("tamper");
    let work = h.join("hall");
    let out = open_from_platform(h, &world, &rush, &work, &base, "staff", PASSWORD);
    let said = text(&out);
    assert!(said.contains("[E_HALL_FETCH_HASH]"), "{said}");
    assert!(said.contains(&receipt.id), "{said}");
    assert!(
        said.contains(&format!("{jiangnan_uscc}-{jiangnan_id}.bsbid")),
        "{said}"
    );
    assert_eq!(out.status.code(), Some(1), "{said}");
    let fetched = work.join("platform-bids");
    assert_eq!(
        std::fs::read(fetched.join(format!("{jiangnan_uscc}-{jiangnan_id}.bsbid"))).ok(),
        std::fs::read(&jn).ok()
    );
    // The flagged file is kept as downloaded (evidence), not opened: only 江南路桥's is given
    // to the scan (which cannot run here: no relay), 华夏's never.
    let flagged = fetched.join(format!("{huaxia_uscc}-{huaxia_id}.bsbid"));
    assert_eq!(std::fs::read(&flagged).ok(), Some(bytes));
    let opening = |f: &Path| format!("开启投标文件：{}", s(f));
    assert!(
        said.contains(&opening(
            &fetched.join(format!("{jiangnan_uscc}-{jiangnan_id}.bsbid"))
        )),
        "{said}"
    );
    assert!(!said.contains(&opening(&flagged)), "{said}");
    drop(server);
}

#[test]
fn staff_download_and_hall_fetch_on_sqlite() {
    scenario(None);
}

#[test]
fn staff_download_and_hall_fetch_on_postgresql() {
    let Some(pg) = PgCluster::start(false) else {
        return;
    };
    scenario(Some(pg));
}
