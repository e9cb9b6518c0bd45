//! `bidseal phone`: the phone simulator, its co-signing service and the test PKI generator.
//!
//! - `phone init DIR [--pin 123456]` — test CAs, certificates, seal images, phone keystore and
//!   co-signing service state (see `bidseal_phone::provision`).
//! - `phone serve-cosign --listen ADDR --state DIR` — runs the co-signing service; prints
//!   `listening on http://ADDR` on stdout once ready.
//! - `phone scan PAYLOAD | --qr-png FILE --keystore DIR --cosign URL --pin PIN
//!   [--confirm|--reject] [--auto-confirm] [--cert ID] [--pick-colleague ID]...` — acts as the
//!   phone for one scan (and its session, in session mode); shows each request on stderr.
//! - `phone standby --platform URL --keystore DIR --cosign URL --pin PIN [--count N]` — logs in
//!   to the platform by scan and answers pushed 不见面开标 decrypt requests (`bidseal_phone::standby`).
//! - `phone admin --cosign URL --state DIR <list|log|disable|enable|revoke|reset-code|
//!   refresh-code|enrol-code|authorise-until>` — the enterprise administrator's actions, for tests.
//! - `phone restore NEW_DIR --from OLD --cosign URL --cert ID --code CODE --pin-stdin` — 换机 /
//!   恢复 on the new phone (`bidseal_phone::restore`).
//! - `phone enroll PHONE_DIR --cosign URL --code CODE --cert ID --holder NAME --company NAME
//!   --uscc CODE --pin-stdin` — 开通 of one more split certificate against a running service
//!   (`bidseal_phone::provision::enrol_into_phone`).

