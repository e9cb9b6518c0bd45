//! The trading platform with real processes on 127.0.0.1, on SQLite and on PostgreSQL (a
//! private throw-away cluster): `bidseal platform serve --demo-world`, the bid tool's
//! `bidseal sync` / `bidseal upload`, and `curl` + `openssl` as independent clients.
//!
//! Scenario: sync the integrity library → staff edit/delete/add records → sync shows exactly
//! that diff → an intruder changes a record in the database without the platform key → sync
//! refuses it and keeps the last good copy → upload a bid (our CMS envelope), the receipt
//! verifies with `openssl dgst` → replace → the first file no longer matches the receipt →
//! a truncated upload is resumed at the platform's offset → a tender whose deadline passes:
//! upload and withdraw refused. Bad input answered with 4xx and the server keeps serving.

mod platform_support;
mod scan_common;

use bidseal_workflow::library_sync::{apply_listed, LibraryWire};
use platform_support::*;
use scan_common::TempDir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

const PASSWORD: &str = "Demo@1234";

/// Where the platform keeps its data, to play an intruder with database access.
enum Backend {
    /// The bundled SQLite file under the data folder.
    Sqlite,
    Postgres(PgCluster),
}

impl Backend {
    fn url(&self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres(pg) => Some(pg.url.clone()),
        }
    }

    /// Runs one statement as an intruder would (no platform key).
    fn exec(&self, data: &Path, sql: &str) {
        match self {
            Backend::Sqlite => {
                let conn =
                    rusqlite::Connection::open(data.join("platform.db")).expect("open platform.db");
                conn.execute(sql, []).expect("intruder SQL");
            }
            Backend::Postgres(pg) => {
                pg.psql(sql);
            }
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

/// A project of the world's bidder for the tender package at `tender`.
fn project(home: &Path, world: &Path, tender: &Path, name: &str) -> PathBuf {
    let proj = home.join(format!("{name}.bidproj"));
    ok(bidseal(home)
        .args(["project", "new", s(&proj), "--tender", s(tender)])
        .args(["--platform-cert", s(&world.join("pki/platform.crt"))]));
    let ent = bidseal_cms::cert::Certificate::from_pem(
        &std::fs::read(world.join("pki/ent-huaxia.pem")).expect("ent pem"),
    )
    .expect("ent cert");
    ok(bidseal(home).args(["project", "set", s(&proj)]).args([
        format!("bidder.name={}", ent.organization().unwrap_or_default()),
        format!(
            "bidder.credit_code={}",
            ent.credit_code().unwrap_or_default()
        ),
    ]));
    proj
}

/// A bid file in our format: a CMS envelope to the bidder's enterprise certificate.
fn bid_file(home: &Path, world: &Path, name: &str, size: usize, seed: u8) -> PathBuf {
    let plain = home.join(format!("{name}.plain"));
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    std::fs::write(&plain, bytes).expect("write plain");
    let out = home.join(format!("{name}.bsbid"));
    ok(bidseal(home)
        .args(["envelope", "encrypt", s(&plain), s(&out), "--to"])
        .arg(world.join("pki/ent-huaxia.pem")));
    out
}

/// `bidseal sync` with the password on standard input (`--password-stdin`; `upload` below
/// gives it on the command line).
fn sync(home: &Path, base: &str, proj: &Path) -> Output {
    let mut child = bidseal(home)
        .args(["sync", "--platform", base, "--project", s(proj)])
        .arg("--password-stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bidseal sync");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{PASSWORD}").expect("password");
    }
    child.wait_with_output().expect("bidseal sync")
}

fn upload(home: &Path, base: &str, proj: &Path, extra: &[&str]) -> Output {
    run(bidseal(home)
        .args([
            "upload",
            "--platform",
            base,
            "--project",
            s(proj),
            "--password",
            PASSWORD,
        ])
        .args(extra))
}

/// Verifies a kept receipt with openssl alone (no BidSeal code): the platform certificate's
/// key over the exact receipt bytes.
fn openssl_verifies(home: &Path, world: &Path, receipt: &Path) -> bool {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(receipt).expect("receipt")).expect("receipt json");
    let json = home.join("receipt.json");
    let sig = home.join("receipt.sig");
    std::fs::write(&json, v["receipt_json"].as_str().unwrap_or_default()).expect("w");
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(v["signature"].as_str().unwrap_or_default())
        .unwrap_or_default();
    std::fs::write(&sig, der).expect("w");
    let pubkey = home.join("platform.pub.pem");
    ok(Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(world.join("pki/platform.crt"))
        .arg("-out")
        .arg(&pubkey));
    run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&pubkey)
        .arg("-signature")
        .arg(&sig)
        .arg(&json))
    .status
    .success()
}

