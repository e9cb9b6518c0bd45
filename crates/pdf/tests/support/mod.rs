//! Test support: a PKI and a seal image made by `openssl` and ImageMagick, a PDF corpus made
//! by tools not written here (reportlab, ghostscript, qpdf, pyHanko), and the independent
//! validators (qpdf --check, pdfsig, pyHanko, pdftoppm). A missing tool fails the test with a
//! message naming it; nothing is skipped silently.
#![allow(dead_code)]

use bidseal_cms::signed_data::LocalKeySigner;
use bidseal_pdf::{PageRect, SealKind, SealRequest, WidgetLayout, WorkingCopy};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

/// Folder of the tools venv (`BIDSEAL_TOOLS_DIR`, default `/var/cache/bidseal`).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("BIDSEAL_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/bidseal".into())
}

/// The venv's python.
pub fn python() -> PathBuf {
    let p = tools_dir().join("venv/bin/python");
    assert!(
        p.exists(),
        "python venv missing at {} — run scripts/setup.sh",
        p.display()
    );
    p
}

/// Runs a tool, panicking with its name if it is missing.
pub fn run(cmd: &mut Command) -> Output {
    let name = format!("{:?}", cmd.get_program());
    cmd.output().unwrap_or_else(|e| {
        panic!("required tool {name} is not runnable ({e}); run scripts/setup.sh")
    })
}

/// Runs a tool and asserts success.
pub fn run_ok(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{desc} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh temporary folder for one test.
pub fn tempdir(name: &str) -> PathBuf {
    bidseal_testkit::tempdir("pdf", name)
}

/// A P-256 root CA (`ca.pem`, `ca.key`) and a bidder leaf (`leaf.pem`, `leaf.key`, PKCS#8),
/// made with openssl by the workspace's one test-PKI builder (`bidseal_testkit`), and an NSS
/// database trusting the CA for pdfsig.
pub fn make_pki(dir: &Path) {
    bidseal_testkit::ca_and_leaf(
        dir,
        "ca",
        "/CN=BidSeal Test Root CA/O=Test CA",
        "leaf",
        "/CN=张三/O=某某建设工程有限公司/serialNumber=91350100M000100Y43",
    );
    make_nss_db(dir);
}

/// An NSS database (`nss/`) trusting `ca.pem`, so that pdfsig checks the chain too.
fn make_nss_db(dir: &Path) {
    let db = format!("sql:{}", dir.join("nss").display());
    std::fs::create_dir_all(dir.join("nss")).expect("nss dir");
    run_ok(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
    run_ok(
        Command::new("certutil")
            .args([
                "-A",
                "-d",
                &db,
                "-n",
                "bidseal-test-ca",
                "-t",
                "CT,C,C",
                "-i",
            ])
            .arg(dir.join("ca.pem")),
    );
}

/// The local signer for the test PKI.
pub fn signer(dir: &Path) -> LocalKeySigner {
    LocalKeySigner::from_files(&dir.join("leaf.key"), &dir.join("leaf.pem"), &[])
        .expect("local signer")
}

/// A red round seal with a star on a transparent background (ImageMagick).
pub fn make_seal_png(dir: &Path) -> PathBuf {
    let out = dir.join("seal.png");
    run_ok(
        Command::new("convert")
            .args([
                "-size",
                "240x240",
                "xc:none",
                "-fill",
                "none",
                "-stroke",
                "rgb(220,0,0)",
                "-strokewidth",
                "10",
                "-draw",
                "circle 120,120 120,12",
                "-fill",
                "rgb(220,0,0)",
                "-stroke",
                "none",
                "-draw",
                "polygon 120,50 136,98 186,98 146,128 161,176 120,147 79,176 94,128 54,98 104,98",
            ])
            .arg(&out),
    );
    out
}

/// Runs a python snippet in the venv with `args`.
pub fn py(dir: &Path, script: &str, args: &[&str]) -> Output {
    run_ok(
        Command::new(python())
            .arg("-c")
            .arg(script)
            .args(args)
            .current_dir(dir),
    )
}

/// reportlab: `pages` pages of text, optional rotation per page and crop box.
pub fn reportlab_pdf(
    dir: &Path,
    name: &str,
    pages: usize,
    rotations: &[u16],
    cjk: bool,
) -> PathBuf {
    let script = r#"
import sys
from reportlab.pdfgen import canvas
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
out, pages, rots, cjk = sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3].split(',') if x], sys.argv[4] == '1'
c = canvas.Canvas(out)
if cjk:
    pdfmetrics.registerFont(UnicodeCIDFont('STSong-Light'))
for i in range(pages):
    if rots:
        c.setPageRotation(rots[i % len(rots)])
    if cjk:
        c.setFont('STSong-Light', 14)
        c.drawString(72, 760, '投标文件 第 %d 页 商务标 技术标 报价一览表' % (i + 1))
    else:
        c.setFont('Helvetica', 14)
        c.drawString(72, 760, 'Tender document page %d' % (i + 1))
    c.showPage()
c.save()
"#;
    let out = dir.join(name);
    let rots: Vec<String> = rotations.iter().map(u16::to_string).collect();
    py(
        dir,
        script,
        &[
            out.to_str().expect("utf8 path"),
            &pages.to_string(),
            &rots.join(","),
            if cjk { "1" } else { "0" },
        ],
    );
    out
}

