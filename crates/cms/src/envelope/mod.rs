//! The multi-recipient bid envelope (多证书数字信封): CMS AuthEnvelopedData (RFC 5083) with
//! AES-256-GCM content encryption (RFC 5084) and one RFC 5753 key-agreement recipient
//! (ephemeral-static ECDH P-256, X9.63 KDF with SHA-256, AES-256 key wrap) per certificate,
//! so that any one of the selected certificates opens the bid file, and `openssl cms
//! -decrypt` opens it too.
//!
//! Pieces, one construction per module:
//! - [`kdf`]: X9.63 KDF; [`keywrap`]: RFC 3394 key wrap; [`gcm`]: streaming AES-256-GCM.
//! - [`recipient`]: who may be a recipient ([`RecipientSet`]) and the KeyAgreeRecipientInfo.
//! - [`agreement`]: the private-key step behind the [`KeyAgreement`] trait (phone or local).
//! - [`writer`]: sealing to definite-length DER; [`reader`]: opening DER or `-stream` BER.
//! - [`output`]: temporary file + fsync + rename, deleted on failure; [`pipeline`]: read-ahead
//!   and write-behind threads so that I/O and the cipher overlap.
//!
//! The file functions here ([`encrypt_file`], [`decrypt_file`], [`inspect_file`]) tie them
//! together. Guarantees: memory does not grow with the file (1 MiB chunks); decrypted bytes
//! reach the output path only after the GCM tag verified (nothing is left there otherwise);
//! content keys, key-encryption keys and shared secrets are zeroized. Does not: verify the
//! recipients' certificate chains (callers use `cert::TrustStore`), or support other
//! algorithms than the ones named above.

pub mod agreement;
pub mod ber;
pub mod error;
pub mod gcm;
pub mod kdf;
pub mod keywrap;
pub mod output;
pub mod pipeline;
pub mod reader;
pub mod recipient;
pub mod writer;

pub use agreement::{parse_private_key_pem, KeyAgreement, LocalKeyAgreement, SharedSecret};
pub use error::EnvelopeError;
pub use reader::{EnvelopeHeader, EnvelopeReader, RecipientBinding};
pub use recipient::{
    aes256_wrap_kek, KeyEncryptionKey, Recipient, RecipientEntry, RecipientList, RecipientSet,
    MAX_RECIPIENTS,
};
pub use writer::SealSummary;

use const_oid::ObjectIdentifier;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Pieces read ahead of the cipher.
const READ_DEPTH: usize = 4;

/// Size of the read and write pieces (large enough for full-speed I/O, small in memory).
pub const CHUNK_LEN: usize = 1 << 20;

/// id-ct-authEnvelopedData (RFC 5083).
pub const OID_AUTH_ENVELOPED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.23");
/// id-data.
pub const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-aes256-GCM (RFC 5084).
pub const OID_AES256_GCM: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.46");

/// First nonce bytes of a BidSeal envelope whose nonce commits to its recipient list.
pub const BINDING_MAGIC: [u8; 4] = *b"BSv1";

/// The GCM nonce that commits to the DER `originatorInfo` (empty when absent) followed by
/// the DER `RecipientInfos` (see `writer`).
pub(crate) fn nonce_binding(
    originator_info_der: &[u8],
    recipient_infos_der: &[u8],
) -> [u8; gcm::NONCE_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(originator_info_der);
    hasher.update(recipient_infos_der);
    let digest = hasher.finalize();
    let mut nonce = [0u8; gcm::NONCE_LEN];
    nonce[..4].copy_from_slice(&BINDING_MAGIC);
    nonce[4..].copy_from_slice(&digest[..gcm::NONCE_LEN - 4]);
    nonce
}

/// Progress reporting for a file being read: `(bytes done, bytes total)`.
pub struct ReadProgress<'a> {
    source: PathBuf,
    report: &'a mut (dyn FnMut(u64, u64) + Send),
}

impl<'a> ReadProgress<'a> {
    /// Reports progress reading `source` to `report`.
    pub fn new(source: impl Into<PathBuf>, report: &'a mut (dyn FnMut(u64, u64) + Send)) -> Self {
        Self {
            source: source.into(),
            report,
        }
    }

