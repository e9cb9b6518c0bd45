//! `bidseal open` and `bidseal demo`: the bid-opening hall (decrypt by scan, verify, report)
//! and the headless end-to-end demo on embedded defaults.

use anyhow::Result;
use bidseal_workflow::FlowError;
use clap::Args;
use std::process::ExitCode;

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct OpenArgs {}

/// Runs the command.
pub fn open(_args: OpenArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "开标解密 (bidseal open)",
        issue: 6,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct DemoArgs {}

/// Runs the command.
pub fn demo(_args: DemoArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "完整流程演示 (bidseal demo)",
        issue: 6,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}
