//! File output for everything this crate writes: atomic replacement (tender packages, project
//! files, composed PDFs) and private files for plaintext (decrypted packages and parts).
//!
//! Guarantees: [`write_atomic`]'s bytes go to a temporary file in the destination's own folder,
//! are fsynced, and only then renamed over the destination (and the folder is fsynced), so a
//! crash leaves either the previous file or the new one, never a half-written file at the final
//! path. [`create_private`] and [`create_private_dir`] make files `0600` and folders `0700` on
//! Unix. Plaintext temporaries are named [`plaintext_temp_name`] (`.bidseal-plain-<pid>-…`) so
//! that [`sweep_stale_plaintext`] can remove those a killed process left behind.
//! Does not: lock against a concurrent writer of the same path (last rename wins).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically (temp file in the same folder, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name")
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}-{}", std::process::id(), unique_suffix()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Persist the rename itself.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates (or truncates) `path` for writing, mode `0600` on Unix (also when it existed).
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Creates `dir` and its parents; `dir` itself gets mode `0700` on Unix.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Bytes available to this user on the file system holding `dir`, when it can be asked.
pub fn free_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::fs::statvfs(dir)
            .ok()
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Prefix of every plaintext temporary file (a leading dot is added by writers that hide them).
pub const PLAINTEXT_PREFIX: &str = "bidseal-plain-";

/// A fresh plaintext temporary name for this process: `.bidseal-plain-<pid>-<unique><ext>`.
pub fn plaintext_temp_name(ext: &str) -> String {
    format!(
        ".{PLAINTEXT_PREFIX}{}-{:x}{ext}",
        std::process::id(),
        unique_suffix()
    )
}

/// Removes plaintext temporaries in `dir` (see [`plaintext_temp_name`]; also the `.part` files
/// an atomic writer makes from such a name) whose process is gone: on Linux, the pid no longer
/// runs; elsewhere, files older than `process_start`. Returns how many were removed.
pub fn sweep_stale_plaintext(dir: &Path, process_start: std::time::SystemTime) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let own = std::process::id().to_string();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.trim_start_matches('.').strip_prefix(PLAINTEXT_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        let gone = if pid == own {
            false
        } else if Path::new("/proc/self").exists() {
            !Path::new("/proc").join(pid).exists()
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < process_start)
        };
        if gone && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (nanos << 16) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_previous_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir()
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("out.json");
        write_atomic(&p, b"first").unwrap_or_else(|e| panic!("{e}"));
        write_atomic(&p, b"second").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fs::read(&p).unwrap_or_default(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "temporary files left behind: {names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600_even_when_they_existed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("plain");
        fs::write(&p, b"old").unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        drop(create_private(&p).unwrap_or_else(|e| panic!("{e}")));
        let mode = fs::metadata(&p).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
    }

    #[test]
    fn the_sweep_removes_a_dead_process_plaintext_and_keeps_ours() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // pid 0 never names a running user process (no /proc/0).
        let dead = dir.path().join(format!(".{PLAINTEXT_PREFIX}0-1.zip"));
        let dead_part = dir
            .path()
            .join(format!("..{PLAINTEXT_PREFIX}0-1.zip.ab.part"));
        let ours = dir.path().join(plaintext_temp_name(".zip"));
        let other = dir.path().join("report.json");
        for p in [&dead, &dead_part, &ours, &other] {
            fs::write(p, b"x").unwrap_or_else(|e| panic!("{e}"));
        }
        let start = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        assert_eq!(sweep_stale_plaintext(dir.path(), start), 2);
        assert!(!dead.exists() && !dead_part.exists());
        assert!(ours.exists() && other.exists());
    }
}
