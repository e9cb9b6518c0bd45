//! Errors a user of BidSeal can meet, each with a stable code and a zh-CN message that says
//! what to do. Library crates return their own typed errors; this is where they become
//! something a bidder or hall operator can act on.

use thiserror::Error;

/// An error from one of the flows, shown to the user as `[code] message`.
#[derive(Debug, Error)]
pub enum FlowError {
    /// The feature exists in the command line or the UI but is not built yet. Never a silent
    /// success: the user learns that nothing was done.
    #[error("功能尚未实现：{feature}（开发计划见 issue #{issue}），本次未执行任何操作")]
    NotBuilt {
        /// What the user asked for, in zh-CN.
        feature: &'static str,
        /// The project issue that will build it.
        issue: u32,
    },
}

impl FlowError {
    /// A stable, machine-readable code for the error (used in logs, tests and the UI).
    pub fn code(&self) -> &'static str {
        match self {
            FlowError::NotBuilt { .. } => "E_NOT_BUILT",
        }
    }
}
