//! The phone simulator's brain: given a request that arrived over the scan channel, show it,
//! decide (confirm / reject, as the user configured), get the co-signing service's consent with
//! the PIN, unseal the certificate key for this one operation and compute the answer.
//!
//! Certificate choice (the user's tap on the phone, automated):
//! - `auth`, `generate`: the `--cert` given, else the phone's enterprise certificate;
//! - `sign`: the `--cert` given, else the certificate that holds the first item's seal kind
//!   (公章 → enterprise, 法人章/法人手写签名 → legal person, 私章 → personal); every item must be
//!   a seal that certificate has, else `seal_not_available`;
//! - `decrypt`: the phone's certificate named by one of the envelope's recipient entries, else
//!   `not_a_recipient`;
//! - `generate`: colleague certificates picked by id (`--pick-colleague`) must belong to the
//!   same company (same credit code) and their number must fit the request's `choose` range.
//!
//! What each operation signs or computes is fixed here, never a digest the desktop chose
//! (see [`crate::gates`]): `auth` the session-bound transcript; `sign` SHA-256 of checked
//! PAdES signed attributes; `generate` SHA-256 of checked manifest signed attributes;
//! `decrypt` the key-encryption key of the one envelope entry naming the phone's certificate,
//! with the entry's `ukm` checked against the tender the phone verified, and only when the
//! phone's clock is past the signed opening time — or, for a trial decryption (试解密), when
//! the `ukm` names the manifest signed by a confirmed Generate in this same scan.
//! Session mode (会话签章) is granted for `sign` only, capped in idle time, requests and
//! lifetime ([`bidseal_scan::MAX_GRANT_REQUESTS`] …), which the phone shows and enforces.
//!
//! Guarantees: no key is used without a fresh "yes" from the co-signing service for this
//! exact operation (one service call per request, logged there with session id and hash
//! prefixes); the unsealed key lives only inside one call and is zeroized on drop; every
//! failure becomes a typed [`RefusalReason`] for the desktop; nothing here panics on what the
//! desktop sent. It does not talk to the relay (the CLI drives a `bidseal_scan` phone link).

