//! A lazy PDF reader: cross-reference data and only the objects asked for.
//!
//! What it is for: sealing a 100 MB tender document without loading it. [`PdfReader::open`]
//! reads `startxref`, then every cross-reference section along the `/Prev` chain — classic
//! tables, xref streams and hybrid files (`/XRefStm`). Each section keeps its entries once,
//! sorted by object number; a compact index (object number → newest section defining it)
//! answers "where is object n now". Objects are parsed on demand by offset, including objects
//! inside object streams.
//!
//! Guarantees: bounded work on hostile input — `/Prev` loops, reference loops and deep nesting
//! are typed errors, decompression stops at [`MAX_DECODED`], windows grow to at most
//! [`MAX_OBJECT_WINDOW`]. Every entry needs bytes that exist: the cross-reference entries of
//! all sections together are at most [`xref_entry_limit`] of the file length (a 100 KB file
//! cannot declare 32 M objects through a compressed xref stream); beyond it the file is refused
//! with `E_PDF_XREF_TOO_LARGE` before anything is allocated for those entries. Memory is
//! proportional to the number of entries (about 32 bytes each), never to declared counts.
//!
//! New object numbers ([`PdfReader::next_free_number`]) start above the highest number seen
//! anywhere: every section of every revision, every `/Size`, the headers of every object
//! stream, and — when those disagree — a scan of the file body for `n g obj`.
//!
//! Does not: repair broken files (no reconstruction by scanning for `obj`), decrypt, or decode
//! filters other than FlateDecode with PNG predictors (all that xref/object streams use).

use crate::error::PdfError;
use crate::object::{Dict, ObjRef, Object};
use crate::parser::{Indirect, ParseError, Parser};
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest decoded stream accepted (object and xref streams).
pub const MAX_DECODED: u64 = 32 * 1024 * 1024;
/// Largest window read to parse one object or xref table.
pub const MAX_OBJECT_WINDOW: usize = 32 * 1024 * 1024;
const MAX_SECTIONS: usize = 4096;
/// Object numbers above this (ISO 32000-1 Annex C: 8,388,607) are not allocated by us, and
/// body-scan hits above it are ignored as noise.
pub const MAX_OBJECT_NUMBER: u32 = 8_388_607;

/// How many cross-reference entries (all sections together) a file of `len` bytes may declare:
/// a quarter of its length (the smallest object, `1 0 obj 0`, takes more than 4 bytes; a classic
/// table row takes 20) plus a margin for tiny files.
/// Never more than [`MAX_XREF_ENTRIES`] (about 270 MB of entries and index).
pub fn xref_entry_limit(len: u64) -> u64 {
    (len / 4 + 4096).min(MAX_XREF_ENTRIES)
}

/// Cross-reference entries of all sections together, whatever the file size: ISO 32000-1
/// Annex C's object limit (8,388,607) plus one.
pub const MAX_XREF_ENTRIES: u64 = 8_388_608;
const MAX_RESOLVE_DEPTH: usize = 32;

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XrefEntry {
    /// Deleted / free.
    Free,
    /// At a byte offset in the file.
    InFile {
        /// Offset of `n g obj`.
        offset: u64,
        /// Generation.
        gen: u16,
    },
    /// Inside an object stream.
    InStream {
        /// The object stream's number.
        stream: u32,
        /// Index within it.
        index: u32,
    },
}

/// One cross-reference section (one revision of the file).
#[derive(Debug, Clone)]
pub struct XrefSection {
    /// Byte offset of the section (`xref` keyword or xref stream object).
    pub offset: u64,
    /// True for an xref stream, false for a classic table.
    pub is_stream: bool,
    /// Objects this section defines (in use or freed) and where they are, sorted by object
    /// number, one entry per number (the first one the section lists wins).
    pub entries: Vec<(u32, XrefEntry)>,
}

impl XrefSection {
    /// A section from entries in file order (sorted and de-duplicated here).
    pub fn new(offset: u64, is_stream: bool, mut entries: Vec<(u32, XrefEntry)>) -> Self {
        entries.sort_by_key(|e| e.0);
        entries.dedup_by_key(|e| e.0);
        entries.shrink_to_fit();
        Self {
            offset,
            is_stream,
            entries,
        }
    }

    /// This section's entry for `num`, if it has one.
    pub fn get(&self, num: u32) -> Option<XrefEntry> {
        self.entries
            .binary_search_by_key(&num, |e| e.0)
            .ok()
            .map(|i| self.entries[i].1)
    }
}

