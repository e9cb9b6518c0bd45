//! 同步诚信库: fetch the company's integrity-library records from the trading platform, verify
//! each against the platform certificate pinned in the project's tender package, keep them in
//! the project's local SQLite (`PROJECT/integrity.sqlite`), and report what was added,
//! changed and removed since the last sync. The bid manifest cites the kept records by id,
//! version and SHA-256 ([`citations`]): all of them, until the bidder picks the ones to cite
//! ([`set_cited`], the window's ticks); then exactly the picked ones still kept.
//!
//! Guarantees: a record is stored only if its signature verifies over its exact bytes with the
//! pinned certificate, it names that certificate, it belongs to the logged-in company and its
//! version is not older than the local one; a refused record leaves the local copy (its last
//! good version) untouched and is listed in [`SyncReport::refused`]; the store changes in one
//! transaction. The list as a whole is signed too (`bidseal-library/1`: company, list version,
//! time, every record's id, version and SHA-256, [`check_list`]): a record the list names but
//! the answer leaves out (withheld) fails the whole sync and changes nothing; a record the
//! answer carries but the list does not name (or names at another version) is refused; a list
//! older than the last one synced (a replayed answer) fails the sync; only a record the signed
//! list no longer names counts as removed. Does not: judge a record's facts, or know of a
//! change signed after the answer it got (the list's time says how fresh it is).

use crate::platform_client::{CompanyRef, PlatformClient, PlatformClientError};
use bidseal_bid::platform_docs::{
    document_sha256, verify_signed, RecordKind, SignedLibrary, SignedRecord,
};
use bidseal_bid::project::BidProject;
use bidseal_bid::tender::PlatformCertificate;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The local store inside a project.
pub const STORE_FILE: &str = "integrity.sqlite";

/// One record as the platform sends it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RecordWire {
    /// Record id.
    pub id: String,
    /// Version.
    pub version: i64,
    /// Kind tag.
    pub kind: String,
    /// SHA-256 the platform claims (recomputed here, not trusted).
    pub sha256: String,
    /// The signed JSON.
    pub record_json: String,
    /// Base64 DER signature.
    pub signature: String,
}

/// The library as the platform sends it (`GET /api/v1/records`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LibraryWire {
    /// The company logged in.
    pub company: CompanyRef,
    /// Its records.
    pub records: Vec<RecordWire>,
    /// The signed list (`bidseal-library/1`), exactly; empty from a platform that does not
    /// sign it (refused).
    #[serde(default)]
    pub list_json: String,
    /// Base64 DER signature over `list_json`.
    #[serde(default)]
    pub list_signature: String,
}

/// A record line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordLine {
    /// Record id.
    pub id: String,
    /// Version.
    pub version: i64,
    /// Kind, zh-CN.
    pub kind: String,
    /// Title.
    pub title: String,
    /// SHA-256 of the signed bytes.
    pub sha256: String,
}

/// A record that was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedRecord {
    /// Record id (as sent).
    pub id: String,
    /// Why, zh-CN.
    pub reason: String,
    /// The local version kept, if any.
    pub kept_version: Option<i64>,
}

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SyncReport {
    /// The company logged in.
    pub company: Option<CompanyRef>,
    /// New records.
    pub added: Vec<RecordLine>,
    /// Records whose content changed.
    pub changed: Vec<RecordLine>,
    /// Records no longer on the platform (deleted locally).
    pub removed: Vec<RecordLine>,
    /// Records the same as before.
    pub unchanged: usize,
    /// Records refused (bad signature, other company, older version).
    pub refused: Vec<RefusedRecord>,
}

/// A record kept in the project.
#[derive(Debug, Clone)]
struct LocalRecord {
    version: i64,
    kind: String,
    title: String,
    sha256: String,
}

fn local(e: impl std::fmt::Display) -> PlatformClientError {
    PlatformClientError::Local(format!("诚信库本地库：{e}"))
}

