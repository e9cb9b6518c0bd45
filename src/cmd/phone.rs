//! `bidseal phone`: the phone simulator and the test PKI generator.

use anyhow::Result;
use bidseal_workflow::FlowError;
use clap::Args;
use std::process::ExitCode;

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct PhoneArgs {}

/// Runs the command.
pub fn run(_args: PhoneArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "手机模拟器 (bidseal phone)",
        issue: 5,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}
