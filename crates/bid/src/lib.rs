//! Bid documents: tender packages, bid projects, bid files and their opening.
//!
//! Owns: the tender package format (`tender`), the bid project folder and the local index
//! (`project`), and composition of the bid PDF (`compose`).
//!
//! Not built yet (issue #6, second half): sealing the composed bid by scan, the bid file
//! (signed package + manifest, encrypted to several certificates) and its opening. They plug in
//! on [`project::BidProject`] (the composed PDF and [`compose::NodePlacement`]s recorded there).

pub mod bidfile;
pub mod compose;
pub mod fsio;
pub mod opening;
pub mod platform_docs;
pub mod project;
pub mod tender;
pub mod zipcheck;

/// Re-exported so callers (the CLI) use the same date-time type as the manifest.
pub use time;
