//! The scan protocol between the desktop and the phone.
//!
//! Owns: the QR payload ([`QrPayload`]), the end-to-end encrypted channel keyed from the QR
//! secret and both ephemeral keys ([`channel`]; the relay sees ciphertext only), the messages
//! of every operation ([`message`]: auth, sign, generate, decrypt, session mode), refusal
//! reasons ([`RefusalReason`]), the two ends as state machines ([`DesktopOffer`] →
//! [`DesktopSession`], [`PhoneSession`]), QR rendering ([`qr`]) and the async relay clients
//! ([`client`]: desktop `start_scan`, phone `join`). The wire format is in
//! `docs/scan-protocol.md`.
//!
//! ## Who calls what
//!
//! Desktop (workflow, CLI `bidseal scan`): [`client::start_scan`] → show
//! [`client::DesktopScan::payload`] as a QR ([`qr::render_png`] / [`qr::render_svg`]) → read
//! [`client::ScanEvent`]s until `Scanned` → [`client::DesktopScan::request`] → `Confirmed` /
//! `Rejected` → in session mode more `request`s → [`client::DesktopScan::end`].
//!
//! Phone (the simulator in `bidseal-phone`): [`QrPayload::parse`] (or decode a QR PNG) →
//! [`client::join`] → loop [`client::PhoneLink::next_request`] → show the
//! [`IncomingRequest`], ask for the PIN when `needs_confirmation`, compute the result
//! (bind `auth` signatures with [`AuthRequest::transcript_hash`] over
//! [`client::PhoneLink::binding`]) → [`client::PhoneLink::respond`] with
//! [`OperationOutcome::Confirmed`] (optionally a [`SessionGrant`]) or
//! [`OperationOutcome::Refused`] with a [`RefusalReason`] → [`client::PhoneLink::end`].
//!
//! Does not: verify certificates or signatures (bidseal-cms), hold keys (bidseal-phone), or
//! serve the relay (bidseal-relay).

pub mod answer;
pub mod channel;
pub mod client;
pub mod error;
pub mod message;
pub mod payload;
pub mod qr;
pub mod refusal;
pub mod session;
pub mod wire;

pub use channel::SessionBinding;
pub use error::ScanError;
pub use message::*;
pub use payload::{EphemeralKey, OperationKind, QrPayload, QrSecret, SessionId};
pub use refusal::RefusalReason;
pub use session::{
    DesktopEvent, DesktopOffer, DesktopSession, IncomingRequest, PendingRequest, PhoneEvent,
    PhoneSession, RefusedHello,
};

/// Fills `buf` from the operating system's random source.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), ScanError> {
    use rand_core::RngCore;
    rand_core::OsRng
        .try_fill_bytes(buf)
        .map_err(|e| ScanError::System {
            detail: e.to_string(),
        })
}

/// Current unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
