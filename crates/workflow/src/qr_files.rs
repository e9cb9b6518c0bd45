//! QR codes as image files, how the command line shows them (and a simulated phone reads
//! them): one folder per run and numbered names, so that a script or a person can never pick
//! up an image of an earlier run and wait for an expired scan.
//!
//! Names: the run folder is `run-<unix seconds>-<process id>` under the folder the user chose;
//! inside it the n-th QR of the run is `qr-NN-<operation>.png` (`qr-01-sign.png`,
//! `qr-02-generate.png`, …). Guarantees: each image is written atomically (a reader never sees
//! half a PNG); numbering is per [`QrFiles`], starting at 01. Does not: delete old runs.

use bidseal_scan::{OperationKind, QrPayload, ScanError};
use std::path::{Path, PathBuf};

/// The folder of this run's QR images under `base` (not created here).
pub fn run_dir(base: &Path) -> PathBuf {
    let unix = bidseal_bid::time::OffsetDateTime::now_utc().unix_timestamp();
    base.join(format!("run-{unix}-{}", std::process::id()))
}

/// Creates this run's folder under `base` (and `base` if missing), readable by the user only:
/// a QR image carries the scan's secret until it expires.
pub fn create_run_dir(base: &Path) -> std::io::Result<PathBuf> {
    let dir = run_dir(base);
    bidseal_bid::fsio::create_private_dir(&dir)?;
    Ok(dir)
}

/// The name of the `n`-th QR image (from 1) of operation `op`.
pub fn qr_file_name(n: usize, op: OperationKind) -> String {
    format!("qr-{n:02}-{}.png", op.as_str())
}

/// Writes the QR images of one run into one folder, numbered in order.
#[derive(Debug)]
pub struct QrFiles {
    dir: PathBuf,
    count: usize,
    written: Vec<PathBuf>,
}

impl QrFiles {
    /// Images go into `dir` (which must exist).
    pub fn new(dir: PathBuf) -> Self {
        QrFiles {
            dir,
            count: 0,
            written: Vec::new(),
        }
    }

    /// Renders `payload` as a PNG and writes it atomically as the next numbered file; the
    /// number advances even when writing fails (the name is never reused in this run).
    pub fn write_png(
        &mut self,
        op: OperationKind,
        payload: &QrPayload,
    ) -> Result<PathBuf, ScanError> {
        self.count += 1;
        let path = self.dir.join(qr_file_name(self.count, op));
        let png = bidseal_scan::qr::render_png(payload)?;
        bidseal_scan::qr::write_atomic(&path, &png)?;
        self.written.push(path.clone());
        Ok(path)
    }

    /// The files written so far, in order.
    pub fn written(&self) -> &[PathBuf] {
        &self.written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidseal_scan::DesktopOffer;
    use std::time::Duration;

    #[test]
    fn names_are_numbered_per_run_and_never_reused() {
        assert_eq!(qr_file_name(1, OperationKind::Sign), "qr-01-sign.png");
        assert_eq!(
            qr_file_name(12, OperationKind::Decrypt),
            "qr-12-decrypt.png"
        );
        let base = Path::new("/tmp/x");
        let run = run_dir(base);
        let name = run.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(name.starts_with("run-"), "{name}");
        assert!(
            name.ends_with(&format!("-{}", std::process::id())),
            "{name}"
        );

        let base = std::env::temp_dir().join(format!("bidseal-qrfiles-{}", std::process::id()));
        let dir = create_run_dir(&base).expect("run dir");
        assert!(dir.starts_with(&base));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir)
                .expect("run dir")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "the QR secrets are the user's only");
        }
        let offer = DesktopOffer::new(
            "http://127.0.0.1:1",
            OperationKind::Sign,
            Duration::from_secs(60),
            0,
        )
        .expect("offer");
        let mut files = QrFiles::new(dir.clone());
        let a = files
            .write_png(OperationKind::Sign, offer.payload())
            .expect("first");
        let b = files
            .write_png(OperationKind::Generate, offer.payload())
            .expect("second");
        assert_eq!(a, dir.join("qr-01-sign.png"));
        assert_eq!(b, dir.join("qr-02-generate.png"));
        assert_eq!(files.written(), &[a.clone(), b]);
        assert!(std::fs::read(&a).expect("png").starts_with(b"\x89PNG"));
        // A folder that is gone: an error, and the number is not handed out again.
        let mut gone = QrFiles::new(dir.join("missing"));
        assert!(gone
            .write_png(OperationKind::Sign, offer.payload())
            .is_err());
        assert!(gone.written().is_empty());
        let _ = std::fs::remove_dir_all(&base);
    }
}
