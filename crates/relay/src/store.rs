//! Where the relay keeps its sessions: the [`SessionStore`] trait and its in-memory backend.
//!
//! A session is: an id, an expiry (until a phone joins), and a mailbox per connected end.
//! The store routes a message to the other end's mailbox and tells an end when its peer
//! joins, leaves or the session expires.
//!
//! Guarantees (`MemoryStore`): one desktop creates a session with a commitment to the join
//! token; only a phone presenting that token joins it (a stranger who knows only the session
//! id is refused and does not use up the slot), at most one phone joins (single use), a pending session past its expiry can no longer be joined and is swept;
//! an entry is small (no buffers: the mailboxes are bounded channels owned by the connections).
//! Does not: persist anything or share state between relay instances. A Redis backend
//! (sessions as keys with TTL, mailboxes as pub/sub channels so ends may sit on different
//! instances) fits this trait but is not built yet.

use bidseal_scan::wire::{JoinCommitment, RelayEvent, Role};
use bidseal_scan::SessionId;
use std::collections::HashMap;
use std::sync::Mutex;
// futures' channel allocates per message, not a 32-slot block per channel: a pending
// session's idle mailbox costs ~100 bytes instead of ~1 KiB.
use futures_channel::mpsc;

/// What a connection's mailbox receives.
#[derive(Debug)]
pub enum Outbound {
    /// Ciphertext from the peer.
    Frame(Box<[u8]>),
    /// A transport event (boxed: keeps the mailbox's slots, allocated per session, small).
    Event(Box<RelayEvent>),
}

/// The sending side of a connection's mailbox.
pub type Mailbox = mpsc::Sender<Outbound>;

/// Why the store refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("会话编号已被使用")]
    Conflict,
    #[error("会话不存在或已结束")]
    Unknown,
    #[error("该会话已有手机加入")]
    Taken,
    #[error("未出示本会话的加入凭据")]
    NotAdmitted,
    #[error("会话已过期")]
    Expired,
    #[error("中继会话数已满")]
    Full,
    #[error("对方的接收队列已满")]
    Backpressure,
}

/// The relay's session registry.
pub trait SessionStore: Send + Sync + 'static {
    /// Creates a pending session owned by a desktop mailbox; expires at `expires_at` (unix s);
    /// only a phone presenting the token behind `commitment` may join.
    fn create(
        &self,
        id: SessionId,
        expires_at: u64,
        commitment: JoinCommitment,
        desktop: Mailbox,
    ) -> Result<(), StoreError>;
    /// Joins the phone at `now` if `token` (the header value it presented) matches the
    /// session's commitment; tells the desktop `PeerJoined`. A wrong or missing token is
    /// `NotAdmitted` and changes nothing.
    fn join(
        &self,
        id: SessionId,
        now: u64,
        token: Option<&str>,
        phone: Mailbox,
    ) -> Result<(), StoreError>;
    /// Delivers `msg` from `from` to the other end.
    fn deliver(&self, id: SessionId, from: Role, msg: Outbound) -> Result<(), StoreError>;
    /// An end left: the session is removed and the other end is told `event`.
    fn leave(&self, id: SessionId, from: Role, event: RelayEvent);
    /// Whether a phone has joined.
    fn is_joined(&self, id: SessionId) -> bool;
    /// Removes pending sessions past their expiry, telling their desktops `Expired`; returns
    /// how many.
    fn sweep(&self, now: u64) -> usize;
    /// Sessions held (pending and joined).
    fn len(&self) -> usize;
    /// Whether no session is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Entry {
    expires_at: u64,
    commitment: JoinCommitment,
    desktop: Mailbox,
    phone: Option<Mailbox>,
}

/// In-memory backend: one mutex-protected map (critical sections are a hash lookup and a
/// `try_send`).
pub struct MemoryStore {
    sessions: Mutex<HashMap<SessionId, Entry>>,
    max_sessions: usize,
}

