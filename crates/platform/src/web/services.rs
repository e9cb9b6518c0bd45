//! What the pages and the scan/push routes share beyond the database: the platform's scans
//! ([`ScanHub`], when a relay is configured), the push mailbox of remote openings and the
//! openings in progress; and the database-backed [`ScanAccounts`] / [`CallerAccount`].
//!
//! Guarantees: a scan login creates an ordinary session (`via = scan`) with the same lifetime
//! and cookie as a password login; a session that expired is no caller; scans, the push
//! mailbox and the opening boards are kept in the database ([`DbScanJournal`],
//! [`PushMailbox::stored`], [`RemoteOpening::stored`]), so a restart loses none of them
//! (`staff::resume_openings` carries on an opening the restart cut off). Does not: keep a
//! scan's relay connection across a restart (such a scan ends `PLATFORM_SCAN_INTERRUPTED`).

use crate::auth::{issue_session, token_hash};
use crate::db::{Db, Role, StoredScan};
use crate::remote_opening::{PushMailbox, RemoteOpening};
use crate::scan::http::CallerAccount;
use crate::scan::{
    AccountCompany, CertIdentity, Company, JournaledScan, ScanAccounts, ScanHub, ScanHubConfig,
    ScanJournal, ScanRefusal, ScanStatus,
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
#[derive(Clone)]
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
    /// Services scanning at `relay` (if any), trusting `trusted` CAs for login and binding,
    /// keeping scans, pushes and openings in `db`; a scan QR names the browser behind one of
    /// `trusted_proxies` by their `X-Forwarded-For`.
    pub fn new(
        relay: Option<&str>,
        trusted: &[Certificate],
        db: &Db,
        trusted_proxies: &[std::net::IpAddr],
    ) -> Self {
        let scans = relay.map(|relay| {
            let hub = ScanHub::new(ScanHubConfig {
                relay: relay.trim_end_matches('/').to_string(),
                platform: PlatformRef {
                    id: PLATFORM_ID.into(),
                    name: PLATFORM_NAME.into(),
                },
                trust: TrustStore::with_roots(trusted.iter().cloned()),
                options: ScanOptions::default(),
                trusted_proxies: trusted_proxies.to_vec(),
            });
            hub.set_journal(Arc::new(DbScanJournal(db.clone())));
            hub
        });
        WebServices {
            scans,
            mailbox: Arc::new(PushMailbox::stored(db.clone())),
            openings: Arc::default(),
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

/// The scans' journal in the platform's database (table `scans`).
#[derive(Debug, Clone)]
pub struct DbScanJournal(pub Db);

impl DbScanJournal {
    /// At start: the scans an earlier run left unfinished end `PLATFORM_SCAN_INTERRUPTED`
    /// (their relay connections died with it); scans older than a day are dropped.
    pub async fn interrupt_unfinished(&self, now: i64) -> Result<(), sqlx::Error> {
        let _ = self.0.purge_scans(now - 24 * 3600).await?;
        for mut scan in self.0.unfinished_scans().await? {
            let Ok(status) = serde_json::from_str::<ScanStatus>(&scan.status_json) else {
                continue;
            };
            let status = crate::scan::interrupted(status);
            if let Ok(json) = serde_json::to_string(&status) {
                scan.state = status.state.as_str().into();
                scan.status_json = json;
                self.0.save_scan(&scan, now).await?;
            }
        }
        Ok(())
    }
}

impl ScanJournal for DbScanJournal {
    fn save<'a>(&'a self, scan: &'a JournaledScan) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let json = match serde_json::to_string(&scan.status) {
                Ok(j) => j,
                Err(e) => return eprintln!("platform: scan journal: encode: {e}"),
            };
            let stored = StoredScan {
                id: scan.id.clone(),
                purpose: scan.purpose.clone(),
                owner: scan.owner.clone(),
                state: scan.status.state.as_str().into(),
                status_json: json,
                qr_svg: scan.qr_svg.clone(),
                started_at: i64::try_from(scan.started_at).unwrap_or(i64::MAX),
            };
            let now = crate::clock::Clock::system().now_unix();
            if let Err(e) = self.0.save_scan(&stored, now).await {
                eprintln!("platform: scan journal: store: {e}");
            }
        })
    }

    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<JournaledScan>> {
        Box::pin(async move {
            let scan = self.0.scan(id).await.ok()??;
            Some(JournaledScan {
                id: scan.id,
                purpose: scan.purpose,
                owner: scan.owner,
                status: serde_json::from_str(&scan.status_json).ok()?,
                qr_svg: scan.qr_svg,
                started_at: u64::try_from(scan.started_at).unwrap_or(0),
            })
        })
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
