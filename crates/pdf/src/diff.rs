//! What changed between two revisions of one PDF file, judged by the sealed-bid policy.
//!
//! What it is for: `verify` asks it what was changed after each signature, and `seal` asks it
//! to re-read its own update before anything is signed (a collision with an existing object
//! number must never replace document content). Both sides are real [`PdfReader`]s over the
//! same file: `old` sees the bytes up to one revision boundary, `new` a later boundary.
//!
//! Every object a later cross-reference section defines (each definition, not only the one
//! that wins) is loaded in both versions, dictionary *and stream data*, and compared. Equal
//! objects are ignored. A changed or added object is acceptable only when it is one of:
//! a new signature field (`/FT /Sig`, a new object) with its new widgets, new signature value
//! (`/Type /Sig` or `/DocTimeStamp`) and new appearance objects; a page whose only change is
//! `/Annots` gaining exactly such widgets (old entries kept, in order); the catalog changing
//! only `/AcroForm`, `/DSS` or `/Metadata`; the AcroForm changing only `/Fields` (old entries
//! kept) and `/SigFlags`; DSS/VRI validation data; a well-formed XMP packet at `/Metadata`;
//! the `/Info` dictionary; new cross-reference and object streams; new objects that a walk of
//! the whole document from the trailer does not reach (writers' leftovers). Anything else — a content
//! stream, font or image replaced even with an identical dictionary and `/Length`, a page
//! attribute, any non-widget annotation, a widget that is not a new signature field's, an
//! appearance that overrides an existing object, a deleted object — is a violation, described
//! in zh-CN with the page it affects. [`Policy::AnnotationsAllowed`] additionally accepts new
//! annotations of any kind (pyHanko's "annotations" level); it is never the default.
//!
//! Guarantees: bounded work (walks are limited, stream data at most
//! [`crate::reader::MAX_DECODED`] per object); an object that cannot be read counts as changed.
//! Does not: interpret content streams, or judge the first revision (nothing precedes it).

use crate::error::PdfError;
use crate::object::{Dict, ObjRef, Object};
use crate::reader::{PdfReader, XrefEntry};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Which later changes are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Sealed bid: only new signatures (fields, widgets, appearances), DSS, XMP, /Info.
    #[default]
    SealedBid,
    /// Also new annotations of any kind (for non-bid uses; `bidseal verify --lenient`).
    AnnotationsAllowed,
}

/// One change found between two revisions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The policy accepts it.
    pub allowed: bool,
    /// What changed, zh-CN (e.g. "签名后页面内容被替换：第 1 页").
    pub description: String,
    /// The page it concerns (1-based), when known.
    pub page: Option<usize>,
    /// The object number, when one object is concerned.
    pub object: Option<u32>,
}

impl Change {
    fn ok(description: impl Into<String>, page: Option<usize>, object: Option<u32>) -> Self {
        Self {
            allowed: true,
            description: description.into(),
            page,
            object,
        }
    }

    fn bad(description: impl Into<String>, page: Option<usize>, object: Option<u32>) -> Self {
        Self {
            allowed: false,
            description: description.into(),
            page,
            object,
        }
    }
}

const WALK_BUDGET: usize = 200_000;
const ROLE_DEPTH: usize = 6;

/// The role an object plays in the old revision's pages (for precise messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    PageTree,
    Page(usize),
    Contents(usize),
    Resources(usize),
    Font(usize),
    Image(usize),
    Form(usize),
    Annots(usize),
    Annot(usize),
    Catalog,
}

/// Everything changed from `old` to `new` (both readers of the same file; `new`'s chain must
/// extend `old`'s). A chain that does not extend is itself reported as a violation.
pub fn changes_between(
    old: &mut PdfReader,
    new: &mut PdfReader,
    policy: Policy,
) -> Result<Vec<Change>, PdfError> {
    let old_offsets: Vec<u64> = old.sections().iter().map(|s| s.offset).collect();
    let new_offsets: Vec<u64> = new.sections().iter().map(|s| s.offset).collect();
    if new_offsets.len() < old_offsets.len()
        || new_offsets[new_offsets.len() - old_offsets.len()..] != old_offsets[..]
    {
        return Ok(vec![Change::bad(
            "签名后的修订没有接在签名版本之后（交叉引用链被改写，可能回退或替换了已签内容）",
            None,
            None,
        )]);
    }
    let later = new_offsets.len() - old_offsets.len();
    // Every definition in a later section, newest first.
    let mut defs: BTreeMap<u32, Vec<XrefEntry>> = BTreeMap::new();
    let mut xref_stream_offsets = HashSet::new();
    for s in &new.sections()[..later] {
        if s.is_stream {
            xref_stream_offsets.insert(s.offset);
        }
        for (num, e) in &s.entries {
            let v = defs.entry(*num).or_default();
            if !v.contains(e) {
                v.push(*e);
            }
        }
    }
    let mut j = Judge {
        old,
        new,
        policy,
        out: Vec::new(),
        roles: None,
        page_index: None,
    };
    j.run(&defs, &xref_stream_offsets)?;
    let mut out = j.out;
    out.sort();
    out.dedup();
    Ok(out)
}

struct Judge<'a> {
    old: &'a mut PdfReader,
    new: &'a mut PdfReader,
    policy: Policy,
    out: Vec<Change>,
    roles: Option<HashMap<u32, Role>>,
    page_index: Option<HashMap<u32, usize>>,
}

