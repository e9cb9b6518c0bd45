//! Seal images (印章图片) for the test certificates: PNG with an alpha channel, drawn from the
//! holder's name with a CJK font, as a phone app shows and returns them with a signature.
//!
//! Kinds: 公章 (red ring, five-pointed star, company name along the upper arc, "电子签章"
//! below the star), 法人章 (red square, four characters in two columns read right to left),
//! 法人手写签名 (slanted dark-blue handwriting-like name), 私章 (up to three styles: square
//! 阳文, round, square 阴文 with the name cut out of a red field).
//!
//! Guarantees: the output is a valid RGBA PNG whose background is fully transparent. If no
//! CJK font is found (see [`SealFont::load`]), the shapes are drawn without text and
//! [`SealFont::is_missing`] says so, so the caller can warn. It does not imitate any real
//! seal (test images are visibly marked by the test company names).

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use image::{ImageFormat, Rgba, RgbaImage};
use serde::{Deserialize, Serialize};
use std::f32::consts::PI;
use std::io::Cursor;

/// Seal red (朱红).
const RED: [u8; 3] = [0xd4, 0x1c, 0x1c];
/// Signature ink.
const INK: [u8; 3] = [0x1a, 0x2a, 0x6c];

/// Candidate font files, most suitable first (serif bold looks like a carved seal).
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
];
/// Index of the Simplified Chinese face inside the Noto CJK collections.
const NOTO_SC_INDEX: u32 = 2;

/// The kind of seal an image shows (seed 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealImageKind {
    /// 公章 (enterprise seal).
    EnterpriseSeal,
    /// 法人章 (legal-person seal).
    LegalPersonSeal,
    /// 法人手写签名 (legal person's handwritten signature).
    LegalPersonSignature,
    /// 私章 (personal seal); a person has at most three.
    PersonalSeal,
}

impl SealImageKind {
    /// The zh-CN name shown to users.
    pub fn zh_name(self) -> &'static str {
        match self {
            Self::EnterpriseSeal => "公章",
            Self::LegalPersonSeal => "法人章",
            Self::LegalPersonSignature => "法人手写签名",
            Self::PersonalSeal => "私章",
        }
    }
}

/// The CJK font used to write names on seals, or its absence.
pub struct SealFont(Option<FontVec>);

impl SealFont {
    /// Loads the first CJK font found in [`FONT_CANDIDATES`].
    pub fn load() -> Self {
        for path in FONT_CANDIDATES {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            let font = FontVec::try_from_vec_and_index(bytes.clone(), NOTO_SC_INDEX)
                .or_else(|_| FontVec::try_from_vec(bytes));
            if let Ok(font) = font {
                return Self(Some(font));
            }
        }
        Self(None)
    }

    /// True when no CJK font was found: seals are drawn without text.
    pub fn is_missing(&self) -> bool {
        self.0.is_none()
    }
}

fn blend(img: &mut RgbaImage, x: i64, y: i64, color: [u8; 3], coverage: f32) {
    if x < 0 || y < 0 || x >= i64::from(img.width()) || y >= i64::from(img.height()) {
        return;
    }
    let a = (coverage.clamp(0.0, 1.0) * 255.0) as u8;
    let px = img.get_pixel_mut(x as u32, y as u32);
    if a > px.0[3] {
        *px = Rgba([color[0], color[1], color[2], a]);
    }
}

fn clear(img: &mut RgbaImage, x: i64, y: i64, coverage: f32) {
    if x < 0 || y < 0 || x >= i64::from(img.width()) || y >= i64::from(img.height()) {
        return;
    }
    let px = img.get_pixel_mut(x as u32, y as u32);
    let keep = 1.0 - coverage.clamp(0.0, 1.0);
    px.0[3] = (f32::from(px.0[3]) * keep) as u8;
}

/// Paints every pixel whose centre lies inside `inside` (4×4 supersampled for smooth edges).
fn fill(img: &mut RgbaImage, color: [u8; 3], inside: impl Fn(f32, f32) -> bool) {
    for y in 0..img.height() {
        for x in 0..img.width() {
            // Fast path: a pixel whose four corners agree is fully inside or outside.
            let (x0, y0) = (x as f32, y as f32);
            let corners = [
                inside(x0, y0),
                inside(x0 + 1.0, y0),
                inside(x0, y0 + 1.0),
                inside(x0 + 1.0, y0 + 1.0),
            ];
            if corners.iter().all(|&c| !c) {
                continue;
            }
            if corners.iter().all(|&c| c) {
                blend(img, i64::from(x), i64::from(y), color, 1.0);
                continue;
            }
            let mut hits = 0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let fx = x as f32 + (sx as f32 + 0.5) / 4.0;
                    let fy = y as f32 + (sy as f32 + 0.5) / 4.0;
                    if inside(fx, fy) {
                        hits += 1;
                    }
                }
            }
            if hits > 0 {
                blend(img, i64::from(x), i64::from(y), color, hits as f32 / 16.0);
            }
        }
    }
}