/// A lazily read PDF file.
#[derive(Debug)]
pub struct PdfReader {
    path: PathBuf,
    file: File,
    len: u64,
    /// `(object number, revision)` sorted by number: the newest section defining it, counted
    /// from the oldest section (0), so that prepending a section keeps the index valid.
    index: Vec<(u32, u32)>,
    /// Newest first.
    sections: Vec<XrefSection>,
    /// Entries read so far, against [`xref_entry_limit`].
    entries_read: u64,
    /// Some section's `/Size` is not above its own highest object number.
    size_inconsistent: bool,
    trailer: Dict,
    size: u32,
    objstm_cache: Vec<(u32, std::rc::Rc<ObjectStream>)>,
}

#[derive(Debug)]
struct ObjectStream {
    data: Vec<u8>,
    first: usize,
    offsets: Vec<(u32, usize)>,
}

fn parse_err(e: ParseError, what: &str) -> PdfError {
    match e {
        ParseError::TooDeep => PdfError::TooDeep,
        ParseError::TooMany => PdfError::ObjectTooLarge {
            limit: crate::parser::MAX_OBJECTS,
        },
        ParseError::Eof => PdfError::corrupt(format!("{what}: 数据被截断")),
        ParseError::Syntax(s) => PdfError::corrupt(format!("{what}: {s}")),
    }
}

impl PdfReader {
    /// Opens `path` and reads its cross-reference chain.
    pub fn open(path: &Path) -> Result<Self, PdfError> {
        let file = File::open(path).map_err(|e| PdfError::io(path, e))?;
        let len = file.metadata().map_err(|e| PdfError::io(path, e))?.len();
        Self::from_file(path, file, len)
    }

    /// Reads the first `len` bytes of an open file as a PDF (a working copy may be longer).
    pub fn from_file(path: &Path, file: File, len: u64) -> Result<Self, PdfError> {
        let mut reader = Self {
            path: path.to_owned(),
            file,
            len,
            index: Vec::new(),
            sections: Vec::new(),
            entries_read: 0,
            size_inconsistent: false,
            trailer: Dict::new(),
            size: 0,
            objstm_cache: Vec::new(),
        };
        let head = reader.read_at(0, 1024.min(len as usize))?;
        if !head.windows(5).any(|w| w == b"%PDF-") {
            return Err(PdfError::NotPdf);
        }
        let startxref = reader.find_startxref()?;
        reader.read_xref_chain(startxref)?;
        if reader.trailer.get(b"Encrypt").is_some() {
            return Err(PdfError::Encrypted);
        }
        if reader.trailer.reference(b"Root").is_none() {
            return Err(PdfError::corrupt("trailer 中缺少 /Root"));
        }
        Ok(reader)
    }

    /// File length this reader sees.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a zero-length file (never the case after a successful open).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The newest trailer (for an xref stream: its dictionary).
    pub fn trailer(&self) -> &Dict {
        &self.trailer
    }

    /// One more than the highest object number in use (`/Size`).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Cross-reference sections, newest first.
    pub fn sections(&self) -> &[XrefSection] {
        &self.sections
    }

    /// Where object `num` lives, if anywhere.
    pub fn entry(&self, num: u32) -> Option<XrefEntry> {
        let i = self.index.binary_search_by_key(&num, |e| e.0).ok()?;
        let rev = self.index[i].1 as usize;
        let pos = self.sections.len().checked_sub(rev + 1)?;
        self.sections.get(pos)?.get(num)
    }

    /// Where object `num` lived in the newest section starting before byte `end` (the
    /// revision a signature covering `0..end` saw). Logarithmic per section.
    pub fn entry_before(&self, num: u32, end: u64) -> Option<XrefEntry> {
        self.sections
            .iter()
            .filter(|s| s.offset < end)
            .find_map(|s| s.get(num))
    }

    /// Object numbers defined (in use or freed) by sections starting at or after `end`,
    /// sorted, each once. Linear in those sections' entries.
    pub fn numbers_defined_from(&self, end: u64) -> Vec<u32> {
        let mut nums: Vec<u32> = self
            .sections
            .iter()
            .filter(|s| s.offset >= end)
            .flat_map(|s| s.entries.iter().map(|e| e.0))
            .collect();
        nums.sort_unstable();
        nums.dedup();
        nums
    }

