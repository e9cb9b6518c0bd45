//! Is this certificate allowed to sign this bid? It must chain to one of the CAs the tender
//! accepts, and name the project's bidder (enterprise name + unified social credit code).
//!
//! Guarantees: the check runs before anything is signed or written, and says which of the two
//! failed. Does not: check revocation (the co-signing service refuses revoked certificates on
//! the phone side) or region applicability.

use super::error::BidFileError;
use super::manifest::BidderIds;
use crate::tender::TenderPackage;
use bidseal_cms::cert::{Certificate, TrustStore};
use std::time::SystemTime;

/// The trust store of the CAs a tender accepts.
pub fn accepted_cas(tender: &TenderPackage) -> Result<TrustStore, BidFileError> {
    let mut store = TrustStore::new();
    for (name, pem) in tender.accepted_ca_pems() {
        let certs =
            Certificate::many_from_pem_or_der(pem).map_err(|e| BidFileError::CaNotAccepted {
                subject: name.to_string(),
                why: format!("招标文件中的 CA 证书无法读取：{e}"),
            })?;
        for cert in certs {
            store.add_root(cert);
        }
    }
    Ok(store)
}

/// Checks `chain` (leaf first) against the accepted CAs at `at` and the bidder's identity.
/// Returns the verified path (leaf first, root last).
pub fn check_bidder_certificate(
    chain: &[Certificate],
    accepted: &TrustStore,
    bidder: &BidderIds,
    at: SystemTime,
) -> Result<Vec<Certificate>, BidFileError> {
    let leaf = chain.first().ok_or_else(|| BidFileError::CaNotAccepted {
        subject: "（空）".into(),
        why: "手机没有返回证书".into(),
    })?;
    let path = accepted
        .verify_chain(leaf, chain.get(1..).unwrap_or_default(), at)
        .map_err(|e| BidFileError::CaNotAccepted {
            subject: leaf.subject_string(),
            why: e.to_string(),
        })?;
    check_same_company(leaf, bidder)?;
    Ok(path)
}

/// Checks that `cert` names `bidder` (name and credit code).
pub fn check_same_company(cert: &Certificate, bidder: &BidderIds) -> Result<(), BidFileError> {
    let cert_name = cert.organization().unwrap_or_default();
    let cert_code = cert.credit_code().unwrap_or_default();
    if cert_name.trim() != bidder.name.trim()
        || !cert_code.eq_ignore_ascii_case(bidder.credit_code.trim())
    {
        return Err(BidFileError::WrongCompany {
            cert_name: if cert_name.is_empty() {
                "（无）".into()
            } else {
                cert_name
            },
            cert_code: if cert_code.is_empty() {
                "（无）".into()
            } else {
                cert_code
            },
            bidder_name: bidder.name.clone(),
            bidder_code: bidder.credit_code.clone(),
        });
    }
    Ok(())
}