fn is_new_in(old: &PdfReader, num: u32) -> bool {
    matches!(old.entry(num), None | Some(XrefEntry::Free))
}

fn dict_of(o: &Object) -> Option<&Dict> {
    o.as_dict()
}

fn key_name(k: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(k))
}

/// Keys whose values differ between two dictionaries, sorted. Linear in the number of keys
/// (hash lookups: a catalog with 100 000 keys must not take minutes); the parser already
/// refused duplicate keys, so each key maps to one value.
fn changed_keys(a: &Dict, b: &Dict) -> Vec<Vec<u8>> {
    let index = |d: &Dict| -> HashMap<Vec<u8>, usize> {
        d.0.iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect()
    };
    let (ia, ib) = (index(a), index(b));
    let differs = |k: &Vec<u8>| {
        let va = ia.get(k).map(|&n| &a.0[n].1);
        let vb = ib.get(k).map(|&n| &b.0[n].1);
        va != vb
    };
    let mut keys: Vec<Vec<u8>> = ia
        .keys()
        .chain(ib.keys().filter(|k| !ia.contains_key(*k)))
        .filter(|k| differs(k))
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Every reference inside a direct object (not following them).
fn refs_in(o: &Object, out: &mut Vec<ObjRef>) {
    match o {
        Object::Ref(r) => out.push(*r),
        Object::Array(a) => a.iter().for_each(|x| refs_in(x, out)),
        Object::Dict(d) | Object::Stream(d, _) => d.0.iter().for_each(|(_, v)| refs_in(v, out)),
        _ => {}
    }
}

impl Judge<'_> {
    fn load_old(&mut self, num: u32) -> Object {
        self.old.object(ObjRef::new(num)).unwrap_or(Object::Null)
    }

    fn load_new(&mut self, num: u32) -> Result<Object, ()> {
        self.new.object(ObjRef::new(num)).map_err(|_| ())
    }

    fn resolve_old(&mut self, o: &Object) -> Object {
        self.old.resolve(o).unwrap_or(Object::Null)
    }

    fn resolve_new(&mut self, o: &Object) -> Object {
        self.new.resolve(o).unwrap_or(Object::Null)
    }

    fn run(
        &mut self,
        defs: &BTreeMap<u32, Vec<XrefEntry>>,
        xref_stream_offsets: &HashSet<u64>,
    ) -> Result<(), PdfError> {
        // 1. Load both versions of every redefined object; keep those that really changed.
        let mut changed: BTreeMap<u32, (Object, Object)> = BTreeMap::new();
        for (&num, entries) in defs {
            let old = self.load_old(num);
            let effective = self.new.entry(num);
            let new = match self.load_new(num) {
                Ok(o) => o,
                Err(()) => {
                    self.out.push(Change::bad(
                        format!("签名后新增的对象 {num} 无法读取"),
                        None,
                        Some(num),
                    ));
                    continue;
                }
            };
            // A definition shadowed by a newer one in the same span of revisions: it was in
            // force for a while (and is what a lax reader may pick), so it must not alter an
            // existing object either.
            for e in entries.iter().filter(|e| Some(**e) != effective) {
                if matches!(old, Object::Null) {
                    continue;
                }
                let shadowed = self.new.object_version(num, *e).unwrap_or(Object::Null);
                let same_dict = |o: &Object| {
                    dict_of(o)
                        .zip(dict_of(&shadowed))
                        .is_some_and(|(a, b)| a == b)
                };
                let equal = match (&shadowed, &old) {
                    (Object::Stream(..), _) => false, // data not comparable here: be strict
                    (s, o) => s == o || same_dict(o),
                };
                let as_new = match (&shadowed, &new) {
                    (Object::Stream(..), _) => false,
                    (s, n) => s == n || same_dict(n),
                };
                if !equal && !as_new && !matches!(old, Object::Dict(_) | Object::Array(_)) {
                    self.out.push(Change::bad(
                        format!("签名后对象 {num} 在中间修订中被重新定义（被后续修订遮蔽）"),
                        None,
                        Some(num),
                    ));
                }
            }
            if old == new {
                continue;
            }
            if matches!(effective, Some(XrefEntry::InFile { offset, .. }) if xref_stream_offsets.contains(&offset))
                && is_new_in(self.old, num)
            {
                continue; // the cross-reference stream of a later section itself
            }
            changed.insert(num, (old, new));
        }
        if changed.is_empty() {
            return Ok(());
        }
        let mut explained: HashSet<u32> = HashSet::new();

        // 2. Trailer: the catalog must stay the same object.
        let old_root = self.old.trailer().reference(b"Root");
        let new_root = self.new.trailer().reference(b"Root");
        if old_root != new_root {
            self.out.push(Change::bad(
                "签名后文档目录（/Root）被替换为另一个对象",
                None,
                new_root.map(|r| r.num),
            ));
        }
        let root_num = new_root.map(|r| r.num);
        let old_catalog = match old_root {
            Some(r) => self.old.dict(r).unwrap_or_default(),
            None => Dict::new(),
        };
        let new_catalog = match new_root {
            Some(r) => self.new.dict(r).unwrap_or_default(),
            None => Dict::new(),
        };
        if let Some(n) = root_num.filter(|n| changed.contains_key(n)) {
            explained.insert(n);
            for k in changed_keys(&old_catalog, &new_catalog) {
                match k.as_slice() {
                    // /Version only raises the header version (pyHanko's writer does).
                    b"AcroForm" | b"DSS" | b"Metadata" => {}
                    b"Version" if matches!(new_catalog.get(&k), Some(Object::Name(_))) => {}
                    // Developer extension declarations (pyHanko's signer adds ISO_ 32002).
                    b"Extensions"
                        if new_catalog
                            .get(&k)
                            .is_some_and(|v| matches!(v, Object::Dict(_))) => {}
                    b"Pages" => {
                        self.out
                            .push(Change::bad("签名后页面树（/Pages）被替换", None, Some(n)))
                    }
                    _ => self.out.push(Change::bad(
                        format!("签名后文档目录被修改（{}）", key_name(&k)),
                        None,
                        Some(n),
                    )),
                }
            }
            if !self.out.iter().any(|c| c.object == Some(n) && !c.allowed) {
                self.out
                    .push(Change::ok("文档目录更新（签名所需）", None, Some(n)));
            }
        }

        // 3. AcroForm and the list of fields.
        let (new_fields, widgets) =
            self.judge_form(&old_catalog, &new_catalog, &changed, &mut explained);
        let _ = new_fields;

        // 4. DSS, XMP metadata, /Info.
        self.judge_dss(&new_catalog, &changed, &mut explained);
        self.judge_metadata(&new_catalog, &changed, &mut explained);
        if let Some(info) = self.new.trailer().reference(b"Info") {
            if let Some((_, now)) = changed.get(&info.num) {
                if matches!(now, Object::Dict(_)) {
                    explained.insert(info.num);
                    self.out
                        .push(Change::ok("文档信息（/Info）更新", None, Some(info.num)));
                }
            }
        }

        // 5. Pages and annotation lists.
        let candidates: Vec<u32> = changed
            .iter()
            .filter(|(n, (old, _))| {
                !explained.contains(n)
                    && (matches!(old, Object::Array(_))
                        || dict_of(old).is_some_and(|d| d.name(b"Type") == Some(b"Page")))
            })
            .map(|(n, _)| *n)
            .collect();
        for num in candidates {
            let (old, new) = changed[&num].clone();
            match (&old, &new) {
                (Object::Array(a), Object::Array(b)) => {
                    if let Some(Role::Annots(page)) = self.role(num) {
                        explained.insert(num);
                        self.judge_annots(page, a, b, &widgets, &mut explained);
                    }
                }
                (Object::Dict(a), _) => {
                    explained.insert(num);
                    let page = self.page_number(num);
                    let Some(b) = dict_of(&new) else {
                        self.out.push(Change::bad(
                            format!("签名后页面对象被删除或替换：{}", page_text(page)),
                            page,
                            Some(num),
                        ));
                        continue;
                    };
                    self.judge_page(num, page, a, b, &widgets, &mut explained);
                }
                _ => {}
            }
        }

        // 6. Object and cross-reference streams that are new.
        for (num, (old, new)) in &changed {
            if explained.contains(num) || !matches!(old, Object::Null) {
                continue;
            }
            if dict_of(new)
                .is_some_and(|d| matches!(d.name(b"Type"), Some(b"ObjStm") | Some(b"XRef")))
            {
                explained.insert(*num);
            }
        }

        // 7. New objects nothing in the document refers to (a writer's leftovers, e.g. the
        // placeholder appearance pyHanko replaces when it signs) cannot be displayed: accepted
        // when a full walk from the trailer does not reach them. Objects the old revision
        // referred to without defining them (dangling references) are reached and judged.
        let orphans: HashSet<u32> = changed
            .iter()
            .filter(|(n, (old, _))| !explained.contains(n) && matches!(old, Object::Null))
            .map(|(n, _)| *n)
            .collect();
        if !orphans.is_empty() {
            if let Some(reached) = self.reachable(&orphans) {
                for n in orphans.difference(&reached) {
                    explained.insert(*n);
                    self.out
                        .push(Change::ok("新增未被引用的对象（不显示）", None, Some(*n)));
                }
            }
        }

        // 8. Everything left is a violation; say what it was.
        let left: Vec<(u32, Object, Object)> = changed
            .iter()
            .filter(|(n, _)| !explained.contains(n))
            .map(|(n, (a, b))| (*n, a.clone(), b.clone()))
            .collect();
        for (num, old, new) in left {
            let change = self.describe_unexplained(num, &old, &new);
            self.out.push(change);
        }
        Ok(())
    }

    /// Judges the AcroForm; returns the new top-level fields and the widgets of new signature
    /// fields (object numbers).
    fn judge_form(
        &mut self,
        old_catalog: &Dict,
        new_catalog: &Dict,
        changed: &BTreeMap<u32, (Object, Object)>,
        explained: &mut HashSet<u32>,
    ) -> (Vec<u32>, HashSet<u32>) {
        let mut widgets = HashSet::new();
        let old_form = match old_catalog.get(b"AcroForm") {
            Some(o) => self.resolve_old(o),
            None => Object::Null,
        };
        let new_form_obj = new_catalog.get(b"AcroForm").cloned();
        let new_form = match &new_form_obj {
            Some(o) => self.resolve_new(o),
            None => Object::Null,
        };
        let empty = Dict::new();
        let old_d = dict_of(&old_form).unwrap_or(&empty).clone();
        let new_d = dict_of(&new_form).unwrap_or(&empty).clone();
        let form_num = match &new_form_obj {
            Some(Object::Ref(r)) => Some(r.num),
            _ => None,
        };
        if old_d != new_d || form_num.is_some_and(|n| changed.contains_key(&n)) {
            if let Some(n) = form_num {
                if changed.contains_key(&n) {
                    explained.insert(n);
                }
            }
            let mut bad = false;
            for k in changed_keys(&old_d, &new_d) {
                if !matches!(k.as_slice(), b"Fields" | b"SigFlags") {
                    bad = true;
                    self.out.push(Change::bad(
                        format!("签名后表单（AcroForm）被修改（{}）", key_name(&k)),
                        None,
                        form_num,
                    ));
                }
            }
            if !bad {
                self.out
                    .push(Change::ok("表单（AcroForm）更新", None, form_num));
            }
        }
        // Fields: old entries kept in order, additions are new signature fields.
        let old_fields = match old_d.get(b"Fields") {
            Some(f) => self.resolve_old(f),
            None => Object::Null,
        };
        let new_fields = match new_d.get(b"Fields") {
            Some(f) => self.resolve_new(f),
            None => Object::Null,
        };
        if let Some(Object::Ref(r)) = new_d.get(b"Fields") {
            if changed.contains_key(&r.num) {
                explained.insert(r.num);
            }
        }
        let old_list = match old_fields {
            Object::Array(a) => a,
            _ => Vec::new(),
        };
        let new_list = match new_fields {
            Object::Array(a) => a,
            _ => Vec::new(),
        };
        if new_list.len() < old_list.len() || new_list[..old_list.len()] != old_list[..] {
            self.out.push(Change::bad(
                "签名后表单域列表被删改（原有的域被移除或替换）",
                None,
                form_num,
            ));
        }
        let mut added = Vec::new();
        for f in new_list.iter().skip(old_list.len()) {
            let Object::Ref(r) = f else {
                self.out
                    .push(Change::bad("签名后新增的表单域不是间接对象", None, None));
                continue;
            };
            if !is_new_in(self.old, r.num) {
                if !old_list.contains(f) {
                    self.out.push(Change::bad(
                        format!("签名后表单域列表加入了已有对象 {}", r.num),
                        None,
                        Some(r.num),
                    ));
                }
                continue;
            }
            added.push(r.num);
            self.judge_new_sig_field(r.num, explained, &mut widgets);
        }
        // Existing empty signature fields that received a value (signing a prepared field).
        let existing: Vec<u32> = changed
            .iter()
            .filter(|(n, (old, _))| {
                !explained.contains(n)
                    && dict_of(old)
                        .is_some_and(|d| d.name(b"FT") == Some(b"Sig") && d.get(b"V").is_none())
            })
            .map(|(n, _)| *n)
            .collect();
        for num in existing {
            let (old, new) = changed[&num].clone();
            let (Some(a), Some(b)) = (dict_of(&old), dict_of(&new)) else {
                continue;
            };
            let keys = changed_keys(a, b);
            let value_new = b
                .reference(b"V")
                .is_some_and(|v| is_new_in(self.old, v.num));
            if value_new && keys.iter().all(|k| matches!(k.as_slice(), b"V" | b"AP")) {
                explained.insert(num);
                let mut budget = WALK_BUDGET;
                self.explain_new_tree(&Object::Dict(b.clone()), explained, &mut budget);
                if b.name(b"Subtype") == Some(b"Widget") {
                    widgets.insert(num);
                }
                self.out
                    .push(Change::ok("已有签名域被签署", None, Some(num)));
            }
        }
        (added, widgets)
    }

    /// A new top-level field: must be a signature field built only of new objects. Its new
    /// objects are accounted to this field either way (one finding, not one per object).
    fn judge_new_sig_field(
        &mut self,
        num: u32,
        explained: &mut HashSet<u32>,
        widgets: &mut HashSet<u32>,
    ) {
        let field = self
            .new
            .object_shallow(ObjRef::new(num))
            .unwrap_or(Object::Null);
        explained.insert(num);
        let mut budget = WALK_BUDGET;
        self.explain_new_tree(&field, explained, &mut budget);
        let Some(d) = dict_of(&field).cloned() else {
            self.out.push(Change::bad(
                format!("签名后新增的表单域 {num} 无效"),
                None,
                Some(num),
            ));
            return;
        };
        if d.name(b"FT") != Some(b"Sig") {
            let ft = d
                .name(b"FT")
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .unwrap_or_else(|| "无类型".into());
            self.out.push(Change::bad(
                format!("签名后新增了非签名表单域（/FT {ft}，对象 {num}）"),
                None,
                Some(num),
            ));
            return;
        }
        if d.get(b"A").is_some() || d.get(b"AA").is_some() {
            self.out.push(Change::bad(
                format!("签名后新增的签名域带有动作（/A 或 /AA，对象 {num}）"),
                None,
                Some(num),
            ));
            return;
        }
        if let Some(v) = d.get(b"V") {
            let ok = match v {
                Object::Ref(r) if is_new_in(self.old, r.num) => {
                    let sig = self.new.object_shallow(*r).unwrap_or(Object::Null);
                    dict_of(&sig).is_some_and(|s| {
                        matches!(s.name(b"Type"), Some(b"Sig") | Some(b"DocTimeStamp"))
                    })
                }
                _ => false,
            };
            if !ok {
                self.out.push(Change::bad(
                    format!("签名后新增签名域的签名值（/V）不是新的签名字典（对象 {num}）"),
                    None,
                    Some(num),
                ));
                return;
            }
        }
        explained.insert(num);
        if d.name(b"Subtype") == Some(b"Widget") {
            widgets.insert(num);
        }
        if let Some(kids) = d.get(b"Kids") {
            let kids = match self.resolve_new(kids) {
                Object::Array(k) => k,
                _ => Vec::new(),
            };
            for kid in kids {
                let Object::Ref(k) = kid else { continue };
                let kd = self.new.object_shallow(k).unwrap_or(Object::Null);
                let ok = is_new_in(self.old, k.num)
                    && dict_of(&kd).is_some_and(|kd| {
                        kd.name(b"Subtype") == Some(b"Widget")
                            && kd.reference(b"Parent").map(|p| p.num) == Some(num)
                            && kd.get(b"T").is_none()
                            && kd.get(b"FT").is_none_or(|ft| ft == &Object::name("Sig"))
                            && kd.get(b"A").is_none()
                            && kd.get(b"AA").is_none()
                    });
                if ok {
                    widgets.insert(k.num);
                } else {
                    self.out.push(Change::bad(
                        format!("签名后新增签名域的子控件无效（对象 {}）", k.num),
                        None,
                        Some(k.num),
                    ));
                }
            }
        }
        let mut budget = WALK_BUDGET;
        self.explain_new_tree(&Object::Dict(d), explained, &mut budget);
        self.out
            .push(Change::ok("新增签名域及其外观", None, Some(num)));
    }

    /// Marks every new object reachable from `root` through new objects as explained.
    fn explain_new_tree(
        &mut self,
        root: &Object,
        explained: &mut HashSet<u32>,
        budget: &mut usize,
    ) {
        let mut stack = Vec::new();
        refs_in(root, &mut stack);
        let mut seen = HashSet::new();
        while let Some(r) = stack.pop() {
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            if !seen.insert(r.num) || !is_new_in(self.old, r.num) {
                continue;
            }
            explained.insert(r.num);
            if let Ok(o) = self.new.object_shallow(r) {
                refs_in(&o, &mut stack);
            }
        }
    }

    fn judge_dss(
        &mut self,
        new_catalog: &Dict,
        changed: &BTreeMap<u32, (Object, Object)>,
        explained: &mut HashSet<u32>,
    ) {
        let Some(dss) = new_catalog.get(b"DSS").cloned() else {
            return;
        };
        let mut stack = vec![dss];
        let mut seen = HashSet::new();
        let mut any = false;
        // DSS data: its own dictionaries and arrays may change; new objects below it are fine.
        while let Some(o) = stack.pop() {
            if seen.len() > 10_000 {
                break;
            }
            match o {
                Object::Ref(r) => {
                    if !seen.insert(r.num) {
                        continue;
                    }
                    let now = self.new.object_shallow(r).unwrap_or(Object::Null);
                    let is_container = matches!(now, Object::Array(_) | Object::Dict(_));
                    if changed.contains_key(&r.num) && (is_new_in(self.old, r.num) || is_container)
                    {
                        explained.insert(r.num);
                        any = true;
                    }
                    if is_container || is_new_in(self.old, r.num) {
                        stack.push(now);
                    }
                }
                Object::Array(a) => stack.extend(a),
                Object::Dict(d) | Object::Stream(d, _) => {
                    stack.extend(d.0.into_iter().map(|(_, v)| v))
                }
                _ => {}
            }
        }
        if any {
            self.out.push(Change::ok("长期验证数据（DSS）", None, None));
        }
    }

    fn judge_metadata(
        &mut self,
        new_catalog: &Dict,
        changed: &BTreeMap<u32, (Object, Object)>,
        explained: &mut HashSet<u32>,
    ) {
        let Some(r) = new_catalog.reference(b"Metadata") else {
            return;
        };
        let Some((_, now)) = changed.get(&r.num) else {
            return;
        };
        let ok = match now {
            Object::Stream(d, raw) if d.name(b"Type") == Some(b"Metadata") => {
                crate::reader::decode_stream(d, raw)
                    .is_ok_and(|x| crate::xmp::is_well_formed_xmp(&x))
            }
            _ => false,
        };
        explained.insert(r.num);
        if ok {
            self.out
                .push(Change::ok("XMP 元数据更新", None, Some(r.num)));
        } else {
            self.out.push(Change::bad(
                "签名后写入的 XMP 元数据无效",
                None,
                Some(r.num),
            ));
        }
    }

    fn judge_page(
        &mut self,
        num: u32,
        page: Option<usize>,
        old: &Dict,
        new: &Dict,
        widgets: &HashSet<u32>,
        explained: &mut HashSet<u32>,
    ) {
        let pt = page_text(page);
        for k in changed_keys(old, new) {
            let msg = match k.as_slice() {
                b"Annots" => continue,
                b"Contents" => format!("签名后页面内容被替换：{pt}（/Contents）"),
                b"Resources" => format!("签名后页面资源被修改：{pt}（/Resources）"),
                b"Type" => format!("签名后页面对象被替换：{pt}"),
                _ => format!("签名后页面属性被修改：{pt}（{}）", key_name(&k)),
            };
            self.out.push(Change::bad(msg, page, Some(num)));
        }
        let old_annots = match old.get(b"Annots") {
            Some(a) => self.resolve_old(a),
            None => Object::Null,
        };
        let new_annots = match new.get(b"Annots") {
            Some(a) => self.resolve_new(a),
            None => Object::Null,
        };
        if let Some(Object::Ref(r)) = new.get(b"Annots") {
            // The page's own (new or updated) annotation array.
            explained.insert(r.num);
        }
        let a = match old_annots {
            Object::Array(a) => a,
            _ => Vec::new(),
        };
        let b = match new_annots {
            Object::Array(b) => b,
            _ => Vec::new(),
        };
        if old.get(b"Annots") != new.get(b"Annots") || a != b {
            self.judge_annots_on(page, num, &a, &b, widgets, explained);
        }
    }

    fn judge_annots(
        &mut self,
        page: usize,
        a: &[Object],
        b: &[Object],
        widgets: &HashSet<u32>,
        explained: &mut HashSet<u32>,
    ) {
        let page_num = self.page_object(page);
        self.judge_annots_on(Some(page), page_num.unwrap_or(0), a, b, widgets, explained);
    }

    fn judge_annots_on(
        &mut self,
        page: Option<usize>,
        page_num: u32,
        a: &[Object],
        b: &[Object],
        widgets: &HashSet<u32>,
        explained: &mut HashSet<u32>,
    ) {
        let pt = page_text(page);
        if b.len() < a.len() || b[..a.len()] != a[..] {
            self.out.push(Change::bad(
                format!("签名后页面注释被删除或替换：{pt}"),
                page,
                Some(page_num),
            ));
        }
        let mut added_widgets = 0;
        for item in b.iter().skip(a.len()) {
            let Object::Ref(r) = item else {
                self.out.push(Change::bad(
                    format!("签名后新增注释：{pt}（直接对象）"),
                    page,
                    None,
                ));
                continue;
            };
            if widgets.contains(&r.num) {
                added_widgets += 1;
                continue;
            }
            let annot = self.new.object_shallow(*r).unwrap_or(Object::Null);
            let subtype = dict_of(&annot)
                .and_then(|d| d.name(b"Subtype"))
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_else(|| "未知".into());
            let new_obj = is_new_in(self.old, r.num);
            if self.policy == Policy::AnnotationsAllowed && new_obj && subtype != "Widget" {
                explained.insert(r.num);
                let mut budget = WALK_BUDGET;
                self.explain_new_tree(&annot, explained, &mut budget);
                self.out.push(Change::ok(
                    format!("新增注释：{pt}（{subtype}，宽松模式允许）"),
                    page,
                    Some(r.num),
                ));
                continue;
            }
            if new_obj {
                // Its own new objects (appearance, fonts) belong to this finding.
                explained.insert(r.num);
                let mut budget = WALK_BUDGET;
                self.explain_new_tree(&annot, explained, &mut budget);
            }
            let msg = if subtype == "Widget" {
                format!(
                    "签名后新增的表单控件不属于新增签名域：{pt}（对象 {}）",
                    r.num
                )
            } else {
                format!("签名后新增注释：{pt}（{subtype}）")
            };
            self.out.push(Change::bad(msg, page, Some(r.num)));
        }
        if added_widgets > 0 {
            self.out.push(Change::ok(
                format!("新增签名控件：{pt}"),
                page,
                Some(page_num),
            ));
        }
    }

    fn describe_unexplained(&mut self, num: u32, old: &Object, new: &Object) -> Change {
        if matches!(old, Object::Null) {
            // A new object nothing acceptable refers to.
            let what = type_label(new);
            return Change::bad(
                format!("签名后新增了未被签名结构引用的对象 {num}（{what}）"),
                None,
                Some(num),
            );
        }
        if matches!(new, Object::Null) {
            let role = self.role(num);
            let page = role.and_then(role_page);
            return Change::bad(
                format!("签名后对象被删除：{}（对象 {num}）", role_text(role, old)),
                page,
                Some(num),
            );
        }
        let role = self.role(num);
        let page = role.and_then(role_page);
        let pt = page_text(page);
        let msg = match role {
            Some(Role::Contents(_)) => format!("签名后页面内容被替换：{pt}（对象 {num}）"),
            Some(Role::Resources(_)) => format!("签名后页面资源被修改：{pt}（对象 {num}）"),
            Some(Role::Font(_)) => format!("签名后字体被替换：{pt}（对象 {num}）"),
            Some(Role::Image(_)) => format!("签名后图像被替换：{pt}（对象 {num}）"),
            Some(Role::Form(_)) => {
                format!("签名后页面使用的表单 XObject 被替换：{pt}（对象 {num}）")
            }
            Some(Role::Annot(_)) => format!("签名后注释被修改：{pt}（对象 {num}）"),
            Some(Role::Annots(_)) => format!("签名后页面注释列表被修改：{pt}（对象 {num}）"),
            Some(Role::Page(_)) => format!("签名后页面对象被修改：{pt}（对象 {num}）"),
            Some(Role::PageTree) => "签名后页面树被修改（增删或替换页面）".into(),
            Some(Role::Catalog) => "签名后文档目录被修改".into(),
            None => format!("签名后对象被修改：对象 {num}（{}）", type_label(old)),
        };
        Change::bad(msg, page, Some(num))
    }

    /// Which of `targets` the new revision reaches from its trailer (None when the walk
    /// exceeds its budget: then nothing counts as unreferenced).
    fn reachable(&mut self, targets: &HashSet<u32>) -> Option<HashSet<u32>> {
        let mut stack = Vec::new();
        refs_in(&Object::Dict(self.new.trailer().clone()), &mut stack);
        let mut seen = HashSet::new();
        let mut reached = HashSet::new();
        while let Some(r) = stack.pop() {
            if !seen.insert(r.num) {
                continue;
            }
            if seen.len() > WALK_BUDGET {
                return None;
            }
            if targets.contains(&r.num) {
                reached.insert(r.num);
            }
            if let Ok(o) = self.new.object_shallow(r) {
                refs_in(&o, &mut stack);
            }
        }
        Some(reached)
    }

    fn page_number(&mut self, num: u32) -> Option<usize> {
        self.ensure_pages();
        self.page_index
            .as_ref()
            .and_then(|m| m.get(&num))
            .map(|i| i + 1)
    }

    fn page_object(&mut self, page: usize) -> Option<u32> {
        self.ensure_pages();
        self.page_index
            .as_ref()
            .and_then(|m| m.iter().find(|(_, i)| **i + 1 == page).map(|(n, _)| *n))
    }

    fn role(&mut self, num: u32) -> Option<Role> {
        self.ensure_roles();
        self.roles.as_ref().and_then(|m| m.get(&num)).copied()
    }

    fn ensure_pages(&mut self) {
        if self.page_index.is_some() {
            return;
        }
        let mut pages = HashMap::new();
        let mut tree = Vec::new();
        if let Some(root) = self.old.trailer().reference(b"Root") {
            if let Some(p) = self.old.dict(root).ok().and_then(|c| c.reference(b"Pages")) {
                let mut seen = HashSet::new();
                collect_pages(self.old, p, 0, &mut seen, &mut pages, &mut tree);
            }
        }
        self.page_index = Some(pages);
    }

    /// Roles of the old revision's objects: pages, their content, resources, annotations.
    fn ensure_roles(&mut self) {
        if self.roles.is_some() {
            return;
        }
        self.ensure_pages();
        let mut roles: HashMap<u32, Role> = HashMap::new();
        let mut tree = Vec::new();
        if let Some(root) = self.old.trailer().reference(b"Root") {
            roles.insert(root.num, Role::Catalog);
            if let Some(p) = self.old.dict(root).ok().and_then(|c| c.reference(b"Pages")) {
                let mut seen = HashSet::new();
                let mut pages = HashMap::new();
                collect_pages(self.old, p, 0, &mut seen, &mut pages, &mut tree);
            }
        }
        // Page tree nodes, with their inherited resources.
        for (num, node) in tree {
            roles.entry(num).or_insert(Role::PageTree);
            if let Some(res) = node.get(b"Resources").cloned() {
                let mut budget = 20_000;
                self.mark_resources(&res, 0, &mut roles, &mut budget);
            }
        }
        let mut pages: Vec<(u32, usize)> = self
            .page_index
            .as_ref()
            .map(|m| m.iter().map(|(n, i)| (*n, *i + 1)).collect())
            .unwrap_or_default();
        pages.sort_by_key(|p| p.1);
        let mut budget = WALK_BUDGET;
        for (num, page) in pages {
            if budget == 0 {
                break;
            }
            roles.insert(num, Role::Page(page));
            let Ok(d) = self.old.dict(ObjRef::new(num)) else {
                continue;
            };
            if let Some(c) = d.get(b"Contents") {
                let mut refs = Vec::new();
                refs_in(c, &mut refs);
                if let Object::Ref(r) = c {
                    if let Ok(Object::Array(a)) = self.old.object_shallow(*r) {
                        a.iter().for_each(|x| refs_in(x, &mut refs));
                    }
                }
                for r in refs {
                    roles.entry(r.num).or_insert(Role::Contents(page));
                }
            }
            if let Some(res) = d.get(b"Resources").cloned() {
                self.mark_resources_on(page, &res, 0, &mut roles, &mut budget);
            }
            if let Some(a) = d.get(b"Annots") {
                if let Object::Ref(r) = a {
                    roles.entry(r.num).or_insert(Role::Annots(page));
                }
                if let Object::Array(items) = self.resolve_old(a) {
                    for it in items {
                        let Object::Ref(r) = it else { continue };
                        roles.entry(r.num).or_insert(Role::Annot(page));
                        if let Ok(ad) = self.old.dict(r) {
                            if let Some(ap) = ad.get(b"AP") {
                                let mut refs = Vec::new();
                                refs_in(&self.resolve_old(ap), &mut refs);
                                for x in refs {
                                    roles.entry(x.num).or_insert(Role::Annot(page));
                                }
                            }
                        }
                    }
                }
            }
        }
        self.roles = Some(roles);
    }

    fn mark_resources(
        &mut self,
        res: &Object,
        depth: usize,
        roles: &mut HashMap<u32, Role>,
        budget: &mut usize,
    ) {
        // Inherited resources: attribute them to page 1 of the subtree is not known; use 0.
        self.mark_resources_on(0, res, depth, roles, budget);
    }

    fn mark_resources_on(
        &mut self,
        page: usize,
        res: &Object,
        depth: usize,
        roles: &mut HashMap<u32, Role>,
        budget: &mut usize,
    ) {
        if depth > ROLE_DEPTH || *budget == 0 {
            return;
        }
        *budget -= 1;
        if let Object::Ref(r) = res {
            roles.entry(r.num).or_insert(Role::Resources(page));
        }
        let Object::Dict(d) = self.resolve_old(res) else {
            return;
        };
        for (cat, sub) in d.0 {
            if let Object::Ref(r) = &sub {
                roles.entry(r.num).or_insert(Role::Resources(page));
            }
            let Object::Dict(entries) = self.resolve_old(&sub) else {
                continue;
            };
            for (_, v) in entries.0 {
                let Object::Ref(r) = v else { continue };
                if roles.contains_key(&r.num) {
                    continue;
                }
                let obj = self.old.object_shallow(r).unwrap_or(Object::Null);
                let role = match cat.as_slice() {
                    b"Font" => Role::Font(page),
                    b"XObject" => match dict_of(&obj).and_then(|d| d.name(b"Subtype")) {
                        Some(b"Form") => Role::Form(page),
                        _ => Role::Image(page),
                    },
                    _ => Role::Resources(page),
                };
                roles.insert(r.num, role);
                // Below: font descriptors and files, image masks, a form's own resources.
                let mut refs = Vec::new();
                refs_in(&obj, &mut refs);
                for x in refs {
                    if *budget == 0 {
                        return;
                    }
                    *budget -= 1;
                    if roles.contains_key(&x.num) {
                        continue;
                    }
                    roles.insert(x.num, role);
                    let sub_obj = self.old.object_shallow(x).unwrap_or(Object::Null);
                    if let Some(sd) = dict_of(&sub_obj) {
                        if role == Role::Font(page) {
                            let mut deeper = Vec::new();
                            refs_in(&Object::Dict(sd.clone()), &mut deeper);
                            for y in deeper {
                                roles.entry(y.num).or_insert(role);
                            }
                        }
                    }
                }
                if let (Role::Form(_), Some(fd)) = (role, dict_of(&obj)) {
                    if let Some(fr) = fd.get(b"Resources").cloned() {
                        self.mark_resources_on(page, &fr, depth + 1, roles, budget);
                    }
                }
            }
        }
    }
}

