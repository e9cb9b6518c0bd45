//! Sealing: a visible seal image plus a PAdES signature, in three persistable phases.
//!
//! 1. **prepare** ([`WorkingCopy::prepare`]) appends one incremental update to a working copy:
//!    the seal image (+ SMask), one appearance and widget per page, the signature field, the
//!    signature dictionary with a zero-filled `/Contents` placeholder and its final
//!    `/ByteRange`, the updated pages/AcroForm, and a cross-reference section. The SHA-256 of
//!    the byte range is computed while doing so ([`PendingSeal::digest`]).
//! 2. **digest** is the hash the signer must cover; [`byte_range_digest`] recomputes it from a
//!    file (streamed) for a pending seal that was persisted and resumed.
//! 3. **finalize** ([`WorkingCopy::finalize`]) patches the CMS SignedData into `/Contents`, in
//!    place. [`WorkingCopy::abandon`] truncates the working copy back instead.
//!
//! The working copy is a temporary file next to the output. It keeps a *safe length* (the
//! end of the last finalized revision) and the SHA-256 state of those bytes, so the k-th seal
//! in a row hashes only its own new bytes. [`WorkingCopy::commit`] fsyncs and renames it to the
//! output; dropping it uncommitted deletes it. The input file is only ever read.
//!
//! Guarantees: the input is a byte prefix of the output; earlier bytes are never rewritten;
//! field names are unique; documents certified with DocMDP P=1 and encrypted documents are
//! refused (and P=2, which forbids new fields); the reader loads only the catalog, AcroForm and the pages being sealed.
//! Before anything is signed, prepare re-reads its own update with a fresh reader and diffs
//! it against the document ([`crate::diff`]): an update that would change anything but the
//! new field, its widgets/appearances, the catalog/AcroForm entries and the sealed pages'
//! `/Annots` (e.g. after an object-number collision) is refused with `E_PDF_SELF_CHECK` and
//! truncated away. Malformed XMP at `/Metadata` is replaced by a fresh packet in the update.
//! Does not: timestamps (PAdES B-T), DSS/LTV data, FieldMDP locks, or appearance text.

use crate::error::PdfError;
use crate::image::SealImage;
use crate::object::{Dict, ObjRef, Object};
use crate::pages::{find_pages, PageInfo};
use crate::placement::{appearance_stream, displayed_size, to_user_space, ImagePart, PageRect};
use crate::reader::{PdfReader, XrefEntry, XrefSection};
use crate::update::UpdateBuilder;
use bidseal_cms::signed_data::{AttributeProfile, SignRequest, SignedAttributes, Signer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Bytes reserved in `/Contents` beyond the certificates (signed attributes, signature,
/// CMS structure). Hex doubles it in the file.
pub const CONTENTS_SLACK: usize = 2048;
/// Width reserved for the `/ByteRange` numbers.
const BYTE_RANGE_WIDTH: usize = 64;
const COPY_CHUNK: usize = 1 << 20;

/// Kinds of seal in Chinese tendering. Stored as the signature's `/Reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealKind {
    /// 公章: the enterprise seal.
    Enterprise,
    /// 法人章: the legal representative's seal.
    LegalPerson,
    /// 法人手写签名: the legal representative's handwritten signature.
    LegalPersonSignature,
    /// 私章: a personal seal.
    Personal,
    /// Any other label (e.g. a department seal 部门章).
    Other(String),
}

impl SealKind {
    /// The zh-CN label.
    pub fn label(&self) -> &str {
        match self {
            SealKind::Enterprise => "公章",
            SealKind::LegalPerson => "法人章",
            SealKind::LegalPersonSignature => "法人手写签名",
            SealKind::Personal => "私章",
            SealKind::Other(s) => s,
        }
    }

    /// Parses a label (the four standard ones, or any other non-empty text).
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            "公章" => SealKind::Enterprise,
            "法人章" => SealKind::LegalPerson,
            "法人手写签名" | "法人签名" => SealKind::LegalPersonSignature,
            "私章" => SealKind::Personal,
            other => SealKind::Other(other.to_owned()),
        }
    }
}

/// Where the widgets of one signature go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WidgetLayout {
    /// The same rectangle on each listed page (1-based): "seal every page/node at once".
    SameRect {
        /// Pages, 1-based.
        pages: Vec<usize>,
        /// The rectangle on each page.
        rect: PageRect,
    },
    /// One widget per listed page, each with its own rectangle: "seal every node of this kind
    /// at once" when the nodes sit at different places. At most one widget per page.
    PerPage {
        /// (page, 1-based; rectangle on that page).
        widgets: Vec<(usize, PageRect)>,
    },
    /// Cross-page seal 骑缝章: the image cut into one vertical slice per page; slice i goes to
    /// the right edge of page i, at height `y`, `height` tall; `width` is the whole seal's.
    CrossPage {
        /// Pages, 1-based, in order (at least 2).
        pages: Vec<usize>,
        /// Bottom of the seal on every page.
        y: f64,
        /// Width of the whole seal image.
        width: f64,
        /// Height of the seal.
        height: f64,
    },
}

