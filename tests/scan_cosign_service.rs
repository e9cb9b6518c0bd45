//! The co-signing service as a real process on 127.0.0.1, spoken to with raw HTTP: it survives
//! malformed, oversized and unauthenticated requests, and its decisions (wrong-PIN lockout,
//! usage log) survive a restart because the state file is written before every answer.

mod scan_common;

use bidseal_phone::cosign::device::{DeviceKey, DeviceRoute};
use bidseal_phone::keystore::Keystore;
use scan_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The certificate these tests use on the plain `authorise` route: the world's one key that
/// is not split (every split key goes through `split-sign` / `split-ecdh`, docs/key-split.md;
/// the service's gates in front of both are the same).
const PLAIN: &str = bidseal_phone::pki::PLAIN_CERT_ID;

/// One HTTP/1.1 request; returns (status, body).
fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect to the service");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The device key of the world's phone (made by `phone init`).
fn device_key(world: &World) -> DeviceKey {
    Keystore::load(&world.path("phone"))
        .expect("keystore")
        .device_key()
        .expect("phone init makes a device key")
        .clone()
}

fn authorise_body(pin: &str) -> Vec<u8> {
    serde_json::json!({
        "pin": pin,
        "who": "李娜",
        "context": {"operation": "sign", "desktop": "测试桌面", "session_id": "s-1", "detail": "d"}
    })
    .to_string()
    .into_bytes()
}

/// A call signed with `key` (or unsigned with `None`).
fn post_signed(
    base: &str,
    route: DeviceRoute,
    cert: &str,
    key: Option<&DeviceKey>,
    body: &[u8],
) -> (u16, String) {
    let path = route.name();
    let signed = key.map(|k| k.sign_call(route, cert, unix_now(), body));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(call) = &signed {
        headers.extend(call.headers());
    }
    http(
        base,
        "POST",
        &format!("/v1/certs/{cert}/{path}"),
        &headers,
        body,
    )
}

fn authorise(world: &World, cert: &str, pin: &str) -> (u16, String) {
    let key = device_key(world);
    post_signed(
        &world.cosign.url,
        DeviceRoute::Authorise,
        cert,
        Some(&key),
        &authorise_body(pin),
    )
}

#[test]
fn hostile_requests_are_refused_and_the_service_keeps_serving() {
    let world = World::new();
    let base = &world.cosign.url;
    let json = [("Content-Type", "application/json")];
    let (status, _) = http(
        base,
        "POST",
        "/v1/certs/colleague-chen-plain/authorise",
        &json,
        b"{not json",
    );
    assert!((400..500).contains(&status), "malformed JSON: {status}");
    let key = device_key(&world);
    let (status, body) = post_signed(
        base,
        DeviceRoute::Authorise,
        PLAIN,
        Some(&key),
        b"{not json",
    );
    assert_eq!(status, 422, "signed but malformed JSON: {body}");
    let big = vec![b'a'; 300 * 1024];
    let (status, _) = http(
        base,
        "POST",
        "/v1/certs/colleague-chen-plain/authorise",
        &json,
        &big,
    );
    assert_eq!(status, 413, "oversized body");
    let (status, _) = http(
        base,
        "POST",
        "/v1/admin/certs/colleague-chen-plain",
        &json,
        br#"{"action":"revoke"}"#,
    );
    assert_eq!(status, 401, "admin without token");
    let (status, _) = http(
        base,
        "POST",
        "/v1/admin/certs/colleague-chen-plain",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer wrong"),
        ],
        br#"{"action":"revoke"}"#,
    );
    assert_eq!(status, 401, "admin with a wrong token");
    let (status, body) = authorise(&world, "no-such-cert", PIN);
    assert_eq!(status, 403);
    assert!(body.contains("device_not_recognised"), "{body}");
    // Still alive, and nothing above changed the certificate.
    assert_eq!(http(base, "GET", "/healthz", &[], b"").0, 200);
    let (status, body) = authorise(&world, PLAIN, PIN);
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(PIN), "the PIN is never echoed");
}

