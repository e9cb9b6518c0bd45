//! Sealing: streams a plaintext of known length into a definite-length DER
//! `ContentInfo { id-ct-authEnvelopedData, AuthEnvelopedData }` (RFC 5083), which
//! `openssl cms -decrypt -inform DER` opens.
//!
//! Layout written, in one pass (all lengths are known before the first byte, because the
//! plaintext length is):
//!
//! ```text
//! ContentInfo SEQUENCE { contentType id-ct-authEnvelopedData, [0] {
//!   AuthEnvelopedData SEQUENCE { version 0,
//!     originatorInfo [0] { certs [0] { recipient certificates } },
//!     recipientInfos SET { [1] KARI … },
//!     authEncryptedContentInfo SEQUENCE { id-data,
//!       AlgorithmIdentifier { id-aes256-GCM, GCMParameters { nonce(12), ICVlen 16 } },
//!       [0] IMPLICIT OCTET STRING <ciphertext> },
//!     mac OCTET STRING <16-byte tag> } } }
//! ```
//!
//! Binding the recipient list: GCM authenticates only the content, so a changed recipient
//! entry of *another* recipient would go unnoticed. The nonce is therefore
//! `"BSv1" ‖ SHA-256(DER originatorInfo ‖ DER RecipientInfos)[0..8]` (originatorInfo empty
//! when absent): the opener recomputes it, and because the nonce enters the GCM tag, changing
//! any recipient entry or certificate, removing the certificates (or the nonce to match)
//! fails.
//! The content key is fresh for every envelope, so a deterministic nonce never repeats under
//! one key. Files from other producers have random nonces and are opened without this check.
//!
//! The recipients' certificates (public) travel in `originatorInfo.certs` (RFC 5083 allows
//! it; openssl ignores it when decrypting) so that a bid file copied alone still tells the
//! hall which certificates open it. They are bound like the recipient entries (above); before
//! the tag is checked they are a hint, and a reader keeps only those naming a recipient entry.
//!
//! Guarantees: memory is the chunk buffers in flight plus the recipient infos, whatever the
//! file size (sealing itself holds one chunk at a time);
//! the content key is zeroized; a plaintext that is shorter or longer than announced is an
//! error. Does not: write to a file atomically by itself (see `encrypt_file`).

use super::error::EnvelopeError;
use super::gcm::{GcmStream, MAX_PLAINTEXT_LEN, NONCE_LEN, TAG_LEN};
use super::keywrap::CEK_LEN;
use super::recipient::RecipientSet;
use super::{nonce_binding, ReadProgress, OID_AES256_GCM, OID_AUTH_ENVELOPED_DATA, OID_DATA};
use der::Encode;
use rand_core::{OsRng, RngCore};
use std::io::ErrorKind;
use zeroize::Zeroizing;

/// DER header (identifier + length octets) for a value of `len` content bytes.
pub(crate) fn der_header(tag: u8, len: u64) -> Vec<u8> {
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out
}

/// Total encoded size of a value with `len` content bytes.
fn tlv_len(tag: u8, len: u64) -> u64 {
    der_header(tag, len).len() as u64 + len
}

fn oid_der(oid: &const_oid::ObjectIdentifier) -> Result<Vec<u8>, EnvelopeError> {
    oid.to_der().map_err(|e| EnvelopeError::Unsupported {
        what: format!("无法编码 OID（{e}）"),
    })
}

/// `originatorInfo [0] IMPLICIT OriginatorInfo { certs [0] IMPLICIT CertificateSet }` holding
/// every recipient's certificate (DER SET OF: sorted encodings).
fn originator_info(recipients: &RecipientSet) -> Vec<u8> {
    let mut certs: Vec<&[u8]> = recipients
        .recipients()
        .iter()
        .map(|r| r.certificate().der())
        .collect();
    certs.sort();
    let certs_len: u64 = certs.iter().map(|c| c.len() as u64).sum();
    let set = tlv_len(0xA0, certs_len);
    let mut out = der_header(0xA0, set);
    out.extend(der_header(0xA0, certs_len));
    for cert in certs {
        out.extend_from_slice(cert);
    }
    out
}

/// What sealing produced.
#[derive(Clone, Debug)]
pub struct SealSummary {
    /// Plaintext bytes encrypted.
    pub plaintext_len: u64,
    /// Envelope bytes written.
    pub envelope_len: u64,
    /// Number of recipients.
    pub recipients: usize,
}