/// Everything needed to prepare one seal.
#[derive(Debug, Clone)]
pub struct SealRequest {
    /// The seal kind (stored in `/Reason`).
    pub kind: SealKind,
    /// PNG bytes of the seal image.
    pub image_png: Vec<u8>,
    /// Widget placement.
    pub layout: WidgetLayout,
    /// Signer name for `/Name` (usually the certificate CN).
    pub signer_name: String,
    /// Signing time for `/M` (PAdES keeps it out of the CMS).
    pub time: SystemTime,
    /// Bytes to reserve for the CMS SignedData.
    pub contents_capacity: usize,
}

/// A prepared, not yet finalized seal. Serialisable so that signing can wait for a phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingSeal {
    /// Length of the working copy before this update (the safe length).
    pub base_len: u64,
    /// Length of the appended update.
    pub update_len: u64,
    /// The `/ByteRange` values.
    pub byte_range: [u64; 4],
    /// Offset of the first hex digit inside `/Contents <…>`.
    pub contents_offset: u64,
    /// Bytes (not hex digits) available for the CMS.
    pub contents_capacity: usize,
    /// SHA-256 over the byte range: what the signature must cover.
    pub digest: [u8; 32],
    /// The new field's name.
    pub field_name: String,
    /// Where the new cross-reference section starts.
    pub xref_offset: u64,
    /// Objects written `(num, gen, offset)`.
    pub entries: Vec<(u32, u16, u64)>,
    /// Whether the new section is an xref stream.
    pub xref_is_stream: bool,
}

impl PendingSeal {
    /// The recorded numbers describe one `/Contents` gap inside the update (a persisted
    /// record may have been edited; nothing is patched unless this holds).
    pub fn is_consistent(&self) -> bool {
        let [start, a, b, c] = self.byte_range;
        let hex_len = (self.contents_capacity as u64).saturating_mul(2);
        let end = self.base_len.saturating_add(self.update_len);
        start == 0
            && a > self.base_len
            && self.contents_offset == a + 1
            && b == self
                .contents_offset
                .saturating_add(hex_len)
                .saturating_add(1)
            && b.saturating_add(c) == end
            && self.update_len < (1 << 30)
    }
}

/// A temporary copy of the document that seals are appended to.
#[derive(Debug)]
pub struct WorkingCopy {
    path: PathBuf,
    file: File,
    reader: PdfReader,
    safe_len: u64,
    prefix_hash: Sha256,
    pending: Option<(PendingSeal, Vec<u8>, Dict)>,
    committed: bool,
    /// Background flush of the copied prefix, joined at commit.
    flusher: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    /// Test hook: the first object number the next update allocates (to force a collision).
    next_number_override: Option<u32>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> PdfError + '_ {
    move |e| PdfError::io(path, e)
}

/// The temporary path used next to `output`.
pub fn temp_path_for(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(".{name}.bidseal-{}.tmp", std::process::id()))
}

impl WorkingCopy {
    /// Checks `input`, then copies it to a temporary file next to `output` while hashing it.
    pub fn create(input: &Path, output: &Path) -> Result<Self, PdfError> {
        let reader = PdfReader::open(input)?;
        let input_len = reader.len();
        let path = temp_path_for(output);
        let copy_from = input.to_owned();
        let copy_to = path.clone();
        // Copy (in-kernel where possible) on one core while hashing on the other; the copy is
        // then flushed to disk in the background until commit (overlapping the signer), so
        // the fsync at commit has only the new bytes left to write.
        let (copied_tx, copied_rx) = std::sync::mpsc::channel();
        let flusher = std::thread::spawn(move || {
            let copied = std::fs::copy(&copy_from, &copy_to).and_then(|n| {
                // The copy inherits the input's mode; a read-only input must still give a
                // writable working copy.
                make_owner_writable(&copy_to)?;
                Ok(n)
            });
            let ok = copied.is_ok();
            let _ = copied_tx.send(copied);
            if ok {
                File::open(&copy_to)?.sync_data()?;
            }
            Ok::<(), std::io::Error>(())
        });
        let hashed = hash_file_prefix(input, input_len);
        let copied = copied_rx
            .recv()
            .map_err(|_| PdfError::corrupt("复制线程异常退出"));
        let cleanup = |e: PdfError| {
            let _ = std::fs::remove_file(&path);
            e
        };
        let copied = copied
            .map_err(cleanup)?
            .map_err(|e| cleanup(PdfError::io(output, e)))?;
        let prefix_hash = hashed.map_err(cleanup)?;
        if copied != input_len {
            return Err(cleanup(PdfError::WorkingCopyChanged {
                detail: "复制期间输入文件大小改变".into(),
            }));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| cleanup(PdfError::io(&path, e)))?;
        let read_handle = File::open(&path).map_err(|e| cleanup(PdfError::io(&path, e)))?;
        let reader = PdfReader::from_file(&path, read_handle, input_len).map_err(cleanup)?;
        Ok(Self {
            path,
            file,
            reader,
            safe_len: input_len,
            prefix_hash,
            pending: None,
            committed: false,
            flusher: Some(flusher),
            next_number_override: None,
        })
    }