    pub(crate) fn report(&mut self, done: u64, total: u64) {
        (self.report)(done, total);
    }

    pub(crate) fn read_error(&self, e: std::io::Error) -> EnvelopeError {
        EnvelopeError::io(&self.source, e)
    }

    pub(crate) fn changed(&self) -> EnvelopeError {
        EnvelopeError::InputChanged {
            path: self.source.clone(),
        }
    }
}

/// What opening produced.
#[derive(Clone, Debug)]
pub struct OpenSummary {
    /// Plaintext bytes written.
    pub plaintext_len: u64,
    /// The recipient entry that was used, as "颁发者 …，序列号 …".
    pub opened_as: String,
    /// Whether the recipient list was bound and verified.
    pub binding: RecipientBinding,
}

/// Encrypts the file `input` to every recipient and writes the envelope to `output`
/// atomically. `progress` gets `(plaintext bytes done, total)`.
pub fn encrypt_file(
    input: &Path,
    output: &Path,
    recipients: &RecipientSet,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<SealSummary, EnvelopeError> {
    let file = File::open(input).map_err(|e| EnvelopeError::io(input, e))?;
    let len = file
        .metadata()
        .map_err(|e| EnvelopeError::io(input, e))?
        .len();
    let mut pending = output::PendingOutput::create(output)?;
    let mut progress = ReadProgress::new(input, progress);
    // Owned buffers travel reader thread → cipher (in place) → writer thread → reader's pool.
    let mut source = pipeline::PrefetchReader::new(file, CHUNK_LEN, READ_DEPTH);
    let pool = source.recycler();
    let summary = writer::seal_stream(
        recipients,
        len,
        || source.next_chunk(),
        |buf| {
            pending.write_owned(buf)?;
            while let Some(spare) = pending.take_spare() {
                pool.give_back(spare);
            }
            Ok(())
        },
        &mut progress,
    )?;
    pending.commit()?;
    Ok(summary)
}

/// Reads the recipient list and parameters of the envelope at `path` (no key needed).
pub fn inspect_file(path: &Path) -> Result<EnvelopeHeader, EnvelopeError> {
    let file = File::open(path).map_err(|e| EnvelopeError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| EnvelopeError::io(path, e))?
        .len();
    let reader = EnvelopeReader::open_with_len(BufReader::with_capacity(64 * 1024, file), len)?;
    Ok(reader.header().clone())
}

/// Opens the envelope `input` with `agreement` and writes the plaintext to `output` — only
/// once the GCM tag verified; on any error nothing is left at `output`. `progress` gets
/// `(envelope bytes read, envelope size)`.
///
/// The file I/O here is blocking; async callers should run this on a blocking-capable
/// thread (e.g. `tokio::task::spawn_blocking` with a runtime handle for `agreement`) when
/// they cannot afford to block a runtime worker.
pub async fn decrypt_file<K: KeyAgreement>(
    input: &Path,
    output: &Path,
    agreement: &K,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<OpenSummary, EnvelopeError> {
    let file = File::open(input).map_err(|e| EnvelopeError::io(input, e))?;
    let total = file
        .metadata()
        .map_err(|e| EnvelopeError::io(input, e))?
        .len();
    let reader = EnvelopeReader::open_with_len(
        pipeline::PrefetchReader::new(file, CHUNK_LEN, READ_DEPTH),
        total,
    )?;
    let entry = reader
        .header()
        .recipients
        .entry_for(agreement.certificate())?
        .clone();
    let kek = agreement.key_encryption_key(&entry).await?;
    let cek = entry.unwrap_content_key(&kek)?;
    drop(kek);
    let binding = reader.header().binding;
    let mut pending = output::PendingOutput::create(output)?;
    let plaintext_len = reader.decrypt_into(
        &cek,
        |bytes| pending.write_all(bytes),
        |at| progress(at, total),
    )?;
    pending.commit()?;
    progress(total, total);
    Ok(OpenSummary {
        plaintext_len,
        opened_as: entry.describe(),
        binding,
    })
}