use crate::cosign::client::CosignClient;
use crate::cosign::state::{CosignOperation, OperationContext, TenderEvidence};
use crate::gates::{
    check_manifest_attributes, check_pades_attributes, recipient_id, PinnedPlatforms,
};
use crate::keystore::{Keystore, KeystoreEntry};
use crate::pki::HolderRole;
use crate::seal_image::SealImageKind;
use bidseal_scan::{
    AuthRequest, AuthResponse, Bytes, DecryptRequest, DecryptResponse, Digest32, EnvelopeUkm,
    GenerateRequest, GenerateResponse, IncomingRequest, ItemSignature, OperationOutcome,
    OperationRequest, OperationResponse, RefusalReason, SealImage, SealKind, SessionBinding,
    SessionGrant, SharedSecretBytes, SignRequest, SignResponse, MAX_GRANT_IDLE_SECS,
    MAX_GRANT_LIFETIME_SECS, MAX_GRANT_REQUESTS,
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

/// The phone: keystore, co-signing service, user, pinned trading platforms.
pub struct PhoneSimulator {
    keystore: Keystore,
    cosign: CosignClient,
    user: PhoneUser,
    platforms: PinnedPlatforms,
}

/// What the phone remembers within one scan (one channel): the Generate it signed (for the
/// trial decryption that may follow) and the session grant it gave.
#[derive(Debug, Default)]
pub struct ScanMemory {
    generated: Option<Generated>,
    grant: Option<SessionGrant>,
}

impl ScanMemory {
    /// The session grant given in this scan, if any.
    pub fn grant(&self) -> Option<SessionGrant> {
        self.grant
    }
}

#[derive(Debug, Clone)]
struct Generated {
    cert_id: String,
    signed_digest: Digest32,
    manifest_digest: Digest32,
}

fn suspicious(detail: impl Into<String>) -> RefusalReason {
    RefusalReason::SuspiciousRequest {
        detail: detail.into(),
    }
}

fn cms_certificate(entry: &KeystoreEntry) -> Result<bidseal_cms::cert::Certificate, RefusalReason> {
    bidseal_cms::cert::Certificate::from_der(&cert_der(entry)?).map_err(|_| invalid("手机证书损坏"))
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
            "扫码认证：平台 {}（{}），用途 {}{}，挑战 {}…{}",
            r.platform.name,
            r.platform.id,
            r.purpose.name_zh(),
            r.project
                .as_ref()
                .map(|p| format!("，项目 {} {}", p.code, p.name))
                .unwrap_or_default(),
            r.challenge.short_hex(),
            // Who asked (a web browser the platform saw), cleaned and cut for the screen: a
            // QR relayed from an attacker's browser names the attacker's address.
            r.requester
                .as_ref()
                .map(|q| format!(
                    "；{}请求来自 {}（{}），如非本人操作请拒绝",
                    r.purpose.name_zh(),
                    q.address_on_screen(),
                    q.agent_on_screen()
                ))
                .unwrap_or_default()
        ),
        OperationRequest::Sign(r) => {
            let items: Vec<String> = r
                .items
                .iter()
                .map(|i| {
                    format!(
                        "《{}》第 {:?} 页 {} 文档摘要 {}…（签名属性摘要 {}…）",
                        i.document,
                        i.pages,
                        i.seal_kind.name_zh(),
                        crate::gates::message_digest_of(&i.signed_attributes.0)
                            .map(|d| d.short_hex())
                            .unwrap_or_else(|| "（无法读取）".into()),
                        i.digest().short_hex()
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
                if items.is_empty() {
                    format!(
                        "签章准备（查询{}与证书）",
                        r.lookup
                            .iter()
                            .map(SealKind::name_zh)
                            .collect::<Vec<_>>()
                            .join("、")
                    )
                } else {
                    items.join("；")
                }
            )
        }
        OperationRequest::Generate(r) => format!(
            "{}：平台 {}，项目 {} {}，清单摘要 {}…，需选择参与加密证书 {}–{} 本",
            if r.trial {
                "试解密（确认投标文件清单）"
            } else {
                "生成标书"
            },
            r.platform.name,
            r.project.code,
            r.project.name,
            Digest32::of(&r.manifest.0).short_hex(),
            r.choose.min_extra,
            r.choose.max_extra
        ),
        OperationRequest::Decrypt(r) => format!(
            "扫码解密：平台 {}，项目 {} {}，投标文件 {}（摘要 {}…），招标文件清单摘要 {}…（开标时间以平台签名的招标文件为准）",
            r.platform.name,
            r.project.code,
            r.project.name,
            r.bid_file,
            r.envelope_digest.short_hex(),
            r.tender.digest().short_hex()
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
            platforms: PinnedPlatforms::default(),
        }
    }

    /// Pins the trading platforms whose signed tenders the phone accepts for decryption.
    pub fn with_platforms(mut self, platforms: PinnedPlatforms) -> Self {
        self.platforms = platforms;
        self
    }

    /// The keystore.
    pub fn keystore(&self) -> &Keystore {
        &self.keystore
    }

    /// Answers one request of the scan whose state is `memory`. `prompt` is called with the
    /// zh-CN screen text (stderr in the CLI).
    pub async fn answer(
        &self,
        incoming: &IncomingRequest,
        binding: &SessionBinding,
        memory: &mut ScanMemory,
        prompt: &mut (dyn FnMut(&str) + Send),
    ) -> OperationOutcome {
        // Each title is a phrase of its own (the command line puts the screen into English).
        let screen = describe(&incoming.request);
        prompt(&if incoming.id > 1 {
            format!("[扫码签章确认] {screen}")
        } else {
            format!("[请确认] {screen}")
        });
        if let Err(reason) = Self::session_rules(incoming, memory) {
            prompt(&format!("已拒绝：{}", reason.message_zh()));
            return OperationOutcome::Refused { reason };
        }
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
                .generate(r, binding, memory)
                .await
                .map(OperationResponse::Generate),
            OperationRequest::Decrypt(r) => self
                .decrypt(r, binding, memory, prompt)
                .await
                .map(OperationResponse::Decrypt),
        };
        match result {
            Ok(response) => {
                let session = incoming.session_mode.map(|asked| SessionGrant {
                    idle_timeout_secs: asked.idle_timeout_secs.clamp(1, MAX_GRANT_IDLE_SECS),
                    auto_confirm: self.user.auto_confirm,
                    max_requests: MAX_GRANT_REQUESTS,
                    expires_at: bidseal_scan::unix_now() + MAX_GRANT_LIFETIME_SECS,
                });
                if let Some(g) = session {
                    memory.grant = Some(g);
                    prompt(&format!(
                        "已建立会话{}：最多 {} 次签章请求，有效至 {}，空闲 {} 秒自动结束",
                        if self.user.auto_confirm {
                            "（自动确认）"
                        } else {
                            ""
                        },
                        g.max_requests,
                        crate::cosign::state::rfc3339(g.expires_at.min(i64::MAX as u64) as i64),
                        g.idle_timeout_secs
                    ));
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

    /// Session mode only for `sign`; a session's requests only within its lifetime.
    fn session_rules(incoming: &IncomingRequest, memory: &ScanMemory) -> Result<(), RefusalReason> {
        if incoming.session_mode.is_some() && !matches!(incoming.request, OperationRequest::Sign(_))
        {
            return Err(suspicious(format!(
                "会话模式只用于签章，{}必须每次扫码单独确认",
                incoming.request.kind().name_zh()
            )));
        }
        if let Some(g) = memory.grant {
            if bidseal_scan::unix_now() > g.expires_at {
                return Err(RefusalReason::InvalidRequest {
                    detail: "会话已超过有效期，请重新扫码建立会话".into(),
                });
            }
        }
        Ok(())
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
    #[allow(clippy::too_many_arguments)] // one call site per operation, each names every part
    async fn unlock(
        &self,
        entry: &KeystoreEntry,
        operation: CosignOperation,
        binding: &SessionBinding,
        desktop: &str,
        detail: String,
        tender: Option<TenderEvidence>,
        bound_digest: Option<Digest32>,
    ) -> Result<SecretKey, RefusalReason> {
        let ctx = Self::context(operation, binding, desktop, detail, tender, bound_digest);
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

    /// Signs `digests` with the certificate after the service's consent: a whole key unsealed
    /// for this one operation, or for a split key ([`KeystoreEntry::split`]) joint signatures
    /// with the service (one decision for all digests). DER signatures, in order.
    #[allow(clippy::too_many_arguments)] // one call site per operation, each names every part
    async fn sign_digests(
        &self,
        entry: &KeystoreEntry,
        operation: CosignOperation,
        binding: &SessionBinding,
        desktop: &str,
        detail: String,
        bound_digest: Option<Digest32>,
        digests: &[[u8; 32]],
    ) -> Result<Vec<Bytes>, RefusalReason> {
        if !entry.split {
            let key = self
                .unlock(
                    entry,
                    operation,
                    binding,
                    desktop,
                    detail,
                    None,
                    bound_digest,
                )
                .await?;
            return digests.iter().map(|d| Self::sign_digest(&key, d)).collect();
        }
        let ctx = Self::context(operation, binding, desktop, detail, None, bound_digest);
        let signatures = self
            .cosign
            .split_sign(
                &entry.id,
                &self.user.pin.0,
                entry.holder(),
                &ctx,
                digests,
                &|seal| self.open_share(entry, seal),
            )
            .await
            .map_err(|e| e.to_refusal())?;
        Ok(signatures
            .iter()
            .map(|s| Bytes(s.to_der().as_bytes().to_vec()))
            .collect())
    }

    /// The phone's share of a split key, opened with the seal share the service released.
    fn open_share(
        &self,
        entry: &KeystoreEntry,
        seal: &crate::key_seal::ServiceShare,
    ) -> Option<crate::key_split::KeyShare> {
        let bytes = entry
            .sealed_key
            .unseal(&self.user.pin.0, seal, &entry.fingerprint)
            .ok()?;
        crate::key_split::KeyShare::from_secret_bytes(&bytes, crate::key_split::Side::Phone).ok()
    }

    fn context(
        operation: CosignOperation,
        binding: &SessionBinding,
        desktop: &str,
        detail: String,
        tender: Option<TenderEvidence>,
        bound_digest: Option<Digest32>,
    ) -> OperationContext {
        OperationContext {
            operation,
            desktop: desktop.to_string(),
            session_id: binding.session.to_base64(),
            detail,
            tender,
            bound_digest: bound_digest.map(|d| hex::encode(d.0)),
        }
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
            "认证 {}，用途 {}，挑战 {}…，会话摘要 {}…",
            r.platform.id,
            r.purpose.name_zh(),
            r.challenge.short_hex(),
            hash.short_hex()
        );
        let mut signatures = self
            .sign_digests(
                entry,
                CosignOperation::Auth,
                binding,
                &desktop_label(&r.platform, binding),
                detail,
                None,
                &[hash.0],
            )
            .await?;
        let signature = signatures.pop().ok_or_else(|| invalid("签名失败"))?;
        Ok(AuthResponse {
            certificate_chain: der_chain(entry)?,
            signature,
            signed_at: bidseal_scan::unix_now(),
        })
    }

    async fn sign(
        &self,
        r: &SignRequest,
        binding: &SessionBinding,
    ) -> Result<SignResponse, RefusalReason> {
        let kinds: Vec<SealKind> = r
            .items
            .iter()
            .map(|i| i.seal_kind)
            .chain(r.lookup.iter().copied())
            .collect();
        let first = *kinds
            .first()
            .ok_or_else(|| invalid("签章请求中没有待签内容"))?;
        let entry = match &self.user.cert {
            Some(id) => self.entry_by_id(id)?,
            None => {
                let (kind, index) = seal_image_kind(first)
                    .ok_or(RefusalReason::SealNotAvailable { seal_kind: first })?;
                self.keystore
                    .manifest
                    .certificates
                    .iter()
                    .find(|e| e.seals.iter().any(|s| s.kind == kind && s.index == index))
                    .ok_or(RefusalReason::SealNotAvailable { seal_kind: first })?
            }
        };
        let certificate = cms_certificate(entry)?;
        // Every item must be a PAdES attribute set for this certificate (never a bare digest).
        let checked = r
            .items
            .iter()
            .map(|i| check_pades_attributes(&i.signed_attributes.0, &certificate))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seal_pngs: Vec<(SealKind, Vec<u8>)> = Vec::new();
        for seal_kind in kinds {
            let (kind, index) =
                seal_image_kind(seal_kind).ok_or(RefusalReason::SealNotAvailable { seal_kind })?;
            let seal = entry
                .seals
                .iter()
                .find(|s| s.kind == kind && s.index == index)
                .ok_or(RefusalReason::SealNotAvailable { seal_kind })?;
            if !seal_pngs.iter().any(|(k, _)| *k == seal_kind) {
                let png = self
                    .keystore
                    .seal_png(seal)
                    .map_err(|_| RefusalReason::SealNotAvailable { seal_kind })?;
                seal_pngs.push((seal_kind, png));
            }
        }
        let approval = r.approval_hash(binding);
        let docs: Vec<String> = r
            .items
            .iter()
            .zip(&checked)
            .map(|(i, c)| {
                format!(
                    "{}:{}:内容摘要 {}…",
                    i.document,
                    i.seal_kind.name_zh(),
                    c.message_digest.short_hex()
                )
            })
            .collect();
        let detail = if r.items.is_empty() {
            format!(
                "签章准备：查询{}与证书，批准摘要 {}…",
                r.lookup
                    .iter()
                    .map(SealKind::name_zh)
                    .collect::<Vec<_>>()
                    .join("、"),
                approval.short_hex()
            )
        } else {
            format!(
                "{} 处签章 [{}]，批准摘要 {}…",
                r.items.len(),
                docs.join(", "),
                approval.short_hex()
            )
        };
        let bindings: Vec<Digest32> = seal_pngs
            .iter()
            .map(|(seal_kind, png)| SealImage::binding_hash(certificate.der(), *seal_kind, png))
            .collect();
        let digests: Vec<[u8; 32]> = checked
            .iter()
            .map(|c| c.to_sign.0)
            .chain(bindings.iter().map(|b| b.0))
            .collect();
        let mut signed = self
            .sign_digests(
                entry,
                CosignOperation::Sign,
                binding,
                &desktop_label(&r.platform, binding),
                detail,
                None,
                &digests,
            )
            .await?
            .into_iter();
        if signed.len() != digests.len() {
            return Err(invalid("签名个数不符"));
        }
        let signatures = checked
            .iter()
            .zip(signed.by_ref())
            .map(|(c, signature)| ItemSignature {
                digest: c.to_sign,
                signature,
            })
            .collect();
        let seal_images = seal_pngs
            .into_iter()
            .zip(signed)
            .map(|((seal_kind, png), binding)| SealImage {
                seal_kind,
                binding,
                png: Bytes(png),
            })
            .collect();
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
        memory: &mut ScanMemory,
    ) -> Result<GenerateResponse, RefusalReason> {
        let entry = self.entry_by_role(HolderRole::Enterprise)?;
        // A trial re-confirms an existing bid: no colleague certificates are picked.
        let colleagues: &[String] = if r.trial { &[] } else { &self.user.colleagues };
        let picked = colleagues.len();
        if !r.trial
            && (picked < usize::from(r.choose.min_extra)
                || picked > usize::from(r.choose.max_extra))
        {
            return Err(invalid(format!(
                "需选择 {}–{} 本参与加密的同事证书，实际选择了 {} 本",
                r.choose.min_extra, r.choose.max_extra, picked
            )));
        }
        let certificate = cms_certificate(entry)?;
        let checked = check_manifest_attributes(
            &r.manifest.0,
            &r.signed_attributes.0,
            &certificate,
            &entry.uscc,
        )?;
        let mut encryption_certificates = vec![Bytes(cert_der(entry)?)];
        for id in colleagues {
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
        let digest = checked.attributes.to_sign;
        let detail = format!(
            "{}项目 {}，投标人 {}，清单摘要 {}…，已选择参与加密证书 {} 本，批准摘要 {}…",
            if r.trial { "试解密确认，" } else { "" },
            checked.project,
            checked.bidder,
            checked.manifest_digest.short_hex(),
            picked,
            approval.short_hex()
        );
        let signature = self
            .sign_digests(
                entry,
                CosignOperation::Generate,
                binding,
                &desktop_label(&r.platform, binding),
                detail,
                Some(digest),
                &[digest.0],
            )
            .await?
            .pop()
            .ok_or_else(|| invalid("签名失败"))?;
        memory.generated = Some(Generated {
            cert_id: entry.id.clone(),
            signed_digest: digest,
            manifest_digest: checked.manifest_digest,
        });
        Ok(GenerateResponse {
            signature,
            certificate_chain: der_chain(entry)?,
            encryption_certificates,
        })
    }

    /// The certificate to decrypt with and the index of its one entry in the request.
    fn decrypt_entry(&self, r: &DecryptRequest) -> Result<(&KeystoreEntry, usize), RefusalReason> {
        let candidates: Vec<&KeystoreEntry> = match &self.user.cert {
            Some(id) => vec![self.entry_by_id(id)?],
            None => self.keystore.manifest.certificates.iter().collect(),
        };
        for entry in candidates {
            let id = recipient_id(&cms_certificate(entry)?)?;
            let mut matches = r
                .recipients
                .iter()
                .enumerate()
                .filter(|(_, rec)| rec.recipient.0 == id);
            match (matches.next(), matches.next()) {
                (Some((index, _)), None) => return Ok((entry, index)),
                (Some(_), Some(_)) => {
                    return Err(suspicious(
                        "同一证书在解密请求中出现多个接收者条目（可能夹带了其他投标文件的密钥）",
                    ))
                }
                (None, _) => continue,
            }
        }
        Err(RefusalReason::NotARecipient)
    }

    async fn decrypt(
        &self,
        r: &DecryptRequest,
        binding: &SessionBinding,
        memory: &ScanMemory,
        prompt: &mut (dyn FnMut(&str) + Send),
    ) -> Result<DecryptResponse, RefusalReason> {
        let now = bidseal_scan::unix_now().min(i64::MAX as u64) as i64;
        let tender = self.platforms.verify(&r.tender, now)?;
        prompt(&format!(
            "招标文件已验证：{}，{}，开标时间 {}（平台证书 {}）",
            tender.platform,
            tender.project,
            crate::cosign::state::rfc3339(tender.opening_time),
            tender.signer
        ));
        let (entry, index) = self.decrypt_entry(r)?;
        let recipient = &r.recipients[index];
        let ukm = EnvelopeUkm::parse(&recipient.ukm.0).ok_or_else(|| {
            suspicious("信封的 ukm 不是 BidSeal 格式，无法确认它属于哪个招标项目")
        })?;
        if ukm.tender != tender.digest {
            return Err(suspicious(format!(
                "该投标文件属于另一份招标文件（清单摘要 {}…），不是所示招标文件（{}…）",
                ukm.tender.short_hex(),
                tender.digest.short_hex()
            )));
        }
        let originator = PublicKey::from_sec1_bytes(&recipient.originator_key.0)
            .map_err(|_| invalid("发送方临时公钥不是 P-256 点"))?;
        // Opening (the phone's clock is past the signed opening time) or trial decryption of
        // the manifest just signed in this scan; nothing else.
        let trial = memory
            .generated
            .as_ref()
            .filter(|g| g.cert_id == entry.id && g.manifest_digest == ukm.manifest);
        let (evidence, bound, mode) = if now >= tender.opening_time {
            (
                Some(TenderEvidence {
                    manifest: r.tender.manifest.clone(),
                    signature: r.tender.signature.clone(),
                }),
                None,
                "开标解密",
            )
        } else if let Some(g) = trial {
            (
                None,
                Some(g.signed_digest),
                "试解密（本次扫码刚确认的投标文件）",
            )
        } else {
            return Err(RefusalReason::BeforeOpeningTime {
                opens_at: tender.opening_time.max(0) as u64,
            });
        };
        prompt(&format!("{mode}：证书 {}", entry.label()));
        let detail = format!(
            "{mode}，项目 {}，投标文件 {}，信封摘要 {}…，招标文件 {}…，清单 {}…",
            tender.project,
            r.bid_file,
            r.envelope_digest.short_hex(),
            ukm.tender.short_hex(),
            ukm.manifest.short_hex()
        );
        let desktop = desktop_label(&r.platform, binding);
        let z = if entry.split {
            // Joint ECDH: the service answers d₂·P after its own gates, the phone adds d₁·P.
            let ctx = Self::context(
                CosignOperation::Decrypt,
                binding,
                &desktop,
                detail,
                evidence,
                bound,
            );
            self.cosign
                .split_ecdh(
                    &entry.id,
                    &self.user.pin.0,
                    entry.holder(),
                    &ctx,
                    &originator,
                    &recipient.ukm.0,
                    &|seal| self.open_share(entry, seal),
                )
                .await
                .map_err(|e| e.to_refusal())?
        } else {
            let key = self
                .unlock(
                    entry,
                    CosignOperation::Decrypt,
                    binding,
                    &desktop,
                    detail,
                    evidence,
                    bound,
                )
                .await?;
            let shared =
                p256::ecdh::diffie_hellman(key.to_nonzero_scalar(), originator.as_affine());
            let mut z = Zeroizing::new([0u8; 32]);
            z.copy_from_slice(shared.raw_secret_bytes());
            z
        };
        let secret = bidseal_cms::envelope::SharedSecret::from_bytes(*z);
        let kek = bidseal_cms::envelope::aes256_wrap_kek(&secret, Some(&recipient.ukm.0))
            .map_err(|_| invalid("密钥派生失败"))?;
        Ok(DecryptResponse {
            certificate: Bytes(cert_der(entry)?),
            recipient: index as u32,
            key_encryption_key: SharedSecretBytes(Bytes(kek.as_bytes().to_vec())),
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
                signed_attributes: Bytes(b"page".to_vec()),
            }],
            lookup: Vec::new(),
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

    /// A web login's screen names who asked; a hostile agent (10 KB, control characters, a
    /// right-to-left override, a forged line) reaches the screen cut and cleaned, on one line.
    #[test]
    fn the_auth_screen_names_the_requester_and_cleans_a_hostile_one() {
        let auth = |address: &str, agent: &str| {
            OperationRequest::Auth(AuthRequest {
                platform: PlatformRef {
                    id: "demo-platform".into(),
                    name: "BidSeal 演示交易平台".into(),
                },
                purpose: bidseal_scan::AuthPurpose::Login,
                project: None,
                requester: Some(bidseal_scan::Requester {
                    address: address.into(),
                    agent: agent.into(),
                }),
                challenge: Digest32([1; 32]),
                issued_at: 0,
            })
        };
        let screen = describe(&auth("203.0.113.5", "Chrome 131 / Windows"));
        assert!(
            screen.ends_with(
                "；登录请求来自 203.0.113.5（Chrome 131 / Windows），如非本人操作请拒绝"
            ),
            "{screen}"
        );
        let hostile = format!(
            "Chrome\u{202E}swodniW\n[请确认] 平台已验证{}",
            "A".repeat(10 * 1024)
        );
        let screen = describe(&auth("203.0.113.5\r\n", &hostile));
        assert!(
            !screen.contains('\u{202E}') && !screen.contains('\n'),
            "{screen}"
        );
        assert!(
            screen.chars().count() < 200,
            "{} chars",
            screen.chars().count()
        );
        assert!(
            screen.contains("来自 203.0.113.5（ChromeswodniW [请确认]"),
            "{screen}"
        );
        assert!(screen.ends_with("…），如非本人操作请拒绝"), "{screen}");
    }
}
