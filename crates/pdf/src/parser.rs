//! A small, bounded parser for single PDF objects (ISO 32000-1 §7.2–7.3) over a byte window.
//!
//! Guarantees: never panics and never recurses deeper than [`MAX_DEPTH`]; running out of
//! window is reported as [`ParseError::Eof`] so that the reader can retry with a larger window.
//! Work and memory are linear in the window: one parse builds at most [`MAX_OBJECTS`] objects
//! (a 32 MiB window of `0 0 0 …` would otherwise become 16 M boxed values), and the
//! duplicate-key check of dictionaries is linear (a hash set once a dictionary grows large).
//! Does not: read files, follow references, or decode streams (that is `reader`'s job).

use crate::object::{Dict, ObjRef, Object};

/// Deepest array/dictionary nesting accepted (hostile files nest thousands deep).
pub const MAX_DEPTH: usize = 64;
/// Most objects (array items, dictionary values, nested containers) one parse may build.
pub const MAX_OBJECTS: usize = 1 << 20;
/// Dictionaries up to this many keys check duplicates by scanning; larger ones use a set.
const SMALL_DICT: usize = 32;

/// Why a parse stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The window ended inside an object.
    Eof,
    /// Not valid PDF syntax here.
    Syntax(&'static str),
    /// Nesting beyond [`MAX_DEPTH`].
    TooDeep,
    /// More than [`MAX_OBJECTS`] objects in one parse.
    TooMany,
}

/// What an indirect object (`n g obj … endobj`) turned out to be.
#[derive(Debug)]
pub enum Indirect {
    /// A plain object.
    Object(Object),
    /// A stream: its dictionary and where its data starts in the window.
    Stream(Dict, usize),
}

/// A cursor over a byte window.
#[derive(Debug)]
pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Objects this parser may still build.
    budget: usize,
}