/// Page objects of the page tree (number → 0-based index) and the tree's inner nodes.
fn collect_pages(
    r: &mut PdfReader,
    node: ObjRef,
    depth: usize,
    seen: &mut HashSet<u32>,
    pages: &mut HashMap<u32, usize>,
    tree: &mut Vec<(u32, Dict)>,
) {
    if depth > 64 || !seen.insert(node.num) || pages.len() > 1_000_000 {
        return;
    }
    let Ok(d) = r.dict(node) else { return };
    let kids = d.get(b"Kids").cloned();
    if d.name(b"Type") == Some(b"Page") || kids.is_none() {
        let index = pages.len();
        pages.insert(node.num, index);
        return;
    }
    tree.push((node.num, d));
    let Some(kids) = kids else { return };
    let Ok(Object::Array(kids)) = r.resolve(&kids) else {
        return;
    };
    for k in kids {
        if let Object::Ref(k) = k {
            collect_pages(r, k, depth + 1, seen, pages, tree);
        }
    }
}

fn page_text(page: Option<usize>) -> String {
    match page {
        Some(p) if p > 0 => format!("第 {p} 页"),
        _ => "页面".into(),
    }
}

fn role_page(r: Role) -> Option<usize> {
    match r {
        Role::Page(p)
        | Role::Contents(p)
        | Role::Resources(p)
        | Role::Font(p)
        | Role::Image(p)
        | Role::Form(p)
        | Role::Annots(p)
        | Role::Annot(p) => (p > 0).then_some(p),
        Role::PageTree | Role::Catalog => None,
    }
}

