//! The end-to-end channel between desktop and phone: key agreement, frames, AEAD.
//!
//! Construction (after caBLE v2 / FIDO hybrid, simplified):
//!
//! ```text
//! Z          = ECDH-P256(desktop ephemeral, phone ephemeral)            (x-coordinate)
//! transcript = SHA-256("bidseal-scan/v1" ‖ session id ‖ op ‖ expiry ‖ relay ‖ D ‖ P)
//! k_d2p      = HKDF-SHA256(salt = QR secret, ikm = Z, info = transcript ‖ "d2p")[..32]
//! k_p2d      = HKDF-SHA256(salt = QR secret, ikm = Z, info = transcript ‖ "p2d")[..32]
//! hello      = 0x01 ‖ P(33) ‖ AES-256-GCM(k_p2d, nonce(0), aad = 0x01 ‖ P, json)
//! data       = 0x02 ‖ seq(u64 BE) ‖ AES-256-GCM(k_dir, nonce(seq), aad = 0x02 ‖ seq, json)
//! nonce(n)   = 0x00000000 ‖ n(u64 BE)
//! ```
//!
//! Guarantees: the relay (which sees D, P and the session id but not the QR secret nor either
//! private key) can neither read nor forge a frame; a frame from another session, a flipped
//! byte, a replay, a dropped or reordered frame is detected (`Tampered` / `OutOfOrder`) and
//! poisons the channel for good. Keys are per direction, nonces are sequence numbers that never
//! repeat under one key. Secrets are zeroized on drop.
//! Does not give forward secrecy beyond the ephemeral keys' lifetime (one session), nor
//! hide frame sizes and timing from the relay.

use crate::error::ScanError;
use crate::payload::{EphemeralKey, OperationKind, QrSecret, SessionId};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Frame type byte of the phone's first frame.
pub const FRAME_HELLO: u8 = 0x01;
/// Frame type byte of every other frame.
pub const FRAME_DATA: u8 = 0x02;
/// Largest plaintext message (a sign response with seal images and chains fits easily).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Largest frame on the wire: header + plaintext + tag.
pub const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES + 1 + 33 + TAG_LEN;
/// Domain separation label of the channel transcript.
pub const TRANSCRIPT_LABEL: &[u8] = b"bidseal-scan/v1";

/// SHA-256 transcript of the channel parameters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transcript(pub [u8; 32]);

/// What a session is bound to; both ends compute the same value. Use it to bind signatures
/// (see [`crate::AuthRequest::transcript_hash`]) and to log approvals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionBinding {
    pub session: SessionId,
    pub op: OperationKind,
    pub expires_at: u64,
    pub relay: String,
    pub desktop_key: EphemeralKey,
    pub phone_key: EphemeralKey,
    pub transcript: Transcript,
}

impl SessionBinding {
    pub(crate) fn new(
        session: SessionId,
        op: OperationKind,
        expires_at: u64,
        relay: &str,
        desktop_key: EphemeralKey,
        phone_key: EphemeralKey,
    ) -> Self {
        let mut h = Sha256::new();
        h.update(TRANSCRIPT_LABEL);
        h.update(session.0);
        h.update([op.as_str().len() as u8]);
        h.update(op.as_str().as_bytes());
        h.update(expires_at.to_be_bytes());
        h.update((relay.len() as u64).to_be_bytes());
        h.update(relay.as_bytes());
        h.update(desktop_key.as_bytes());
        h.update(phone_key.as_bytes());
        SessionBinding {
            session,
            op,
            expires_at,
            relay: relay.to_string(),
            desktop_key,
            phone_key,
            transcript: Transcript(h.finalize().into()),
        }
    }
}

/// Which end of the channel this is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum End {
    Desktop,
    Phone,
}

/// The two AEAD directions of one channel with their sequence counters.
pub(crate) struct ChannelCrypto {
    send: Aes256Gcm,
    recv: Aes256Gcm,
    send_seq: u64,
    recv_seq: u64,
    poisoned: Option<ScanError>,
}

