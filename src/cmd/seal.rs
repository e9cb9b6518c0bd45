//! `bidseal seal` and `bidseal verify`: visible seals as PDF signatures, and their verification.

use anyhow::Result;
use bidseal_workflow::FlowError;
use clap::Args;
use std::process::ExitCode;

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct SealArgs {}

/// Runs the command.
pub fn seal(_args: SealArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "PDF 签章 (bidseal seal)",
        issue: 3,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct VerifyArgs {}

/// Runs the command.
pub fn verify(_args: VerifyArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "PDF 签名验证 (bidseal verify)",
        issue: 3,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}
