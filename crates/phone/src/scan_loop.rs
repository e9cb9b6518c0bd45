//! One scan on the phone, end to end: parse the QR payload, join the session at the relay
//! (`bidseal_scan::client::join`), answer every request with the [`PhoneSimulator`] until the
//! scan is done, the desktop ends the session, or the idle time-out passes.
//!
//! Guarantees: each request is answered exactly once (the protocol's `IncomingRequest` token is
//! consumed); a refusal from the co-signing service travels to the desktop as a typed
//! `RefusalReason`; the returned [`ScanSummary`] lists what was answered and how the scan
//! ended. With [`PhoneBehaviour::Silent`] the phone scans, reads the first request and then
//! never answers (the "phone that never answers" fault), until the desktop or relay gives up.

use crate::simulator::{describe, PhoneSimulator, ScanMemory};
use bidseal_scan::client::{join, PhoneOptions};
use bidseal_scan::{OperationOutcome, PhoneHello, QrPayload, ScanError, SessionEndReason};
use serde::Serialize;
use std::time::Duration;

/// How the phone behaves on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneBehaviour {
    /// Answers every request.
    Normal,
    /// Reads the first request and never answers.
    Silent,
}

/// One answered request.
#[derive(Debug, Clone, Serialize)]
pub struct AnsweredRequest {
    /// Request id within the session.
    pub id: u32,
    /// `confirmed` or `refused`.
    pub outcome: &'static str,
    /// Refusal code, if refused.
    pub code: Option<&'static str>,
    /// Whether the user was asked (false under auto-confirm).
    pub prompted: bool,
}

/// What happened during the scan (printed as JSON on stdout by the CLI).
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    /// Session id (base64url).
    pub session: String,
    /// Operation of the QR.
    pub operation: &'static str,
    /// Answers, in order.
    pub answered: Vec<AnsweredRequest>,
    /// How it ended: `completed`, `ended_by_desktop`, `idle_timeout`, `desktop_left`,
    /// `session_limit` (the session's request count or lifetime was used up).
    pub ended: &'static str,
}

/// Why the scan could not be carried out on the phone.
#[derive(Debug, thiserror::Error)]
pub enum PhoneScanError {
    /// Payload, relay or channel failure (zh-CN message from the protocol).
    #[error("[{code}] {0}", code = .0.code())]
    Scan(#[from] ScanError),
}

/// Runs one scan. `prompt` receives the lines the phone screen shows.
pub async fn run_scan(
    payload_text: &str,
    phone: &PhoneSimulator,
    device: &str,
    behaviour: PhoneBehaviour,
    prompt: &mut (dyn FnMut(&str) + Send),
) -> Result<ScanSummary, PhoneScanError> {
    let payload = QrPayload::parse(payload_text.trim())?;
    prompt(&format!(
        "扫描到二维码：{}，操作 {}",
        payload.redacted_url(),
        payload.op.name_zh()
    ));
    let hello = PhoneHello {
        device: device.to_string(),
        app: format!("BidSeal 手机模拟器 {}", env!("CARGO_PKG_VERSION")),
    };
    let mut link = join(
        &payload,
        &hello,
        PhoneOptions {
            first_request_timeout: Duration::from_secs(60),
        },
    )
    .await?;
    let mut summary = ScanSummary {
        session: payload.session.to_base64(),
        operation: payload.op.as_str(),
        answered: Vec::new(),
        ended: "completed",
    };
    let mut memory = ScanMemory::default();
    loop {
        let incoming = match link.next_request().await {
            Ok(Some(r)) => r,
            Ok(None) => {
                summary.ended = "ended_by_desktop";
                prompt("桌面端已结束会话");
                break;
            }
            Err(ScanError::IdleTimeout) => {
                summary.ended = "idle_timeout";
                prompt("会话空闲超时，已结束会话");
                break;
            }
            Err(ScanError::PeerLeft { .. }) => {
                summary.ended = "desktop_left";
                break;
            }
            // After a Generate the desktop may send a trial decryption; if it sends nothing,
            // the scan is simply over.
            Err(ScanError::PhoneTimeout) if !summary.answered.is_empty() => {
                summary.ended = "completed";
                break;
            }
            Err(e) => return Err(e.into()),
        };
        if behaviour == PhoneBehaviour::Silent {
            prompt(&format!(
                "（模拟无响应）收到请求但不作答：{}",
                describe(&incoming.request)
            ));
            // Hold the connection open without answering until the other side gives up.
            loop {
                match link.next_request().await {
                    Ok(Some(_)) => continue,
                    _ => {
                        summary.ended = "desktop_left";
                        return Ok(summary);
                    }
                }
            }
        }
        let id = incoming.id;
        let prompted = incoming.needs_confirmation;
        let outcome = phone
            .answer(&incoming, link.binding(), &mut memory, prompt)
            .await;
        let (label, code) = match &outcome {
            OperationOutcome::Confirmed { .. } => ("confirmed", None),
            OperationOutcome::Refused { reason } => ("refused", Some(reason.code())),
        };
        link.respond(incoming, outcome).await?;
        summary.answered.push(AnsweredRequest {
            id,
            outcome: label,
            code,
            prompted,
        });
        if !link.is_open() {
            break;
        }
        if let Some(g) = memory.grant() {
            if id >= g.max_requests || bidseal_scan::unix_now() > g.expires_at {
                prompt("会话签章次数已用完或已到期，手机结束会话");
                summary.ended = "session_limit";
                let _ = link.end(SessionEndReason::EndedByUser).await;
                return Ok(summary);
            }
        }
    }
    if summary.ended == "completed" && link.is_open() {
        let _ = link.end(SessionEndReason::Completed).await;
    } else {
        link.close().await;
    }
    Ok(summary)
}