use anyhow::{Context, Result};
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
    /// 生成测试 PKI、手机证书库、协同签名服务状态与平台签名证书 / make a test world in DIR
    #[command(after_help = "示例 / example:\n  bidseal phone init world --pin 123456")]
    Init {
        /// 要创建的文件夹（pki/、phone/、cosign/） / folder to create
        dir: PathBuf,
        /// 每张测试证书的 6 位 PIN / the 6-digit PIN of every test certificate
        #[arg(long, default_value = "123456")]
        pin: String,
        /// PIN 派生密钥的 PBKDF2 迭代次数（测试可用更少） / PBKDF2 iterations
        #[arg(long, default_value_t = bidseal_phone::key_seal::PIN_KDF_ITERATIONS)]
        kdf_iterations: u32,
    },
    /// 运行协同签名服务 / run the co-signing service
    #[command(
        after_help = "示例 / example:\n  bidseal phone serve-cosign --listen 127.0.0.1:7001 --state world"
    )]
    ServeCosign {
        /// 监听地址，如 127.0.0.1:0 / address to listen on
        #[arg(long)]
        listen: SocketAddr,
        /// phone init 生成的文件夹或其 cosign/ 子文件夹 / the init folder or its cosign/
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
    /// 手机待命：扫码登录交易平台后接收不见面开标的解密推送 / standby for remote opening
    Standby(StandbyArgs),
    /// 企业管理员操作（测试用） / enterprise-admin actions
    Admin(AdminArgs),
    /// 忘记证书密码：凭验证码设置新 PIN / set a new PIN with a one-time code
    #[command(
        after_help = "示例 / example:\n  bidseal phone reset-pin --keystore world --cosign http://127.0.0.1:7001 --cert ent-huaxia --code 123456 --new-pin 654321"
    )]
    ResetPin {
        /// phone init 生成的文件夹或其 phone/ 子文件夹 / the init folder or its phone/
        #[arg(long)]
        keystore: PathBuf,
        /// 协同签名服务地址 / co-signing service base URL
        #[arg(long)]
        cosign: String,
        /// 协同签名服务 https 的根证书（PEM） / trust these roots for the service's https
        #[arg(long)]
        cosign_ca: Option<PathBuf>,
        /// 证书编号 / certificate id
        #[arg(long)]
        cert: String,
        /// 验证码（phone admin reset-code 给出） / the one-time code
        #[arg(long)]
        code: String,
        /// 新的 6 位 PIN / the new 6-digit PIN
        #[arg(long)]
        new_pin: String,
    },
    /// 换机/恢复（证书未同步）：新手机凭管理员的换机验证码与 PIN 刷新密钥分量，旧手机上的分量随即失效 / restore a certificate onto a new phone (key refresh)
    Restore(RestoreArgs),
    /// 开通：凭管理员的开通码与协同签名服务联合生成新证书的密钥，测试 CA 签发后放入手机 / enrol a new split certificate into a phone
    Enroll(EnrollArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "示例 / example:\n  bidseal phone enroll world --cosign http://127.0.0.1:7001 --code 1234567890123456 --cert staff-wu --holder 吴敏 --company 华夏建设工程有限公司 --uscc 9111010871526726X9 --pin-stdin\n\n先由管理员执行 phone admin enrol-code 取得开通码。证书由该测试世界 pki/ 中的测试 CA 按联合签名的证书申请签发，证书写入 pki/<证书编号>.pem。\n退出码：0 已开通；1 开通码被拒绝（错误、已用、过期）或服务、CA 拒绝；2 用法错误（证书编号无效或手机中已有、统一社会信用代码无效）；3 协同签名服务无法连接、文件错误"
)]
struct EnrollArgs {
    /// phone init 生成的文件夹或其 phone/ 子文件夹（须已有证书库） / the init folder or its phone/
    phone: PathBuf,
    /// 协同签名服务地址 / co-signing service base URL
    #[arg(long)]
    cosign: String,
    /// 协同签名服务 https 的根证书（PEM） / trust these roots for the service's https
    #[arg(long)]
    cosign_ca: Option<PathBuf>,
    /// 开通码（phone admin enrol-code 给出，16 位） / the one-time enrolment code
    #[arg(long)]
    code: String,
    /// 新证书的编号（须与开通码的相同） / the new certificate's id (as in the code)
    #[arg(long)]
    cert: String,
    /// 持有人姓名（证书主体 CN；企业证书不用） / the holder's name (CN)
    #[arg(long)]
    holder: Option<String>,
    /// 证书类型：staff（个人，默认）、colleague（同事）、legal-person（法人）、enterprise（企业） / role
    #[arg(long, value_enum, default_value = "staff")]
    role: EnrollRole,
    /// 单位名称（证书主体 O） / company name
    #[arg(long)]
    company: String,
    /// 单位的统一社会信用代码（18 位，校验位须正确） / the company's unified social credit code
    #[arg(long)]
    uscc: String,
    /// 签发的测试 CA：ca-1 或 ca-2 / the issuing test CA
    #[arg(long, default_value = "ca-1")]
    ca: String,
    /// 测试 CA 所在文件夹（默认为测试世界的 pki/；证书也写入此处） / the test PKI folder
    #[arg(long)]
    pki: Option<PathBuf>,
    /// 有效天数 / days of validity
    #[arg(long, default_value_t = 730, value_parser = clap::value_parser!(i64).range(1..=3650))]
    valid_days: i64,
    /// 私章个数（0–3，企业证书不用） / number of personal seals
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=3))]
    personal_seals: u8,
    /// 手机端 PIN 派生密钥的 PBKDF2 迭代次数 / PBKDF2 iterations of the phone's sealing key
    #[arg(long, default_value_t = bidseal_phone::key_seal::PIN_KDF_ITERATIONS)]
    kdf_iterations: u32,
    #[command(flatten)]
    pin: PinArg,
    /// 以 JSON 输出（字段见 docs/cli.md） / print JSON
    #[arg(long)]
    json: bool,
}

/// `phone enroll --role`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EnrollRole {
    /// 个人证书（私章）.
    Staff,
    /// 同事证书（参与加密）.
    Colleague,
    /// 法人证书（法人章、手写签名）.
    LegalPerson,
    /// 企业证书（公章）.
    Enterprise,
}

