//! Authentication by scan (扫码认证, seed 4.1): the phone signs a fresh challenge bound to this
//! scan; the desktop learns the bidder's certificate chain and checks it against the tender.
//!
//! Guarantees: the returned chain's leaf key signed [`AuthRequest::transcript_hash`] of this
//! very session (useless in any other); the chain reaches a CA the tender accepts and names
//! the project's bidder, else a typed error. Does not: bind the certificate to a platform
//! account (a later issue).

use crate::error::FlowError;
use crate::phone_adapters::{parse_chain, verify_prehash};
use crate::scan_session::{ScanPresenter, ScanSession, ScanTarget};
use bidseal_bid::bidfile::{check_bidder_certificate, BidderIds};
use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_scan::{
    AuthPurpose, AuthRequest, Digest32, OperationKind, OperationRequest, OperationResponse,
};
use std::time::SystemTime;

/// A bidder authenticated by scan.
#[derive(Debug, Clone)]
pub struct AuthenticatedBidder {
    /// Certificate chain from the phone, leaf first.
    pub chain: Vec<Certificate>,
    /// Device that scanned.
    pub device: String,
}

/// Runs an `auth` scan and checks the certificate against `accepted` and `bidder`.
pub async fn authenticate(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    accepted: &TrustStore,
    bidder: &BidderIds,
) -> Result<AuthenticatedBidder, FlowError> {
    let session = ScanSession::start(target, OperationKind::Auth, false, presenter).await?;
    let mut challenge = [0u8; 32];
    fill_random(&mut challenge)?;
    let request = AuthRequest {
        platform: target.platform.clone(),
        purpose: AuthPurpose::Login,
        project: Some(target.project.clone()),
        requester: None,
        challenge: Digest32(challenge),
        issued_at: bidseal_scan::unix_now(),
    };
    let hash = request.transcript_hash(session.binding());
    let OperationResponse::Auth(resp) = session.perform(OperationRequest::Auth(request)).await?
    else {
        return Err(FlowError::BadPhoneAnswer {
            detail: "不是认证应答".into(),
        });
    };
    session.end().await;
    let chain = parse_chain(&resp.certificate_chain)?;
    verify_prehash(&chain[0], &hash.0, &resp.signature.0)?;
    check_bidder_certificate(&chain, accepted, bidder, SystemTime::now())?;
    presenter.status(&format!(
        "认证通过：{}（{}）",
        chain[0].common_name().unwrap_or_default(),
        chain[0].organization().unwrap_or_default()
    ));
    Ok(AuthenticatedBidder {
        chain,
        device: session.phone().device.clone(),
    })
}

fn fill_random(buf: &mut [u8]) -> Result<(), FlowError> {
    getrandom(buf).map_err(|detail| FlowError::System { detail })
}

fn getrandom(buf: &mut [u8]) -> Result<(), String> {
    use p256::elliptic_curve::rand_core::{OsRng, RngCore};
    OsRng.try_fill_bytes(buf).map_err(|e| e.to_string())
}