impl ChannelCrypto {
    /// Derives both directions from the ECDH result and the QR secret.
    pub(crate) fn derive(
        shared_x: &[u8],
        secret: &QrSecret,
        binding: &SessionBinding,
        end: End,
    ) -> Result<Self, ScanError> {
        let hk = Hkdf::<Sha256>::new(Some(secret.expose()), shared_x);
        let mut d2p = Zeroizing::new([0u8; 32]);
        let mut p2d = Zeroizing::new([0u8; 32]);
        let mut info = Vec::with_capacity(35);
        info.extend_from_slice(&binding.transcript.0);
        info.extend_from_slice(b"d2p");
        hk.expand(&info, d2p.as_mut())
            .map_err(|_| ScanError::System {
                detail: "HKDF expand".into(),
            })?;
        info.truncate(32);
        info.extend_from_slice(b"p2d");
        hk.expand(&info, p2d.as_mut())
            .map_err(|_| ScanError::System {
                detail: "HKDF expand".into(),
            })?;
        let d2p_cipher =
            Aes256Gcm::new_from_slice(d2p.as_ref()).map_err(|_| ScanError::System {
                detail: "AES key".into(),
            })?;
        let p2d_cipher =
            Aes256Gcm::new_from_slice(p2d.as_ref()).map_err(|_| ScanError::System {
                detail: "AES key".into(),
            })?;
        let (send, recv) = match end {
            End::Desktop => (d2p_cipher, p2d_cipher),
            End::Phone => (p2d_cipher, d2p_cipher),
        };
        Ok(ChannelCrypto {
            send,
            recv,
            send_seq: 0,
            recv_seq: 0,
            poisoned: None,
        })
    }

    fn check_poison(&self) -> Result<(), ScanError> {
        match &self.poisoned {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn poison(&mut self, e: ScanError) -> ScanError {
        self.poisoned = Some(e.clone());
        e
    }

    /// Seals the phone's hello (sequence 0 of phone → desktop).
    pub(crate) fn seal_hello<T: Serialize>(
        &mut self,
        phone_key: &EphemeralKey,
        msg: &T,
    ) -> Result<Vec<u8>, ScanError> {
        self.check_poison()?;
        if self.send_seq != 0 {
            return Err(ScanError::protocol("hello 只能是第一条消息"));
        }
        let mut aad = Vec::with_capacity(34);
        aad.push(FRAME_HELLO);
        aad.extend_from_slice(phone_key.as_bytes());
        let ct = self.encrypt(&aad, msg)?;
        let mut frame = aad;
        frame.extend_from_slice(&ct);
        Ok(frame)
    }

    /// Seals one data frame.
    pub(crate) fn seal<T: Serialize>(&mut self, msg: &T) -> Result<Vec<u8>, ScanError> {
        self.check_poison()?;
        let mut header = Vec::with_capacity(9);
        header.push(FRAME_DATA);
        header.extend_from_slice(&self.send_seq.to_be_bytes());
        let ct = self.encrypt(&header, msg)?;
        let mut frame = header;
        frame.extend_from_slice(&ct);
        Ok(frame)
    }

    fn encrypt<T: Serialize>(&mut self, aad: &[u8], msg: &T) -> Result<Vec<u8>, ScanError> {
        let mut plain = Zeroizing::new(
            serde_json::to_vec(msg).map_err(|e| ScanError::malformed(e.to_string()))?,
        );
        if plain.len() > MAX_MESSAGE_BYTES {
            return Err(ScanError::TooLarge {
                size: plain.len(),
                limit: MAX_MESSAGE_BYTES,
            });
        }
        let nonce = nonce(self.send_seq);
        let ct = self
            .send
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad })
            .map_err(|_| ScanError::System {
                detail: "AES-GCM encrypt".into(),
            })?;
        plain.zeroize();
        self.send_seq = self
            .send_seq
            .checked_add(1)
            .ok_or_else(|| ScanError::protocol("序号耗尽"))?;
        Ok(ct)
    }

