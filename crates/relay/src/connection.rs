//! One WebSocket end of a session: forwards its binary frames to the peer's mailbox and its
//! mailbox to the socket, enforcing the relay's limits and clocks.
//!
//! Guarantees: a frame over the size limit, a text frame, a burst over the rate limit or a
//! session over its byte budget ends the session with a typed `error` event to both ends;
//! the desktop gets `expired` when nobody joins in time; an idle or too-old session and a
//! relay shutdown end with `relay.idle` / `relay.shutdown`. Never looks inside frames.

use crate::fault::FaultAction;
use crate::store::Outbound;
use crate::Shared;
use axum::extract::ws::{Message, WebSocket};
use bidseal_scan::wire::{self, RelayEvent, Role};
use bidseal_scan::SessionId;
use futures_channel::mpsc;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

pub(crate) fn log(shared: &Shared, sid: SessionId, role: Role, what: &str) {
    if shared.config.log {
        let short: String = sid.to_base64().chars().take(6).collect();
        eprintln!("relay: session {short}… {role:?} {what}");
    }
}

/// The frames a delay fault holds back from one end, delivered in the order they came, each
/// not before its time, by one task; a departure of that end queued behind them is reported
/// to the other end only after them, as a network keeps the order of what was sent.
struct DelayedFrames(tokio::sync::mpsc::UnboundedSender<(Instant, Option<Box<[u8]>>)>);

impl DelayedFrames {
    fn start(shared: &Arc<Shared>, sid: SessionId, role: Role) -> DelayedFrames {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Option<Box<[u8]>>)>();
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Some((at, frame)) = rx.recv().await {
                sleep_until(at).await;
                match frame {
                    Some(b) => {
                        let _ = shared.store.deliver(sid, role, Outbound::Frame(b));
                    }
                    None => {
                        shared.store.leave(sid, role, RelayEvent::PeerLeft);
                        return;
                    }
                }
            }
        });
        DelayedFrames(tx)
    }
}

/// `role` left: the other end is told after the frames still held back from `role`, at once
/// when there are none.
fn leave_after(shared: &Shared, sid: SessionId, role: Role, delayed: &Option<DelayedFrames>) {
    let queued = delayed
        .as_ref()
        .is_some_and(|d| d.0.send((Instant::now(), None)).is_ok());
    if !queued {
        shared.store.leave(sid, role, RelayEvent::PeerLeft);
    }
}