#[test]
fn lockout_and_usage_log_survive_a_service_restart() {
    let mut world = World::new();
    for remaining in (1..=4).rev() {
        let (status, body) = authorise(&world, PLAIN, "000000");
        assert_eq!(status, 403);
        assert!(
            body.contains(&format!("\"remaining_tries\":{remaining}")),
            "{body}"
        );
    }
    let (_, body) = authorise(&world, PLAIN, "000000");
    assert!(body.contains("pin_locked"), "{body}");
    for file in ["cosign/state.db", "cosign/state.db-wal"] {
        let state = std::fs::read(world.path(file)).unwrap_or_default();
        assert!(
            !state
                .windows(8)
                .any(|w| w == b"\"123456\"" || w == b"\"000000\""),
            "no PIN in {file}"
        );
    }

    // Restart the service on the same state folder.
    let dir = world.dir.0.to_string_lossy().to_string();
    world.cosign = spawn_server(&[
        "phone",
        "serve-cosign",
        "--listen",
        "127.0.0.1:0",
        "--state",
        &dir,
    ]);
    let (status, body) = authorise(&world, PLAIN, PIN);
    assert_eq!(status, 403);
    assert!(
        body.contains("pin_locked"),
        "still locked after restart: {body}"
    );
    let log = world.usage_log(PLAIN);
    assert_eq!(log.len(), 6);
    assert!(log
        .iter()
        .all(|e| e["who"] == "李娜" && e["operation"] == "签章" && e["session_id"] == "s-1"));
    assert_eq!(log[5]["result"], "pin_locked");
}

#[test]
fn a_stranger_cannot_lock_a_certificate_or_fill_its_log() {
    let world = World::new();
    let base = &world.cosign.url;
    let stranger = DeviceKey::generate();
    let wrong = authorise_body("000000");
    // Twenty wrong PINs: unsigned, signed by another phone, signed for another certificate,
    // with a stale time, or with a body changed after signing. None is even looked at.
    for _ in 0..4 {
        for (status, body) in [
            post_signed(base, DeviceRoute::Authorise, PLAIN, None, &wrong),
            post_signed(base, DeviceRoute::Authorise, PLAIN, Some(&stranger), &wrong),
        ] {
            assert_eq!(status, 403);
            assert!(body.contains("device_not_recognised"), "{body}");
        }
        let key = device_key(&world);
        let other_cert = key.sign_call(DeviceRoute::Authorise, "legal-zhang", unix_now(), &wrong);
        let stale = key.sign_call(DeviceRoute::Authorise, PLAIN, unix_now() - 3600, &wrong);
        let other_body = key.sign_call(
            DeviceRoute::Authorise,
            PLAIN,
            unix_now(),
            &authorise_body("111111"),
        );
        let other_route = key.sign_call(DeviceRoute::ResetPin, PLAIN, unix_now(), &wrong);
        for call in [other_cert, stale, other_body, other_route] {
            let mut headers = vec![("Content-Type", "application/json")];
            headers.extend(call.headers());
            let (status, body) = http(
                base,
                "POST",
                "/v1/certs/colleague-chen-plain/authorise",
                &headers,
                &wrong,
            );
            assert_eq!(status, 403);
            assert!(body.contains("device_not_recognised"), "{body}");
        }
    }
    assert!(world.usage_log(PLAIN).is_empty(), "nothing logged");
    // The real phone still gets in with the right PIN: nothing was counted.
    let (status, body) = authorise(&world, PLAIN, PIN);
    assert_eq!(status, 200, "{body}");

    // A recorded genuine call replayed byte for byte is refused.
    let key = device_key(&world);
    let body = authorise_body("000000");
    let call = key.sign_call(DeviceRoute::Authorise, PLAIN, unix_now(), &body);
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(call.headers());
    let first = http(
        base,
        "POST",
        "/v1/certs/colleague-chen-plain/authorise",
        &headers,
        &body,
    );
    assert!(first.1.contains("wrong_pin"), "{first:?}");
    let again = http(
        base,
        "POST",
        "/v1/certs/colleague-chen-plain/authorise",
        &headers,
        &body,
    );
    assert!(again.1.contains("device_not_recognised"), "{again:?}");
    assert_eq!(world.usage_log(PLAIN).len(), 2);
}

