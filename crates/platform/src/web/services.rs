//! What the pages and the scan/push routes share beyond the database: the platform's scans
//! ([`ScanHub`], when a relay is configured), the push mailbox of remote openings and the
//! openings in progress; and the database-backed [`ScanAccounts`] / [`CallerAccount`].
//!
//! Guarantees: a scan login creates an ordinary session (`via = scan`) with the same lifetime
//! and cookie as a password login; a session that expired is no caller. Does not: persist
//! scans or openings across restarts (a restart forgets them; the pages say to start again).

use crate::auth::{issue_session, token_hash};
use crate::db::Role;
use crate::remote_opening::{PushMailbox, RemoteOpening};
use crate::scan::http::CallerAccount;
use crate::scan::{
    AccountCompany, CertIdentity, Company, ScanAccounts, ScanHub, ScanHubConfig, ScanRefusal,
};
use crate::state::AppState;
use axum::http::HeaderMap;
use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_scan::client::ScanOptions;
use bidseal_scan::PlatformRef;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The platform's id as the phone is told (and as the demo tender names it,
/// `assets/demo-tender/spec.json`).
pub const PLATFORM_ID: &str = "demo-platform";
/// The platform's name as the phone shows it.
pub const PLATFORM_NAME: &str = "BidSeal 演示交易平台";

/// Scans, pushes and openings of the running platform.
#[derive(Clone, Default)]
pub struct WebServices {
    /// `None` without `--relay`: scan pages say so.
    pub scans: Option<ScanHub>,
    /// Decrypt requests waiting for phones in standby.
    pub mailbox: Arc<PushMailbox>,
    /// Openings by tender id.
    pub openings: Arc<Mutex<HashMap<String, Arc<RemoteOpening>>>>,
}

impl std::fmt::Debug for WebServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServices")
            .field("scans", &self.scans.is_some())
            .finish_non_exhaustive()
    }
}

impl WebServices {
    /// Services scanning at `relay` (if any), trusting `trusted` CAs for login and binding.
    pub fn new(relay: Option<&str>, trusted: &[Certificate]) -> Self {
        let scans = relay.map(|relay| {
            ScanHub::new(ScanHubConfig {
                relay: relay.trim_end_matches('/').to_string(),
                platform: PlatformRef {
                    id: PLATFORM_ID.into(),
                    name: PLATFORM_NAME.into(),
                },
                trust: TrustStore::with_roots(trusted.iter().cloned()),
                options: ScanOptions::default(),
            })
        });
        WebServices {
            scans,
            ..Default::default()
        }
    }

    /// The opening of a tender, if started.
    pub fn opening(&self, tender: &str) -> Option<Arc<RemoteOpening>> {
        self.openings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tender)
            .cloned()
    }
}

/// Accounts, bindings and sessions in the platform's database.
#[derive(Clone)]
pub struct PlatformAccounts(pub AppState);

fn storage(e: impl std::fmt::Display) -> ScanRefusal {
    ScanRefusal::Storage {
        detail: e.to_string(),
    }
}

fn company_of(c: crate::db::Company) -> Company {
    Company {
        uscc: c.uscc,
        name: c.name,
    }
}

impl ScanAccounts for PlatformAccounts {
    fn bound_account<'a>(
        &'a self,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<Option<AccountCompany>, ScanRefusal>> {
        Box::pin(async move {
            let account = self
                .0
                .db
                .account_by_bound_certificate(fingerprint)
                .await
                .map_err(storage)?;
            Ok(account.and_then(|a| {
                let company = a.company.filter(|_| a.role == Role::Company)?;
                Some(AccountCompany {
                    account: a.login,
                    company: company_of(company),
                })
            }))
        })
    }

    fn account_company<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<Company>, ScanRefusal>> {
        Box::pin(async move {
            let account = self.0.db.account(account).await.map_err(storage)?;
            Ok(account
                .filter(|a| a.role == Role::Company)
                .and_then(|a| a.company)
                .map(company_of))
        })
    }

    fn store_binding<'a>(
        &'a self,
        account: &'a str,
        cert: &'a CertIdentity,
    ) -> BoxFuture<'a, Result<(), ScanRefusal>> {
        Box::pin(async move {
            let pem = certificate_pem(&cert.leaf_der);
            self.0
                .db
                .bind_certificate(account, &cert.fingerprint, &pem, self.0.clock.now_unix())
                .await
                .map_err(storage)
        })
    }

    fn create_session<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<String, ScanRefusal>> {
        Box::pin(async move {
            issue_session(&self.0, account, "scan")
                .await
                .map(|(token, _)| token)
                .map_err(|e| ScanRefusal::Storage { detail: e.message })
        })
    }
}

impl CallerAccount for PlatformAccounts {
    fn account<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let token = token_from_headers(headers)?;
            let row = self.0.db.session(&token_hash(&token)).await.ok()??;
            (row.expires_at > self.0.clock.now_unix()).then_some(row.account.login)
        })
    }
}

/// The session token of a request (bearer first, then the session cookie), as the auth
/// extractors read it.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    let mut request = axum::http::Request::new(());
    *request.headers_mut() = headers.clone();
    let (parts, ()) = request.into_parts();
    crate::auth::request_token(&parts).filter(|t| t.len() <= 256)
}

/// PEM text of a DER certificate.
fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