/// Opens (creating) the project's store.
fn open_store(project_dir: &Path) -> Result<Connection, PlatformClientError> {
    let conn = Connection::open(project_dir.join(STORE_FILE)).map_err(local)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS records (
             id TEXT PRIMARY KEY,
             version INTEGER NOT NULL,
             kind TEXT NOT NULL,
             title TEXT NOT NULL,
             sha256 TEXT NOT NULL,
             record_json TEXT NOT NULL,
             signature TEXT NOT NULL,
             synced_at INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS sync_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS cited (id TEXT PRIMARY KEY);",
    )
    .map_err(local)?;
    Ok(conn)
}

fn load_local(conn: &Connection) -> Result<BTreeMap<String, LocalRecord>, PlatformClientError> {
    let mut stmt = conn
        .prepare("SELECT id, version, kind, title, sha256 FROM records")
        .map_err(local)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                LocalRecord {
                    version: r.get(1)?,
                    kind: r.get(2)?,
                    title: r.get(3)?,
                    sha256: r.get(4)?,
                },
            ))
        })
        .map_err(local)?;
    rows.collect::<Result<_, _>>().map_err(local)
}

fn kind_zh(tag: &str) -> String {
    RecordKind::from_tag(tag).map_or_else(|| tag.to_string(), |k| k.zh().to_string())
}

/// Checks one record sent by the platform; returns it parsed, or why not.
pub fn check_record(
    cert: &PlatformCertificate,
    company: &CompanyRef,
    wire: &RecordWire,
) -> Result<SignedRecord, String> {
    let rec: SignedRecord = verify_signed(cert, &wire.record_json, &wire.signature)
        .map_err(|e| format!("[{}] {e}", e.code()))?;
    if rec.id != wire.id || rec.version != wire.version || rec.kind.tag() != wire.kind {
        return Err("签名内容与记录编号、版本或类别不符".into());
    }
    if rec.company.uscc != company.uscc {
        return Err(format!(
            "记录属于另一家企业（{}），不是当前登录企业 {}",
            rec.company.uscc, company.uscc
        ));
    }
    Ok(rec)
}

/// Fetches, verifies and stores the library of the logged-in company into `project`.
pub async fn sync_library(
    client: &PlatformClient,
    project: &BidProject,
) -> Result<SyncReport, PlatformClientError> {
    let lib: LibraryWire = client.get_json("/records").await?;
    let bidder = &project.file().bidder;
    if !bidder.credit_code.is_empty() && bidder.credit_code != lib.company.uscc {
        return Err(PlatformClientError::LoginFailed(format!(
            "登录的企业（{} {}）与投标项目的投标人（{} {}）不一致，请用投标人的账号登录",
            lib.company.name, lib.company.uscc, bidder.name, bidder.credit_code
        )));
    }
    let cert = &project.tender().platform;
    apply_listed(project.dir(), cert, &lib, now_unix())
}

/// Checks the signed record list of `lib`: signature by `cert` over its exact bytes, the
/// certificate it names, the company, and that every record it names is in the answer (a
/// withheld record fails the whole answer, naming it).
pub fn check_list(
    cert: &PlatformCertificate,
    lib: &LibraryWire,
) -> Result<SignedLibrary, PlatformClientError> {
    if lib.list_json.is_empty() {
        return Err(PlatformClientError::BadSignature(
            "平台应答中没有签名的记录清单".into(),
        ));
    }
    let list: SignedLibrary = verify_signed(cert, &lib.list_json, &lib.list_signature)
        .map_err(|e| PlatformClientError::BadSignature(format!("记录清单：{e}")))?;
    if list.company.uscc != lib.company.uscc {
        return Err(PlatformClientError::BadSignature(format!(
            "记录清单属于另一家企业（{}），不是当前登录企业 {}",
            list.company.uscc, lib.company.uscc
        )));
    }
    let withheld: Vec<&str> = list
        .records
        .iter()
        .filter(|e| !lib.records.iter().any(|w| w.id == e.id))
        .map(|e| e.id.as_str())
        .collect();
    if !withheld.is_empty() {
        return Err(PlatformClientError::BadSignature(format!(
            "平台签名的记录清单（第 {} 版）列出、但应答中缺少记录 {}（被扣留或传输中丢失），本次同步未做任何改动",
            list.list_version,
            withheld.join("、")
        )));
    }
    Ok(list)
}

