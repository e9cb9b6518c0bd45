//! A page being drawn: text, lines and boxes in PDF points (origin lower-left), turned into
//! printpdf operations. The one place that knows printpdf's operation vocabulary.
//!
//! Guarantees: every text run uses the embedded CJK font; coordinates are exactly what lands
//! in the PDF (no hidden margins), so rectangles recorded for signing nodes are exact.

use printpdf::{
    Color, FontId, Line, LinePoint, Op, PaintMode, PdfFontHandle, PdfPage, Point, Pt, Rect, Rgb,
    TextItem,
};

use super::font::CjkFont;

/// A4 portrait in points.
pub const A4: (f32, f32) = (595.28, 841.89);
/// Millimetres to points.
pub const MM: f32 = 72.0 / 25.4;

pub use crate::project::composition::PdfRect;

/// Horizontal alignment of a text run.
#[derive(Clone, Copy)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// One page under construction.
pub struct PageDraft<'f> {
    font: &'f CjkFont,
    font_id: FontId,
    pub width: f32,
    pub height: f32,
    ops: Vec<Op>,
}

fn black() -> Color {
    Color::Rgb(Rgb {
        r: 0.0,
        g: 0.0,
        b: 0.0,
        icc_profile: None,
    })
}

impl<'f> PageDraft<'f> {
    /// An empty A4 page.
    pub fn a4(font: &'f CjkFont, font_id: FontId) -> Self {
        Self {
            font,
            font_id,
            width: A4.0,
            height: A4.1,
            ops: Vec::new(),
        }
    }

    /// The font (for measuring).
    pub fn font(&self) -> &'f CjkFont {
        self.font
    }

    /// Draws one line of text with its baseline at `y`; `x` is the left edge, centre or right
    /// edge depending on `align`. Returns the text's width.
    pub fn text(&mut self, x: f32, y: f32, size: f32, align: Align, text: &str) -> f32 {
        let w = self.font.width(text, size);
        let left = match align {
            Align::Left => x,
            Align::Center => x - w / 2.0,
            Align::Right => x - w,
        };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::External(self.font_id.clone()),
                size: Pt(size),
            },
            Op::SetFillColor { col: black() },
            Op::SetTextCursor {
                pos: Point {
                    x: Pt(left),
                    y: Pt(y),
                },
            },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_string())],
            },
            Op::EndTextSection,
        ]);
        w
    }

    /// Draws wrapped text from baseline `y` downwards; returns the baseline after the last line.
    pub fn paragraph(
        &mut self,
        x: f32,
        y: f32,
        width: f32,
        size: f32,
        leading: f32,
        text: &str,
    ) -> f32 {
        let mut y = y;
        for line in self.font.wrap(text, size, width) {
            self.text(x, y, size, Align::Left, &line);
            y -= leading;
        }
        y
    }

    /// Places an image XObject with its lower-left corner at (`x`, `y`), one pixel = `scale` pt.
    pub fn image(&mut self, id: &printpdf::XObjectId, x: f32, y: f32, scale: f32) {
        self.ops.push(Op::UseXobject {
            id: id.clone(),
            transform: printpdf::XObjectTransform {
                translate_x: Some(Pt(x)),
                translate_y: Some(Pt(y)),
                scale_x: Some(scale),
                scale_y: Some(scale),
                dpi: Some(72.0),
                ..Default::default()
            },
        });
    }

    /// A straight line.
    pub fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, thickness: f32) {
        self.ops.extend([
            Op::SetOutlineColor { col: black() },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawLine {
                line: Line {
                    points: vec![
                        LinePoint {
                            p: Point {
                                x: Pt(x1),
                                y: Pt(y1),
                            },
                            bezier: false,
                        },
                        LinePoint {
                            p: Point {
                                x: Pt(x2),
                                y: Pt(y2),
                            },
                            bezier: false,
                        },
                    ],
                    is_closed: false,
                },
            },
        ]);
    }

    /// A stroked rectangle.
    pub fn frame(&mut self, r: PdfRect, thickness: f32) {
        let mut rect = Rect::from_xywh(Pt(r.x1), Pt(r.y1), Pt(r.x2 - r.x1), Pt(r.y2 - r.y1));
        rect.mode = Some(PaintMode::Stroke);
        self.ops.extend([
            Op::SetOutlineColor { col: black() },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawRectangle { rectangle: rect },
        ]);
    }

    /// The finished page.
    pub fn finish(self) -> PdfPage {
        let mut page = PdfPage::new(
            printpdf::Mm(self.width / MM),
            printpdf::Mm(self.height / MM),
            self.ops,
        );
        let mb = Rect::from_xywh(Pt(0.0), Pt(0.0), Pt(self.width), Pt(self.height));
        page.media_box = mb.clone();
        page.trim_box = mb.clone();
        page.crop_box = mb;
        page
    }
}

/// A one-page A4 PDF for short documents (the staff lab's test page): `title` centred at the
/// top, `lines` centred under it, and stroked `frames`, each with a caption under it.
pub fn one_page_pdf(
    title: &str,
    lines: &[&str],
    frames: &[(PdfRect, &str)],
) -> std::io::Result<Vec<u8>> {
    let font = CjkFont::builtin().map_err(std::io::Error::other)?;
    let mut doc = printpdf::PdfDocument::new(title);
    let font_id = doc.add_font(font.parsed());
    let mut page = PageDraft::a4(&font, font_id);
    let mut y = A4.1 - 90.0;
    page.text(A4.0 / 2.0, y, 18.0, Align::Center, title);
    for line in lines {
        y -= 26.0;
        page.text(A4.0 / 2.0, y, 10.0, Align::Center, line);
    }
    for (rect, caption) in frames {
        page.frame(*rect, 0.5);
        page.text(
            (rect.x1 + rect.x2) / 2.0,
            rect.y1 - 16.0,
            9.0,
            Align::Center,
            caption,
        );
    }
    let opts = printpdf::PdfSaveOptions {
        subset_fonts: true,
        ..Default::default()
    };
    Ok(doc
        .with_pages(vec![page.finish()])
        .save(&opts, &mut Vec::new()))
}
