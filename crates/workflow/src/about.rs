//! What the app tells about itself: version and the state of its embedded services. The
//! desktop's home screen and `bidseal --version` read it from here.

use serde::Serialize;

/// The version of BidSeal, from the workspace manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Facts about this installation shown on the home screen.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppInfo {
    /// BidSeal version.
    pub version: String,
    /// Address of the embedded scan relay, when it runs.
    pub relay_address: Option<String>,
    /// Why the embedded relay is not running, in zh-CN, when it is not.
    pub relay_status: String,
}

impl AppInfo {
    /// The info for a relay listening at `relay_address` (or not running, with a reason).
    pub fn new(relay_address: Option<String>, relay_status: impl Into<String>) -> Self {
        AppInfo {
            version: VERSION.to_string(),
            relay_address,
            relay_status: relay_status.into(),
        }
    }
}
