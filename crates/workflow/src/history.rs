//! The scan history of a bid project: one line per scan (`project seal|generate|trial-decrypt`
//! in the command line, the same steps in the desktop app) in the local index, so that both
//! front ends record the same operations and outcomes under the same names.
//!
//! Guarantees: recording never blocks the bid (the caller gets the index error to show as a
//! hint, nothing more); nothing but the operation, the outcome and an error code is stored —
//! no content, no secrets. Does not: decide what the scan did (the flow does).

use crate::FlowError;
use bidseal_bid::project::index::{IndexError, ProjectIndex, ScanRecord};
use bidseal_bid::project::BidProject;

/// Which scan step of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOperation {
    /// 标书签章 (every signing node in one session-mode scan).
    Seal,
    /// 生成投标文件.
    Generate,
    /// 试解密.
    TrialDecrypt,
}

impl ScanOperation {
    /// The stable name stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanOperation::Seal => "seal",
            ScanOperation::Generate => "generate",
            ScanOperation::TrialDecrypt => "trial_decrypt",
        }
    }
}

/// How a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOutcome {
    /// The phone confirmed and every check passed.
    Confirmed,
    /// The phone (or the co-signing service) refused.
    Rejected,
    /// Something failed (a check, the relay, the channel, a file).
    Failed,
    /// The user stopped it (Ctrl-C, window closed).
    Interrupted,
}

impl ScanOutcome {
    /// The stable name stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanOutcome::Confirmed => "confirmed",
            ScanOutcome::Rejected => "rejected",
            ScanOutcome::Failed => "failed",
            ScanOutcome::Interrupted => "interrupted",
        }
    }

    /// The outcome and stored detail (an error code, or `E_CHECK_FAILED` when the flow ran but
    /// a check said no) of a flow's result; `passed` is whether the result counts as success.
    pub fn of<T>(result: &Result<T, FlowError>, passed: impl Fn(&T) -> bool) -> (Self, String) {
        match result {
            Ok(v) if passed(v) => (ScanOutcome::Confirmed, String::new()),
            Ok(_) => (ScanOutcome::Failed, "E_CHECK_FAILED".into()),
            Err(FlowError::Refused(r)) => (ScanOutcome::Rejected, r.code().to_string()),
            Err(e) => (ScanOutcome::Failed, e.code().to_string()),
        }
    }
}

/// Adds one scan of `project` to the local index (`$BIDSEAL_INDEX` or the user's data folder).
/// An error is for a hint ("扫码记录未写入本地索引"); the bid itself is not affected.
pub fn record_scan(
    project: &BidProject,
    operation: ScanOperation,
    outcome: ScanOutcome,
    detail: &str,
) -> Result<(), IndexError> {
    let record = ScanRecord {
        project_path: project.recent_entry().path,
        at_unix: bidseal_bid::time::OffsetDateTime::now_utc().unix_timestamp(),
        operation: operation.as_str().into(),
        outcome: outcome.as_str().into(),
        detail: detail.into(),
    };
    ProjectIndex::open_default().and_then(|i| i.record_scan(&record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidseal_scan::RefusalReason;

    #[test]
    fn outcomes_name_what_happened() {
        let ok: Result<bool, FlowError> = Ok(true);
        assert_eq!(
            ScanOutcome::of(&ok, |p| *p),
            (ScanOutcome::Confirmed, String::new())
        );
        let no: Result<bool, FlowError> = Ok(false);
        assert_eq!(
            ScanOutcome::of(&no, |p| *p),
            (ScanOutcome::Failed, "E_CHECK_FAILED".into())
        );
        let refused: Result<bool, FlowError> = Err(FlowError::Refused(RefusalReason::WrongPin {
            remaining_tries: 2,
        }));
        assert_eq!(
            ScanOutcome::of(&refused, |p| *p),
            (ScanOutcome::Rejected, "wrong_pin".into())
        );
        let failed: Result<bool, FlowError> = Err(FlowError::NotComposed);
        assert_eq!(
            ScanOutcome::of(&failed, |p| *p),
            (ScanOutcome::Failed, "E_NOT_COMPOSED".into())
        );
    }
}
