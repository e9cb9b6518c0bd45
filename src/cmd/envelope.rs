//! `bidseal envelope`: encrypt a file to several certificates, decrypt, inspect recipients.

use anyhow::Result;
use bidseal_workflow::FlowError;
use clap::Args;
use std::process::ExitCode;

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct EnvelopeArgs {}

/// Runs the command.
pub fn run(_args: EnvelopeArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "多证书数字信封 (bidseal envelope)",
        issue: 4,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}