fn is_white(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

impl<'a> Parser<'a> {
    /// A parser at `pos` of `buf`.
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Self {
            buf,
            pos,
            budget: MAX_OBJECTS,
        }
    }

    /// Current position in the window.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn next(&mut self) -> Result<u8, ParseError> {
        let b = self.peek().ok_or(ParseError::Eof)?;
        self.pos += 1;
        Ok(b)
    }

    /// Skips whitespace and comments.
    pub fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_white(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// A bare keyword or number token (regular characters up to a delimiter or whitespace).
    fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_white(b) || is_delim(b) {
                break;
            }
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// Consumes `kw` (after whitespace) or fails.
    pub fn expect_keyword(&mut self, kw: &[u8]) -> Result<(), ParseError> {
        self.skip_ws();
        if self.pos >= self.buf.len() {
            return Err(ParseError::Eof);
        }
        let t = self.token();
        if t == kw {
            Ok(())
        } else if self.pos >= self.buf.len() && kw.starts_with(t) {
            Err(ParseError::Eof)
        } else {
            Err(ParseError::Syntax("unexpected keyword"))
        }
    }

    /// Reads an unsigned integer token.
    pub fn unsigned(&mut self) -> Result<u64, ParseError> {
        self.skip_ws();
        if self.pos >= self.buf.len() {
            return Err(ParseError::Eof);
        }
        let t = self.token();
        if self.pos >= self.buf.len() {
            return Err(ParseError::Eof);
        }
        parse_u64(t).ok_or(ParseError::Syntax("expected integer"))
    }

    /// Parses `num gen obj` and the object that follows; a stream stops at its data.
    pub fn indirect(&mut self) -> Result<(ObjRef, Indirect), ParseError> {
        let num =
            u32::try_from(self.unsigned()?).map_err(|_| ParseError::Syntax("object number"))?;
        let gen = u16::try_from(self.unsigned()?).map_err(|_| ParseError::Syntax("generation"))?;
        self.expect_keyword(b"obj")?;
        let obj = self.object(0)?;
        let id = ObjRef { num, gen };
        self.skip_ws();
        if let Object::Dict(d) = &obj {
            if self.buf[self.pos..].starts_with(b"stream") {
                self.pos += 6;
                // EOL after `stream`: CRLF or LF (a lone CR is tolerated).
                if self.peek() == Some(b'\r') {
                    self.pos += 1;
                }
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
                return Ok((id, Indirect::Stream(d.clone(), self.pos)));
            }
            if self.buf.len() - self.pos < 6 && b"stream".starts_with(&self.buf[self.pos..]) {
                return Err(ParseError::Eof);
            }
        }
        Ok((id, Indirect::Object(obj)))
    }

    /// Parses one direct object (references `n g R` included).
    pub fn object(&mut self, depth: usize) -> Result<Object, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        self.budget = self.budget.checked_sub(1).ok_or(ParseError::TooMany)?;
        self.skip_ws();
        let b = self.peek().ok_or(ParseError::Eof)?;
        match b {
            b'/' => {
                self.pos += 1;
                Ok(Object::Name(decode_name(self.token())))
            }
            b'(' => self.literal_string(),
            b'<' => {
                if self.buf.get(self.pos + 1) == Some(&b'<') {
                    self.pos += 2;
                    self.dict_body(depth).map(Object::Dict)
                } else {
                    self.hex_string()
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        None => return Err(ParseError::Eof),
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Object::Array(items));
                        }
                        Some(_) => items.push(self.object(depth + 1)?),
                    }
                }
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => self.number_or_ref(),
            _ if is_delim(b) => Err(ParseError::Syntax("unexpected delimiter")),
            _ => {
                let t = self.token();
                if self.pos >= self.buf.len() {
                    return Err(ParseError::Eof);
                }
                match t {
                    b"true" => Ok(Object::Bool(true)),
                    b"false" => Ok(Object::Bool(false)),
                    b"null" => Ok(Object::Null),
                    _ => Err(ParseError::Syntax("unknown keyword")),
                }
            }
        }
    }

    fn dict_body(&mut self, depth: usize) -> Result<Dict, ParseError> {
        let mut d = Dict::new();
        // Later duplicates are ignored, as most readers do. Small dictionaries (nearly all)
        // scan; past SMALL_DICT keys a set keeps the check linear.
        let mut large: Option<std::collections::HashSet<Vec<u8>>> = None;
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(ParseError::Eof),
                Some(b'>') => {
                    self.pos += 1;
                    return match self.next()? {
                        b'>' => Ok(d),
                        _ => Err(ParseError::Syntax("expected >>")),
                    };
                }
                Some(b'/') => {
                    self.pos += 1;
                    let key = decode_name(self.token());
                    let value = self.object(depth + 1)?;
                    let fresh = match &mut large {
                        Some(keys) => keys.insert(key.clone()),
                        None => d.get(&key).is_none(),
                    };
                    if fresh {
                        d.0.push((key, value));
                        if large.is_none() && d.0.len() > SMALL_DICT {
                            large = Some(d.0.iter().map(|(k, _)| k.clone()).collect());
                        }
                    }
                }
                Some(_) => return Err(ParseError::Syntax("expected a name key")),
            }
        }
    }

    fn number_or_ref(&mut self) -> Result<Object, ParseError> {
        let t = self.token();
        if self.pos >= self.buf.len() {
            return Err(ParseError::Eof);
        }
        if t.contains(&b'.') {
            let s = std::str::from_utf8(t).map_err(|_| ParseError::Syntax("number"))?;
            return s
                .parse::<f64>()
                .map(Object::Real)
                .map_err(|_| ParseError::Syntax("number"));
        }
        let s = std::str::from_utf8(t).map_err(|_| ParseError::Syntax("number"))?;
        let n: i64 = s.parse().map_err(|_| ParseError::Syntax("number"))?;
        // Look ahead for `gen R`.
        let save = self.pos;
        if n >= 0 && !t.starts_with(b"+") && !t.starts_with(b"-") {
            self.skip_ws();
            let gen_start = self.pos;
            let g = self.token();
            if !g.is_empty() && g.iter().all(u8::is_ascii_digit) {
                self.skip_ws();
                if self.peek() == Some(b'R')
                    && self
                        .buf
                        .get(self.pos + 1)
                        .is_none_or(|&c| is_white(c) || is_delim(c))
                {
                    self.pos += 1;
                    if let (Ok(num), Some(gen)) = (
                        u32::try_from(n),
                        parse_u64(g).and_then(|g| u16::try_from(g).ok()),
                    ) {
                        return Ok(Object::Ref(ObjRef { num, gen }));
                    }
                    return Err(ParseError::Syntax("bad reference"));
                }
                if self.pos >= self.buf.len() {
                    return Err(ParseError::Eof);
                }
            } else if gen_start >= self.buf.len() {
                return Err(ParseError::Eof);
            }
        }
        self.pos = save;
        Ok(Object::Int(n))
    }

    fn literal_string(&mut self) -> Result<Object, ParseError> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut level = 1usize;
        loop {
            let b = self.next()?;
            match b {
                b'(' => {
                    level += 1;
                    out.push(b);
                }
                b')' => {
                    level -= 1;
                    if level == 0 {
                        return Ok(Object::Str(out));
                    }
                    out.push(b);
                }
                b'\\' => {
                    let e = self.next()?;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(b),
            }
        }
    }

    fn hex_string(&mut self) -> Result<Object, ParseError> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut hi: Option<u8> = None;
        loop {
            let b = self.next()?;
            let v = match b {
                b'>' => {
                    if let Some(h) = hi {
                        out.push(h << 4);
                    }
                    return Ok(Object::Str(out));
                }
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ if is_white(b) => continue,
                _ => return Err(ParseError::Syntax("bad hex string")),
            };
            match hi.take() {
                Some(h) => out.push(h << 4 | v),
                None => hi = Some(v),
            }
        }
    }
}

