//! Streaming AES-256-GCM (NIST SP 800-38D) for one message of any length, fed in pieces of
//! any size, with a 12-byte nonce and a 16-byte tag and no additional authenticated data —
//! exactly what CMS AuthEnvelopedData without `authAttrs` needs (RFC 5084).
//!
//! Built from AES-CTR (`ctr` 0.9 over `aes` 0.8, counter starting at J₀+1) and GHASH; both
//! pick AES-NI and CLMUL at run time. GHASH comes from `ghash` 0.6 (RustCrypto's next
//! generation, already in the tree through `lopdf`'s `aes` 0.9) rather than the 0.5 that
//! `aes-gcm` 0.10 uses: its CLMUL backend processes several blocks per reduction and measured
//! about 2.4 GB/s here against 0.66 GB/s, which decides whether sealing keeps up with openssl.
//! CTR and GHASH run over 16 KiB pieces in turn so the data stays in cache. Tests check the
//! output byte for byte against `aes-gcm`'s one-shot API for many split patterns.
//!
//! Guarantees: the keystream never repeats within a message (the length is capped at
//! [`MAX_PLAINTEXT_LEN`], GCM's limit); keys are zeroized on drop; the tag comparison is
//! constant-time. Does not: release plaintext only after the tag verified — the caller must
//! hold decrypted bytes back (the envelope reader writes them to a temporary file).

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::Aes256;
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// GCM nonce length used by this crate (the RFC 5084 default).
pub const NONCE_LEN: usize = 12;
/// GCM tag length (RFC 5084 `aes-ICVlen` 16).
pub const TAG_LEN: usize = 16;
/// GCM's plaintext limit: 2³² − 2 blocks of 16 bytes.
pub const MAX_PLAINTEXT_LEN: u64 = ((1u64 << 32) - 2) * 16;

type Block = [u8; 16];

/// Bytes run through CTR and then GHASH together, small enough to stay in the L1/L2 cache.
const CACHE_PIECE: usize = 16 * 1024;

/// One GCM encryption or decryption in progress.
pub struct GcmStream {
    ctr: ctr::Ctr32BE<Aes256>,
    ghash: GHash,
    tag_mask: Block,
    partial: Block,
    partial_len: usize,
    len: u64,
}

/// The message would exceed [`MAX_PLAINTEXT_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageTooLong;

impl GcmStream {
    /// Starts a message under `key` and `nonce`.
    pub fn new(key: &[u8; 32], nonce: &[u8; NONCE_LEN]) -> Self {
        let cipher = Aes256::new(key.into());
        let mut h = Block::default();
        cipher.encrypt_block((&mut h).into());
        let ghash = GHash::new(&ghash::Key::from(h));
        h.zeroize();
        let mut j0 = Block::default();
        j0[..NONCE_LEN].copy_from_slice(nonce);
        j0[15] = 1;
        let mut tag_mask = j0;
        cipher.encrypt_block((&mut tag_mask).into());
        let mut first_counter = j0;
        first_counter[15] = 2;
        let ctr = ctr::Ctr32BE::<Aes256>::new(key.into(), &first_counter.into());
        Self {
            ctr,
            ghash,
            tag_mask,
            partial: Block::default(),
            partial_len: 0,
            len: 0,
        }
    }

    fn count(&mut self, n: usize) -> Result<(), MessageTooLong> {
        let n = u64::try_from(n).map_err(|_| MessageTooLong)?;
        let len = self.len.checked_add(n).ok_or(MessageTooLong)?;
        if len > MAX_PLAINTEXT_LEN {
            return Err(MessageTooLong);
        }
        self.len = len;
        Ok(())
    }

    /// Encrypts `buf` in place (the next bytes of the message).
    pub fn encrypt(&mut self, buf: &mut [u8]) -> Result<(), MessageTooLong> {
        self.count(buf.len())?;
        // Both passes over a cache-sized piece before moving on.
        for piece in buf.chunks_mut(CACHE_PIECE) {
            self.ctr.apply_keystream(piece);
            self.absorb(piece);
        }
        Ok(())
    }

