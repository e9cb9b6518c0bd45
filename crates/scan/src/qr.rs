//! QR rendering of a [`QrPayload`]: PNG (for the screen and for tests with a camera-like
//! decoder) and SVG (for the desktop UI).
//!
//! Guarantees: every rendered code is at error correction M and version ≤ 10 (otherwise
//! `QrTooLarge`), with a 4-module quiet zone; files are written atomically (temporary file in
//! the same folder, fsync, rename). Does not decode QR codes (the phone side does, with rqrr).

use crate::error::ScanError;
use crate::payload::QrPayload;
use image::{ImageEncoder, Luma};
use qrcode::{EcLevel, QrCode, Version};
use std::io::Write;
use std::path::Path;

/// Highest QR version we render.
pub const MAX_QR_VERSION: i16 = 10;
/// Pixels per module in PNG output.
pub const PNG_MODULE_PIXELS: u32 = 8;

/// The QR code of a payload at EC level M, checked to be version ≤ 10.
pub fn encode(payload: &QrPayload) -> Result<QrCode, ScanError> {
    encode_text(&payload.to_url())
}

fn encode_text(text: &str) -> Result<QrCode, ScanError> {
    let too_large = || ScanError::QrTooLarge { bytes: text.len() };
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|_| too_large())?;
    match code.version() {
        Version::Normal(v) if v <= MAX_QR_VERSION => Ok(code),
        _ => Err(too_large()),
    }
}

/// The QR version of a payload (1–10).
pub fn version_of(payload: &QrPayload) -> Result<i16, ScanError> {
    match encode(payload)?.version() {
        Version::Normal(v) => Ok(v),
        Version::Micro(_) => Err(ScanError::QrTooLarge { bytes: 0 }),
    }
}

/// PNG bytes of the payload's QR (black on white, 8 px per module, quiet zone).
pub fn render_png(payload: &QrPayload) -> Result<Vec<u8>, ScanError> {
    let code = encode(payload)?;
    let img = code
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(PNG_MODULE_PIXELS, PNG_MODULE_PIXELS)
        .build();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| ScanError::Io {
            path: "<memory>".into(),
            detail: e.to_string(),
        })?;
    Ok(out)
}

/// SVG text of the payload's QR.
pub fn render_svg(payload: &QrPayload) -> Result<String, ScanError> {
    let code = encode(payload)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(256, 256)
        .build())
}

/// Writes bytes atomically: temporary file next to `path`, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ScanError> {
    let io = |e: std::io::Error| ScanError::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::OperationKind;
    use crate::session::DesktopOffer;

    #[test]
    fn an_https_relay_url_still_fits_version_10_at_m() {
        // A platform's public relay over TLS; the join token adds nothing to the QR.
        for relay in [
            "https://127.0.0.1:47800",
            "https://scan-relay.ggzy.guangzhou.gov.cn:47800",
        ] {
            let offer = DesktopOffer::new(
                relay,
                OperationKind::Generate,
                std::time::Duration::from_secs(300),
                4_000_000_000,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let v = version_of(offer.payload()).unwrap_or_else(|e| panic!("{e}"));
            assert!(v <= MAX_QR_VERSION, "{relay}: version {v}");
            assert_eq!(
                encode(offer.payload()).map(|c| c.error_correction_level()),
                Ok(EcLevel::M)
            );
        }
    }

    #[test]
    fn oversized_text_is_refused_not_rendered_bigger() {
        assert!(encode_text(&"x".repeat(200)).is_ok());
        assert!(matches!(
            encode_text(&"x".repeat(300)),
            Err(ScanError::QrTooLarge { .. })
        ));
    }
}
