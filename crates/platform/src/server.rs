//! Starting and stopping the platform: opens the database (migrations), loads or makes the
//! signing identity, seeds the demo world if asked, and serves the API and the pages.
//!
//! Guarantees: `serve` returns only once the socket is bound and the database migrated, so
//! the URL it reports answers at once; requests larger than [`MAX_REQUEST_BYTES`] are refused
//! with 413 before they are read. Does not: TLS (run it behind a TLS proxy, or on loopback).

use crate::auth::{hash_password, new_token, LoginThrottle};
use crate::clock::Clock;
use crate::db::{Db, Role};
use crate::error::PlatformError;
use crate::identity::PlatformIdentity;
use crate::state::AppState;
use axum::Router;
use std::path::PathBuf;
use std::sync::Arc;

/// Largest request body (one upload chunk plus headroom), bytes.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// How to run the platform (`bidseal platform serve` flags).
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Listen address, e.g. `127.0.0.1:0`.
    pub listen: String,
    /// The data folder (database file, uploads, the platform key).
    pub data_dir: PathBuf,
    /// Scan relay the phones reach.
    pub relay_url: Option<String>,
    /// `postgres://…` or `sqlite:…`; `None` = `DATA/platform.db`.
    pub database_url: Option<String>,
    /// A `bidseal phone init` world to seed from.
    pub demo_world: Option<PathBuf>,
    /// Password of the demo accounts.
    pub demo_password: String,
    /// With `demo_world`: bind each of the world's enterprise certificates to its company's
    /// account at start (as 扫码绑定 would), so scan login and sync work at once.
    pub demo_bind: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the browser a 扫码登录/绑定 QR was made
    /// for (`--trusted-proxy`); empty: the TCP peer is the browser.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A test clock movable forward by `POST /test/clock` (`--test-clock`; loopback only).
    pub test_clock: bool,
}

/// A platform that is serving.
pub struct RunningPlatform {
    /// `http://ADDR`.
    pub url: String,
    /// The shared state (tests and the CLI read the identity, the database).
    pub state: AppState,
    /// A staff password made at first start (no demo world), to show once.
    pub initial_staff_password: Option<String>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningPlatform {
    /// Stops accepting, finishes running requests, returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }

    /// Waits until the server stops by itself (it does not, short of an error).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// The whole app: `/api/v1/…` and the web pages (and `POST /test/clock` with a test clock).
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .nest(
            "/api/v1",
            crate::api::router().merge(crate::web::api_router(&state)),
        )
        .merge(crate::web::router());
    if state.clock.is_adjustable() {
        router = router.merge(crate::clock::http::router());
    }
    router
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// Starts the platform (see the module doc).
pub async fn serve(config: PlatformConfig) -> Result<RunningPlatform, PlatformError> {
    // A clock anyone can move stays on this machine: never a deployment's deadlines.
    let loopback = config
        .listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback());
    if config.test_clock && !loopback {
        return Err(PlatformError::Listen {
            addr: config.listen.clone(),
            why: "--test-clock 仅供测试，只能监听本机回环地址（如 127.0.0.1:0 或 [::1]:0）".into(),
        });
    }
    let data = &config.data_dir;
    for sub in ["", "uploads", "bids", "tmp", "trust"] {
        let dir = data.join(sub);
        std::fs::create_dir_all(&dir).map_err(|e| PlatformError::io(&dir, e))?;
    }
    let world_pki = config.demo_world.as_ref().map(|w| w.join("pki"));
    let identity = PlatformIdentity::load_or_create(&data.join("pki"), world_pki.as_deref())?;
    let db = Db::open(config.database_url.as_deref(), data).await?;
    let mut trusted = Vec::new();
    if let Some(world) = &config.demo_world {
        trusted.extend(
            crate::demo::world_cas(world)?
                .into_iter()
                .map(|(_, c, _)| c),
        );
    }
    let trust_dir = data.join("trust");
    if let Ok(entries) = std::fs::read_dir(&trust_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) == Some("pem") {
                let bytes = std::fs::read(&path).map_err(|e| PlatformError::io(&path, e))?;
                let cert = bidseal_cms::cert::Certificate::from_pem(&bytes)
                    .map_err(|e| PlatformError::io(&path, e))?;
                trusted.push(cert);
            }
        }
    }
    let web = crate::web::WebServices::new(
        config.relay_url.as_deref(),
        &trusted,
        &db,
        &config.trusted_proxies,
    );
    crate::web::services::DbScanJournal(db.clone())
        .interrupt_unfinished(Clock::system().now_unix())
        .await?;
    let state = AppState {
        db,
        identity: Arc::new(identity),
        trusted_cas: Arc::new(trusted),
        relay_url: config.relay_url.clone(),
        data_dir: Arc::new(data.clone()),
        clock: if config.test_clock {
            Clock::adjustable()
        } else {
            Clock::system()
        },
        login_throttle: Arc::new(LoginThrottle::default()),
        web,
        upload_locks: Arc::new(crate::bids::UploadLocks::default()),
        min_free_bytes: crate::bids::DEFAULT_MIN_FREE_BYTES,
    };
    if let Some(world) = &config.demo_world {
        crate::demo::seed(&state, world, &config.demo_password).await?;
        if config.demo_bind {
            crate::demo::bind_world(&state, world).await?;
        }
    } else if config.demo_bind {
        return Err(PlatformError::DemoWorld {
            path: String::new(),
            why: "--demo-bind 需要同时给出 --demo-world".into(),
        });
    }
    let initial_staff_password = ensure_staff(&state).await?;
    let _ = state
        .db
        .purge_expired_sessions(state.clock.now_unix())
        .await;
    crate::web::staff::resume_openings(&state).await?;

    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| PlatformError::Listen {
            addr: config.listen.clone(),
            why: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| PlatformError::Listen {
        addr: config.listen.clone(),
        why: e.to_string(),
    })?;

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // With each connection's peer address: the requester a scan QR names to the phone.
    let router = app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            eprintln!("platform: server stopped: {e}");
        }
    });
    Ok(RunningPlatform {
        url: format!("http://{addr}"),
        state,
        initial_staff_password,
        shutdown: tx,
        task,
    })
}

/// Makes the staff account `staff` with a random password when there is no staff at all.
async fn ensure_staff(state: &AppState) -> Result<Option<String>, PlatformError> {
    if state.db.has_staff().await? {
        return Ok(None);
    }
    let password = new_token()[..16].to_string();
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| PlatformError::Identity(e.to_string()))?
        .map_err(|e| PlatformError::Identity(e.message))?;
    state
        .db
        .create_account(
            crate::demo::DEMO_STAFF_LOGIN,
            Role::Staff,
            None,
            "平台工作人员",
            &hash,
            state.clock.now_unix(),
        )
        .await?;
    Ok(Some(password))
}
