//! The CJK font every generated page uses: Noto Sans CJK SC cut to GB2312 (`assets/fonts`,
//! SIL OFL), compiled into the binary so composition never depends on system fonts.
//!
//! Guarantees: [`CjkFont::width`] measures text with the font's own advance widths (so
//! centring and wrapping match what viewers draw), and [`CjkFont::check`] names every
//! character the font cannot draw instead of letting it print as a blank box. The PDF embeds
//! only the glyphs used (printpdf subsets at save time). Does not: shape complex scripts or
//! kern; CJK and Latin text in a bid needs neither.

use printpdf::ParsedFont;

/// The font file (Noto Sans CJK SC Regular, GB2312 cut; see `assets/fonts/README.md`).
pub const FONT_BYTES: &[u8] = include_bytes!("../../../../assets/fonts/NotoSansSC-GB2312.otf");

/// The parsed font plus its metrics.
pub struct CjkFont {
    parsed: ParsedFont,
    units_per_em: f32,
    /// Advance (in em) per character, filled on first use: layout asks for the same few
    /// thousand characters hundreds of thousands of times.
    advances: std::cell::RefCell<std::collections::HashMap<char, f32>>,
}

impl CjkFont {
    /// Parses the built-in font.
    pub fn builtin() -> Result<Self, String> {
        let mut warnings = Vec::new();
        let parsed = ParsedFont::from_bytes(FONT_BYTES, 0, &mut warnings)
            .ok_or_else(|| "内置中文字体无法解析".to_string())?;
        let units_per_em = f32::from(parsed.font_metrics.units_per_em.max(1));
        Ok(Self {
            parsed,
            units_per_em,
            advances: Default::default(),
        })
    }

    /// The parsed font for printpdf.
    pub fn parsed(&self) -> &ParsedFont {
        &self.parsed
    }

    fn advance(&self, c: char) -> f32 {
        if let Some(a) = self.advances.borrow().get(&c) {
            return *a;
        }
        let a = self.advance_uncached(c);
        self.advances.borrow_mut().insert(c, a);
        a
    }

    fn advance_uncached(&self, c: char) -> f32 {
        let units = self
            .parsed
            .lookup_glyph_index(c as u32)
            .map(|g| self.parsed.get_horizontal_advance(g))
            .unwrap_or(self.parsed.font_metrics.units_per_em);
        f32::from(units) / self.units_per_em
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c)).sum::<f32>() * size
    }

    /// Characters of `text` the font has no glyph for (deduplicated, in order).
    pub fn missing(&self, text: &str) -> Vec<char> {
        let mut out: Vec<char> = Vec::new();
        for c in text.chars() {
            if !c.is_whitespace()
                && self.parsed.lookup_glyph_index(c as u32).is_none()
                && !out.contains(&c)
            {
                out.push(c);
            }
        }
        out
    }

    /// Splits `text` into lines no wider than `max_width` at `size`. Breaks anywhere between
    /// CJK characters and at spaces in Latin text; never puts 。，、；：？！）》」 at a line
    /// start (禁则).
    pub fn wrap(&self, text: &str, size: f32, max_width: f32) -> Vec<String> {
        const NO_LINE_START: &str = "。，、；：？！）》」』】”’.,;:?!)";
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            let mut width = 0.0;
            let mut last_space: Option<usize> = None;
            for c in para.chars() {
                let w = self.advance(c) * size;
                if width + w > max_width && !line.is_empty() && !NO_LINE_START.contains(c) {
                    let carry = match last_space {
                        Some(pos) if c.is_ascii_alphanumeric() && pos > 0 => {
                            let rest = line[pos..].trim_start().to_string();
                            line.truncate(pos);
                            rest
                        }
                        _ => String::new(),
                    };
                    lines.push(std::mem::take(&mut line).trim_end().to_string());
                    line = carry;
                    width = self.width(&line, size);
                    last_space = None;
                    if c == ' ' {
                        continue;
                    }
                }
                if c == ' ' {
                    last_space = Some(line.len());
                } else if !c.is_ascii() {
                    last_space = None;
                }
                line.push(c);
                width += w;
            }
            lines.push(line);
        }
        lines
    }
}
