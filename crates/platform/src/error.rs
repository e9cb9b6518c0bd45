//! Errors of the platform: one enum for starting the server ([`PlatformError`]) and one for
//! answering a request ([`ApiError`]), each with a stable code and a zh-CN message that says
//! what to do.
//!
//! Guarantees: an [`ApiError`] becomes a JSON body `{"code","message"}` with a 4xx/5xx status;
//! internal causes (database, I/O) are logged on stderr and answered with a generic message,
//! never with their text. Does not: localise to other languages.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The database could not be opened or migrated.
    #[error("数据库无法打开或升级（{0}）：请检查 --database 地址与权限")]
    Database(String),
    /// A file under the data folder or the demo world.
    #[error("无法读写 {path}：{why}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        why: String,
    },
    /// The platform's signing identity.
    #[error("平台签名证书无效：{0}")]
    Identity(String),
    /// The demo world.
    #[error("演示环境 {path} 无效：{why}（应为 bidseal phone init 生成的文件夹）")]
    DemoWorld {
        /// The folder.
        path: String,
        /// The cause.
        why: String,
    },
    /// The listen address.
    #[error("无法监听 {addr}：{why}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        why: String,
    },
}

impl PlatformError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PlatformError::Database(_) => "PLATFORM_DB",
            PlatformError::Io { .. } => "PLATFORM_IO",
            PlatformError::Identity(_) => "PLATFORM_IDENTITY",
            PlatformError::DemoWorld { .. } => "PLATFORM_DEMO_WORLD",
            PlatformError::Listen { .. } => "PLATFORM_LISTEN",
        }
    }

    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        PlatformError::Io {
            path: path.display().to_string(),
            why: e.to_string(),
        }
    }
}

impl From<sqlx::Error> for PlatformError {
    fn from(e: sqlx::Error) -> Self {
        PlatformError::Database(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for PlatformError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        PlatformError::Database(e.to_string())
    }
}

/// An answer other than success: HTTP status, stable code, zh-CN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code (`E_AUTH_REQUIRED`, `E_DEADLINE_PASSED`, ...), documented in
    /// `docs/platform-api.yaml`.
    pub code: &'static str,
    /// What happened and what to do, zh-CN.
    pub message: String,
}

/// The JSON body of an error answer.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for a thing the caller may not see or that does not exist.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "E_NOT_FOUND",
            format!("{what}不存在或无权访问"),
        )
    }

    /// 401: no session or a session that ended.
    pub fn auth_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "E_AUTH_REQUIRED",
            "请先登录（账号密码或扫码登录）",
        )
    }

    /// 401: the session token expired or was logged out.
    pub fn session_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "E_SESSION_EXPIRED",
            "登录已过期或已退出，请重新登录",
        )
    }

    /// 403: logged in, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "E_FORBIDDEN", message)
    }

    /// 500 for a cause the caller cannot act on; the cause goes to the log only.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        eprintln!("platform: {context}: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "E_INTERNAL",
            "平台内部错误，请稍后重试；如持续出现请联系平台客服",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal("database", e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: &self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
