//! The phone's camera: reads the QR code out of a picture (a PNG screenshot of the desktop's
//! QR) with `rqrr`, an independent decoder, the way a phone camera would.
//!
//! Guarantees: never panics on a bad image; refuses files larger than [`MAX_IMAGE_BYTES`];
//! returns the text of the first QR code that decodes. It does not parse the payload (that is
//! `bidseal_scan::QrPayload::parse`).

use std::path::Path;

/// Largest picture accepted.
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;

/// Why no QR text could be read.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// The file could not be read.
    #[error("无法读取二维码图片 {path}：{detail}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        detail: String,
    },
    /// Not an image we can decode.
    #[error("二维码图片无法解码（{0}），请提供 PNG 截图")]
    Image(String),
    /// No QR found or none decodes.
    #[error("图片中没有可识别的二维码，请确认截图完整、清晰")]
    NoQr,
}

/// Decodes the QR in the PNG at `path`.
pub fn read_qr_png(path: &Path) -> Result<String, CameraError> {
    let read_err = |detail: String| CameraError::Read {
        path: path.display().to_string(),
        detail,
    };
    let meta = std::fs::metadata(path).map_err(|e| read_err(e.to_string()))?;
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(read_err(format!("文件过大（{} 字节）", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    read_qr_bytes(&bytes)
}

/// Decodes the QR in an in-memory picture.
pub fn read_qr_bytes(bytes: &[u8]) -> Result<String, CameraError> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| CameraError::Image(e.to_string()))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    for grid in prepared.detect_grids() {
        if let Ok((_, text)) = grid.decode() {
            return Ok(text);
        }
    }
    Err(CameraError::NoQr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_without_a_qr_is_refused_not_panicked_on() {
        assert!(matches!(
            read_qr_bytes(b"not an image"),
            Err(CameraError::Image(_))
        ));
        let blank = image::RgbaImage::new(64, 64);
        let mut png = std::io::Cursor::new(Vec::new());
        blank.write_to(&mut png, image::ImageFormat::Png).unwrap();
        assert!(matches!(
            read_qr_bytes(png.get_ref()),
            Err(CameraError::NoQr)
        ));
    }
}