fn ring(img: &mut RgbaImage, cx: f32, cy: f32, r_out: f32, width: f32) {
    fill(img, RED, |x, y| {
        let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
        d <= r_out && d >= r_out - width
    });
}

fn star(img: &mut RgbaImage, cx: f32, cy: f32, r: f32) {
    // Ten vertices alternating outer/inner radius; point-in-polygon by crossing count.
    let inner = r * 0.382;
    let pts: Vec<(f32, f32)> = (0..10)
        .map(|i| {
            let rad = if i % 2 == 0 { r } else { inner };
            let ang = -PI / 2.0 + i as f32 * PI / 5.0;
            (cx + rad * ang.cos(), cy + rad * ang.sin())
        })
        .collect();
    fill(img, RED, |x, y| {
        let mut inside = false;
        let mut j = pts.len() - 1;
        for i in 0..pts.len() {
            let (xi, yi) = pts[i];
            let (xj, yj) = pts[j];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
        inside
    });
}

/// Draws one character centred at (cx, cy), rotated by `angle` (radians, clockwise),
/// horizontally sheared by `shear`. `cut` clears instead of painting (阴文).
#[allow(clippy::too_many_arguments)]
fn glyph(
    img: &mut RgbaImage,
    font: &SealFont,
    ch: char,
    px: f32,
    cx: f32,
    cy: f32,
    angle: f32,
    shear: f32,
    color: [u8; 3],
    cut: bool,
) {
    let Some(font) = &font.0 else { return };
    let scaled = font.as_scaled(PxScale::from(px));
    let g = scaled.scaled_glyph(ch);
    let Some(outlined) = font.outline_glyph(g) else {
        return;
    };
    let bounds = outlined.px_bounds();
    let (gw, gh) = (bounds.width(), bounds.height());
    let mut cov = vec![0f32; (gw.ceil() as usize + 1) * (gh.ceil() as usize + 1)];
    let stride = gw.ceil() as usize + 1;
    outlined.draw(|x, y, c| {
        if let Some(slot) = cov.get_mut(y as usize * stride + x as usize) {
            *slot = c;
        }
    });
    let (sin, cos) = angle.sin_cos();
    let reach = (gw.max(gh) * 0.75 + px * shear.abs()).ceil() as i64 + 2;
    for dy in -reach..=reach {
        for dx in -reach..=reach {
            // Inverse map the destination pixel into glyph space.
            let (ox, oy) = (dx as f32 + 0.5, dy as f32 + 0.5);
            let rx = ox * cos + oy * sin;
            let ry = -ox * sin + oy * cos;
            let rx = rx - shear * ry;
            let gx = rx + gw / 2.0;
            let gy = ry + gh / 2.0;
            if gx < 0.0 || gy < 0.0 || gx >= gw || gy >= gh {
                continue;
            }
            let c = cov
                .get(gy as usize * stride + gx as usize)
                .copied()
                .unwrap_or(0.0);
            if c > 0.0 {
                let (x, y) = (cx as i64 + dx, cy as i64 + dy);
                if cut {
                    clear(img, x, y, c);
                } else {
                    blend(img, x, y, color, c);
                }
            }
        }
    }
}

fn png(img: &RgbaImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    // Writing a PNG into memory cannot fail for a well-formed RgbaImage.
    if img.write_to(&mut out, ImageFormat::Png).is_err() {
        return Vec::new();
    }
    out.into_inner()
}

/// 公章: red ring, star, company name along the upper arc, "电子签章" under the star.
pub fn enterprise_seal(font: &SealFont, company: &str) -> Vec<u8> {
    let size = 420u32;
    let (c, r) = (size as f32 / 2.0, size as f32 / 2.0 - 6.0);
    let mut img = RgbaImage::new(size, size);
    ring(&mut img, c, c, r, 12.0);
    star(&mut img, c, c, 62.0);
    let chars: Vec<char> = company.chars().collect();
    let n = chars.len().max(1) as f32;
    let span = (PI * 1.30).min(n * 0.30); // total arc used by the name
    let text_r = r - 52.0;
    for (i, ch) in chars.iter().enumerate() {
        let t = if n > 1.0 { i as f32 / (n - 1.0) } else { 0.5 };
        let ang = -PI / 2.0 - span / 2.0 + t * span; // from upper left to upper right
        let (x, y) = (c + text_r * ang.cos(), c + text_r * ang.sin());
        glyph(
            &mut img,
            font,
            *ch,
            58.0,
            x,
            y,
            ang + PI / 2.0,
            0.0,
            RED,
            false,
        );
    }
    for (i, ch) in "电子签章".chars().enumerate() {
        glyph(
            &mut img,
            font,
            ch,
            34.0,
            c - 54.0 + i as f32 * 36.0,
            c + 104.0,
            0.0,
            0.0,
            RED,
            false,
        );
    }
    png(&img)
}

/// 法人章: red square border, "X X 之印" in two columns read right to left.
pub fn legal_person_seal(font: &SealFont, person: &str) -> Vec<u8> {
    square_seal(font, person, false)
}

fn four_chars(person: &str) -> Vec<char> {
    let mut chars: Vec<char> = person.chars().collect();
    match chars.len() {
        0 => chars = vec!['印'; 4],
        1 => chars.extend(['之', '印', '章']),
        2 => chars.extend(['之', '印']),
        3 => chars.push('印'),
        _ => chars.truncate(4),
    }
    chars
}

fn square_seal(font: &SealFont, person: &str, cut: bool) -> Vec<u8> {
    let size = 260u32;
    let mut img = RgbaImage::new(size, size);
    let s = size as f32;
    if cut {
        fill(&mut img, RED, |x, y| {
            x > 8.0 && y > 8.0 && x < s - 8.0 && y < s - 8.0
        });
    } else {
        fill(&mut img, RED, |x, y| {
            let inside = x > 8.0 && y > 8.0 && x < s - 8.0 && y < s - 8.0;
            let hole = x > 22.0 && y > 22.0 && x < s - 22.0 && y < s - 22.0;
            inside && !hole
        });
    }
    let chars = four_chars(person);
    // Traditional order: right column top, right column bottom, left column top, left bottom.
    let cells = [
        (s * 0.70, s * 0.30),
        (s * 0.70, s * 0.70),
        (s * 0.30, s * 0.30),
        (s * 0.30, s * 0.70),
    ];
    for (ch, (x, y)) in chars.iter().zip(cells) {
        glyph(&mut img, font, *ch, 96.0, x, y, 0.0, 0.0, RED, cut);
    }
    png(&img)
}

/// 法人手写签名: the name in slanted dark-blue strokes on a transparent background.
pub fn handwritten_signature(font: &SealFont, person: &str) -> Vec<u8> {
    let chars: Vec<char> = person.chars().collect();
    let w = 40 + 110 * chars.len().max(1) as u32;
    let mut img = RgbaImage::new(w, 160);
    for (i, ch) in chars.iter().enumerate() {
        let x = 75.0 + i as f32 * 105.0;
        let y = 80.0 + if i % 2 == 0 { -6.0 } else { 6.0 };
        glyph(&mut img, font, *ch, 110.0, x, y, -0.12, 0.35, INK, false);
    }
    // An underline flourish so the image is recognisable even without a font.
    fill(&mut img, INK, |x, y| {
        let base = 140.0 - (x / w as f32) * 18.0;
        (y - base).abs() < 2.5 && x > 20.0 && x < w as f32 - 20.0
    });
    png(&img)
}

/// 私章 in style 0 (square 阳文), 1 (round) or 2 (square 阴文).
pub fn personal_seal(font: &SealFont, person: &str, style: u8) -> Vec<u8> {
    match style {
        0 => square_seal(font, person, false),
        2 => square_seal(font, person, true),
        _ => {
            let size = 240u32;
            let c = size as f32 / 2.0;
            let mut img = RgbaImage::new(size, size);
            ring(&mut img, c, c, c - 6.0, 10.0);
            let chars: Vec<char> = person.chars().collect();
            let n = chars.len().max(1) as f32;
            let px = (150.0 / n).min(90.0);
            for (i, ch) in chars.iter().enumerate() {
                let x = c + (i as f32 - (n - 1.0) / 2.0) * px;
                glyph(&mut img, font, *ch, px, x, c, 0.0, 0.0, RED, false);
            }
            png(&img)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> RgbaImage {
        image::load_from_memory_with_format(png, ImageFormat::Png)
            .unwrap()
            .to_rgba8()
    }

    #[test]
    fn enterprise_seal_is_transparent_outside_and_red_on_the_ring() {
        let font = SealFont::load();
        let img = decode(&enterprise_seal(&font, "华夏建设工程有限公司"));
        assert_eq!(img.get_pixel(0, 0).0[3], 0, "corner must be transparent");
        let ring_px = img.get_pixel(210, 10);
        assert!(ring_px.0[3] > 200 && ring_px.0[0] > 150, "{ring_px:?}");
        assert!(img.get_pixel(210, 210).0[3] > 200, "star centre painted");
    }

    #[test]
    fn cjk_font_is_present_and_text_adds_ink() {
        let font = SealFont::load();
        assert!(
            !font.is_missing(),
            "fonts-noto-cjk missing: run scripts/setup.sh"
        );
        let with = decode(&legal_person_seal(&font, "张伟"));
        let without = decode(&legal_person_seal(&SealFont(None), "张伟"));
        let ink = |i: &RgbaImage| i.pixels().filter(|p| p.0[3] > 128).count();
        assert!(ink(&with) > ink(&without) + 2000);
    }
}
