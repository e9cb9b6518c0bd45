//! `bidseal relay`: run the scan relay as a standalone server.

use anyhow::Result;
use bidseal_workflow::FlowError;
use clap::Args;
use std::process::ExitCode;

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct RelayArgs {}

/// Runs the command.
pub fn run(_args: RelayArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "扫码中继 (bidseal relay)",
        issue: 5,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}