#[derive(Debug, Args)]
#[command(
    after_help = "示例 / example:\n  bidseal phone restore new-phone --from world --cosign http://127.0.0.1:7001 --cert legal-zhang --code 123456 --pin-stdin\n\n先由管理员执行 phone admin refresh-code 取得验证码。新手机文件夹不存在时新建（含新的设备密钥）。\n退出码：0 已恢复；1 验证码或 PIN 被拒绝、证书状态不允许；2 用法错误（证书未拆分、新旧文件夹相同）；3 网络或文件错误（E_RESTORE_UNFINISHED：新分量已暂存于新手机文件夹，重新运行同一命令即可完成）"
)]
struct RestoreArgs {
    /// 新手机的文件夹（不存在则新建） / the new phone's folder (created when missing)
    new_phone: PathBuf,
    /// 旧手机或其备份的证书库（phone init 的文件夹或其 phone/ 子文件夹） / the old phone or its backup
    #[arg(long)]
    from: PathBuf,
    /// 协同签名服务地址 / co-signing service base URL
    #[arg(long)]
    cosign: String,
    /// 协同签名服务 https 的根证书（PEM） / trust these roots for the service's https
    #[arg(long)]
    cosign_ca: Option<PathBuf>,
    /// 证书编号 / certificate id
    #[arg(long)]
    cert: String,
    /// 换机验证码（phone admin refresh-code 给出） / the one-time refresh code
    #[arg(long)]
    code: String,
    #[command(flatten)]
    pin: PinArg,
    /// 以 JSON 输出（字段见 docs/cli.md） / print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "示例 / example:\n  bidseal phone scan --qr-png 项目/work/qr/qr-1.png --keystore world --cosign http://127.0.0.1:7001 --pin-stdin\n\n退出码：0 全部确认；1 有请求被拒绝（PIN 错误、用户拒绝、证书状态）；3 二维码或网络错误；4 超时"
)]
struct ScanArgs {
    /// 二维码内容（bidseal://scan?...） / the QR payload text
    #[arg(required_unless_present = "qr_png", conflicts_with = "qr_png")]
    payload: Option<String>,
    /// 从二维码 PNG 图片读取（代替 PAYLOAD） / read the payload from a PNG of the QR
    #[arg(long)]
    qr_png: Option<PathBuf>,
    /// phone init 生成的文件夹或其 phone/ 子文件夹 / the init folder or its phone/
    #[arg(long)]
    keystore: PathBuf,
    /// 协同签名服务地址，如 http://127.0.0.1:7001 / co-signing service base URL
    #[arg(long)]
    cosign: String,
    /// 协同签名服务 https 的根证书（PEM） / trust these roots for the service's https
    #[arg(long)]
    cosign_ca: Option<PathBuf>,
    #[command(flatten)]
    pin: PinArg,
    /// 每次提示都按“确认”（默认） / press 确认 on every prompt (default)
    #[arg(long, conflicts_with = "reject")]
    confirm: bool,
    /// 按“拒绝” / press 拒绝
    #[arg(long)]
    reject: bool,
    /// 桌面端建立会话时勾选“自动确认” / tick 自动确认 in session mode
    #[arg(long)]
    auto_confirm: bool,
    /// 使用此证书（代替自动选择） / use this certificate
    #[arg(long)]
    cert: Option<String>,
    /// 生成投标文件时加选的同事加密证书（可重复） / colleague certificate to add (repeatable)
    #[arg(long = "pick-colleague")]
    pick_colleague: Vec<String>,
    /// 交易平台证书（PEM，可重复）：手机只接受其签名的招标文件作为开标时间来源 / trading-platform
    /// certificate whose signed tenders give the opening time (repeatable)
    #[arg(long = "platform-cert")]
    platform_cert: Vec<PathBuf>,
    /// 扫码、读取第一个请求后不再应答（测试用的故障注入） / never answer (fault injection)
    #[arg(long)]
    never_answer: bool,
    /// 桌面端显示的设备名 / device name shown on the desktop
    #[arg(long, default_value = "模拟手机")]
    device: String,
}

#[derive(Debug, Args)]
#[command(
    after_help = "示例 / example:\n  bidseal phone standby --platform http://127.0.0.1:8080 --keystore world --cosign http://127.0.0.1:7001 --cert ent-huaxia --pin-stdin --platform-cert world/pki/platform.crt --count 1\n\n先扫码登录平台（证书须已绑定账号），再等待平台推送的开标解密请求；每个请求与现场扫码相同：核对招标文件签名与开标时间，确认后才解密。\n退出码：0 全部确认；1 有请求被拒绝或失败；3 平台或网络错误"
)]
struct StandbyArgs {
    /// 交易平台地址，如 http://127.0.0.1:8080 / trading platform base URL
    #[arg(long)]
    platform: String,
    /// phone init 生成的文件夹或其 phone/ 子文件夹 / the init folder or its phone/
    #[arg(long)]
    keystore: PathBuf,
    /// 协同签名服务地址 / co-signing service base URL
    #[arg(long)]
    cosign: String,
    /// 协同签名服务 https 的根证书（PEM） / trust these roots for the service's https
    #[arg(long)]
    cosign_ca: Option<PathBuf>,
    #[command(flatten)]
    pin: PinArg,
    /// 对推送的解密请求按“拒绝”（登录仍确认） / press 拒绝 on pushed decrypt requests
    #[arg(long)]
    reject: bool,
    /// 使用此证书 / use this certificate
    #[arg(long)]
    cert: Option<String>,
    /// 交易平台证书（PEM，可重复） / trading-platform certificate (repeatable)
    #[arg(long = "platform-cert")]
    platform_cert: Vec<PathBuf>,
    /// 平台显示的设备名 / device name
    #[arg(long, default_value = "模拟手机（待命）")]
    device: String,
    /// 处理这么多个推送后退出（0 = 不限） / exit after this many pushes (0: never)
    #[arg(long, default_value_t = 0)]
    count: usize,
    /// 这么多秒没有推送则退出 / exit after this many seconds without a push
    #[arg(long, default_value_t = 600)]
    idle_secs: u64,
}