fn role_text(r: Option<Role>, old: &Object) -> String {
    let p = r.and_then(role_page);
    let pt = page_text(p);
    match r {
        Some(Role::Contents(_)) => format!("{pt}的内容"),
        Some(Role::Resources(_)) => format!("{pt}的资源"),
        Some(Role::Font(_)) => format!("{pt}使用的字体"),
        Some(Role::Image(_)) => format!("{pt}的图像"),
        Some(Role::Form(_)) => format!("{pt}的表单 XObject"),
        Some(Role::Annot(_)) | Some(Role::Annots(_)) => format!("{pt}的注释"),
        Some(Role::Page(_)) => pt,
        Some(Role::PageTree) => "页面树".into(),
        Some(Role::Catalog) => "文档目录".into(),
        None => type_label(old),
    }
}

fn type_label(o: &Object) -> String {
    match o {
        Object::Stream(d, _) | Object::Dict(d) => {
            let kind = if matches!(o, Object::Stream(..)) {
                "流"
            } else {
                "字典"
            };
            match (d.name(b"Type"), d.name(b"Subtype")) {
                (Some(t), Some(s)) => format!(
                    "{}/{}",
                    String::from_utf8_lossy(t),
                    String::from_utf8_lossy(s)
                ),
                (Some(t), None) => String::from_utf8_lossy(t).into_owned(),
                (None, Some(s)) => format!("{kind} {}", String::from_utf8_lossy(s)),
                (None, None) => kind.into(),
            }
        }
        Object::Array(_) => "数组".into(),
        Object::Null => "空".into(),
        _ => "值".into(),
    }
}