fn decode_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// Parses an ASCII unsigned decimal.
pub fn parse_u64(t: &[u8]) -> Option<u64> {
    if t.is_empty() || t.len() > 19 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Object, ParseError> {
        Parser::new(s, 0).object(0)
    }

    #[test]
    fn parses_dicts_refs_strings_and_names() {
        let o = parse(b"<< /Type /Page /Parent 3 0 R /Kids [1 0 R 2 0 R] /T (a\\(b\\)) /H <41 42> /N /A#20B /X 1.5 >> ").unwrap();
        let d = o.as_dict().unwrap();
        assert_eq!(d.name(b"Type"), Some(&b"Page"[..]));
        assert_eq!(d.reference(b"Parent"), Some(ObjRef::new(3)));
        assert_eq!(d.get(b"T"), Some(&Object::Str(b"a(b)".to_vec())));
        assert_eq!(d.get(b"H"), Some(&Object::Str(b"AB".to_vec())));
        assert_eq!(d.name(b"N"), Some(&b"A B"[..]));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let s = "[".repeat(100_000);
        assert_eq!(parse(s.as_bytes()), Err(ParseError::TooDeep));
    }

    #[test]
    fn a_huge_array_is_refused_not_an_allocation_bomb() {
        let s = format!("[{}]", "0 ".repeat(MAX_OBJECTS + 1));
        assert_eq!(parse(s.as_bytes()), Err(ParseError::TooMany));
        let ok = format!("[{}]", "0 ".repeat(1000));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn duplicate_keys_keep_the_first_in_small_and_large_dictionaries() {
        for n in [3usize, 5000] {
            let mut s = String::from("<<");
            for i in 0..n {
                s.push_str(&format!(" /K{i} {i}"));
            }
            s.push_str(" /K1 99 /K0 98 >> ");
            let o = parse(s.as_bytes()).unwrap();
            let d = o.as_dict().unwrap();
            assert_eq!(d.0.len(), n);
            assert_eq!(d.int(b"K1"), Some(1));
            assert_eq!(d.int(b"K0"), Some(0));
        }
    }

    #[test]
    fn many_keys_parse_in_linear_time() {
        // 200 000 distinct keys: quadratic scanning would take minutes.
        let mut s = String::from("<<");
        for i in 0..200_000 {
            s.push_str(&format!("/K{i} 1 "));
        }
        s.push_str(">> ");
        let t = std::time::Instant::now();
        let o = parse(s.as_bytes()).unwrap();
        assert_eq!(o.as_dict().unwrap().0.len(), 200_000);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn a_cut_window_asks_for_more() {
        assert_eq!(parse(b"<< /A 1 0"), Err(ParseError::Eof));
        assert_eq!(parse(b"(abc"), Err(ParseError::Eof));
    }

    #[test]
    fn stream_header_is_found() {
        let mut p = Parser::new(b"7 0 obj\n<< /Length 3 >>\nstream\r\nabc\nendstream", 0);
        let (id, ind) = p.indirect().unwrap();
        assert_eq!(id, ObjRef::new(7));
        match ind {
            Indirect::Stream(d, start) => {
                assert_eq!(d.int(b"Length"), Some(3));
                assert_eq!(start, 32);
            }
            Indirect::Object(_) => panic!("expected stream"),
        }
    }
}