#[derive(Debug, Args)]
#[command(
    after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world list"
)]
struct AdminArgs {
    /// 协同签名服务地址 / co-signing service base URL
    #[arg(long)]
    cosign: String,
    /// 协同签名服务 https 的根证书（PEM） / trust these roots for the service's https
    #[arg(long)]
    cosign_ca: Option<PathBuf>,
    /// phone init 生成的文件夹或其 cosign/ 子文件夹（读取管理员令牌） / the init folder
    #[arg(long)]
    state: PathBuf,
    #[command(subcommand)]
    action: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// 列出证书及其状态 / list certificates and their state
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world list --json"
    )]
    List {
        /// 以 JSON 输出（字段见 docs/cli.md） / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 以 JSON 输出证书使用日志（证书日志）并校验其哈希链（断链时退出码 3） / print the usage log
    /// as JSON and check its hash chain (exit 3 when broken)
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world log ent-huaxia"
    )]
    Log {
        /// 证书编号 / certificate id
        cert: String,
    },
    /// 禁用证书 / disable
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world disable ent-huaxia"
    )]
    Disable {
        /// 证书编号 / certificate id
        cert: String,
    },
    /// 启用证书 / enable
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world enable ent-huaxia"
    )]
    Enable {
        /// 证书编号 / certificate id
        cert: String,
    },
    /// 注销证书（不可恢复） / revoke (final)
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world revoke colleague-liu"
    )]
    Revoke {
        /// 证书编号 / certificate id
        cert: String,
    },
    /// 解锁：清零 PIN 错误次数 / clear the wrong-PIN counter
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world unlock ent-huaxia"
    )]
    Unlock {
        /// 证书编号 / certificate id
        cert: String,
    },
    /// 为“忘记证书密码”签发一次性验证码（输出到标准输出，如短信所带） / issue a reset code
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world reset-code ent-huaxia"
    )]
    ResetCode {
        /// 证书编号 / certificate id
        cert: String,
    },
    /// 为换机（证书未同步、新手机或恢复）签发一次性验证码：新手机凭它与 PIN 刷新密钥分量，旧手机的分量随即失效 / issue a new-phone (key refresh) code
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world refresh-code ent-huaxia"
    )]
    RefreshCode {
        /// 证书编号 / certificate id
        cert: String,
    },
    /// 开通：为新证书签发一次性开通码，手机凭它与本服务联合生成密钥（16 位，10 分钟内有效） / issue an enrolment code for a new certificate
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world enrol-code staff-new --holder 王芳"
    )]
    EnrolCode {
        /// 新证书的编号 / the new certificate's id
        cert: String,
        /// 持有人（证书日志中显示） / holder shown in the log
        #[arg(long)]
        holder: String,
        /// 该证书 PIN 校验值的 PBKDF2 迭代次数 / PBKDF2 iterations of its PIN verifier
        #[arg(long)]
        kdf_iterations: Option<u32>,
    },
    /// 设置员工授权截止时间 / set the staff authorisation end
    #[command(
        after_help = "示例 / example:\n  bidseal phone admin --cosign http://127.0.0.1:7001 --state world authorise-until colleague-wang 2026-12-31T18:00:00+08:00"
    )]
    AuthoriseUntil {
        /// 证书编号 / certificate id
        cert: String,
        /// 截止时间：Unix 秒数、RFC 3339 时间或 none / unix seconds, RFC 3339 or `none`
        until: String,
    },
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
        PhoneCommand::Standby(a) => runtime()?.block_on(standby(a)),
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
        PhoneCommand::Restore(a) => runtime()?.block_on(restore(a)),
        PhoneCommand::Enroll(a) => runtime()?.block_on(enroll(a)),
    }
}

