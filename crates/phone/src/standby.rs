//! 手机待命 (standby) for 不见面开标: the phone logs in to the trading platform by scan (the
//! platform is the initiator of an `auth` scan, `POST /api/v1/scan-login`), then long-polls
//! `GET /api/v1/opening/push` with that session and joins each pushed `decrypt` scan exactly as
//! if the user had scanned its QR at the hall ([`crate::scan_loop::run_scan`]): the same
//! request display, PIN confirmation, tender and opening-time checks, co-signing.
//!
//! Guarantees: only `decrypt` payloads are joined (a pushed `sign`, `generate` or `auth` is
//! refused without contacting the relay); each push is handled once; the platform session is
//! the bearer token of this device's own scan login, never stored on disk. Does not: decide
//! anything about the decryption itself (the simulator's decrypt path does), or retry a push
//! that failed (the platform's board shows the failure). Protocol:
//! docs/platform-remote-opening.md.

use crate::scan_loop::{run_scan, PhoneBehaviour, ScanSummary};
use crate::simulator::PhoneSimulator;
use bidseal_scan::{OperationKind, QrPayload};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use thiserror::Error;
use zeroize::Zeroizing;

/// Longest single long poll (the platform caps it at 25 s).
const POLL_SECS: u64 = 25;

/// How the standby runs.
#[derive(Debug, Clone)]
pub struct StandbyOptions {
    /// Platform base URL (`http://127.0.0.1:PORT`).
    pub platform: String,
    /// Device name shown to the platform.
    pub device: String,
    /// Stop after this many pushed requests (0: never).
    pub count: usize,
    /// Stop after this long without a push.
    pub idle: Duration,
}

/// One pushed request and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct HandledPush {
    /// Tender id on the platform.
    pub tender: String,
    /// Bid id on the platform.
    pub bid: String,
    /// Project as the platform named it.
    pub project: String,
    /// The scan, when it was joined.
    pub scan: Option<ScanSummary>,
    /// Why it was not carried out, zh-CN.
    pub error: Option<String>,
}

/// What the standby did (printed as JSON by the CLI).
#[derive(Debug, Clone, Serialize)]
pub struct StandbySummary {
    /// The company the platform logged this phone in as.
    pub company: Option<serde_json::Value>,
    /// Every push, in order.
    pub handled: Vec<HandledPush>,
    /// `count` (the requested number was handled) or `idle`.
    pub ended: &'static str,
}

/// Why the standby stopped early.
#[derive(Debug, Error)]
pub enum StandbyError {
    /// The platform could not be reached or answered garbage.
    #[error("[E_STANDBY_PLATFORM] 无法连接交易平台 {platform}：{detail}，请检查地址与网络")]
    Platform {
        /// Base URL.
        platform: String,
        /// What failed.
        detail: String,
    },
    /// The platform refused the request.
    #[error("[{code}] 交易平台拒绝：{message}")]
    Refused {
        /// The platform's code.
        code: String,
        /// The platform's message.
        message: String,
    },
    /// The scan login did not end logged in.
    #[error("[{code}] 扫码登录未成功：{reason}")]
    LoginFailed {
        /// Code from the platform.
        code: String,
        /// Reason from the platform.
        reason: String,
    },
    /// The login scan itself failed on the phone.
    #[error("{0}")]
    Scan(#[from] crate::scan_loop::PhoneScanError),
}

#[derive(Deserialize)]
struct Started {
    id: String,
    qr: String,
}

#[derive(Deserialize)]
struct LoginStatus {
    state: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    company: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Push {
    tender: String,
    bid: String,
    #[serde(default)]
    project: String,
    qr: String,
}

#[derive(Deserialize)]
struct Pushes {
    requests: Vec<Push>,
}

#[derive(Deserialize)]
struct PlatformError {
    code: String,
    message: String,
}

struct Platform {
    base: String,
    http: reqwest::Client,
}

impl Platform {
    fn new(base: &str) -> Result<Self, StandbyError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(StandbyError::Platform {
                platform: base,
                detail: "地址须以 http:// 或 https:// 开头".into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(POLL_SECS + 15))
            .build()
            .map_err(|e| StandbyError::Platform {
                platform: base.clone(),
                detail: e.to_string(),
            })?;
        Ok(Platform { base, http })
    }

