//! The shape a phone's answer must have before anyone acts on it: the schema of the phone's
//! messages (docs/scan-protocol.md §4.4, and `PhoneHello` / `DecryptAnswer` in
//! docs/platform-api.yaml for the platform's remote opening), checked on the desktop side —
//! the bid tool, the opening hall and the platform — right after the authenticated frame is
//! read ([`crate::DesktopSession`]).
//!
//! Guarantees: serde already refuses wrong types, unknown enum values and unknown fields (the
//! answer structs deny them); on top, [`check_hello`] and [`AnswerShape::check`] refuse sizes
//! and formats the protocol does not allow — a device or app name that is empty, longer than
//! [`MAX_NAME_CHARS`] or carries control / bidirectional / zero-width characters; a
//! certificate that is not a DER SEQUENCE of at most [`MAX_CERTIFICATE_BYTES`]; a chain of
//! none or more than [`MAX_CHAIN_CERTIFICATES`]; an ECDSA P-256 signature that is not a DER
//! SEQUENCE of 8–72 bytes; a recipient index outside the request's entries; a key-encryption
//! key that is not [`KEK_BYTES`] bytes; more signatures, seal images or encryption
//! certificates than the request allows. A refusal is [`crate::ScanError::BadAnswer`] saying
//! which field, never a panic.
//!
//! Does not: verify certificates, signatures or keys (bidseal-cms and the workflow do, after
//! this); an answer of the right shape can still be wrong (a key of another bid fails the
//! envelope's key unwrap later, with its own reason).

use crate::message::{Bytes, OperationRequest, OperationResponse, PhoneHello, SealKind};

/// Longest device or app name, characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Largest DER certificate, bytes.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;
/// Most certificates in a chain (leaf first).
pub const MAX_CHAIN_CERTIFICATES: usize = 8;
/// Smallest and largest DER ECDSA P-256 signature, bytes.
pub const SIGNATURE_BYTES: std::ops::RangeInclusive<usize> = 8..=72;
/// Length of a key-encryption key (AES-256 key wrap), bytes.
pub const KEK_BYTES: usize = 32;

/// A phone-written name (device label, app) fit for the desktop's and the opening hall's
/// screens: 1–[`MAX_NAME_CHARS`] characters, none hidden or reordering.
fn check_name(field: &str, value: &str) -> Result<(), String> {
    let count = value.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(format!(
            "{field} 须为 1–{MAX_NAME_CHARS} 个字符，实为 {count} 个"
        ));
    }
    if value.chars().any(crate::message::hidden_or_reordering) {
        return Err(format!("{field} 含控制字符或不可见的排版字符"));
    }
    Ok(())
}

/// The phone's hello: device and app names (see the module doc).
pub fn check_hello(hello: &PhoneHello) -> Result<(), String> {
    check_name("device", &hello.device)?;
    check_name("app", &hello.app)
}

fn check_certificate(field: &str, der: &Bytes) -> Result<(), String> {
    let len = der.0.len();
    if len == 0 || len > MAX_CERTIFICATE_BYTES || der.0.first() != Some(&0x30) {
        return Err(format!(
            "{field} 须为不超过 {MAX_CERTIFICATE_BYTES} 字节的 DER 证书（实为 {len} 字节）"
        ));
    }
    Ok(())
}

fn check_chain(field: &str, chain: &[Bytes]) -> Result<(), String> {
    if chain.is_empty() || chain.len() > MAX_CHAIN_CERTIFICATES {
        return Err(format!(
            "{field} 须有 1–{MAX_CHAIN_CERTIFICATES} 张证书，实为 {} 张",
            chain.len()
        ));
    }
    chain
        .iter()
        .enumerate()
        .try_for_each(|(i, c)| check_certificate(&format!("{field}[{i}]"), c))
}

fn check_signature(field: &str, sig: &Bytes) -> Result<(), String> {
    let len = sig.0.len();
    if !SIGNATURE_BYTES.contains(&len) || sig.0.first() != Some(&0x30) {
        return Err(format!(
            "{field} 须为 {}–{} 字节的 DER ECDSA 签名（实为 {len} 字节）",
            SIGNATURE_BYTES.start(),
            SIGNATURE_BYTES.end()
        ));
    }
    Ok(())
}

