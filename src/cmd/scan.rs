//! `bidseal scan`: start a scan session from the desktop side (QR + events), for staff testing.

use anyhow::Result;
use bidseal_workflow::FlowError;
use clap::Args;
use std::process::ExitCode;

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct ScanArgs {}

/// Runs the command.
pub fn run(_args: ScanArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "扫码会话 (bidseal scan)",
        issue: 5,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}