/// Applies a fetched library to the store in `project_dir` after [`check_list`] (the part of
/// [`sync_library`] after the network): records the signed list does not name at their version
/// and SHA-256 are refused; a list older than the last one applied fails.
pub fn apply_listed(
    project_dir: &Path,
    cert: &PlatformCertificate,
    lib: &LibraryWire,
    now: i64,
) -> Result<SyncReport, PlatformClientError> {
    let list = check_list(cert, lib)?;
    apply_inner(
        project_dir,
        cert,
        &lib.company,
        &lib.records,
        Some(&list),
        now,
    )
}

/// Applies records to the store in `project_dir` without a signed list (each record's own
/// signature is checked; a record left out shows as removed). [`apply_listed`] is what
/// [`sync_library`] uses.
pub fn apply(
    project_dir: &Path,
    cert: &PlatformCertificate,
    company: &CompanyRef,
    records: &[RecordWire],
    now: i64,
) -> Result<SyncReport, PlatformClientError> {
    apply_inner(project_dir, cert, company, records, None, now)
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, PlatformClientError> {
    conn.query_row(
        "SELECT value FROM sync_meta WHERE key = ?1",
        params![key],
        |r| r.get(0),
    )
    .optional()
    .map_err(local)
}

fn apply_inner(
    project_dir: &Path,
    cert: &PlatformCertificate,
    company: &CompanyRef,
    records: &[RecordWire],
    list: Option<&SignedLibrary>,
    now: i64,
) -> Result<SyncReport, PlatformClientError> {
    let mut conn = open_store(project_dir)?;
    let before = load_local(&conn)?;
    if let Some(list) = list {
        let same_company = meta(&conn, "company")?.is_none_or(|c| c == company.uscc);
        let last = meta(&conn, "list_version")?.and_then(|v| v.parse::<i64>().ok());
        if let (true, Some(last)) = (same_company, last) {
            if list.list_version < last {
                return Err(PlatformClientError::BadSignature(format!(
                    "记录清单版本回退（平台给出第 {} 版，本地已同步第 {last} 版），可能是重放的旧应答，本次同步未做任何改动",
                    list.list_version
                )));
            }
        }
    }
    let mut report = SyncReport {
        company: Some(company.clone()),
        ..SyncReport::default()
    };
    let tx = conn.transaction().map_err(local)?;
    let mut seen = std::collections::BTreeSet::new();
    for wire in records {
        seen.insert(wire.id.clone());
        let kept = before.get(&wire.id);
        let rec = match check_record(cert, company, wire) {
            Ok(r) => r,
            Err(reason) => {
                report.refused.push(RefusedRecord {
                    id: wire.id.clone(),
                    reason,
                    kept_version: kept.map(|k| k.version),
                });
                continue;
            }
        };
        if let Some(k) = kept {
            if rec.version < k.version {
                report.refused.push(RefusedRecord {
                    id: wire.id.clone(),
                    reason: format!("版本回退（平台 {}，本地 {}）", rec.version, k.version),
                    kept_version: Some(k.version),
                });
                continue;
            }
        }
        let listed = list.is_none_or(|l| {
            l.records.iter().any(|e| {
                e.id == wire.id
                    && e.version == wire.version
                    && e.sha256 == document_sha256(&wire.record_json)
            })
        });
        if !listed {
            report.refused.push(RefusedRecord {
                id: wire.id.clone(),
                reason: "不在平台签名的记录清单中（或版本、摘要与清单不符）".into(),
                kept_version: kept.map(|k| k.version),
            });
            continue;
        }
        let sha256 = document_sha256(&wire.record_json);
        let line = RecordLine {
            id: rec.id.clone(),
            version: rec.version,
            kind: rec.kind.zh().to_string(),
            title: rec.title.clone(),
            sha256: sha256.clone(),
        };
        match kept {
            Some(k) if k.sha256 == sha256 => {
                report.unchanged += 1;
                continue;
            }
            Some(_) => report.changed.push(line),
            None => report.added.push(line),
        }
        tx.execute(
            "INSERT INTO records (id, version, kind, title, sha256, record_json, signature, synced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, kind = excluded.kind,
               title = excluded.title, sha256 = excluded.sha256, record_json = excluded.record_json,
               signature = excluded.signature, synced_at = excluded.synced_at",
            params![
                rec.id,
                rec.version,
                rec.kind.tag(),
                rec.title,
                sha256,
                wire.record_json,
                wire.signature,
                now
            ],
        )
        .map_err(local)?;
    }
    for (id, k) in &before {
        if !seen.contains(id) {
            tx.execute("DELETE FROM records WHERE id = ?1", params![id])
                .map_err(local)?;
            report.removed.push(RecordLine {
                id: id.clone(),
                version: k.version,
                kind: kind_zh(&k.kind),
                title: k.title.clone(),
                sha256: k.sha256.clone(),
            });
        }
    }
    tx.execute(
        "INSERT INTO sync_meta (key, value) VALUES ('last_sync', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![now.to_string()],
    )
    .map_err(local)?;
    tx.execute(
        "INSERT INTO sync_meta (key, value) VALUES ('company', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![company.uscc],
    )
    .map_err(local)?;
    if let Some(list) = list {
        tx.execute(
            "INSERT INTO sync_meta (key, value) VALUES ('list_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![list.list_version.to_string()],
        )
        .map_err(local)?;
    }
    tx.commit().map_err(local)?;
    Ok(report)
}

/// Whether the bidder has picked the records to cite (else every kept record is cited).
const CHOICE_KEY: &str = "citation_choice";

/// The records kept in `project_dir`, as the bid manifest cites them:
/// `ID@vVERSION:sha256:HEX`, by id — every kept record, or, once the bidder picked
/// ([`set_cited`]), the picked ones still kept (a picked record removed by a sync is not
/// cited; a changed one is cited at its kept version). Empty when the project was never
/// synced.
pub fn citations(project_dir: &Path) -> Result<Vec<String>, PlatformClientError> {
    Ok(local_records(project_dir)?
        .into_iter()
        .filter(|r| r.cited)
        .map(|r| format!("{}@v{}:sha256:{}", r.id, r.version, r.sha256))
        .collect())
}

/// A record kept in the project, as the window lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptRecordLine {
    /// Record id.
    pub id: String,
    /// Version.
    pub version: i64,
    /// Kind, zh-CN.
    pub kind: String,
    /// Title.
    pub title: String,
    /// SHA-256 of the signed bytes.
    pub sha256: String,
    /// Cited by the bid manifest ([`citations`]).
    pub cited: bool,
}

