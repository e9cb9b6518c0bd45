//! A streaming reader for the BER/DER subset CMS envelopes use: single-byte tags, definite
//! lengths up to 2⁶⁴−1, and indefinite lengths on constructed values (openssl `-stream`).
//!
//! The reader keeps a stack of open constructed values ([`BerReader::open`] /
//! [`BerReader::close`]): every element must fit inside its nearest definite-length parent,
//! a definite value must end exactly at its declared end, and an indefinite one must end with
//! an end-of-contents marker. So any changed length byte is an error, never a silent re-parse.
//!
//! Guarantees: memory use is bounded by the caller's limits (values are read into memory only
//! through [`BerReader::read_value`] with an explicit limit; large values are streamed with
//! [`BerReader::stream_value`]) *and* by the bytes actually present: a value's buffer grows as
//! its bytes arrive, so a declared length that the input does not hold costs nothing; with
//! [`BerReader::with_input_len`] every declared length is checked against the bytes left before
//! anything is read. Nesting is at most [`MAX_DEPTH`]. No panic on any input; errors carry the
//! byte offset.
//! Does not: accept multi-byte tags, indefinite primitive values, or nesting beyond
//! [`MAX_DEPTH`] (CMS envelopes need neither).

use super::error::EnvelopeError;
use std::io::{BufRead, ErrorKind};

/// Deepest nesting of open constructed values we accept.
pub const MAX_DEPTH: usize = 16;

/// End-of-contents marker of an indefinite-length value.
const EOC: u8 = 0x00;

/// A value's declared length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// So many content bytes.
    Definite(u64),
    /// Until an end-of-contents marker.
    Indefinite,
}

/// A tag and length just read; the reader stands at the first content byte.
#[derive(Clone, Debug)]
pub struct Header {
    /// The identifier octet.
    pub tag: u8,
    /// The length.
    pub length: Length,
    /// File offset of the identifier octet.
    pub offset: u64,
    /// The identifier and length octets as read.
    pub raw: Vec<u8>,
}

impl Header {
    /// True for a constructed encoding.
    pub fn constructed(&self) -> bool {
        self.tag & 0x20 != 0
    }
}

/// Streaming BER reader over a buffered source.
pub struct BerReader<R> {
    inner: R,
    pos: u64,
    /// End offsets of open constructed values (`None` = indefinite).
    frames: Vec<Option<u64>>,
    /// Total input length, when known.
    input_len: Option<u64>,
}