/// Encrypts exactly `plaintext_len` bytes to every recipient and writes the envelope to
/// `write`. The plaintext comes from `next_chunk` as owned buffers (`None` at the end), each
/// encrypted in place and handed to `write` as it is — no copy between reading, the cipher
/// and writing. `write` also gets the (small) DER header and trailer as their own buffers.
pub fn seal_stream(
    recipients: &RecipientSet,
    plaintext_len: u64,
    mut next_chunk: impl FnMut() -> std::io::Result<Option<Vec<u8>>>,
    mut write: impl FnMut(Vec<u8>) -> Result<(), EnvelopeError>,
    progress: &mut ReadProgress<'_>,
) -> Result<SealSummary, EnvelopeError> {
    if plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(EnvelopeError::PlaintextTooLong {
            len: plaintext_len,
            limit: MAX_PLAINTEXT_LEN,
        });
    }
    let mut cek = Zeroizing::new([0u8; CEK_LEN]);
    OsRng.fill_bytes(cek.as_mut_slice());

    let mut infos = Vec::with_capacity(recipients.len());
    for recipient in recipients.recipients() {
        infos.push(recipients.recipient_info(recipient, &cek)?);
    }
    // DER SET OF: elements in ascending order of their encodings.
    infos.sort();
    let infos_len: u64 = infos.iter().map(|i| i.len() as u64).sum();
    let mut recipient_infos = der_header(0x31, infos_len);
    for info in &infos {
        recipient_infos.extend_from_slice(info);
    }
    let originator_info = originator_info(recipients);
    let nonce: [u8; NONCE_LEN] = nonce_binding(&originator_info, &recipient_infos);

    // AlgorithmIdentifier { id-aes256-GCM, GCMParameters { aes-nonce, aes-ICVlen 16 } }
    let mut gcm_params = der_header(0x04, NONCE_LEN as u64);
    gcm_params.extend_from_slice(&nonce);
    gcm_params.extend_from_slice(&[0x02, 0x01, TAG_LEN as u8]);
    let mut gcm_params_seq = der_header(0x30, gcm_params.len() as u64);
    gcm_params_seq.extend_from_slice(&gcm_params);
    let gcm_oid = oid_der(&OID_AES256_GCM)?;
    let mut algorithm = der_header(0x30, (gcm_oid.len() + gcm_params_seq.len()) as u64);
    algorithm.extend_from_slice(&gcm_oid);
    algorithm.extend_from_slice(&gcm_params_seq);

    let data_oid = oid_der(&OID_DATA)?;
    let content_header = der_header(0x80, plaintext_len);
    let eci_len = data_oid.len() as u64 + algorithm.len() as u64 + tlv_len(0x80, plaintext_len);
    let version = [0x02u8, 0x01, 0x00];
    let mac_len = tlv_len(0x04, TAG_LEN as u64);
    let aed_len = version.len() as u64
        + originator_info.len() as u64
        + recipient_infos.len() as u64
        + tlv_len(0x30, eci_len)
        + mac_len;
    let explicit_len = tlv_len(0x30, aed_len);
    let aed_oid = oid_der(&OID_AUTH_ENVELOPED_DATA)?;
    let content_info_len = aed_oid.len() as u64 + tlv_len(0xA0, explicit_len);

    let mut prefix = der_header(0x30, content_info_len);
    prefix.extend_from_slice(&aed_oid);
    prefix.extend(der_header(0xA0, explicit_len));
    prefix.extend(der_header(0x30, aed_len));
    prefix.extend_from_slice(&version);
    prefix.extend_from_slice(&originator_info);
    prefix.extend_from_slice(&recipient_infos);
    prefix.extend(der_header(0x30, eci_len));
    prefix.extend_from_slice(&data_oid);
    prefix.extend_from_slice(&algorithm);
    prefix.extend_from_slice(&content_header);
    write(prefix)?;

    let mut gcm = GcmStream::new(&cek, &nonce);
    let mut done: u64 = 0;
    loop {
        let mut piece = match next_chunk() {
            Ok(None) => break,
            Ok(Some(piece)) => piece,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(progress.read_error(e)),
        };
        if piece.is_empty() {
            continue;
        }
        done += piece.len() as u64;
        if done > plaintext_len {
            return Err(progress.changed());
        }
        gcm.encrypt(&mut piece)
            .map_err(|_| EnvelopeError::PlaintextTooLong {
                len: done,
                limit: MAX_PLAINTEXT_LEN,
            })?;
        write(piece)?;
        progress.report(done, plaintext_len);
    }
    if done != plaintext_len {
        return Err(progress.changed());
    }
    let tag = gcm.finish();
    let mut mac = der_header(0x04, TAG_LEN as u64);
    mac.extend_from_slice(&tag);
    write(mac)?;
    Ok(SealSummary {
        plaintext_len,
        envelope_len: tlv_len(0x30, content_info_len),
        recipients: recipients.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_are_minimal() {
        assert_eq!(der_header(0x04, 5), vec![0x04, 5]);
        assert_eq!(der_header(0x04, 0x80), vec![0x04, 0x81, 0x80]);
        assert_eq!(der_header(0x04, 0x1_0000), vec![0x04, 0x83, 1, 0, 0]);
        assert_eq!(tlv_len(0x30, 1 << 30), 1 + 1 + 4 + (1 << 30));
    }
}
