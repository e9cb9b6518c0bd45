//! `bidseal relay`: run the scan relay as a standalone server (the desktop app embeds the same
//! relay in-process). Prints the base URL to put in QR payloads, serves until Ctrl-C, then
//! tells every connected end `relay.shutdown`.

use anyhow::{Context, Result};
use bidseal_relay::{Relay, RelayConfig};
use clap::Args;
use std::process::ExitCode;

/// 运行扫码中继服务 / run the scan relay.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// 监听地址（如 127.0.0.1:47800；0 端口表示自动分配） / listen address
    #[arg(long, default_value = "127.0.0.1:47800")]
    pub listen: String,
    /// 每个会话事件打印一行日志（只含会话编号前缀，不含密钥或内容） / log session events
    #[arg(long)]
    pub log: bool,
}

/// Runs the command.
pub fn run(args: RelayArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("无法启动异步运行时")?;
    rt.block_on(async {
        let config = RelayConfig {
            log: args.log,
            ..RelayConfig::default()
        };
        let handle = Relay::bind_with(&args.listen, config)
            .await
            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
        println!("扫码中继已启动 / relay listening: {}", handle.url());
        tokio::signal::ctrl_c().await.context("无法等待 Ctrl-C")?;
        eprintln!("正在停止中继…");
        handle.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