/// Token bucket of frames per second.
struct RateLimit {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl RateLimit {
    fn new(per_second: u32, burst: u32) -> Self {
        RateLimit {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            last: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn event_text(event: &RelayEvent) -> Message {
    let text = serde_json::to_string(event).unwrap_or_else(|_| "{\"event\":\"error\"}".into());
    Message::Text(text.into())
}

fn error_event(code: &str, message: &str) -> RelayEvent {
    RelayEvent::Error {
        code: code.into(),
        message: message.into(),
    }
}

/// Ends this connection with `event` to this end, and `peer_event` to the other end.
async fn end(
    shared: &Shared,
    socket: &mut WebSocket,
    sid: SessionId,
    role: Role,
    event: RelayEvent,
    peer_event: RelayEvent,
) {
    shared.store.leave(sid, role, peer_event);
    let _ = socket.send(event_text(&event)).await;
    let _ = socket.send(Message::Close(None)).await;
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    sid: SessionId,
    role: Role,
    mut socket: WebSocket,
    mut mailbox: mpsc::Receiver<Outbound>,
    expires_at: Option<u64>,
) {
    let cfg = &shared.config;
    let started = Instant::now();
    let mut joined = role == Role::Phone;
    let expiry = expires_at.map(|x| {
        Instant::now()
            + Duration::from_secs(x.saturating_sub(bidseal_scan::unix_now()))
            + Duration::from_millis(500)
    });
    if let Some(x) = expires_at {
        if socket
            .send(event_text(&RelayEvent::Waiting { expires_at: x }))
            .await
            .is_err()
        {
            shared.store.leave(sid, role, RelayEvent::PeerLeft);
            return;
        }
    }
    let mut rate = RateLimit::new(cfg.frames_per_second, cfg.burst_frames);
    let mut sent_bytes: u64 = 0;
    let mut index: u64 = 0;
    let mut held: Option<Vec<u8>> = None;
    // Frames a delay fault holds back (started at the first such frame).
    let mut delayed: Option<DelayedFrames> = None;
    let mut last_activity = Instant::now();
    let mut shutdown = shared.shutdown.clone();
    loop {
        let deadline = match (joined, expiry) {
            (false, Some(x)) => x,
            _ => (last_activity + cfg.idle_timeout).min(started + cfg.max_lifetime),
        };
        tokio::select! {
            incoming = socket.recv() => {
                let msg = match incoming {
                    Some(Ok(m)) => m,
                    Some(Err(_)) => {
                        // A broken connection, or a frame beyond the socket limit (twice the
                        // frame limit; frames between the two limits get `relay.too_large`).
                        leave_after(&shared, sid, role, &delayed);
                        log(&shared, sid, role, "socket error");
                        return;
                    }
                    None => {
                        leave_after(&shared, sid, role, &delayed);
                        log(&shared, sid, role, "left");
                        return;
                    }
                };
                match msg {
                    Message::Binary(frame) => {
                        last_activity = Instant::now();
                        if frame.len() > cfg.max_frame_bytes {
                            let e = error_event(wire::RELAY_TOO_LARGE, &format!("单条消息超过 {} 字节", cfg.max_frame_bytes));
                            end(&shared, &mut socket, sid, role, e.clone(), e).await;
                            log(&shared, sid, role, "too large");
                            return;
                        }
                        sent_bytes = sent_bytes.saturating_add(frame.len() as u64);
                        if !rate.allow() || sent_bytes > cfg.max_session_bytes {
                            let e = error_event(wire::RELAY_RATE_LIMITED, "消息过于频繁或总量超限");
                            end(&shared, &mut socket, sid, role, e.clone(), e).await;
                            log(&shared, sid, role, "rate limited");
                            return;
                        }
                        if !joined {
                            let e = error_event(wire::RELAY_BAD_FRAME, "手机尚未加入，不能发送消息");
                            end(&shared, &mut socket, sid, role, e.clone(), e).await;
                            return;
                        }
                        let action = match &cfg.fault {
                            Some(f) => f.on_frame(sid, role, index, frame.to_vec()),
                            None => FaultAction::Forward(frame.to_vec()),
                        };
                        index += 1;
                        let mut outgoing = Vec::with_capacity(2);
                        match action {
                            FaultAction::Forward(b) => outgoing.push(b),
                            FaultAction::ForwardAll(frames) => outgoing.extend(frames),
                            FaultAction::Drop => {}
                            FaultAction::HoldForReorder(b) => held = Some(b),
                            FaultAction::Delay(d, b) => {
                                let queue = delayed.get_or_insert_with(|| DelayedFrames::start(&shared, sid, role));
                                let _ = queue.0.send((Instant::now() + d, Some(b.into_boxed_slice())));
                            }
                        }
                        if !outgoing.is_empty() {
                            if let Some(h) = held.take() {
                                outgoing.push(h);
                            }
                        }
                        for b in outgoing {
                            if shared.store.deliver(sid, role, Outbound::Frame(b.into_boxed_slice())).is_err() {
                                let e = error_event(wire::RELAY_RATE_LIMITED, "对方接收过慢或已离开");
                                end(&shared, &mut socket, sid, role, e.clone(), e).await;
                                return;
                            }
                        }
                    }
                    Message::Text(_) => {
                        let e = error_event(wire::RELAY_BAD_FRAME, "中继只转发二进制消息");
                        end(&shared, &mut socket, sid, role, e.clone(), e).await;
                        log(&shared, sid, role, "text frame refused");
                        return;
                    }
                    Message::Close(_) => {
                        leave_after(&shared, sid, role, &delayed);
                        log(&shared, sid, role, "closed");
                        return;
                    }
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            out = mailbox.next() => {
                match out {
                    Some(Outbound::Frame(b)) => {
                        if socket.send(Message::Binary(b.into_vec().into())).await.is_err() {
                            leave_after(&shared, sid, role, &delayed);
                            return;
                        }
                    }
                    Some(Outbound::Event(ev)) => {
                        let ev = *ev;
                        let last = !matches!(ev, RelayEvent::PeerJoined | RelayEvent::Waiting { .. });
                        if ev == RelayEvent::PeerJoined {
                            joined = true;
                            last_activity = Instant::now();
                        }
                        let _ = socket.send(event_text(&ev)).await;
                        if last {
                            let _ = socket.send(Message::Close(None)).await;
                            return;
                        }
                    }
                    None => {
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                }
            }
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                let e = error_event(wire::RELAY_SHUTDOWN, "中继服务已停止");
                end(&shared, &mut socket, sid, role, e.clone(), e).await;
                return;
            }
            _ = sleep_until(deadline) => {
                if !joined && !shared.store.is_joined(sid) {
                    end(&shared, &mut socket, sid, role, RelayEvent::Expired, RelayEvent::Expired).await;
                    log(&shared, sid, role, "expired");
                    return;
                }
                if joined {
                    let e = error_event(wire::RELAY_IDLE, "会话空闲过久或超过最长时限");
                    end(&shared, &mut socket, sid, role, e.clone(), e).await;
                    log(&shared, sid, role, "idle");
                    return;
                }
                // Joined while the timer fired: the PeerJoined event is in the mailbox.
                joined = true;
            }
        }
    }
}

/// WebSocket echo for benchmarks: every binary or text message is sent back.
pub(crate) async fn echo(mut socket: WebSocket) {
    while let Some(Ok(msg)) = socket.recv().await {
        match msg {
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => {}
            data => {
                if socket.send(data).await.is_err() {
                    return;
                }
            }
        }
    }
}
