//! The phone simulator and its co-signing service (the phone's back office).
//!
//! - [`provision`]: `bidseal phone init` — the test PKI ([`pki`], two CAs, enterprise /
//!   legal-person / personal / colleague / other-company certificates with valid unified
//!   social credit codes, [`uscc`]), seal images ([`seal_image`]), the phone keystore
//!   ([`keystore`], keys sealed by [`key_seal`]) and the service state.
//! - [`cosign`]: the co-signing service — certificate state (已禁用 / 注销 / expired /
//!   授权结束时间), wrong-PIN lockout, per-certificate usage log; releases a key share per
//!   operation only when everything checks out.
//! - [`simulator`] + [`scan_loop`] + [`camera`]: `bidseal phone scan` — read the QR (payload
//!   text or PNG), join the scan through the relay, show each request, confirm / reject, PIN,
//!   session mode with auto-confirm, colleague certificates for `generate`, the
//!   key-encryption key for `decrypt`; [`gates`]: what the phone checks before it uses a key
//!   (signed tender and opening time, PAdES / manifest attribute sets).
//!
//! - [`key_split`]: 2-of-2 threshold ECDSA / additive ECDH (DKLs23, `docs/key-split.md`) — the
//!   protocol wrapper, used by every flow; its DKG runs over the co-signing API (开通,
//!   [`provision::enrol_certificate`]), its refresh by [`restore`] (换机 on a new phone).
#![forbid(unsafe_code)]

pub mod camera;
pub mod cosign;
pub mod gates;
pub mod key_seal;
pub mod key_split;
pub mod keystore;
pub mod pki;
pub mod provision;
pub mod restore;
pub mod scan_loop;
pub mod seal_image;
pub mod simulator;
pub mod standby;
pub mod uscc;
