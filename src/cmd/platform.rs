//! `bidseal platform serve`: run the reference trading platform (tenders, integrity library,
//! uploads with receipts, opening). Prints `listening on http://ADDR` on stdout once the
//! database is migrated and the socket bound, serves until Ctrl-C.

use anyhow::{Context, Result};
use bidseal_platform::{serve, PlatformConfig};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// 参考交易平台 / the reference trading platform.
#[derive(Debug, Args)]
pub struct PlatformArgs {
    #[command(subcommand)]
    pub command: PlatformCommand,
}

/// Platform subcommands.
#[derive(Debug, Subcommand)]
pub enum PlatformCommand {
    /// 运行交易平台服务（网页 + REST API） / run the platform server
    #[command(
        after_help = "示例 / example:\n  bidseal platform serve --listen 127.0.0.1:8080 --data platform-data --demo-world world --relay http://127.0.0.1:47800"
    )]
    Serve(ServeArgs),
}

/// `platform serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// 监听地址（0 端口表示自动分配） / listen address
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// 数据目录（数据库、上传文件、平台证书） / data folder
    #[arg(long)]
    pub data: PathBuf,
    /// 手机可访问的扫码中继地址 / scan relay URL for phones
    #[arg(long)]
    pub relay: Option<String>,
    /// 数据库地址（postgres://…；默认为数据目录下的 SQLite 文件） / database URL
    #[arg(long)]
    pub database: Option<String>,
    /// 以 bidseal phone init 生成的测试环境初始化演示数据 / seed from a phone init world
    #[arg(long, value_name = "PHONE_DIR")]
    pub demo_world: Option<PathBuf>,
    /// 演示账号密码 / password of the demo accounts
    #[arg(long, default_value = "Demo@1234")]
    pub demo_password: String,
    /// 启动时把测试环境的企业证书预先绑定到对应企业账号（默认不绑定，需扫码绑定） / pre-bind the world's enterprise certificates
    #[arg(long, requires = "demo_world")]
    pub demo_bind: bool,
    /// 可信反向代理地址（IP，可重复） / trusted reverse proxy (repeatable)
    #[arg(long, value_name = "IP")]
    pub trusted_proxy: Vec<std::net::IpAddr>,
    /// 仅供测试：可用 POST /test/clock 向前拨动平台时钟（只允许回环地址） / test only: a platform clock movable forward by POST /test/clock (loopback only)
    #[arg(long)]
    pub test_clock: bool,
}

/// Runs the command.
pub fn run(args: PlatformArgs) -> Result<ExitCode> {
    match args.command {
        PlatformCommand::Serve(a) => run_serve(a),
    }
}

fn run_serve(args: ServeArgs) -> Result<ExitCode> {
    if let Some(relay) = &args.relay {
        bidseal_workflow::relay::check_relay_url(relay).map_err(super::exit::flow_err)?;
    }
    let rt = tokio::runtime::Runtime::new().with_context(|| crate::words!("error.runtime"))?;
    rt.block_on(async {
        let running = serve(PlatformConfig {
            listen: args.listen.clone(),
            data_dir: args.data.clone(),
            relay_url: args.relay.clone(),
            database_url: args.database.clone(),
            demo_world: args.demo_world.clone(),
            demo_password: args.demo_password.clone(),
            demo_bind: args.demo_bind,
            trusted_proxies: args.trusted_proxy.clone(),
            test_clock: args.test_clock,
        })
        .await
        .map_err(|e| super::exit::coded(e.code(), e.to_string()))?;
        if let Some(pw) = &running.initial_staff_password {
            eprintln!(
                "{}",
                crate::words!("out.platform.staff_password", password = pw)
            );
        }
        eprintln!(
            "{}",
            crate::words!(
                "out.platform.fingerprint",
                fingerprint = running.state.identity.fingerprint()
            )
        );
        crate::outln!("listening on {}", running.url);
        tokio::signal::ctrl_c()
            .await
            .with_context(|| crate::words!("error.ctrl_c"))?;
        eprintln!("{}", crate::words!("out.platform.stopping"));
        running.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
