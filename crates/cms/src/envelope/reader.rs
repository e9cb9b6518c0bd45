//! Opening: reads an AuthEnvelopedData envelope as a stream — definite-length DER (ours,
//! openssl without `-stream`) or indefinite-length BER with the ciphertext in OCTET STRING
//! pieces (openssl `-stream`).
//!
//! Two steps, so that the private-key step can happen elsewhere in between:
//! 1. [`EnvelopeReader::open`] reads everything up to the ciphertext: the recipient list and
//!    the AES-GCM parameters, the recipients' certificates from `originatorInfo` (and checks
//!    the binding of both, see `writer`).
//! 2. After the caller has the content key (`RecipientEntry::unwrap_content_key`),
//!    [`EnvelopeReader::decrypt_into`] streams the ciphertext through AES-GCM into a sink,
//!    then reads and checks the rest of the structure and the tag.
//!
//! Guarantees: memory is bounded (recipient list ≤ [`MAX_RECIPIENT_INFOS_LEN`], one chunk
//! buffer) whatever lengths the file declares; every length is checked against its parent;
//! trailing bytes are refused; success means the tag verified. Does not: hold plaintext back
//! — the sink sees plaintext before the tag is checked, so it must be a temporary file that
//! is discarded on error (as `decrypt_file` does). `authAttrs` are refused (unsupported).

use super::ber::{BerReader, Header, Length};
use super::error::EnvelopeError;
use super::gcm::{GcmStream, NONCE_LEN, TAG_LEN};
use super::keywrap::CEK_LEN;
use super::recipient::RecipientList;
use super::{
    nonce_binding, BINDING_MAGIC, CHUNK_LEN, OID_AES256_GCM, OID_AUTH_ENVELOPED_DATA, OID_DATA,
};
use crate::cert::Certificate;
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Sequence};
use spki::AlgorithmIdentifierOwned;
use std::io::BufRead;

/// Largest recipient list we read (64 recipients need about 15 KB).
pub const MAX_RECIPIENT_INFOS_LEN: u64 = 1 << 20;
/// Largest optional block (unauthAttrs) we skip over.
const MAX_SKIPPED_LEN: u64 = 16 << 20;
/// Largest originatorInfo we read (64 recipient certificates of ~1 KB each fit easily).
pub const MAX_ORIGINATOR_INFO_LEN: u64 = 1 << 20;
/// Largest small field (OIDs, algorithm identifiers, version, mac).
const MAX_SMALL_LEN: u64 = 4096;
/// envelopedData (RFC 5652), to give a helpful message.
const OID_ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");

