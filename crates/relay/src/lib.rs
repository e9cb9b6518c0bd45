//! The scan relay: an HTTP/WebSocket server that forwards ciphertext between a desktop and a
//! phone. It can neither read nor forge what passes through it. Embedded in the desktop by
//! default, standalone for a platform's deadline rush.
//!
//! Not built yet (issue #5): this crate is an empty shell.
