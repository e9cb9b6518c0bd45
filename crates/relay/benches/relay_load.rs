//! Relay load benchmark on loopback (run by `bench/relay.sh`; not part of `cargo test`).
//!
//! The relay runs in a child process (this binary re-executed with `--serve`) so its RSS can
//! be measured alone. Measures, in one run against the same server:
//! 1. pending sessions held: N desktops each create a session and keep their WebSocket open;
//!    RSS delta of the relay process per session;
//! 2. message round trip inside an open scan session (desktop → relay → phone → relay →
//!    desktop, encrypted both ways) vs a WebSocket echo (client → relay → client) of the same
//!    server: p50/p99 and their ratio;
//! 3. complete scans per second (create + QR + phone join + hello + request + answer) at a
//!    given concurrency, with p50/p99, and an HTTP POST echo for reference.
//!
//! Set `RELAY_BENCH_SINGLE_THREAD=1` to run the relay child on a current-thread runtime.
//!
//! The bench relay raises the per-session rate limit (a real scan sends a handful of frames;
//! a latency loop sends thousands); every other limit is the default.

use bidseal_relay::{Relay, RelayConfig};
use bidseal_scan::client::{self, Answer, PhoneOptions, ScanOptions};
use bidseal_scan::*;
use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--serve") {
        serve();
        return;
    }
    let pending = arg("--pending", 10_000);
    let round_trips = arg("--round-trips", 2_000);
    let scans = arg("--scans", 1_000);
    let concurrency = arg("--concurrency", 16);

    let exe = std::env::current_exe().expect("bench binary path");
    let mut child = Command::new(exe)
        .arg("--serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start relay child");
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("child stdout"))
        .read_line(&mut line)
        .expect("relay url");
    let url = line.trim().to_string();
    println!("relay: {url} (pid {pid})");

    // The load generator runs on one thread (desktop and phone clients of the latency loop
    // share it, as do the echo client); the relay child runs a multi-thread runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        channel_cost(round_trips);
        latency(&url, round_trips).await;
        pending_sessions(&url, pid, pending).await;
        full_scans(&url, scans, concurrency).await;
    });
    let _ = child.kill();
    let _ = child.wait();
}

fn serve() {
    let mut builder = if std::env::var_os("RELAY_BENCH_SINGLE_THREAD").is_some() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let rt = builder.enable_all().build().expect("runtime");
    rt.block_on(async {
        let config = RelayConfig {
            frames_per_second: 1_000_000,
            burst_frames: 1_000_000,
            ..RelayConfig::default()
        };
        let h = Relay::bind_with("127.0.0.1:0", config).await.expect("bind");
        println!("{}", h.url());
        std::future::pending::<()>().await;
    });
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let (p50, p99) = (percentile(&v, 0.5), percentile(&v, 0.99));
    println!("{name}: n={} p50={:?} p99={:?}", v.len(), p50, p99);
    (p50, p99)
}

