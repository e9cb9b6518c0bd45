//! The platform's database: one pool, one set of queries for SQLite and PostgreSQL through
//! sqlx's `Any` driver, and the migrations in `crates/platform/migrations/`.
//!
//! Every function here is one statement or one transaction with a domain name
//! (`create_session`, `record_upload_progress`, ...); handlers never write SQL. Placeholders
//! are `$1, $2, …` (both backends accept them), types are TEXT / BIGINT / BYTEA, times Unix
//! seconds.
//!
//! Rows map to their structs with `sqlx::FromRow` (by column name) wherever the struct is this
//! crate's own and the columns are plain; `Account` (role parsed, company joined) and the
//! shared `Company` type keep a mapper.
//!
//! Guarantees: migrations run at start, before the first request; a session is stored as the
//! SHA-256 of its token, so a copy of the database does not log anyone in. Does not: check
//! permissions (the API layer decides who may call what).

use crate::error::PlatformError;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::path::Path;

/// Which database is behind the pool (for messages and the benchmark table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The bundled SQLite file `DATA/platform.db`.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The pool and its backend.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// A company (企业) known to the platform: name and 统一社会信用代码.
pub use bidseal_bid::platform_docs::CompanyRef as Company;

/// Who an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A bidder company (login = its unified social credit code).
    Company,
    /// Platform staff (publish tenders, edit records, run openings).
    Staff,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Company => "company",
            Role::Staff => "staff",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "company" => Some(Role::Company),
            "staff" => Some(Role::Staff),
            _ => None,
        }
    }
}

/// An account row.
#[derive(Debug, Clone)]
pub struct Account {
    /// Login name (USCC for a company).
    pub login: String,
    /// Role.
    pub role: Role,
    /// The company, for a company account.
    pub company: Option<Company>,
    /// Shown in pages.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// SHA-256 fingerprint of the certificate bound by scan (扫码绑定证书), if any.
    pub bound_cert_fingerprint: Option<String>,
}

