//! Subcommand definitions and dispatch. One module per subcommand family; a subcommand that is
//! not built yet returns `FlowError::NotBuilt`, never a fake result.

mod bid;
mod envelope;
pub mod exit;
mod hall;
pub mod lang;
mod phone;
mod platform;
mod relay;
mod scan;
mod seal;
mod sync;
mod upload;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// BidSeal 投标签章：以手机扫码代替 CA 锁，制作、签章、加密与开启投标文件。
#[derive(Debug, Parser)]
#[command(
    name = "bidseal",
    version,
    about,
    long_about = None,
    after_help = concat!(
        "示例 / example:\n",
        "  bidseal phone init world && bidseal tender make --world world --out tender.zip\n",
        "  bidseal project new 我的投标.bidproj --tender tender.zip --platform-cert world/pki/platform.crt\n\n",
        "退出码 / exit codes（所有子命令一致，见 docs/cli.md）：\n",
        "  0  成功 / success\n",
        "  1  校验或操作未通过（签名无效、手机端拒绝、试解密未通过） / the check or operation said no\n",
        "  2  用法错误（参数） / usage error\n",
        "  3  输入或环境错误（文件缺失、无法读取、网络、项目未就绪） / input or environment error\n",
        "  4  已中断（Ctrl-C）或超时（二维码过期、手机未应答） / interrupted or timed out",
    )
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// 在 PDF 上加盖印章（可见印章 + PDF 数字签名） / seal a PDF
    #[command(
        after_help = "示例 / example:\n  bidseal seal in.pdf out.pdf --key k.pem --cert c.pem --image 公章.png --rect 400,100,120,120"
    )]
    Seal(seal::SealArgs),
    /// 验证 PDF 中的每个签名 / verify every signature in a PDF
    #[command(
        after_help = "示例 / example:\n  bidseal verify sealed.pdf --trust world/pki/ca-1.pem\n\n退出码：0 全部有效；1 有签名无效或没有签名；3 文件无法读取"
    )]
    Verify(seal::VerifyArgs),
    /// 多证书数字信封：加密、解密、查看 / multi-recipient envelope
    Envelope(envelope::EnvelopeArgs),
    /// 运行独立的扫码中继服务 / run the scan relay standalone
    #[command(after_help = "示例 / example:\n  bidseal relay --listen 127.0.0.1:47800")]
    Relay(relay::RelayArgs),
    /// 发起扫码会话（显示二维码，跟踪状态） / start a scan session
    Scan(scan::ScanArgs),
    /// 手机模拟器与协同签名服务 / phone simulator and co-signing service
    Phone(phone::PhoneArgs),
    /// 招标文件包：制作、检查 / tender packages
    Tender(bid::TenderArgs),
    /// 投标项目：导入、编辑、合成、签章、生成 / bid projects
    Project(bid::ProjectArgs),
    /// 开标：扫码解密并验证投标文件 / open bid files at the hall
    #[command(
        after_help = "示例 / example:\n  bidseal open 投标文件.bsbid --tender tender.zip --work opened"
    )]
    Open(hall::OpenArgs),
    /// 同步诚信库（扫码登录交易平台，验证平台签名） / sync the integrity library
    #[command(
        after_help = "示例 / example:\n  bidseal sync --platform http://127.0.0.1:8080 --project 我的投标.bidproj"
    )]
    Sync(sync::SyncArgs),
    /// 上传投标文件并保存平台签名回执；撤回；核对 / upload the bid, keep the signed receipt
    #[command(
        after_help = "示例 / example:\n  bidseal upload --platform http://127.0.0.1:8080 --project 我的投标.bidproj\n  bidseal upload --platform http://127.0.0.1:8080 --project 我的投标.bidproj --withdraw\n  bidseal upload --platform http://127.0.0.1:8080 --project 我的投标.bidproj --check 投标文件.bsbid"
    )]
    Upload(upload::UploadArgs),
    /// 参考交易平台（招标项目、诚信库、上传回执、开标） / the reference trading platform
    Platform(platform::PlatformArgs),
    /// 以内置默认配置跑通完整流程 / run the whole flow on embedded defaults
    #[command(after_help = "示例 / example:\n  bidseal demo --out /tmp/bidseal-demo")]
    Demo(hall::DemoArgs),
}

/// A secret (PIN, password) given on standard input instead of the command line, where the
/// process list would show it: the first line, without its line end.
pub(crate) fn secret_from_stdin(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| exit::coded("E_USAGE", anyhow::anyhow!("{what}: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Seal(args) => seal::seal(args),
        Command::Verify(args) => seal::verify(args),
        Command::Envelope(args) => envelope::run(args),
        Command::Relay(args) => relay::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Phone(args) => phone::run(args),
        Command::Tender(args) => bid::tender(args),
        Command::Project(args) => bid::project(args),
        Command::Open(args) => hall::open(args),
        Command::Demo(args) => hall::demo(args),
        Command::Platform(args) => platform::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Upload(args) => upload::run(args),
    }
}
