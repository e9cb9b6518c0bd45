//! `bidseal relay`: run the scan relay as a standalone server (the desktop app embeds the same
//! relay in-process). Prints the base URL to put in QR payloads, serves until Ctrl-C, then
//! tells every connected end `relay.shutdown`. With `--tls-cert/--tls-key` it serves
//! HTTPS/WSS itself (the URL printed is `https://…`); without, plain HTTP (loopback/LAN, or
//! behind a TLS proxy).

use anyhow::{Context, Result};
use bidseal_relay::{Relay, RelayConfig};
use clap::Args;
use std::path::PathBuf;
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
    /// TLS 证书链（PEM，服务器证书在前）；与 --tls-key 一起使用时提供 https/wss / TLS certificate chain
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS 私钥（PEM） / TLS private key
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: RelayArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().with_context(|| crate::words!("error.runtime"))?;
    rt.block_on(async {
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(
                bidseal_relay::tls::server_config(cert, key)
                    .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?,
            ),
            _ => None,
        };
        let config = RelayConfig {
            log: args.log,
            tls,
            ..RelayConfig::default()
        };
        let handle = Relay::bind_with(&args.listen, config)
            .await
            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
        crate::say!("out.relay.listening", url = handle.url());
        tokio::signal::ctrl_c()
            .await
            .with_context(|| crate::words!("error.ctrl_c"))?;
        eprintln!("{}", crate::words!("out.relay.stopping"));
        handle.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