    /// Reopens a working copy left with a persisted pending seal (e.g. after waiting for the
    /// phone in another process). Re-hashes the safe prefix (streamed).
    pub fn resume(path: &Path, pending: &PendingSeal) -> Result<Self, PdfError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io(path))?;
        let len = file.metadata().map_err(io(path))?.len();
        if !pending.is_consistent() || Some(len) != pending.base_len.checked_add(pending.update_len)
        {
            return Err(PdfError::WorkingCopyChanged {
                detail: format!("长度 {len} 与记录不符"),
            });
        }
        let reader =
            PdfReader::from_file(path, File::open(path).map_err(io(path))?, pending.base_len)?;
        let prefix_hash = hash_file_prefix(path, pending.base_len)?;
        let mut update = vec![0u8; pending.update_len as usize];
        let mut f = File::open(path).map_err(io(path))?;
        f.seek(SeekFrom::Start(pending.base_len))
            .map_err(io(path))?;
        f.read_exact(&mut update).map_err(io(path))?;
        let digest = byte_range_digest(path, &pending.byte_range)?;
        if digest != pending.digest {
            return Err(PdfError::WorkingCopyChanged {
                detail: "签名范围摘要不符".into(),
            });
        }
        let trailer = Dict::new();
        Ok(Self {
            path: path.to_owned(),
            file,
            reader,
            safe_len: pending.base_len,
            prefix_hash,
            pending: Some((pending.clone(), update, trailer)),
            committed: false,
            flusher: None,
            next_number_override: None,
        })
    }

    /// Path of the working copy.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The end of the last finalized revision.
    pub fn safe_len(&self) -> u64 {
        self.safe_len
    }

    /// Reader over the finalized part (for page counts etc.).
    pub fn reader(&mut self) -> &mut PdfReader {
        &mut self.reader
    }

    /// Test hook: makes the next [`WorkingCopy::prepare`] allocate object numbers from `first`
    /// (e.g. numbers the document already uses), so tests can prove that the post-write self
    /// check refuses an update that would replace existing objects.
    #[doc(hidden)]
    pub fn force_next_object_number_for_test(&mut self, first: u32) {
        self.next_number_override = Some(first);
    }

    /// Phase 1: appends the seal's incremental update with a `/Contents` placeholder and
    /// returns what must be signed.
    pub fn prepare(&mut self, req: &SealRequest) -> Result<PendingSeal, PdfError> {
        if self.pending.is_some() {
            self.abandon()?;
        }
        let image = SealImage::from_png(&req.image_png)?;
        let r = &mut self.reader;
        let root_ref = r
            .trailer()
            .reference(b"Root")
            .ok_or_else(|| PdfError::corrupt("缺少 /Root"))?;
        let mut catalog = r.dict(root_ref)?;
        refuse_certified(r, &catalog)?;

        // Pages and widget geometry.
        let (pages_1based, parts): (Vec<usize>, Vec<ImagePart>) = match &req.layout {
            WidgetLayout::SameRect { pages, .. } => {
                (pages.clone(), vec![ImagePart::Whole; pages.len()])
            }
            WidgetLayout::PerPage { widgets } => (
                widgets.iter().map(|(page, _)| *page).collect(),
                vec![ImagePart::Whole; widgets.len()],
            ),
            WidgetLayout::CrossPage { pages, .. } => (
                pages.clone(),
                (0..pages.len())
                    .map(|index| ImagePart::Slice {
                        index,
                        count: pages.len(),
                    })
                    .collect(),
            ),
        };
        if pages_1based.is_empty() {
            return Err(PdfError::BadPlacement {
                detail: "没有指定页码".into(),
            });
        }
        if matches!(req.layout, WidgetLayout::CrossPage { .. }) && pages_1based.len() < 2 {
            return Err(PdfError::BadPlacement {
                detail: "骑缝章至少需要 2 页".into(),
            });
        }
        let unique: HashSet<usize> = pages_1based.iter().copied().collect();
        if unique.len() != pages_1based.len() || pages_1based.contains(&0) {
            return Err(PdfError::BadPlacement {
                detail: "页码重复或为 0（页码从 1 开始）".into(),
            });
        }
        let indices: Vec<usize> = pages_1based.iter().map(|p| p - 1).collect();
        let found = find_pages(r, &indices)?;
        let pages: Vec<&PageInfo> = indices
            .iter()
            .map(|i| {
                found
                    .iter()
                    .find(|p| p.index == *i)
                    .ok_or_else(|| PdfError::corrupt("页面缺失"))
            })
            .collect::<Result<_, _>>()?;
        let mut geometry = Vec::with_capacity(pages.len());
        for (i, (page, part)) in pages.iter().zip(&parts).enumerate() {
            let rect = match &req.layout {
                WidgetLayout::SameRect { rect, .. } => *rect,
                WidgetLayout::PerPage { widgets } => widgets[i].1,
                WidgetLayout::CrossPage {
                    y, width, height, ..
                } => {
                    let slice = width / pages.len() as f64;
                    let (dw, _) = displayed_size(page);
                    PageRect {
                        x: dw - slice,
                        y: *y,
                        w: slice,
                        h: *height,
                    }
                }
            };
            let (user, matrix) = to_user_space(page, &rect)?;
            geometry.push((user, matrix, rect, *part));
        }

        // AcroForm and a unique field name.
        let acroform_entry = catalog.get(b"AcroForm").cloned();
        let (acroform_ref, mut acroform) = match &acroform_entry {
            Some(Object::Ref(a)) => (Some(*a), r.dict(*a)?),
            Some(Object::Dict(d)) => (None, d.clone()),
            _ => (None, Dict::new()),
        };
        let fields_entry = acroform.get(b"Fields").cloned();
        let (fields_ref, mut fields) = match &fields_entry {
            Some(Object::Ref(f)) => match r.object_shallow(*f)? {
                Object::Array(a) => (Some(*f), a),
                _ => (Some(*f), Vec::new()),
            },
            Some(Object::Array(a)) => (None, a.clone()),
            _ => (None, Vec::new()),
        };
        let field_name = unique_field_name(r, &fields)?;
        let xmp_needed = metadata_needs_fresh_packet(r, &catalog)?;

        // Object numbers: above every number used anywhere in the file (not just `/Size`,
        // which some writers get wrong), with room for all we add plus the xref stream.
        let mut next = match self.next_number_override.take() {
            Some(forced) => forced,
            None => r.next_free_number()?,
        };
        let needed = 6 + 2 * pages.len() as u64;
        if u64::from(next) + needed >= u64::from(u32::MAX) {
            return Err(PdfError::ObjectNumbersExhausted);
        }
        let mut alloc = || {
            let n = next;
            next += 1;
            n
        };
        let image_num = alloc();
        let mask_num = image.mask.as_ref().map(|_| alloc());
        let sig_num = alloc();
        let merged = pages.len() == 1;
        let field_num = if merged { None } else { Some(alloc()) };
        let widget_nums: Vec<(u32, u32)> = pages.iter().map(|_| (alloc(), alloc())).collect();
        let new_acroform_num = if acroform_ref.is_none() {
            Some(alloc())
        } else {
            None
        };
        let xmp_num = xmp_needed.then(&mut alloc);

        // Assemble the update.
        let base = self.safe_len;
        let last = self.reader.read_at(base.saturating_sub(1), 1)?;
        let mut up = UpdateBuilder::new(base, last != b"\n" && last != b"\r");
        let mut color = image.color.clone();
        if let (Some(m), Object::Stream(d, _)) = (mask_num, &mut color) {
            d.set(b"SMask", Object::r(m));
        }
        up.add(image_num, 0, &color);
        if let (Some(m), Some(mask)) = (mask_num, &image.mask) {
            up.add(m, 0, mask);
        }
        let (sig_body, br_at, contents_at) = signature_dict(req);
        let sig_start = up.add_raw(sig_num, 0, &sig_body);

        let field_ref = field_num.unwrap_or(widget_nums[0].1);
        let mut page_annots: Vec<(ObjRef, Dict, u32)> = Vec::new();
        for ((page, (user, matrix, rect, part)), (form_num, widget_num)) in
            pages.iter().zip(&geometry).zip(&widget_nums)
        {
            let (w, h) = (rect.w, rect.h);
            up.add(
                *form_num,
                0,
                &appearance_stream(w, h, *matrix, *part, Object::r(image_num)),
            );
            let mut widget = Dict::new()
                .with(b"Type", Object::name("Annot"))
                .with(b"Subtype", Object::name("Widget"))
                .with(
                    b"Rect",
                    Object::Array(
                        [user.x0, user.y0, user.x1, user.y1]
                            .iter()
                            .map(|v| Object::real(*v))
                            .collect(),
                    ),
                )
                .with(b"F", Object::Int(132))
                .with(b"P", Object::Ref(page.id))
                .with(
                    b"AP",
                    Object::Dict(Dict::new().with(b"N", Object::r(*form_num))),
                );
            if merged {
                widget.set(b"FT", Object::name("Sig"));
                widget.set(b"T", Object::text(&field_name));
                widget.set(b"V", Object::r(sig_num));
            } else {
                // /V is inheritable; repeating it on each widget lets readers that build a
                // field per widget (poppler) find the signature too.
                widget.set(b"Parent", Object::r(field_ref));
                widget.set(b"V", Object::r(sig_num));
            }
            up.add(*widget_num, 0, &Object::Dict(widget));
            page_annots.push((page.id, page.dict.clone(), *widget_num));
        }
        if let Some(f) = field_num {
            let kids = widget_nums.iter().map(|(_, w)| Object::r(*w)).collect();
            let field = Dict::new()
                .with(b"FT", Object::name("Sig"))
                .with(b"T", Object::text(&field_name))
                .with(b"V", Object::r(sig_num))
                .with(b"Kids", Object::Array(kids));
            up.add(f, 0, &Object::Dict(field));
        }
        // Pages: add the widgets to /Annots (in the page, or in its indirect array).
        for (page_id, mut page_dict, widget_num) in page_annots {
            match page_dict.get(b"Annots").cloned() {
                Some(Object::Ref(a)) => {
                    let mut arr = match self.reader.object_shallow(a)? {
                        Object::Array(arr) => arr,
                        _ => Vec::new(),
                    };
                    arr.push(Object::r(widget_num));
                    up.add(a.num, a.gen, &Object::Array(arr));
                }
                Some(Object::Array(mut arr)) => {
                    arr.push(Object::r(widget_num));
                    page_dict.set(b"Annots", Object::Array(arr));
                    up.add(page_id.num, page_id.gen, &Object::Dict(page_dict));
                }
                _ => {
                    page_dict.set(b"Annots", Object::Array(vec![Object::r(widget_num)]));
                    up.add(page_id.num, page_id.gen, &Object::Dict(page_dict));
                }
            }
        }
        // AcroForm: append the field, set SigFlags 3 (signatures exist, append only).
        fields.push(Object::r(field_ref));
        match fields_ref {
            Some(f) => up.add(f.num, f.gen, &Object::Array(fields)),
            None => acroform.set(b"Fields", Object::Array(fields)),
        }
        acroform.set(b"SigFlags", Object::Int(3));
        let mut catalog_changed = false;
        match (acroform_ref, new_acroform_num) {
            (Some(a), _) => up.add(a.num, a.gen, &Object::Dict(acroform)),
            (None, Some(n)) => {
                up.add(n, 0, &Object::Dict(acroform));
                catalog.set(b"AcroForm", Object::r(n));
                catalog_changed = true;
            }
            (None, None) => return Err(PdfError::corrupt("内部错误：AcroForm 编号")),
        }
        // Malformed XMP (validators refuse later revisions over it): a fresh packet, as
        // pyHanko's signer writes one.
        if let Some(n) = xmp_num {
            let packet = crate::xmp::fresh_packet("BidSeal", &xmp_date(req.time));
            let dict = Dict::new()
                .with(b"Type", Object::name("Metadata"))
                .with(b"Subtype", Object::name("XML"));
            up.add(n, 0, &Object::Stream(dict, packet));
            catalog.set(b"Metadata", Object::r(n));
            catalog_changed = true;
        }
        if catalog_changed {
            up.add(root_ref.num, root_ref.gen, &Object::Dict(catalog));
        }

        let prev = self
            .reader
            .sections()
            .first()
            .map(|s| s.offset)
            .unwrap_or(0);
        let as_stream = self.reader.sections().first().is_some_and(|s| s.is_stream);
        let finished = up.finish(self.reader.trailer(), prev, next, as_stream);
        let mut bytes = finished.bytes;

        // Byte range: everything except the `<…>` of /Contents.
        let lt = sig_start + contents_at; // index of '<' in `bytes`
        let gt = lt + 1 + 2 * req.contents_capacity; // index of '>'
        let total = base + bytes.len() as u64;
        let a = base + lt as u64;
        let b = base + gt as u64 + 1;
        let byte_range = [0, a, b, total - b];
        let br_text = format!("[0 {} {} {}]", byte_range[1], byte_range[2], byte_range[3]);
        let slot = sig_start + br_at;
        if br_text.len() > BYTE_RANGE_WIDTH {
            return Err(PdfError::corrupt("ByteRange 过长"));
        }
        let padded = format!("{br_text:<BYTE_RANGE_WIDTH$}");
        bytes[slot..slot + BYTE_RANGE_WIDTH].copy_from_slice(padded.as_bytes());

        let mut hasher = self.prefix_hash.clone();
        hasher.update(&bytes[..lt]);
        hasher.update(&bytes[gt + 1..]);
        let digest: [u8; 32] = hasher.finalize().into();

        self.file
            .seek(SeekFrom::Start(base))
            .map_err(io(&self.path))?;
        self.file.write_all(&bytes).map_err(io(&self.path))?;
        self.file.set_len(total).map_err(io(&self.path))?;
        if let Err(e) = self.self_check(total, &pages_1based) {
            self.file.set_len(base).map_err(io(&self.path))?;
            return Err(e);
        }
        let pending = PendingSeal {
            base_len: base,
            update_len: bytes.len() as u64,
            byte_range,
            contents_offset: a + 1,
            contents_capacity: req.contents_capacity,
            digest,
            field_name,
            xref_offset: finished.xref_offset,
            entries: finished.entries,
            xref_is_stream: finished.is_stream,
        };
        self.pending = Some((pending.clone(), bytes, finished.trailer));
        Ok(pending)
    }

    /// Re-reads the update just written (a fresh reader over the working copy) and compares
    /// it with the finalized part using the verifier's diff: anything but one new signature
    /// field with its widgets/appearances, the catalog/AcroForm entries it needs, XMP, and the
    /// `/Annots` of the sealed pages is refused.
    fn self_check(&mut self, total: u64, sealed_pages: &[usize]) -> Result<(), PdfError> {
        let handle = File::open(&self.path).map_err(io(&self.path))?;
        let mut written = PdfReader::from_file(&self.path, handle, total)?;
        let changes = crate::diff::changes_between(
            &mut self.reader,
            &mut written,
            crate::diff::Policy::SealedBid,
        )?;
        let mut problems: Vec<String> = changes
            .iter()
            .filter(|c| !c.allowed)
            .map(|c| c.description.clone())
            .collect();
        for c in changes.iter().filter(|c| c.allowed) {
            if let Some(p) = c.page.filter(|p| !sealed_pages.contains(p)) {
                problems.push(format!("改动了未盖章的第 {p} 页"));
            }
        }
        if !changes
            .iter()
            .any(|c| c.allowed && c.description.starts_with("新增签名域"))
        {
            problems.push("更新中没有新的签名域".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            problems.sort();
            problems.dedup();
            Err(PdfError::SelfCheck {
                detail: problems.join("；"),
            })
        }
    }

    /// Phase 3: writes the CMS SignedData (DER) into the reserved `/Contents`.
    pub fn finalize(&mut self, pending: &PendingSeal, cms_der: &[u8]) -> Result<(), PdfError> {
        let Some((mine, mut bytes, trailer)) = self.pending.take() else {
            return Err(PdfError::WorkingCopyChanged {
                detail: "没有待完成的签章".into(),
            });
        };
        if mine != *pending {
            self.pending = Some((mine, bytes, trailer));
            return Err(PdfError::WorkingCopyChanged {
                detail: "待完成的签章与记录不符".into(),
            });
        }
        if cms_der.len() > pending.contents_capacity {
            let err = PdfError::SignatureTooLarge {
                needed: cms_der.len(),
                reserved: pending.contents_capacity,
            };
            self.pending = Some((mine, bytes, trailer));
            return Err(err);
        }
        let hex: Vec<u8> = cms_der
            .iter()
            .flat_map(|b| {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]
            })
            .collect();
        let local = (pending.contents_offset - pending.base_len) as usize;
        bytes[local..local + hex.len()].copy_from_slice(&hex);
        self.file
            .seek(SeekFrom::Start(pending.contents_offset))
            .map_err(io(&self.path))?;
        self.file.write_all(&hex).map_err(io(&self.path))?;
        self.prefix_hash.update(&bytes);
        self.safe_len = pending.base_len + pending.update_len;
        if trailer.get(b"Root").is_some() {
            let entries: Vec<(u32, u64)> =
                pending.entries.iter().map(|(n, _, o)| (*n, *o)).collect();
            let section = XrefSection {
                offset: pending.xref_offset,
                is_stream: pending.xref_is_stream,
                entries: entries
                    .iter()
                    .map(|&(num, offset)| (num, XrefEntry::InFile { offset, gen: 0 }))
                    .collect(),
            };
            self.reader
                .apply_update(self.safe_len, section, &entries, trailer);
        } else {
            // Resumed in another process: re-read the cross-reference chain.
            let handle = File::open(&self.path).map_err(io(&self.path))?;
            self.reader = PdfReader::from_file(&self.path, handle, self.safe_len)?;
        }
        Ok(())
    }

    /// Keeps the working copy on disk (with its pending seal, if any) for [`WorkingCopy::resume`]
    /// in another process, and returns its path. The caller now owns the file.
    pub fn persist(mut self) -> Result<PathBuf, PdfError> {
        self.file.sync_all().map_err(io(&self.path))?;
        self.committed = true;
        Ok(self.path.clone())
    }

    /// Drops a pending seal: the working copy is truncated back to its safe length.
    pub fn abandon(&mut self) -> Result<(), PdfError> {
        self.pending = None;
        self.file.set_len(self.safe_len).map_err(io(&self.path))
    }

    /// Runs prepare → sign (with `signer`) → finalize; abandons on any failure.
    pub async fn seal(
        &mut self,
        mut req: SealRequest,
        signer: &dyn Signer,
    ) -> Result<PendingSeal, PdfError> {
        let chain = signer.certificate_chain().to_vec();
        let certs: usize = chain.iter().map(|c| c.der().len()).sum();
        req.contents_capacity = req.contents_capacity.max(certs + CONTENTS_SLACK);
        let pending = self.prepare(&req)?;
        let result = async {
            let attrs = SignedAttributes::new(pending.digest, chain, AttributeProfile::Pades)?;
            let request = SignRequest {
                to_be_signed: attrs.to_be_signed()?,
                content_digest: pending.digest,
                description: format!("{} · {}", req.kind.label(), pending.field_name),
            };
            let signature = signer.sign(&request).await?;
            let cms = attrs.assemble(&signature)?;
            self.finalize(&pending, &cms)
        }
        .await;
        if let Err(e) = result {
            let _ = self.abandon();
            return Err(e);
        }
        Ok(pending)
    }

    /// Fsyncs the working copy and renames it to `output` (atomic on one file system).
    pub fn commit(mut self, output: &Path) -> Result<(), PdfError> {
        if self.pending.is_some() {
            self.abandon()?;
        }
        self.file.set_len(self.safe_len).map_err(io(&self.path))?;
        if let Some(flusher) = self.flusher.take() {
            flusher
                .join()
                .map_err(|_| PdfError::corrupt("写盘线程异常退出"))?
                .map_err(io(&self.path))?;
        }
        self.file.sync_all().map_err(io(&self.path))?;
        std::fs::rename(&self.path, output).map_err(io(output))?;
        if let Some(dir) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for WorkingCopy {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(unix)]
fn make_owner_writable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path)?.permissions();
    perms.set_mode(perms.mode() | 0o600);
    std::fs::set_permissions(path, perms)
}

