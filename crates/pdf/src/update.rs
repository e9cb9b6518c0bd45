//! Writing one incremental update (ISO 32000-1 §7.5.6): new and replaced objects, then a
//! cross-reference section chained to the previous one by `/Prev`, then `startxref`/`%%EOF`.
//!
//! Guarantees: the update is pure appended bytes; the cross-reference section has the same
//! kind as the file's newest one (an xref stream after an xref stream, else a classic table),
//! so readers that only understand one kind keep working; `/Root`, `/Info` and `/ID` are carried
//! over. Does not: compress objects into object streams, or write anything before `base`.

use crate::object::{Dict, Object};
use std::io::Write;

/// An update being assembled in memory (it is small: the seal image plus a few KiB).
#[derive(Debug)]
pub struct UpdateBuilder {
    base: u64,
    buf: Vec<u8>,
    entries: Vec<(u32, u16, u64)>,
}

/// A finished update.
#[derive(Debug)]
pub struct FinishedUpdate {
    /// The bytes to append at `base`.
    pub bytes: Vec<u8>,
    /// `(object number, generation, absolute offset)` of every object written.
    pub entries: Vec<(u32, u16, u64)>,
    /// The new trailer (for an xref stream: its dictionary without stream keys).
    pub trailer: Dict,
    /// Absolute offset of the new cross-reference section.
    pub xref_offset: u64,
    /// True when the section is an xref stream.
    pub is_stream: bool,
}

impl UpdateBuilder {
    /// Starts an update appended at absolute offset `base`; `needs_eol` adds a newline first
    /// when the file does not end with one.
    pub fn new(base: u64, needs_eol: bool) -> Self {
        let mut buf = Vec::with_capacity(64 * 1024);
        if needs_eol {
            buf.push(b'\n');
        }
        Self {
            base,
            buf,
            entries: Vec::new(),
        }
    }

    /// Absolute offset of the next byte written.
    pub fn position(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Writes `num gen obj … endobj` for a serialised object.
    pub fn add(&mut self, num: u32, gen: u16, obj: &Object) {
        let mut body = Vec::new();
        obj.write_to(&mut body);
        self.add_raw(num, gen, &body);
    }

    /// Writes an object whose body is already serialised; returns the index in the update
    /// buffer where the body starts.
    pub fn add_raw(&mut self, num: u32, gen: u16, body: &[u8]) -> usize {
        self.entries.push((num, gen, self.position()));
        let _ = writeln!(self.buf, "{num} {gen} obj");
        let start = self.buf.len();
        self.buf.extend_from_slice(body);
        self.buf.extend_from_slice(b"\nendobj\n");
        start
    }

    /// Writes the cross-reference section and trailer. `old_trailer` supplies `/Root`, `/Info`
    /// and `/ID`; `prev` is the previous section's offset; `size` the first free object number
    /// (for an xref stream, `size` is the stream's own number).
    pub fn finish(
        mut self,
        old_trailer: &Dict,
        prev: u64,
        size: u32,
        as_stream: bool,
    ) -> FinishedUpdate {
        let mut trailer = Dict::new();
        let new_size = if as_stream { size + 1 } else { size };
        trailer.set(b"Size", Object::Int(i64::from(new_size)));
        for key in [&b"Root"[..], b"Info", b"ID"] {
            if let Some(v) = old_trailer.get(key) {
                trailer.set(key, v.clone());
            }
        }
        trailer.set(b"Prev", Object::Int(prev as i64));
        let xref_offset = self.position();
        if as_stream {
            self.entries.push((size, 0, xref_offset));
            let mut entries = self.entries.clone();
            entries.sort_unstable();
            let max = entries.iter().map(|e| e.2).max().unwrap_or(0);
            let ow: usize = if max < (1 << 32) { 4 } else { 8 };
            let mut data = Vec::with_capacity(entries.len() * (ow + 3));
            for (_, gen, off) in &entries {
                data.push(1u8);
                data.extend_from_slice(&off.to_be_bytes()[8 - ow..]);
                data.extend_from_slice(&gen.to_be_bytes());
            }
            let mut dict = trailer.clone();
            dict.set(b"Type", Object::name("XRef"));
            dict.set(
                b"W",
                Object::Array(vec![Object::Int(1), Object::Int(ow as i64), Object::Int(2)]),
            );
            dict.set(b"Index", Object::Array(index_runs(&entries)));
            let mut body = Vec::new();
            Object::Stream(dict, data).write_to(&mut body);
            let _ = writeln!(self.buf, "{size} 0 obj");
            self.buf.extend_from_slice(&body);
            self.buf.extend_from_slice(b"\nendobj\n");
        } else {
            let mut entries = self.entries.clone();
            entries.sort_unstable();
            self.buf.extend_from_slice(b"xref\n");
            let mut i = 0;
            while i < entries.len() {
                let mut j = i + 1;
                while j < entries.len() && entries[j].0 == entries[j - 1].0 + 1 {
                    j += 1;
                }
                let _ = writeln!(self.buf, "{} {}", entries[i].0, j - i);
                for (_, gen, off) in &entries[i..j] {
                    let _ = writeln!(self.buf, "{off:010} {gen:05} n ");
                }
                i = j;
            }
            self.buf.extend_from_slice(b"trailer\n");
            Object::Dict(trailer.clone()).write_to(&mut self.buf);
            self.buf.push(b'\n');
        }
        let _ = write!(self.buf, "startxref\n{xref_offset}\n%%EOF\n");
        FinishedUpdate {
            bytes: self.buf,
            entries: self.entries,
            trailer,
            xref_offset,
            is_stream: as_stream,
        }
    }
}

fn index_runs(sorted: &[(u32, u16, u64)]) -> Vec<Object> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i + 1;
        while j < sorted.len() && sorted[j].0 == sorted[j - 1].0 + 1 {
            j += 1;
        }
        out.push(Object::Int(i64::from(sorted[i].0)));
        out.push(Object::Int((j - i) as i64));
        i = j;
    }
    out
}