async fn pending_sessions(url: &str, pid: u32, n: usize) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let host = url.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(n);
    let mut batch = Vec::new();
    for i in 0..n {
        let sid = SessionId::random().expect("rng");
        let path = bidseal_scan::wire::desktop_path(&sid, 300, &admission(&sid).1);
        let u = format!("ws://{host}{path}");
        batch.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(u).await.ok()?;
            // Wait for `waiting`: the session exists.
            ws.next().await?.ok()?;
            Some(ws)
        }));
        if batch.len() == 200 || i + 1 == n {
            for h in batch.drain(..) {
                if let Ok(Some(ws)) = h.await {
                    sockets.push(ws);
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let held = sockets.len();
    let per = (after.saturating_sub(before) as f64 * 1024.0) / held.max(1) as f64;
    println!(
        "pending sessions: held={held} of {n} in {:?}; relay RSS {before} KiB -> {after} KiB; {per:.0} bytes/session (goal < 4096)",
        started.elapsed()
    );
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}

fn sign_request(n: u32) -> OperationRequest {
    OperationRequest::Sign(SignRequest {
        platform: PlatformRef {
            id: "bench".into(),
            name: "压测平台".into(),
        },
        project: None,
        items: vec![SignItem {
            document: "bench.pdf".into(),
            pages: vec![n],
            seal_kind: SealKind::Enterprise,
            signed_attributes: Bytes(n.to_be_bytes().to_vec()),
        }],
        lookup: vec![],
    })
}

fn sign_response() -> OperationResponse {
    OperationResponse::Sign(SignResponse {
        signatures: vec![ItemSignature {
            digest: Digest32([0; 32]),
            signature: Bytes(vec![0x30; 71]),
        }],
        certificate_chain: vec![Bytes(vec![0x30; 600])],
        seal_images: vec![],
    })
}

/// A phone that confirms everything at once (fixed response, no key operation).
async fn bench_phone(payload: QrPayload) {
    let hello = PhoneHello {
        device: "bench".into(),
        app: "bench".into(),
    };
    let Ok(mut link) = client::join(&payload, &hello, PhoneOptions::default()).await else {
        return;
    };
    while let Ok(Some(req)) = link.next_request().await {
        let session = req.session_mode.map(|m| SessionGrant {
            idle_timeout_secs: m.idle_timeout_secs,
            auto_confirm: true,
            max_requests: u32::MAX,
            expires_at: u64::MAX,
        });
        if link
            .respond(
                req,
                OperationOutcome::Confirmed {
                    response: sign_response(),
                    session,
                },
            )
            .await
            .is_err()
        {
            return;
        }
        if !link.is_open() {
            return;
        }
    }
}

/// The two ends' own work per message, without any network: seal request, open it, seal the
/// answer, open it (sans-IO state machines, same messages as the latency loop).
fn channel_cost(n: usize) {
    let now = unix_now();
    let offer = DesktopOffer::new(
        "http://127.0.0.1:1",
        OperationKind::Sign,
        Duration::from_secs(60),
        now,
    )
    .expect("offer");
    let hello = PhoneHello {
        device: "bench".into(),
        app: "bench".into(),
    };
    let (mut phone, frame) = PhoneSession::join(offer.payload(), &hello, now).expect("join");
    let (mut desktop, _) = offer.accept_hello(&frame, now).expect("hello");
    let mode = Some(SessionModeRequest {
        idle_timeout_secs: 600,
    });
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let (_, frame) = desktop
            .seal_request(sign_request(i as u32), if i == 0 { mode } else { None })
            .expect("seal");
        let PhoneEvent::Request(req) = phone.open_frame(&frame).expect("open") else {
            panic!("not a request")
        };
        let session = req.session_mode.map(|m| SessionGrant {
            idle_timeout_secs: m.idle_timeout_secs,
            auto_confirm: true,
            max_requests: u32::MAX,
            expires_at: u64::MAX,
        });
        let answer = phone
            .seal_response(
                req,
                OperationOutcome::Confirmed {
                    response: sign_response(),
                    session,
                },
            )
            .expect("answer");
        desktop.open_frame(&answer).expect("open answer");
        times.push(t.elapsed());
    }
    summary(
        "channel work only (seal+open request, seal+open answer; no network)",
        times,
    );
}

async fn latency(url: &str, n: usize) {
    // Three clients of the same server, measured interleaved (one of each per iteration) so
    // that background load hits all three alike.
    // 1. A scan session in session mode (encrypted request/answer through the relay).
    let mut scan = client::start_scan(url, OperationKind::Sign, ScanOptions::default())
        .await
        .expect("scan");
    let phone = tokio::spawn(bench_phone(scan.payload().clone()));
    scan.wait_scanned().await.expect("scanned");
    let mode = Some(SessionModeRequest {
        idle_timeout_secs: 600,
    });
    let _ = scan.perform(sign_request(0), mode).await.expect("first");
    let size = serde_json::to_vec(&sign_request(1))
        .map(|v| v.len())
        .unwrap_or(300);
    let body = vec![7u8; size + 25];
    // 2. WebSocket echo of the same server, same payload size.
    let host = url.trim_start_matches("http://");
    let (mut ws, _) = raw_connect(format!("ws://{host}/v1/echo"))
        .await
        .expect("echo");
    // 3. Relay forwarding alone: raw desktop and phone sockets, the phone bounces each frame.
    let sid = SessionId::random().expect("rng");
    let (token, commitment) = admission(&sid);
    let desk_url = format!(
        "ws://{host}{}",
        bidseal_scan::wire::desktop_path(&sid, 300, &commitment)
    );
    let (mut desk, _) = raw_connect(desk_url).await.expect("raw desktop");
    let _ = desk.next().await; // waiting
    let phone_url = format!("ws://{host}{}", bidseal_scan::wire::phone_path(&sid));
    let (mut ph, _) = raw_connect(phone_request(&phone_url, &token))
        .await
        .expect("raw phone");
    let _ = desk.next().await; // peer_joined
    let bouncer = tokio::spawn(async move {
        while let Some(Ok(m)) = ph.next().await {
            if let Message::Binary(b) = m {
                if ph.send(Message::Binary(b)).await.is_err() {
                    return;
                }
            }
        }
    });
    // 4. The same encrypted messages as 1., sealed and opened by the sans-IO state machines
    //    over raw sockets (no client tasks): what the async client adds on top of crypto+relay.
    let (mut bare, bare_phone) = bare_scan(host).await;
    let mut scan_rt = Vec::with_capacity(n);
    let mut bare_rt = Vec::with_capacity(n);
    let mut echo_rt = Vec::with_capacity(n);
    let mut relay_rt = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        match scan.perform(sign_request(i as u32 + 1), None).await {
            Ok(Answer::Confirmed { .. }) => scan_rt.push(t.elapsed()),
            other => panic!("round trip {i}: {other:?}"),
        }
        let t = Instant::now();
        ws.send(Message::binary(body.clone())).await.expect("send");
        let _ = ws.next().await;
        echo_rt.push(t.elapsed());
        let t = Instant::now();
        desk.send(Message::binary(body.clone()))
            .await
            .expect("send");
        let _ = desk.next().await;
        relay_rt.push(t.elapsed());
        let t = Instant::now();
        bare.round_trip(i as u32 + 1).await;
        bare_rt.push(t.elapsed());
    }
    drop(bare);
    bare_phone.abort();
    let _ = scan.end().await;
    let _ = phone.await;
    let _ = desk.close(None).await;
    bouncer.abort();
    let (s50, s99) = summary(
        "scan message round trip (desktop→relay→phone→relay→desktop)",
        scan_rt,
    );
    let (b50, b99) = summary(
        "sans-IO scan messages over raw sockets (no client tasks)",
        bare_rt,
    );
    let (r50, r99) = summary(
        "relay forwarding only (raw desktop→relay→bouncing phone→relay→desktop)",
        relay_rt,
    );
    let (e50, e99) = summary("websocket echo round trip (client→relay→client)", echo_rt);
    println!(
        "ratio relay-forwarding/echo: p50 {:.2}x, p99 {:.2}x",
        r50.as_secs_f64() / e50.as_secs_f64(),
        r99.as_secs_f64() / e99.as_secs_f64()
    );
    println!(
        "ratio sans-IO scan/echo: p50 {:.2}x, p99 {:.2}x",
        b50.as_secs_f64() / e50.as_secs_f64(),
        b99.as_secs_f64() / e99.as_secs_f64()
    );
    println!(
        "ratio scan/relay-forwarding (two-hop floor, no crypto): p50 {:.2}x, p99 {:.2}x",
        s50.as_secs_f64() / r50.as_secs_f64(),
        s99.as_secs_f64() / r99.as_secs_f64()
    );
    println!(
        "ratio scan/echo: p50 {:.2}x, p99 {:.2}x (goal <= 2x)",
        s50.as_secs_f64() / e50.as_secs_f64(),
        s99.as_secs_f64() / e99.as_secs_f64()
    );
}

