//! Scanned pages (营业执照, 资质证书 as JPG/PNG): their pixel size read from the file header
//! before anything is decoded, and one A4 page per scan with the image fitted inside the
//! margins (portrait, centred, aspect kept).
//!
//! Guarantees: [`scan_size`] (in `crate::attachment`) reads only the PNG IHDR or the JPEG SOF marker, so a file that
//! declares a huge image is refused before its pixels are allocated; anything that is not a
//! PNG or baseline/progressive JPEG is refused. Does not: rotate landscape scans, or OCR.

use super::page::{PageDraft, MM};
pub use crate::attachment::scan_size;

/// Margin around a scan on its page.
const SCAN_MARGIN: f32 = 15.0 * MM;

/// One page with the scan `id` (`px_w` × `px_h` pixels) fitted inside the margins, centred.
pub fn scan_page<'f>(
    mut page: PageDraft<'f>,
    id: &printpdf::XObjectId,
    px_w: usize,
    px_h: usize,
) -> PageDraft<'f> {
    let (pw, ph) = (px_w.max(1) as f32, px_h.max(1) as f32);
    let (box_w, box_h) = (
        page.width - 2.0 * SCAN_MARGIN,
        page.height - 2.0 * SCAN_MARGIN,
    );
    let scale = (box_w / pw).min(box_h / ph);
    let (w, h) = (pw * scale, ph * scale);
    let x = SCAN_MARGIN + (box_w - w) / 2.0;
    let y = SCAN_MARGIN + (box_h - h) / 2.0;
    page.image(id, x, y, scale);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&[8, 2, 0, 0, 0]);
        v
    }

    #[test]
    fn sizes_come_from_the_header() {
        assert_eq!(scan_size(&png_header(1240, 1754)), Ok((1240, 1754)));
        // A JPEG: SOI, APP0 (16 bytes), SOF0 with height 300, width 200.
        let mut jpg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        jpg.extend_from_slice(&[0; 14]);
        jpg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 8, 0x01, 0x2C, 0x00, 0xC8, 3]);
        assert_eq!(scan_size(&jpg), Ok((200, 300)));
    }

    #[test]
    fn hostile_headers_are_refused_without_panicking() {
        assert!(scan_size(b"GIF89a").is_err());
        assert!(scan_size(b"\x89PNG\r\n\x1a\n\x00\x00").is_err());
        assert!(scan_size(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x00]).is_err());
        assert!(scan_size(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF]).is_err());
        assert!(scan_size(&[0xFF, 0xD8, 0xFF]).is_err());
        // A huge declared size is reported as declared (the caller refuses it).
        assert_eq!(
            scan_size(&png_header(u32::MAX, u32::MAX)).map(|(w, _)| w),
            Ok(u64::from(u32::MAX))
        );
    }
}
