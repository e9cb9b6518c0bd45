//! The bid tool's side of the trading platform's REST API (`docs/platform-api.yaml`): login
//! (scan login through the platform's QR, or password for scripts), the session kept in the
//! project, and requests with retries.
//!
//! Retries: idempotent calls (GET, chunk PUT at an offset, completing an upload) are retried
//! on connection errors, time-outs and 502/503/504 with back-off 0.5 s, 1 s, 2 s, 4 s;
//! other calls are sent once.
//!
//! Guarantees: every failure is a [`PlatformClientError`] with a stable code and a zh-CN
//! message (offline, session expired, deadline passed, refused with the platform's own code);
//! the session token is kept in `PROJECT/work/platform-session.json` (mode 0600), never
//! printed. Does not: verify what the platform signs (see `library_sync`, `bid_upload`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// Where the session token is kept inside a project.
pub const SESSION_FILE: &str = "work/platform-session.json";
/// Back-off steps between attempts of an idempotent call.
pub const BACKOFF: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// Failures talking to the platform.
#[derive(Debug, thiserror::Error)]
pub enum PlatformClientError {
    /// Could not reach the platform (after retries).
    #[error("无法连接交易平台 {url}（{detail}），请检查网络或平台地址后重试")]
    Offline {
        /// Platform URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The session ended; log in again.
    #[error("登录已过期或已退出，请重新扫码登录交易平台")]
    SessionExpired,
    /// Password or scan login refused.
    #[error("登录失败：{0}")]
    LoginFailed(String),
    /// The bid deadline passed.
    #[error("{0}")]
    DeadlinePassed(String),
    /// The platform refused the request with its own code.
    #[error("交易平台拒绝（{code}）：{message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The platform's code.
        code: String,
        /// The platform's message.
        message: String,
    },
    /// Something the platform signed does not verify.
    #[error("交易平台签名无效：{0}。该内容已拒收，请联系平台核实")]
    BadSignature(String),
    /// The platform answered something we cannot read.
    #[error("交易平台应答无法识别（{0}），请确认平台地址与版本")]
    Protocol(String),
    /// Scan login did not finish (the phone refused, the QR expired, the certificate is not
    /// bound to an account…); `code` is the platform's (`PLATFORM_CERT_NOT_BOUND`, …).
    #[error("扫码登录未完成：{reason}")]
    ScanLogin {
        /// The platform's code, when it gave one.
        code: Option<String>,
        /// Why, zh-CN (what to do).
        reason: String,
    },
    /// Local files (session, store, receipts).
    #[error("本地文件读写失败：{0}")]
    Local(String),
}

