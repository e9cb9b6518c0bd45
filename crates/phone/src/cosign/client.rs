//! HTTP client of the co-signing service, used by the phone simulator (authorise) and by
//! `bidseal phone admin` (enterprise-admin actions and the usage log).
//!
//! Guarantees: a refusal comes back typed ([`CosignCallError::Refused`]); anything else that
//! goes wrong (network, bad answer) is [`CosignCallError::Unavailable`], which the phone
//! forwards as `co_signing_unavailable`; a certificate id the service does not know (HTTP 404)
//! is [`CosignCallError::UnknownCertificate`], never "unavailable, try later". Answers are size-checked before parsing. The PIN is
//! sent in the request body only (never in a URL) and is not kept.

use super::device::{DeviceKey, DeviceRoute};
use super::server::{
    AuthoriseGrant, AuthoriseRefusal, AuthoriseRequest, CertSummary, ResetPinGrant,
    ResetPinRefusal, ResetPinRequest, SecretText,
};
use super::state::{AdminAction, OperationContext, RefusalReason, ResetRefusal, UsageLogEntry};
use crate::key_seal::ServiceShare;
use std::time::Duration;
use zeroize::Zeroizing;

/// Largest answer accepted from the service.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// Errors talking to the service.
#[derive(Debug, thiserror::Error)]
pub enum CosignCallError {
    /// The service said no, with a typed reason.
    #[error("{}", .0.message_zh())]
    Refused(RefusalReason),
    /// The service refused a PIN reset.
    #[error("{0}")]
    ResetRefused(ResetRefusal),
    /// The service could not be reached or answered nonsense.
    #[error("协同签名服务暂不可用（{0}），请稍后重试")]
    Unavailable(String),
    /// 换机: the new phone could not stage its new share before the finish (nothing changed on
    /// the service: the old share stays valid).
    #[error("新手机无法暂存新的密钥分量（{0}），换机未进行到最后一步，旧手机的分量仍然有效：请检查新手机文件夹后向管理员重新申请换机验证码")]
    Staging(String),
    /// 开通 failed on the phone's side (the CA refused the request, the service's certificate
    /// or signature is not for the joint key).
    #[error("开通失败：{0}")]
    Enrol(String),
    /// The service does not know this certificate id (HTTP 404): waiting does not help.
    #[error("协同签名服务中没有证书“{0}”：请核对证书编号（bidseal phone admin list 列出全部证书），或确认连接的是管理该证书的协同签名服务")]
    UnknownCertificate(String),
    /// An admin call on an id the service does not know; the service's `404` names the ids it
    /// knows (one call, no second `list`).
    #[error("协同签名服务中没有证书“{cert}”（可用：{}）", .known.join("、"))]
    UnknownToAdmin {
        /// The id asked for.
        cert: String,
        /// The ids the service knows.
        known: Vec<String>,
    },
}

impl CosignCallError {
    /// The reason to forward to the desktop.
    pub fn to_refusal(&self) -> RefusalReason {
        match self {
            Self::Refused(r) => r.clone(),
            Self::Unavailable(_) | Self::ResetRefused(_) | Self::Enrol(_) | Self::Staging(_) => {
                RefusalReason::CoSigningUnavailable
            }
            Self::UnknownCertificate(_) | Self::UnknownToAdmin { .. } => {
                RefusalReason::NoSuitableCertificate
            }
        }
    }
}

/// The error of an admin call's `404`: with the ids the service knows when its answer names
/// them (a service of this version), else the plain unknown-certificate error.
fn unknown_to_admin(cert_id: &str, body: &[u8]) -> CosignCallError {
    #[derive(serde::Deserialize)]
    struct NotFound {
        known: Option<Vec<String>>,
    }
    match serde_json::from_slice::<NotFound>(body) {
        Ok(NotFound { known: Some(known) }) => CosignCallError::UnknownToAdmin {
            cert: cert_id.to_string(),
            known,
        },
        _ => CosignCallError::UnknownCertificate(cert_id.to_string()),
    }
}

fn share_from_hex(text: &str) -> Result<ServiceShare, CosignCallError> {
    let raw = Zeroizing::new(hex::decode(text).map_err(unavailable)?);
    if raw.len() != 32 {
        return Err(unavailable("密钥分量长度错误"));
    }
    let mut share = Zeroizing::new([0u8; 32]);
    share.copy_from_slice(&raw);
    Ok(share)
}