    fn failed(&self, detail: impl ToString) -> StandbyError {
        StandbyError::Platform {
            platform: self.base.clone(),
            detail: detail.to_string(),
        }
    }

    async fn json<T: for<'de> Deserialize<'de>>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, StandbyError> {
        let response = request.send().await.map_err(|e| self.failed(e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.failed(e))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<PlatformError>(&body) {
                Ok(e) => StandbyError::Refused {
                    code: e.code,
                    message: e.message,
                },
                Err(_) => self.failed(format!("HTTP {status}")),
            });
        }
        serde_json::from_slice(&body).map_err(|e| self.failed(format!("应答不是预期的 JSON：{e}")))
    }
}

/// Logs in by scan with `login` (the user confirms the login), then handles pushed decrypt
/// requests with `opening` (its user decides each one) until `count` or `idle`.
pub async fn run_standby(
    options: &StandbyOptions,
    login: &PhoneSimulator,
    opening: &PhoneSimulator,
    prompt: &mut (dyn FnMut(&str) + Send),
) -> Result<StandbySummary, StandbyError> {
    let platform = Platform::new(&options.platform)?;
    prompt(&format!("待命：扫码登录交易平台 {}", platform.base));
    let started: Started = platform
        .json(
            platform
                .http
                .post(format!("{}/api/v1/scan-login", platform.base))
                .json(&serde_json::json!({"purpose": "login"})),
        )
        .await?;
    run_scan(
        &started.qr,
        login,
        &options.device,
        PhoneBehaviour::Normal,
        prompt,
    )
    .await?;
    let status = login_result(&platform, &started.id).await?;
    let token = Zeroizing::new(status.token.unwrap_or_default());
    if status.state != "done" || token.is_empty() {
        return Err(StandbyError::LoginFailed {
            code: status.code.unwrap_or_else(|| status.state.clone()),
            reason: status.reason.unwrap_or_else(|| "平台未给出会话".into()),
        });
    }
    prompt("已登录，等待开标解密请求…");
    let mut summary = StandbySummary {
        company: status.company,
        handled: Vec::new(),
        ended: "idle",
    };
    let mut last_push = Instant::now();
    loop {
        if options.count > 0 && summary.handled.len() >= options.count {
            summary.ended = "count";
            break;
        }
        let left = options.idle.saturating_sub(last_push.elapsed());
        if left.is_zero() {
            break;
        }
        let wait = left.as_secs().clamp(1, POLL_SECS);
        let pushes: Pushes = platform
            .json(
                platform
                    .http
                    .get(format!("{}/api/v1/opening/push?wait={wait}", platform.base))
                    .bearer_auth(token.as_str()),
            )
            .await?;
        for push in pushes.requests {
            last_push = Instant::now();
            summary
                .handled
                .push(handle(&push, opening, options, prompt).await);
        }
    }
    Ok(summary)
}

async fn login_result(platform: &Platform, id: &str) -> Result<LoginStatus, StandbyError> {
    for _ in 0..4 {
        let status: LoginStatus = platform
            .json(
                platform
                    .http
                    .get(format!("{}/api/v1/scan-login/{id}", platform.base)),
            )
            .await?;
        if matches!(status.state.as_str(), "done" | "rejected" | "expired") {
            return Ok(status);
        }
    }
    Err(platform.failed("扫码登录迟迟没有结果"))
}

async fn handle(
    push: &Push,
    phone: &PhoneSimulator,
    options: &StandbyOptions,
    prompt: &mut (dyn FnMut(&str) + Send),
) -> HandledPush {
    let mut handled = HandledPush {
        tender: push.tender.clone(),
        bid: push.bid.clone(),
        project: push.project.clone(),
        scan: None,
        error: None,
    };
    match QrPayload::parse(push.qr.trim()) {
        Ok(p) if p.op == OperationKind::Decrypt => {}
        Ok(p) => {
            handled.error = Some(format!(
                "待命只接受开标解密请求，已拒绝推送的“{}”请求",
                p.op.name_zh()
            ));
            prompt(handled.error.as_deref().unwrap_or_default());
            return handled;
        }
        Err(e) => {
            handled.error = Some(format!("推送的请求无法识别：{e}"));
            return handled;
        }
    }
    prompt(&format!(
        "收到开标解密请求：{}（投标 {}）",
        push.project, push.bid
    ));
    match run_scan(
        &push.qr,
        phone,
        &options.device,
        PhoneBehaviour::Normal,
        prompt,
    )
    .await
    {
        Ok(scan) => handled.scan = Some(scan),
        Err(e) => handled.error = Some(e.to_string()),
    }
    handled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosign::client::CosignClient;
    use crate::keystore::Keystore;
    use crate::simulator::{PhoneUser, UserDecision};
    use bidseal_scan::DesktopOffer;

    fn phone(dir: &std::path::Path) -> PhoneSimulator {
        crate::provision::pooled_test_world(dir).expect("world");
        let keystore = Keystore::load(&dir.join("phone")).expect("keystore");
        // Nothing may be contacted: the co-signing service and relay addresses are dead.
        let cosign = CosignClient::new("http://127.0.0.1:9").expect("client");
        let user = PhoneUser {
            pin: "123456".to_string().into(),
            decision: UserDecision::Confirm,
            auto_confirm: false,
            cert: None,
            colleagues: Vec::new(),
        };
        PhoneSimulator::new(keystore, cosign, user)
    }

    fn push(op: OperationKind) -> Push {
        let offer = DesktopOffer::new(
            "http://127.0.0.1:9",
            op,
            Duration::from_secs(60),
            bidseal_scan::unix_now(),
        )
        .expect("offer");
        Push {
            tender: "T1".into(),
            bid: "B1".into(),
            project: "P".into(),
            qr: offer.payload().to_url(),
        }
    }

    #[tokio::test]
    async fn a_pushed_sign_generate_or_auth_is_refused_without_joining() {
        let dir = tempfile::tempdir().expect("tmp");
        let phone = phone(dir.path());
        let options = StandbyOptions {
            platform: "http://127.0.0.1:9".into(),
            device: "test".into(),
            count: 1,
            idle: Duration::from_secs(1),
        };
        for op in [
            OperationKind::Sign,
            OperationKind::Generate,
            OperationKind::Auth,
        ] {
            let mut lines = Vec::new();
            let handled = handle(&push(op), &phone, &options, &mut |l: &str| {
                lines.push(l.to_string())
            })
            .await;
            assert!(handled.scan.is_none(), "{op:?} was joined");
            let error = handled.error.unwrap_or_default();
            assert!(error.contains("只接受开标解密请求"), "{op:?}: {error}");
        }
        // A decrypt push is joined (and fails here only because the relay is dead).
        let handled = handle(&push(OperationKind::Decrypt), &phone, &options, &mut |_| {}).await;
        let error = handled.error.unwrap_or_default();
        assert!(!error.contains("只接受开标解密请求"), "{error}");
        // Garbage is refused, not a panic.
        let mut bad = push(OperationKind::Decrypt);
        bad.qr = "bidseal://scan?garbage".into();
        let handled = handle(&bad, &phone, &options, &mut |_| {}).await;
        assert!(handled.error.unwrap_or_default().contains("无法识别"));
    }

    #[test]
    fn a_platform_address_must_be_http() {
        assert!(Platform::new("ftp://x").is_err());
        assert!(Platform::new("http://127.0.0.1:1/").is_ok());
    }
}
