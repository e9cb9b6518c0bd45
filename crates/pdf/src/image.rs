//! Seal images: a PNG (usually red on transparent) becomes a PDF image XObject plus, when it
//! has transparency, a soft mask (`/SMask`), both Flate-compressed with PNG predictors.
//!
//! Guarantees: the decoded image is bounded ([`MAX_PIXELS`]) so a hostile PNG cannot exhaust
//! memory; the colour image and the mask reproduce the PNG's pixels exactly (8 bits).
//! Does not: colour-manage (ICC profiles are dropped; DeviceRGB/DeviceGray are used).

use crate::error::PdfError;
use crate::object::{Dict, Object};
use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::Write;

/// Largest seal image accepted (pixels).
pub const MAX_PIXELS: u64 = 4096 * 4096;

/// A seal image ready to embed.
#[derive(Debug, Clone)]
pub struct SealImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The image XObject (a stream object), without `/SMask` (set when embedding).
    pub color: Object,
    /// The soft mask (DeviceGray image stream), when the PNG has any transparency.
    pub mask: Option<Object>,
}

fn bad(detail: impl Into<String>) -> PdfError {
    PdfError::BadImage {
        detail: detail.into(),
    }
}

impl SealImage {
    /// Decodes a PNG file's bytes.
    pub fn from_png(bytes: &[u8]) -> Result<Self, PdfError> {
        let limits = png::Limits {
            bytes: 128 * 1024 * 1024,
        };
        let mut decoder = png::Decoder::new_with_limits(std::io::Cursor::new(bytes), limits);
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
        let (w, h) = reader.info().size();
        if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_PIXELS {
            return Err(bad(format!("尺寸 {w}×{h} 超出范围（最大 4096×4096）")));
        }
        let size = reader.output_buffer_size().ok_or_else(|| bad("尺寸过大"))?;
        let mut buf = vec![0u8; size];
        let frame = reader
            .next_frame(&mut buf)
            .map_err(|e| bad(e.to_string()))?;
        let channels = match frame.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => return Err(bad("调色板图像未能展开")),
        };
        let (color_channels, has_alpha) = match channels {
            1 | 2 => (1usize, channels == 2),
            _ => (3usize, channels == 4),
        };
        let wpx = w as usize;
        let mut color = Vec::with_capacity(wpx * h as usize * color_channels);
        let mut alpha = Vec::with_capacity(if has_alpha { wpx * h as usize } else { 0 });
        for row in buf.chunks(frame.line_size).take(h as usize) {
            for px in row.chunks_exact(channels).take(wpx) {
                color.extend_from_slice(&px[..color_channels]);
                if has_alpha {
                    alpha.push(px[channels - 1]);
                }
            }
        }
        if color.len() != wpx * h as usize * color_channels {
            return Err(bad("像素数据不完整"));
        }
        let color_space = if color_channels == 3 {
            "DeviceRGB"
        } else {
            "DeviceGray"
        };
        let color_obj = image_stream(w, h, color_channels, color_space, &color)?;
        let mask = if has_alpha && alpha.iter().any(|a| *a != 255) {
            Some(image_stream(w, h, 1, "DeviceGray", &alpha)?)
        } else {
            None
        };
        Ok(Self {
            width: w,
            height: h,
            color: color_obj,
            mask,
        })
    }

    /// Bytes this image adds to the file (both streams).
    pub fn encoded_len(&self) -> usize {
        let len = |o: &Object| match o {
            Object::Stream(_, d) => d.len(),
            _ => 0,
        };
        len(&self.color) + self.mask.as_ref().map_or(0, len)
    }
}

fn image_stream(
    w: u32,
    h: u32,
    channels: usize,
    space: &str,
    pixels: &[u8],
) -> Result<Object, PdfError> {
    let data = png_predict_and_deflate(pixels, w as usize * channels, channels)?;
    let parms = Dict::new()
        .with(b"Predictor", Object::Int(15))
        .with(b"Colors", Object::Int(channels as i64))
        .with(b"BitsPerComponent", Object::Int(8))
        .with(b"Columns", Object::Int(i64::from(w)));
    let dict = Dict::new()
        .with(b"Type", Object::name("XObject"))
        .with(b"Subtype", Object::name("Image"))
        .with(b"Width", Object::Int(i64::from(w)))
        .with(b"Height", Object::Int(i64::from(h)))
        .with(b"ColorSpace", Object::name(space))
        .with(b"BitsPerComponent", Object::Int(8))
        .with(b"Filter", Object::name("FlateDecode"))
        .with(b"DecodeParms", Object::Dict(parms));
    Ok(Object::Stream(dict, data))
}

/// PNG row filtering (per row, the filter with the smallest sum of absolute values) followed
/// by maximum zlib compression: close to what PNG encoders achieve, so embedding a seal costs
/// about the PNG's own size.
fn png_predict_and_deflate(pixels: &[u8], row_len: usize, bpp: usize) -> Result<Vec<u8>, PdfError> {
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::best());
    let zero = vec![0u8; row_len];
    let mut prev: &[u8] = &zero;
    let mut candidates = vec![vec![0u8; row_len + 1]; 5];
    for row in pixels.chunks(row_len) {
        for (f, out) in candidates.iter_mut().enumerate() {
            out[0] = f as u8;
            for i in 0..row_len {
                let x = row[i];
                let a = if i >= bpp { row[i - bpp] } else { 0 };
                let b = prev[i];
                let c = if i >= bpp { prev[i - bpp] } else { 0 };
                let pred = match f {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    _ => paeth(a, b, c),
                };
                out[i + 1] = x.wrapping_sub(pred);
            }
        }
        let score = |v: &Vec<u8>| {
            v[1..]
                .iter()
                .map(|&b| u64::from((b as i8).unsigned_abs()))
                .sum::<u64>()
        };
        let best = candidates
            .iter()
            .min_by_key(|c| score(c))
            .unwrap_or(&candidates[0]);
        enc.write_all(best).map_err(|e| bad(e.to_string()))?;
        prev = row;
    }
    enc.finish().map_err(|e| bad(e.to_string()))
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
