//! Subcommand definitions and dispatch. One module per subcommand family; a subcommand that is
//! not built yet returns `FlowError::NotBuilt`, never a fake result.

mod bid;
mod envelope;
mod hall;
mod phone;
mod relay;
mod scan;
mod seal;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// BidSeal 投标签章：以手机扫码代替 CA 锁，制作、签章、加密与开启投标文件。
#[derive(Debug, Parser)]
#[command(name = "bidseal", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// 在 PDF 上加盖印章（可见印章 + PDF 数字签名） / seal a PDF
    Seal(seal::SealArgs),
    /// 验证 PDF 中的每个签名 / verify every signature in a PDF
    Verify(seal::VerifyArgs),
    /// 多证书数字信封：加密、解密、查看 / multi-recipient envelope
    Envelope(envelope::EnvelopeArgs),
    /// 运行独立的扫码中继服务 / run the scan relay standalone
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
    Open(hall::OpenArgs),
    /// 以内置默认配置跑通完整流程 / run the whole flow on embedded defaults
    Demo(hall::DemoArgs),
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
    }
}
