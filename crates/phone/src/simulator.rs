//! The phone simulator's brain: given a request that arrived over the scan channel, show it,
//! decide (confirm / reject, as the user configured), get the co-signing service's consent with
//! the PIN, unseal the certificate key for this one operation and compute the answer.
//!
//! Certificate choice (the user's tap on the phone, automated):
//! - `auth`, `generate`: the `--cert` given, else the phone's enterprise certificate;
//! - `sign`: the `--cert` given, else the certificate that holds the first item's seal kind
//!   (公章 → enterprise, 法人章/法人手写签名 → legal person, 私章 → personal); every item must be
//!   a seal that certificate has, else `seal_not_available`;
//! - `decrypt`: the phone's certificate that is among the envelope's recipients, else
//!   `not_a_recipient`;
//! - `generate`: colleague certificates picked by id (`--pick-colleague`) must belong to the
//!   same company (same credit code) and their number must fit the request's `choose` range.
//!
//! Guarantees: no key is used without a fresh "yes" from the co-signing service for this
//! exact operation (one service call per request, logged there with session id and hash
//! prefixes); the unsealed key lives only inside one call and is zeroized on drop; every
//! failure becomes a typed [`RefusalReason`] for the desktop; nothing here panics on what the
//! desktop sent. It does not talk to the relay (the CLI drives a `bidseal_scan` phone link).

use crate::cosign::client::CosignClient;
use crate::cosign::state::{CosignOperation, OperationContext};
use crate::keystore::{Keystore, KeystoreEntry};
use crate::pki::HolderRole;
use crate::seal_image::SealImageKind;
use bidseal_scan::{
    AuthRequest, AuthResponse, Bytes, DecryptRequest, DecryptResponse, GenerateRequest,
    GenerateResponse, IncomingRequest, ItemSignature, OperationOutcome, OperationRequest,
    OperationResponse, RefusalReason, SealImage, SealKind, SessionBinding, SessionGrant,
    SharedSecretBytes, SignRequest, SignResponse,
};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use p256::{PublicKey, SecretKey};
use x509_cert::der::{DecodePem, Encode};
use zeroize::Zeroizing;

/// What the simulated user does when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserDecision {
    /// Press 确认.
    Confirm,
    /// Press 拒绝.
    Reject,
}

/// A PIN as typed on the phone: zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct EnteredPin(Zeroizing<String>);

impl From<String> for EnteredPin {
    fn from(pin: String) -> Self {
        Self(Zeroizing::new(pin))
    }
}

impl std::fmt::Debug for EnteredPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnteredPin(..)")
    }
}

/// How the simulated user behaves for one scan.
#[derive(Clone)]
pub struct PhoneUser {
    /// The certificate PIN typed on the phone (kept for the session when auto-confirm is on).
    pub pin: EnteredPin,
    /// Answer to every confirmation prompt.
    pub decision: UserDecision,
    /// Tick "自动确认" when the desktop asks for session mode.
    pub auto_confirm: bool,
    /// Certificate to use instead of the automatic choice.
    pub cert: Option<String>,
    /// Colleague certificates to pick for `generate`.
    pub colleagues: Vec<String>,
}

/// The phone: keystore, co-signing service, user.
pub struct PhoneSimulator {
    keystore: Keystore,
    cosign: CosignClient,
    user: PhoneUser,
}

fn invalid(detail: impl Into<String>) -> RefusalReason {
    RefusalReason::InvalidRequest {
        detail: detail.into(),
    }
}

fn seal_image_kind(kind: SealKind) -> Option<(SealImageKind, u8)> {
    match kind {
        SealKind::Enterprise => Some((SealImageKind::EnterpriseSeal, 0)),
        SealKind::LegalPerson => Some((SealImageKind::LegalPersonSeal, 0)),
        SealKind::LegalPersonSignature => Some((SealImageKind::LegalPersonSignature, 0)),
        SealKind::Personal { index } if (1..=3).contains(&index) => {
            Some((SealImageKind::PersonalSeal, index - 1))
        }
        SealKind::Personal { .. } | SealKind::Department => None,
    }
}