#[test]
fn the_real_phone_is_rate_limited_per_certificate() {
    let world = World::new();
    let mut limited = None;
    for i in 0..bidseal_phone::cosign::limits::PER_CERT + 5 {
        let (status, body) = authorise(&world, PLAIN, PIN);
        if body.contains("too_many_attempts") {
            assert_eq!(status, 403);
            limited = Some(i);
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        limited,
        Some(bidseal_phone::cosign::limits::PER_CERT),
        "the call after the allowance is refused"
    );
    // Another certificate of the same phone is still within its own allowance: its call is
    // decided (a split key gets nothing from the plain route), not rate limited.
    let (_, body) = authorise(&world, "staff-li", PIN);
    assert!(
        body.contains("no_suitable_certificate") && !body.contains("too_many_attempts"),
        "{body}"
    );
}

#[test]
fn phone_admin_log_checks_the_hash_chain_and_spots_an_edited_entry() {
    let world = World::new();
    assert!(authorise(&world, PLAIN, "000000").1.contains("wrong_pin"));
    assert_eq!(authorise(&world, PLAIN, PIN).0, 200);
    let out = world.admin(&["log", PLAIN]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("校验通过：2"));
    let log: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log[1]["prev_hash"], log[0]["hash"]);

    // Someone with access to the database hides the wrong PIN.
    let db = rusqlite::Connection::open(world.path("cosign/state.db")).unwrap();
    db.execute(
        "UPDATE log SET result = 'OK' WHERE cert_id = 'colleague-chen-plain' AND result = 'wrong_pin'",
        [],
    )
    .unwrap();
    drop(db);
    let out = std::process::Command::new(bin())
        .args(["phone", "admin", "--cosign", &world.cosign.url, "--state"])
        .arg(&world.dir.0)
        .args(["log", PLAIN])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "broken chain is an error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E_COSIGN_LOG_CHAIN") && err.contains("哈希链断开"),
        "{err}"
    );
}

/// The development CA and server certificate made by scripts/setup.sh.
const DEVCA: &str = "/var/cache/bidseal/devca";