/// The records kept in `project_dir`, by id, each with whether the bid cites it.
pub fn local_records(project_dir: &Path) -> Result<Vec<KeptRecordLine>, PlatformClientError> {
    if !project_dir.join(STORE_FILE).exists() {
        return Ok(Vec::new());
    }
    let conn = open_store(project_dir)?;
    let chosen: bool = conn
        .query_row(
            "SELECT 1 FROM sync_meta WHERE key = ?1",
            params![CHOICE_KEY],
            |_| Ok(()),
        )
        .optional()
        .map_err(local)?
        .is_some();
    let mut stmt = conn
        .prepare(
            "SELECT r.id, r.version, r.kind, r.title, r.sha256, c.id IS NOT NULL
             FROM records r LEFT JOIN cited c ON c.id = r.id ORDER BY r.id",
        )
        .map_err(local)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(KeptRecordLine {
                id: r.get(0)?,
                version: r.get(1)?,
                kind: kind_zh(&r.get::<_, String>(2)?),
                title: r.get(3)?,
                sha256: r.get(4)?,
                cited: !chosen || r.get::<_, bool>(5)?,
            })
        })
        .map_err(local)?;
    rows.collect::<Result<_, _>>().map_err(local)
}

/// The bidder picks the kept records the bid cites (replacing any earlier pick); an id that
/// is not kept is refused (`E_RECORD_NOT_KEPT`) and nothing changes.
pub fn set_cited(project_dir: &Path, ids: &[String]) -> Result<(), PlatformClientError> {
    let mut conn = open_store(project_dir)?;
    let kept = load_local(&conn)?;
    if let Some(unknown) = ids.iter().find(|id| !kept.contains_key(*id)) {
        return Err(PlatformClientError::Refused {
            status: 0,
            code: "E_RECORD_NOT_KEPT".into(),
            message: format!("诚信库记录 {unknown} 不在本项目的本地库中，请先同步诚信库"),
        });
    }
    let tx = conn.transaction().map_err(local)?;
    tx.execute("DELETE FROM cited", []).map_err(local)?;
    for id in ids {
        tx.execute("INSERT OR IGNORE INTO cited (id) VALUES (?1)", params![id])
            .map_err(local)?;
    }
    tx.execute(
        "INSERT INTO sync_meta (key, value) VALUES (?1, '1')
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![CHOICE_KEY],
    )
    .map_err(local)?;
    tx.commit().map_err(local)
}

