//! `bidseal sync`: 同步诚信库 — log in to the trading platform (scan login, or `--password` for
//! scripts), fetch the company's integrity-library records, verify each against the platform
//! certificate pinned in the project's tender, keep them in the project, and print what was
//! added, changed and removed. Also the platform login shared with `bidseal upload`.

use anyhow::{Context, Result};
use bidseal_bid::project::BidProject;
use bidseal_workflow::library_sync::{sync_library, SyncReport};
use bidseal_workflow::platform_client::{PlatformClient, PlatformClientError};
use bidseal_workflow::platform_flow::{
    login_by_scan, now_unix, resume_session, LoginStep, SavedSession, SESSION_SECS,
};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How to reach and log in to the platform (shared by `sync` and `upload`).
#[derive(Debug, Args)]
pub struct PlatformLoginArgs {
    /// 交易平台地址，如 http://127.0.0.1:8080 / platform URL
    #[arg(long)]
    pub platform: String,
    /// 投标项目目录（.bidproj） / bid project folder
    #[arg(long)]
    pub project: PathBuf,
    /// 以账号密码登录（供脚本使用；默认扫码登录） / log in with a password instead of a scan
    #[arg(long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// 从标准输入读取密码（第一行；不出现在进程列表中） / read the password from standard input
    #[arg(long)]
    pub password_stdin: bool,
    /// 登录账号（默认为项目中投标人的统一社会信用代码） / login (default: the bidder's USCC)
    #[arg(long)]
    pub login: Option<String>,
    /// 扫码登录二维码图片写入的目录（默认 PROJECT/work/qr） / where the login QR PNG goes
    #[arg(long)]
    pub qr_dir: Option<PathBuf>,
}

/// `bidseal sync` flags.
#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub login: PlatformLoginArgs,
    /// 以 JSON 输出结果 / print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// The CLI form of a platform client error: `[CODE] message` (the platform's own code for a
/// refusal), exit code per `cmd::exit`.
pub fn platform_err(e: PlatformClientError) -> anyhow::Error {
    let code = e.platform_code().unwrap_or(e.code()).to_string();
    super::exit::coded(&code, e)
}

pub fn open_project(dir: &Path) -> Result<BidProject> {
    BidProject::open(dir).map_err(|e| super::exit::coded(e.code(), e))
}

/// Logs in to the platform for `project`: a saved session if still alive, else `--password`,
/// else scan login (QR as PNG + payload on stderr, like the other scans).
pub async fn login(args: &PlatformLoginArgs, project: &BidProject) -> Result<PlatformClient> {
    let dir = project.dir();
    match resume_session(&args.platform, dir)
        .await
        .map_err(platform_err)?
    {
        SavedSession::Alive(client) => return Ok(client),
        SavedSession::Expired => eprintln!("{}", crate::words!("out.sync.session_expired")),
        SavedSession::Absent => {}
    }
    let password = match (&args.password, args.password_stdin) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(super::secret_from_stdin(&crate::words!(
            "error.password_stdin"
        ))?),
        (None, false) => None,
    };
    if let Some(password) = &password {
        let mut client = PlatformClient::new(&args.platform).map_err(platform_err)?;
        let login = args
            .login
            .clone()
            .unwrap_or_else(|| project.file().bidder.credit_code.clone());
        if login.is_empty() {
            return Err(super::exit::coded(
                "E_USAGE",
                "项目中没有投标人的统一社会信用代码：请用 --login 指定登录账号，或先 bidseal project set 填写 bidder.credit_code",
            ));
        }
        client
            .login_password(&login, password)
            .await
            .map_err(platform_err)?;
        client
            .save_session(dir, now_unix() + SESSION_SECS)
            .map_err(platform_err)?;
        return Ok(client);
    }
    let qr_dir = args
        .qr_dir
        .clone()
        .unwrap_or_else(|| dir.join("work").join("qr"));
    std::fs::create_dir_all(&qr_dir)
        .with_context(|| crate::words!("error.mkdir", dir = qr_dir.display()))?;
    let bidder = project.file().bidder.credit_code.clone();
    let client = login_by_scan(
        &args.platform,
        dir,
        &bidder,
        "login",
        &mut |step| match step {
            LoginStep::Qr(payload) => {
                match bidseal_scan::qr::render_png(&payload) {
                    Ok(png) => {
                        let path = qr_dir.join(format!("qr-login-{}.png", payload.expires_at));
                        if bidseal_scan::qr::write_atomic(&path, &png).is_ok() {
                            eprintln!(
                                "{}",
                                crate::words!("out.sync.qr_png", file = path.display())
                            );
                        }
                    }
                    Err(e) => eprintln!(
                        "{}",
                        crate::words!(
                            "out.sync.qr_png_failed",
                            error = crate::cmd::lang::error_words(Some(e.code()), &e)
                        )
                    ),
                }
                eprintln!(
                    "{}",
                    crate::words!("out.sync.qr_payload", payload = payload.to_url())
                );
                eprintln!(
                    "{}",
                    crate::words!(
                        "out.sync.scan_prompt",
                        until = super::lang::beijing_time(
                            &bidseal_workflow::report::format_beijing(payload.expires_at as i64)
                        )
                    )
                );
            }
            LoginStep::Scanned(_) => eprintln!("{}", crate::words!("out.sync.scanned")),
        },
    )
    .await
    .map_err(platform_err)?;
    eprintln!("{}", crate::words!("out.sync.logged_in"));
    Ok(client)
}

fn print_report(report: &SyncReport) {
    if let Some(c) = &report.company {
        crate::say!("out.sync.company", name = c.name, uscc = c.uscc);
    }
    for (label, lines) in [
        (crate::words!("out.sync.added"), &report.added),
        (crate::words!("out.sync.changed"), &report.changed),
        (crate::words!("out.sync.removed"), &report.removed),
    ] {
        for l in lines {
            crate::outln!(
                "{label}  {}  v{}  {}  {}  sha256:{}",
                l.id,
                l.version,
                l.kind,
                l.title,
                &l.sha256[..16.min(l.sha256.len())]
            );
        }
    }
    for r in &report.refused {
        let reason = crate::cmd::lang::phrase(&r.reason);
        crate::outln!(
            "{}  {}  {}{}",
            crate::words!("out.sync.refused"),
            r.id,
            reason,
            r.kept_version
                .map(|v| crate::words!("out.sync.kept", version = v))
                .unwrap_or_default()
        );
    }
    crate::say!(
        "out.sync.done",
        added = report.added.len(),
        changed = report.changed.len(),
        removed = report.removed.len(),
        unchanged = report.unchanged,
        refused = report.refused.len()
    );
}

/// Runs `bidseal sync`.
pub fn run(args: SyncArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().with_context(|| crate::words!("error.runtime"))?;
    rt.block_on(async {
        let project = open_project(&args.login.project)?;
        let client = login(&args.login, &project).await?;
        let report = sync_library(&client, &project)
            .await
            .map_err(platform_err)?;
        if args.json {
            crate::outln!("{}", serde_json::to_string(&report)?);
        } else {
            print_report(&report);
        }
        Ok(if report.refused.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}
