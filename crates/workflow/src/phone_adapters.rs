//! The two places where the desktop needs a private key, answered by the phone instead:
//! [`PhoneSigner`] (a `bidseal_cms` [`Signer`]: one `sign` request per signature, in the scan's
//! session) and [`PhoneKeyAgreement`] (a `bidseal_cms` [`KeyAgreement`]: the ECDH result for
//! one envelope from a `decrypt` request). The desktop never sees a private key.
//!
//! Guarantees: every answer is checked before use — the signed digest echoes the request, the
//! certificate is the one agreed before signing, the signature verifies under it; the shared
//! secret is only used for the recipient entry of the certificate the phone named, and is
//! zeroized on drop. A probe ([`probe_seal`]) learns the certificate chain and seal image of a
//! seal kind before the first real signature (PAdES signed attributes name the certificate),
//! by signing a domain-separated digest bound to this scan that can never be a document hash.
//! Does not: decide trust (callers check chains against the tender's CAs).

use crate::error::FlowError;
use crate::scan_session::{ScanSession, ScanTarget};
use bidseal_cms::cert::Certificate;
use bidseal_cms::envelope::{EnvelopeError, EnvelopeHeader, KeyAgreement, SharedSecret};
use bidseal_cms::signed_data::{
    SignFuture, SignRequest as CmsSignRequest, SignedDataError, Signer,
};
use bidseal_scan::{
    Bytes, DecryptRequest, Digest32, OperationRequest, OperationResponse, SealKind, SignItem,
    SignRequest,
};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;

/// Label of the seal probe digest.
pub const SEAL_PROBE_LABEL: &[u8] = b"bidseal-workflow/v1/seal-probe";

/// Parses DER certificates from the phone.
pub fn parse_chain(chain: &[Bytes]) -> Result<Vec<Certificate>, FlowError> {
    let certs = chain
        .iter()
        .map(|c| Certificate::from_der(&c.0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| FlowError::BadPhoneAnswer {
            detail: format!("证书无法解析：{e}"),
        })?;
    if certs.is_empty() {
        return Err(FlowError::BadPhoneAnswer {
            detail: "没有证书".into(),
        });
    }
    Ok(certs)
}

/// Checks a DER (or raw r‖s) ECDSA signature over the prehashed `digest` under `cert`.
pub fn verify_prehash(cert: &Certificate, digest: &[u8; 32], sig: &[u8]) -> Result<(), FlowError> {
    let bad = |detail: &str| FlowError::BadPhoneAnswer {
        detail: detail.to_string(),
    };
    let key = cert
        .p256_public_key()
        .map_err(|_| bad("证书不是 P-256 密钥"))?;
    let sig = if sig.len() == 64 {
        p256::ecdsa::Signature::from_slice(sig)
    } else {
        p256::ecdsa::Signature::from_der(sig)
    }
    .map_err(|_| bad("签名值格式错误"))?;
    p256::ecdsa::VerifyingKey::from(&key)
        .verify_prehash(digest, &sig)
        .map_err(|_| bad("签名值与证书不符"))
}

/// What a seal kind is, as the phone will sign it.
#[derive(Debug, Clone)]
pub struct SealIdentity {
    /// Signer chain, leaf first.
    pub chain: Vec<Certificate>,
    /// The seal image (PNG).
    pub image_png: Vec<u8>,
}

/// Learns the certificate chain and seal image the phone uses for `kind` (see module doc).
pub async fn probe_seal(
    session: &ScanSession,
    target: &ScanTarget,
    kind: SealKind,
) -> Result<SealIdentity, FlowError> {
    let mut h = Sha256::new();
    h.update(SEAL_PROBE_LABEL);
    h.update(session.binding().transcript.0);
    h.update(kind.name_zh().as_bytes());
    let digest = Digest32(h.finalize().into());
    let request = OperationRequest::Sign(SignRequest {
        platform: target.platform.clone(),
        project: Some(target.project.clone()),
        items: vec![SignItem {
            document: format!("（确认{}与证书）", kind.name_zh()),
            pages: Vec::new(),
            seal_kind: kind,
            digest,
        }],
    });
    let OperationResponse::Sign(resp) = session.perform(request).await? else {
        return Err(FlowError::BadPhoneAnswer {
            detail: "不是签章应答".into(),
        });
    };
    let chain = parse_chain(&resp.certificate_chain)?;
    let sig = resp
        .signatures
        .first()
        .filter(|s| s.digest == digest && resp.signatures.len() == 1)
        .ok_or_else(|| FlowError::BadPhoneAnswer {
            detail: "签章应答中的摘要与请求不符".into(),
        })?;
    verify_prehash(&chain[0], &digest.0, &sig.signature.0)?;
    let image_png = resp
        .seal_images
        .into_iter()
        .find(|i| i.seal_kind == kind)
        .map(|i| i.png.0)
        .ok_or_else(|| FlowError::BadPhoneAnswer {
            detail: format!("手机没有返回{}图片", kind.name_zh()),
        })?;
    Ok(SealIdentity { chain, image_png })
}

/// A [`Signer`] whose signatures come from the phone through an open scan session.
pub struct PhoneSigner {
    session: Arc<ScanSession>,
    target: ScanTarget,
    chain: Vec<Certificate>,
    kind: SealKind,
    document: String,
    pages: Vec<u32>,
}

impl PhoneSigner {
    /// A signer for one seal: `chain` from [`probe_seal`], what the phone shows.
    pub fn new(
        session: Arc<ScanSession>,
        target: ScanTarget,
        chain: Vec<Certificate>,
        kind: SealKind,
        document: String,
        pages: Vec<u32>,
    ) -> Self {
        PhoneSigner {
            session,
            target,
            chain,
            kind,
            document,
            pages,
        }
    }

    async fn sign_on_phone(&self, to_be_signed: &[u8]) -> Result<Vec<u8>, FlowError> {
        let digest = Digest32(Sha256::digest(to_be_signed).into());
        let request = OperationRequest::Sign(SignRequest {
            platform: self.target.platform.clone(),
            project: Some(self.target.project.clone()),
            items: vec![SignItem {
                document: self.document.clone(),
                pages: self.pages.clone(),
                seal_kind: self.kind,
                digest,
            }],
        });
        let OperationResponse::Sign(resp) = self.session.perform(request).await? else {
            return Err(FlowError::BadPhoneAnswer {
                detail: "不是签章应答".into(),
            });
        };
        let chain = parse_chain(&resp.certificate_chain)?;
        if chain[0] != self.chain[0] {
            return Err(FlowError::BadPhoneAnswer {
                detail: "签章证书与确认时的证书不同".into(),
            });
        }
        let sig = resp
            .signatures
            .first()
            .filter(|s| s.digest == digest && resp.signatures.len() == 1)
            .ok_or_else(|| FlowError::BadPhoneAnswer {
                detail: "签章应答中的摘要与请求不符".into(),
            })?;
        verify_prehash(&self.chain[0], &digest.0, &sig.signature.0)?;
        Ok(sig.signature.0.clone())
    }
}

impl Signer for PhoneSigner {
    fn certificate_chain(&self) -> &[Certificate] {
        &self.chain
    }

    fn sign<'a>(&'a self, request: &'a CmsSignRequest) -> SignFuture<'a> {
        Box::pin(async move {
            self.sign_on_phone(&request.to_be_signed)
                .await
                .map_err(|e| SignedDataError::Malformed {
                    detail: format!("[{}] {e}", e.code()),
                })
        })
    }
}

/// The ECDH result for one envelope, obtained from the phone by a `decrypt` request.
pub struct PhoneKeyAgreement {
    certificate: Certificate,
    originator: p256::PublicKey,
    secret: SharedSecret,
}

impl std::fmt::Debug for PhoneKeyAgreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneKeyAgreement")
            .field("certificate", &self.certificate.subject_string())
            .finish_non_exhaustive()
    }
}