impl PlatformClientError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PlatformClientError::Offline { .. } => "E_PLATFORM_OFFLINE",
            PlatformClientError::SessionExpired => "E_SESSION_EXPIRED",
            PlatformClientError::LoginFailed(_) => "E_LOGIN_FAILED",
            PlatformClientError::DeadlinePassed(_) => "E_DEADLINE_PASSED",
            PlatformClientError::Refused { .. } => "E_PLATFORM_REFUSED",
            PlatformClientError::BadSignature(_) => "E_PLATFORM_SIGNATURE",
            PlatformClientError::Protocol(_) => "E_PLATFORM_PROTOCOL",
            PlatformClientError::ScanLogin { .. } => "E_SCAN_LOGIN",
            PlatformClientError::Local(_) => "E_LOCAL_IO",
        }
    }

    /// The platform's own code, when it refused.
    pub fn platform_code(&self) -> Option<&str> {
        match self {
            PlatformClientError::Refused { code, .. } => Some(code),
            PlatformClientError::ScanLogin { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// An error body from the platform.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// A company as the platform names it.
pub use bidseal_bid::platform_docs::CompanyRef;

/// The session kept in the project.
#[derive(Serialize, Deserialize)]
struct StoredSession {
    platform: String,
    token: String,
    expires_at: i64,
    company: Option<CompanyRef>,
}

/// Whether a request may be sent again after a transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Safe to repeat (GET, PUT at an offset, idempotent POST).
    Idempotent,
    /// Send once.
    Once,
}

/// A client for one platform.
pub struct PlatformClient {
    base: String,
    http: reqwest::Client,
    token: Option<Zeroizing<String>>,
    /// The logged-in company, once known.
    pub company: Option<CompanyRef>,
    backoff: Vec<Duration>,
}

/// The `User-Agent` the bid tool sends: the product and the system it runs on, so that a
/// scan the platform starts for it names it on the phone (`BidSeal / Linux`; the platform
/// shows only names from its fixed list, see `bidseal_platform::scan::requester`).
pub fn user_agent() -> String {
    let system = match std::env::consts::OS {
        "windows" => "Windows NT",
        "macos" => "Mac OS X",
        "linux" => "Linux",
        other => other,
    };
    format!("BidSeal ({system}; desktop {})", env!("CARGO_PKG_VERSION"))
}

/// Scan-login start answer (agreed interface).
#[derive(Debug, Deserialize)]
pub struct ScanLoginStart {
    /// Session id.
    pub id: String,
    /// The QR payload.
    pub qr: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Scan-login state answer.
#[derive(Debug, Deserialize)]
pub struct ScanLoginState {
    /// waiting | scanned | done | rejected | expired.
    pub state: String,
    /// Why, for rejected/expired.
    #[serde(default)]
    pub reason: Option<String>,
    /// The platform's code, for rejected/expired (`PLATFORM_CERT_NOT_BOUND`, …).
    #[serde(default)]
    pub code: Option<String>,
    /// The phone's label, once scanned.
    #[serde(default)]
    pub device: Option<String>,
    /// The token, once, on done.
    #[serde(default)]
    pub token: Option<String>,
    /// The company, on done.
    #[serde(default)]
    pub company: Option<CompanyRef>,
}

#[derive(Debug, Deserialize)]
struct LoginAnswer {
    token: String,
    expires_at: i64,
    me: MeAnswer,
}

#[derive(Debug, Deserialize)]
struct MeAnswer {
    company: Option<CompanyRef>,
    expires_at: i64,
}

impl PlatformClient {
    /// A client for `base` (`http://host:port`, no trailing `/api/v1`).
    pub fn new(base: &str) -> Result<Self, PlatformClientError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(PlatformClientError::Protocol(format!(
                "平台地址“{base}”应以 http:// 或 https:// 开头"
            )));
        }
        let http = reqwest::Client::builder()
            .user_agent(user_agent())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| PlatformClientError::Protocol(e.to_string()))?;
        Ok(Self {
            base,
            http,
            token: None,
            company: None,
            backoff: BACKOFF.to_vec(),
        })
    }

    /// Shorter back-off (tests, benchmarks).
    pub fn with_backoff(mut self, steps: Vec<Duration>) -> Self {
        self.backoff = steps;
        self
    }

    /// The platform URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether a token is set.
    pub fn has_session(&self) -> bool {
        self.token.is_some()
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Sends a request built by `build` (again on retry), returns the response on 2xx and a
    /// typed error otherwise.
    pub async fn send(
        &self,
        retry: Retry,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PlatformClientError> {
        let attempts = match retry {
            Retry::Idempotent => self.backoff.len() + 1,
            Retry::Once => 1,
        };
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff[attempt - 1]).await;
            }
            let mut req = build(&self.http);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t.as_str());
            }
            match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) if matches!(resp.status().as_u16(), 502..=504) => {
                    last = format!("HTTP {}", resp.status());
                }
                Ok(resp) => return Err(Self::refusal(resp).await),
                Err(e) => last = transport_detail(&e),
            }
        }
        Err(PlatformClientError::Offline {
            url: self.base.clone(),
            detail: last,
        })
    }

    async fn refusal(resp: reqwest::Response) -> PlatformClientError {
        let status = resp.status().as_u16();
        let body: Option<ErrorBody> = resp.json().await.ok();
        let (code, message) = body
            .map(|b| (b.code, b.message))
            .unwrap_or_else(|| ("E_HTTP".into(), format!("HTTP {status}")));
        match code.as_str() {
            "E_SESSION_EXPIRED" | "E_AUTH_REQUIRED" => PlatformClientError::SessionExpired,
            "E_DEADLINE_PASSED" => PlatformClientError::DeadlinePassed(message),
            "E_LOGIN_FAILED" | "E_LOGIN_LOCKED" => PlatformClientError::LoginFailed(message),
            _ => PlatformClientError::Refused {
                status,
                code,
                message,
            },
        }
    }

    /// GET `path` as JSON (retried).
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, PlatformClientError> {
        let url = self.url(path);
        let resp = self.send(Retry::Idempotent, |c| c.get(&url)).await?;
        read_json(resp).await
    }

    /// GET `path` as bytes (retried), refused above `max` bytes (`E_TOO_LARGE`).
    pub async fn get_bytes(&self, path: &str, max: u64) -> Result<Vec<u8>, PlatformClientError> {
        let url = self.url(path);
        let mut resp = self.send(Retry::Idempotent, |c| c.get(&url)).await?;
        let too_large = || PlatformClientError::Refused {
            status: 0,
            code: "E_TOO_LARGE".into(),
            message: format!("平台返回的文件超过 {max} 字节，已停止下载"),
        };
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| PlatformClientError::Offline {
                url: self.base.clone(),
                detail: transport_detail(&e),
            })?
        {
            if out.len() as u64 + chunk.len() as u64 > max {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// POST a JSON body to `path`.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        retry: Retry,
    ) -> Result<T, PlatformClientError> {
        let url = self.url(path);
        let resp = self.send(retry, |c| c.post(&url).json(body)).await?;
        read_json(resp).await
    }

    /// PUT raw bytes to `path` (retried: the platform acknowledges a repeated chunk).
    pub async fn put_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<T, PlatformClientError> {
        let url = self.url(path);
        let resp = self
            .send(Retry::Idempotent, |c| {
                c.put(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.clone())
            })
            .await?;
        read_json(resp).await
    }

    /// DELETE `path`.
    pub async fn delete_json<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, PlatformClientError> {
        let url = self.url(path);
        let resp = self.send(Retry::Once, |c| c.delete(&url)).await?;
        read_json(resp).await
    }

    /// Password login (scripts; bidders use scan login).
    pub async fn login_password(
        &mut self,
        login: &str,
        password: &str,
    ) -> Result<(), PlatformClientError> {
        self.token = None;
        let body = serde_json::json!({ "login": login, "password": password });
        let answer: LoginAnswer = self.post_json("/login", &body, Retry::Once).await?;
        self.token = Some(Zeroizing::new(answer.token));
        self.company = answer.me.company;
        let _ = answer.expires_at;
        Ok(())
    }

    /// Starts a scan login (the platform's QR); `purpose` is `login` or `sync_integrity`
    /// (what the phone shows).
    pub async fn scan_login_start(
        &mut self,
        purpose: &str,
    ) -> Result<ScanLoginStart, PlatformClientError> {
        self.token = None;
        self.post_json(
            "/scan-login",
            &serde_json::json!({ "purpose": purpose }),
            Retry::Once,
        )
        .await
    }

    /// Waits (long polls, each returning when the state changes) until the scan login ends;
    /// sets the session on `done`. `on_state` sees every state change (`scanned`, ...).
    pub async fn scan_login_wait(
        &mut self,
        id: &str,
        on_state: &mut (dyn FnMut(&ScanLoginState) + Send),
    ) -> Result<(), PlatformClientError> {
        let mut seen = String::from("waiting");
        loop {
            let st: ScanLoginState = self
                .get_json(&format!("/scan-login/{id}?known={seen}&wait=25"))
                .await?;
            if st.state != seen {
                on_state(&st);
                seen = st.state.clone();
            }
            match st.state.as_str() {
                "done" => {
                    let token = st.token.ok_or_else(|| {
                        PlatformClientError::Protocol("扫码登录完成但平台未给出令牌".into())
                    })?;
                    self.token = Some(Zeroizing::new(token));
                    self.company = st.company;
                    return Ok(());
                }
                "rejected" | "expired" => {
                    let why = st.reason.unwrap_or_else(|| {
                        if st.state == "expired" {
                            "二维码已过期，请重新发起".into()
                        } else {
                            "手机端拒绝".into()
                        }
                    });
                    return Err(PlatformClientError::ScanLogin {
                        code: st.code,
                        reason: why,
                    });
                }
                "waiting" | "scanned" => {}
                other => {
                    return Err(PlatformClientError::Protocol(format!(
                        "未知的扫码登录状态“{other}”"
                    )))
                }
            }
        }
    }

    /// Who the session belongs to (checks the session is alive).
    pub async fn refresh_me(&mut self) -> Result<(), PlatformClientError> {
        let me: MeAnswer = self.get_json("/me").await?;
        self.company = me.company;
        let _ = me.expires_at;
        Ok(())
    }

    /// Loads a session saved in `project_dir` for this platform, if any and not expired.
    pub fn load_session(&mut self, project_dir: &Path, now: i64) -> bool {
        let Ok(bytes) = std::fs::read(project_dir.join(SESSION_FILE)) else {
            return false;
        };
        let Ok(s) = serde_json::from_slice::<StoredSession>(&bytes) else {
            return false;
        };
        if s.platform != self.base || s.expires_at <= now {
            return false;
        }
        self.token = Some(Zeroizing::new(s.token));
        self.company = s.company;
        true
    }

    /// Saves the session into `project_dir` (mode 0600).
    pub fn save_session(
        &self,
        project_dir: &Path,
        expires_at: i64,
    ) -> Result<(), PlatformClientError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let s = StoredSession {
            platform: self.base.clone(),
            token: token.to_string(),
            expires_at,
            company: self.company.clone(),
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&s).map_err(|e| PlatformClientError::Local(e.to_string()))?,
        );
        let path = session_path(project_dir);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| PlatformClientError::Local(e.to_string()))?;
        }
        bidseal_bid::fsio::write_atomic(&path, &json)
            .map_err(|e| PlatformClientError::Local(e.to_string()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(())
    }

    /// Forgets the saved session.
    pub fn forget_session(&mut self, project_dir: &Path) {
        self.token = None;
        let _ = std::fs::remove_file(session_path(project_dir));
    }
}

fn session_path(project_dir: &Path) -> PathBuf {
    project_dir.join(SESSION_FILE)
}

fn transport_detail(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "连接被拒绝或无法建立连接".into()
    } else if e.is_timeout() {
        "连接超时".into()
    } else {
        e.to_string()
    }
}

async fn read_json<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, PlatformClientError> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| PlatformClientError::Protocol(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| PlatformClientError::Protocol(e.to_string()))
}
