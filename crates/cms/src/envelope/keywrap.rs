//! AES-256 key wrap (RFC 3394, `id-aes256-wrap`): how the content-encryption key travels to
//! each recipient under the key-encryption key derived for that recipient.
//!
//! Guarantees: wrapping a 32-byte key gives 40 bytes; unwrapping checks RFC 3394's integrity
//! value, so a wrong key-encryption key or a changed byte is detected. The unwrapped key is
//! returned in a zeroizing buffer. Does not: support padding (RFC 5649) or other key sizes.

use aes_kw::KekAes256;
use zeroize::Zeroizing;

/// Length of the content-encryption key (AES-256).
pub const CEK_LEN: usize = 32;
/// Length of a wrapped AES-256 key (RFC 3394 adds one 8-byte block).
pub const WRAPPED_LEN: usize = CEK_LEN + 8;

/// Wraps the content-encryption key `cek` under `kek`.
pub fn wrap(kek: &[u8; 32], cek: &[u8; CEK_LEN]) -> [u8; WRAPPED_LEN] {
    let mut out = [0u8; WRAPPED_LEN];
    // A 32-byte input into a 40-byte buffer is exactly what RFC 3394 defines, so `wrap`
    // cannot fail here; keep the zeroed buffer rather than panic if it ever did.
    let wrapped = KekAes256::new(kek.into()).wrap(cek, &mut out);
    debug_assert!(
        wrapped.is_ok(),
        "RFC 3394 wrap of 32 bytes into 40 cannot fail"
    );
    out
}

/// Unwraps a wrapped content-encryption key; `None` when the integrity check fails or the
/// input has the wrong length.
pub fn unwrap(kek: &[u8; 32], wrapped: &[u8]) -> Option<Zeroizing<[u8; CEK_LEN]>> {
    if wrapped.len() != WRAPPED_LEN {
        return None;
    }
    let mut out = Zeroizing::new([0u8; CEK_LEN]);
    KekAes256::new(kek.into())
        .unwrap(wrapped, out.as_mut_slice())
        .ok()?;
    Some(out)
}
