//! The scan relay as a real `bidseal relay` process on 127.0.0.1: admission by join token (a
//! stranger who knows only the session id is refused, the real phone completes) and TLS
//! (`--tls-cert/--tls-key` with the development CA of `scripts/setup.sh`; clients over wss://
//! trusting that CA; plain clients and clients without the CA are refused). The desktop is
//! `bidseal_scan::client::start_scan` or the `bidseal scan` process, the phone
//! `bidseal_scan::client::join` answering like a phone would.
//!
//! The TLS trust of the scan client is process-wide (`client::set_relay_ca`), so everything
//! in this test process that depends on it runs in one test function, in order; the
//! phone-simulator test keeps all TLS trust in its child processes.

mod scan_common;

use bidseal_scan::client::{self, Answer, PhoneOptions, ScanOptions};
use bidseal_scan::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bidseal")
}

/// The development CA folder made by `scripts/setup.sh`.
fn devca(file: &str) -> PathBuf {
    let dir = std::env::var_os("BIDSEAL_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/bidseal"))
        .join("devca");
    let path = dir.join(file);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh (it makes the development CA)",
        path.display()
    );
    path
}

/// A `bidseal` process killed on drop, and the base URL it printed.
struct Proc {
    child: Child,
    url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bidseal relay ARGS --listen 127.0.0.1:0` and waits for its `http(s)://` URL.
fn relay_process(extra: &[&str]) -> Proc {
    let mut child = Command::new(bin())
        .args(["relay", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bidseal relay");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(i) = line.find("://127.0.0.1:") {
                let start = line[..i].rfind(' ').map(|s| s + 1).unwrap_or(0);
                let _ = tx.send(line[start..].trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("relay printed its URL");
    Proc { child, url }
}

fn hello() -> PhoneHello {
    PhoneHello {
        device: "张三的手机".into(),
        app: "relay-tls-test".into(),
    }
}

fn auth_request(binding_note: &str) -> OperationRequest {
    OperationRequest::Auth(AuthRequest {
        platform: PlatformRef {
            id: "gz-ggzy".into(),
            name: "广州公共资源交易中心".into(),
        },
        purpose: AuthPurpose::Login,
        project: None,
        requester: None,
        challenge: Digest32::of(binding_note.as_bytes()),
        issued_at: unix_now(),
    })
}

/// A phone that joins `payload` and confirms every auth request.
async fn confirming_phone(payload: QrPayload) -> Result<u32, ScanError> {
    let mut link = client::join(&payload, &hello(), PhoneOptions::default()).await?;
    let mut seen = 0;
    while let Some(req) = link.next_request().await? {
        seen += 1;
        let OperationRequest::Auth(a) = &req.request else {
            return Err(ScanError::Protocol {
                detail: "test phone answers auth only".into(),
            });
        };
        // Stands in for the signature over the transcript (the phone crate's tests check
        // real signatures): the transcript hash itself, so the desktop can see it is bound to
        // the channel it talked over; behind a 0x30 (`0`) so it has the documented shape of a
        // DER certificate and signature (bidseal_scan::answer).
        let response = OperationResponse::Auth(AuthResponse {
            certificate_chain: vec![Bytes(b"0leaf".to_vec())],
            signature: Bytes([&[0x30], &a.transcript_hash(link.binding()).0[..]].concat()),
            signed_at: unix_now(),
        });
        link.respond(
            req,
            OperationOutcome::Confirmed {
                response,
                session: None,
            },
        )
        .await?;
        if !link.is_open() {
            break;
        }
    }
    Ok(seen)
}

/// A full auth scan at `relay`: desktop `start_scan`, the phone in a task; returns the QR
/// payload used.
async fn full_scan(relay: &str) -> QrPayload {
    let options = ScanOptions {
        ttl: Duration::from_secs(120),
        response_timeout: Duration::from_secs(30),
    };
    let mut scan = client::start_scan(relay, OperationKind::Auth, options)
        .await
        .expect("start scan");
    let payload = scan.payload().clone();
    let phone = tokio::spawn(confirming_phone(payload.clone()));
    let (_, binding) = scan.wait_scanned().await.expect("scanned");
    let request = auth_request("full scan");
    let answer = scan.perform(request.clone(), None).await.expect("answer");
    let (
        Answer::Confirmed {
            response: OperationResponse::Auth(r),
            ..
        },
        OperationRequest::Auth(a),
    ) = (answer, request)
    else {
        panic!("not an auth confirmation");
    };
    assert_eq!(
        r.signature.0,
        [&[0x30], &a.transcript_hash(&binding).0[..]].concat()
    );
    assert_eq!(phone.await.expect("phone task"), Ok(1));
    payload
}

#[tokio::test]
async fn a_stranger_knowing_the_session_id_is_refused_by_the_relay_process_and_the_phone_completes()
{
    let relay = relay_process(&[]);
    let options = ScanOptions {
        ttl: Duration::from_secs(120),
        response_timeout: Duration::from_secs(30),
    };
    let mut scan = client::start_scan(&relay.url, OperationKind::Auth, options)
        .await
        .expect("start scan");
    let payload = scan.payload().clone();
    // What a stranger can see without the QR: the relay and the session id (redacted URL).
    let seen = payload.redacted_url();
    assert!(seen.contains(&payload.session.to_base64()));
    // The stranger rebuilds the payload with a guessed secret (the phone client then derives
    // a join token from it): the relay answers 403 (`scan.not_admitted`), every time.
    for guess in [[0u8; 16], [1; 16], [0xff; 16]] {
        let mut stranger = payload.clone();
        stranger.secret = QrSecret::from_bytes(guess);
        assert_eq!(
            client::join(&stranger, &hello(), PhoneOptions::default())
                .await
                .err(),
            Some(ScanError::NotAdmitted)
        );
    }
    // The real phone still completes.
    let phone = tokio::spawn(confirming_phone(payload));
    scan.wait_scanned()
        .await
        .expect("scanned by the real phone");
    let answer = scan
        .perform(auth_request("after stranger"), None)
        .await
        .expect("answer");
    assert!(matches!(answer, Answer::Confirmed { .. }), "{answer:?}");
    assert_eq!(phone.await.expect("phone task"), Ok(1));
}

#[test]
fn tls_relay_process_serves_wss_with_the_dev_ca_and_refuses_plain_and_untrusting_clients() {
    let cert = devca("server.pem");
    let key = devca("server.key.pem");
    let ca = devca("ca.pem");
    let relay = relay_process(&[
        "--tls-cert",
        &cert.to_string_lossy(),
        "--tls-key",
        &key.to_string_lossy(),
        "--log",
    ]);
    assert!(relay.url.starts_with("https://127.0.0.1:"), "{}", relay.url);
    let port = relay.url.rsplit(':').next().expect("port").to_string();
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    // 1. A plain client against the TLS port: no HTTP answer, no session.
    let plain = format!("http://127.0.0.1:{port}");
    let r = rt.block_on(client::start_scan(
        &plain,
        OperationKind::Auth,
        ScanOptions::default(),
    ));
    assert!(
        matches!(
            r,
            Err(ScanError::RelayUnreachable { .. } | ScanError::RelayLost { .. })
        ),
        "{r:?}"
    );
    let mut tcp = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("tcp");
    tcp.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    tcp.write_all(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("\"status\""),
        "plain HTTP was served: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // 2. Without the development CA (system roots only, unless the environment names it):
    //    the certificate is not trusted.
    if std::env::var_os(client::RELAY_CA_ENV).is_none() {
        let r = rt.block_on(client::start_scan(
            &relay.url,
            OperationKind::Auth,
            ScanOptions::default(),
        ));
        assert!(matches!(r, Err(ScanError::RelayTls { .. })), "{r:?}");
    }

    // 3. A CA file that is not a certificate is refused up front.
    let bad = std::env::temp_dir().join(format!("bidseal-not-a-ca-{}.pem", std::process::id()));
    std::fs::write(&bad, "not a certificate").expect("write");
    assert!(matches!(
        client::set_relay_ca(&bad),
        Err(ScanError::RelayTls { .. })
    ));
    let _ = std::fs::remove_file(&bad);

    // 4. With the development CA: a full scan over wss://, QR still version <= 10 at M, while
    //    three clients hold TCP connections open without ever starting a handshake (they must
    //    not hold up anyone: the handshake limit is 10 s).
    let silent: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("tcp"))
        .collect();
    client::set_relay_ca(&ca).expect("dev CA");
    let started = std::time::Instant::now();
    let payload = rt.block_on(full_scan(&relay.url));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "silent connections delayed the scan: {:?}",
        started.elapsed()
    );
    drop(silent);
    assert!(payload.relay.starts_with("https://"));
    assert!(qr::version_of(&payload).expect("QR") <= qr::MAX_QR_VERSION);

    // 5. A stranger over TLS is refused like over plain HTTP.
    rt.block_on(async {
        let scan = client::start_scan(&relay.url, OperationKind::Auth, ScanOptions::default())
            .await
            .expect("start scan");
        let mut stranger = scan.payload().clone();
        stranger.secret = QrSecret::from_bytes([7; 16]);
        assert_eq!(
            client::join(&stranger, &hello(), PhoneOptions::default())
                .await
                .err(),
            Some(ScanError::NotAdmitted)
        );
    });

    // 6. The `bidseal scan` desktop process against the TLS relay with --relay-ca.
    let dir = std::env::temp_dir().join(format!("bidseal-relay-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (desktop, payload) = desktop_process(
        &[
            "--op",
            "auth",
            "--ttl",
            "60",
            "--relay",
            &relay.url,
            "--relay-ca",
            &ca.to_string_lossy(),
        ],
        &dir,
    );
    assert_eq!(payload.relay, relay.url);
    assert_eq!(rt.block_on(confirming_phone(payload)), Ok(1));
    let out = desktop.wait_with_output().expect("bidseal scan exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bidseal scan failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("state: confirmed"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `bidseal scan ARGS --payload-file` and waits for the payload it writes. The caller
/// waits for the returned child (clippy cannot see that across the return).
#[allow(clippy::zombie_processes)]
fn desktop_process(args: &[&str], dir: &std::path::Path) -> (Child, QrPayload) {
    let payload_file = dir.join("payload.txt");
    let mut child = Command::new(bin())
        .arg("scan")
        .args(args)
        .arg("--payload-file")
        .arg(&payload_file)
        .env_remove(client::RELAY_CA_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bidseal scan");
    let started = std::time::Instant::now();
    loop {
        if let Some(p) = std::fs::read_to_string(&payload_file)
            .ok()
            .and_then(|t| QrPayload::parse(&t).ok())
        {
            return (child, p);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bidseal scan wrote no payload");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_phone_simulator_process_needs_the_relay_ca_to_scan_over_wss() {
    let world = scan_common::World::new();
    let relay = relay_process(&[
        "--tls-cert",
        &devca("server.pem").to_string_lossy(),
        "--tls-key",
        &devca("server.key.pem").to_string_lossy(),
    ]);
    let ca = devca("ca.pem");
    let (desktop, payload) = desktop_process(
        &[
            "--op",
            "sign",
            "--ttl",
            "90",
            "--relay",
            &relay.url,
            "--relay-ca",
            &ca.to_string_lossy(),
        ],
        &world.dir.0,
    );
    assert!(payload.relay.starts_with("https://"));
    let url = payload.to_url();
    let phone = |ca: Option<&std::path::Path>| {
        let mut cmd = Command::new(bin());
        cmd.args(["phone", "scan", &url, "--keystore"])
            .arg(&world.dir.0)
            .args(["--cosign", &world.cosign.url, "--pin", scan_common::PIN])
            .env_remove(client::RELAY_CA_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ca) = ca {
            cmd.env(client::RELAY_CA_ENV, ca);
        }
        cmd.spawn().expect("spawn phone")
    };
    // A phone that does not trust the relay's CA refuses the connection (and joins nothing).
    let out = phone(None).wait_with_output().expect("phone exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "untrusting phone succeeded: {stderr}"
    );
    assert!(stderr.contains("安全连接"), "{stderr}");
    // With BIDSEAL_RELAY_CA the same QR scans over wss:// and the seal is confirmed.
    let (summary, _) = scan_common::finish_phone(phone(Some(&ca)));
    assert_eq!(summary["operation"], "sign", "{summary}");
    let out = desktop.wait_with_output().expect("bidseal scan exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bidseal scan failed: {stdout}");
    assert!(stdout.contains("state: confirmed"), "{stdout}");
}
