//! The local index: recent bid projects and scan history, in a bundled SQLite file.
//!
//! Location: `$BIDSEAL_INDEX` if set (tests), else `$XDG_DATA_HOME/bidseal/index.sqlite`, else
//! `~/.local/share/bidseal/index.sqlite`. The schema is versioned with `PRAGMA user_version`.
//!
//! Guarantees: the index is a cache of what the project folders say; losing it loses only the
//! "recent projects" list and scan history, never a bid. Does not: store secrets or bid content.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

/// Environment variable that overrides the index location.
pub const INDEX_ENV: &str = "BIDSEAL_INDEX";
const SCHEMA_VERSION: i64 = 1;

/// One recent project.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecentProject {
    pub path: String,
    pub title: String,
    pub tender_project_id: String,
    pub lot_id: String,
    pub last_opened_unix: i64,
}

/// One scan recorded against a project (written by the scan flows).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScanRecord {
    pub project_path: String,
    pub at_unix: i64,
    /// Scan operation (auth, seal, generate, decrypt ...).
    pub operation: String,
    /// confirmed / rejected / expired / failed.
    pub outcome: String,
    pub detail: String,
}

/// Index errors.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("无法打开本地索引 {path}: {why}（可删除该文件后重试，项目文件夹不受影响）")]
    Open { path: String, why: String },
    #[error("本地索引读写失败: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("找不到本地索引位置：请设置 XDG_DATA_HOME 或 HOME")]
    NoLocation,
}

/// The open index.
pub struct ProjectIndex {
    conn: Connection,
    path: PathBuf,
}

impl ProjectIndex {
    /// Where the index lives by default (see the module doc).
    pub fn default_path() -> Result<PathBuf, IndexError> {
        if let Some(p) = std::env::var_os(INDEX_ENV) {
            return Ok(PathBuf::from(p));
        }
        if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(d).join("bidseal").join("index.sqlite"));
        }
        let home = std::env::var_os("HOME").ok_or(IndexError::NoLocation)?;
        Ok(PathBuf::from(home).join(".local/share/bidseal/index.sqlite"))
    }

    /// Opens the default index.
    pub fn open_default() -> Result<Self, IndexError> {
        Self::open(&Self::default_path()?)
    }

    /// Opens (creating if needed) the index at `path`.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let fail = |why: String| IndexError::Open {
            path: path.display().to_string(),
            why,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(fail(format!("索引版本 {version} 比本程序新")));
        }
        if version < 1 {
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS projects (
                    path TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    tender_project_id TEXT NOT NULL,
                    lot_id TEXT NOT NULL,
                    last_opened INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS scan_history (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    project_path TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    operation TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    detail TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS scan_by_project ON scan_history(project_path, at);
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Where this index is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that a project was opened or changed now.
    pub fn touch(&self, project: &RecentProject) -> Result<(), IndexError> {
        self.conn.execute(
            "INSERT INTO projects(path, title, tender_project_id, lot_id, last_opened)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(path) DO UPDATE SET title = excluded.title,
               tender_project_id = excluded.tender_project_id, lot_id = excluded.lot_id,
               last_opened = excluded.last_opened",
            params![
                project.path,
                project.title,
                project.tender_project_id,
                project.lot_id,
                project.last_opened_unix
            ],
        )?;
        Ok(())
    }

    /// Recent projects, most recent first.
    pub fn recent(&self, limit: u32) -> Result<Vec<RecentProject>, IndexError> {
        let mut stmt = self.conn.prepare(
            "SELECT path, title, tender_project_id, lot_id, last_opened FROM projects
             ORDER BY last_opened DESC, path LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(RecentProject {
                path: r.get(0)?,
                title: r.get(1)?,
                tender_project_id: r.get(2)?,
                lot_id: r.get(3)?,
                last_opened_unix: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Appends a scan to the history.
    pub fn record_scan(&self, scan: &ScanRecord) -> Result<(), IndexError> {
        self.conn.execute(
            "INSERT INTO scan_history(project_path, at, operation, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![scan.project_path, scan.at_unix, scan.operation, scan.outcome, scan.detail],
        )?;
        Ok(())
    }

    /// Scan history of a project, oldest first.
    pub fn scans(&self, project_path: &str) -> Result<Vec<ScanRecord>, IndexError> {
        let mut stmt = self.conn.prepare(
            "SELECT project_path, at, operation, outcome, detail FROM scan_history
             WHERE project_path = ?1 ORDER BY at, id",
        )?;
        let rows = stmt.query_map([project_path], |r| {
            Ok(ScanRecord {
                project_path: r.get(0)?,
                at_unix: r.get(1)?,
                operation: r.get(2)?,
                outcome: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