/// The stable code of a `phone enroll` failure (docs/cli.md): the service's or CA's no is 1,
/// a usage error 2, an unreachable service or a file 3.
fn enrol_error(e: bidseal_phone::provision::ProvisionError) -> anyhow::Error {
    use bidseal_phone::cosign::client::CosignCallError;
    use bidseal_phone::provision::ProvisionError;
    let code = match &e {
        ProvisionError::Enrol(_, CosignCallError::ResetRefused(_)) => "E_ENROL_REFUSED",
        ProvisionError::Enrol(_, CosignCallError::Refused(r)) => r.code(),
        ProvisionError::Enrol(_, CosignCallError::Enrol(_)) => "E_ENROL_FAILED",
        ProvisionError::Enrol(_, CosignCallError::Unavailable(_)) => "E_COSIGN_UNREACHABLE",
        ProvisionError::Enrol(_, _) => "E_UNKNOWN_CERT",
        ProvisionError::OnPhone(_) | ProvisionError::BadCertId(_) => "E_ENROL_CERT_ID",
        ProvisionError::BadPin => "E_USAGE",
        _ => "E_ENROL_KEYSTORE",
    };
    super::exit::coded(code, e)
}

/// `phone enroll`: 开通 of one more split certificate into an existing phone against a running
/// co-signing service (`bidseal_phone::provision::enrol_into_phone`).
async fn enroll(a: EnrollArgs) -> Result<ExitCode> {
    use bidseal_phone::pki::{HolderRole, LeafSpec, TestCa};
    let pin = a.pin.read()?;
    let usage = |text: String| super::exit::coded("E_USAGE", text);
    let uscc = bidseal_phone::uscc::UnifiedSocialCreditCode::parse(a.uscc.trim())
        .map_err(|e| usage(format!("统一社会信用代码 “{}” 无效：{e}", a.uscc)))?;
    let role = match a.role {
        EnrollRole::Staff => HolderRole::Personal,
        EnrollRole::Colleague => HolderRole::Colleague,
        EnrollRole::LegalPerson => HolderRole::LegalPerson,
        EnrollRole::Enterprise => HolderRole::Enterprise,
    };
    let person = match (role, a.holder.as_deref().map(str::trim)) {
        (HolderRole::Enterprise, _) => None,
        (_, Some(name)) if !name.is_empty() => Some(name.to_string()),
        _ => {
            return Err(usage(
                "个人、同事和法人证书须给出 --holder 持有人姓名".into(),
            ))
        }
    };
    let company = a.company.trim();
    if company.is_empty() {
        return Err(usage("--company 单位名称不能为空".into()));
    }
    let phone = phone_dir(&a.phone);
    let world = if phone == a.phone {
        phone.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        a.phone.clone()
    };
    let pki = a.pki.clone().unwrap_or_else(|| world.join("pki"));
    let ca = TestCa::load(&pki, &a.ca).map_err(|e| {
        super::exit::coded(
            "E_ENROL_CA",
            format!(
                "无法读取测试 CA {}（{e}）：--pki 应为 bidseal phone init 生成的 pki/ 文件夹",
                a.ca
            ),
        )
    })?;
    let spec = LeafSpec {
        id: a.cert.clone(),
        role,
        company: company.to_string(),
        uscc: uscc.as_str().to_string(),
        person,
        ca_index: usize::from(a.ca == "ca-2"),
        valid_days: a.valid_days,
        personal_seals: if role == HolderRole::Enterprise {
            0
        } else {
            a.personal_seals
        },
    };
    let client = CosignClient::connect(&a.cosign, a.cosign_ca.as_deref())?;
    let target = bidseal_phone::provision::PhoneEnrolment {
        phone_dir: &phone,
        pki_dir: Some(&pki),
        ca: &ca,
        spec: &spec,
        kdf_iterations: a.kdf_iterations,
    };
    let report = bidseal_phone::provision::enrol_into_phone(&target, client, &a.code, &pin)
        .await
        .map_err(enrol_error)?;
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::say!(
            "out.phone.enrolled",
            cert = report.cert,
            label = report.label,
            dir = phone.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `phone restore`: 换机 / 恢复 on the new phone ([`bidseal_phone::restore`]).
async fn restore(a: RestoreArgs) -> Result<ExitCode> {
    let pin = a.pin.read()?;
    bidseal_phone::provision::check_pin_format(&pin)?;
    let from = Keystore::load(&phone_dir(&a.from))?;
    let client = CosignClient::connect(&a.cosign, a.cosign_ca.as_deref())?;
    let fault = std::env::var(bidseal_phone::restore::RESTORE_FAULT_ENV)
        .map(|v| bidseal_phone::restore::RestoreFault::from_env_value(&v))
        .unwrap_or_default();
    if fault != bidseal_phone::restore::RestoreFault::None {
        eprintln!(
            "注意：{} 已设置，本次换机将按测试要求中途失败（仅供自动化测试）",
            bidseal_phone::restore::RESTORE_FAULT_ENV
        );
    }
    let report = bidseal_phone::restore::restore_certificate(
        &from,
        &a.new_phone,
        client,
        &a.cert,
        &a.code,
        &pin,
        fault,
    )
    .await
    .map_err(|e| super::exit::coded(&e.code(), e))?;
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::say!(
            "out.phone.restored",
            cert = report.cert,
            label = report.label,
            dir = a.new_phone.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .with_context(|| crate::words!("error.runtime"))
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

/// `phone init`'s options: the test key pool when a test harness names one
/// ([`bidseal_phone::provision::TEST_KEY_POOL_ENV`]; said on stderr).
pub fn init_options() -> bidseal_phone::provision::InitOptions {
    let key_pool = std::env::var_os(bidseal_phone::provision::TEST_KEY_POOL_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if let Some(pool) = &key_pool {
        eprintln!(
            "注意：使用测试密钥池 {}（{}，仅供自动化测试：各测试世界共用其中的密钥对）",
            pool.display(),
            bidseal_phone::provision::TEST_KEY_POOL_ENV
        );
    }
    bidseal_phone::provision::InitOptions { key_pool }
}

fn init(dir: &Path, pin: &str, kdf_iterations: u32) -> Result<ExitCode> {
    let options = init_options();
    let report = bidseal_phone::provision::init_test_world_with(dir, pin, kdf_iterations, options)?;
    crate::say!("out.phone.init", dir = report.dir.display());
    for (id, label) in &report.certificates {
        crate::outln!("  {id}\t{label}");
    }
    if report.font_missing {
        eprintln!("{}", crate::words!("out.phone.font_missing"));
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve_cosign(
    listen: SocketAddr,
    state: &Path,
    config: server::ServiceConfig,
) -> Result<ExitCode> {
    // Read the state before saying "listening": a wrong --state fails here, not after.
    let state_file = state.join(STATE_FILE);
    bidseal_phone::cosign::state::CosignBook::load(&state_file).map_err(|e| {
        super::exit::coded(
            "E_COSIGN_STATE",
            format!(
                "协同签名服务状态 {} 无法读取（{e}）：--state 应为 bidseal phone init 生成的文件夹或其 cosign/ 子文件夹",
                state_file.display()
            ),
        )
    })?;
    if config.platform_pins.is_empty() {
        eprintln!("{}", crate::words!("out.phone.no_platform_cert"));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| crate::words!("error.listen", addr = listen))?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    crate::outln!("listening on {scheme}://{addr}");
    std::io::stdout().flush()?;
    eprintln!(
        "{}",
        crate::words!(
            "out.phone.cosign_started",
            url = format!("{scheme}://{addr}"),
            dir = state.display()
        )
    );
    if config.tls.is_none() && !addr.ip().is_loopback() {
        eprintln!("{}", crate::words!("out.phone.no_tls"));
    }
    server::serve_with(listener, state, config)
        .await
        .with_context(|| crate::words!("error.cosign_ended"))?;
    Ok(ExitCode::SUCCESS)
}

/// `--pin PIN` or `--pin-stdin`, the one way a phone command takes a certificate PIN.
#[derive(Debug, Args)]
struct PinArg {
    /// 证书 PIN（6 位；会出现在进程列表中，测试以外请用 --pin-stdin） / the certificate PIN
    #[arg(long, required_unless_present = "pin_stdin")]
    pin: Option<String>,
    /// 从标准输入第一行读取 PIN / read the PIN from the first line of stdin
    #[arg(long, conflicts_with = "pin")]
    pin_stdin: bool,
}

impl PinArg {
    /// The PIN given, else the first line of stdin.
    fn read(&self) -> Result<String> {
        match &self.pin {
            Some(pin) => Ok(pin.clone()),
            None => Ok(super::secret_from_stdin(&crate::words!("error.pin_stdin"))?
                .trim()
                .to_string()),
        }
    }
}

async fn scan(a: ScanArgs) -> Result<ExitCode> {
    let payload_text = match (&a.payload, &a.qr_png) {
        (Some(p), None) => p.clone(),
        (None, Some(png)) => bidseal_phone::camera::read_qr_png(png)?,
        _ => {
            return Err(super::exit::coded(
                "E_USAGE",
                "请给出二维码内容（PAYLOAD）或 --qr-png 图片中的一个",
            ))
        }
    };
    let phone = build_phone(&PhoneSetup {
        keystore: &a.keystore,
        cosign: &a.cosign,
        cosign_ca: a.cosign_ca.as_deref(),
        pin: a.pin.read()?,
        reject: a.reject,
        auto_confirm: a.auto_confirm,
        cert: a.cert.clone(),
        colleagues: a.pick_colleague.clone(),
        platform_cert: &a.platform_cert,
    })?;
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
            let line = super::lang::phrase(line);
            eprintln!("[{}] {line}", crate::words!("out.phone.prefix"));
        },
    )
    .await?;
    crate::outln!("{}", serde_json::to_string(&summary)?);
    Ok(scan_exit(&summary).into())
}

/// What a simulated phone is made of (`phone scan` and `phone standby`).
struct PhoneSetup<'a> {
    keystore: &'a Path,
    cosign: &'a str,
    cosign_ca: Option<&'a Path>,
    pin: String,
    reject: bool,
    auto_confirm: bool,
    cert: Option<String>,
    colleagues: Vec<String>,
    platform_cert: &'a [PathBuf],
}

fn build_phone(s: &PhoneSetup<'_>) -> Result<PhoneSimulator> {
    let keystore = Keystore::load(&phone_dir(s.keystore))?;
    let cosign =
        CosignClient::connect(s.cosign, s.cosign_ca)?.with_device_key(keystore.device_key());
    let user = PhoneUser {
        pin: s.pin.clone().into(),
        decision: if s.reject {
            UserDecision::Reject
        } else {
            UserDecision::Confirm
        },
        auto_confirm: s.auto_confirm,
        cert: s.cert.clone(),
        colleagues: s.colleagues.clone(),
    };
    let platforms = bidseal_phone::gates::PinnedPlatforms::from_pem_files(s.platform_cert)
        .map_err(|e| anyhow::anyhow!("[E_PHONE_PLATFORM_CERT] {e}"))?;
    Ok(PhoneSimulator::new(keystore, cosign, user).with_platforms(platforms))
}

async fn standby(a: StandbyArgs) -> Result<ExitCode> {
    let mut setup = PhoneSetup {
        keystore: &a.keystore,
        cosign: &a.cosign,
        cosign_ca: a.cosign_ca.as_deref(),
        pin: a.pin.read()?,
        reject: false,
        auto_confirm: false,
        cert: a.cert.clone(),
        colleagues: Vec::new(),
        platform_cert: &a.platform_cert,
    };
    let login = build_phone(&setup)?;
    setup.reject = a.reject;
    let opening = build_phone(&setup)?;
    let options = bidseal_phone::standby::StandbyOptions {
        platform: a.platform.clone(),
        device: a.device.clone(),
        count: a.count,
        idle: std::time::Duration::from_secs(a.idle_secs),
    };
    let summary =
        bidseal_phone::standby::run_standby(&options, &login, &opening, &mut |line: &str| {
            let line = super::lang::phrase(line);
            eprintln!("[{}] {line}", crate::words!("out.phone.standby_prefix"));
        })
        .await?;
    crate::outln!("{}", serde_json::to_string(&summary)?);
    let all_confirmed = summary.handled.iter().all(|h| {
        h.error.is_none()
            && h.scan
                .as_ref()
                .is_some_and(|s| s.answered.iter().all(|r| r.outcome == "confirmed"))
    });
    Ok(if all_confirmed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The exit code of one phone scan: 1 when any request was refused (wrong PIN, the user's
/// 拒绝, a certificate state), 4 when the scan ended by time-out before any answer, else 0.
fn scan_exit(summary: &bidseal_phone::scan_loop::ScanSummary) -> super::exit::Exit {
    use super::exit::Exit;
    if summary.answered.iter().any(|a| a.outcome != "confirmed") {
        Exit::No
    } else if summary.answered.is_empty() && summary.ended == "idle_timeout" {
        Exit::Interrupted
    } else {
        Exit::Success
    }
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
    eprintln!("{}", crate::words!("out.phone.pin_reset", cert = cert));
    Ok(ExitCode::SUCCESS)
}

fn parse_until(text: &str) -> Result<Option<i64>> {
    if text == "none" {
        return Ok(None);
    }
    if let Ok(t) = text.parse::<i64>() {
        return Ok(Some(t));
    }
    let t = bidseal_phone::cosign::state::parse_rfc3339(text).ok_or_else(|| {
        super::exit::coded(
            "E_USAGE",
            "授权结束时间应为 Unix 秒数、RFC 3339 时间或 none",
        )
    })?;
    Ok(Some(t))
}

/// `phone admin list` for people: one line per certificate.
fn print_cert_list(certs: &[bidseal_phone::cosign::server::CertSummary]) {
    use bidseal_phone::cosign::state::CertState;
    crate::say!("out.admin.header");
    for c in certs {
        let state = match c.state {
            CertState::Active => crate::words!("out.admin.active"),
            CertState::Disabled => crate::words!("out.admin.disabled"),
            CertState::Revoked => crate::words!("out.admin.revoked"),
        };
        crate::outln!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            c.id,
            c.holder,
            state,
            c.wrong_pins,
            c.authorised_until
                .map_or_else(|| crate::words!("out.admin.unlimited"), local_time),
            local_time(c.not_after)
        );
    }
}

/// Unix seconds as `2026-12-01 16:53（UTC+8）` (China Standard Time, what the bidders read).
fn local_time(unix: i64) -> String {
    super::lang::beijing_time(&bidseal_workflow::report::format_beijing(unix))
}

/// An admin call's error: an id the service does not know is `[E_UNKNOWN_CERT]` with the ids
/// it knows, from the service's one answer (its `404` names them).
fn admin_err(e: bidseal_phone::cosign::client::CosignCallError) -> anyhow::Error {
    use bidseal_phone::cosign::client::CosignCallError;
    match e {
        CosignCallError::UnknownToAdmin { .. } | CosignCallError::UnknownCertificate(_) => {
            super::exit::coded("E_UNKNOWN_CERT", e)
        }
        other => anyhow::Error::from(other),
    }
}

async fn admin(a: AdminArgs) -> Result<ExitCode> {
    let token_path = cosign_dir(&a.state).join(ADMIN_TOKEN_FILE);
    let token = server::SecretText::new(
        std::fs::read_to_string(&token_path)
            .with_context(|| crate::words!("error.admin_token", file = token_path.display()))?
            .trim()
            .to_string(),
    );
    let token = token.expose();
    let client = CosignClient::connect(&a.cosign, a.cosign_ca.as_deref())?;
    let (cert, action) = match a.action {
        AdminCommand::List { json } => {
            let certs = client.list(token).await?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&certs)?);
            } else {
                print_cert_list(&certs);
            }
            return Ok(ExitCode::SUCCESS);
        }
        AdminCommand::Log { cert } => {
            let (entries, head) = client.log(token, &cert).await.map_err(admin_err)?;
            crate::outln!("{}", serde_json::to_string_pretty(&entries)?);
            return match bidseal_phone::cosign::state::verify_chain(
                &cert,
                &entries,
                head.as_deref(),
            ) {
                Ok(n) => {
                    eprintln!("{}", crate::words!("out.admin.log_ok", count = n));
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    let text = crate::cmd::lang::error_words(None, &e);
                    eprintln!("E_COSIGN_LOG_CHAIN: {text}");
                    Ok(ExitCode::from(3))
                }
            };
        }
        AdminCommand::EnrolCode {
            cert,
            holder,
            kdf_iterations,
        } => {
            let code = client
                .enrol_code(token, &cert, &holder, kdf_iterations)
                .await?;
            crate::outln!("{code}");
            eprintln!("{}", crate::words!("out.admin.done", cert = cert));
            return Ok(ExitCode::SUCCESS);
        }
        AdminCommand::Disable { cert } => (cert, AdminAction::Disable),
        AdminCommand::Enable { cert } => (cert, AdminAction::Enable),
        AdminCommand::Revoke { cert } => (cert, AdminAction::Revoke),
        AdminCommand::Unlock { cert } => (cert, AdminAction::Unlock),
        AdminCommand::ResetCode { cert } => (cert, AdminAction::IssueResetCode),
        AdminCommand::RefreshCode { cert } => (cert, AdminAction::IssueRefreshCode),
        AdminCommand::AuthoriseUntil { cert, until } => (
            cert,
            AdminAction::SetAuthorisationEnd {
                until: parse_until(&until)?,
            },
        ),
    };
    if let Some(code) = client
        .admin(token, &cert, &action)
        .await
        .map_err(admin_err)?
    {
        crate::outln!("{code}");
    }
    eprintln!("{}", crate::words!("out.admin.done", cert = cert));
    Ok(ExitCode::SUCCESS)
}
