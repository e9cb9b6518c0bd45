//! `bidseal phone`: the phone simulator, its co-signing service and the test PKI generator.
//!
//! - `phone init DIR [--pin 123456]` — test CAs, certificates, seal images, phone keystore and
//!   co-signing service state (see `bidseal_phone::provision`).
//! - `phone serve-cosign --listen ADDR --state DIR` — runs the co-signing service; prints
//!   `listening on http://ADDR` on stdout once ready.
//! - `phone scan PAYLOAD | --qr-png FILE --keystore DIR --cosign URL --pin PIN
//!   [--confirm|--reject] [--auto-confirm] [--cert ID] [--pick-colleague ID]...` — acts as the
//!   phone for one scan (and its session, in session mode); shows each request on stderr.
//! - `phone admin --cosign URL --state DIR <list|log|disable|enable|revoke|reset-pin|authorise-until>`
//!   — the enterprise administrator's actions, for tests.

use anyhow::{anyhow, bail, Context, Result};
use bidseal_phone::cosign::client::CosignClient;
use bidseal_phone::cosign::opening::PlatformPins;
use bidseal_phone::cosign::server::{self, ADMIN_TOKEN_FILE, STATE_FILE};
use bidseal_phone::cosign::state::AdminAction;
use bidseal_phone::keystore::{Keystore, KEYSTORE_FILE};
use bidseal_phone::scan_loop::PhoneBehaviour;
use bidseal_phone::simulator::{PhoneSimulator, PhoneUser, UserDecision};
use clap::{Args, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `bidseal phone ...`
#[derive(Debug, Args)]
pub struct PhoneArgs {
    #[command(subcommand)]
    command: PhoneCommand,
}

#[derive(Debug, Subcommand)]
enum PhoneCommand {
    /// 生成测试 PKI、手机证书库与协同签名服务状态 / make the test PKI in DIR
    Init {
        /// Folder to create (pki/, phone/, cosign/).
        dir: PathBuf,
        /// The 6-digit PIN of every test certificate.
        #[arg(long, default_value = "123456")]
        pin: String,
        /// PBKDF2 iterations of the PIN-derived keys and verifiers (tests use fewer).
        #[arg(long, default_value_t = bidseal_phone::key_seal::PIN_KDF_ITERATIONS)]
        kdf_iterations: u32,
    },
    /// 运行协同签名服务 / run the co-signing service
    ServeCosign {
        /// Address to listen on, e.g. 127.0.0.1:0.
        #[arg(long)]
        listen: SocketAddr,
        /// The init folder or its cosign/ subfolder.
        #[arg(long)]
        state: PathBuf,
        /// Trading-platform certificate (PEM, one or more) whose signed tenders state the
        /// opening time; repeatable. Without one, opening-time decryption is refused.
        #[arg(long = "platform-cert")]
        platform_cert: Vec<PathBuf>,
        /// Serve https with this certificate chain (PEM, leaf first).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// 模拟手机扫码 / act as the phone for one scan
    Scan(ScanArgs),
    /// 企业管理员操作（测试用） / enterprise-admin actions
    Admin(AdminArgs),
    /// 忘记证书密码：凭验证码设置新 PIN / set a new PIN with a one-time code
    ResetPin {
        /// The init folder or its phone/ subfolder.
        #[arg(long)]
        keystore: PathBuf,
        /// Co-signing service base URL.
        #[arg(long)]
        cosign: String,
        /// Trust these root certificates (PEM) for the co-signing service's https.
        #[arg(long)]
        cosign_ca: Option<PathBuf>,
        /// Certificate id.
        #[arg(long)]
        cert: String,
        /// The verification code (from `phone admin reset-code`).
        #[arg(long)]
        code: String,
        /// The new 6-digit PIN.
        #[arg(long)]
        new_pin: String,
    },
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// The QR payload text (bidseal://scan?...).
    payload: Option<String>,
    /// Read the payload from a PNG of the QR code instead.
    #[arg(long)]
    qr_png: Option<PathBuf>,
    /// The init folder or its phone/ subfolder.
    #[arg(long)]
    keystore: PathBuf,
    /// Co-signing service base URL, e.g. https://127.0.0.1:7001.
    #[arg(long)]
    cosign: String,
    /// Trust these root certificates (PEM) for the co-signing service's https.
    #[arg(long)]
    cosign_ca: Option<PathBuf>,
    /// The certificate PIN (6 digits). Visible in the process list: prefer --pin-stdin
    /// outside tests.
    #[arg(long, required_unless_present = "pin_stdin")]
    pin: Option<String>,
    /// Read the PIN from the first line of stdin.
    #[arg(long, conflicts_with = "pin")]
    pin_stdin: bool,
    /// Press 确认 on every prompt (default).
    #[arg(long, conflicts_with = "reject")]
    confirm: bool,
    /// Press 拒绝.
    #[arg(long)]
    reject: bool,
    /// Tick 自动确认 when the desktop opens a session.
    #[arg(long)]
    auto_confirm: bool,
    /// Use this certificate instead of the automatic choice.
    #[arg(long)]
    cert: Option<String>,
    /// Colleague certificate to add as encryption recipient (generate); repeatable.
    #[arg(long = "pick-colleague")]
    pick_colleague: Vec<String>,
    /// Scan, read the first request and never answer (fault injection for tests).
    #[arg(long)]
    never_answer: bool,
    /// Device name shown on the desktop.
    #[arg(long, default_value = "模拟手机")]
    device: String,
}

#[derive(Debug, Args)]
struct AdminArgs {
    /// Co-signing service base URL.
    #[arg(long)]
    cosign: String,
    /// Trust these root certificates (PEM) for the co-signing service's https.
    #[arg(long)]
    cosign_ca: Option<PathBuf>,
    /// The init folder or its cosign/ subfolder (for the admin token).
    #[arg(long)]
    state: PathBuf,
    #[command(subcommand)]
    action: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// List certificates and their state.
    List,
    /// Print the usage log (证书日志) of a certificate as JSON and check its hash chain (exit
    /// code 3 when it is broken).
    Log { cert: String },
    /// 禁用.
    Disable { cert: String },
    /// 启用.
    Enable { cert: String },
    /// 注销 (final).
    Revoke { cert: String },
    /// Clear the wrong-PIN counter (解锁).
    Unlock { cert: String },
    /// Issue a one-time code for 忘记证书密码 (printed on stdout, as the SMS would carry it).
    ResetCode { cert: String },
    /// Set the staff authorisation end (unix seconds or RFC 3339), or `none`.
    AuthoriseUntil { cert: String, until: String },
}

/// Runs the command.
pub fn run(args: PhoneArgs) -> Result<ExitCode> {
    match args.command {
        PhoneCommand::Init {
            dir,
            pin,
            kdf_iterations,
        } => init(&dir, &pin, kdf_iterations),
        PhoneCommand::ServeCosign {
            listen,
            state,
            platform_cert,
            tls_cert,
            tls_key,
        } => {
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => {
                    Some(bidseal_phone::cosign::tls::server_config(&cert, &key)?)
                }
                _ => None,
            };
            let config = server::ServiceConfig {
                platform_pins: PlatformPins::load(&platform_cert)?,
                tls,
            };
            runtime()?.block_on(serve_cosign(listen, &cosign_dir(&state), config))
        }
        PhoneCommand::Scan(a) => runtime()?.block_on(scan(a)),
        PhoneCommand::Admin(a) => runtime()?.block_on(admin(a)),
        PhoneCommand::ResetPin {
            keystore,
            cosign,
            cosign_ca,
            cert,
            code,
            new_pin,
        } => {
            let client = CosignClient::connect(&cosign, cosign_ca.as_deref())?;
            runtime()?.block_on(reset_pin(&keystore, client, &cert, &code, &new_pin))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("无法启动异步运行时")
}

fn cosign_dir(dir: &Path) -> PathBuf {
    if dir.join(STATE_FILE).exists() {
        dir.to_path_buf()
    } else {
        dir.join("cosign")
    }
}

fn phone_dir(dir: &Path) -> PathBuf {
    if dir.join(KEYSTORE_FILE).exists() {
        dir.to_path_buf()
    } else {
        dir.join("phone")
    }
}

fn init(dir: &Path, pin: &str, kdf_iterations: u32) -> Result<ExitCode> {
    let report = bidseal_phone::provision::init_test_world(dir, pin, kdf_iterations)?;
    println!("测试证书已生成：{}", report.dir.display());
    for (id, label) in &report.certificates {
        println!("  {id}\t{label}");
    }
    if report.font_missing {
        eprintln!("警告：未找到中文字体（fonts-noto-cjk），印章图片只有图形没有文字");
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve_cosign(
    listen: SocketAddr,
    state: &Path,
    config: server::ServiceConfig,
) -> Result<ExitCode> {
    if config.platform_pins.is_empty() {
        eprintln!(
            "警告：未配置交易平台证书（--platform-cert），开标解密将一律被拒绝（试解密不受影响）"
        );
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("无法监听 {listen}"))?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{addr}");
    std::io::stdout().flush()?;
    eprintln!(
        "协同签名服务已启动：{scheme}://{addr}（状态目录 {}）",
        state.display()
    );
    if config.tls.is_none() && !addr.ip().is_loopback() {
        eprintln!("警告：未启用 TLS（--tls-cert/--tls-key），手机只能经本机回环地址连接");
    }
    server::serve_with(listener, state, config)
        .await
        .context("协同签名服务异常退出")?;
    Ok(ExitCode::SUCCESS)
}

fn read_pin(a: &ScanArgs) -> Result<String> {
    match &a.pin {
        Some(pin) => Ok(pin.clone()),
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("无法从标准输入读取 PIN")?;
            Ok(line.trim().to_string())
        }
    }
}

async fn scan(a: ScanArgs) -> Result<ExitCode> {
    let payload_text = match (&a.payload, &a.qr_png) {
        (Some(p), None) => p.clone(),
        (None, Some(png)) => bidseal_phone::camera::read_qr_png(png)?,
        _ => bail!("请给出二维码内容（PAYLOAD）或 --qr-png 图片中的一个"),
    };
    let keystore = Keystore::load(&phone_dir(&a.keystore))?;
    let cosign = CosignClient::connect(&a.cosign, a.cosign_ca.as_deref())?
        .with_device_key(keystore.device_key());
    let user = PhoneUser {
        pin: read_pin(&a)?.into(),
        decision: if a.reject {
            UserDecision::Reject
        } else {
            UserDecision::Confirm
        },
        auto_confirm: a.auto_confirm,
        cert: a.cert.clone(),
        colleagues: a.pick_colleague.clone(),
    };
    let phone = PhoneSimulator::new(keystore, cosign, user);
    let behaviour = if a.never_answer {
        PhoneBehaviour::Silent
    } else {
        PhoneBehaviour::Normal
    };
    let summary = bidseal_phone::scan_loop::run_scan(
        &payload_text,
        &phone,
        &a.device,
        behaviour,
        &mut |line: &str| {
            eprintln!("[手机] {line}");
        },
    )
    .await?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

async fn reset_pin(
    keystore: &Path,
    client: CosignClient,
    cert: &str,
    code: &str,
    new_pin: &str,
) -> Result<ExitCode> {
    bidseal_phone::provision::check_pin_format(new_pin)?;
    let mut keystore = Keystore::load(&phone_dir(keystore))?;
    keystore.entry(cert)?;
    let client = client.with_device_key(keystore.device_key());
    let (share, recovery_share) = client.reset_pin(cert, code, new_pin).await?;
    keystore.reseal_after_pin_reset(cert, new_pin, &share, &recovery_share)?;
    eprintln!("证书 {cert} 的证书密码（PIN）已重置");
    Ok(ExitCode::SUCCESS)
}

fn parse_until(text: &str) -> Result<Option<i64>> {
    if text == "none" {
        return Ok(None);
    }
    if let Ok(t) = text.parse::<i64>() {
        return Ok(Some(t));
    }
    let t = bidseal_phone::cosign::state::parse_rfc3339(text)
        .ok_or_else(|| anyhow!("授权结束时间应为 Unix 秒数、RFC 3339 时间或 none"))?;
    Ok(Some(t))
}

async fn admin(a: AdminArgs) -> Result<ExitCode> {
    let token_path = cosign_dir(&a.state).join(ADMIN_TOKEN_FILE);
    let token = server::SecretText::new(
        std::fs::read_to_string(&token_path)
            .with_context(|| format!("读取管理员令牌 {} 失败", token_path.display()))?
            .trim()
            .to_string(),
    );
    let token = token.expose();
    let client = CosignClient::connect(&a.cosign, a.cosign_ca.as_deref())?;
    let (cert, action) = match a.action {
        AdminCommand::List => {
            println!(
                "{}",
                serde_json::to_string_pretty(&client.list(token).await?)?
            );
            return Ok(ExitCode::SUCCESS);
        }
        AdminCommand::Log { cert } => {
            let (entries, head) = client.log(token, &cert).await?;
            println!("{}", serde_json::to_string_pretty(&entries)?);
            return match bidseal_phone::cosign::state::verify_chain(
                &cert,
                &entries,
                head.as_deref(),
            ) {
                Ok(n) => {
                    eprintln!("证书日志哈希链校验通过：{n} 条记录");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("E_COSIGN_LOG_CHAIN: {e}");
                    Ok(ExitCode::from(3))
                }
            };
        }
        AdminCommand::Disable { cert } => (cert, AdminAction::Disable),
        AdminCommand::Enable { cert } => (cert, AdminAction::Enable),
        AdminCommand::Revoke { cert } => (cert, AdminAction::Revoke),
        AdminCommand::Unlock { cert } => (cert, AdminAction::Unlock),
        AdminCommand::ResetCode { cert } => (cert, AdminAction::IssueResetCode),
        AdminCommand::AuthoriseUntil { cert, until } => (
            cert,
            AdminAction::SetAuthorisationEnd {
                until: parse_until(&until)?,
            },
        ),
    };
    if let Some(code) = client.admin(token, &cert, &action).await? {
        println!("{code}");
    }
    eprintln!("已完成：{cert}");
    Ok(ExitCode::SUCCESS)
}