    /// The first object number that is safe for new objects: above every number any section
    /// of any revision defines, every `/Size`, every object listed in an object stream's
    /// header, and — when some `/Size` is not above its own section's numbers (poppler's
    /// `pdfunite` writes such files) — every `n g obj` found by scanning the file body.
    /// Numbers above [`MAX_OBJECT_NUMBER`] found by the scan are ignored (stream noise).
    pub fn next_free_number(&mut self) -> Result<u32, PdfError> {
        let mut highest = self.size.saturating_sub(1);
        if let Some(&(num, _)) = self.index.last() {
            highest = highest.max(num);
        }
        let streams: Vec<u32> = {
            let mut v: Vec<u32> = self
                .sections
                .iter()
                .flat_map(|s| s.entries.iter())
                .filter_map(|e| match e.1 {
                    XrefEntry::InStream { stream, .. } => Some(stream),
                    _ => None,
                })
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        for stream in streams {
            highest = highest.max(stream);
            // An object stream that cannot be read adds nothing (its objects are unreachable).
            if let Ok(listed) = self.object_stream_numbers(stream) {
                highest = highest.max(listed);
            }
        }
        let inconsistent = self.size_inconsistent || highest >= self.size;
        if inconsistent {
            highest = highest.max(self.scan_body_numbers()?);
        }
        highest
            .checked_add(1)
            .filter(|n| *n < u32::MAX - 1024)
            .ok_or(PdfError::ObjectNumbersExhausted)
    }

    /// The highest object number an object stream's header lists.
    fn object_stream_numbers(&mut self, stream: u32) -> Result<u32, PdfError> {
        let obj = self.object_guarded(ObjRef::new(stream), &mut HashSet::new(), true)?;
        let Object::Stream(dict, raw) = obj else {
            return Ok(0);
        };
        let data = decode_stream(&dict, &raw)?;
        let n = dict.int(b"N").unwrap_or(0).clamp(0, 1_000_000) as usize;
        let mut p = Parser::new(&data, 0);
        let mut highest = 0u32;
        for _ in 0..n.min(data.len() / 4) {
            let (Ok(num), Ok(_)) = (p.unsigned(), p.unsigned()) else {
                break;
            };
            highest = highest.max(u32::try_from(num).unwrap_or(0).min(MAX_OBJECT_NUMBER));
        }
        Ok(highest)
    }

    /// The highest `n g obj` header in the file (streamed, 1 MiB at a time), at most
    /// [`MAX_OBJECT_NUMBER`].
    fn scan_body_numbers(&mut self) -> Result<u32, PdfError> {
        const CHUNK: usize = 1 << 20;
        const OVERLAP: usize = 64;
        let mut highest = 0u32;
        let mut offset = 0u64;
        while offset < self.len {
            let buf = self.read_at(offset, CHUNK + OVERLAP)?;
            highest = highest.max(highest_obj_header(&buf));
            offset += CHUNK as u64;
        }
        Ok(highest)
    }

    /// Rebuilds the index from the sections (after reading the chain).
    fn rebuild_index(&mut self) {
        let total = self.sections.len();
        let mut index: Vec<(u32, u32)> = Vec::with_capacity(
            self.sections
                .iter()
                .map(|s| s.entries.len())
                .max()
                .unwrap_or(0),
        );
        for (pos, section) in self.sections.iter().enumerate() {
            let rev = (total - 1 - pos) as u32;
            index.extend(section.entries.iter().map(|e| (e.0, rev)));
        }
        // Newest revision first within a number, then keep that one.
        index.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        index.dedup_by_key(|e| e.0);
        index.shrink_to_fit();
        self.index = index;
    }

    /// Counts `n` more entries against the file's limit; refuses past it.
    fn charge_entries(&mut self, n: u64) -> Result<(), PdfError> {
        self.entries_read = self.entries_read.saturating_add(n);
        let limit = xref_entry_limit(self.len);
        if self.entries_read > limit {
            return Err(PdfError::XrefTooLarge {
                entries: self.entries_read,
                limit,
            });
        }
        Ok(())
    }

    /// Registers objects appended by an incremental update we wrote ourselves (so a working
    /// copy need not be re-read).
    pub fn apply_update(
        &mut self,
        new_len: u64,
        section: XrefSection,
        entries: &[(u32, u64)],
        trailer: Dict,
    ) {
        let rev = self.sections.len() as u32;
        let section = if entries.is_empty() {
            section
        } else {
            XrefSection::new(
                section.offset,
                section.is_stream,
                entries
                    .iter()
                    .map(|&(num, offset)| (num, XrefEntry::InFile { offset, gen: 0 }))
                    .collect(),
            )
        };
        for &(num, _) in &section.entries {
            match self.index.binary_search_by_key(&num, |e| e.0) {
                Ok(i) => self.index[i].1 = rev,
                Err(i) => self.index.insert(i, (num, rev)),
            }
        }
        self.size = self
            .size
            .max(trailer.int(b"Size").unwrap_or(0).clamp(0, u32::MAX as i64) as u32);
        self.sections.insert(0, section);
        self.trailer = trailer;
        self.len = new_len;
    }

    /// Reads `n` bytes at `offset` (fewer at the end of the file).
    pub fn read_at(&mut self, offset: u64, n: usize) -> Result<Vec<u8>, PdfError> {
        if offset >= self.len {
            return Ok(Vec::new());
        }
        let n = n.min((self.len - offset) as usize);
        let mut buf = vec![0u8; n];
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| PdfError::io(&self.path, e))?;
        self.file
            .read_exact(&mut buf)
            .map_err(|e| PdfError::io(&self.path, e))?;
        Ok(buf)
    }