fn der_chain(entry: &KeystoreEntry) -> Result<Vec<Bytes>, RefusalReason> {
    let certs = x509_cert::Certificate::load_pem_chain(entry.chain_pem.as_bytes())
        .map_err(|_| invalid("手机证书链损坏"))?;
    certs
        .iter()
        .map(|c| c.to_der().map(Bytes).map_err(|_| invalid("手机证书链损坏")))
        .collect()
}

fn cert_der(entry: &KeystoreEntry) -> Result<Vec<u8>, RefusalReason> {
    x509_cert::Certificate::from_pem(entry.cert_pem.as_bytes())
        .and_then(|c| c.to_der())
        .map_err(|_| invalid("手机证书损坏"))
}

/// Who asked, for the usage log: the platform and a prefix of the desktop's ephemeral key
/// (the desktop's identity within this scan).
fn desktop_label(platform: &bidseal_scan::PlatformRef, binding: &SessionBinding) -> String {
    let key: String = binding
        .desktop_key
        .as_bytes()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}（{}）桌面 {key}", platform.name, platform.id)
}

/// A one-line zh-CN description of a request: what the phone screen shows before the PIN.
pub fn describe(request: &OperationRequest) -> String {
    match request {
        OperationRequest::Auth(r) => format!(
            "扫码认证：平台 {}（{}），用途 {}{}，挑战 {}…",
            r.platform.name,
            r.platform.id,
            match r.purpose {
                bidseal_scan::AuthPurpose::Login => "登录",
                bidseal_scan::AuthPurpose::Bind => "绑定证书",
                bidseal_scan::AuthPurpose::SyncIntegrity => "同步诚信库",
            },
            r.project
                .as_ref()
                .map(|p| format!("，项目 {} {}", p.code, p.name))
                .unwrap_or_default(),
            r.challenge.short_hex()
        ),
        OperationRequest::Sign(r) => {
            let items: Vec<String> = r
                .items
                .iter()
                .map(|i| {
                    format!(
                        "《{}》第 {:?} 页 {} 摘要 {}…",
                        i.document,
                        i.pages,
                        i.seal_kind.name_zh(),
                        i.digest.short_hex()
                    )
                })
                .collect();
            format!(
                "签章：平台 {}{}，共 {} 处：{}",
                r.platform.name,
                r.project
                    .as_ref()
                    .map(|p| format!("，项目 {} {}", p.code, p.name))
                    .unwrap_or_default(),
                r.items.len(),
                items.join("；")
            )
        }
        OperationRequest::Generate(r) => format!(
            "生成标书：平台 {}，项目 {} {}，清单摘要 {}…，需选择参与加密证书 {}–{} 本",
            r.platform.name,
            r.project.code,
            r.project.name,
            r.manifest_digest.short_hex(),
            r.choose.min_extra,
            r.choose.max_extra
        ),
        OperationRequest::Decrypt(r) => format!(
            "扫码解密：平台 {}，项目 {} {}，投标文件 {}（摘要 {}…），开标时间 {}",
            r.platform.name,
            r.project.code,
            r.project.name,
            r.bid_file,
            r.envelope_digest.short_hex(),
            crate::cosign::state::rfc3339(r.opens_at.min(i64::MAX as u64) as i64)
        ),
    }
}

impl PhoneSimulator {
    /// A phone with `keystore`, backed by the co-signing service behind `cosign`.
    pub fn new(keystore: Keystore, cosign: CosignClient, user: PhoneUser) -> Self {
        Self {
            keystore,
            cosign,
            user,
        }
    }

    /// The keystore.
    pub fn keystore(&self) -> &Keystore {
        &self.keystore
    }