    /// Decrypts `buf` in place (the next bytes of the ciphertext).
    pub fn decrypt(&mut self, buf: &mut [u8]) -> Result<(), MessageTooLong> {
        self.count(buf.len())?;
        for piece in buf.chunks_mut(CACHE_PIECE) {
            self.absorb(piece);
            self.ctr.apply_keystream(piece);
        }
        Ok(())
    }

    /// Feeds ciphertext into GHASH, keeping a partial block between calls.
    fn absorb(&mut self, mut data: &[u8]) {
        if self.partial_len > 0 {
            let take = (16 - self.partial_len).min(data.len());
            let (head, rest) = data.split_at(take);
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(head);
            self.partial_len += take;
            data = rest;
            if self.partial_len < 16 {
                return;
            }
            self.ghash.update(&[ghash::Block::from(self.partial)]);
            self.partial_len = 0;
        }
        let whole = data.len() - data.len() % 16;
        let (blocks, tail) = data.split_at(whole);
        // A multiple of 16 bytes: `update_padded` adds no padding here.
        self.ghash.update_padded(blocks);
        self.partial[..tail.len()].copy_from_slice(tail);
        self.partial_len = tail.len();
    }

    /// Number of message bytes processed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before any byte was processed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ends the message and returns its tag.
    pub fn finish(mut self) -> [u8; TAG_LEN] {
        if self.partial_len > 0 {
            let partial_len = self.partial_len;
            self.ghash.update_padded(&self.partial[..partial_len]);
        }
        let mut lengths = Block::default();
        // No AAD: the first 8 bytes (AAD bit length) stay zero.
        lengths[8..].copy_from_slice(&(self.len * 8).to_be_bytes());
        self.ghash.update(&[ghash::Block::from(lengths)]);
        let mut tag: Block = self.ghash.clone().finalize().into();
        for (t, m) in tag.iter_mut().zip(self.tag_mask.iter()) {
            *t ^= m;
        }
        tag
    }

    /// Ends a decryption: true when `expected` equals the computed tag (constant time).
    pub fn verify(self, expected: &[u8]) -> bool {
        let tag = self.finish();
        expected.len() == TAG_LEN && bool::from(tag.ct_eq(expected))
    }
}

impl Drop for GcmStream {
    fn drop(&mut self) {
        self.tag_mask.zeroize();
        self.partial.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::Aes256Gcm;

    fn one_shot(key: &[u8; 32], nonce: &[u8; 12], msg: &[u8]) -> (Vec<u8>, [u8; 16]) {
        let mut buf = msg.to_vec();
        let tag = Aes256Gcm::new(key.into())
            .encrypt_in_place_detached(nonce.into(), b"", &mut buf)
            .unwrap();
        (buf, tag.into())
    }

    #[test]
    fn matches_aes_gcm_for_every_split() {
        let key = [7u8; 32];
        let nonce = [9u8; 12];
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 255, 4096 + 5] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let (expected, expected_tag) = one_shot(&key, &nonce, &msg);
            for split in [1usize, 3, 16, 17, 64, 1000] {
                let mut enc = GcmStream::new(&key, &nonce);
                let mut out = msg.clone();
                for piece in out.chunks_mut(split) {
                    enc.encrypt(piece).unwrap();
                }
                assert_eq!(out, expected, "len {len} split {split}");
                assert_eq!(enc.finish(), expected_tag, "len {len} split {split}");

                let mut dec = GcmStream::new(&key, &nonce);
                for piece in out.chunks_mut(split + 2) {
                    dec.decrypt(piece).unwrap();
                }
                assert_eq!(out, msg);
                assert!(dec.verify(&expected_tag));
            }
        }
    }

    #[test]
    fn wrong_tag_is_rejected() {
        let key = [1u8; 32];
        let nonce = [2u8; 12];
        let (mut ct, mut tag) = one_shot(&key, &nonce, b"bid price 1,000,000");
        tag[15] ^= 1;
        let mut dec = GcmStream::new(&key, &nonce);
        dec.decrypt(&mut ct).unwrap();
        assert!(!dec.verify(&tag));
    }
}
