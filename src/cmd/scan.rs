//! `bidseal scan`: start a scan session from the desktop side, for staff testing with the
//! phone simulator. Shows the QR (PNG/SVG files), prints the payload URL, sends a demo request
//! of the chosen operation once the phone scanned, and prints every state event until done.
//!
//! The payload URL contains the QR secret: this is a test tool, the desktop app never prints it.
//! The demo requests carry no real document: `sign` is a seal lookup (certificate and bound
//! seal image, nothing signed), `generate` a manifest of an unknown bidder and `decrypt` an
//! unsigned tender — a phone refuses the last two with its reason (the gates of issue #10);
//! the real flows are `bidseal project seal|generate|trial-decrypt` and `bidseal open`.
//! Exit codes (`cmd::exit`, the same for every subcommand): 0 confirmed (or session ended
//! normally), 1 refused by the phone, 3 failed (relay, channel), 4 QR expired or time-out.

use super::exit::Exit;
use super::lang::{current, tr, Lang};
use anyhow::{Context, Result};
use bidseal_scan::client::{self, ScanEvent, ScanOptions};
use bidseal_scan::*;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// 发起扫码会话 / start a scan session.
#[derive(Debug, Args)]
#[command(after_help = "示例 / example:\n  bidseal scan --op sign --png qr.png --json")]
pub struct ScanArgs {
    /// 操作 / operation
    #[arg(long, value_enum, default_value_t = OpArg::Auth)]
    pub op: OpArg,
    /// 中继地址（http://host:port 或 https://host:port）；省略则在本机 127.0.0.1 启动内嵌中继 / relay URL
    #[arg(long)]
    pub relay: Option<String>,
    /// 额外信任的中继 CA 证书（PEM，在系统根证书之外；也可用环境变量 BIDSEAL_RELAY_CA） / extra CA for https relays
    #[arg(long)]
    pub relay_ca: Option<PathBuf>,
    /// 二维码有效期（秒，1–300） / QR lifetime in seconds
    #[arg(long, default_value_t = 180)]
    pub ttl: u64,
    /// 把二维码写成 PNG / write the QR as PNG
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// 把二维码写成 SVG / write the QR as SVG
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// 把二维码内容（含密钥）写入文件，供手机模拟器读取 / write the payload URL to a file
    #[arg(long)]
    pub payload_file: Option<PathBuf>,
    /// 建立会话（会话签章），连续发送 N 个请求后结束会话 / session mode with N requests
    #[arg(long)]
    pub session: Option<u32>,
    /// 等待手机每次确认的时限（秒） / response timeout in seconds
    #[arg(long, default_value_t = 180)]
    pub response_timeout: u64,
    /// 交易平台标识 / platform id
    #[arg(long, default_value = "demo-ggzy")]
    pub platform: String,
    /// 每个状态输出一行 JSON（JSON Lines，字段见 docs/cli.md） / one JSON object per event
    #[arg(long)]
    pub json: bool,
}

/// Operation to start.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OpArg {
    Auth,
    Sign,
    Generate,
    Decrypt,
}

impl From<OpArg> for OperationKind {
    fn from(o: OpArg) -> Self {
        match o {
            OpArg::Auth => OperationKind::Auth,
            OpArg::Sign => OperationKind::Sign,
            OpArg::Generate => OperationKind::Generate,
            OpArg::Decrypt => OperationKind::Decrypt,
        }
    }
}

/// Runs the command.
pub fn run(args: ScanArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("无法启动异步运行时")?;
    rt.block_on(scan(args))
}