/// The plain certificates of an `OriginatorInfo` value (`certs [0]` and/or `crls [1]`);
/// other certificate choices and anything unparsable are left out, never an error: the list
/// is a hint, the recipient entries decide.
fn originator_certificates(value: &[u8]) -> Vec<Certificate> {
    let mut out = Vec::new();
    for (tag, certs, _) in der_children(value) {
        if tag != 0xA0 {
            continue;
        }
        for (tag, _, full) in der_children(certs) {
            if tag == 0x30 {
                if let Ok(c) = Certificate::from_der(full) {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The DER TLVs directly inside `value`: (tag, contents, whole TLV). Stops at the first
/// malformed one.
fn der_children(value: &[u8]) -> Vec<(u8, &[u8], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let (Some(&tag), Some(&first)) = (value.get(at), value.get(at + 1)) {
        let (len, header) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7F) as usize;
            let Some(bytes) = value
                .get(at + 2..at + 2 + n)
                .filter(|_| (1..=4).contains(&n))
            else {
                break;
            };
            (
                bytes.iter().fold(0usize, |l, b| (l << 8) | *b as usize),
                2 + n,
            )
        };
        let (Some(contents), Some(full)) = (
            value.get(at + header..at + header + len),
            value.get(at..at + header + len),
        ) else {
            break;
        };
        out.push((tag, contents, full));
        at += header + len;
    }
    out
}

/// GCMParameters (RFC 5084).
#[derive(Sequence)]
struct GcmParameters {
    nonce: OctetString,
    #[asn1(default = "default_icv_len")]
    icv_len: u8,
}

fn default_icv_len() -> u8 {
    12
}

/// Whether the envelope's nonce commits to its recipient list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipientBinding {
    /// Made by BidSeal: the recipient list was checked against the nonce and is intact.
    Verified,
    /// Made by another producer (random nonce): nothing binds the recipient list.
    Absent,
}

/// What the part before the ciphertext says.
#[derive(Clone, Debug)]
pub struct EnvelopeHeader {
    /// The recipients.
    pub recipients: RecipientList,
    /// The AES-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Whether the recipient list is bound to the content.
    pub binding: RecipientBinding,
    /// Ciphertext length when declared up front (definite-length encoding).
    pub content_len: Option<u64>,
    /// Certificates from `originatorInfo.certs` that name one of the recipient entries
    /// (issuer and serial number): which certificates open this envelope. Bound to the content
    /// like the entries (see `writer`), so authenticated once the tag verified; a hint before.
    pub recipient_certificates: Vec<Certificate>,
}

/// An envelope positioned at its ciphertext.
pub struct EnvelopeReader<R> {
    ber: BerReader<R>,
    header: EnvelopeHeader,
    content: Header,
}

fn read_oid<R: BufRead>(
    ber: &mut BerReader<R>,
    what: &'static str,
) -> Result<ObjectIdentifier, EnvelopeError> {
    let header = ber.expect(0x06, what)?;
    let value = ber.read_value(&header, MAX_SMALL_LEN, what)?;
    ObjectIdentifier::from_bytes(&value)
        .map_err(|_| EnvelopeError::malformed(header.offset, format!("{what}无效")))
}

impl<R: BufRead> EnvelopeReader<R> {
    /// Reads the envelope up to its ciphertext.
    pub fn open(source: R) -> Result<Self, EnvelopeError> {
        Self::open_ber(BerReader::new(source))
    }

    /// Like [`EnvelopeReader::open`] for an input of `len` bytes (a file): every declared
    /// length is checked against the bytes that exist before anything is read.
    pub fn open_with_len(source: R, len: u64) -> Result<Self, EnvelopeError> {
        Self::open_ber(BerReader::with_input_len(source, len))
    }

    fn open_ber(mut ber: BerReader<R>) -> Result<Self, EnvelopeError> {
        if ber.peek()?.is_none() {
            return Err(EnvelopeError::Truncated { offset: 0 });
        }
        ber.open_expected(0x30, "ContentInfo")?;
        let content_type = read_oid(&mut ber, "内容类型")?;
        if content_type == OID_ENVELOPED_DATA {
            return Err(EnvelopeError::Unsupported {
                what: "EnvelopedData（非 AES-GCM 认证加密）".to_string(),
            });
        }
        if content_type != OID_AUTH_ENVELOPED_DATA {
            return Err(EnvelopeError::Unsupported {
                what: format!("内容类型 {content_type}（应为 AuthEnvelopedData）"),
            });
        }
        ber.open_expected(0xA0, "[0] 内容")?;
        ber.open_expected(0x30, "AuthEnvelopedData")?;
        let version = ber.expect(0x02, "版本号")?;
        if ber.read_value(&version, MAX_SMALL_LEN, "版本号")? != [0x00] {
            return Err(EnvelopeError::malformed(
                version.offset,
                "AuthEnvelopedData 版本号不是 0",
            ));
        }
        let mut originator_certs = Vec::new();
        let mut originator_der = Vec::new();
        if ber.peek()? == Some(0xA0) {
            let originator_info = ber.read_header()?;
            match originator_info.length {
                Length::Definite(len) if len > MAX_ORIGINATOR_INFO_LEN => {
                    return Err(EnvelopeError::TooLarge {
                        what: "originatorInfo",
                        len,
                        limit: MAX_ORIGINATOR_INFO_LEN,
                    });
                }
                Length::Definite(_) => {
                    let value = ber.read_value(
                        &originator_info,
                        MAX_ORIGINATOR_INFO_LEN,
                        "originatorInfo",
                    )?;
                    originator_certs = originator_certificates(&value);
                    originator_der = originator_info.raw.clone();
                    originator_der.extend_from_slice(&value);
                }
                // Another producer's streamed (BER) originatorInfo: not ours, skipped.
                Length::Indefinite => ber.skip_value(&originator_info, "originatorInfo")?,
            }
        }
        let set = ber.expect(0x31, "接收者列表")?;
        let contents = ber.read_value(&set, MAX_RECIPIENT_INFOS_LEN, "接收者列表")?;
        let contents_offset = set.offset + set.raw.len() as u64;
        let recipients = RecipientList::parse(&contents, contents_offset)?;
        let mut recipient_infos = set.raw.clone();
        recipient_infos.extend_from_slice(&contents);

        ber.open_expected(0x30, "加密内容信息")?;
        let inner_type = read_oid(&mut ber, "加密内容类型")?;
        if inner_type != OID_DATA {
            return Err(EnvelopeError::Unsupported {
                what: format!("加密内容类型 {inner_type}（应为 id-data）"),
            });
        }
        let alg_header = ber.expect(0x30, "内容加密算法")?;
        let alg_value = ber.read_value(&alg_header, MAX_SMALL_LEN, "内容加密算法")?;
        let mut alg_der = alg_header.raw.clone();
        alg_der.extend_from_slice(&alg_value);
        let nonce = gcm_nonce(&alg_der, alg_header.offset)?;

        let binding = if nonce.starts_with(&BINDING_MAGIC) {
            if nonce_binding(&originator_der, &recipient_infos) != nonce {
                return Err(EnvelopeError::RecipientsTampered);
            }
            RecipientBinding::Verified
        } else {
            RecipientBinding::Absent
        };

        let content = match ber.peek()? {
            Some(0x80) | Some(0xA0) => ber.read_header()?,
            Some(_) => {
                return Err(EnvelopeError::Unsupported {
                    what: "密文不在文件内（分离式密文）".to_string(),
                })
            }
            None => {
                return Err(EnvelopeError::Truncated {
                    offset: ber.position(),
                })
            }
        };
        let content_len = match (content.tag, content.length) {
            (0x80, Length::Definite(len)) => Some(len),
            _ => None,
        };
        Ok(Self {
            ber,
            header: EnvelopeHeader {
                recipient_certificates: originator_certs
                    .into_iter()
                    .filter(|c| recipients.entry_for(c).is_ok())
                    .collect(),
                recipients,
                nonce,
                binding,
                content_len,
            },
            content,
        })
    }

    /// What the envelope says before its ciphertext.
    pub fn header(&self) -> &EnvelopeHeader {
        &self.header
    }

    /// Decrypts the ciphertext with `cek` into `sink`, then checks the rest of the envelope
    /// and the GCM tag. `progress` gets the file offset reached. Returns the plaintext length.
    pub fn decrypt_into(
        mut self,
        cek: &[u8; CEK_LEN],
        mut sink: impl FnMut(&[u8]) -> Result<(), EnvelopeError>,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, EnvelopeError> {
        let mut gcm = GcmStream::new(cek, &self.header.nonce);
        let mut buf = vec![0u8; CHUNK_LEN];
        let ber = &mut self.ber;
        let mut feed = |piece: &mut [u8], ber_pos: u64| -> Result<(), EnvelopeError> {
            gcm.decrypt(piece)
                .map_err(|_| EnvelopeError::malformed(ber_pos, "密文超过 AES-GCM 长度上限"))?;
            sink(piece)?;
            progress(ber_pos);
            Ok(())
        };
        if self.content.constructed() {
            // [0] { OCTET STRING … } possibly nested, definite or indefinite.
            ber.open(&self.content)?;
            let base = ber.depth();
            while ber.depth() >= base {
                if ber.at_end()? {
                    ber.close("密文分段")?;
                    continue;
                }
                let piece = ber.read_header()?;
                match piece.tag {
                    0x04 => {
                        let mut pos = ber.position();
                        ber.stream_value(&piece, &mut buf, |chunk| {
                            pos += chunk.len() as u64;
                            feed(chunk, pos)
                        })?;
                    }
                    0x24 => ber.open(&piece)?,
                    other => {
                        return Err(EnvelopeError::malformed(
                            piece.offset,
                            format!("密文分段标签 0x{other:02X} 无效"),
                        ))
                    }
                }
            }
        } else {
            let mut pos = ber.position();
            ber.stream_value(&self.content, &mut buf, |chunk| {
                pos += chunk.len() as u64;
                feed(chunk, pos)
            })?;
        }
        ber.close("加密内容信息")?;
        if ber.peek()? == Some(0xA1) {
            return Err(EnvelopeError::Unsupported {
                what: "带认证属性（authAttrs）的信封".to_string(),
            });
        }
        let mac_header = ber.expect(0x04, "认证标签（mac）")?;
        let mac = ber.read_value(&mac_header, MAX_SMALL_LEN, "认证标签")?;
        if mac.len() != TAG_LEN {
            return Err(EnvelopeError::malformed(
                mac_header.offset,
                "认证标签长度不是 16 字节",
            ));
        }
        if ber.peek()? == Some(0xA2) {
            let unauth = ber.read_header()?;
            if let Length::Definite(len) = unauth.length {
                if len > MAX_SKIPPED_LEN {
                    return Err(EnvelopeError::TooLarge {
                        what: "unauthAttrs",
                        len,
                        limit: MAX_SKIPPED_LEN,
                    });
                }
            }
            ber.skip_value(&unauth, "unauthAttrs")?;
        }
        ber.close("AuthEnvelopedData")?;
        ber.close("[0] 内容")?;
        ber.close("ContentInfo")?;
        if ber.peek()?.is_some() {
            return Err(EnvelopeError::malformed(
                ber.position(),
                "文件末尾有多余数据",
            ));
        }
        let len = gcm.len();
        if !gcm.verify(&mac) {
            return Err(EnvelopeError::Tampered);
        }
        Ok(len)
    }
}

/// Reads the nonce from an `AlgorithmIdentifier { id-aes256-GCM, GCMParameters }`.
fn gcm_nonce(alg_der: &[u8], offset: u64) -> Result<[u8; NONCE_LEN], EnvelopeError> {
    let alg = AlgorithmIdentifierOwned::from_der(alg_der)
        .map_err(|e| EnvelopeError::malformed(offset, format!("内容加密算法：{e}")))?;
    if alg.oid != OID_AES256_GCM {
        return Err(EnvelopeError::Unsupported {
            what: format!("内容加密算法 {}（仅支持 AES-256-GCM）", alg.oid),
        });
    }
    let params: GcmParameters = alg
        .parameters
        .as_ref()
        .ok_or_else(|| EnvelopeError::malformed(offset, "缺少 GCM 参数"))?
        .decode_as()
        .map_err(|e| EnvelopeError::malformed(offset, format!("GCM 参数：{e}")))?;
    if usize::from(params.icv_len) != TAG_LEN {
        return Err(EnvelopeError::Unsupported {
            what: format!("GCM 认证标签长度 {}（仅支持 16）", params.icv_len),
        });
    }
    params
        .nonce
        .as_bytes()
        .try_into()
        .map_err(|_| EnvelopeError::Unsupported {
            what: "GCM 随机数长度不是 12 字节".to_string(),
        })
}
