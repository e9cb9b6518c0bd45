//! `bidseal tender`, `project`, `open` and `demo`: tender packages, bid projects, opening and the headless demo.

use anyhow::Result;
use bidseal_workflow::FlowError;
use clap::Args;
use std::process::ExitCode;

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct TenderArgs {}

/// Runs the command.
pub fn tender(_args: TenderArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "招标文件包 (bidseal tender)",
        issue: 6,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}

/// Arguments (not built yet).
#[derive(Debug, Args)]
pub struct ProjectArgs {}

/// Runs the command.
pub fn project(_args: ProjectArgs) -> Result<ExitCode> {
    let err = FlowError::NotBuilt {
        feature: "投标项目 (bidseal project)",
        issue: 6,
    };
    Err(anyhow::anyhow!("[{}] {err}", err.code()))
}

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
