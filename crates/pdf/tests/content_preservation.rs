//! Scenario: documents from many writers, and files with awkward cross-reference structure
//! (made at test time by `tests/corpus/make_corpus.py`), are sealed twice. Every page must
//! render pixel-identical outside the two seal rectangles (pdftoppm), the new objects must be
//! numbered above every object in the file (a merge whose trailer `/Size` is too low once lost
//! pages this way), and qpdf, pdfsig and pyHanko must accept the result.

mod support;

use bidseal_pdf::PageRect;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const R1: PageRect = PageRect {
    x: 300.0,
    y: 600.0,
    w: 90.0,
    h: 90.0,
};
const R2: PageRect = PageRect {
    x: 420.0,
    y: 60.0,
    w: 80.0,
    h: 80.0,
};

/// Runs the corpus generator into `dir/corpus` and returns the files it made (LibreOffice's
/// only when `libreoffice`: it is the slow one).
fn make_corpus(dir: &Path, libreoffice: bool) -> Vec<PathBuf> {
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus).expect("corpus dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/make_corpus.py");
    let o = run_ok(Command::new(python()).arg(script).arg(&corpus).env(
        "BIDSEAL_CORPUS_LIBREOFFICE",
        if libreoffice { "1" } else { "0" },
    ));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|name| corpus.join(name))
        .collect()
}

/// Every page of `file` rendered at 36 dpi: (width, height, RGB bytes).
fn render_all(file: &Path, tag: &str) -> Vec<(usize, usize, Vec<u8>)> {
    let dir = file.parent().expect("parent").join(format!("render-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("render dir");
    run_ok(
        Command::new("pdftoppm")
            .args(["-r", "36", "-png"])
            .arg(file)
            .arg(dir.join("p")),
    );
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    pages.sort();
    pages
        .iter()
        .map(|p| {
            let decoder = png::Decoder::new(std::io::BufReader::new(
                std::fs::File::open(p).expect("png"),
            ));
            let mut reader = decoder.read_info().expect("png header");
            let mut buf = vec![0; reader.output_buffer_size().expect("size")];
            let info = reader.next_frame(&mut buf).expect("frame");
            let ch = info.color_type.samples();
            let mut rgb = Vec::with_capacity(info.width as usize * info.height as usize * 3);
            for y in 0..info.height as usize {
                for x in 0..info.width as usize {
                    let px = &buf[y * info.line_size + x * ch..];
                    rgb.extend_from_slice(&px[..3.min(ch)]);
                }
            }
            (info.width as usize, info.height as usize, rgb)
        })
        .collect()
}

/// Pixels that differ between two renderings of a page, outside `rects` (displayed points,
/// 36 dpi: 0.5 px per point, with a 2 px margin).
fn differing_outside(
    before: &(usize, usize, Vec<u8>),
    after: &(usize, usize, Vec<u8>),
    rects: &[PageRect],
) -> usize {
    assert_eq!(
        (before.0, before.1),
        (after.0, after.1),
        "page size changed"
    );
    let (w, h) = (before.0, before.1);
    let mut diff = 0;
    for y in 0..h {
        for x in 0..w {
            let (px, py) = ((x as f64 + 0.5) * 2.0, (h as f64 - y as f64 - 0.5) * 2.0);
            let inside = rects.iter().any(|r| {
                px >= r.x - 4.0 && px <= r.x + r.w + 4.0 && py >= r.y - 4.0 && py <= r.y + r.h + 4.0
            });
            let i = (y * w + x) * 3;
            if !inside && before.2[i..i + 3] != after.2[i..i + 3] {
                diff += 1;
            }
        }
    }
    diff
}

/// Every object number of a file: `n g obj` headers in its bytes plus the objects qpdf lists
/// in its cross-reference data (which includes those inside object streams).
fn object_numbers(file: &Path) -> std::collections::HashSet<u32> {
    let bytes = std::fs::read(file).expect("read");
    let text = String::from_utf8_lossy(&bytes);
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let mut nums: std::collections::HashSet<u32> = words
        .windows(3)
        .filter(|w| w[2] == "obj" || w[2].starts_with("obj<"))
        .filter_map(|w| w[0].parse().ok())
        .collect();
    let o = run(Command::new("qpdf").arg("--show-xref").arg(file));
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        if let Some(n) = line.split('/').next().and_then(|n| n.parse().ok()) {
            nums.insert(n);
        }
    }
    nums
}

/// The highest `n g obj` header in a file's bytes.
fn highest_object_in(bytes: &[u8]) -> u32 {
    let text = String::from_utf8_lossy(bytes);
    let mut highest = 0;
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    for w in words.windows(3) {
        if w[2] == "obj" || w[2].starts_with("obj<") {
            if let (Ok(n), Ok(_)) = (w[0].parse::<u32>(), w[1].parse::<u16>()) {
                highest = highest.max(n);
            }
        }
    }
    highest
}

/// Seals `input` twice and checks rendering, numbering and the validators.
fn seal_twice_preserving(dir: &Path, input: &Path) {
    let name = input.file_stem().and_then(|s| s.to_str()).expect("name");
    let before = render_all(input, &format!("{name}-before"));
    let last = before.len();
    assert!(last >= 1, "{name}: no pages rendered");
    let once = dir.join(format!("{name}-once.pdf"));
    let twice = dir.join(format!("{name}-twice.pdf"));
    let p1 = seal(
        dir,
        input,
        &once,
        "公章",
        one_page(1, R1.x, R1.y, R1.w, R1.h),
    )
    .unwrap_or_else(|e| panic!("{name}: first seal: {e} [{}]", e.code()));
    let p2 = seal(
        dir,
        &once,
        &twice,
        "法人章",
        one_page(last, R2.x, R2.y, R2.w, R2.h),
    )
    .unwrap_or_else(|e| panic!("{name}: second seal: {e} [{}]", e.code()));
    // New objects are numbered above everything in the file they were appended to (objects
    // we rewrite, such as the page or the AcroForm, keep their numbers).
    for (file, pending) in [(input.to_path_buf(), &p1), (once.clone(), &p2)] {
        let existing = object_numbers(&file);
        let highest = existing.iter().copied().max().unwrap_or(0);
        for (num, _, _) in &pending.entries {
            assert!(
                existing.contains(num) || *num > highest,
                "{name}: new object {num} not above the highest existing object {highest}"
            );
        }
    }
    assert_prefix(input, &once);
    assert_prefix(&once, &twice);
    assert_qpdf_check(&twice);
    let after = render_all(&twice, &format!("{name}-after"));
    assert_eq!(after.len(), before.len(), "{name}: page count changed");
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        let page = i + 1;
        let mut rects = Vec::new();
        if page == 1 {
            rects.push(R1);
        }
        if page == last {
            rects.push(R2);
        }
        let diff = differing_outside(b, a, &rects);
        assert_eq!(
            diff, 0,
            "{name}: page {page}: {diff} pixels changed outside the seals"
        );
    }
    assert_pdfsig_valid(&twice, 2);
    // pyHanko's strict reader refuses some inputs whoever wrote them (hybrid xref, a table
    // beyond /Size); then its lenient reader judges, as for the input itself.
    let strict = pyhanko_reads_strictly(dir, input);
    assert_pyhanko_valid_with(dir, &twice, 2, strict);
}

