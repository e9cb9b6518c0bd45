//! [`ScanAccounts`] held in memory: for tests of the scan rules against a real relay and phone
//! without a database, and as the reference of what the database-backed store must do.
//!
//! Does not persist anything; tokens are random and not checked by anyone but the caller.

use super::{AccountCompany, CertIdentity, Company, ScanAccounts, ScanRefusal};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;

/// Accounts, bindings (fingerprint → account) and issued tokens (token → account).
#[derive(Debug, Default)]
pub struct MemoryAccounts {
    companies: Mutex<HashMap<String, Company>>,
    bindings: Mutex<HashMap<String, String>>,
    sessions: Mutex<HashMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryAccounts {
    /// Adds a company account.
    pub fn add_company(&self, account: &str, company: Company) {
        lock(&self.companies).insert(account.to_string(), company);
    }

    /// The account a token belongs to.
    pub fn session_account(&self, token: &str) -> Option<String> {
        lock(&self.sessions).get(token).cloned()
    }

    /// The account a certificate fingerprint is bound to.
    pub fn binding(&self, fingerprint: &str) -> Option<String> {
        lock(&self.bindings).get(fingerprint).cloned()
    }
}

impl ScanAccounts for MemoryAccounts {
    fn bound_account<'a>(
        &'a self,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<Option<AccountCompany>, ScanRefusal>> {
        Box::pin(async move {
            let Some(account) = lock(&self.bindings).get(fingerprint).cloned() else {
                return Ok(None);
            };
            let company = lock(&self.companies).get(&account).cloned();
            Ok(company.map(|company| AccountCompany { account, company }))
        })
    }

    fn account_company<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<Company>, ScanRefusal>> {
        Box::pin(async move { Ok(lock(&self.companies).get(account).cloned()) })
    }

    fn store_binding<'a>(
        &'a self,
        account: &'a str,
        cert: &'a CertIdentity,
    ) -> BoxFuture<'a, Result<(), ScanRefusal>> {
        Box::pin(async move {
            lock(&self.bindings).insert(cert.fingerprint.clone(), account.to_string());
            Ok(())
        })
    }

    fn create_session<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<String, ScanRefusal>> {
        Box::pin(async move {
            let token = bidseal_scan::SessionId::random()
                .map_err(|e| ScanRefusal::Storage {
                    detail: e.to_string(),
                })?
                .to_base64();
            lock(&self.sessions).insert(token.clone(), account.to_string());
            Ok(token)
        })
    }
}

impl super::http::CallerAccount for MemoryAccounts {
    fn account<'a>(&'a self, headers: &'a axum::http::HeaderMap) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let value = headers
                .get(axum::http::header::AUTHORIZATION)?
                .to_str()
                .ok()?;
            let token = value.strip_prefix("Bearer ")?;
            self.session_account(token.trim())
        })
    }
}