/// reportlab: a form with a text field (AcroForm present before sealing).
pub fn reportlab_acroform(dir: &Path) -> PathBuf {
    let script = r#"
import sys
from reportlab.pdfgen import canvas
c = canvas.Canvas(sys.argv[1])
c.drawString(72, 760, 'Bidder form')
c.acroForm.textfield(name='bidder', tooltip='Bidder', x=72, y=700, width=200, height=20, value='ACME')
c.showPage()
c.save()
"#;
    let out = dir.join("acroform.pdf");
    py(dir, script, &[out.to_str().expect("utf8 path")]);
    out
}

/// qpdf transformation of `input` into `name`.
pub fn qpdf(dir: &Path, input: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let o = run(Command::new("qpdf").args(args).arg(input).arg(&out));
    // Exit code 3 = warnings only.
    assert!(
        matches!(o.status.code(), Some(0) | Some(3)),
        "qpdf {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A MediaBox and CropBox that do not start at 0,0 (qpdf QDF edited, then fix-qdf).
pub fn offset_boxes_pdf(dir: &Path) -> PathBuf {
    let base = reportlab_pdf(dir, "offset-src.pdf", 1, &[], false);
    let qdf = qpdf(
        dir,
        &base,
        "offset.qdf",
        &["--qdf", "--object-streams=disable"],
    );
    let text = std::fs::read(&qdf).expect("read qdf");
    let text = String::from_utf8_lossy(&text).into_owned();
    let start = text.find("/MediaBox [").expect("MediaBox in qdf");
    let end = start + text[start..].find(']').expect("end of MediaBox") + 1;
    let edited = format!(
        "{}/MediaBox [ 100 50 695.2756 891.8898 ] /CropBox [ 120 70 675 870 ]{}",
        &text[..start],
        &text[end..]
    );
    std::fs::write(&qdf, edited).expect("write qdf");
    let out = dir.join("offset-boxes.pdf");
    let fixed = run_ok(Command::new("fix-qdf").arg(&qdf));
    std::fs::write(&out, fixed.stdout).expect("write fixed qdf");
    out
}

/// Ghostscript rewrite (pdfwrite) of `input`.
pub fn ghostscript(dir: &Path, input: &Path) -> PathBuf {
    let out = dir.join("gs.pdf");
    run_ok(
        Command::new("gs")
            .args(["-q", "-dBATCH", "-dNOPAUSE", "-dSAFER", "-sDEVICE=pdfwrite"])
            .arg(format!("-sOutputFile={}", out.display()))
            .arg(input),
    );
    out
}

/// pyHanko signs `input` (a new invisible-ish field `PyHankoSig`), optionally certifying with
/// DocMDP `perm` ("NO_CHANGES", "FILL_FORMS", …).
pub fn pyhanko_sign(dir: &Path, input: &Path, name: &str, certify_perm: Option<&str>) -> PathBuf {
    let script = r#"
import sys
from pyhanko.sign import signers, fields
from pyhanko.sign.fields import MDPPerm
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
inp, out, key, cert, perm = sys.argv[1:6]
signer = signers.SimpleSigner.load(key, cert, key_passphrase=None)
meta = signers.PdfSignatureMetadata(field_name='PyHankoSig', certify=perm != '-',
    docmdp_permissions=MDPPerm[perm] if perm != '-' else MDPPerm.FILL_FORMS)
with open(inp, 'rb') as f:
    w = IncrementalPdfFileWriter(f)
    fields.append_signature_field(w, fields.SigFieldSpec('PyHankoSig', box=(300, 700, 450, 760), on_page=0))
    with open(out, 'wb') as o:
        signers.sign_pdf(w, meta, signer=signer, output=o)
"#;
    let out = dir.join(name);
    py(
        dir,
        script,
        &[
            input.to_str().expect("utf8"),
            out.to_str().expect("utf8"),
            dir.join("leaf.key").to_str().expect("utf8"),
            dir.join("leaf.pem").to_str().expect("utf8"),
            certify_perm.unwrap_or("-"),
        ],
    );
    out
}

/// Seals `input` into `output` with the test signer.
pub fn seal(
    dir: &Path,
    input: &Path,
    output: &Path,
    kind: &str,
    layout: WidgetLayout,
) -> Result<bidseal_pdf::PendingSeal, bidseal_pdf::PdfError> {
    let signer = signer(dir);
    let image_png = std::fs::read(dir.join("seal.png")).expect("seal.png");
    let mut work = WorkingCopy::create(input, output)?;
    let req = SealRequest {
        kind: SealKind::parse(kind),
        image_png,
        layout,
        signer_name: "张三".into(),
        time: SystemTime::now(),
        contents_capacity: 0,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let pending = rt.block_on(work.seal(req, &signer))?;
    work.commit(output)?;
    Ok(pending)
}

/// The same rectangle on one page.
pub fn one_page(page: usize, x: f64, y: f64, w: f64, h: f64) -> WidgetLayout {
    WidgetLayout::SameRect {
        pages: vec![page],
        rect: PageRect { x, y, w, h },
    }
}

/// `qpdf --check` passes.
pub fn assert_qpdf_check(file: &Path) {
    let o = run(Command::new("qpdf").arg("--check").arg(file));
    assert!(
        matches!(o.status.code(), Some(0)),
        "qpdf --check {} failed:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// pdfsig (with an NSS database trusting the test CA): every listed signature (a multi-widget
/// signature is listed once per widget) is valid and its certificate trusted; at least
/// `expected` are listed.
pub fn assert_pdfsig_valid(file: &Path, expected: usize) {
    pdfsig_check(file, expected, true);
}

/// Like [`assert_pdfsig_valid`] but without the certificate-trust verdicts. For files that hold
/// a pyHanko signature before ours: poppler/NSS then reports "Unknown issue with Certificate"
/// for every later signature by the same certificate (pyHanko signing after us does not
/// trigger it, and pyHanko validates the chain of all of them), so there trust is left to
/// pyHanko.
pub fn assert_pdfsig_signatures_valid(file: &Path, expected: usize) {
    pdfsig_check(file, expected, false);
}

fn pdfsig_check(file: &Path, expected: usize, check_trust: bool) {
    let nss = file.parent().expect("parent").join("nss");
    assert!(
        nss.exists(),
        "no NSS trust database next to {}",
        file.display()
    );
    let o = run(Command::new("pdfsig")
        .arg("-nssdir")
        .arg(format!("sql:{}", nss.display()))
        .arg(file));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let verdicts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Signature Validation:"))
        .collect();
    assert!(
        verdicts.len() >= expected,
        "pdfsig lists {} signatures, expected ≥ {expected}:\n{text}",
        verdicts.len()
    );
    assert!(
        verdicts.iter().all(|l| l.contains("Signature is Valid")),
        "pdfsig:\n{text}"
    );
    let trust: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Certificate Validation:"))
        .collect();
    assert_eq!(trust.len(), verdicts.len(), "pdfsig:\n{text}");
    if check_trust {
        assert!(
            trust.iter().all(|l| l.contains("Certificate is Trusted")),
            "pdfsig trust:\n{text}"
        );
    }
    assert!(
        !text.contains("not signed"),
        "pdfsig found an unsigned field:\n{text}"
    );
}

/// pyHanko validates every embedded signature: intact, valid, trusted by `ca.pem`, and any
/// later change at an acceptable modification level. Returns the number of signatures.
pub fn assert_pyhanko_valid(dir: &Path, file: &Path, expected: usize) -> usize {
    assert_pyhanko_valid_with(dir, file, expected, true)
}

/// Whether pyHanko's strict reader accepts `file` at all (it refuses hybrid-xref files and
/// tables that list objects beyond the trailer's `/Size`, whoever wrote them).
pub fn pyhanko_reads_strictly(dir: &Path, file: &Path) -> bool {
    let script = "import sys\nfrom pyhanko.pdf_utils.reader import PdfFileReader\nr = PdfFileReader(open(sys.argv[1], 'rb'))\nif r.xrefs.hybrid_xrefs_present: sys.exit(3)\nr.root\n";
    let o = run(Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(file)
        .current_dir(dir));
    o.status.success()
}

/// [`assert_pyhanko_valid`] with pyHanko's strict or lenient reader.
pub fn assert_pyhanko_valid_with(dir: &Path, file: &Path, expected: usize, strict: bool) -> usize {
    let script = r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.keys import load_cert_from_pemder
from pyhanko_certvalidator import ValidationContext
ca = load_cert_from_pemder(sys.argv[2])
vc = ValidationContext(trust_roots=[ca], allow_fetching=False)
with open(sys.argv[1], 'rb') as f:
    r = PdfFileReader(f, strict=sys.argv[3] == 'strict')
    for s in r.embedded_signatures:
        st = validate_pdf_signature(s, vc)
        level = st.modification_level.name if st.modification_level is not None else 'NONE'
        print('SIG', s.field_name, st.intact, st.valid, st.trusted, level, st.docmdp_ok, st.coverage.name)
"#;
    let o = py(
        dir,
        script,
        &[
            file.to_str().expect("utf8"),
            dir.join("ca.pem").to_str().expect("utf8"),
            if strict { "strict" } else { "lenient" },
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let sigs: Vec<&str> = text.lines().filter(|l| l.starts_with("SIG ")).collect();
    assert_eq!(sigs.len(), expected, "pyHanko saw:\n{text}");
    for line in &sigs {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            &f[2..5],
            ["True", "True", "True"],
            "pyHanko: not intact/valid/trusted: {line}"
        );
        assert!(
            matches!(f[5], "NONE" | "LTA_UPDATES" | "FORM_FILLING"),
            "pyHanko modification level: {line}"
        );
        assert_ne!(f[6], "False", "pyHanko DocMDP: {line}");
    }
    sigs.len()
}

/// `original` is a byte prefix of `sealed`.
pub fn assert_prefix(original: &Path, sealed: &Path) {
    let a = std::fs::read(original).expect("read original");
    let b = std::fs::read(sealed).expect("read sealed");
    assert!(
        b.len() > a.len() && b[..a.len()] == a[..],
        "{} is not a byte prefix of {}",
        original.display(),
        sealed.display()
    );
}

/// Renders page `page` (1-based) at 72 dpi with pdftoppm and returns the share of red-ish
/// pixels inside the displayed rectangle and outside it.
pub fn red_share(file: &Path, page: usize, rect: PageRect) -> (f64, f64) {
    let dir = file.parent().expect("parent");
    let prefix = dir.join(format!(
        "render-{}",
        file.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    run_ok(
        Command::new("pdftoppm")
            .args([
                "-r",
                "72",
                "-png",
                "-singlefile",
                "-f",
                &page.to_string(),
                "-l",
                &page.to_string(),
            ])
            .arg(file)
            .arg(&prefix),
    );
    let png_path = prefix.with_extension("png");
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).expect("render png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let ch = info.color_type.samples();
    let (w, h) = (info.width as f64, info.height as f64);
    let (mut inside, mut inside_red, mut outside, mut outside_red) = (0u64, 0u64, 0u64, 0u64);
    for y in 0..info.height as usize {
        for x in 0..info.width as usize {
            let px = &buf[y * info.line_size + x * ch..];
            let red = px[0] > 150 && px[1] < 110 && px[2] < 110;
            // Pixel centre in displayed page points (72 dpi: 1 px = 1 pt), y up.
            let (px_x, px_y) = (x as f64 + 0.5, h - (y as f64 + 0.5));
            let _ = w;
            let within = px_x >= rect.x
                && px_x <= rect.x + rect.w
                && px_y >= rect.y
                && px_y <= rect.y + rect.h;
            if within {
                inside += 1;
                inside_red += u64::from(red);
            } else {
                outside += 1;
                outside_red += u64::from(red);
            }
        }
    }
    (
        inside_red as f64 / inside.max(1) as f64,
        outside_red as f64 / outside.max(1) as f64,
    )
}

/// The seal is visible in `rect` of `page` and (almost) nowhere else.
pub fn assert_seal_rendered(file: &Path, page: usize, rect: PageRect) {
    let (inside, outside) = red_share(file, page, rect);
    assert!(
        inside > 0.08,
        "page {page}: only {:.1}% red pixels inside the seal rect",
        inside * 100.0
    );
    assert!(
        outside < 0.002,
        "page {page}: {:.2}% red pixels outside the seal rect",
        outside * 100.0
    );
}
