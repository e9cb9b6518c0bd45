//! The two places where the desktop needs a private key, answered by the phone instead:
//! [`PhoneSigner`] (a `bidseal_cms` [`Signer`]: one `sign` request per PAdES signature, in the
//! scan's session, carrying the DER signed attributes) and [`PhoneKeyAgreement`] (a
//! `bidseal_cms` [`KeyAgreement`]: the key-encryption key of the phone's own entry of one
//! envelope, from a `decrypt` request carrying the platform-signed tender). The desktop never
//! sees a private key nor a raw ECDH secret.
//!
//! Before the first seal of a kind, [`lookup_seal`] asks the phone (a `sign` request without
//! items) for the certificate chain and the seal image it will use, and checks them *before
//! anything is embedded* ([`check_seal_certificate`]: chain to the tender's accepted CAs,
//! valid now, keyUsage digitalSignature or nonRepudiation, the bidder's company for
//! enterprise / legal-person / department seals; the image bound to that certificate by its
//! key).
//!
//! Guarantees: every answer is checked before use — the signed digest is SHA-256 of the exact
//! attributes sent, the certificate is the one agreed before signing, the signature verifies
//! under it; the key-encryption key is only used for the recipient entry of the certificate
//! the phone named, and is zeroized on drop. Does not: decide what the tender accepts (the
//! caller passes the accepted CAs and the bidder).

use crate::error::FlowError;
use crate::scan_session::{ScanSession, ScanTarget};
use bidseal_bid::bidfile::{check_bidder_certificate, BidderIds};
use bidseal_cms::cert::{Certificate, KeyUsages, TrustStore};
use bidseal_cms::envelope::{EnvelopeError, EnvelopeHeader, KeyAgreement, KeyEncryptionKey};
use bidseal_cms::envelope::{RecipientEntry, RecipientList};
use bidseal_cms::signed_data::{
    SignFuture, SignRequest as CmsSignRequest, SignedDataError, Signer,
};
use bidseal_scan::{
    Bytes, DecryptRecipient, DecryptRequest, Digest32, OperationRequest, OperationResponse,
    SealImage, SealKind, SignItem, SignRequest, SignedTender,
};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

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

/// What a seal kind is, as the phone will sign it: checked against the tender.
#[derive(Debug, Clone)]
pub struct SealIdentity {
    /// Signer chain, leaf first.
    pub chain: Vec<Certificate>,
    /// The seal image (PNG), bound to `chain[0]`.
    pub image_png: Vec<u8>,
}

/// What a seal certificate must satisfy: the tender's accepted CAs and the bidder.
#[derive(Debug, Clone)]
pub struct SealPolicy {
    /// CAs the tender accepts.
    pub accepted: TrustStore,
    /// The bidder (company name + credit code).
    pub bidder: BidderIds,
}

/// Whether a seal of `kind` must be the bidder company's own (公章, 法人章, 法人签名, 部门章).
fn must_be_bidders(kind: SealKind) -> bool {
    !matches!(kind, SealKind::Personal { .. })
}

/// Checks the certificate a seal of `kind` would be made with, at `at`, before anything is
/// embedded: chain to an accepted CA and validity, keyUsage digitalSignature or
/// nonRepudiation, and for company seals the bidder's name and credit code. zh-CN reasons.
pub fn check_seal_certificate(
    chain: &[Certificate],
    kind: SealKind,
    policy: &SealPolicy,
    at: SystemTime,
) -> Result<(), FlowError> {
    let leaf = chain.first().ok_or_else(|| FlowError::BadPhoneAnswer {
        detail: "没有证书".into(),
    })?;
    let refuse = |why: String| FlowError::SealCertificateRefused {
        seal: kind.name_zh(),
        subject: leaf.subject_string(),
        why,
    };
    if !(leaf.allows(KeyUsages::DigitalSignature) || leaf.allows(KeyUsages::NonRepudiation)) {
        return Err(refuse(
            "证书的密钥用法不含数字签名（digitalSignature）或不可否认（nonRepudiation）".into(),
        ));
    }
    if must_be_bidders(kind) {
        check_bidder_certificate(chain, &policy.accepted, &policy.bidder, at)
            .map_err(|e| refuse(e.to_string()))?;
    } else {
        policy
            .accepted
            .verify_chain(leaf, chain.get(1..).unwrap_or_default(), at)
            .map_err(|e| refuse(format!("不是招标文件认可的 CA 签发或不在有效期内：{e}")))?;
    }
    Ok(())
}

/// Asks the phone which certificate and seal image it uses for `kind` (a `sign` request
/// with no items: nothing is signed but the image binding) and checks both against `policy`
/// before any seal is made.
pub async fn lookup_seal(
    session: &ScanSession,
    target: &ScanTarget,
    kind: SealKind,
    policy: &SealPolicy,
) -> Result<SealIdentity, FlowError> {
    let request = OperationRequest::Sign(SignRequest {
        platform: target.platform.clone(),
        project: Some(target.project.clone()),
        items: Vec::new(),
        lookup: vec![kind],
    });
    let OperationResponse::Sign(resp) = session.perform(request).await? else {
        return Err(FlowError::BadPhoneAnswer {
            detail: "不是签章应答".into(),
        });
    };
    if !resp.signatures.is_empty() {
        return Err(FlowError::BadPhoneAnswer {
            detail: "查询印章时手机不应返回签名".into(),
        });
    }
    let chain = parse_chain(&resp.certificate_chain)?;
    check_seal_certificate(&chain, kind, policy, SystemTime::now())?;
    let image = resp
        .seal_images
        .into_iter()
        .find(|i| i.seal_kind == kind)
        .ok_or_else(|| FlowError::BadPhoneAnswer {
            detail: format!("手机没有返回{}图片", kind.name_zh()),
        })?;
    check_seal_image(&chain[0], &image)?;
    Ok(SealIdentity {
        chain,
        image_png: image.png.0,
    })
}

