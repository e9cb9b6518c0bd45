//! What an attachment of a bid project is, read the same way when it is attached (the project
//! checks it) and when it is composed (the composer lays it out): a PDF ([`load`],
//! [`count_pages`]), a scan image ([`scan_size`]) or a text chapter ([`parse_chapter`], its
//! [`Block`]s and size limits).
//!
//! A leaf module: it uses neither `project` nor `compose`, so that the project can check an
//! attachment without depending on the composer that depends on the project.
//!
//! Guarantees: no panic escapes from parsing a hostile PDF (lopdf under `catch_unwind`);
//! encrypted or page-less PDFs are refused; [`scan_size`] reads only the PNG IHDR or the JPEG
//! SOF marker, so a file declaring a huge image is refused before its pixels are allocated;
//! [`parse_chapter`] never fails. Does not: lay anything out.

use lopdf::Document;

/// Loads a PDF, refusing encrypted ones and turning parser panics into errors.
pub fn load(bytes: &[u8]) -> Result<Document, String> {
    if !bytes.starts_with(b"%PDF-") {
        return Err("不是 PDF 文件".into());
    }
    let doc = std::panic::catch_unwind(|| Document::load_mem(bytes))
        .map_err(|_| "PDF 结构异常，无法解析".to_string())?
        .map_err(|e| format!("PDF 无法解析: {e}"))?;
    if doc.was_encrypted() || doc.is_encrypted() {
        return Err("PDF 已加密，请先解除密码保护再添加".into());
    }
    if doc.get_pages().is_empty() {
        return Err("PDF 没有页面".into());
    }
    Ok(doc)
}

/// Number of pages of a PDF (validating it as [`load`] does).
pub fn count_pages(bytes: &[u8]) -> Result<u32, String> {
    Ok(load(bytes)?.get_pages().len() as u32)
}

/// Width and height in pixels declared by a PNG or JPEG header.
pub fn scan_size(bytes: &[u8]) -> Result<(u64, u64), String> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if let Some(rest) = bytes.strip_prefix(PNG) {
        // The first chunk must be IHDR: length(4) "IHDR" width(4) height(4).
        if rest.len() < 16 || &rest[4..8] != b"IHDR" {
            return Err("PNG 文件头损坏（缺少 IHDR）".into());
        }
        let w = u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let h = u32::from_be_bytes([rest[12], rest[13], rest[14], rest[15]]);
        return Ok((u64::from(w), u64::from(h)));
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let mut i = 2usize;
        while i + 4 <= bytes.len() {
            if bytes[i] != 0xFF {
                return Err("JPEG 文件结构损坏".into());
            }
            let marker = bytes[i + 1];
            if marker == 0xFF {
                i += 1; // fill byte
                continue;
            }
            if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
                i += 2;
                continue;
            }
            let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
            if len < 2 {
                return Err("JPEG 段长度无效".into());
            }
            // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC) carry the frame size.
            if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                if i + 9 > bytes.len() {
                    break;
                }
                let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]);
                let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]);
                return Ok((u64::from(w), u64::from(h)));
            }
            if marker == 0xDA || marker == 0xD9 {
                break;
            }
            i = i.saturating_add(2 + len);
        }
        return Err("JPEG 文件中没有图像尺寸（SOF 段）".into());
    }
    Err("不是 PNG 或 JPEG 图片".into())
}

/// One block of a chapter.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading { level: u8, text: String },
    Paragraph(String),
    Image { caption: String, reference: String },
}

/// Largest chapter text accepted.
pub const MAX_CHAPTER_BYTES: u64 = 16 * 1024 * 1024;
/// Largest image accepted.
pub const MAX_IMAGE_BYTES: u64 = 32 * 1024 * 1024;

fn image_line(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix("![")?;
    let (caption, rest) = rest.split_once("](")?;
    let reference = rest.strip_suffix(')')?;
    (!reference.is_empty()).then(|| (caption.to_string(), reference.to_string()))
}

/// Splits chapter text into blocks; never fails (anything unrecognised is paragraph text).
pub fn parse_chapter(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut para = String::new();
    let flush = |para: &mut String, blocks: &mut Vec<Block>| {
        if !para.trim().is_empty() {
            blocks.push(Block::Paragraph(para.trim().to_string()));
        }
        para.clear();
    };
    for line in text.lines() {
        let t = line.trim_end();
        if t.trim().is_empty() {
            flush(&mut para, &mut blocks);
        } else if let Some(h) = t.strip_prefix("## ") {
            flush(&mut para, &mut blocks);
            blocks.push(Block::Heading {
                level: 2,
                text: h.trim().to_string(),
            });
        } else if let Some(h) = t.strip_prefix("# ") {
            flush(&mut para, &mut blocks);
            blocks.push(Block::Heading {
                level: 1,
                text: h.trim().to_string(),
            });
        } else if let Some((caption, reference)) = image_line(t) {
            flush(&mut para, &mut blocks);
            blocks.push(Block::Image { caption, reference });
        } else {
            // Join lines: CJK text joins without a space, Latin with one.
            if para
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                && t.starts_with(|c: char| c.is_ascii_alphanumeric())
            {
                para.push(' ');
            }
            para.push_str(t.trim());
        }
    }
    flush(&mut para, &mut blocks);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_paragraphs_and_images() {
        let b = parse_chapter("# 第一章 施工组织设计\n\n本工程位于\n滨江新区。\n\n![图1 总平面图](img/site.png)\n## 1.1 概况\ntext a\nmore b\n");
        assert_eq!(
            b,
            vec![
                Block::Heading {
                    level: 1,
                    text: "第一章 施工组织设计".into()
                },
                Block::Paragraph("本工程位于滨江新区。".into()),
                Block::Image {
                    caption: "图1 总平面图".into(),
                    reference: "img/site.png".into()
                },
                Block::Heading {
                    level: 2,
                    text: "1.1 概况".into()
                },
                Block::Paragraph("text a more b".into()),
            ]
        );
    }
}