/// A process killed (by its own handle) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve-cosign` over https on the world's state; returns (process, https URL).
fn spawn_https_service(world: &World) -> (KillOnDrop, String) {
    use std::io::BufRead;
    assert!(
        std::path::Path::new(DEVCA).join("server.pem").exists(),
        "run scripts/setup.sh first (dev CA in {DEVCA})"
    );
    let mut child = std::process::Command::new(bin())
        .args([
            "phone",
            "serve-cosign",
            "--listen",
            "127.0.0.1:0",
            "--state",
        ])
        .arg(&world.dir.0)
        .args(["--tls-cert", &format!("{DEVCA}/server.pem")])
        .args(["--tls-key", &format!("{DEVCA}/server.key.pem")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve-cosign");
    let stdout = child.stdout.take().expect("stdout");
    let child = KillOnDrop(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    (child, url)
}

fn phone_admin(url: &str, world: &World, ca: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["phone", "admin", "--cosign", url, "--state"])
        .arg(&world.dir.0);
    if let Some(ca) = ca {
        cmd.args(["--cosign-ca", ca]);
    }
    cmd.args(args).output().expect("run phone admin")
}

#[test]
fn the_service_speaks_https_with_the_dev_ca_and_refuses_plain_or_untrusting_clients() {
    let world = World::new();
    let (_service, url) = spawn_https_service(&world);
    let ca = format!("{DEVCA}/ca.pem");

    // Trusting the dev CA: admin and the phone's signed PIN calls work over https.
    let out = phone_admin(&url, &world, Some(&ca), &["list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = phone_admin(&url, &world, Some(&ca), &["reset-code", PLAIN]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let reset = std::process::Command::new(bin())
        .args(["phone", "reset-pin", "--keystore"])
        .arg(&world.dir.0)
        .args(["--cosign", &url, "--cosign-ca", &ca])
        .args(["--cert", PLAIN, "--code", &code, "--new-pin", "654321"])
        .output()
        .unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );

    // Not trusting the dev CA (a server certificate from nowhere): refused by the client.
    let out = phone_admin(&url, &world, None, &["list"]);
    assert!(
        !out.status.success(),
        "untrusted server certificate accepted"
    );
    // Trusting another CA only (the test PKI's): refused too.
    let other = world.path("pki/trust.pem").to_string_lossy().to_string();
    let out = phone_admin(&url, &world, Some(&other), &["list"]);
    assert!(
        !out.status.success(),
        "server certificate from another CA accepted"
    );
    // Plain http to the https port: no HTTP answer at all.
    let plain = url.replacen("https://", "http://", 1);
    let (status, _) = http(&plain, "GET", "/healthz", &[], b"");
    assert_eq!(status, 0, "plain http must not be served");
    let out = phone_admin(&plain, &world, None, &["list"]);
    assert!(!out.status.success());
    // The client refuses plain http beyond loopback, and http together with --cosign-ca.
    let out = phone_admin("http://192.0.2.1:9", &world, None, &["list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("必须使用 https://"),
        "{err}"
    );
    let out = phone_admin(&plain, &world, Some(&ca), &["list"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("必须使用 https://"));
}

/// A certificate id the service does not know (HTTP 404) is named as such by the client
/// library the phone, the CLI and the desktop share — not "协同签名服务暂不可用…请稍后重试",
/// which would send the user to wait for nothing; a known id still gets through.
#[tokio::test]
async fn an_unknown_certificate_id_is_unknown_not_unavailable() {
    use bidseal_phone::cosign::client::{CosignCallError, CosignClient};
    use bidseal_phone::cosign::state::AdminAction;
    let world = World::new();
    let token_file = world
        .dir
        .0
        .join("cosign")
        .join(bidseal_phone::cosign::server::ADMIN_TOKEN_FILE);
    let token = std::fs::read_to_string(&token_file).expect("admin token");
    let client = CosignClient::new(&world.cosign.url).expect("client");
    let err = client
        .admin(token.trim(), "no-such-cert", &AdminAction::Disable)
        .await
        .expect_err("unknown id");
    // One answer names the ids the service knows (no second `list` call needed).
    assert!(
        matches!(&err, CosignCallError::UnknownToAdmin { cert, known }
            if cert == "no-such-cert" && known.iter().any(|k| k == "ent-huaxia")),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("没有证书“no-such-cert”")
            && text.contains("ent-huaxia")
            && !text.contains("暂不可用"),
        "{text}"
    );
    let err = client
        .log(token.trim(), "no-such-cert")
        .await
        .expect_err("unknown id");
    assert!(
        matches!(&err, CosignCallError::UnknownToAdmin { known, .. } if !known.is_empty()),
        "{err:?}"
    );
    // A stranger (wrong token) learns no ids: 401 before the id is looked at.
    let err = client
        .admin("wrong-token", "no-such-cert", &AdminAction::Disable)
        .await
        .expect_err("wrong token");
    assert!(
        !matches!(err, CosignCallError::UnknownToAdmin { .. })
            && !err.to_string().contains("ent-huaxia"),
        "{err:?}"
    );
    // A known certificate: the log comes back.
    let (entries, _) = client
        .log(token.trim(), "ent-huaxia")
        .await
        .expect("known id");
    let _ = entries;
    // A wrong token on an unknown id is still refused as a wrong token, not named unknown.
    let err = client
        .admin("wrong-token", "no-such-cert", &AdminAction::Disable)
        .await
        .expect_err("wrong token");
    assert!(matches!(err, CosignCallError::Unavailable(_)), "{err:?}");
}
