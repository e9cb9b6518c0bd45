//! An output file that appears at its final path only when complete: bytes go (through a
//! write-behind thread, see `pipeline`) to a temporary file in the same folder, which is
//! flushed, fsynced and renamed over the target by
//! [`PendingOutput::commit`]. Dropping an uncommitted output deletes the temporary file, so a
//! failed or tampered decryption leaves nothing behind. The file is created `0600` on Unix
//! (decrypted bids are plaintext; the rename keeps the mode).
//!
//! Does not: protect against another process writing the same target concurrently (the last
//! rename wins), or keep an existing target when the commit succeeds (it is replaced).

use super::error::EnvelopeError;
use super::pipeline::{WriteBehind, SYNC_EVERY};
use super::CHUNK_LEN;
use rand_core::{OsRng, RngCore};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Pieces in flight to the writer thread.
const WRITE_DEPTH: usize = 4;

/// A temporary file that becomes `target` on commit.
pub struct PendingOutput {
    target: PathBuf,
    temp: PathBuf,
    file: Option<WriteBehind>,
}

impl PendingOutput {
    /// Creates the temporary file next to `target`.
    pub fn create(target: &Path) -> Result<Self, EnvelopeError> {
        let name = target
            .file_name()
            .ok_or_else(|| {
                EnvelopeError::io(
                    target,
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "输出路径不是文件名"),
                )
            })?
            .to_string_lossy()
            .into_owned();
        let folder = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = folder.join(format!(".{name}.{:016x}.part", OsRng.next_u64()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        // Decrypted plaintext: readable by its owner only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&temp)
            .map_err(|e| EnvelopeError::io(&temp, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            temp,
            file: Some(WriteBehind::new(file, CHUNK_LEN, WRITE_DEPTH, SYNC_EVERY)),
        })
    }

    /// Path of the temporary file (for tests and diagnostics).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Writes all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), EnvelopeError> {
        match self.file.as_mut() {
            Some(f) => f
                .write_all(bytes)
                .map_err(|e| EnvelopeError::io(&self.temp, e)),
            None => Err(EnvelopeError::io(
                &self.temp,
                std::io::Error::other("输出文件已关闭"),
            )),
        }
    }

    /// Writes the owned buffer `buf` without copying it (see `WriteBehind::write_owned`).
    pub fn write_owned(&mut self, buf: Vec<u8>) -> Result<(), EnvelopeError> {
        match self.file.as_mut() {
            Some(f) => f
                .write_owned(buf)
                .map_err(|e| EnvelopeError::io(&self.temp, e)),
            None => Err(EnvelopeError::io(
                &self.temp,
                std::io::Error::other("输出文件已关闭"),
            )),
        }
    }

    /// A buffer already written to the file, for reuse (its old contents are still in it).
    pub fn take_spare(&mut self) -> Option<Vec<u8>> {
        self.file.as_mut().and_then(WriteBehind::take_spare)
    }

    /// Flushes, fsyncs and renames the temporary file to the target.
    pub fn commit(mut self) -> Result<(), EnvelopeError> {
        let writer = self.file.take().ok_or_else(|| {
            EnvelopeError::io(&self.temp, std::io::Error::other("输出文件已关闭"))
        })?;
        let file = writer
            .finish()
            .map_err(|e| EnvelopeError::io(&self.temp, e))?;
        file.sync_all()
            .map_err(|e| EnvelopeError::io(&self.temp, e))?;
        drop(file);
        std::fs::rename(&self.temp, &self.target)
            .map_err(|e| EnvelopeError::io(&self.target, e))?;
        // Make the rename itself durable; a failure here does not undo a complete file.
        if let Some(folder) = self.target.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(dir) = File::open(folder) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        if self.file.take().is_some() || self.temp.exists() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