#[test]
fn every_corpus_file_keeps_its_pages_pixel_identical_outside_the_seals() {
    let dir = tempdir("preserve");
    make_pki(&dir);
    make_seal_png(&dir);
    let mut files = make_corpus(&dir, true);
    let src = reportlab_pdf(&dir, "pyhanko-src.pdf", 2, &[], false);
    files.push(pyhanko_sign(&dir, &src, "pyhanko-signed.pdf", None));
    let mut failures = Vec::new();
    for file in &files {
        let name = file.display().to_string();
        if file.file_name().is_some_and(|n| n == "pyhanko-signed.pdf") {
            // Already one signature: count three, trust left to pyHanko (see support).
            let once = dir.join("pyhanko-once.pdf");
            let twice = dir.join("pyhanko-twice.pdf");
            let before = render_all(file, "pyhanko-before");
            seal(
                &dir,
                file,
                &once,
                "公章",
                one_page(1, R1.x, R1.y, R1.w, R1.h),
            )
            .expect("seal");
            seal(
                &dir,
                &once,
                &twice,
                "法人章",
                one_page(2, R2.x, R2.y, R2.w, R2.h),
            )
            .expect("seal");
            let after = render_all(&twice, "pyhanko-after");
            for (i, (b, a)) in before.iter().zip(&after).enumerate() {
                let rects = if i == 0 { vec![R1] } else { vec![R2] };
                assert_eq!(differing_outside(b, a, &rects), 0, "pyhanko page {}", i + 1);
            }
            assert_pyhanko_valid(&dir, &twice, 3);
            continue;
        }
        if let Err(e) = std::panic::catch_unwind(|| seal_twice_preserving(&dir, file)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {msg}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_pdfunite_merge_with_a_low_trailer_size_keeps_every_page() {
    let dir = tempdir("pdfunite");
    make_pki(&dir);
    make_seal_png(&dir);
    let files = make_corpus(&dir, false);
    let merged = files
        .iter()
        .find(|f| f.file_name().is_some_and(|n| n == "pdfunite.pdf"))
        .expect("pdfunite.pdf");
    // The fixture is what it claims: /Size below the objects its xref table lists.
    let bytes = std::fs::read(merged).expect("read");
    let text = String::from_utf8_lossy(&bytes);
    let size: u32 = text
        .rsplit("/Size ")
        .next()
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("/Size");
    assert!(
        highest_object_in(&bytes) >= size,
        "fixture: /Size {size} is not too low"
    );
    seal_twice_preserving(&dir, merged);
}
