//! `--demo-world DIR`: seeds the platform from a world made by `bidseal phone init`, so the
//! whole seed flow runs against simulated phones with no manual setup.
//!
//! Seeds (idempotent, on every start): trust in the world's CAs (`pki/ca-*.pem`); one company
//! account per enterprise found in the world's certificates (login = 统一社会信用代码, password
//! `--demo-password`); a staff account `staff` with the same password; the demo tender
//! (`assets/demo-tender`, signed with the world's platform key as `bidseal tender make
//! --world` does) published; a filled integrity library for each company that has none.
//!
//! With `--demo-bind` ([`bind_world`]), each enterprise certificate of the world (`pki/ent-*.pem`)
//! is bound to its company's account by the same rules as 扫码绑定 (same name and credit code,
//! not bound to another account), so a newcomer can log in by scan and sync at once. Off by
//! default: binding by scan is the seed's 3.1 flow.
//!
//! Guarantees: an existing account keeps its password and an account already bound keeps its
//! certificate; records are created only for a company without any. Does not: read the world's private keys (only `platform.key.pem`,
//! which is the platform's own).

use crate::auth::hash_password;
use crate::db::{Company, Role};
use crate::error::PlatformError;
use crate::records::{demo_library, new_record_id, sign_record};
use crate::state::AppState;
use bidseal_bid::tender::{PackageInputs, PlatformCertificate, TenderSpec};
use bidseal_cms::cert::Certificate;
use std::path::Path;

use bidseal_bid::tender::demo::{DEMO_PDF, DEMO_SPEC};
/// Login of the demo staff account.
pub const DEMO_STAFF_LOGIN: &str = "staff";

/// The world's CA certificates (`pki/ca-*.pem`, not keys).
pub fn world_cas(world: &Path) -> Result<Vec<(String, Certificate, Vec<u8>)>, PlatformError> {
    let pki = world.join("pki");
    let bad = |why: String| PlatformError::DemoWorld {
        path: world.display().to_string(),
        why,
    };
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&pki).map_err(|e| bad(format!("无法读取 pki/：{e}")))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with("ca-") && n.ends_with(".pem") && !n.ends_with(".key.pem"))
        .collect();
    names.sort();
    for name in names {
        let pem = std::fs::read(pki.join(&name)).map_err(|e| bad(format!("{name}：{e}")))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| bad(format!("{name}：{e}")))?;
        let stem = name.trim_end_matches(".pem").to_string();
        out.push((stem, cert, pem));
    }
    if out.is_empty() {
        return Err(bad("pki/ 中没有 CA 证书（ca-*.pem）".into()));
    }
    Ok(out)
}

