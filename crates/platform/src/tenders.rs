//! Publishing tenders: a tender package (what `bidseal tender make` writes) is accepted only
//! if it verifies against this platform's own certificate, and is then listed with its
//! deadline and opening time taken from the signed manifest.
//!
//! Guarantees: the deadline the upload checks use is the one in the signed manifest, never a
//! value typed separately; the same package published twice is the same tender (its id is
//! derived from the manifest's SHA-256). Does not: edit a published tender (publish a new
//! package).

use crate::db::Tender;
use crate::error::ApiError;
use crate::state::AppState;
use bidseal_bid::tender::TrustedPlatforms;
use sha2::{Digest, Sha256};

/// Largest tender package accepted, bytes.
pub const MAX_TENDER_PACKAGE: usize = 64 * 1024 * 1024;

/// Verifies and publishes a package; returns the tender (existing one if already published).
pub async fn publish(state: &AppState, package: Vec<u8>) -> Result<Tender, ApiError> {
    let tmp_dir = state.data_dir.join("tmp");
    let now = state.clock.now_unix();
    let pinned = TrustedPlatforms::pinned(vec![state.identity.certificate().clone()]);
    let (verified, package) = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&tmp_dir).map_err(|e| ApiError::internal("tmp dir", e))?;
        let tmp = tempfile::Builder::new()
            .suffix(".zip")
            .tempfile_in(&tmp_dir)
            .map_err(|e| ApiError::internal("tmp file", e))?;
        std::fs::write(tmp.path(), &package).map_err(|e| ApiError::internal("tmp write", e))?;
        let at = time::OffsetDateTime::from_unix_timestamp(now)
            .map_err(|e| ApiError::internal("clock", e))?;
        let verified = bidseal_bid::tender::verify(tmp.path(), &pinned, at).map_err(|e| {
            ApiError::bad_request(
                "E_TENDER_INVALID",
                format!("招标文件包未通过校验（{}）：{e}", e.code()),
            )
        })?;
        Ok::<_, ApiError>((verified, package))
    })
    .await
    .map_err(|e| ApiError::internal("publish task", e))??;
    let m = &verified.package.manifest;
    let manifest_sha256 = hex::encode(Sha256::digest(&verified.package.manifest_bytes));
    let tender = Tender {
        id: format!("T{}", &manifest_sha256[..12]),
        project_id: m.project.id.clone(),
        project_name: m.project.name.clone(),
        lot_id: m.project.lot.id.clone(),
        lot_name: m.project.lot.name.clone(),
        tenderer: m.tenderer.name.clone(),
        bid_deadline: m.bid_deadline.unix_timestamp(),
        opening_time: m.opening_time.unix_timestamp(),
        published_at: now,
        manifest_sha256,
        state: "published".into(),
    };
    if !state.db.insert_tender(&tender, &package).await? {
        return state
            .db
            .tender(&tender.id)
            .await?
            .ok_or_else(|| ApiError::not_found("招标项目"));
    }
    Ok(tender)
}
