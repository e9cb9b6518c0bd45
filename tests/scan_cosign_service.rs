//! The co-signing service as a real process on 127.0.0.1, spoken to with raw HTTP: it survives
//! malformed, oversized and unauthenticated requests, and its decisions (wrong-PIN lockout,
//! usage log) survive a restart because the state file is written before every answer.

mod scan_common;

use scan_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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

fn authorise(base: &str, cert: &str, pin: &str) -> (u16, String) {
    let body = serde_json::json!({
        "pin": pin,
        "who": "李娜",
        "context": {"operation": "sign", "desktop": "测试桌面", "session_id": "s-1", "detail": "d", "not_before": null}
    });
    http(
        base,
        "POST",
        &format!("/v1/certs/{cert}/authorise"),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
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
        "/v1/certs/staff-li/authorise",
        &json,
        b"{not json",
    );
    assert!((400..500).contains(&status), "malformed JSON: {status}");
    let big = vec![b'a'; 200 * 1024];
    let (status, _) = http(base, "POST", "/v1/certs/staff-li/authorise", &json, &big);
    assert_eq!(status, 413, "oversized body");
    let (status, _) = http(
        base,
        "POST",
        "/v1/admin/certs/staff-li",
        &json,
        br#"{"action":"revoke"}"#,
    );
    assert_eq!(status, 401, "admin without token");
    let (status, _) = http(
        base,
        "POST",
        "/v1/admin/certs/staff-li",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer wrong"),
        ],
        br#"{"action":"revoke"}"#,
    );
    assert_eq!(status, 401, "admin with a wrong token");
    let (status, body) = authorise(base, "no-such-cert", PIN);
    assert_eq!(status, 403);
    assert!(body.contains("no_suitable_certificate"), "{body}");
    // Still alive, and nothing above changed the certificate.
    assert_eq!(http(base, "GET", "/healthz", &[], b"").0, 200);
    let (status, body) = authorise(base, "staff-li", PIN);
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(PIN), "the PIN is never echoed");
}

#[test]
fn lockout_and_usage_log_survive_a_service_restart() {
    let mut world = World::new();
    for remaining in (1..=4).rev() {
        let (status, body) = authorise(&world.cosign.url, "staff-li", "000000");
        assert_eq!(status, 403);
        assert!(
            body.contains(&format!("\"remaining_tries\":{remaining}")),
            "{body}"
        );
    }
    let (_, body) = authorise(&world.cosign.url, "staff-li", "000000");
    assert!(body.contains("pin_locked"), "{body}");
    let state_file = world.path("cosign/state.json");
    let state = std::fs::read_to_string(&state_file).unwrap();
    assert!(
        !state.contains("\"123456\"") && !state.contains("\"000000\""),
        "no PIN in the state file"
    );

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
    let (status, body) = authorise(&world.cosign.url, "staff-li", PIN);
    assert_eq!(status, 403);
    assert!(
        body.contains("pin_locked"),
        "still locked after restart: {body}"
    );
    let log = world.usage_log("staff-li");
    assert_eq!(log.len(), 6);
    assert!(log
        .iter()
        .all(|e| e["who"] == "李娜" && e["operation"] == "签章" && e["session_id"] == "s-1"));
    assert_eq!(log[5]["result"], "pin_locked");
}