#[cfg(not(unix))]
fn make_owner_writable(path: &Path) -> std::io::Result<()> {
    let mut perms = std::fs::metadata(path)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms)
}

/// Streams SHA-256 over the first `len` bytes of a file.
fn hash_file_prefix(path: &Path, len: u64) -> Result<Sha256, PdfError> {
    let mut f = File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut left = len;
    while left > 0 {
        let n = (left.min(COPY_CHUNK as u64)) as usize;
        f.read_exact(&mut buf[..n]).map_err(io(path))?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher)
}

/// Phase 2 on its own: SHA-256 over a `/ByteRange` of a file, streamed.
pub fn byte_range_digest(path: &Path, range: &[u64; 4]) -> Result<[u8; 32], PdfError> {
    let mut f = File::open(path).map_err(io(path))?;
    let len = f.metadata().map_err(io(path))?.len();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_CHUNK];
    for pair in range.chunks(2) {
        let (start, count) = (pair[0], pair[1]);
        if start.checked_add(count).is_none_or(|end| end > len) {
            return Err(PdfError::corrupt("ByteRange 超出文件范围"));
        }
        f.seek(SeekFrom::Start(start)).map_err(io(path))?;
        let mut left = count;
        while left > 0 {
            let n = left.min(COPY_CHUNK as u64) as usize;
            f.read_exact(&mut buf[..n]).map_err(io(path))?;
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
    }
    Ok(hasher.finalize().into())
}