fn receipts(proj: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(proj.join("receipts"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn scenario(backend: Backend) {
    let home = TempDir::new("platform");
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
    // A second tender whose deadline passes during the test.
    // Long enough for the steps before it on a loaded machine; at the end the platform's test
    // clock is moved past it (`--test-clock`), nobody waits.
    let deadline = now() + 30;
    let rush = h.join("rush.zip");
    ok(bidseal(h)
        .args(["tender", "make", "--world", s(&world), "--out", s(&rush)])
        .args([
            "--deadline".to_string(),
            rfc3339(deadline),
            "--opening-time".into(),
            rfc3339(deadline + 5),
        ]));

    let data = h.join("data");
    let server = spawn_platform_with(&data, &world, backend.url().as_deref(), &["--test-clock"]);
    let base = server.url.clone();
    let api = format!("{base}/api/v1");
    let staff = login(&base, "staff", PASSWORD);

    // Staff publish the rush tender; the demo tender is already published.
    let r = curl(
        "POST",
        &format!("{api}/staff/tenders"),
        Some(&staff),
        &["--data-binary", &format!("@{}", s(&rush))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let rush_id = r.json()["id"].as_str().unwrap_or_default().to_string();
    // The rush tender: a bid uploaded well before its deadline.
    let rush_zip = h.join("rush-dl.zip");
    curl(
        "GET",
        &format!("{api}/tenders/{rush_id}/package"),
        None,
        &["-o", s(&rush_zip)],
    );
    let rush_proj = project(h, &world, &rush_zip, "rush");
    let early = bid_file(h, &world, "early", 512 * 1024, 9);
    let out = upload(h, &base, &rush_proj, &["--file", s(&early)]);
    assert!(
        out.status.success(),
        "before the deadline: {:?}",
        text(&out)
    );
    let tenders = curl("GET", &format!("{api}/tenders"), None, &[]).json();
    let demo_id = tenders
        .as_array()
        .and_then(|a| a.iter().find(|t| t["id"] != rush_id.as_str()))
        .and_then(|t| t["id"].as_str())
        .expect("demo tender listed")
        .to_string();
    let demo_zip = h.join("demo.zip");
    let r = curl(
        "GET",
        &format!("{api}/tenders/{demo_id}/package"),
        None,
        &["-o", s(&demo_zip)],
    );
    assert_eq!(r.status, 200);
    let proj = project(h, &world, &demo_zip, "demo");

    // --- 同步诚信库 ----------------------------------------------------------------------
    let out = sync(h, &base, &proj);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("同步完成：新增 7，变更 0，删除 0，未变 0，拒收 0"),
        "{stdout}"
    );
    let again = sync(h, &base, &proj);
    assert!(
        text(&again).0.contains("新增 0，变更 0，删除 0，未变 7"),
        "{}",
        text(&again).0
    );
    // What an intruder could have recorded: every record's signed version 1.
    let version_1 = local_records(&proj);
    // The bid manifest cites each kept record by id, version and SHA-256 of the exact bytes the
    // platform signed, so an evaluator can match them against the platform's records.
    let opened = bidseal_bid::project::BidProject::open(&proj).expect("open project");
    let manifest =
        bidseal_workflow::project_flow::bid_manifest(&opened, &demo_zip).expect("manifest");
    assert_eq!(
        manifest.integrity_records.len(),
        7,
        "{:?}",
        manifest.integrity_records
    );
    for (id, (json, _)) in &version_1 {
        let sha = bidseal_bid::platform_docs::document_sha256(json);
        assert!(
            manifest
                .integrity_records
                .contains(&format!("{id}@v1:sha256:{sha}")),
            "{id} cited: {:?}",
            manifest.integrity_records
        );
    }

    // The record list is signed as a whole: an answer that leaves one record out is refused as
    // a whole (the record was withheld, not removed) and nothing changes locally; so is an
    // answer without the list or with a changed list byte.
    let company = project_uscc(&proj);
    let company_token = login(&base, &company, "Demo@1234");
    let first_answer: LibraryWire = serde_json::from_value(
        curl("GET", &format!("{api}/records"), Some(&company_token), &[]).json(),
    )
    .expect("library answer");
    let cert = opened.tender().platform.clone();
    let kept_before = local_records(&proj);
    let mut dropped = first_answer.clone();
    let gone = dropped.records.remove(2);
    let e = apply_listed(&proj, &cert, &dropped, now()).expect_err("a withheld record");
    assert_eq!(e.code(), "E_PLATFORM_SIGNATURE", "{e}");
    assert!(e.to_string().contains(&gone.id), "{e}");
    assert_eq!(local_records(&proj), kept_before, "nothing changed");
    let mut unlisted = first_answer.clone();
    unlisted.list_json.clear();
    assert!(apply_listed(&proj, &cert, &unlisted, now()).is_err());
    let mut changed = first_answer.clone();
    changed.list_json = changed
        .list_json
        .replacen("\"list_version\":", "\"list_version\":9", 1);
    assert_ne!(changed.list_json, first_answer.list_json);
    let e = apply_listed(&proj, &cert, &changed, now()).expect_err("changed list byte");
    assert_eq!(e.code(), "E_PLATFORM_SIGNATURE", "{e}");
    let honest = apply_listed(&proj, &cert, &first_answer, now()).expect("the honest answer");
    assert_eq!((honest.unchanged, honest.refused.len()), (7, 0));

    // Staff edit one record (version 1 → 2), delete one, add one.
    let lib = curl(
        "GET",
        &format!("{api}/staff/companies/{company}/records"),
        Some(&staff),
        &[],
    )
    .json();
    let recs = lib["records"].as_array().cloned().unwrap_or_default();
    let find = |kind: &str| -> String {
        recs.iter()
            .find(|r| r["kind"] == kind)
            .and_then(|r| r["id"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (award, finance, personnel) = (find("award"), find("finance"), find("personnel"));
    let edit = serde_json::json!({"version": 1, "title": "鲁班奖（2024）",
        "fields": {"name": "中国建设工程鲁班奖", "issuer": "中国建筑业协会", "year": "2024"}});
    let r = curl(
        "PUT",
        &format!("{api}/staff/records/{award}"),
        Some(&staff),
        &[
            "-H",
            "content-type: application/json",
            "--data",
            &edit.to_string(),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    // The same stale edit again is refused (someone saved in between).
    let r = curl(
        "PUT",
        &format!("{api}/staff/records/{award}"),
        Some(&staff),
        &[
            "-H",
            "content-type: application/json",
            "--data",
            &edit.to_string(),
        ],
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("E_RECORD_VERSION")),
        "{}",
        r.body
    );
    let r = curl(
        "DELETE",
        &format!("{api}/staff/records/{finance}"),
        Some(&staff),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let new = serde_json::json!({"kind": "qualification", "title": "市政公用工程施工总承包 二级",
        "fields": {"type": "市政公用工程施工总承包", "grade": "二级", "number": "D211000002", "valid_until": "2028-12-31"}});
    let r = curl(
        "POST",
        &format!("{api}/staff/companies/{company}/records"),
        Some(&staff),
        &[
            "-H",
            "content-type: application/json",
            "--data",
            &new.to_string(),
        ],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // A record missing a required field is refused before signing.
    let bad = serde_json::json!({"kind": "qualification", "title": "x", "fields": {"type": "y"}});
    let r = curl(
        "POST",
        &format!("{api}/staff/companies/{company}/records"),
        Some(&staff),
        &[
            "-H",
            "content-type: application/json",
            "--data",
            &bad.to_string(),
        ],
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("E_RECORD_INVALID")),
        "{}",
        r.body
    );

    let out = sync(h, &base, &proj);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("同步完成：新增 1，变更 1，删除 1，未变 5，拒收 0"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("变更  {award}  v2")), "{stdout}");
    assert!(stdout.contains(&format!("删除  {finance}")), "{stdout}");
    // The first answer replayed now (a list older than the one synced): refused as a whole.
    let kept_before = local_records(&proj);
    let e = apply_listed(&proj, &cert, &first_answer, now()).expect_err("a replayed list");
    assert!(e.to_string().contains("版本回退"), "{e}");
    assert_eq!(local_records(&proj), kept_before, "nothing changed");
    // A record the current list names at another version is refused (a fresh store, so the
    // local version check does not decide it).
    let current: LibraryWire = serde_json::from_value(
        curl("GET", &format!("{api}/records"), Some(&company_token), &[]).json(),
    )
    .expect("library answer");
    let mut stale = current.clone();
    let (old_json, old_sig) = &version_1[&award];
    for r in &mut stale.records {
        if r.id == award {
            r.version = 1;
            r.record_json = old_json.clone();
            r.signature = old_sig.clone();
        }
    }
    let fresh = h.join("fresh-store");
    std::fs::create_dir_all(&fresh).expect("dir");
    let report = apply_listed(&fresh, &cert, &stale, now()).expect("applies the rest");
    assert_eq!(
        report
            .refused
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        vec![award.as_str()],
        "{report:?}"
    );
    assert!(
        report.refused[0].reason.contains("签名的记录清单"),
        "{report:?}"
    );
    assert!(
        stdout.contains("新增  R") && stdout.contains("市政公用工程施工总承包 二级"),
        "{stdout}"
    );

    // An intruder with database access changes a record without the platform key.
    let before = local_sha(&proj, &personnel);
    backend.exec(&data, &format!(
        "UPDATE records SET record_json = replace(record_json, '项目经理', '总工程师') WHERE id = '{personnel}'"
    ));
    let out = sync(h, &base, &proj);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("拒收  {personnel}  [E_PLATFORM_SIGNATURE]"))
            && stdout.contains("保留本地版本 v1"),
        "{stdout}"
    );
    assert_eq!(
        local_sha(&proj, &personnel),
        before,
        "the last good copy is kept"
    );
    assert!(!local_json(&proj, &personnel).contains("总工程师"));

    // The intruder replays the award's genuinely signed version 1 over version 2, and moves
    // another company's genuinely signed record into this company: both refused.
    let (old_json, old_sig) = &version_1[&award];
    backend.exec(
        &data,
        &format!(
            "UPDATE records SET version = 1, record_json = '{}', signature = '{}' WHERE id = '{award}'",
            old_json.replace('\'', "''"),
            old_sig
        ),
    );
    let other = other_uscc(&world);
    let theirs = curl(
        "GET",
        &format!("{api}/staff/companies/{other}/records"),
        Some(&staff),
        &[],
    )
    .json();
    let foreign = theirs["records"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    backend.exec(
        &data,
        &format!("UPDATE records SET company_uscc = '{company}' WHERE id = '{foreign}'"),
    );
    let out = sync(h, &base, &proj);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("拒收  {award}  版本回退（平台 1，本地 2）")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("拒收  {foreign}  记录属于另一家企业")),
        "{stdout}"
    );
    assert!(
        local_json(&proj, &award).contains("鲁班奖（2024）"),
        "v2 kept"
    );

    // --- upload, receipt, replace ---------------------------------------------------------
    let bid1 = bid_file(h, &world, "bid1", 3 * 1024 * 1024 + 17, 1);
    let bid2 = bid_file(h, &world, "bid2", 2 * 1024 * 1024, 2);
    let out = upload(h, &base, &proj, &["--file", s(&bid1)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("（提交）") && stdout.contains("回执已验证"),
        "{stdout}"
    );
    let kept = receipts(&proj);
    assert_eq!(kept.len(), 1);
    assert!(
        openssl_verifies(h, &world, &kept[0]),
        "openssl verifies the receipt"
    );
    let receipt: serde_json::Value = serde_json::from_str(
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&kept[0]).unwrap_or_default())
            .unwrap_or_default()["receipt_json"]
            .as_str()
            .unwrap_or_default(),
    )
    .expect("receipt_json");
    let sha1 = sha256_file(&bid1);
    assert_eq!(receipt["sha256"], sha1.as_str());
    assert_eq!(receipt["bidder"]["uscc"], company.as_str());
    assert_eq!(receipt["tender"]["id"], demo_id.as_str());

    let out = upload(h, &base, &proj, &["--file", s(&bid2)]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout.contains("（替换）"),
        "{stdout}{stderr}"
    );
    let out = upload(h, &base, &proj, &["--check", s(&bid1)]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("[E_RECEIPT_MISMATCH]"), "{stderr}");
    let out = upload(h, &base, &proj, &["--check", s(&bid2)]);
    assert!(out.status.success(), "{:?}", text(&out));

    // A file that is not our envelope: refused by the tool before sending, and by the
    // platform when sent anyway.
    let pdf = h.join("not-a-bid.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\n% not an envelope\n").expect("w");
    let out = upload(h, &base, &proj, &["--file", s(&pdf)]);
    assert!(
        text(&out).1.contains("[E_NOT_BID_FILE]"),
        "{:?}",
        text(&out)
    );
    let token = login(&base, &company, PASSWORD);
    let pdf_sha = sha256_file(&pdf);
    let start = serde_json::json!({"size": std::fs::metadata(&pdf).map(|m| m.len()).unwrap_or(0), "sha256": pdf_sha}).to_string();
    let r = curl(
        "POST",
        &format!("{api}/tenders/{demo_id}/uploads"),
        Some(&token),
        &["-H", "content-type: application/json", "--data", &start],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let up = r.json()["id"].as_str().unwrap_or_default().to_string();
    let r = curl(
        "PUT",
        &format!("{api}/uploads/{up}?offset=0"),
        Some(&token),
        &["--data-binary", &format!("@{}", s(&pdf))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = curl(
        "POST",
        &format!("{api}/uploads/{up}/complete"),
        Some(&token),
        &[],
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("E_NOT_BID_FILE")),
        "{}",
        r.body
    );

    // A truncated upload (the first MiB arrived, then the line dropped) is resumed.
    let bid3 = bid_file(h, &world, "bid3", 3 * 1024 * 1024, 3);
    let bytes = std::fs::read(&bid3).expect("bid3");
    let sha3 = sha256_file(&bid3);
    let start = serde_json::json!({"size": bytes.len(), "sha256": sha3}).to_string();
    let r = curl(
        "POST",
        &format!("{api}/tenders/{demo_id}/uploads"),
        Some(&token),
        &["-H", "content-type: application/json", "--data", &start],
    );
    let up3 = r.json()["id"].as_str().unwrap_or_default().to_string();
    let head = h.join("bid3.head");
    std::fs::write(&head, &bytes[..1024 * 1024]).expect("w");
    let r = curl(
        "PUT",
        &format!("{api}/uploads/{up3}?offset=0"),
        Some(&token),
        &["--data-binary", &format!("@{}", s(&head))],
    );
    assert_eq!(r.json()["received"], 1024 * 1024, "{}", r.body);
    // The same chunk again (a retry) is acknowledged, a gap is refused with the offset.
    let r = curl(
        "PUT",
        &format!("{api}/uploads/{up3}?offset=0"),
        Some(&token),
        &["--data-binary", &format!("@{}", s(&head))],
    );
    assert_eq!(
        (r.status, r.json()["received"].as_i64()),
        (200, Some(1024 * 1024)),
        "{}",
        r.body
    );
    let r = curl(
        "PUT",
        &format!("{api}/uploads/{up3}?offset={}", 2 * 1024 * 1024),
        Some(&token),
        &["--data-binary", &format!("@{}", s(&head))],
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("E_UPLOAD_OFFSET")),
        "{}",
        r.body
    );
    let state = serde_json::json!({"platform": base, "tender_id": demo_id, "upload_id": up3,
        "sha256": sha3, "size": bytes.len()});
    std::fs::write(proj.join("work/upload-state.json"), state.to_string()).expect("w");
    let out = upload(h, &base, &proj, &["--file", s(&bid3)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("从第 1048576 字节处续传") && stdout.contains("（替换）"),
        "{stdout}{stderr}"
    );
    let r = curl(
        "GET",
        &format!("{api}/tenders/{demo_id}/bid"),
        Some(&token),
        &[],
    );
    assert_eq!(r.json()["sha256"], sha3.as_str(), "{}", r.body);
    let staff_view = curl(
        "GET",
        &format!("{api}/staff/tenders/{demo_id}/bids"),
        Some(&staff),
        &[],
    )
    .json();
    assert_eq!(staff_view[0]["sha256"], sha3.as_str());

    // --- bad input: 4xx, never a crash -----------------------------------------------------
    let r = curl(
        "POST",
        &format!("{api}/login"),
        None,
        &[
            "-H",
            "content-type: application/json",
            "--data",
            "{\"login\":",
        ],
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("E_BAD_REQUEST")),
        "{}",
        r.body
    );
    let big = h.join("big.bin");
    std::fs::write(&big, vec![0u8; 17 * 1024 * 1024]).expect("w");
    let r = curl(
        "PUT",
        &format!("{api}/uploads/{up3}?offset=0"),
        Some(&token),
        &["--data-binary", &format!("@{}", s(&big))],
    );
    assert_eq!(r.status, 413, "{}", r.body);
    let _ = std::fs::remove_file(&big);
    let r = curl("GET", &format!("{api}/staff/companies"), Some(&token), &[]);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("E_FORBIDDEN"))
    );
    let other = login(&base, &other_uscc(&world), PASSWORD);
    let r = curl("GET", &format!("{api}/uploads/{up3}"), Some(&other), &[]);
    assert_eq!(
        r.status, 404,
        "another company's upload is not found: {}",
        r.body
    );
    let r = curl("GET", &format!("{api}/records"), Some("forged-token"), &[]);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (401, Some("E_SESSION_EXPIRED"))
    );
    let r = curl("POST", &format!("{api}/logout"), Some(&other), &[]);
    assert_eq!(r.status, 204);
    let r = curl("GET", &format!("{api}/records"), Some(&other), &[]);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (401, Some("E_SESSION_EXPIRED")),
        "logged-out token"
    );
    // An expired session (its end moved into the past in the database) is refused too.
    let again = login(&base, &other_uscc(&world), PASSWORD);
    backend.exec(
        &data,
        "UPDATE sessions SET expires_at = 1 WHERE via = 'password' AND login <> 'staff'",
    );
    let r = curl("GET", &format!("{api}/records"), Some(&again), &[]);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (401, Some("E_SESSION_EXPIRED")),
        "expired token"
    );
    // ... and the tool logs in again by itself when its saved session expired.
    let out = sync(h, &base, &proj);
    assert!(
        text(&out).1.contains("保存的登录已过期"),
        "{:?}",
        text(&out)
    );
    // Staff register a company: a code whose check character is wrong is refused, a good one
    // gets an account that logs in, a second registration of it is refused.
    let good = bidseal_phone::uscc::UnifiedSocialCreditCode::from_body("9144030012345678")
        .expect("uscc")
        .to_string();
    let mut wrong = good.clone();
    let last = if wrong.ends_with('1') { '2' } else { '1' };
    wrong.pop();
    wrong.push(last);
    for (uscc, status, code) in [
        (wrong.as_str(), 400, Some("E_COMPANY_INVALID")),
        (good.as_str(), 201, None),
        (good.as_str(), 409, Some("E_COMPANY_EXISTS")),
    ] {
        let body = serde_json::json!({"uscc": uscc, "name": "岭南建设有限公司", "password": "Lingnan@2026"});
        let r = curl(
            "POST",
            &format!("{api}/staff/companies"),
            Some(&staff),
            &[
                "-H",
                "content-type: application/json",
                "--data",
                &body.to_string(),
            ],
        );
        assert_eq!(r.status, status, "{uscc}: {}", r.body);
        if code.is_some() {
            assert_eq!(r.json()["code"].as_str(), code, "{}", r.body);
        }
    }
    login(&base, &good, "Lingnan@2026");
    // Guessing its password: five wrong tries, then even the right one is refused for a while.
    let guess = |pw: &str| {
        let body = serde_json::json!({"login": good, "password": pw}).to_string();
        curl(
            "POST",
            &format!("{api}/login"),
            None,
            &["-H", "content-type: application/json", "--data", &body],
        )
    };
    for _ in 0..5 {
        assert_eq!(guess("wrong-guess").status, 401);
    }
    let r = guess("Lingnan@2026");
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (429, Some("E_LOGIN_LOCKED")),
        "{}",
        r.body
    );
    let r = curl("GET", &format!("{api}/platform"), None, &[]);
    assert_eq!(r.status, 200, "still serving");

    // --- the deadline passes (on the platform's test clock) -----------------------------------
    let wait = deadline - now() + 1;
    if wait > 0 {
        let r = curl(
            "POST",
            &format!("{base}/test/clock"),
            None,
            &[
                "-H",
                "content-type: application/json",
                "--data",
                &format!(r#"{{"advance_secs":{wait}}}"#),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.json()["now"].as_i64().unwrap_or(0) > deadline,
            "{}",
            r.body
        );
        eprintln!("test clock: moved {wait} s forward instead of sleeping");
    }
    let out = upload(h, &base, &rush_proj, &["--file", s(&bid2)]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[E_DEADLINE_PASSED]") && stderr.contains("投标截止时间"),
        "{stderr}"
    );
    let out = upload(h, &base, &rush_proj, &["--withdraw"]);
    assert!(
        text(&out).1.contains("[E_DEADLINE_PASSED]"),
        "{:?}",
        text(&out)
    );
    let out = upload(h, &base, &rush_proj, &["--check", s(&early)]);
    assert!(
        out.status.success(),
        "the kept receipt still proves the bid: {:?}",
        text(&out)
    );
    drop(server);
}

fn project_uscc(proj: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(proj.join("project.json")).expect("project.json"))
            .expect("json");
    v["bidder"]["credit_code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn other_uscc(world: &Path) -> String {
    bidseal_cms::cert::Certificate::from_pem(
        &std::fs::read(world.join("pki/ent-jiangnan.pem")).expect("pem"),
    )
    .expect("cert")
    .credit_code()
    .unwrap_or_default()
}

fn local_sha(proj: &Path, id: &str) -> String {
    let conn = rusqlite::Connection::open(proj.join("integrity.sqlite")).expect("store");
    conn.query_row("SELECT sha256 FROM records WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .expect("record kept")
}

fn local_records(proj: &Path) -> std::collections::BTreeMap<String, (String, String)> {
    let conn = rusqlite::Connection::open(proj.join("integrity.sqlite")).expect("store");
    let mut stmt = conn
        .prepare("SELECT id, record_json, signature FROM records")
        .expect("select");
    stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

fn local_json(proj: &Path, id: &str) -> String {
    let conn = rusqlite::Connection::open(proj.join("integrity.sqlite")).expect("store");
    conn.query_row("SELECT record_json FROM records WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .expect("record kept")
}

fn sha256_file(p: &Path) -> String {
    let out = ok(Command::new("sha256sum").arg(p));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn platform_flow_on_sqlite() {
    scenario(Backend::Sqlite);
}

#[test]
fn platform_flow_on_postgresql() {
    let Some(pg) = PgCluster::start(false) else {
        return;
    };
    scenario(Backend::Postgres(pg));
}