/// A login session joined with its account.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The account.
    pub account: Account,
    /// `password` or `scan`.
    pub via: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A published tender (without its package bytes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Tender {
    /// Platform id of the tender (`T` + 12 hex of the manifest's SHA-256).
    pub id: String,
    /// 项目编号.
    pub project_id: String,
    /// 项目名称.
    pub project_name: String,
    /// 标段编号.
    pub lot_id: String,
    /// 标段名称.
    pub lot_name: String,
    /// 招标人.
    pub tenderer: String,
    /// 投标截止时间, Unix seconds.
    pub bid_deadline: i64,
    /// 开标时间, Unix seconds.
    pub opening_time: i64,
    /// Unix seconds.
    pub published_at: i64,
    /// SHA-256 of `tender.json`.
    pub manifest_sha256: String,
    /// `published`, `opening` or `opened`.
    pub state: String,
}

/// One integrity-library record as stored: the exact signed bytes and the signature.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredRecord {
    /// Record id.
    pub id: String,
    /// Owner.
    pub company_uscc: String,
    /// Kind tag (`basic`, `qualification`, ...).
    pub kind: String,
    /// Version, from 1, bumped on every edit.
    pub version: i64,
    /// The signed JSON, exactly.
    pub record_json: String,
    /// Base64 DER ECDSA signature over `record_json`.
    pub signature: String,
    /// SHA-256 of `record_json`, lower-case hex.
    pub sha256: String,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A resumable upload.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Upload {
    /// Upload id (random).
    pub id: String,
    /// Tender.
    pub tender_id: String,
    /// Bidder.
    pub company_uscc: String,
    /// Declared size.
    pub size: i64,
    /// Declared SHA-256, lower-case hex.
    pub sha256: String,
    /// Bytes received so far (contiguous from 0).
    pub received: i64,
    /// `open`, `complete` or `aborted`.
    pub state: String,
    /// The receipt, once complete.
    pub receipt_id: Option<String>,
}

/// The current bid of a company for a tender.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Bid {
    /// Tender.
    pub tender_id: String,
    /// Bidder.
    pub company_uscc: String,
    /// `submitted` or `withdrawn`.
    pub state: String,
    /// The upload whose file is the bid (`None` once withdrawn).
    pub upload_id: Option<String>,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bid file.
    pub sha256: String,
    /// The latest receipt.
    pub receipt_id: String,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredReceipt {
    /// Receipt id.
    pub id: String,
    /// Tender.
    pub tender_id: String,
    /// Bidder.
    pub company_uscc: String,
    /// 1, 2, 3, … per tender and company (unique: two racing receipts cannot share one).
    pub sequence: i64,
    /// `submit`, `replace` or `withdraw`.
    pub action: String,
    /// The signed JSON, exactly.
    pub receipt_json: String,
    /// Base64 DER ECDSA signature over `receipt_json`.
    pub signature: String,
    /// Unix seconds.
    pub created_at: i64,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Opens `url` (`postgres://…`, `sqlite://…`), or `DATA/platform.db` when `None`, and runs
    /// the migrations.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Self, PlatformError> {
        sqlx::any::install_default_drivers();
        let url = match url {
            Some(u) => u.to_string(),
            None => format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("platform.db").display()
            ),
        };
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(PlatformError::Database(
                "只支持 postgres:// 或 sqlite: 地址".into(),
            ));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect(&url)
            .await?;
        if backend == Backend::Sqlite {
            // Readers do not wait for writers; persistent in the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for queries another module owns (the web pages' scan sessions).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    // --- companies and accounts -------------------------------------------------------------

    /// Adds a company, or renames it if the code is known.
    pub async fn upsert_company(&self, company: &Company, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO companies (uscc, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (uscc) DO UPDATE SET name = excluded.name",
        )
        .bind(&company.uscc)
        .bind(&company.name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One company by its code.
    pub async fn company(&self, uscc: &str) -> Result<Option<Company>, sqlx::Error> {
        let row = sqlx::query("SELECT uscc, name FROM companies WHERE uscc = $1")
            .bind(uscc)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| company_from(&r)).transpose()
    }

    /// Every company, by name.
    pub async fn companies(&self) -> Result<Vec<Company>, sqlx::Error> {
        let rows = sqlx::query("SELECT uscc, name FROM companies ORDER BY name, uscc")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(company_from).collect()
    }

    /// Creates an account unless the login exists; returns whether it was created.
    pub async fn create_account(
        &self,
        login: &str,
        role: Role,
        company_uscc: Option<&str>,
        display_name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO accounts (login, role, company_uscc, display_name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (login) DO NOTHING",
        )
        .bind(login)
        .bind(role.as_str())
        .bind(company_uscc)
        .bind(display_name)
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether any staff account exists.
    pub async fn has_staff(&self) -> Result<bool, sqlx::Error> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts WHERE role = 'staff'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// One account by login.
    pub async fn account(&self, login: &str) -> Result<Option<Account>, sqlx::Error> {
        let row = sqlx::query(audited(format!("{ACCOUNT_SELECT} WHERE a.login = $1")))
            .bind(login)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| account_from(&r)).transpose()
    }

    /// The company account of a company (its login is its code).
    pub async fn company_account(&self, uscc: &str) -> Result<Option<Account>, sqlx::Error> {
        let row = sqlx::query(audited(format!(
            "{ACCOUNT_SELECT} WHERE a.company_uscc = $1 AND a.role = 'company' ORDER BY a.login"
        )))
        .bind(uscc)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| account_from(&r)).transpose()
    }

    /// Records the certificate a company bound by scan (扫码绑定证书).
    pub async fn bind_certificate(
        &self,
        login: &str,
        fingerprint: &str,
        cert_pem: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE accounts SET bound_cert_fingerprint = $1, bound_cert_pem = $2, bound_at = $3 \
             WHERE login = $4",
        )
        .bind(fingerprint)
        .bind(cert_pem)
        .bind(now)
        .bind(login)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account whose bound certificate has this fingerprint (scan login).
    pub async fn account_by_bound_certificate(
        &self,
        fingerprint: &str,
    ) -> Result<Option<Account>, sqlx::Error> {
        let row = sqlx::query(audited(format!(
            "{ACCOUNT_SELECT} WHERE a.bound_cert_fingerprint = $1 ORDER BY a.login"
        )))
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| account_from(&r)).transpose()
    }

    // --- sessions ---------------------------------------------------------------------------

    /// Stores a new session (by the SHA-256 of its token).
    pub async fn create_session(
        &self,
        token_hash: &str,
        login: &str,
        via: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, login, via, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(login)
        .bind(via)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session with this token hash, expired or not (the caller decides).
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>, sqlx::Error> {
        let row = sqlx::query(audited(format!(
            "SELECT s.via, s.expires_at, {ACCOUNT_COLUMNS} FROM sessions s \
             JOIN accounts a ON a.login = s.login \
             LEFT JOIN companies c ON c.uscc = a.company_uscc WHERE s.token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionRow {
                account: account_from(&r)?,
                via: r.try_get("via")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Ends a session (logout).
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops sessions that expired before `now`.
    pub async fn purge_expired_sessions(&self, now: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    // --- tenders ----------------------------------------------------------------------------

    /// Publishes a tender; returns false if one with this id exists.
    pub async fn insert_tender(&self, t: &Tender, package: &[u8]) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO tenders (id, project_id, project_name, lot_id, lot_name, tenderer, \
             bid_deadline, opening_time, published_at, manifest_sha256, package, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&t.id)
        .bind(&t.project_id)
        .bind(&t.project_name)
        .bind(&t.lot_id)
        .bind(&t.lot_name)
        .bind(&t.tenderer)
        .bind(t.bid_deadline)
        .bind(t.opening_time)
        .bind(t.published_at)
        .bind(&t.manifest_sha256)
        .bind(package)
        .bind(&t.state)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every tender, newest deadline first.
    pub async fn tenders(&self) -> Result<Vec<Tender>, sqlx::Error> {
        sqlx::query_as(audited(format!(
            "SELECT {TENDER_COLUMNS} FROM tenders ORDER BY bid_deadline DESC, id"
        )))
        .fetch_all(&self.pool)
        .await
    }

    /// One tender.
    pub async fn tender(&self, id: &str) -> Result<Option<Tender>, sqlx::Error> {
        sqlx::query_as(audited(format!(
            "SELECT {TENDER_COLUMNS} FROM tenders WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// The package (zip) of a tender.
    pub async fn tender_package(&self, id: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        let row = sqlx::query("SELECT package FROM tenders WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get::<Vec<u8>, _>("package")).transpose()
    }

    /// Moves a tender to `state` (`opening`, `opened`).
    pub async fn set_tender_state(&self, id: &str, state: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE tenders SET state = $1 WHERE id = $2")
            .bind(state)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- integrity library ------------------------------------------------------------------

    /// The records of a company, by id.
    pub async fn records_of(&self, uscc: &str) -> Result<Vec<StoredRecord>, sqlx::Error> {
        sqlx::query_as(audited(format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE company_uscc = $1 ORDER BY id"
        )))
        .bind(uscc)
        .fetch_all(&self.pool)
        .await
    }

    /// One record.
    pub async fn record(&self, id: &str) -> Result<Option<StoredRecord>, sqlx::Error> {
        sqlx::query_as(audited(format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Inserts a new record (version 1) and bumps the company's list version; false if the id
    /// exists.
    pub async fn insert_record(&self, r: &StoredRecord) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO records (id, company_uscc, kind, version, record_json, signature, sha256, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.company_uscc)
        .bind(&r.kind)
        .bind(r.version)
        .bind(&r.record_json)
        .bind(&r.signature)
        .bind(&r.sha256)
        .bind(r.updated_at)
        .execute(&mut *tx)
        .await?;
        let inserted = done.rows_affected() == 1;
        if inserted {
            bump_library(&mut tx, &r.company_uscc).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Replaces a record if its stored version is `r.version - 1` (no lost update between
    /// two staff editing at once); returns whether it was replaced.
    pub async fn update_record(&self, r: &StoredRecord) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE records SET version = $1, record_json = $2, signature = $3, sha256 = $4, \
             updated_at = $5 WHERE id = $6 AND version = $7",
        )
        .bind(r.version)
        .bind(&r.record_json)
        .bind(&r.signature)
        .bind(&r.sha256)
        .bind(r.updated_at)
        .bind(&r.id)
        .bind(r.version - 1)
        .execute(&mut *tx)
        .await?;
        let updated = done.rows_affected() == 1;
        if updated {
            bump_library(&mut tx, &r.company_uscc).await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes a record and bumps its company's list version; returns whether it existed.
    pub async fn delete_record(&self, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let owner = sqlx::query("SELECT company_uscc FROM records WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(owner) = owner else {
            tx.rollback().await?;
            return Ok(false);
        };
        let uscc: String = owner.try_get("company_uscc")?;
        let done = sqlx::query("DELETE FROM records WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        bump_library(&mut tx, &uscc).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// A company's records with the list version they are at (read twice around the records,
    /// so the version and the list belong together).
    pub async fn library(&self, uscc: &str) -> Result<(i64, Vec<StoredRecord>), sqlx::Error> {
        loop {
            let before = self.library_version(uscc).await?;
            let records = self.records_of(uscc).await?;
            if self.library_version(uscc).await? == before {
                return Ok((before, records));
            }
        }
    }

    async fn library_version(&self, uscc: &str) -> Result<i64, sqlx::Error> {
        let row = sqlx::query("SELECT library_version FROM companies WHERE uscc = $1")
            .bind(uscc)
            .fetch_optional(&self.pool)
            .await?;
        row.map_or(Ok(0), |r| r.try_get("library_version"))
    }

    // --- uploads, bids, receipts ------------------------------------------------------------

    /// Starts an upload.
    pub async fn insert_upload(&self, u: &Upload, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO uploads (id, tender_id, company_uscc, size, sha256, received, state, \
             receipt_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&u.id)
        .bind(&u.tender_id)
        .bind(&u.company_uscc)
        .bind(u.size)
        .bind(&u.sha256)
        .bind(u.received)
        .bind(&u.state)
        .bind(&u.receipt_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One upload.
    pub async fn upload(&self, id: &str) -> Result<Option<Upload>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, tender_id, company_uscc, size, sha256, received, state, receipt_id \
             FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// The open (unfinished) uploads of a company for a tender.
    pub async fn open_uploads(
        &self,
        tender_id: &str,
        uscc: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id FROM uploads WHERE tender_id = $1 AND company_uscc = $2 AND state = 'open'",
        )
        .bind(tender_id)
        .bind(uscc)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.try_get("id")).collect()
    }

    /// Bytes declared by a company's live unfinished uploads: open, written to since
    /// `active_since`, for a tender whose deadline is after `now` (one the company abandoned,
    /// or can no longer finish, does not count against it).
    pub async fn open_upload_bytes(
        &self,
        uscc: &str,
        active_since: i64,
        now: i64,
    ) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(u.size), 0) AS BIGINT) AS total FROM uploads u \
             JOIN tenders t ON t.id = u.tender_id \
             WHERE u.company_uscc = $1 AND u.state = 'open' AND u.updated_at >= $2 \
             AND t.bid_deadline > $3",
        )
        .bind(uscc)
        .bind(active_since)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        row.try_get("total")
    }

    /// Marks an open upload aborted (bad hash, not a bid file).
    pub async fn abort_upload(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE uploads SET state = 'aborted' WHERE id = $1 AND state = 'open'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves an upload's received count from `from` to `to` (only if it still is `from`:
    /// two racing writers of the same chunk cannot both advance it).
    pub async fn record_upload_progress(
        &self,
        id: &str,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE uploads SET received = $1, updated_at = $2 \
             WHERE id = $3 AND received = $4 AND state = 'open'",
        )
        .bind(to)
        .bind(now)
        .bind(id)
        .bind(from)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Completes an upload: in one transaction, stores the receipt, marks the upload complete
    /// and makes it the company's current bid. Returns false (and changes nothing) if the
    /// upload was no longer open.
    pub async fn complete_upload(
        &self,
        upload: &Upload,
        receipt: &StoredReceipt,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE uploads SET state = 'complete', receipt_id = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'open' AND received = size",
        )
        .bind(&receipt.id)
        .bind(receipt.created_at)
        .bind(&upload.id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_receipt(&mut tx, receipt).await?;
        sqlx::query(
            "INSERT INTO bids (tender_id, company_uscc, state, upload_id, size, sha256, receipt_id, updated_at) \
             VALUES ($1, $2, 'submitted', $3, $4, $5, $6, $7) \
             ON CONFLICT (tender_id, company_uscc) DO UPDATE SET state = 'submitted', \
             upload_id = excluded.upload_id, size = excluded.size, sha256 = excluded.sha256, \
             receipt_id = excluded.receipt_id, updated_at = excluded.updated_at",
        )
        .bind(&upload.tender_id)
        .bind(&upload.company_uscc)
        .bind(&upload.id)
        .bind(upload.size)
        .bind(&upload.sha256)
        .bind(&receipt.id)
        .bind(receipt.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Withdraws the current bid, storing the withdrawal receipt; false if there was no
    /// submitted bid.
    pub async fn withdraw_bid(&self, receipt: &StoredReceipt) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE bids SET state = 'withdrawn', upload_id = NULL, receipt_id = $1, updated_at = $2 \
             WHERE tender_id = $3 AND company_uscc = $4 AND state = 'submitted'",
        )
        .bind(&receipt.id)
        .bind(receipt.created_at)
        .bind(&receipt.tender_id)
        .bind(&receipt.company_uscc)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_receipt(&mut tx, receipt).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The current bid of a company for a tender.
    pub async fn bid(&self, tender_id: &str, uscc: &str) -> Result<Option<Bid>, sqlx::Error> {
        sqlx::query_as(audited(format!(
            "SELECT {BID_COLUMNS} FROM bids WHERE tender_id = $1 AND company_uscc = $2"
        )))
        .bind(tender_id)
        .bind(uscc)
        .fetch_optional(&self.pool)
        .await
    }

    /// Every bid of a tender (staff view, opening).
    pub async fn bids_of_tender(&self, tender_id: &str) -> Result<Vec<Bid>, sqlx::Error> {
        sqlx::query_as(audited(format!(
            "SELECT {BID_COLUMNS} FROM bids WHERE tender_id = $1 ORDER BY company_uscc"
        )))
        .bind(tender_id)
        .fetch_all(&self.pool)
        .await
    }

    /// One receipt.
    pub async fn receipt(&self, id: &str) -> Result<Option<StoredReceipt>, sqlx::Error> {
        sqlx::query_as(audited(format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// The next receipt sequence number of a company for a tender.
    pub async fn next_receipt_sequence(
        &self,
        tender_id: &str,
        uscc: &str,
    ) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM receipts WHERE tender_id = $1 AND company_uscc = $2",
        )
        .bind(tender_id)
        .bind(uscc)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? + 1)
    }

    /// Every receipt of a company for a tender, oldest first.
    pub async fn receipts_of(
        &self,
        tender_id: &str,
        uscc: &str,
    ) -> Result<Vec<StoredReceipt>, sqlx::Error> {
        sqlx::query_as(audited(format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE tender_id = $1 AND company_uscc = $2 \
             ORDER BY sequence"
        )))
        .bind(tender_id)
        .bind(uscc)
        .fetch_all(&self.pool)
        .await
    }
}

/// Marks a query built from this module's own column-list constants (never from input) as
/// audited for sqlx.
fn audited(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

async fn bump_library(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    uscc: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE companies SET library_version = library_version + 1 WHERE uscc = $1")
        .bind(uscc)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_receipt(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    r: &StoredReceipt,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO receipts (id, tender_id, company_uscc, sequence, action, receipt_json, signature, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&r.id)
    .bind(&r.tender_id)
    .bind(&r.company_uscc)
    .bind(r.sequence)
    .bind(&r.action)
    .bind(&r.receipt_json)
    .bind(&r.signature)
    .bind(r.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const ACCOUNT_COLUMNS: &str = "a.login, a.role, a.company_uscc, a.display_name, a.password_hash, \
     a.bound_cert_fingerprint, c.name AS company_name";
const ACCOUNT_SELECT: &str = "SELECT a.login, a.role, a.company_uscc, a.display_name, \
     a.password_hash, a.bound_cert_fingerprint, c.name AS company_name FROM accounts a \
     LEFT JOIN companies c ON c.uscc = a.company_uscc";
const TENDER_COLUMNS: &str = "id, project_id, project_name, lot_id, lot_name, tenderer, \
     bid_deadline, opening_time, published_at, manifest_sha256, state";
const RECORD_COLUMNS: &str =
    "id, company_uscc, kind, version, record_json, signature, sha256, updated_at";
const BID_COLUMNS: &str =
    "tender_id, company_uscc, state, upload_id, size, sha256, receipt_id, updated_at";
const RECEIPT_COLUMNS: &str =
    "id, tender_id, company_uscc, sequence, action, receipt_json, signature, created_at";

fn company_from(r: &AnyRow) -> Result<Company, sqlx::Error> {
    Ok(Company {
        uscc: r.try_get("uscc")?,
        name: r.try_get("name")?,
    })
}

fn account_from(r: &AnyRow) -> Result<Account, sqlx::Error> {
    let role: String = r.try_get("role")?;
    let role = Role::parse(&role).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: "role".into(),
        source: format!("unknown role {role}").into(),
    })?;
    let uscc: Option<String> = r.try_get("company_uscc")?;
    let name: Option<String> = r.try_get("company_name")?;
    Ok(Account {
        login: r.try_get("login")?,
        role,
        company: uscc.zip(name).map(|(uscc, name)| Company { uscc, name }),
        display_name: r.try_get("display_name")?,
        password_hash: r.try_get("password_hash")?,
        bound_cert_fingerprint: r.try_get("bound_cert_fingerprint")?,
    })
}

/// A scan as stored (see migration `0002_live_state.sql`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredScan {
    /// Scan id (random, 128 bits).
    pub id: String,
    /// `login`, `sync_integrity` or `bind`.
    pub purpose: String,
    /// The account of a bind scan.
    pub owner: Option<String>,
    /// `waiting`, `scanned`, `done`, `rejected`, `expired`.
    pub state: String,
    /// The `ScanStatus` JSON, without a token.
    pub status_json: String,
    /// The QR as SVG.
    pub qr_svg: String,
    /// Unix seconds.
    pub started_at: i64,
}

/// A pushed decrypt request as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredPush {
    /// Random id.
    pub id: String,
    /// The company whose phone may take it.
    pub company_uscc: String,
    /// Tender.
    pub tender_id: String,
    /// Bid.
    pub bid: String,
    /// The request as the phone receives it (JSON).
    pub request_json: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Db {
    // --- scans, push mailbox, opening board (live state) ------------------------------------

    /// Stores a scan (insert or replace by id).
    pub async fn save_scan(&self, s: &StoredScan, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO scans (id, purpose, owner, state, status_json, qr_svg, started_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET \
             state = excluded.state, status_json = excluded.status_json, updated_at = excluded.updated_at",
        )
        .bind(&s.id)
        .bind(&s.purpose)
        .bind(&s.owner)
        .bind(&s.state)
        .bind(&s.status_json)
        .bind(&s.qr_svg)
        .bind(s.started_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One stored scan.
    pub async fn scan(&self, id: &str) -> Result<Option<StoredScan>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, purpose, owner, state, status_json, qr_svg, started_at FROM scans WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Scans not over (a restart found them: their relay connection died with the process).
    pub async fn unfinished_scans(&self) -> Result<Vec<StoredScan>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, purpose, owner, state, status_json, qr_svg, started_at FROM scans \
             WHERE state IN ('waiting', 'scanned', 'done')",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Drops scans started before `before`.
    pub async fn purge_scans(&self, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM scans WHERE started_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Puts a decrypt request in a company's mailbox.
    pub async fn insert_push(&self, p: &StoredPush, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO push_requests (id, company_uscc, tender_id, bid, request_json, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&p.id)
        .bind(&p.company_uscc)
        .bind(&p.tender_id)
        .bind(&p.bid)
        .bind(&p.request_json)
        .bind(p.expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Hands out the undelivered, unexpired requests of a company, each at most once (a
    /// request another taker got first is left out).
    pub async fn take_pushes(&self, uscc: &str, now: i64) -> Result<Vec<StoredPush>, sqlx::Error> {
        let rows: Vec<StoredPush> = sqlx::query_as(
            "SELECT id, company_uscc, tender_id, bid, request_json, expires_at FROM push_requests \
             WHERE company_uscc = $1 AND delivered_at IS NULL AND expires_at > $2 ORDER BY created_at, id",
        )
        .bind(uscc)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut taken = Vec::new();
        for p in rows {
            let done = sqlx::query(
                "UPDATE push_requests SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL",
            )
            .bind(now)
            .bind(&p.id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 1 {
                taken.push(p);
            }
        }
        Ok(taken)
    }

    /// Removes the undelivered requests of one bid (its scan ended), or of a whole tender
    /// (`bid = None`: a restart, their relay sessions died with the old process).
    pub async fn withdraw_pushes(
        &self,
        tender_id: &str,
        bid: Option<&str>,
    ) -> Result<u64, sqlx::Error> {
        let done = match bid {
            Some(bid) => {
                sqlx::query(
                    "DELETE FROM push_requests WHERE tender_id = $1 AND bid = $2 AND delivered_at IS NULL",
                )
                .bind(tender_id)
                .bind(bid)
                .execute(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "DELETE FROM push_requests WHERE tender_id = $1 AND delivered_at IS NULL",
                )
                .bind(tender_id)
                .execute(&self.pool)
                .await?
            }
        };
        Ok(done.rows_affected())
    }

    /// Stores an opening's board unless a newer version is stored already.
    pub async fn save_opening(
        &self,
        tender_id: &str,
        version: i64,
        finished: bool,
        board_json: &str,
        started_at: i64,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO openings (tender_id, version, finished, board_json, started_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tender_id) DO UPDATE SET \
             version = excluded.version, finished = excluded.finished, \
             board_json = excluded.board_json, updated_at = excluded.updated_at \
             WHERE openings.version < excluded.version",
        )
        .bind(tender_id)
        .bind(version)
        .bind(i64::from(finished))
        .bind(board_json)
        .bind(started_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The stored board JSON of one opening.
    pub async fn opening_board(&self, tender_id: &str) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT board_json FROM openings WHERE tender_id = $1")
            .bind(tender_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("board_json")).transpose()
    }

    /// Every stored opening board (tender id, board JSON), started first first.
    pub async fn opening_boards(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT tender_id, board_json FROM openings ORDER BY started_at, tender_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("tender_id")?, r.try_get("board_json")?)))
            .collect()
    }
}

/// A signed opening reading (唱标) as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredOpeningReport {
    /// Tender.
    pub tender_id: String,
    /// The signed JSON, exactly.
    pub report_json: String,
    /// Base64 DER ECDSA signature over `report_json`.
    pub signature: String,
    /// SHA-256 of `report_json`, lower-case hex.
    pub sha256: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl Db {
    /// Stores the opening reading of a tender unless one is stored (published once); returns
    /// whether it was stored.
    pub async fn insert_opening_report(
        &self,
        r: &StoredOpeningReport,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO opening_reports (tender_id, report_json, signature, sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tender_id) DO NOTHING",
        )
        .bind(&r.tender_id)
        .bind(&r.report_json)
        .bind(&r.signature)
        .bind(&r.sha256)
        .bind(r.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The published opening reading of a tender.
    pub async fn opening_report(
        &self,
        tender_id: &str,
    ) -> Result<Option<StoredOpeningReport>, sqlx::Error> {
        sqlx::query_as(
            "SELECT tender_id, report_json, signature, sha256, created_at FROM opening_reports \
             WHERE tender_id = $1",
        )
        .bind(tender_id)
        .fetch_optional(&self.pool)
        .await
    }
}