/// The signature dictionary with placeholders; returns (body, index of the ByteRange slot,
/// index of the `<` of /Contents).
fn signature_dict(req: &SealRequest) -> (Vec<u8>, usize, usize) {
    let mut b = Vec::with_capacity(2 * req.contents_capacity + 512);
    b.extend_from_slice(
        b"<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange ",
    );
    let br_at = b.len();
    b.extend_from_slice(&[b' '; BYTE_RANGE_WIDTH]);
    b.extend_from_slice(b" /Contents ");
    let contents_at = b.len();
    b.push(b'<');
    b.resize(b.len() + 2 * req.contents_capacity, b'0');
    b.push(b'>');
    let mut rest = Dict::new()
        .with(b"M", Object::Str(pdf_date(req.time).into_bytes()))
        .with(b"Reason", Object::text(req.kind.label()));
    if !req.signer_name.is_empty() {
        rest.set(b"Name", Object::text(&req.signer_name));
    }
    rest.set(
        b"Prop_Build",
        Object::Dict(Dict::new().with(
            b"App",
            Object::Dict(Dict::new().with(b"Name", Object::name("BidSeal"))),
        )),
    );
    for (k, v) in &rest.0 {
        b.push(b' ');
        Object::Name(k.clone()).write_to(&mut b);
        b.push(b' ');
        v.write_to(&mut b);
    }
    b.extend_from_slice(b">>");
    (b, br_at, contents_at)
}

