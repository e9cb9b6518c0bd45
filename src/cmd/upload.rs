//! `bidseal upload`: 上传投标文件 to the trading platform before the deadline (resumable), and
//! keep the receipt the platform signs; `--withdraw` withdraws the bid; `--check FILE` checks
//! a bid file against the kept receipt.

use super::sync::{login, open_project, platform_err, PlatformLoginArgs};
use anyhow::{Context, Result};
use bidseal_workflow::bid_upload::{check_file_against_receipt, upload_bid, withdraw_bid};
use bidseal_workflow::project_flow::GenerationRecord;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `bidseal upload` flags.
#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub login: PlatformLoginArgs,
    /// 要上传的投标文件（默认为项目最近生成的 .bsbid） / the bid file (default: last generated)
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// 撤回已上传的投标文件（截止时间前） / withdraw the bid before the deadline
    #[arg(long, conflicts_with_all = ["file", "check"])]
    pub withdraw: bool,
    /// 只核对该文件与项目中保存的平台回执是否一致（不联网） / check a file against the kept receipt
    #[arg(long, value_name = "BID_FILE", conflicts_with = "file")]
    pub check: Option<PathBuf>,
}

fn print_receipt(r: &bidseal_bid::platform_docs::SignedReceipt, path: &std::path::Path) {
    let action = match r.action.as_str() {
        "submit" => crate::words!("out.upload.submit"),
        "replace" => crate::words!("out.upload.replace"),
        "withdraw" => crate::words!("out.upload.withdraw"),
        other => other.to_string(),
    };
    crate::say!("out.upload.receipt", id = r.id, action = action);
    crate::say!(
        "out.upload.tender",
        project = r.tender.project_id,
        lot = r.tender.lot_id,
        id = r.tender.id
    );
    crate::say!(
        "out.upload.bidder",
        name = r.bidder.name,
        uscc = r.bidder.uscc
    );
    crate::say!("out.upload.file", sha256 = r.sha256, size = r.size);
    crate::say!(
        "out.upload.time",
        time = super::lang::beijing_time(&bidseal_workflow::report::format_beijing(
            r.received_at_unix
        ))
    );
    crate::say!("out.upload.kept", file = path.display());
}

/// Runs `bidseal upload`.
pub fn run(args: UploadArgs) -> Result<ExitCode> {
    let project = open_project(&args.login.project)?;
    if let Some(file) = &args.check {
        let r = check_file_against_receipt(&project, file).map_err(platform_err)?;
        crate::say!(
            "out.upload.check_ok",
            file = file.display(),
            id = r.id,
            sha256 = r.sha256
        );
        return Ok(ExitCode::SUCCESS);
    }
    let file = match (&args.file, args.withdraw) {
        (Some(f), _) => Some(f.clone()),
        (None, true) => None,
        (None, false) => {
            let record = std::fs::read(
                project
                    .dir()
                    .join(bidseal_workflow::project_flow::GENERATION_RECORD),
            )
            .ok()
            .and_then(|b| serde_json::from_slice::<GenerationRecord>(&b).ok())
            .ok_or_else(|| {
                super::exit::coded(
                    "E_USAGE",
                    "项目中没有生成过投标文件：请先 bidseal project generate，或用 --file 指定",
                )
            })?;
            Some(PathBuf::from(record.bid_file))
        }
    };
    let rt = tokio::runtime::Runtime::new().with_context(|| crate::words!("error.runtime"))?;
    rt.block_on(async {
        let client = login(&args.login, &project).await?;
        match file {
            None => {
                let kept = withdraw_bid(&client, &project)
                    .await
                    .map_err(platform_err)?;
                print_receipt(&kept.receipt, &kept.path);
            }
            Some(file) => {
                let mut last_pct = -1i64;
                let outcome = upload_bid(&client, &project, &file, &mut |sent, total| {
                    let pct = sent * 100 / total.max(1);
                    if pct / 10 != last_pct / 10 {
                        eprintln!(
                            "{}",
                            crate::words!(
                                "out.upload.progress",
                                pct = pct,
                                sent = sent,
                                total = total
                            )
                        );
                        last_pct = pct;
                    }
                })
                .await
                .map_err(platform_err)?;
                if outcome.resumed_from > 0 {
                    eprintln!(
                        "{}",
                        crate::words!("out.upload.resumed", offset = outcome.resumed_from)
                    );
                }
                print_receipt(&outcome.receipt.receipt, &outcome.receipt.path);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