fn demo_request(op: OperationKind, platform: &PlatformRef, n: u32) -> OperationRequest {
    let project = ProjectRef {
        code: "DEMO-2026-001".into(),
        name: "演示项目".into(),
    };
    let digest = Digest32::of(format!("bidseal scan demo {n} {}", unix_now()).as_bytes());
    match op {
        OperationKind::Auth => OperationRequest::Auth(AuthRequest {
            platform: platform.clone(),
            purpose: AuthPurpose::Login,
            project: Some(project),
            requester: None,
            challenge: digest,
            issued_at: unix_now(),
        }),
        OperationKind::Sign => OperationRequest::Sign(SignRequest {
            platform: platform.clone(),
            project: Some(project),
            items: Vec::new(),
            lookup: vec![SealKind::Enterprise],
        }),
        OperationKind::Generate => OperationRequest::Generate(GenerateRequest {
            platform: platform.clone(),
            project,
            manifest: Bytes(format!("{{\"format\":\"bidseal-bid/1\",\"demo\":{n}}}").into_bytes()),
            signed_attributes: Bytes(digest.0.to_vec()),
            choose: CertificateChoice {
                min_extra: 0,
                max_extra: 5,
            },
            trial: false,
        }),
        OperationKind::Decrypt => {
            let originator = p256_demo_point(&digest);
            OperationRequest::Decrypt(DecryptRequest {
                platform: platform.clone(),
                project,
                bid_file: "演示投标文件.bsbid".into(),
                envelope_digest: digest,
                tender: SignedTender {
                    manifest: Bytes(b"{}".to_vec()),
                    signature: Bytes(Vec::new()),
                },
                recipients: vec![DecryptRecipient {
                    recipient: Bytes(Vec::new()),
                    originator_key: Bytes(originator),
                    ukm: Bytes(Vec::new()),
                }],
            })
        }
    }
}

/// A valid P-256 point for a demo decrypt request: the desktop's own fresh ephemeral key of a
/// throwaway offer (no envelope exists in this staff tool).
fn p256_demo_point(_seed: &Digest32) -> Vec<u8> {
    DesktopOffer::new(
        "http://127.0.0.1:1",
        OperationKind::Decrypt,
        Duration::from_secs(60),
        unix_now(),
    )
    .map(|o| o.payload().desktop_key.as_bytes().to_vec())
    .unwrap_or_default()
}