/// What a finished 换机 refresh gives the new phone ([`CosignClient::split_refresh`]).
pub struct RefreshedShare {
    /// The new phone share (the old one no longer works with the service's).
    pub share: crate::key_split::KeyShare,
    /// Seal the new share under PIN + this.
    pub seal_share: ServiceShare,
    /// The recovery seal (忘记证书密码) is redone with this.
    pub recovery_share: ServiceShare,
}

/// What a finished 开通 gives the phone ([`CosignClient::enrol`]).
pub struct EnrolledKey {
    /// The phone's share of the new joint key.
    pub share: crate::key_split::KeyShare,
    /// The certificate the CA issued for the joint key.
    pub certificate: x509_cert::Certificate,
    /// Seal the share under PIN + this.
    pub seal_share: ServiceShare,
    /// The recovery seal (忘记证书密码) is made with this.
    pub recovery_share: ServiceShare,
}

/// A client bound to one service base URL (e.g. `http://127.0.0.1:7001`). The phone's
/// client also holds the phone's device key ([`CosignClient::with_device_key`]) and signs
/// every `authorise` / `reset-pin` call with it; without one those calls are refused by the
/// service (`device_not_recognised`).
#[derive(Clone)]
pub struct CosignClient {
    base: String,
    http: reqwest::Client,
    device: Option<DeviceKey>,
}

fn unavailable(e: impl std::fmt::Display) -> CosignCallError {
    CosignCallError::Unavailable(e.to_string())
}

async fn body(resp: reqwest::Response) -> Result<(reqwest::StatusCode, Vec<u8>), CosignCallError> {
    let status = resp.status();
    if resp
        .content_length()
        .is_some_and(|l| l as usize > MAX_ANSWER)
    {
        return Err(unavailable("应答过大"));
    }
    let bytes = resp.bytes().await.map_err(unavailable)?;
    if bytes.len() > MAX_ANSWER {
        return Err(unavailable("应答过大"));
    }
    Ok((status, bytes.to_vec()))
}

impl CosignClient {
    /// A client for `base` without extra trust roots (http:// on loopback only).
    pub fn new(base: &str) -> Result<Self, CosignCallError> {
        Self::connect(base, None)
    }