impl MemoryStore {
    /// An empty store holding at most `max_sessions`.
    pub fn new(max_sessions: usize) -> Self {
        MemoryStore {
            sessions: Mutex::new(HashMap::new()),
            max_sessions,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
        // A panic while holding the lock cannot leave an entry half-written (every critical
        // section is a single insert/remove/get), so a poisoned lock is still consistent.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionStore for MemoryStore {
    fn create(
        &self,
        id: SessionId,
        expires_at: u64,
        commitment: JoinCommitment,
        desktop: Mailbox,
    ) -> Result<(), StoreError> {
        let mut map = self.map();
        if map.contains_key(&id) {
            return Err(StoreError::Conflict);
        }
        if map.len() >= self.max_sessions {
            return Err(StoreError::Full);
        }
        map.insert(
            id,
            Entry {
                expires_at,
                commitment,
                desktop,
                phone: None,
            },
        );
        Ok(())
    }

    fn join(
        &self,
        id: SessionId,
        now: u64,
        token: Option<&str>,
        phone: Mailbox,
    ) -> Result<(), StoreError> {
        let mut map = self.map();
        let entry = map.get_mut(&id).ok_or(StoreError::Unknown)?;
        // Admission first: without the token nobody learns whether the slot is free.
        if !token.is_some_and(|t| entry.commitment.admits(t)) {
            return Err(StoreError::NotAdmitted);
        }
        if entry.phone.is_some() {
            return Err(StoreError::Taken);
        }
        if now > entry.expires_at {
            return Err(StoreError::Expired);
        }
        entry.phone = Some(phone);
        let _ = entry
            .desktop
            .try_send(Outbound::Event(Box::new(RelayEvent::PeerJoined)));
        Ok(())
    }

    fn deliver(&self, id: SessionId, from: Role, msg: Outbound) -> Result<(), StoreError> {
        let mut map = self.map();
        let entry = map.get_mut(&id).ok_or(StoreError::Unknown)?;
        let to = match from {
            Role::Desktop => entry.phone.as_mut().ok_or(StoreError::Unknown)?,
            Role::Phone => &mut entry.desktop,
        };
        to.try_send(msg).map_err(|_| StoreError::Backpressure)
    }

    fn leave(&self, id: SessionId, from: Role, event: RelayEvent) {
        let entry = self.map().remove(&id);
        if let Some(entry) = entry {
            let other = match from {
                Role::Desktop => entry.phone,
                Role::Phone => Some(entry.desktop),
            };
            if let Some(mut other) = other {
                let _ = other.try_send(Outbound::Event(Box::new(event)));
            }
        }
    }

    fn is_joined(&self, id: SessionId) -> bool {
        self.map().get(&id).is_some_and(|e| e.phone.is_some())
    }

    fn sweep(&self, now: u64) -> usize {
        let mut map = self.map();
        let before = map.len();
        map.retain(|_, e| {
            let keep = e.phone.is_some() || now <= e.expires_at;
            if !keep {
                let _ = e
                    .desktop
                    .try_send(Outbound::Event(Box::new(RelayEvent::Expired)));
            }
            keep
        });
        before - map.len()
    }

    fn len(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn mailbox() -> (Mailbox, mpsc::Receiver<Outbound>) {
        mpsc::channel(4)
    }

    /// The token (header value) and commitment of session `id` under a QR secret of `s`.
    fn admission(id: SessionId, s: u8) -> (String, JoinCommitment) {
        let secret = bidseal_scan::QrSecret::from_bytes([s; 16]);
        let token = bidseal_scan::wire::JoinToken::derive(&secret, &id).unwrap();
        (token.to_base64(), token.commitment())
    }

    #[tokio::test]
    async fn one_desktop_one_phone_then_gone() {
        let store = MemoryStore::new(10);
        let id = SessionId([1; 16]);
        let (token, jc) = admission(id, 7);
        let (d, mut d_rx) = mailbox();
        store.create(id, 100, jc, d).unwrap();
        let (d2, _) = mailbox();
        assert_eq!(store.create(id, 100, jc, d2), Err(StoreError::Conflict));
        let (p, mut p_rx) = mailbox();
        let t = Some(token.as_str());
        assert_eq!(store.join(id, 101, t, p.clone()), Err(StoreError::Expired));
        // A stranger (no token, another QR's token, a token of another session) is refused
        // and does not take the slot.
        let (other_qr, _) = admission(id, 8);
        let (other_sid, _) = admission(SessionId([2; 16]), 7);
        for bad in [
            None,
            Some(""),
            Some("AAAA"),
            Some(other_qr.as_str()),
            Some(other_sid.as_str()),
        ] {
            let (s, _) = mailbox();
            assert_eq!(store.join(id, 50, bad, s), Err(StoreError::NotAdmitted));
        }
        assert!(!store.is_joined(id));
        store.join(id, 50, t, p.clone()).unwrap();
        assert_eq!(store.join(id, 50, t, p), Err(StoreError::Taken));
        assert!(
            matches!(d_rx.next().await, Some(Outbound::Event(e)) if *e == RelayEvent::PeerJoined)
        );
        store
            .deliver(id, Role::Desktop, Outbound::Frame(vec![1].into()))
            .unwrap();
        assert!(matches!(p_rx.next().await, Some(Outbound::Frame(f)) if *f == [1]));
        store.leave(id, Role::Phone, RelayEvent::PeerLeft);
        assert!(
            matches!(d_rx.next().await, Some(Outbound::Event(e)) if *e == RelayEvent::PeerLeft)
        );
        assert!(store.is_empty());
        assert_eq!(
            store.deliver(id, Role::Phone, Outbound::Frame(vec![].into())),
            Err(StoreError::Unknown)
        );
    }

    #[tokio::test]
    async fn sweep_expires_pending_sessions_only_and_capacity_is_enforced() {
        let store = MemoryStore::new(2);
        let (a, mut a_rx) = mailbox();
        let (b, _b_rx) = mailbox();
        let (_, jc1) = admission(SessionId([1; 16]), 1);
        let (t2, jc2) = admission(SessionId([2; 16]), 1);
        store.create(SessionId([1; 16]), 10, jc1, a).unwrap();
        store.create(SessionId([2; 16]), 10, jc2, b).unwrap();
        let (c, _) = mailbox();
        assert_eq!(
            store.create(SessionId([3; 16]), 10, jc1, c),
            Err(StoreError::Full)
        );
        let (p, _p_rx) = mailbox();
        store.join(SessionId([2; 16]), 5, Some(&t2), p).unwrap();
        assert_eq!(store.sweep(11), 1);
        assert!(matches!(a_rx.next().await, Some(Outbound::Event(e)) if *e == RelayEvent::Expired));
        assert!(store.is_joined(SessionId([2; 16])));
        assert_eq!(store.len(), 1);
    }
}