    /// Answers one request. `prompt` is called with the zh-CN screen text (stderr in the CLI).
    pub async fn answer(
        &self,
        incoming: &IncomingRequest,
        binding: &SessionBinding,
        prompt: &mut (dyn FnMut(&str) + Send),
    ) -> OperationOutcome {
        let confirm_title = if incoming.id > 1 {
            "扫码签章确认"
        } else {
            "请确认"
        };
        prompt(&format!(
            "[{confirm_title}] {}",
            describe(&incoming.request)
        ));
        if incoming.needs_confirmation && self.user.decision == UserDecision::Reject {
            prompt("用户选择：拒绝");
            return OperationOutcome::Refused {
                reason: RefusalReason::RejectedByUser,
            };
        }
        if !incoming.needs_confirmation {
            prompt("会话已开启自动确认，无需再次确认");
        }
        let result = match &incoming.request {
            OperationRequest::Auth(r) => self.auth(r, binding).await.map(OperationResponse::Auth),
            OperationRequest::Sign(r) => self.sign(r, binding).await.map(OperationResponse::Sign),
            OperationRequest::Generate(r) => self
                .generate(r, binding)
                .await
                .map(OperationResponse::Generate),
            OperationRequest::Decrypt(r) => self
                .decrypt(r, binding)
                .await
                .map(OperationResponse::Decrypt),
        };
        match result {
            Ok(response) => {
                let session = incoming.session_mode.map(|asked| SessionGrant {
                    idle_timeout_secs: asked.idle_timeout_secs,
                    auto_confirm: self.user.auto_confirm,
                });
                if session.is_some() {
                    prompt(if self.user.auto_confirm {
                        "已建立会话（自动确认）"
                    } else {
                        "已建立会话"
                    });
                }
                prompt("已确认，结果已加密发送到桌面端");
                OperationOutcome::Confirmed { response, session }
            }
            Err(reason) => {
                prompt(&format!("已拒绝：{}", reason.message_zh()));
                OperationOutcome::Refused { reason }
            }
        }
    }

    fn entry_by_id(&self, id: &str) -> Result<&KeystoreEntry, RefusalReason> {
        self.keystore
            .entry(id)
            .map_err(|_| RefusalReason::NoSuitableCertificate)
    }

    fn entry_by_role(&self, role: HolderRole) -> Result<&KeystoreEntry, RefusalReason> {
        match &self.user.cert {
            Some(id) => self.entry_by_id(id),
            None => self
                .keystore
                .manifest
                .certificates
                .iter()
                .find(|e| e.role == role)
                .ok_or(RefusalReason::NoSuitableCertificate),
        }
    }

    /// Asks the service for consent and unseals the key for this one operation.
    async fn unlock(
        &self,
        entry: &KeystoreEntry,
        operation: CosignOperation,
        binding: &SessionBinding,
        desktop: &str,
        detail: String,
        _not_before: Option<u64>,
    ) -> Result<SecretKey, RefusalReason> {
        let ctx = OperationContext {
            operation,
            desktop: desktop.to_string(),
            session_id: binding.session.to_base64(),
            detail,
            tender: None, // H4: forward the DecryptRequest's platform-signed tender here
            bound_digest: None,
        };
        let share = self
            .cosign
            .authorise(&entry.id, &self.user.pin.0, entry.holder(), &ctx)
            .await
            .map_err(|e| e.to_refusal())?;
        let pkcs8 = entry
            .sealed_key
            .unseal(&self.user.pin.0, &share, &entry.fingerprint)
            .map_err(|_| RefusalReason::NoSuitableCertificate)?;
        SecretKey::from_pkcs8_der(&pkcs8).map_err(|_| RefusalReason::NoSuitableCertificate)
    }

    fn sign_digest(key: &SecretKey, digest: &[u8; 32]) -> Result<Bytes, RefusalReason> {
        let signing = SigningKey::from(key);
        let sig: Signature = signing
            .sign_prehash(digest)
            .map_err(|_| invalid("签名失败"))?;
        Ok(Bytes(sig.to_der().as_bytes().to_vec()))
    }

