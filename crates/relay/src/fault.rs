//! Fault injection: a relay that misbehaves on purpose, for tests of the end-to-end channel.
//!
//! A [`FrameFault`] sees every binary frame the relay is about to forward and decides what a
//! malicious or broken relay would do with it: forward it changed, drop it, delay it, or hold
//! it back and release it after the next one (reordering), or inject frames of its own. The ends must detect every such
//! fault (`scan.tampered`, `scan.out_of_order`, `scan.expired`, `scan.phone_timeout`).
//!
//! Only tests set a fault (`RelayConfig::fault`); the `bidseal relay` command never does.

use bidseal_scan::wire::Role;
use bidseal_scan::SessionId;
use std::time::Duration;

/// What to do with one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Forward these bytes (unchanged or not).
    Forward(Vec<u8>),
    /// Forward these frames in this order (inject frames of one's own before or after).
    ForwardAll(Vec<Vec<u8>>),
    /// Forward nothing.
    Drop,
    /// Forward after a delay.
    Delay(Duration, Vec<u8>),
    /// Hold back; release after the next frame in the same direction (swaps the two).
    HoldForReorder(Vec<u8>),
}

/// A misbehaving relay's policy. `index` counts frames from `from` within the session, from 0.
pub trait FrameFault: Send + Sync + 'static {
    fn on_frame(&self, session: SessionId, from: Role, index: u64, frame: Vec<u8>) -> FaultAction;
}