/// `D:YYYYMMDDHHmmSSZ` in UTC.
pub fn pdf_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (y, m, d, hh, mm, ss) = crate::date::utc_parts(secs);
    format!("D:{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z")
}

/// `YYYY-MM-DDThh:mm:ssZ` (XMP dates) from the PDF date of `t`.
fn xmp_date(t: SystemTime) -> String {
    let d = pdf_date(t);
    let n = |a: usize, b: usize| d.get(a..b).unwrap_or("00");
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        n(2, 6),
        n(6, 8),
        n(8, 10),
        n(10, 12),
        n(12, 14),
        n(14, 16)
    )
}

/// True when the catalog has `/Metadata` that is not a well-formed XMP packet (or cannot be
/// read): the seal then writes a fresh packet.
fn metadata_needs_fresh_packet(r: &mut PdfReader, catalog: &Dict) -> Result<bool, PdfError> {
    let Some(meta) = catalog.get(b"Metadata") else {
        return Ok(false);
    };
    let obj = match meta {
        Object::Ref(m) => r.object(*m).unwrap_or(Object::Null),
        other => other.clone(),
    };
    Ok(match obj {
        Object::Stream(d, raw) => !crate::reader::decode_stream(&d, &raw)
            .is_ok_and(|x| crate::xmp::is_well_formed_xmp(&x)),
        _ => true,
    })
}

