//! The PDF object model (ISO 32000-1 §7.3) as far as sealing needs it, and its serialisation.
//!
//! Guarantees: serialisation is deterministic; dictionaries keep their key order, so an object
//! we rewrite (catalog, page, AcroForm) differs from the original only where we changed it.
//! Does not: decode stream filters (see `reader`), or normalise anything it did not touch.

use std::io::Write;

/// An indirect reference `num gen R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    /// Object number.
    pub num: u32,
    /// Generation number.
    pub gen: u16,
}

impl ObjRef {
    /// A reference with generation 0 (every object we create).
    pub fn new(num: u32) -> Self {
        Self { num, gen: 0 }
    }
}

/// A dictionary with keys in file order (names without the leading slash).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dict(pub Vec<(Vec<u8>, Object)>);

impl Dict {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` (replacing in place to keep the order, or appending).
    pub fn set(&mut self, key: &[u8], value: Object) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_vec(), value)),
        }
    }

    /// Builder-style [`Dict::set`].
    pub fn with(mut self, key: &[u8], value: Object) -> Self {
        self.set(key, value);
        self
    }

    /// `/key` as a name, if it is one.
    pub fn name(&self, key: &[u8]) -> Option<&[u8]> {
        match self.get(key) {
            Some(Object::Name(n)) => Some(n),
            _ => None,
        }
    }

    /// `/key` as an integer, if it is one.
    pub fn int(&self, key: &[u8]) -> Option<i64> {
        match self.get(key) {
            Some(Object::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// `/key` as an indirect reference, if it is one.
    pub fn reference(&self, key: &[u8]) -> Option<ObjRef> {
        match self.get(key) {
            Some(Object::Ref(r)) => Some(*r),
            _ => None,
        }
    }
}

/// A PDF object. Streams keep their raw (still encoded) bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Real(f64),
    /// A string (literal or hex), raw bytes.
    Str(Vec<u8>),
    /// A name, without the slash, `#xx` decoded.
    Name(Vec<u8>),
    /// An array.
    Array(Vec<Object>),
    /// A dictionary.
    Dict(Dict),
    /// An indirect reference.
    Ref(ObjRef),
    /// A stream: dictionary and raw data.
    Stream(Dict, Vec<u8>),
}

impl Object {
    /// A name object from text.
    pub fn name(n: &str) -> Self {
        Object::Name(n.as_bytes().to_vec())
    }

    /// A reference object.
    pub fn r(num: u32) -> Self {
        Object::Ref(ObjRef::new(num))
    }

    /// A real number from f64 (rounded to 4 decimals when written).
    pub fn real(v: f64) -> Self {
        Object::Real(v)
    }

    /// A text string: PDFDocEncoding-compatible ASCII as is, anything else as UTF-16BE with BOM.
    pub fn text(s: &str) -> Self {
        if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            Object::Str(s.as_bytes().to_vec())
        } else {
            let mut v = vec![0xfe, 0xff];
            for u in s.encode_utf16() {
                v.extend_from_slice(&u.to_be_bytes());
            }
            Object::Str(v)
        }
    }

    /// The dictionary of a dict or stream object.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Object::Dict(d) | Object::Stream(d, _) => Some(d),
            _ => None,
        }
    }

    /// A number as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Object::Int(i) => Some(*i as f64),
            Object::Real(r) => Some(*r),
            _ => None,
        }
    }

    /// Serialises the object (direct form) into `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Object::Null => out.extend_from_slice(b"null"),
            Object::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Object::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Object::Real(r) => write_real(*r, out),
            Object::Str(s) => write_string(s, out),
            Object::Name(n) => write_name(n, out),
            Object::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    item.write_to(out);
                }
                out.push(b']');
            }
            Object::Dict(d) => write_dict(d, out),
            Object::Ref(r) => {
                let _ = write!(out, "{} {} R", r.num, r.gen);
            }
            Object::Stream(d, data) => {
                let mut d = d.clone();
                d.set(b"Length", Object::Int(data.len() as i64));
                write_dict(&d, out);
                out.extend_from_slice(b"\nstream\n");
                out.extend_from_slice(data);
                out.extend_from_slice(b"\nendstream");
            }
        }
    }
}

fn write_dict(d: &Dict, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<<");
    for (k, v) in &d.0 {
        write_name(k, out);
        out.push(b' ');
        v.write_to(out);
    }
    out.extend_from_slice(b">>");
}

/// Writes a real without exponent, keeping its value exactly (short form when it can).
pub fn write_real(r: f64, out: &mut Vec<u8>) {
    let r = if r.is_finite() { r } else { 0.0 };
    // Rewritten dictionaries (a page that gains `/Annots`) must keep every number's value
    // exactly, or validators see e.g. a changed `/MediaBox` and reject earlier signatures:
    // use four decimals only when that round-trips, else the shortest exact form.
    let short = format!("{r:.4}");
    let s = if short.parse::<f64>() == Ok(r) {
        short
    } else {
        format!("{r}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    out.extend_from_slice(if s.is_empty() || s == "-" || s == "-0" {
        b"0"
    } else {
        s.as_bytes()
    });
}

fn write_name(n: &[u8], out: &mut Vec<u8>) {
    out.push(b'/');
    for &b in n {
        if b.is_ascii_alphanumeric() || b"-_.+*,:;'".contains(&b) {
            out.push(b);
        } else {
            let _ = write!(out, "#{b:02X}");
        }
    }
}

fn write_string(s: &[u8], out: &mut Vec<u8>) {
    if s.iter().all(|b| (0x20..0x7f).contains(b)) {
        out.push(b'(');
        for &b in s {
            if matches!(b, b'(' | b')' | b'\\') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b')');
    } else {
        out.push(b'<');
        for b in s {
            let _ = write!(out, "{b:02X}");
        }
        out.push(b'>');
    }
}

/// Decodes a PDF text string (UTF-16BE with BOM, UTF-8 with BOM, or PDFDocEncoding ≈ Latin-1).
pub fn decode_text(s: &[u8]) -> String {
    if let Some(rest) = s.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else if let Some(rest) = s.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        s.iter().map(|&b| b as char).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_through_utf16() {
        let Object::Str(bytes) = Object::text("公章") else {
            panic!("not a string")
        };
        assert_eq!(decode_text(&bytes), "公章");
    }

    #[test]
    fn reals_are_short_and_plain() {
        let mut v = Vec::new();
        write_real(12.5, &mut v);
        v.push(b' ');
        write_real(-0.0, &mut v);
        v.push(b' ');
        write_real(3.0, &mut v);
        assert_eq!(v, b"12.5 0 3");
    }

    #[test]
    fn reals_from_a_page_keep_their_value() {
        // A composed page's MediaBox rewritten when a seal adds /Annots: rounding it to
        // 595.304 made pyHanko see a changed page and reject every earlier seal.
        for (r, text) in [
            (595.30396, "595.30396"),
            (841.8898, "841.8898"),
            (-0.00001, "-0.00001"),
        ] {
            let mut v = Vec::new();
            write_real(r, &mut v);
            assert_eq!(String::from_utf8_lossy(&v), text);
        }
    }
}