    /// A client for `base`: `https://` trusting the PEM roots in `ca` (`--cosign-ca`), or
    /// `http://` only to a loopback address (PIN and shares never cross a network in clear).
    /// With `ca` given, only https is used.
    pub fn connect(base: &str, ca: Option<&std::path::Path>) -> Result<Self, CosignCallError> {
        let url = reqwest::Url::parse(base).map_err(unavailable)?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback && ca.is_none() => {}
            _ => {
                return Err(CosignCallError::Unavailable(format!(
                    "协同签名服务地址 {base} 必须使用 https://（http:// 只允许本机 127.0.0.1，且不能与 --cosign-ca 同用）"
                )))
            }
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(url.scheme() == "https")
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5));
        if let Some(ca) = ca {
            for root in super::tls::client_roots(ca).map_err(unavailable)? {
                builder = builder.add_root_certificate(root);
            }
        }
        let http = builder.build().map_err(unavailable)?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
            device: None,
        })
    }

    /// The same client signing its PIN calls with the phone's device key (`None` keeps it
    /// unsigned, which the service refuses).
    pub fn with_device_key(mut self, key: Option<&DeviceKey>) -> Self {
        self.device = key.cloned();
        self
    }

    /// Posts a request that carries a secret (PIN, reset code): a 403 answer is the service's
    /// typed refusal `F`, a success the grant `G`. The answer body is zeroized after parsing.
    /// The call is signed with the device key over `route`, `cert_id`, the time and the exact
    /// body bytes.
    async fn post_secret<Q, G, F>(
        &self,
        route: DeviceRoute,
        cert_id: &str,
        req: &Q,
    ) -> Result<Result<G, F>, CosignCallError>
    where
        Q: serde::Serialize,
        G: serde::de::DeserializeOwned,
        F: serde::de::DeserializeOwned,
    {
        let url = format!("{}/v1/certs/{}/{}", self.base, cert_id, route.name());
        let request = Zeroizing::new(serde_json::to_vec(req).map_err(unavailable)?);
        let mut call = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if matches!(
            route,
            DeviceRoute::SplitRefreshRound | DeviceRoute::SplitRefreshFinish
        ) {
            // A refresh round is a DKG's worth of proofs on the service (seconds in a debug
            // build, more under load): more time than a signing round.
            call = call.timeout(Duration::from_secs(90));
        }
        if matches!(
            route,
            DeviceRoute::EnrolRound | DeviceRoute::EnrolCsr | DeviceRoute::EnrolCsrFinish
        ) {
            // The same for an enrolment's DKG, of which `phone init` runs seven at once.
            call = call.timeout(Duration::from_secs(
                super::split::ENROL_STEP_TTL_SECS as u64,
            ));
        }
        if let Some(device) = &self.device {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            for (name, value) in device.sign_call(route, cert_id, now, &request).headers() {
                call = call.header(name, value);
            }
        }
        let resp = call
            .body(request.to_vec())
            .send()
            .await
            .map_err(unavailable)?;
        let (status, bytes) = body(resp).await?;
        let bytes = Zeroizing::new(bytes);
        if status == reqwest::StatusCode::FORBIDDEN {
            return Ok(Err(serde_json::from_slice(&bytes).map_err(unavailable)?));
        }
        if !status.is_success() {
            return Err(unavailable(format!("HTTP {status}")));
        }
        Ok(Ok(serde_json::from_slice(&bytes).map_err(unavailable)?))
    }

    /// Asks the service to authorise one operation; returns the key share on success.
    pub async fn authorise(
        &self,
        cert_id: &str,
        pin: &str,
        who: &str,
        context: &OperationContext,
    ) -> Result<ServiceShare, CosignCallError> {
        let req = AuthoriseRequest {
            pin: SecretText::new(pin.to_string()),
            who: who.to_string(),
            context: context.clone(),
        };
        match self
            .post_secret::<_, AuthoriseGrant, AuthoriseRefusal>(
                DeviceRoute::Authorise,
                cert_id,
                &req,
            )
            .await?
        {
            Ok(grant) => share_from_hex(grant.share.expose()),
            Err(r) => Err(CosignCallError::Refused(r.refusal)),
        }
    }

    /// Joint signatures of the SHA-256 `digests` with a split key ([`super::split`]): per
    /// batch of at most [`super::split::MAX_BATCH`] one PIN call (the service's decision; it
    /// releases the seal share), `open_share` unseals the phone's key share with it, then two
    /// protocol rounds. Every signature is checked against the certificate's joint key.
    pub async fn split_sign(
        &self,
        cert_id: &str,
        pin: &str,
        who: &str,
        context: &OperationContext,
        digests: &[[u8; 32]],
        open_share: &(dyn Fn(&ServiceShare) -> Option<crate::key_split::KeyShare> + Sync),
    ) -> Result<Vec<p256::ecdsa::Signature>, CosignCallError> {
        use super::split::{
            b64, sign_id, unb64, SplitRound, SplitSignGrant, SplitSignRequest, MAX_BATCH,
        };
        use crate::key_split::PhoneSign;
        let device = self
            .device
            .as_ref()
            .ok_or(CosignCallError::Refused(RefusalReason::DeviceNotRecognised))?;
        let mut out = Vec::with_capacity(digests.len());
        for batch in digests.chunks(MAX_BATCH) {
            let mut raw = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
            let nonce = hex::encode(raw);
            let req = SplitSignRequest {
                pin: SecretText::new(pin.to_string()),
                who: who.to_string(),
                context: context.clone(),
                digests: batch.iter().map(hex::encode).collect(),
                nonce: nonce.clone(),
            };
            let grant: SplitSignGrant = self
                .post_split(DeviceRoute::SplitSign, cert_id, &req)
                .await?;
            let seal_share = share_from_hex(grant.seal_share.expose())?;
            let share = open_share(&seal_share).ok_or(CosignCallError::Refused(
                RefusalReason::NoSuitableCertificate,
            ))?;
            let mut phones = Vec::with_capacity(batch.len());
            let mut first = Vec::with_capacity(batch.len());
            for (i, digest) in batch.iter().enumerate() {
                let id = sign_id(
                    cert_id,
                    &device.public_hex(),
                    context,
                    &hex::encode(digest),
                    &nonce,
                    i,
                );
                let (phone, message) =
                    PhoneSign::start(&share, &id, digest).map_err(unavailable)?;
                phones.push(phone);
                first.push(b64(&message));
            }
            let round = SplitRound {
                token: grant.token.clone(),
                messages: first,
            };
            let replies: SplitRound = self
                .post_split(DeviceRoute::SplitSignRound, cert_id, &round)
                .await?;
            if replies.messages.len() != batch.len() {
                return Err(unavailable("联合签名应答的消息个数不符"));
            }
            let mut second = Vec::with_capacity(batch.len());
            for (phone, reply) in phones.iter_mut().zip(&replies.messages) {
                let reply = unb64(reply).ok_or_else(|| unavailable("协议消息不是 base64"))?;
                second.push(b64(&phone.step(&reply).map_err(unavailable)?));
            }
            let finish = SplitRound {
                token: grant.token,
                messages: second,
            };
            let done: SplitRound = self
                .post_split(DeviceRoute::SplitSignFinish, cert_id, &finish)
                .await?;
            if done.messages.len() != batch.len() {
                return Err(unavailable("联合签名应答的消息个数不符"));
            }
            for (phone, last) in phones.into_iter().zip(&done.messages) {
                let last = unb64(last).ok_or_else(|| unavailable("协议消息不是 base64"))?;
                out.push(phone.finish(&last).map_err(unavailable)?);
            }
        }
        Ok(out)
    }

    /// Joint ECDH for one envelope entry with a split key: the service's part `d₂·P` after its
    /// decrypt gates (one PIN call), then the phone's share (opened with the released seal
    /// share) adds `d₁·P`. Returns the shared secret `Z`.
    #[allow(clippy::too_many_arguments)]
    pub async fn split_ecdh(
        &self,
        cert_id: &str,
        pin: &str,
        who: &str,
        context: &OperationContext,
        originator: &p256::PublicKey,
        ukm: &[u8],
        open_share: &(dyn Fn(&ServiceShare) -> Option<crate::key_split::KeyShare> + Sync),
    ) -> Result<Zeroizing<[u8; 32]>, CosignCallError> {
        use super::split::{SplitEcdhPart, SplitEcdhRequest};
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let req = SplitEcdhRequest {
            pin: SecretText::new(pin.to_string()),
            who: who.to_string(),
            context: context.clone(),
            originator: hex::encode(originator.to_encoded_point(false).as_bytes()),
            ukm: hex::encode(ukm),
        };
        let part: SplitEcdhPart = self
            .post_split(DeviceRoute::SplitEcdh, cert_id, &req)
            .await?;
        let seal_share = share_from_hex(part.seal_share.expose())?;
        let share = open_share(&seal_share).ok_or(CosignCallError::Refused(
            RefusalReason::NoSuitableCertificate,
        ))?;
        let theirs = hex::decode(&part.part).map_err(unavailable)?;
        crate::key_split::combine_ecdh(&share, originator, &theirs).map_err(unavailable)
    }

    /// A device-signed split-key call: the answer `G`, or the service's typed refusal.
    async fn post_split<Q: serde::Serialize, G: serde::de::DeserializeOwned>(
        &self,
        route: DeviceRoute,
        cert_id: &str,
        req: &Q,
    ) -> Result<G, CosignCallError> {
        match self
            .post_secret::<_, G, AuthoriseRefusal>(route, cert_id, req)
            .await?
        {
            Ok(answer) => Ok(answer),
            Err(r) => Err(CosignCallError::Refused(r.refusal)),
        }
    }

    /// 忘记证书密码: exchanges the one-time code and the new PIN for (share, recovery share).
    pub async fn reset_pin(
        &self,
        cert_id: &str,
        code: &str,
        new_pin: &str,
    ) -> Result<(ServiceShare, ServiceShare), CosignCallError> {
        let req = ResetPinRequest {
            code: SecretText::new(code.to_string()),
            new_pin: SecretText::new(new_pin.to_string()),
        };
        let grant = match self
            .post_secret::<_, ResetPinGrant, ResetPinRefusal>(DeviceRoute::ResetPin, cert_id, &req)
            .await?
        {
            Ok(grant) => grant,
            Err(r) => return Err(CosignCallError::ResetRefused(r.refusal)),
        };
        Ok((
            share_from_hex(grant.share.expose())?,
            share_from_hex(grant.recovery_share.expose())?,
        ))
    }

    /// 换机 / 恢复 (seed 2.6.1.6.1.2): this client's device key is the NEW phone's. With the
    /// administrator's one-time `code` and the `pin`, the service releases the seal share;
    /// `open_share` opens the phone share the new phone brings (old phone or sealed backup);
    /// the two sides refresh their shares (the public key stays) and the service binds the
    /// certificate to the new device. Returns the new phone share and what to seal it with.
    pub async fn split_refresh(
        &self,
        cert_id: &str,
        code: &str,
        pin: &str,
        open_share: &(dyn Fn(&ServiceShare) -> Option<crate::key_split::KeyShare> + Sync),
    ) -> Result<RefreshedShare, CosignCallError> {
        self.split_refresh_staged(cert_id, code, pin, open_share, &|_| Ok(()))
            .await
    }

    /// [`CosignClient::split_refresh`] with `stage` called with the new phone share and the
    /// seal and recovery shares the service will store, after the protocol round and before
    /// the finish (the call after which the old share is void): the caller persists the new
    /// share sealed there, so a crash or a failed write after the finish loses nothing. An
    /// error from `stage` ends the refresh before the finish (the old share stays valid).
    pub async fn split_refresh_staged(
        &self,
        cert_id: &str,
        code: &str,
        pin: &str,
        open_share: &(dyn Fn(&ServiceShare) -> Option<crate::key_split::KeyShare> + Sync),
        stage: &(dyn Fn(&RefreshedShare) -> Result<(), String> + Sync),
    ) -> Result<RefreshedShare, CosignCallError> {
        use super::split::{b64, unb64, RefreshBegin, RefreshBegun, RefreshFinished, SplitRound};
        let device = self
            .device
            .as_ref()
            .ok_or(CosignCallError::Refused(RefusalReason::DeviceNotRecognised))?;
        let req = RefreshBegin {
            code: SecretText::new(code.to_string()),
            pin: SecretText::new(pin.to_string()),
            new_device: device.public_hex(),
        };
        let begun: RefreshBegun = match self
            .post_secret::<_, RefreshBegun, ResetPinRefusal>(
                DeviceRoute::SplitRefresh,
                cert_id,
                &req,
            )
            .await?
        {
            Ok(b) => b,
            Err(r) => return Err(CosignCallError::ResetRefused(r.refusal)),
        };
        let seal_share = share_from_hex(begun.seal_share.expose())?;
        let share = open_share(&seal_share).ok_or(CosignCallError::Refused(
            RefusalReason::NoSuitableCertificate,
        ))?;
        let refresh_id = hex::decode(&begun.refresh_id).map_err(unavailable)?;
        let (phone, hello) =
            crate::key_split::PhoneRefresh::start(share, &refresh_id).map_err(unavailable)?;
        let reply: SplitRound = self
            .post_split(
                DeviceRoute::SplitRefreshRound,
                cert_id,
                &SplitRound {
                    token: begun.token.clone(),
                    messages: vec![b64(&hello)],
                },
            )
            .await?;
        let [reply] = reply.messages.as_slice() else {
            return Err(unavailable("换机刷新应答的消息个数不符"));
        };
        let reply = unb64(reply).ok_or_else(|| unavailable("协议消息不是 base64"))?;
        let (new_share, finish) = phone.finish(&reply).map_err(unavailable)?;
        let refreshed = RefreshedShare {
            share: new_share,
            seal_share: share_from_hex(begun.next_seal_share.expose())?,
            recovery_share: share_from_hex(begun.recovery_share.expose())?,
        };
        stage(&refreshed).map_err(CosignCallError::Staging)?;
        let done: RefreshFinished = self
            .post_split(
                DeviceRoute::SplitRefreshFinish,
                cert_id,
                &SplitRound {
                    token: begun.token,
                    messages: vec![b64(&finish)],
                },
            )
            .await?;
        // The finish stores what the begin announced (what the share was staged under).
        if share_from_hex(done.seal_share.expose())? != refreshed.seal_share
            || share_from_hex(done.recovery_share.expose())? != refreshed.recovery_share
        {
            return Err(unavailable(
                "协同签名服务完成换机时给出的封存分量与开始时的不同",
            ));
        }
        Ok(refreshed)
    }

    /// 开通 (the key generation of a new certificate with the service, `docs/key-split.md`):
    /// this client's device key becomes the certificate's device. With the administrator's
    /// one-time `code`: the DKG (two calls; the phone's share never leaves), the CSR
    /// (`request_info` makes the DER `CertificationRequestInfo` for the joint public key) signed
    /// jointly (two calls), `issue` has the CA issue from the CSR, the certificate registered
    /// with the `pin` (one call). Checks the signature and the certificate against the joint key.
    pub async fn enrol(
        &self,
        cert_id: &str,
        code: &str,
        pin: &str,
        request_info: &(dyn Fn(&p256::PublicKey) -> Result<x509_cert::request::CertReqInfo, String>
              + Sync),
        issue: &(dyn Fn(&x509_cert::request::CertReq) -> Result<x509_cert::Certificate, String>
              + Sync),
    ) -> Result<EnrolledKey, CosignCallError> {
        use super::split::{
            b64, enrol_csr_sign_id, unb64, EnrolBegin, EnrolBegun, EnrolCertificate,
            RefreshFinished, SplitRound,
        };
        use der::Encode;
        use sha2::Digest;
        let device = self
            .device
            .as_ref()
            .ok_or(CosignCallError::Refused(RefusalReason::DeviceNotRecognised))?;
        let failed = |e: &dyn std::fmt::Display| CosignCallError::Enrol(e.to_string());
        let begun: EnrolBegun = match self
            .post_secret::<_, EnrolBegun, ResetPinRefusal>(
                DeviceRoute::Enrol,
                cert_id,
                &EnrolBegin {
                    code: SecretText::new(code.to_string()),
                    device: device.public_hex(),
                },
            )
            .await?
        {
            Ok(b) => b,
            Err(r) => return Err(CosignCallError::ResetRefused(r.refusal)),
        };
        let session_id = super::split::hex_exact::<32>(&begun.session_id)
            .ok_or_else(|| unavailable("开通会话编号格式错误"))?;
        let one = |answer: SplitRound| -> Result<Vec<u8>, CosignCallError> {
            match answer.messages.as_slice() {
                [m] => unb64(m).ok_or_else(|| unavailable("协议消息不是 base64")),
                _ => Err(unavailable("开通应答的消息个数不符")),
            }
        };
        let step = |route, messages: Vec<String>| {
            let token = begun.token.clone();
            async move {
                self.post_split::<_, SplitRound>(route, cert_id, &SplitRound { token, messages })
                    .await
            }
        };
        // The DKG.
        let (dkg, hello) =
            crate::key_split::PhoneDkg::start(&session_id).map_err(|e| failed(&e))?;
        let reply = one(step(DeviceRoute::EnrolRound, vec![b64(&hello)]).await?)?;
        let (share, dkg_finish) = dkg.finish(&reply).map_err(|e| failed(&e))?;
        let public = share.public_key().map_err(|e| failed(&e))?;
        // The CSR, signed jointly.
        let info = request_info(&public).map_err(|e| failed(&e))?;
        let info_der = info.to_der().map_err(|e| failed(&e))?;
        let digest: [u8; 32] = sha2::Sha256::digest(&info_der).into();
        let sign_id = enrol_csr_sign_id(cert_id, &device.public_hex(), &session_id);
        let (mut sign, sign_hello) = crate::key_split::PhoneSign::start(&share, &sign_id, &digest)
            .map_err(|e| failed(&e))?;
        let reply = one(step(
            DeviceRoute::EnrolCsr,
            vec![b64(&dkg_finish), b64(&info_der), b64(&sign_hello)],
        )
        .await?)?;
        let sign_finish = sign.step(&reply).map_err(|e| failed(&e))?;
        let done = one(step(DeviceRoute::EnrolCsrFinish, vec![b64(&sign_finish)]).await?)?;
        let signature = sign.finish(&done).map_err(|e| failed(&e))?;
        {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            p256::ecdsa::VerifyingKey::from(&public)
                .verify_prehash(&digest, &signature)
                .map_err(|e| failed(&e))?;
        }
        let csr = crate::pki::certificate_request(info, signature.to_der().as_bytes())
            .map_err(|e| failed(&e))?;
        let certificate = issue(&csr).map_err(|e| failed(&e))?;
        let certified = p256::PublicKey::from_sec1_bytes(
            certificate
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes(),
        )
        .ok();
        if certified != Some(public) {
            return Err(failed(&"CA 签发的证书不是为联合生成的公钥"));
        }
        let pem = crate::pki::cert_pem(&certificate).map_err(|e| failed(&e))?;
        let done: RefreshFinished = self
            .post_split(
                DeviceRoute::EnrolCertificate,
                cert_id,
                &EnrolCertificate {
                    token: begun.token.clone(),
                    pin: SecretText::new(pin.to_string()),
                    certificate: pem,
                },
            )
            .await?;
        Ok(EnrolledKey {
            share,
            certificate,
            seal_share: share_from_hex(done.seal_share.expose())?,
            recovery_share: share_from_hex(done.recovery_share.expose())?,
        })
    }

    /// Issues a one-time enrolment code for the new certificate `cert_id` (admin token).
    pub async fn enrol_code(
        &self,
        token: &str,
        cert_id: &str,
        holder: &str,
        kdf_iterations: Option<u32>,
    ) -> Result<String, CosignCallError> {
        let url = format!("{}/v1/admin/enrolments/{}", self.base, cert_id);
        let resp = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&super::server::EnrolCodeRequest {
                holder: holder.to_string(),
                kdf_iterations,
            })
            .send()
            .await
            .map_err(unavailable)?;
        let (status, bytes) = body(resp).await?;
        #[derive(serde::Deserialize)]
        struct Issued {
            code: Option<String>,
            error: Option<String>,
        }
        let answer: Issued = serde_json::from_slice(&bytes).map_err(unavailable)?;
        match (status.is_success(), answer.code, answer.error) {
            (true, Some(code), _) => Ok(code),
            (_, _, Some(e)) => Err(CosignCallError::Enrol(e)),
            _ => Err(unavailable(format!("HTTP {status}"))),
        }
    }

    /// Applies an admin action; returns the verification code for `IssueResetCode`.
    pub async fn admin(
        &self,
        token: &str,
        cert_id: &str,
        action: &AdminAction,
    ) -> Result<Option<String>, CosignCallError> {
        let url = format!("{}/v1/admin/certs/{}", self.base, cert_id);
        let resp = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(action)
            .send()
            .await
            .map_err(unavailable)?;
        let (status, bytes) = body(resp).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(unknown_to_admin(cert_id, &bytes));
        }
        if status.is_success() {
            #[derive(serde::Deserialize)]
            struct Done {
                code: Option<String>,
            }
            let done: Done = serde_json::from_slice(&bytes).map_err(unavailable)?;
            Ok(done.code)
        } else {
            Err(unavailable(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            )))
        }
    }

    /// The usage log of one certificate and the chain head the service keeps (check both
    /// with [`super::state::verify_chain`]).
    pub async fn log(
        &self,
        token: &str,
        cert_id: &str,
    ) -> Result<(Vec<UsageLogEntry>, Option<String>), CosignCallError> {
        let url = format!("{}/v1/admin/certs/{}/log", self.base, cert_id);
        let resp = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(unavailable)?;
        let head = resp
            .headers()
            .get(super::server::LOG_HEAD_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (status, bytes) = body(resp).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(unknown_to_admin(cert_id, &bytes));
        }
        if !status.is_success() {
            return Err(unavailable(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        Ok((serde_json::from_slice(&bytes).map_err(unavailable)?, head))
    }

    /// Summary of every certificate.
    pub async fn list(&self, token: &str) -> Result<Vec<CertSummary>, CosignCallError> {
        let url = format!("{}/v1/admin/certs", self.base);
        let resp = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(unavailable)?;
        let (status, bytes) = body(resp).await?;
        if !status.is_success() {
            return Err(unavailable(format!("HTTP {status}")));
        }
        serde_json::from_slice(&bytes).map_err(unavailable)
    }
}