/// What the hall tells the phone about the envelope.
#[derive(Debug, Clone)]
pub struct DecryptContext {
    /// Bid file name shown on the phone.
    pub bid_file: String,
    /// SHA-256 of the whole bid file.
    pub envelope_digest: [u8; 32],
    /// Recipient certificates (public; from the bid file's sidecar), may be empty.
    pub recipients: Vec<Certificate>,
    /// Opening time, unix seconds (the co-signing service refuses before it).
    pub opens_at: u64,
}

impl PhoneKeyAgreement {
    /// Asks the phone in `session` for the ECDH results of the envelope with `header`.
    pub async fn obtain(
        session: &ScanSession,
        target: &ScanTarget,
        header: &EnvelopeHeader,
        ctx: &DecryptContext,
    ) -> Result<Self, FlowError> {
        let mut keys = Vec::new();
        let mut originators = Vec::new();
        for entry in &header.recipients.entries {
            if let Ok(key) = entry.originator_key() {
                keys.push(Bytes(key.to_encoded_point(false).as_bytes().to_vec()));
                originators.push((entry.clone(), *key));
            }
        }
        let request = OperationRequest::Decrypt(DecryptRequest {
            platform: target.platform.clone(),
            project: target.project.clone(),
            bid_file: ctx.bid_file.clone(),
            envelope_digest: Digest32(ctx.envelope_digest),
            originator_keys: keys,
            recipient_certificates: ctx
                .recipients
                .iter()
                .map(|c| Bytes(c.der().to_vec()))
                .collect(),
            opens_at: ctx.opens_at,
        });
        let OperationResponse::Decrypt(resp) = session.perform(request).await? else {
            return Err(FlowError::BadPhoneAnswer {
                detail: "不是解密应答".into(),
            });
        };
        let certificate =
            Certificate::from_der(&resp.certificate.0).map_err(|e| FlowError::BadPhoneAnswer {
                detail: format!("解密证书无法解析：{e}"),
            })?;
        let index = originators
            .iter()
            .position(|(entry, _)| entry.is_for(&certificate))
            .ok_or_else(|| {
                FlowError::Bid(bidseal_bid::bidfile::BidFileError::Envelope(
                    EnvelopeError::NotRecipient {
                        recipients: header
                            .recipients
                            .entries
                            .iter()
                            .map(|e| e.describe())
                            .collect(),
                    },
                ))
            })?;
        if resp.shared_secrets.len() != originators.len() {
            return Err(FlowError::BadPhoneAnswer {
                detail: "共享密钥数量与请求不符".into(),
            });
        }
        let raw = &resp.shared_secrets[index].0 .0;
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        if raw.len() != 32 {
            return Err(FlowError::BadPhoneAnswer {
                detail: "共享密钥长度不是 32 字节".into(),
            });
        }
        bytes.copy_from_slice(raw);
        Ok(PhoneKeyAgreement {
            certificate,
            originator: originators[index].1,
            secret: SharedSecret::from_bytes(*bytes),
        })
    }
}

impl KeyAgreement for PhoneKeyAgreement {
    fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn agree(
        &self,
        originator: &p256::PublicKey,
    ) -> impl Future<Output = Result<SharedSecret, EnvelopeError>> + Send {
        let result = if *originator == self.originator {
            Ok(SharedSecret::from_bytes(*self.secret.as_bytes()))
        } else {
            Err(EnvelopeError::Agreement {
                detail: "手机提供的共享密钥不属于此发送方公钥".into(),
            })
        };
        std::future::ready(result)
    }
}