    /// Opens the phone's hello; `frame` must start with `FRAME_HELLO ‖ P`.
    pub(crate) fn open_hello<T: DeserializeOwned>(&mut self, frame: &[u8]) -> Result<T, ScanError> {
        self.check_poison()?;
        let aad = frame
            .get(..34)
            .ok_or_else(|| ScanError::malformed("hello 帧过短"))?;
        let ct = frame.get(34..).unwrap_or_default();
        let r = self.decrypt(0, aad, ct);
        r.map_err(|e| self.poison(e))
    }

    /// Opens one data frame, enforcing the exact next sequence number.
    pub(crate) fn open<T: DeserializeOwned>(&mut self, frame: &[u8]) -> Result<T, ScanError> {
        self.check_poison()?;
        let r = self.open_inner(frame);
        r.map_err(|e| self.poison(e))
    }

    fn open_inner<T: DeserializeOwned>(&mut self, frame: &[u8]) -> Result<T, ScanError> {
        if frame.len() > MAX_FRAME_BYTES {
            return Err(ScanError::TooLarge {
                size: frame.len(),
                limit: MAX_FRAME_BYTES,
            });
        }
        let header = frame
            .get(..9)
            .ok_or_else(|| ScanError::malformed("数据帧过短"))?;
        match header.first() {
            Some(&FRAME_DATA) => {}
            Some(&FRAME_HELLO) => return Err(ScanError::protocol("会话中收到第二个 hello")),
            _ => return Err(ScanError::malformed("未知帧类型")),
        }
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(header.get(1..9).unwrap_or(&[0u8; 8]));
        let seq = u64::from_be_bytes(seq_bytes);
        let ct = frame.get(9..).unwrap_or_default();
        self.decrypt(seq, header, ct)
    }

    fn decrypt<T: DeserializeOwned>(
        &mut self,
        seq: u64,
        aad: &[u8],
        ct: &[u8],
    ) -> Result<T, ScanError> {
        if ct.len() > MAX_MESSAGE_BYTES + TAG_LEN {
            return Err(ScanError::TooLarge {
                size: ct.len(),
                limit: MAX_MESSAGE_BYTES + TAG_LEN,
            });
        }
        let plain = Zeroizing::new(
            self.recv
                .decrypt(Nonce::from_slice(&nonce(seq)), Payload { msg: ct, aad })
                .map_err(|_| ScanError::Tampered)?,
        );
        // Authentic, but is it the frame we expect next? A replay, drop or reorder is not.
        if seq != self.recv_seq {
            return Err(ScanError::OutOfOrder {
                expected: self.recv_seq,
                got: seq,
            });
        }
        self.recv_seq += 1;
        serde_json::from_slice(&plain).map_err(|e| ScanError::malformed(e.to_string()))
    }
}