/// A raw WebSocket with the same settings as the scan clients (read buffer, TCP_NODELAY), so
/// the echo and forwarding references pay the same socket costs as the scan.
/// A fresh join token for `sid` (random QR secret) and its commitment.
fn admission(
    sid: &SessionId,
) -> (
    bidseal_scan::wire::JoinToken,
    bidseal_scan::wire::JoinCommitment,
) {
    let secret = bidseal_scan::QrSecret::random().expect("rng");
    let token = bidseal_scan::wire::JoinToken::derive(&secret, sid).expect("token");
    let commitment = token.commitment();
    (token, commitment)
}

/// The phone's join request: `url` with the join token header.
fn phone_request(
    url: &str,
    token: &bidseal_scan::wire::JoinToken,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("phone url");
    request.headers_mut().insert(
        bidseal_scan::wire::JOIN_TOKEN_HEADER,
        token.to_base64().parse().expect("header value"),
    );
    request
}

async fn raw_connect(
    url: impl tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
) -> Result<
    (
        RawWs,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    tokio_tungstenite::connect_async_with_config(url, Some(client::ws_config()), true).await
}

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct BareDesktop {
    ws: RawWs,
    session: DesktopSession,
}

impl BareDesktop {
    async fn round_trip(&mut self, n: u32) {
        let (_, frame) = self
            .session
            .seal_request(sign_request(n), None)
            .expect("seal");
        self.ws.send(Message::binary(frame)).await.expect("send");
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    match self.session.open_frame(&b).expect("open answer") {
                        DesktopEvent::Outcome { .. } => return,
                        DesktopEvent::Ended { .. } => panic!("ended"),
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("bare desktop: {other:?}"),
            }
        }
    }
}

