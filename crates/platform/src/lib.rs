//! The reference trading platform: publishes tenders, serves the integrity library (诚信库)
//! signed by the platform, accepts bid uploads with a signed receipt, and runs the opening.
//!
//! - [`scan`]: 扫码登录 / 扫码绑定 — the platform as the initiator of `auth` scans.
//! - [`remote_opening`]: 不见面开标 — decrypt requests pushed to the bidders' phones.

pub mod remote_opening;
pub mod scan;