/// The enterprise certificates of a world (`pki/ent-*.pem`, not keys or chains), sorted.
fn enterprise_cert_files(world: &Path) -> Result<Vec<String>, PlatformError> {
    let entries = std::fs::read_dir(world.join("pki")).map_err(|e| PlatformError::DemoWorld {
        path: world.display().to_string(),
        why: e.to_string(),
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| {
            n.starts_with("ent-")
                && n.ends_with(".pem")
                && !n.contains(".key.")
                && !n.contains(".chain.")
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The enterprises of a world: (name, code) of every enterprise certificate, deduplicated.
pub fn world_companies(world: &Path) -> Result<Vec<Company>, PlatformError> {
    let pki = world.join("pki");
    let mut out: Vec<Company> = Vec::new();
    for name in enterprise_cert_files(world)? {
        let Ok(pem) = std::fs::read(pki.join(&name)) else {
            continue;
        };
        let Ok(cert) = Certificate::from_pem(&pem) else {
            continue;
        };
        if let (Some(name), Some(uscc)) = (cert.organization(), cert.credit_code()) {
            if !out.iter().any(|c| c.uscc == uscc) {
                out.push(Company { uscc, name });
            }
        }
    }
    Ok(out)
}

/// Seeds the platform from `world` (see the module doc).
pub async fn seed(state: &AppState, world: &Path, password: &str) -> Result<(), PlatformError> {
    let now = state.clock.now_unix();
    let db_err = |e: sqlx::Error| PlatformError::Database(e.to_string());
    let hash = {
        let pw = password.to_string();
        tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| PlatformError::Identity(e.to_string()))?
            .map_err(|e| PlatformError::Identity(e.message))?
    };
    for company in world_companies(world)? {
        state
            .db
            .upsert_company(&company, now)
            .await
            .map_err(db_err)?;
        state
            .db
            .create_account(
                &company.uscc,
                Role::Company,
                Some(&company.uscc),
                &company.name,
                &hash,
                now,
            )
            .await
            .map_err(db_err)?;
        if state
            .db
            .records_of(&company.uscc)
            .await
            .map_err(db_err)?
            .is_empty()
        {
            for content in demo_library(&company) {
                let rec = sign_record(&state.identity, &new_record_id(), 1, &company, content, now)
                    .map_err(|e| PlatformError::Identity(e.message))?;
                state.db.insert_record(&rec).await.map_err(db_err)?;
            }
        }
    }
    state
        .db
        .create_account(
            DEMO_STAFF_LOGIN,
            Role::Staff,
            None,
            "平台工作人员",
            &hash,
            now,
        )
        .await
        .map_err(db_err)?;
    let package = demo_tender(state, world)?;
    crate::tenders::publish(state, package)
        .await
        .map_err(|e| PlatformError::DemoWorld {
            path: world.display().to_string(),
            why: e.message,
        })?;
    Ok(())
}

/// `--demo-bind`: binds each enterprise certificate of `world` to its company's account unless
/// the account is bound already (see the module doc).
pub async fn bind_world(state: &AppState, world: &Path) -> Result<(), PlatformError> {
    let bad = |why: String| PlatformError::DemoWorld {
        path: world.display().to_string(),
        why,
    };
    let accounts = crate::web::services::PlatformAccounts(state.clone());
    let trust = bidseal_cms::cert::TrustStore::with_roots(state.trusted_cas.iter().cloned());
    for name in enterprise_cert_files(world)? {
        let pem = std::fs::read(world.join("pki").join(&name))
            .map_err(|e| bad(format!("{name}：{e}")))?;
        let leaf = Certificate::from_pem(&pem).map_err(|e| bad(format!("{name}：{e}")))?;
        // Only what a scan would accept: a chain to a trusted CA, valid now.
        if trust
            .verify_chain(&leaf, &[], std::time::SystemTime::now())
            .is_err()
        {
            continue;
        }
        let identity =
            crate::scan::CertIdentity::of_leaf(&leaf).map_err(|e| bad(format!("{name}：{e}")))?;
        let account = identity.company.uscc.clone();
        let bound = state
            .db
            .account(&account)
            .await
            .map_err(|e| PlatformError::Database(e.to_string()))?
            .and_then(|a| a.bound_cert_fingerprint);
        if bound.is_some() {
            continue;
        }
        crate::scan::bind(&accounts, &account, &identity)
            .await
            .map_err(|e| bad(format!("{name}：[{}] {e}", e.code())))?;
    }
    Ok(())
}

/// Builds the demo tender package signed by the platform (as `tender make --world`).
fn demo_tender(state: &AppState, world: &Path) -> Result<Vec<u8>, PlatformError> {
    let bad = |why: String| PlatformError::DemoWorld {
        path: world.display().to_string(),
        why,
    };
    let spec: TenderSpec = serde_json::from_str(DEMO_SPEC).map_err(|e| bad(e.to_string()))?;
    let accepted = world_cas(world)?
        .into_iter()
        .map(|(stem, cert, pem)| (stem, cert.subject_string(), pem))
        .collect();
    let cert: &PlatformCertificate = state.identity.certificate();
    let inputs = PackageInputs {
        tender_pdf: DEMO_PDF,
        extra_docs: Vec::new(),
        accepted_cas: accepted,
        platform_cert: cert,
        signer: state.identity.signer(),
    };
    let tmp = state.data_dir.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| PlatformError::io(&tmp, e))?;
    let out = tmp.join("demo-tender.zip");
    // A fixed issue time keeps the package (and so the tender id) the same on every start.
    let issued_at = time::macros::datetime!(2026-01-01 00:00 UTC);
    bidseal_bid::tender::make(spec, inputs, issued_at, &out).map_err(|e| bad(e.to_string()))?;
    let bytes = std::fs::read(&out).map_err(|e| PlatformError::io(&out, e))?;
    let _ = std::fs::remove_file(&out);
    Ok(bytes)
}