impl<R: BufRead> BerReader<R> {
    /// Starts reading at offset 0.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            pos: 0,
            frames: Vec::new(),
            input_len: None,
        }
    }

    /// Starts reading an input of `len` bytes: no declared length may reach past its end.
    pub fn with_input_len(inner: R, len: u64) -> Self {
        Self {
            input_len: Some(len),
            ..Self::new(inner)
        }
    }

    /// Current file offset.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn io_error(&self, e: std::io::Error) -> EnvelopeError {
        if e.kind() == ErrorKind::UnexpectedEof {
            EnvelopeError::Truncated { offset: self.pos }
        } else {
            EnvelopeError::malformed(self.pos, format!("读取失败：{e}"))
        }
    }

    /// The next byte without consuming it; `None` at end of input.
    pub fn peek(&mut self) -> Result<Option<u8>, EnvelopeError> {
        loop {
            match self.inner.fill_buf() {
                Ok(buf) => return Ok(buf.first().copied()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), EnvelopeError> {
        self.inner.read_exact(buf).map_err(|e| self.io_error(e))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn read_byte(&mut self) -> Result<u8, EnvelopeError> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    /// The end of the nearest enclosing definite-length value, else of the input, if known.
    fn bound(&self) -> Option<u64> {
        self.frames.iter().rev().find_map(|f| *f).or(self.input_len)
    }

    /// Reads an identifier and length, checking they fit in the enclosing value.
    pub fn read_header(&mut self) -> Result<Header, EnvelopeError> {
        let offset = self.pos;
        if self.bound() == Some(offset) {
            return Err(if self.frames.iter().all(Option::is_none) {
                // Only the input's end bounds us: the input is cut short.
                EnvelopeError::Truncated { offset }
            } else {
                EnvelopeError::malformed(offset, "结构提前结束")
            });
        }
        let tag = self.read_byte()?;
        if tag & 0x1f == 0x1f {
            return Err(EnvelopeError::malformed(offset, "不支持多字节标签"));
        }
        let first = self.read_byte()?;
        let mut raw = vec![tag, first];
        let length = match first {
            0x00..=0x7f => Length::Definite(u64::from(first)),
            0x80 => {
                if tag & 0x20 == 0 {
                    return Err(EnvelopeError::malformed(
                        offset,
                        "基本类型不能使用不定长编码",
                    ));
                }
                Length::Indefinite
            }
            0x81..=0x88 => {
                let count = usize::from(first & 0x7f);
                let mut bytes = [0u8; 8];
                let slot = bytes
                    .get_mut(8 - count..)
                    .ok_or_else(|| EnvelopeError::malformed(offset, "长度编码无效"))?;
                self.read_exact(slot)?;
                raw.extend_from_slice(slot);
                Length::Definite(u64::from_be_bytes(bytes))
            }
            _ => return Err(EnvelopeError::malformed(offset, "长度编码无效")),
        };
        if let (Length::Definite(len), Some(end)) = (length, self.bound()) {
            let fits = self.pos.checked_add(len).is_some_and(|e| e <= end);
            if !fits {
                return Err(if self.frames.iter().all(Option::is_none) {
                    EnvelopeError::Truncated { offset: end }
                } else {
                    EnvelopeError::malformed(offset, "长度超出外层结构")
                });
            }
        }
        Ok(Header {
            tag,
            length,
            offset,
            raw,
        })
    }

    /// Reads a header and checks its identifier octet.
    pub fn expect(&mut self, tag: u8, what: &str) -> Result<Header, EnvelopeError> {
        let header = self.read_header()?;
        if header.tag != tag {
            return Err(EnvelopeError::malformed(
                header.offset,
                format!(
                    "此处应为{what}（标签 0x{tag:02X}），实际为 0x{:02X}",
                    header.tag
                ),
            ));
        }
        Ok(header)
    }

    /// Opens a constructed value whose header was just read.
    pub fn open(&mut self, header: &Header) -> Result<(), EnvelopeError> {
        if !header.constructed() {
            return Err(EnvelopeError::malformed(header.offset, "应为构造类型"));
        }
        if self.frames.len() >= MAX_DEPTH {
            return Err(EnvelopeError::malformed(header.offset, "嵌套过深"));
        }
        self.frames.push(match header.length {
            Length::Definite(len) => Some(self.pos + len),
            Length::Indefinite => None,
        });
        Ok(())
    }

    /// Reads a header with `tag` and opens it.
    pub fn open_expected(&mut self, tag: u8, what: &str) -> Result<Header, EnvelopeError> {
        let header = self.expect(tag, what)?;
        self.open(&header)?;
        Ok(header)
    }

    /// True when the innermost open value has no more content.
    pub fn at_end(&mut self) -> Result<bool, EnvelopeError> {
        match self.frames.last().copied() {
            Some(Some(end)) => Ok(self.pos >= end),
            Some(None) => Ok(self.peek()? == Some(EOC)),
            None => Ok(self.peek()?.is_none()),
        }
    }

    /// Closes the innermost open value: checks its end (or reads its end-of-contents).
    pub fn close(&mut self, what: &str) -> Result<(), EnvelopeError> {
        let offset = self.pos;
        match self.frames.pop() {
            Some(Some(end)) if end == offset => Ok(()),
            Some(Some(_)) => Err(EnvelopeError::malformed(
                offset,
                format!("{what}的长度与内容不符"),
            )),
            Some(None) => {
                let mut eoc = [0u8; 2];
                self.read_exact(&mut eoc)?;
                if eoc == [EOC, EOC] {
                    Ok(())
                } else {
                    Err(EnvelopeError::malformed(
                        offset,
                        format!("{what}缺少结束标记"),
                    ))
                }
            }
            None => Err(EnvelopeError::malformed(offset, "结构嵌套错误")),
        }
    }

    /// Reads the content of a definite-length value of at most `limit` bytes.
    pub fn read_value(
        &mut self,
        header: &Header,
        limit: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, EnvelopeError> {
        let Length::Definite(len) = header.length else {
            return Err(EnvelopeError::Unsupported {
                what: format!("{what}使用了不定长编码"),
            });
        };
        if len > limit {
            return Err(EnvelopeError::TooLarge { what, len, limit });
        }
        // Grow with the bytes that arrive: a length the input does not hold allocates nothing.
        use std::io::Read;
        let mut value = Vec::with_capacity(len.min(64 * 1024) as usize);
        let got = (&mut self.inner)
            .take(len)
            .read_to_end(&mut value)
            .map_err(|e| self.io_error(e))?;
        self.pos += got as u64;
        if (got as u64) < len {
            return Err(EnvelopeError::Truncated { offset: self.pos });
        }
        Ok(value)
    }

    /// Skips the content of a definite-length value without keeping it.
    pub fn skip_value(&mut self, header: &Header, what: &'static str) -> Result<(), EnvelopeError> {
        let mut scratch = [0u8; 4096];
        self.stream_value(header, &mut scratch, |_| Ok(()))
            .map_err(|e| match e {
                EnvelopeError::Unsupported { .. } => EnvelopeError::Unsupported {
                    what: format!("{what}使用了不定长编码"),
                },
                other => other,
            })
    }

    /// Streams the content of a definite-length value through `buf`-sized pieces into `sink`.
    pub fn stream_value(
        &mut self,
        header: &Header,
        buf: &mut [u8],
        mut sink: impl FnMut(&mut [u8]) -> Result<(), EnvelopeError>,
    ) -> Result<(), EnvelopeError> {
        let Length::Definite(mut left) = header.length else {
            return Err(EnvelopeError::Unsupported {
                what: "不定长基本类型".to_string(),
            });
        };
        if buf.is_empty() {
            return Err(EnvelopeError::malformed(self.pos, "内部缓冲区为空"));
        }
        while left > 0 {
            let take = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
            let piece = buf
                .get_mut(..take)
                .ok_or_else(|| EnvelopeError::malformed(self.pos, "内部缓冲区"))?;
            self.read_exact(piece)?;
            sink(piece)?;
            left -= take as u64;
        }
        Ok(())
    }

    /// Number of open constructed values.
    pub fn depth(&self) -> usize {
        self.frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_lengths_must_agree() {
        // SEQUENCE(3) { OCTET STRING(2) 'ab' } — inner claims 2 but outer leaves room for 1.
        let bytes = [0x30, 0x03, 0x04, 0x02, b'a'];
        let mut r = BerReader::new(&bytes[..]);
        r.open_expected(0x30, "SEQ").unwrap();
        let err = r.read_header().unwrap_err();
        assert_eq!(err.code(), "E_ENV_MALFORMED");
    }

    #[test]
    fn indefinite_needs_end_of_contents() {
        let good = [0x30, 0x80, 0x04, 0x01, b'x', 0x00, 0x00];
        let mut r = BerReader::new(&good[..]);
        r.open_expected(0x30, "SEQ").unwrap();
        let h = r.expect(0x04, "OCTET").unwrap();
        assert_eq!(r.read_value(&h, 10, "x").unwrap(), b"x");
        assert!(r.at_end().unwrap());
        r.close("SEQ").unwrap();
        assert_eq!(r.peek().unwrap(), None);

        let bad = [0x30, 0x80, 0x04, 0x01, b'x', 0x00, 0x01];
        let mut r = BerReader::new(&bad[..]);
        r.open_expected(0x30, "SEQ").unwrap();
        let h = r.expect(0x04, "OCTET").unwrap();
        r.read_value(&h, 10, "x").unwrap();
        assert!(r.close("SEQ").is_err());
    }

    #[test]
    fn huge_declared_length_is_refused_before_allocation() {
        let bytes = [0x04, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let mut r = BerReader::new(&bytes[..]);
        let h = r.read_header().unwrap();
        let err = r.read_value(&h, 1 << 20, "测试").unwrap_err();
        assert_eq!(err.code(), "E_ENV_TOO_LARGE");
    }

    #[test]
    fn declared_lengths_beyond_the_input_are_refused_before_reading() {
        // OCTET STRING claiming 1 MiB in a 10-byte input; within the caller's limit.
        let bytes = [0x04, 0x83, 0x10, 0x00, 0x00, 1, 2, 3, 4, 5];
        let mut r = BerReader::with_input_len(&bytes[..], bytes.len() as u64);
        assert_eq!(r.read_header().unwrap_err().code(), "E_ENV_TRUNCATED");
        // Without a known length the value is read as it arrives, and found short.
        let mut r = BerReader::new(&bytes[..]);
        let h = r.read_header().unwrap();
        assert_eq!(
            r.read_value(&h, 2 << 20, "x").unwrap_err().code(),
            "E_ENV_TRUNCATED"
        );
        // A constructed value whose length reaches past the input.
        let bytes = [0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x04, 0x00];
        let mut r = BerReader::with_input_len(&bytes[..], bytes.len() as u64);
        assert!(r.read_header().is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut bytes = Vec::new();
        for _ in 0..100 {
            bytes.extend_from_slice(&[0x30, 0x80]);
        }
        let mut r = BerReader::new(&bytes[..]);
        let mut err = None;
        for _ in 0..100 {
            match r.read_header().and_then(|h| r.open(&h)) {
                Ok(()) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert_eq!(r.depth(), MAX_DEPTH);
        assert_eq!(err.map(|e| e.code()), Some("E_ENV_MALFORMED"));
    }

    #[test]
    fn truncated_input_is_reported() {
        let bytes = [0x04, 0x05, b'a'];
        let mut r = BerReader::new(&bytes[..]);
        let h = r.read_header().unwrap();
        let err = r.read_value(&h, 100, "x").unwrap_err();
        assert_eq!(err.code(), "E_ENV_TRUNCATED");
    }
}