    async fn auth(
        &self,
        r: &AuthRequest,
        binding: &SessionBinding,
    ) -> Result<AuthResponse, RefusalReason> {
        let entry = self.entry_by_role(HolderRole::Enterprise)?;
        let hash = r.transcript_hash(binding);
        let detail = format!(
            "认证 {}，挑战 {}…，会话摘要 {}…",
            r.platform.id,
            r.challenge.short_hex(),
            hash.short_hex()
        );
        let key = self
            .unlock(
                entry,
                CosignOperation::Auth,
                binding,
                &desktop_label(&r.platform, binding),
                detail,
                None,
            )
            .await?;
        Ok(AuthResponse {
            certificate_chain: der_chain(entry)?,
            signature: Self::sign_digest(&key, &hash.0)?,
            signed_at: bidseal_scan::unix_now(),
        })
    }

    async fn sign(
        &self,
        r: &SignRequest,
        binding: &SessionBinding,
    ) -> Result<SignResponse, RefusalReason> {
        let first = r
            .items
            .first()
            .ok_or_else(|| invalid("签章请求中没有待签摘要"))?;
        let entry = match &self.user.cert {
            Some(id) => self.entry_by_id(id)?,
            None => {
                let (kind, index) =
                    seal_image_kind(first.seal_kind).ok_or(RefusalReason::SealNotAvailable {
                        seal_kind: first.seal_kind,
                    })?;
                self.keystore
                    .manifest
                    .certificates
                    .iter()
                    .find(|e| e.seals.iter().any(|s| s.kind == kind && s.index == index))
                    .ok_or(RefusalReason::SealNotAvailable {
                        seal_kind: first.seal_kind,
                    })?
            }
        };
        let mut seal_images: Vec<SealImage> = Vec::new();
        for item in &r.items {
            let (kind, index) =
                seal_image_kind(item.seal_kind).ok_or(RefusalReason::SealNotAvailable {
                    seal_kind: item.seal_kind,
                })?;
            let seal = entry
                .seals
                .iter()
                .find(|s| s.kind == kind && s.index == index)
                .ok_or(RefusalReason::SealNotAvailable {
                    seal_kind: item.seal_kind,
                })?;
            if !seal_images.iter().any(|s| s.seal_kind == item.seal_kind) {
                let png =
                    self.keystore
                        .seal_png(seal)
                        .map_err(|_| RefusalReason::SealNotAvailable {
                            seal_kind: item.seal_kind,
                        })?;
                seal_images.push(SealImage {
                    seal_kind: item.seal_kind,
                    png: Bytes(png),
                });
            }
        }
        let approval = r.approval_hash(binding);
        let docs: Vec<String> = r
            .items
            .iter()
            .map(|i| {
                format!(
                    "{}:{}:{}…",
                    i.document,
                    i.seal_kind.name_zh(),
                    i.digest.short_hex()
                )
            })
            .collect();
        let detail = format!(
            "{} 处签章 [{}]，批准摘要 {}…",
            r.items.len(),
            docs.join(", "),
            approval.short_hex()
        );
        let key = self
            .unlock(
                entry,
                CosignOperation::Sign,
                binding,
                &desktop_label(&r.platform, binding),
                detail,
                None,
            )
            .await?;
        let signatures = r
            .items
            .iter()
            .map(|i| {
                Ok(ItemSignature {
                    digest: i.digest,
                    signature: Self::sign_digest(&key, &i.digest.0)?,
                })
            })
            .collect::<Result<Vec<_>, RefusalReason>>()?;
        Ok(SignResponse {
            signatures,
            certificate_chain: der_chain(entry)?,
            seal_images,
        })
    }

