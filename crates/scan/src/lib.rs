//! The scan protocol between the desktop and the phone.
//!
//! Owns: the QR payload, the end-to-end encrypted channel keyed from the QR secret and both
//! ephemeral keys (the relay sees ciphertext only), the messages of every operation (auth,
//! sign, generate, decrypt, session mode) and the desktop-side relay client.
//!
//! Not built yet (issue #5): this crate is an empty shell.