fn refuse_certified(r: &mut PdfReader, catalog: &Dict) -> Result<(), PdfError> {
    let Some(perms) = catalog.get(b"Perms") else {
        return Ok(());
    };
    let perms = r.resolve(perms)?;
    let Some(docmdp) = perms.as_dict().and_then(|p| p.get(b"DocMDP")).cloned() else {
        return Ok(());
    };
    let sig = r.resolve(&docmdp)?;
    let Some(Object::Array(refs)) = sig.as_dict().and_then(|d| d.get(b"Reference")).cloned() else {
        return Ok(());
    };
    for item in refs.iter().take(16) {
        let item = r.resolve(item)?;
        let Some(d) = item.as_dict() else { continue };
        if d.name(b"TransformMethod") != Some(b"DocMDP") {
            continue;
        }
        let params = match d.get(b"TransformParams") {
            Some(p) => r.resolve(p)?,
            None => Object::Null,
        };
        // P defaults to 2 when absent. P=2 allows signing existing fields only; a seal adds
        // a field and widgets, which needs P=3 (annotations).
        match params.as_dict().and_then(|p| p.int(b"P")).unwrap_or(2) {
            1 => return Err(PdfError::Certified),
            2 => return Err(PdfError::CertifiedFormsOnly),
            _ => {}
        }
    }
    Ok(())
}

/// `BidSealN` with the smallest N not used by a top-level field.
fn unique_field_name(r: &mut PdfReader, fields: &[Object]) -> Result<String, PdfError> {
    let mut names = HashSet::new();
    for f in fields.iter().take(100_000) {
        if let Ok(field) = r.resolve(f) {
            if let Some(Object::Str(t)) = field.as_dict().and_then(|d| d.get(b"T")) {
                names.insert(crate::object::decode_text(t));
            }
        }
    }
    Ok((1..)
        .map(|n| format!("BidSeal{n}"))
        .find(|n| !names.contains(n))
        .unwrap_or_default())
}