/// One kept record's signed JSON and signature (for evaluators' cross-checks).
pub fn kept_record(
    project_dir: &Path,
    id: &str,
) -> Result<Option<(String, String)>, PlatformClientError> {
    let conn = open_store(project_dir)?;
    conn.query_row(
        "SELECT record_json, signature FROM records WHERE id = ?1",
        params![id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(local)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(dir: &Path, id: &str, version: i64) {
        let conn = open_store(dir).expect("store");
        conn.execute(
            "INSERT INTO records (id, version, kind, title, sha256, record_json, signature, synced_at)
             VALUES (?1, ?2, 'qualification', ?1, ?3, '{}', '', 0)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256",
            params![id, version, format!("{id}{version}")],
        )
        .expect("insert");
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("bidseal-cite-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn every_kept_record_is_cited_until_the_bidder_picks_then_only_the_picked_ones() {
        let dir = scratch("pick");
        assert!(citations(&dir).expect("none").is_empty(), "never synced");
        keep(&dir, "R1", 1);
        keep(&dir, "R2", 3);
        assert_eq!(
            citations(&dir).expect("all"),
            vec!["R1@v1:sha256:R11", "R2@v3:sha256:R23"]
        );
        set_cited(&dir, &["R2".into()]).expect("pick");
        assert_eq!(citations(&dir).expect("one"), vec!["R2@v3:sha256:R23"]);
        let lines = local_records(&dir).expect("lines");
        assert_eq!(
            lines
                .iter()
                .map(|l| (l.id.as_str(), l.cited))
                .collect::<Vec<_>>(),
            vec![("R1", false), ("R2", true)]
        );
        // A picked record changed by a sync is cited at its kept version; a new one is not
        // picked by itself.
        keep(&dir, "R2", 4);
        keep(&dir, "R3", 1);
        assert_eq!(citations(&dir).expect("kept"), vec!["R2@v4:sha256:R24"]);
        // Picking nothing cites nothing (not "all").
        set_cited(&dir, &[]).expect("none");
        assert!(citations(&dir).expect("empty").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_pick_naming_a_record_that_is_not_kept_is_refused_and_changes_nothing() {
        let dir = scratch("stranger");
        keep(&dir, "R1", 1);
        set_cited(&dir, &["R1".into()]).expect("pick");
        let err = set_cited(&dir, &["R1".into(), "FORGED".into()]).expect_err("stranger");
        assert_eq!(err.platform_code(), Some("E_RECORD_NOT_KEPT"));
        assert_eq!(citations(&dir).expect("kept"), vec!["R1@v1:sha256:R11"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