/// Checks that `image` is bound to `leaf` by its key (the holder vouches for the image).
pub fn check_seal_image(leaf: &Certificate, image: &SealImage) -> Result<(), FlowError> {
    let hash = SealImage::binding_hash(leaf.der(), image.seal_kind, &image.png.0);
    verify_prehash(leaf, &hash.0, &image.binding.0).map_err(|_| FlowError::SealCertificateRefused {
        seal: image.seal_kind.name_zh(),
        subject: leaf.subject_string(),
        why: "印章图片不是该证书持有人的印章（图片与证书的绑定签名无效）".into(),
    })
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
    /// A signer for one seal: `chain` from [`lookup_seal`], what the phone shows.
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
        let item = SignItem {
            document: self.document.clone(),
            pages: self.pages.clone(),
            seal_kind: self.kind,
            signed_attributes: Bytes(to_be_signed.to_vec()),
        };
        let digest = item.digest();
        let request = OperationRequest::Sign(SignRequest {
            platform: self.target.platform.clone(),
            project: Some(self.target.project.clone()),
            items: vec![item],
            lookup: Vec::new(),
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

/// The key-encryption key of one recipient entry, obtained from the phone by a `decrypt`
/// request.
pub struct PhoneKeyAgreement {
    certificate: Certificate,
    entry: RecipientEntry,
    kek: KeyEncryptionKey,
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
    /// The platform-signed tender (the phone's source of the opening time).
    pub tender: SignedTender,
}

fn not_recipient(list: &RecipientList) -> FlowError {
    FlowError::Bid(bidseal_bid::bidfile::BidFileError::Envelope(
        EnvelopeError::NotRecipient {
            recipients: list.entries.iter().map(|e| e.describe()).collect(),
        },
    ))
}

/// The request's view of the envelope's key-agreement entries, with the entries themselves.
pub fn decrypt_recipients(
    header: &EnvelopeHeader,
) -> Result<Vec<(DecryptRecipient, RecipientEntry)>, FlowError> {
    let mut out = Vec::new();
    for entry in &header.recipients.entries {
        let Ok(key) = entry.originator_key() else {
            continue;
        };
        let id = entry.id_der().map_err(|e| FlowError::System {
            detail: format!("接收者标识无法编码：{e}"),
        })?;
        out.push((
            DecryptRecipient {
                recipient: Bytes(id),
                originator_key: Bytes(key.to_encoded_point(false).as_bytes().to_vec()),
                ukm: Bytes(entry.ukm().unwrap_or_default().to_vec()),
            },
            entry.clone(),
        ));
    }
    Ok(out)
}

impl PhoneKeyAgreement {
    /// Asks the phone in `session` for the key-encryption key of its entry of the envelope
    /// with `header`.
    pub async fn obtain(
        session: &ScanSession,
        target: &ScanTarget,
        header: &EnvelopeHeader,
        ctx: &DecryptContext,
    ) -> Result<Self, FlowError> {
        let entries = decrypt_recipients(header)?;
        let request = OperationRequest::Decrypt(DecryptRequest {
            platform: target.platform.clone(),
            project: target.project.clone(),
            bid_file: ctx.bid_file.clone(),
            envelope_digest: Digest32(ctx.envelope_digest),
            tender: ctx.tender.clone(),
            recipients: entries.iter().map(|(r, _)| r.clone()).collect(),
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
        let (_, entry) = usize::try_from(resp.recipient)
            .ok()
            .and_then(|i| entries.get(i))
            .ok_or_else(|| FlowError::BadPhoneAnswer {
                detail: "手机指明的接收者条目不存在".into(),
            })?;
        if !entry.is_for(&certificate) {
            return Err(not_recipient(&header.recipients));
        }
        let raw = &resp.key_encryption_key.0 .0;
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| FlowError::BadPhoneAnswer {
                detail: "密钥加密密钥长度不是 32 字节".into(),
            })?;
        Ok(PhoneKeyAgreement {
            certificate,
            entry: entry.clone(),
            kek: KeyEncryptionKey::from_bytes(bytes),
        })
    }
}

impl KeyAgreement for PhoneKeyAgreement {
    fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn key_encryption_key(
        &self,
        entry: &RecipientEntry,
    ) -> impl Future<Output = Result<KeyEncryptionKey, EnvelopeError>> + Send {
        let same = entry.id() == self.entry.id()
            && entry.ukm() == self.entry.ukm()
            && entry.originator_key().ok() == self.entry.originator_key().ok();
        let result = if same {
            Ok(KeyEncryptionKey::from_bytes(*self.kek.as_bytes()))
        } else {
            Err(EnvelopeError::Agreement {
                detail: "手机提供的密钥加密密钥不属于此接收者条目".into(),
            })
        };
        std::future::ready(result)
    }
}
