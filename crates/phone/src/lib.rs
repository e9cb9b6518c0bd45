//! The phone simulator and its co-signing service (the phone's back office).
//!
//! Owns: a keystore of test certificates from several CAs with their seal images and PIN,
//! confirm/reject dialogs, session mode with auto-confirm, colleague-certificate selection,
//! and the service side: certificate state (disabled, revoked, expired authorisation), wrong-PIN
//! lockout and the per-certificate usage log.
//!
//! Not built yet (issue #5): this crate is an empty shell.