    async fn generate(
        &self,
        r: &GenerateRequest,
        binding: &SessionBinding,
    ) -> Result<GenerateResponse, RefusalReason> {
        let entry = self.entry_by_role(HolderRole::Enterprise)?;
        let picked = self.user.colleagues.len();
        if picked < usize::from(r.choose.min_extra) || picked > usize::from(r.choose.max_extra) {
            return Err(invalid(format!(
                "需选择 {}–{} 本参与加密的同事证书，实际选择了 {} 本",
                r.choose.min_extra, r.choose.max_extra, picked
            )));
        }
        let mut encryption_certificates = vec![Bytes(cert_der(entry)?)];
        for id in &self.user.colleagues {
            let colleague = self.entry_by_id(id)?;
            if colleague.uscc != entry.uscc {
                return Err(invalid(format!(
                    "证书 {} 不属于本单位，不能参与加密",
                    colleague.label()
                )));
            }
            if colleague.id == entry.id {
                return Err(invalid("不能重复选择本证书"));
            }
            encryption_certificates.push(Bytes(cert_der(colleague)?));
        }
        let approval = r.approval_hash(binding);
        let detail = format!(
            "项目 {}，清单摘要 {}…，已选择参与加密证书 {} 本，批准摘要 {}…",
            r.project.code,
            r.manifest_digest.short_hex(),
            picked,
            approval.short_hex()
        );
        let key = self
            .unlock(
                entry,
                CosignOperation::Generate,
                binding,
                &desktop_label(&r.platform, binding),
                detail,
                None,
            )
            .await?;
        Ok(GenerateResponse {
            signature: Self::sign_digest(&key, &r.manifest_digest.0)?,
            certificate_chain: der_chain(entry)?,
            encryption_certificates,
        })
    }

    async fn decrypt(
        &self,
        r: &DecryptRequest,
        binding: &SessionBinding,
    ) -> Result<DecryptResponse, RefusalReason> {
        if r.originator_keys.is_empty() {
            return Err(invalid("解密请求中没有发送方临时公钥"));
        }
        let entry = match &self.user.cert {
            Some(id) => self.entry_by_id(id)?,
            None => {
                let mut found = None;
                for e in &self.keystore.manifest.certificates {
                    let der = cert_der(e)?;
                    if r.recipient_certificates.iter().any(|c| c.0 == der) {
                        found = Some(e);
                        break;
                    }
                }
                found.ok_or(RefusalReason::NotARecipient)?
            }
        };
        let own = cert_der(entry)?;
        if !r.recipient_certificates.is_empty()
            && !r.recipient_certificates.iter().any(|c| c.0 == own)
        {
            return Err(RefusalReason::NotARecipient);
        }
        let keys = r
            .originator_keys
            .iter()
            .map(|k| {
                PublicKey::from_sec1_bytes(&k.0).map_err(|_| invalid("发送方临时公钥不是 P-256 点"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let detail = format!(
            "项目 {}，投标文件 {}，信封摘要 {}…",
            r.project.code,
            r.bid_file,
            r.envelope_digest.short_hex()
        );
        let key = self
            .unlock(
                entry,
                CosignOperation::Decrypt,
                binding,
                &desktop_label(&r.platform, binding),
                detail,
                Some(r.opens_at),
            )
            .await?;
        let shared_secrets = keys
            .iter()
            .map(|pk| {
                let shared = p256::ecdh::diffie_hellman(key.to_nonzero_scalar(), pk.as_affine());
                SharedSecretBytes(Bytes(shared.raw_secret_bytes().to_vec()))
            })
            .collect();
        Ok(DecryptResponse {
            certificate: Bytes(own),
            shared_secrets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidseal_scan::{Digest32, PlatformRef, ProjectRef, SignItem};

    #[test]
    fn the_phone_screen_names_platform_document_seal_kind_and_hash_prefix() {
        let digest = Digest32::of(b"page");
        let request = OperationRequest::Sign(SignRequest {
            platform: PlatformRef {
                id: "gz-ggzy".into(),
                name: "广州公共资源交易中心".into(),
            },
            project: Some(ProjectRef {
                code: "GZ-1".into(),
                name: "道路工程".into(),
            }),
            items: vec![SignItem {
                document: "商务标.pdf".into(),
                pages: vec![3],
                seal_kind: SealKind::LegalPerson,
                digest,
            }],
        });
        let screen = describe(&request);
        for part in [
            "广州公共资源交易中心",
            "GZ-1",
            "商务标.pdf",
            "法人章",
            digest.short_hex().as_str(),
        ] {
            assert!(screen.contains(part), "{part} missing from {screen}");
        }
    }
}
