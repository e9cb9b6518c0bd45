//! The state every handler (API and web pages) shares.
//!
//! Guarantees: cheap to clone (everything behind `Arc`); the platform key is reachable only
//! through [`PlatformIdentity::sign`]. Does not: hold per-request data.

use crate::auth::LoginThrottle;
use crate::bids::UploadLocks;
use crate::clock::Clock;
use crate::db::Db;
use crate::identity::PlatformIdentity;
use bidseal_cms::cert::Certificate;
use std::path::PathBuf;
use std::sync::Arc;

/// Shared state of the running platform.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The platform's signing key and certificate.
    pub identity: Arc<PlatformIdentity>,
    /// CA certificates whose bidder certificates the platform accepts (bind by scan).
    pub trusted_cas: Arc<Vec<Certificate>>,
    /// The scan relay phones reach (`--relay`), for scan login, bind and remote opening.
    pub relay_url: Option<String>,
    /// The data folder (`--data`): uploads live under `uploads/`, bids under `bids/`.
    pub data_dir: Arc<PathBuf>,
    /// Where the time comes from.
    pub clock: Clock,
    /// Wrong-password counter.
    pub login_throttle: Arc<LoginThrottle>,
    /// Scans (扫码登录/绑定), pushes and openings of the web module.
    pub web: crate::web::WebServices,
    /// One lock per upload (chunks and completion of one upload never run at once).
    pub upload_locks: Arc<UploadLocks>,
    /// Free bytes kept on the data folder's disk (`bids::DEFAULT_MIN_FREE_BYTES`).
    pub min_free_bytes: u64,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("backend", &self.db.backend())
            .field("identity", &self.identity)
            .field("trusted_cas", &self.trusted_cas.len())
            .field("relay_url", &self.relay_url)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Folder of in-progress uploads.
    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }
}