    fn find_startxref(&mut self) -> Result<u64, PdfError> {
        let tail_len = 2048.min(self.len) as usize;
        let tail = self.read_at(self.len - tail_len as u64, tail_len)?;
        let pos = tail
            .windows(9)
            .rposition(|w| w == b"startxref")
            .ok_or_else(|| PdfError::corrupt("找不到 startxref（文件可能被截断）"))?;
        let mut p = Parser::new(&tail, pos + 9);
        let off = p.unsigned().map_err(|e| parse_err(e, "startxref"))?;
        Ok(off)
    }

    /// Parses with a growing window until the parse no longer runs out of data.
    fn parse_window<T>(
        &mut self,
        offset: u64,
        what: &str,
        mut f: impl FnMut(&[u8]) -> Result<T, ParseError>,
    ) -> Result<T, PdfError> {
        let mut size = 4096usize;
        loop {
            let buf = self.read_at(offset, size)?;
            match f(&buf) {
                Ok(v) => return Ok(v),
                Err(ParseError::Eof) if buf.len() == size && size < MAX_OBJECT_WINDOW => {
                    size = (size * 4).min(MAX_OBJECT_WINDOW);
                }
                Err(e) => return Err(parse_err(e, what)),
            }
        }
    }

    fn read_xref_chain(&mut self, start: u64) -> Result<(), PdfError> {
        let mut seen = HashSet::new();
        let mut next = Some(start);
        let mut first = true;
        while let Some(offset) = next {
            if !seen.insert(offset) {
                return Err(PdfError::XrefLoop);
            }
            if seen.len() > MAX_SECTIONS || offset >= self.len {
                return Err(PdfError::corrupt(format!("交叉引用位置 {offset} 无效")));
            }
            let (trailer, section) = self.read_section(offset)?;
            if first {
                self.trailer = trailer.clone();
                first = false;
            }
            let size = trailer.int(b"Size").unwrap_or(0).clamp(0, u32::MAX as i64) as u32;
            self.size = self.size.max(size);
            if section.entries.last().is_some_and(|e| e.0 >= size) {
                self.size_inconsistent = true;
            }
            self.sections.push(section);
            next = match trailer.get(b"Prev") {
                Some(Object::Int(p)) if *p >= 0 => Some(*p as u64),
                Some(Object::Real(p)) if *p >= 0.0 => Some(*p as u64),
                _ => None,
            };
        }
        self.rebuild_index();
        Ok(())
    }

    fn read_section(&mut self, offset: u64) -> Result<(Dict, XrefSection), PdfError> {
        let head = self.read_at(offset, 4)?;
        if head == b"xref" {
            let (trailer, mut entries) = self.read_xref_table(offset)?;
            // Hybrid file: the xref stream of the same revision fills in compressed objects
            // (the table's own entries win, as they come first).
            if let Some(Object::Int(stm)) = trailer.get(b"XRefStm") {
                if *stm >= 0 && (*stm as u64) < self.len {
                    let (_, extra) = self.read_xref_stream(*stm as u64)?;
                    entries.extend(extra);
                }
            }
            Ok((trailer, XrefSection::new(offset, false, entries)))
        } else {
            let (dict, entries) = self.read_xref_stream(offset)?;
            Ok((dict, XrefSection::new(offset, true, entries)))
        }
    }