fn nonce(seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    fn key(seed: u8) -> EphemeralKey {
        let sk = p256::SecretKey::from_slice(&[seed; 32]).unwrap_or_else(|e| panic!("{e}"));
        EphemeralKey::from_bytes(sk.public_key().to_encoded_point(true).as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Both ends of one channel from fixed inputs (the same inputs give the same keys).
    fn ends() -> (ChannelCrypto, ChannelCrypto) {
        let binding = SessionBinding::new(
            SessionId([1; 16]),
            OperationKind::Sign,
            1_800_000_000,
            "http://127.0.0.1:1",
            key(2),
            key(3),
        );
        let secret = QrSecret::from_bytes([4; 16]);
        let z = [5u8; 32];
        let derive = |end| {
            ChannelCrypto::derive(&z, &secret, &binding, end).unwrap_or_else(|e| panic!("{e}"))
        };
        (derive(End::Desktop), derive(End::Phone))
    }

    #[test]
    fn a_nonce_is_never_reused_under_one_key() {
        let (mut desktop, mut phone) = ends();
        let msg = "the same message twice".to_string();
        let a = desktop.seal(&msg).unwrap_or_else(|e| panic!("{e}"));
        let b = desktop.seal(&msg).unwrap_or_else(|e| panic!("{e}"));
        // Same plaintext, same key: equal ciphertexts (without the tags, which also cover the
        // differing headers) would mean a repeated nonce, i.e. a reused GCM keystream.
        assert_eq!(a.len(), b.len());
        let body = |f: &[u8]| f[9..f.len() - TAG_LEN].to_vec();
        assert_ne!(body(&a), body(&b));
        assert_eq!(phone.open::<String>(&a), Ok(msg.clone()));
        assert_eq!(phone.open::<String>(&b), Ok(msg));
        // Directions use different keys: the phone's first frame differs from the desktop's.
        let (mut desktop2, mut phone2) = ends();
        let d = desktop2.seal(&"x").unwrap_or_else(|e| panic!("{e}"));
        let p = phone2.seal(&"x").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(d, p);
        assert_eq!(desktop2.open::<String>(&p), Ok("x".into()));
    }

    #[test]
    fn message_and_frame_size_limits_are_exact() {
        // docs/scan-protocol.md §2: plaintext messages up to 1 MiB; frames add 50 bytes at most
        // (hello: type, key, tag). A JSON string of n characters is n + 2 bytes.
        const MIB: usize = 1024 * 1024;
        assert_eq!(MAX_FRAME_BYTES, MIB + 1 + 33 + 16);
        let (mut desktop, mut phone) = ends();
        let biggest = "a".repeat(MIB - 2);
        let frame = desktop.seal(&biggest).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(phone.open::<String>(&frame), Ok(biggest));
        let too_big = "a".repeat(MIB - 1);
        assert_eq!(
            desktop.seal(&too_big).err(),
            Some(ScanError::TooLarge {
                size: MIB + 1,
                limit: MIB
            })
        );
        // On receipt: a ciphertext one byte over the limit is refused for its size, one at
        // the limit gets as far as authentication.
        let mut frame = vec![FRAME_DATA];
        frame.extend_from_slice(&1u64.to_be_bytes());
        frame.resize(9 + MIB + 16, 0);
        assert_eq!(
            phone.open::<String>(&frame).err(),
            Some(ScanError::Tampered)
        );
        let (_, mut phone) = ends();
        frame.push(0);
        assert_eq!(
            phone.open::<String>(&frame).err(),
            Some(ScanError::TooLarge {
                size: MIB + 16 + 1,
                limit: MIB + 16
            })
        );
        // A frame exactly at the frame limit passes the frame check and is refused for its
        // ciphertext (a data header is shorter than the hello's); one byte more is refused
        // for the frame.
        let (_, mut phone) = ends();
        frame.resize(MAX_FRAME_BYTES, 0);
        assert_eq!(
            phone.open::<String>(&frame).err(),
            Some(ScanError::TooLarge {
                size: MAX_FRAME_BYTES - 9,
                limit: MIB + 16
            })
        );
        let (_, mut phone) = ends();
        frame.push(0);
        assert_eq!(
            phone.open::<String>(&frame).err(),
            Some(ScanError::TooLarge {
                size: MAX_FRAME_BYTES + 1,
                limit: MAX_FRAME_BYTES
            })
        );
    }

    #[test]
    fn the_hello_is_the_phones_first_frame_only_and_a_second_hello_is_refused() {
        let (mut desktop, mut phone) = ends();
        let hello = phone
            .seal_hello(&key(3), &"hi")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hello.first(), Some(&FRAME_HELLO));
        assert!(matches!(
            phone.seal_hello(&key(3), &"again"),
            Err(ScanError::Protocol { .. })
        ));
        assert_eq!(desktop.open_hello::<String>(&hello), Ok("hi".into()));
        // The phone's next data frame is its seq 1; a hello inside the session is refused.
        let data = phone.seal(&"data").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data[1..9], 1u64.to_be_bytes());
        assert!(matches!(
            desktop.open::<String>(&hello),
            Err(ScanError::Protocol { .. })
        ));
        // ... and poisons the channel: the genuine data frame is refused afterwards.
        assert!(matches!(
            desktop.open::<String>(&data),
            Err(ScanError::Protocol { .. })
        ));
        let (mut desktop, mut phone) = ends();
        let _ = phone.seal_hello(&key(3), &"hi");
        let data = phone.seal(&"data").unwrap_or_else(|e| panic!("{e}"));
        let mut unknown = data.clone();
        unknown[0] = 0x07;
        assert!(matches!(
            desktop.open::<String>(&unknown),
            Err(ScanError::Malformed { .. })
        ));
    }
}