fn at_most(field: &str, got: usize, most: usize) -> Result<(), String> {
    if got > most {
        return Err(format!("{field} 最多 {most} 项，实为 {got} 项"));
    }
    Ok(())
}

/// What the answer to one request may hold, taken from the request when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerShape {
    /// Seal items of a `sign` (one signature each).
    items: usize,
    /// Distinct seal kinds of a `sign` (items and lookup): one image each at most.
    seal_kinds: usize,
    /// Most encryption certificates of a `generate`: the own one and `max_extra` colleagues'.
    encryption_certificates: usize,
    /// Key-agreement entries of a `decrypt` (the answer names one by index).
    recipients: usize,
}

impl AnswerShape {
    /// The shape of an answer to `request`.
    pub fn of(request: &OperationRequest) -> Self {
        let mut shape = AnswerShape {
            items: 0,
            seal_kinds: 0,
            encryption_certificates: 0,
            recipients: 0,
        };
        match request {
            OperationRequest::Auth(_) => {}
            OperationRequest::Sign(r) => {
                let mut kinds: Vec<SealKind> = r.items.iter().map(|i| i.seal_kind).collect();
                kinds.extend(r.lookup.iter().copied());
                kinds.sort_by_key(|k| k.name_zh());
                kinds.dedup();
                shape.items = r.items.len();
                shape.seal_kinds = kinds.len();
            }
            OperationRequest::Generate(r) => {
                shape.encryption_certificates = 1 + usize::from(r.choose.max_extra);
            }
            OperationRequest::Decrypt(r) => shape.recipients = r.recipients.len(),
        }
        shape
    }

    /// Whether `response` has this shape (see the module doc); the operation itself was
    /// checked before.
    pub fn check(&self, response: &OperationResponse) -> Result<(), String> {
        match response {
            OperationResponse::Auth(r) => {
                check_chain("certificate_chain", &r.certificate_chain)?;
                check_signature("signature", &r.signature)
            }
            OperationResponse::Sign(r) => {
                if r.signatures.len() != self.items {
                    return Err(format!(
                        "signatures 须与请求的 {} 处签章一一对应，实为 {} 项",
                        self.items,
                        r.signatures.len()
                    ));
                }
                for (i, s) in r.signatures.iter().enumerate() {
                    check_signature(&format!("signatures[{i}]"), &s.signature)?;
                }
                check_chain("certificate_chain", &r.certificate_chain)?;
                at_most("seal_images", r.seal_images.len(), self.seal_kinds)?;
                for (i, image) in r.seal_images.iter().enumerate() {
                    check_signature(&format!("seal_images[{i}].binding"), &image.binding)?;
                }
                Ok(())
            }
            OperationResponse::Generate(r) => {
                check_signature("signature", &r.signature)?;
                check_chain("certificate_chain", &r.certificate_chain)?;
                at_most(
                    "encryption_certificates",
                    r.encryption_certificates.len(),
                    self.encryption_certificates,
                )?;
                for (i, c) in r.encryption_certificates.iter().enumerate() {
                    check_certificate(&format!("encryption_certificates[{i}]"), c)?;
                }
                Ok(())
            }
            OperationResponse::Decrypt(r) => {
                check_certificate("certificate", &r.certificate)?;
                let index = usize::try_from(r.recipient).unwrap_or(usize::MAX);
                if index >= self.recipients {
                    return Err(format!(
                        "recipient 须指向请求中的 {} 个接收者条目之一，实为 {}",
                        self.recipients, r.recipient
                    ));
                }
                let kek = r.key_encryption_key.0 .0.len();
                if kek != KEK_BYTES {
                    return Err(format!(
                        "key_encryption_key 须为 {KEK_BYTES} 字节，实为 {kek} 字节"
                    ));
                }
                Ok(())
            }
        }
    }
}