    /// Reads a classic xref table with a small buffer (tables of a million objects are
    /// tens of MB of text), then parses the trailer dictionary that follows it.
    fn read_xref_table(&mut self, offset: u64) -> Result<(Dict, Vec<(u32, XrefEntry)>), PdfError> {
        let bad = |what: &str| PdfError::corrupt(format!("xref 表：{what}"));
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| PdfError::io(&self.path, e))?;
        let limited = (&self.file).take(self.len - offset);
        let mut tokens = TokenReader {
            inner: std::io::BufReader::with_capacity(64 * 1024, limited),
            consumed: 0,
        };
        let (len, limit, mut read) = (self.len, xref_entry_limit(self.len), self.entries_read);
        let mut next = || tokens.next().map_err(|e| PdfError::io(&self.path, e));
        if next()?.as_deref() != Some(&b"xref"[..]) {
            return Err(bad("缺少 xref 关键字"));
        }
        let mut entries = Vec::new();
        loop {
            let token = next()?.ok_or_else(|| bad("缺少 trailer"))?;
            if token == b"trailer" {
                break;
            }
            let start = crate::parser::parse_u64(&token).ok_or_else(|| bad("子节起始号无效"))?;
            let count = next()?
                .as_deref()
                .and_then(crate::parser::parse_u64)
                .ok_or_else(|| bad("子节数量无效"))?;
            if count > 10_000_000 || start.saturating_add(count) > u64::from(u32::MAX) {
                return Err(bad("子节过大"));
            }
            // A table row is 20 bytes of the file: a count beyond what is left is a lie.
            if count.saturating_mul(20) > len - offset {
                return Err(bad("子节数量超出文件剩余长度"));
            }
            read = read.saturating_add(count);
            if read > limit {
                return Err(PdfError::XrefTooLarge {
                    entries: read,
                    limit,
                });
            }
            for i in 0..count {
                let off = next()?
                    .as_deref()
                    .and_then(crate::parser::parse_u64)
                    .ok_or_else(|| bad("偏移无效"))?;
                let gen = next()?
                    .as_deref()
                    .and_then(crate::parser::parse_u64)
                    .ok_or_else(|| bad("代号无效"))?;
                let entry = match next()?.as_deref() {
                    Some(b"n") => XrefEntry::InFile {
                        offset: off,
                        gen: gen.min(u64::from(u16::MAX)) as u16,
                    },
                    Some(b"f") => XrefEntry::Free,
                    _ => return Err(bad("条目类型无效")),
                };
                entries.push(((start + i) as u32, entry));
            }
        }
        self.entries_read = read;
        let trailer_at = offset + tokens.consumed;
        let trailer = self.parse_window(trailer_at, "trailer", |buf| {
            match Parser::new(buf, 0).object(0)? {
                Object::Dict(d) => Ok(d),
                _ => Err(ParseError::Syntax("trailer is not a dictionary")),
            }
        })?;
        Ok((trailer, entries))
    }

    fn read_xref_stream(&mut self, offset: u64) -> Result<(Dict, Vec<(u32, XrefEntry)>), PdfError> {
        let (_, obj) = self.load_at(offset, None, true, &mut HashSet::new())?;
        let Object::Stream(dict, raw) = obj else {
            return Err(PdfError::corrupt(
                "startxref 指向的既不是 xref 表也不是 xref 流",
            ));
        };
        if dict.name(b"Type") != Some(b"XRef") {
            return Err(PdfError::corrupt("xref 流缺少 /Type /XRef"));
        }
        let data = decode_stream(&dict, &raw)?;
        let widths: Vec<usize> = match dict.get(b"W") {
            Some(Object::Array(w)) if w.len() == 3 => w
                .iter()
                .map(|v| match v {
                    Object::Int(i) if (0..=8).contains(i) => Ok(*i as usize),
                    _ => Err(PdfError::corrupt("xref 流 /W 无效")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(PdfError::corrupt("xref 流缺少 /W")),
        };
        let size = dict.int(b"Size").unwrap_or(0).max(0);
        let index: Vec<i64> = match dict.get(b"Index") {
            Some(Object::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_f64().map(|f| f as i64))
                .collect(),
            _ => vec![0, size],
        };
        let row = widths.iter().sum::<usize>();
        if row == 0 {
            return Err(PdfError::corrupt("xref 流 /W 全为 0"));
        }
        // Declared rows must exist in the decoded data, and together with every other
        // section stay within what the file's size allows — checked before any allocation.
        let mut declared = 0u64;
        for pair in index.chunks(2) {
            let [start, count] = pair else { break };
            if *start < 0 || *count < 0 || start.saturating_add(*count) > i64::from(u32::MAX) {
                return Err(PdfError::corrupt("xref 流 /Index 无效"));
            }
            declared = declared.saturating_add(*count as u64);
        }
        if declared.saturating_mul(row as u64) > data.len() as u64 {
            return Err(PdfError::corrupt("xref 流数据不足"));
        }
        self.charge_entries(declared)?;
        let mut entries = Vec::with_capacity(declared as usize);
        let mut pos = 0usize;
        for pair in index.chunks(2) {
            let [start, count] = pair else { break };
            for i in 0..*count {
                let Some(rowbytes) = data.get(pos..pos + row) else {
                    return Err(PdfError::corrupt("xref 流数据不足"));
                };
                pos += row;
                let field = |k: usize| -> u64 {
                    let s: usize = widths[..k].iter().sum();
                    rowbytes[s..s + widths[k]]
                        .iter()
                        .fold(0u64, |acc, b| acc << 8 | u64::from(*b))
                };
                let kind = if widths[0] == 0 { 1 } else { field(0) };
                let num = u32::try_from(start + i).map_err(|_| PdfError::corrupt("对象号过大"))?;
                let entry = match kind {
                    0 => XrefEntry::Free,
                    1 => XrefEntry::InFile {
                        offset: field(1),
                        gen: field(2) as u16,
                    },
                    2 => XrefEntry::InStream {
                        stream: field(1) as u32,
                        index: field(2) as u32,
                    },
                    _ => continue,
                };
                entries.push((num, entry));
            }
        }
        Ok((dict, entries))
    }

    /// Loads object `r` (stream data included).
    pub fn object(&mut self, r: ObjRef) -> Result<Object, PdfError> {
        self.object_guarded(r, &mut HashSet::new(), true)
    }

    /// Loads object `r` but skips stream data (for dictionaries such as pages).
    pub fn object_shallow(&mut self, r: ObjRef) -> Result<Object, PdfError> {
        self.object_guarded(r, &mut HashSet::new(), false)
    }

    fn object_guarded(
        &mut self,
        r: ObjRef,
        busy: &mut HashSet<u32>,
        with_data: bool,
    ) -> Result<Object, PdfError> {
        if !busy.insert(r.num) || busy.len() > MAX_RESOLVE_DEPTH {
            return Err(PdfError::ReferenceLoop);
        }
        let result = match self.entry(r.num) {
            None | Some(XrefEntry::Free) => Ok(Object::Null),
            Some(XrefEntry::InFile { offset, .. }) => self
                .load_at(offset, Some(r.num), with_data, busy)
                .map(|(_, o)| o),
            Some(XrefEntry::InStream { stream, index }) => {
                self.load_from_stream(stream, index, r.num, busy)
            }
        };
        busy.remove(&r.num);
        result
    }

    /// The version of object `num` that `entry` locates (an older revision's), without
    /// stream data. Objects in object streams are read from the stream's current version.
    pub fn object_version(&mut self, num: u32, entry: XrefEntry) -> Result<Object, PdfError> {
        let mut busy = HashSet::new();
        match entry {
            XrefEntry::Free => Ok(Object::Null),
            XrefEntry::InFile { offset, .. } => self
                .load_at(offset, Some(num), false, &mut busy)
                .map(|(_, o)| o),
            XrefEntry::InStream { stream, index } => {
                self.load_from_stream(stream, index, num, &mut busy)
            }
        }
    }

    /// Follows references until a direct object (a chain longer than 32 is a loop).
    pub fn resolve(&mut self, obj: &Object) -> Result<Object, PdfError> {
        let mut current = obj.clone();
        for _ in 0..MAX_RESOLVE_DEPTH {
            match current {
                Object::Ref(r) => current = self.object_shallow(r)?,
                other => return Ok(other),
            }
        }
        Err(PdfError::ReferenceLoop)
    }

    /// Loads `r` and returns its dictionary (or an empty one when it is not a dictionary).
    pub fn dict(&mut self, r: ObjRef) -> Result<Dict, PdfError> {
        match self.object_shallow(r)? {
            Object::Dict(d) | Object::Stream(d, _) => Ok(d),
            _ => Err(PdfError::corrupt(format!("对象 {} 不是字典", r.num))),
        }
    }

    fn load_at(
        &mut self,
        offset: u64,
        expect: Option<u32>,
        with_data: bool,
        busy: &mut HashSet<u32>,
    ) -> Result<(ObjRef, Object), PdfError> {
        let what = format!("偏移 {offset} 处的对象");
        let (id, ind) = self.parse_window(offset, &what, |buf| Parser::new(buf, 0).indirect())?;
        if let Some(num) = expect {
            if id.num != num {
                return Err(PdfError::corrupt(format!(
                    "交叉引用表指向的对象号不符（期望 {num}，实际 {}）",
                    id.num
                )));
            }
        }
        match ind {
            Indirect::Object(o) => Ok((id, o)),
            Indirect::Stream(dict, _) if !with_data => Ok((id, Object::Stream(dict, Vec::new()))),
            Indirect::Stream(dict, data_start) => {
                busy.insert(id.num);
                let len = match dict.get(b"Length") {
                    Some(Object::Int(l)) if *l >= 0 => *l as u64,
                    Some(Object::Ref(r)) => {
                        if busy.contains(&r.num) {
                            return Err(PdfError::ReferenceLoop);
                        }
                        match self.object_guarded(*r, busy, false)? {
                            Object::Int(l) if l >= 0 => l as u64,
                            _ => return Err(PdfError::corrupt("流 /Length 无效")),
                        }
                    }
                    _ => return Err(PdfError::corrupt("流缺少 /Length")),
                };
                let start = offset + data_start as u64;
                if start.checked_add(len).is_none_or(|end| end > self.len) || len > MAX_DECODED {
                    return Err(PdfError::corrupt("流长度超出文件范围"));
                }
                let data = self.read_at(start, len as usize)?;
                Ok((id, Object::Stream(dict, data)))
            }
        }
    }

    fn load_from_stream(
        &mut self,
        stream: u32,
        index: u32,
        num: u32,
        busy: &mut HashSet<u32>,
    ) -> Result<Object, PdfError> {
        let objstm = match self.objstm_cache.iter().find(|(n, _)| *n == stream) {
            Some((_, s)) => s.clone(),
            None => {
                let obj = self.object_guarded(ObjRef::new(stream), busy, true)?;
                let Object::Stream(dict, raw) = obj else {
                    return Err(PdfError::corrupt("对象流不是流"));
                };
                let data = decode_stream(&dict, &raw)?;
                // Each header pair takes at least 4 bytes ("1 0 "): a larger /N is a lie.
                let n = dict.int(b"N").unwrap_or(0).clamp(0, 1_000_000) as usize;
                let n = n.min(data.len() / 4);
                let first = dict.int(b"First").unwrap_or(0).max(0) as usize;
                let mut p = Parser::new(&data, 0);
                let mut offsets = Vec::with_capacity(n);
                for _ in 0..n {
                    let o = p.unsigned().map_err(|e| parse_err(e, "对象流头"))?;
                    let off = p.unsigned().map_err(|e| parse_err(e, "对象流头"))?;
                    offsets.push((o as u32, off as usize));
                }
                let s = std::rc::Rc::new(ObjectStream {
                    data,
                    first,
                    offsets,
                });
                if self.objstm_cache.len() >= 4 {
                    self.objstm_cache.remove(0);
                }
                self.objstm_cache.push((stream, s.clone()));
                s
            }
        };
        let (onum, off) = objstm
            .offsets
            .get(index as usize)
            .copied()
            .or_else(|| objstm.offsets.iter().find(|(n, _)| *n == num).copied())
            .ok_or_else(|| PdfError::corrupt("对象流索引越界"))?;
        if onum != num {
            return Err(PdfError::corrupt("对象流中的对象号不符"));
        }
        let start = objstm.first.saturating_add(off);
        if start >= objstm.data.len() {
            return Err(PdfError::corrupt("对象流偏移越界"));
        }
        Parser::new(&objstm.data, start)
            .object(0)
            .map_err(|e| parse_err(e, "对象流中的对象"))
    }
}

/// The highest `n g obj` (n ≤ [`MAX_OBJECT_NUMBER`], at a token boundary) in `buf`.
fn highest_obj_header(buf: &[u8]) -> u32 {
    let mut highest = 0u32;
    let is_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0');
    let mut at = 0;
    while let Some(rel) = buf[at..].windows(3).position(|w| w == b"obj") {
        let kw = at + rel;
        at = kw + 3;
        // Walk back: whitespace, generation digits, whitespace, number digits.
        let mut i = kw;
        let skip_ws = |mut i: usize| {
            while i > 0 && is_ws(buf[i - 1]) {
                i -= 1;
            }
            i
        };
        let digits = |mut i: usize| {
            let end = i;
            while i > 0 && buf[i - 1].is_ascii_digit() && end - i < 10 {
                i -= 1;
            }
            (i, end)
        };
        let j = skip_ws(i);
        if j == i {
            continue;
        }
        let (gs, ge) = digits(j);
        if gs == ge {
            continue;
        }
        i = skip_ws(gs);
        if i == gs {
            continue;
        }
        let (ns, ne) = digits(i);
        if ns == ne || (ns > 0 && !is_ws(buf[ns - 1])) {
            continue;
        }
        let num = std::str::from_utf8(&buf[ns..ne])
            .ok()
            .and_then(|t| t.parse::<u32>().ok());
        if let Some(n) = num.filter(|n| *n <= MAX_OBJECT_NUMBER) {
            highest = highest.max(n);
        }
    }
    highest
}

/// Whitespace-separated tokens from a buffered reader (for xref tables), counting bytes.
struct TokenReader<R> {
    inner: std::io::BufReader<R>,
    consumed: u64,
}

impl<R: Read> TokenReader<R> {
    /// The next token (at most 32 bytes; a longer run is returned cut, and fails to parse),
    /// or `None` at the end. Stops before a delimiter such as `<`.
    fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        use std::io::BufRead;
        let mut token = Vec::new();
        loop {
            let buf = self.inner.fill_buf()?;
            let Some(&b) = buf.first() else {
                return Ok((!token.is_empty()).then_some(token));
            };
            let white = matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0');
            let delim = matches!(
                b,
                b'<' | b'>' | b'[' | b']' | b'(' | b')' | b'/' | b'%' | b'{' | b'}'
            );
            if (white || delim) && !token.is_empty() {
                return Ok(Some(token));
            }
            if delim {
                // A delimiter where a token should start: hand it over as a token of its own.
                return Ok(Some(vec![b]));
            }
            self.inner.consume(1);
            self.consumed += 1;
            if !white && token.len() < 32 {
                token.push(b);
            }
        }
    }
}

/// Decodes a stream's data (FlateDecode with optional PNG predictors, or no filter), with the
/// [`MAX_DECODED`] limit.
pub fn decode_stream(dict: &Dict, raw: &[u8]) -> Result<Vec<u8>, PdfError> {
    let filter = match dict.get(b"Filter") {
        None => None,
        Some(Object::Name(n)) => Some(n.clone()),
        Some(Object::Array(a)) if a.is_empty() => None,
        Some(Object::Array(a)) if a.len() == 1 => match &a[0] {
            Object::Name(n) => Some(n.clone()),
            _ => return Err(PdfError::corrupt("流 /Filter 无效")),
        },
        _ => return Err(PdfError::corrupt("不支持的流过滤器组合")),
    };
    let data = match filter.as_deref() {
        None => raw.to_vec(),
        Some(b"FlateDecode") => inflate_limited(raw)?,
        Some(other) => {
            return Err(PdfError::corrupt(format!(
                "不支持的过滤器 {}",
                String::from_utf8_lossy(other)
            )))
        }
    };
    let parms = match dict.get(b"DecodeParms") {
        Some(Object::Dict(d)) => Some(d),
        Some(Object::Array(a)) => a.first().and_then(Object::as_dict),
        _ => None,
    };
    match parms.and_then(|p| p.int(b"Predictor")) {
        None | Some(1) => Ok(data),
        Some(p) if (10..=15).contains(&p) => {
            let parms = parms.ok_or_else(|| PdfError::corrupt("predictor"))?;
            let columns = parms.int(b"Columns").unwrap_or(1).clamp(1, 1 << 20) as usize;
            let colors = parms.int(b"Colors").unwrap_or(1).clamp(1, 32) as usize;
            let bpc = parms.int(b"BitsPerComponent").unwrap_or(8).clamp(1, 16) as usize;
            png_unpredict(&data, columns, colors, bpc)
        }
        Some(_) => Err(PdfError::corrupt("不支持的预测器")),
    }
}

fn inflate_limited(raw: &[u8]) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::new();
    let mut dec = flate2::read::ZlibDecoder::new(raw).take(MAX_DECODED + 1);
    if let Err(e) = dec.read_to_end(&mut out) {
        if out.is_empty() {
            return Err(PdfError::corrupt(format!("压缩数据损坏：{e}")));
        }
    }
    if out.len() as u64 > MAX_DECODED {
        return Err(PdfError::FlateBomb {
            limit_mb: MAX_DECODED / (1024 * 1024),
        });
    }
    Ok(out)
}

fn png_unpredict(
    data: &[u8],
    columns: usize,
    colors: usize,
    bpc: usize,
) -> Result<Vec<u8>, PdfError> {
    let bpp = (colors * bpc).div_ceil(8).max(1);
    let row_len = (columns * colors * bpc).div_ceil(8);
    // Each row of output needs a row of input: a row longer than the data is a lie, and the
    // output never grows past the input.
    if row_len == 0 || row_len > data.len() {
        return Err(PdfError::corrupt("PNG 预测器参数与数据长度不符"));
    }
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row_len];
    for chunk in data.chunks(row_len + 1) {
        let Some((&filter, row)) = chunk.split_first() else {
            break;
        };
        let mut cur = row.to_vec();
        cur.resize(row_len, 0);
        for i in 0..row_len {
            let a = if i >= bpp { cur[i - bpp] } else { 0 };
            let b = prev[i];
            let c = if i >= bpp { prev[i - bpp] } else { 0 };
            let add = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
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
                _ => return Err(PdfError::corrupt("PNG 预测器类型无效")),
            };
            cur[i] = cur[i].wrapping_add(add);
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}