async fn scan(args: ScanArgs) -> Result<ExitCode> {
    if let Some(relay) = &args.relay {
        bidseal_workflow::relay::check_relay_url(relay)
            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    }
    let op = OperationKind::from(args.op);
    if let Some(ca) = &args.relay_ca {
        client::set_relay_ca(ca).map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    }
    let scan_relay = bidseal_workflow::relay::ScanRelay::start(args.relay.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    let relay = scan_relay.url();
    let options = ScanOptions {
        ttl: Duration::from_secs(args.ttl),
        response_timeout: Duration::from_secs(args.response_timeout),
    };
    let mut scan = client::start_scan(&relay, op, options)
        .await
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    let payload = scan.payload().clone();
    if let Some(p) = &args.png {
        qr::write_atomic(p, &qr::render_png(&payload)?)?;
        crate::outln!("qr-png: {}", p.display());
    }
    if let Some(p) = &args.svg {
        qr::write_atomic(p, qr::render_svg(&payload)?.as_bytes())?;
        crate::outln!("qr-svg: {}", p.display());
    }
    if let Some(p) = &args.payload_file {
        qr::write_atomic(p, payload.to_url().as_bytes())?;
    }
    if args.json {
        let started = serde_json::json!({
            "event": "started",
            "relay": relay,
            "qr_version": qr::version_of(&payload)?,
            "payload": payload.to_url(),
        });
        crate::outln!("{started}");
    } else {
        crate::outln!("relay: {relay}");
        crate::outln!("qr-version: {}", qr::version_of(&payload)?);
        crate::outln!("payload: {}", payload.to_url());
    }
    let platform = PlatformRef {
        id: args.platform.clone(),
        name: "演示交易平台".into(),
    };
    let total = args.session.unwrap_or(1).max(1);
    let mut sent = 0u32;
    let mut code = Exit::Input;
    while let Some(event) = scan.next_event().await {
        if args.json {
            crate::outln!("{}", event_json(&event));
        } else {
            print_event(&event);
        }
        match event {
            ScanEvent::Scanned { .. } => {
                sent += 1;
                let mode = args.session.map(|_| SessionModeRequest {
                    idle_timeout_secs: 300,
                });
                scan.request(demo_request(op, &platform, sent), mode)
                    .await?;
            }
            ScanEvent::Confirmed { .. } | ScanEvent::Rejected { .. } => {
                code = if matches!(event, ScanEvent::Confirmed { .. }) {
                    Exit::Success
                } else {
                    Exit::No
                };
                if args.session.is_some() && sent < total && code == Exit::Success {
                    sent += 1;
                    scan.request(demo_request(op, &platform, sent), None)
                        .await?;
                } else if args.session.is_some() {
                    scan.end().await?;
                }
            }
            ScanEvent::SessionEnded { .. } => {}
            ScanEvent::Expired => code = Exit::Interrupted,
            ScanEvent::Failed(e) => code = super::exit::class_of(e.code()),
            ScanEvent::Waiting { .. } => {}
        }
    }
    scan_relay.shutdown().await;
    Ok(code.into())
}

/// One event as a JSON object (`--json`); field names are stable (docs/cli.md).
fn event_json(event: &ScanEvent) -> serde_json::Value {
    use serde_json::json;
    match event {
        ScanEvent::Waiting { expires_at } => json!({"event": "waiting", "expires_at": expires_at}),
        ScanEvent::Scanned { phone, .. } => json!({"event": "scanned", "device": phone.device}),
        ScanEvent::Confirmed {
            id,
            response,
            session,
        } => json!({
            "event": "confirmed",
            "request": id,
            "op": response.kind().as_str(),
            "session": session.map(|g| json!({
                "idle_timeout_secs": g.idle_timeout_secs,
                "auto_confirm": g.auto_confirm,
            })),
        }),
        ScanEvent::Rejected { id, reason } => json!({
            "event": "rejected",
            "request": id,
            "code": reason.code(),
            "message": reason.message_zh(),
        }),
        ScanEvent::Expired => json!({"event": "expired"}),
        ScanEvent::SessionEnded { reason, by_phone } => json!({
            "event": "ended",
            "reason": format!("{reason:?}"),
            "by_phone": by_phone,
        }),
        ScanEvent::Failed(e) => json!({
            "event": "failed",
            "code": e.code(),
            "message": words_of(e, Lang::ZhCn),
        }),
    }
}

/// A scan error's message in the command line's words (`cmd::exit::cli_words`) in `lang`
/// (the JSON's `message` stays zh-CN).
fn words_of(e: &ScanError, lang: Lang) -> String {
    super::exit::cli_words(e.code(), lang)
        .unwrap_or_else(|| bidseal_workflow::i18n::error_text(lang, Some(e.code()), &e.to_string()))
}

fn print_event(event: &ScanEvent) {
    match event {
        ScanEvent::Waiting { expires_at } => {
            crate::outln!(
                "state: waiting (expires_at={expires_at}) {}",
                tr("out.scan.waiting", &[])
            )
        }
        ScanEvent::Scanned { phone, .. } => {
            crate::outln!(
                "state: scanned device={:?} {}",
                phone.device,
                tr("out.scan.scanned", &[])
            )
        }
        ScanEvent::Confirmed {
            id,
            response,
            session,
        } => crate::outln!(
            "state: confirmed request={id} op={} session={} {}",
            response.kind().as_str(),
            session
                .map(|g| format!(
                    "idle={}s auto_confirm={}",
                    g.idle_timeout_secs, g.auto_confirm
                ))
                .unwrap_or_else(|| "-".into()),
            tr("out.scan.confirmed", &[])
        ),
        ScanEvent::Rejected { id, reason } => {
            crate::outln!(
                "state: rejected request={id} code={} {}",
                reason.code(),
                super::lang::error_words(Some(reason.code()), &reason.message_zh())
            )
        }
        ScanEvent::Expired => crate::outln!("state: expired {}", tr("out.scan.expired", &[])),
        ScanEvent::SessionEnded { reason, by_phone } => {
            crate::outln!(
                "state: ended reason={reason:?} by_phone={by_phone} {}",
                tr("out.scan.ended", &[])
            )
        }
        ScanEvent::Failed(e) => {
            crate::outln!("state: failed code={} {}", e.code(), words_of(e, current()))
        }
    }
}