/// A desktop and a phone speaking the scan channel over raw relay sockets; returns the
/// desktop after the first (session-mode) request, and the phone task.
async fn bare_scan(host: &str) -> (BareDesktop, tokio::task::JoinHandle<()>) {
    let now = unix_now();
    let offer = DesktopOffer::new(
        &format!("http://{host}"),
        OperationKind::Sign,
        Duration::from_secs(60),
        now,
    )
    .expect("offer");
    let sid = offer.payload().session;
    let token = offer.payload().join_token().expect("token");
    let desk_url = format!(
        "ws://{host}{}",
        bidseal_scan::wire::desktop_path(&sid, 60, &token.commitment())
    );
    let (mut desk, _) = raw_connect(desk_url).await.expect("bare desktop");
    let _ = desk.next().await; // waiting
    let hello = PhoneHello {
        device: "bench".into(),
        app: "bench".into(),
    };
    let (mut phone, frame) = PhoneSession::join(offer.payload(), &hello, now).expect("join");
    let phone_url = format!("ws://{host}{}", bidseal_scan::wire::phone_path(&sid));
    let (mut ph, _) = raw_connect(phone_request(&phone_url, &token))
        .await
        .expect("bare phone");
    ph.send(Message::binary(frame)).await.expect("hello");
    let task = tokio::spawn(async move {
        while let Some(Ok(m)) = ph.next().await {
            let Message::Binary(b) = m else { continue };
            let Ok(PhoneEvent::Request(req)) = phone.open_frame(&b) else {
                return;
            };
            let session = req.session_mode.map(|m| SessionGrant {
                idle_timeout_secs: m.idle_timeout_secs,
                auto_confirm: true,
                max_requests: u32::MAX,
                expires_at: u64::MAX,
            });
            let outcome = OperationOutcome::Confirmed {
                response: sign_response(),
                session,
            };
            let Ok(answer) = phone.seal_response(req, outcome) else {
                return;
            };
            if ph.send(Message::binary(answer)).await.is_err() {
                return;
            }
        }
    });
    let session = loop {
        match desk.next().await {
            Some(Ok(Message::Binary(b))) => break offer.accept_hello(&b, now).expect("hello").0,
            Some(Ok(_)) => continue,
            other => panic!("bare hello: {other:?}"),
        }
    };
    let mut bare = BareDesktop { ws: desk, session };
    let mode = Some(SessionModeRequest {
        idle_timeout_secs: 600,
    });
    let (_, frame) = bare
        .session
        .seal_request(sign_request(0), mode)
        .expect("seal");
    bare.ws.send(Message::binary(frame)).await.expect("send");
    loop {
        if let Some(Ok(Message::Binary(b))) = bare.ws.next().await {
            bare.session.open_frame(&b).expect("first answer");
            break;
        }
    }
    (bare, task)
}

async fn http_echo_once(host: &str, body: &[u8]) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /v1/echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    t.elapsed()
}

async fn full_scans(url: &str, n: usize, concurrency: usize) {
    let started = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let url = url.to_string();
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.ok()?;
            let t = Instant::now();
            let mut scan = client::start_scan(&url, OperationKind::Sign, ScanOptions::default())
                .await
                .ok()?;
            let phone = tokio::spawn(bench_phone(scan.payload().clone()));
            scan.wait_scanned().await.ok()?;
            let answer = scan.perform(sign_request(i as u32), None).await.ok()?;
            let _ = phone.await;
            matches!(answer, Answer::Confirmed { .. }).then(|| t.elapsed())
        }));
    }
    let mut done = Vec::with_capacity(n);
    for t in tasks {
        if let Ok(Some(d)) = t.await {
            done.push(d);
        }
    }
    let wall = started.elapsed();
    let ok = done.len();
    summary(&format!("complete scans (concurrency {concurrency})"), done);
    println!(
        "complete scans: {ok} of {n} in {wall:?} = {:.0} scans/s",
        ok as f64 / wall.as_secs_f64()
    );

    let host = url.trim_start_matches("http://").to_string();
    let body = vec![7u8; 300];
    let mut http = Vec::with_capacity(n);
    for _ in 0..n.min(1000) {
        http.push(http_echo_once(&host, &body).await);
    }
    summary("http POST echo (new connection each)", http);
}
