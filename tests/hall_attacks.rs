//! The opening hall against hostile bid files and a forged tender, as real processes:
//! `bidseal open` (under `prlimit --as=512 MiB`), `bidseal phone serve-cosign` and, for every
//! QR the hall shows, `bidseal phone scan` answering as the bidder's enterprise certificate.
//!
//! One hall run opens a good bid and every attack side by side: each attack is refused with
//! its stable code and a zh-CN reason, the good bid still passes and every bid gets its
//! report; the hall's disk use stays small (no 10 GB part written), nothing is extracted for a
//! bid whose package or signature fails, no plaintext temporary remains, and every file the
//! hall wrote is `0600` in `0700` folders. Separately: a tender package signed by anyone but
//! the pinned platform (here: one carrying the attacker's own CA) is refused before any scan.

mod bid_support;

use bid_support::{ok, platform_identity, s, tool};
use bidseal_bid::bidfile::package::write_package;
use bidseal_bid::bidfile::{
    manifest_signed_attributes, BidManifest, BidPart, BidProjectIds, BidderIds, MANIFEST_FORMAT,
};
use bidseal_bid::tender::{self, PackageInputs, PlatformCertificate, PlatformSigner, TenderSpec};
use bidseal_cms::cert::Certificate;
use bidseal_cms::envelope::{encrypt_file, RecipientSet};
use bidseal_cms::signed_data::{LocalKeySigner, SignRequest, Signer};
use bidseal_pdf::{PageRect, SealKind, SealRequest, WidgetLayout, WorkingCopy};
use bidseal_phone::provision::WorldKeyHolder;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

const BIDSEAL: &str = env!("CARGO_BIN_EXE_bidseal");
const PIN: &str = "123456";
/// The address-space limit the hall runs under.
const HALL_MEMORY: &str = "--as=536870912";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Hall {
    dir: PathBuf,
    tender: PathBuf,
    /// SHA-256 of the tender's signed `tender.json` (the tender part of every bid's ukm).
    tender_digest: [u8; 32],
    platform_cert: PathBuf,
    project: BidProjectIds,
    _cosign: Killed,
    cosign_url: String,
}

impl Hall {
    fn world(&self) -> PathBuf {
        self.dir.join("world")
    }
    fn pki(&self, f: &str) -> PathBuf {
        self.world().join("pki").join(f)
    }
    fn cert(&self, id: &str) -> Certificate {
        Certificate::from_pem(&std::fs::read(self.pki(&format!("{id}.pem"))).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn fresh(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bidseal-hall-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn ago(minutes: i64) -> bidseal_bid::time::OffsetDateTime {
    bidseal_bid::time::OffsetDateTime::now_utc() - bidseal_bid::time::Duration::minutes(minutes)
}

/// A tender from the demo spec whose bid deadline (10 min ago) and opening time (5 min ago)
/// have passed, accepting `cas` (PEM files), signed with `key`/`cert`.
fn make_tender(dir: &Path, out: &Path, cas: &[(&str, PathBuf)], key: &Path, cert: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec_text = std::fs::read(repo.join("assets/demo-tender/spec.json")).unwrap_or_default();
    let mut spec: TenderSpec = serde_json::from_slice(&spec_text).unwrap_or_else(|e| panic!("{e}"));
    spec.bid_deadline = ago(10);
    spec.opening_time = ago(5);
    let pdf = std::fs::read(repo.join("assets/demo-tender/tender.pdf")).unwrap_or_default();
    let platform_cert = PlatformCertificate::from_pem(
        &std::fs::read_to_string(cert).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let signer = PlatformSigner::from_pem_file(key).unwrap_or_else(|e| panic!("{e}"));
    let accepted_cas = cas
        .iter()
        .map(|(stem, p)| {
            (
                stem.to_string(),
                format!("测试 {stem}"),
                std::fs::read(p).unwrap_or_default(),
            )
        })
        .collect();
    tender::make(
        spec,
        PackageInputs {
            tender_pdf: &pdf,
            extra_docs: vec![],
            accepted_cas,
            platform_cert: &platform_cert,
            signer: &signer,
        },
        ago(60),
        out,
    )
    .unwrap_or_else(|e| panic!("[{}] {e}", e.code()));
    let _ = dir;
}

fn setup(name: &str) -> Hall {
    let dir = fresh(name);
    let options = bidseal_phone::provision::InitOptions {
        key_pool: Some(bidseal_phone::provision::test_key_pool_dir()),
    };
    bidseal_phone::provision::init_test_world_with(&dir.join("world"), PIN, 1000, options)
        .unwrap_or_else(|e| panic!("{e}"));
    let (key, cert) = platform_identity(&dir, "platform");
    let tender = dir.join("tender.zip");
    let pki = dir.join("world").join("pki");
    make_tender(
        &dir,
        &tender,
        &[
            ("ca-1", pki.join("ca-1.pem")),
            ("ca-2", pki.join("ca-2.pem")),
        ],
        &key,
        &cert,
    );
    let package = tender::open(&tender).unwrap_or_else(|e| panic!("{e}"));
    let m = &package.manifest;
    let project = BidProjectIds {
        project_id: m.project.id.clone(),
        project_name: m.project.name.clone(),
        lot_id: m.project.lot.id.clone(),
        lot_name: m.project.lot.name.clone(),
        platform_id: m.platform.id.clone(),
    };
    let mut child = Command::new(BIDSEAL)
        .args([
            "phone",
            "serve-cosign",
            "--listen",
            "127.0.0.1:0",
            "--state",
        ])
        .arg(dir.join("world"))
        .arg("--platform-cert")
        .arg(&cert)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{e}"));
    let cosign_url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected: {line}"))
        .to_string();
    let tender_digest = bidseal_scan::Digest32::of(&package.manifest_bytes).0;
    Hall {
        dir,
        tender,
        tender_digest,
        platform_cert: cert,
        project,
        _cosign: Killed(child),
        cosign_url,
    }
}

fn bidder(hall: &Hall) -> BidderIds {
    let ent = hall.cert("ent-huaxia");
    BidderIds {
        name: ent.organization().unwrap_or_default(),
        credit_code: ent.credit_code().unwrap_or_default(),
    }
}

fn manifest(hall: &Hall, parts: Vec<BidPart>) -> BidManifest {
    BidManifest {
        format: MANIFEST_FORMAT.into(),
        project: hall.project.clone(),
        bidder: bidder(hall),
        parts,
        price: BTreeMap::from([("price".to_string(), "100.00".to_string())]),
        integrity_records: vec![],
        tool_version: "test".into(),
        created_at: "2026-11-29T00:00:00Z".into(),
    }
}

/// Detached CMS signature over `bytes` by `signer`, with signingTime `at`.
fn sign(signer: &dyn Signer, bytes: &[u8], at: SystemTime) -> Vec<u8> {
    let attrs = manifest_signed_attributes(bytes, signer.certificate_chain().to_vec(), at)
        .unwrap_or_else(|e| panic!("{e}"));
    let request = SignRequest {
        to_be_signed: attrs.to_be_signed().unwrap_or_else(|e| panic!("{e}")),
        content_digest: [0; 32],
        description: String::new(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let sig = rt
        .block_on(signer.sign(&request))
        .unwrap_or_else(|e| panic!("{e}"));
    attrs.assemble(&sig).unwrap_or_else(|e| panic!("{e}"))
}

fn local_signer(key: &Path, cert: &Path) -> LocalKeySigner {
    LocalKeySigner::from_files(key, cert, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// A certificate of the world (split key: both shares held here sign jointly, as an insider
/// with the phone and the service would; docs/key-split.md).
fn holder(hall: &Hall, id: &str) -> WorldKeyHolder {
    WorldKeyHolder::load(&hall.world(), PIN, id).unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn enterprise(hall: &Hall) -> WorldKeyHolder {
    holder(hall, "ent-huaxia")
}

fn signed_before_deadline() -> SystemTime {
    SystemTime::now() - Duration::from_secs(20 * 60)
}

/// Encrypts the package `zip` to the bidder's enterprise certificate as `bids/<name>` (each
/// bid alone in the folder: nothing travels beside it).
/// Encrypts `zip` to the bidder as a bid of this tender whose manifest is `manifest` (the
/// BidSeal `ukm` names both, as `generate` writes it).
fn encrypt(hall: &Hall, zip: &Path, name: &str, manifest: &[u8]) -> PathBuf {
    let bid = hall.dir.join("bids").join(name);
    std::fs::create_dir_all(hall.dir.join("bids")).unwrap_or_else(|e| panic!("{e}"));
    let ukm = bidseal_scan::EnvelopeUkm {
        tender: bidseal_scan::Digest32(hall.tender_digest),
        manifest: bidseal_scan::Digest32::of(manifest),
    };
    let recipients = RecipientSet::new(vec![hall.cert("ent-huaxia")], SystemTime::now())
        .and_then(|set| set.with_ukm(&ukm.to_bytes()))
        .unwrap_or_else(|e| panic!("{e}"));
    encrypt_file(zip, &bid, &recipients, &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"));
    bid
}

/// A bid whose package holds `m` signed by `signer` at `at`, and `files`.
fn bid(
    hall: &Hall,
    name: &str,
    m: &BidManifest,
    signer: &dyn Signer,
    at: SystemTime,
    files: &[(String, PathBuf)],
) -> PathBuf {
    let bytes = m.to_bytes().unwrap_or_default();
    let p7s = sign(signer, &bytes, at);
    let zip = hall.dir.join(format!("{name}.zip"));
    write_package(&zip, &bytes, &p7s, files).unwrap_or_else(|e| panic!("{e}"));
    encrypt(hall, &zip, name, &bytes)
}

fn file(hall: &Hall, name: &str, body: &[u8]) -> PathBuf {
    let p = hall.dir.join(name);
    std::fs::write(&p, body).unwrap_or_else(|e| panic!("{e}"));
    p
}

fn part(name: &str, path: &Path) -> BidPart {
    BidPart::from_file(name, None, path).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes a package zip with python (which writes what the zip crate will not): `entries` as
/// (name, bytes file) in order, duplicates allowed.
fn python_zip(out: &Path, entries: &[(&str, &Path)]) {
    let mut args = vec![
        "-c".to_string(),
        "import sys, zipfile, warnings\nwarnings.simplefilter('ignore')\n\
         z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED)\n\
         a = sys.argv[2:]\n\
         for i in range(0, len(a), 2): z.writestr(a[i], open(a[i+1], 'rb').read())\n\
         z.close()"
            .to_string(),
        s(out).to_string(),
    ];
    for (name, path) in entries {
        args.push(name.to_string());
        args.push(s(path).to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&tool("python3", &refs));
}

/// A package whose manifest (validly signed by the bidder) lists `bomb.pdf` at 10 GB, and the
/// zip entry is a deflate stream that really inflates to 10 GB of zeros (written by python
/// from one 16 MiB full-flush segment repeated: ~10 MB on disk), declared with ZIP64 sizes.
fn deflate_bomb_zip(out: &Path, manifest: &Path, p7s: &Path) {
    let program = r#"
import sys, zlib, struct, zipfile
out, manifest, p7s = sys.argv[1], sys.argv[2], sys.argv[3]
SEG = 16 << 20
TOTAL = 10 * (1 << 30)
c = zlib.compressobj(9, zlib.DEFLATED, -15)
seg = c.compress(bytes(SEG)) + c.flush(zlib.Z_FULL_FLUSH)
end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
n = TOTAL // SEG
comp_len = len(seg) * n + len(end)
with zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as z:
    z.writestr('manifest.json', open(manifest, 'rb').read())
    z.writestr('manifest.p7s', open(p7s, 'rb').read())
# Append the bomb by hand: local header, data, then rewrite the central directory.
z = zipfile.ZipFile(out)
infos = z.infolist()
z.close()
data = open(out, 'rb').read()
eocd = data.rfind(b'PK\x05\x06')
cd_size, cd_off = struct.unpack('<II', data[eocd+12:eocd+20])
body = data[:cd_off]
central = data[cd_off:cd_off+cd_size]
name = b'bomb.pdf'
local_off = len(body)
extra_local = struct.pack('<HHQQ', 1, 16, TOTAL, comp_len)
local = struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, 8, 0, 0x21, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra_local)) + name + extra_local
with open(out, 'wb') as f:
    f.write(body)
    f.write(local)
    for _ in range(n):
        f.write(seg)
    f.write(end)
    new_cd_off = f.tell()
    extra_c = struct.pack('<HHQQ', 1, 16, TOTAL, comp_len)
    entry = struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, 8, 0, 0x21, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra_c), 0, 0, 0, 0, local_off) + name + extra_c
    f.write(central)
    f.write(entry)
    cd_len = len(central) + len(entry)
    f.write(struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, len(infos) + 1, len(infos) + 1, cd_len, new_cd_off, 0))
"#;
    ok(&tool(
        "python3",
        &["-c", program, s(out), s(manifest), s(p7s)],
    ));
}

/// A small PDF whose three cross-reference streams (/W [0 0 1], chained by /Prev) each inflate
/// to 32 MiB.
fn xref_bomb_pdf(out: &Path) {
    let program = r#"
import sys, zlib
out = sys.argv[1]
pdf = bytearray(b'%PDF-1.7\n')
def obj(num, body):
    off = len(pdf)
    pdf.extend(b'%d 0 obj\n' % num + body + b'\nendobj\n')
    return off
obj(1, b'<< /Type /Catalog /Pages 2 0 R >>')
obj(2, b'<< /Type /Pages /Kids [] /Count 0 >>')
data = zlib.compress(bytes(32 << 20), 9)
prev = None
for i in range(3):
    extra = b'' if prev is None else b' /Prev %d' % prev
    head = b'<< /Type /XRef /W [0 0 1] /Size %d /Root 1 0 R /Filter /FlateDecode /Length %d%s >>\nstream\n' % (32 << 20, len(data), extra)
    prev = obj(10 + i, head + data + b'\nendstream')
pdf.extend(b'startxref\n%d\n%%%%EOF\n' % prev)
open(out, 'wb').write(pdf)
"#;
    ok(&tool("python3", &["-c", program, s(out)]));
}

/// A certificate authority of the attacker's own (openssl) and a leaf in the victim's name
/// and credit code. Returns (CA cert, leaf key, leaf cert).
fn attacker_ca(hall: &Hall) -> (PathBuf, PathBuf, PathBuf) {
    let d = hall.dir.join("attacker");
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    let (ca, ca_key) = (d.join("ca.pem"), d.join("ca.key"));
    // The same name as the world's CA, another key.
    bidseal_testkit::root_ca(&d, "ca", "/CN=BidSeal 测试CA 一", 30);
    let (key, cert) = issue_leaf(
        hall,
        &ca,
        &ca_key,
        "digitalSignature,nonRepudiation",
        "attacker",
    );
    (ca, key, cert)
}

/// A leaf in the victim's name and credit code issued by `ca` with keyUsage `key_usage`.
/// Returns (leaf key, leaf cert).
fn issue_leaf(
    hall: &Hall,
    ca: &Path,
    ca_key: &Path,
    key_usage: &str,
    tag: &str,
) -> (PathBuf, PathBuf) {
    let d = hall.dir.join(format!("leaf-{tag}"));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    let p = |f: &str| d.join(f);
    bidseal_testkit::key(&d, "leaf");
    let b = bidder(hall);
    ok(&tool(
        "openssl",
        &[
            "req",
            "-new",
            "-utf8",
            "-key",
            s(&p("leaf.key")),
            "-subj",
            &format!(
                "/C=CN/O={}/OU=统一社会信用代码:{}/CN={}",
                b.name, b.credit_code, b.name
            ),
            "-out",
            s(&p("leaf.csr")),
        ],
    ));
    std::fs::write(
        p("leaf.ext"),
        format!("basicConstraints=CA:FALSE\nkeyUsage=critical,{key_usage}\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // `openssl ca` to backdate the start (the manifest is signed before the bid deadline).
    std::fs::write(
        p("ca.cnf"),
        "[ca]\ndefault_ca=x\n[x]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n\
         default_md=sha256\npolicy=p\n[p]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(p("index.txt"), b"").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(p("serial"), b"01\n").unwrap_or_else(|e| panic!("{e}"));
    let t = bidseal_bid::time::OffsetDateTime::now_utc() - bidseal_bid::time::Duration::days(1);
    let start = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let out = Command::new("openssl")
        .current_dir(&d)
        .args(["ca", "-batch", "-config", "ca.cnf", "-cert"])
        .arg(ca)
        .arg("-keyfile")
        .arg(ca_key)
        .args([
            "-in",
            "leaf.csr",
            "-out",
            "leaf.pem",
            "-startdate",
            &start,
            "-days",
            "30",
            "-extfile",
            "leaf.ext",
            "-notext",
            "-utf8",
            "-preserveDN",
        ])
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}"));
    ok(&out);
    (p("leaf.key"), p("leaf.pem"))
}

/// Seals the demo tender PDF as `id` (a world certificate).
fn sealed_pdf(hall: &Hall, id: &str, out: &Path) {
    let image = hall.dir.join("seal.png");
    if !image.exists() {
        ok(&tool(
            "convert",
            &[
                "-size",
                "200x200",
                "xc:none",
                "-fill",
                "none",
                "-stroke",
                "rgb(220,0,0)",
                "-strokewidth",
                "10",
                "-draw",
                "circle 100,100 100,10",
                s(&image),
            ],
        ));
    }
    // What `bidseal seal --key` does, with the split key's shares signing jointly here.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let signer = holder(hall, id);
    let mut work = WorkingCopy::create(&repo.join("assets/demo-tender/tender.pdf"), out)
        .unwrap_or_else(|e| panic!("{e}"));
    let request = SealRequest {
        kind: SealKind::parse("公章"),
        image_png: std::fs::read(&image).unwrap_or_else(|e| panic!("{e}")),
        layout: WidgetLayout::SameRect {
            pages: vec![1],
            rect: PageRect::parse("400,80,120,120").unwrap_or_else(|e| panic!("{e}")),
        },
        signer_name: hall.cert(id).common_name().unwrap_or_default(),
        time: SystemTime::now(),
        contents_capacity: bidseal_pdf::seal::CONTENTS_SLACK,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .block_on(work.seal(request, &signer))
        .unwrap_or_else(|e| panic!("{e}"));
    work.commit(out).unwrap_or_else(|e| panic!("{e}"));
}

/// What one `bidseal open` run left.
struct Opening {
    success: bool,
    stderr: String,
    reports: Vec<serde_json::Value>,
    work: PathBuf,
}

impl Opening {
    fn report(&self, bid: &str) -> &serde_json::Value {
        self.reports
            .iter()
            .find(|r| r["bid_file"].as_str().is_some_and(|f| f.ends_with(bid)))
            .unwrap_or_else(|| panic!("no report for {bid}: {}", self.stderr))
    }

    /// The first failed check of `bid`: (key, code, detail).
    fn failure(&self, bid: &str) -> (String, String, String) {
        let r = self.report(bid);
        assert_eq!(r["passed"], false, "{bid} must be refused: {r:#}");
        let c = r["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["passed"] == false))
            .unwrap_or_else(|| panic!("{bid}: no failed check: {r:#}"));
        let detail = c["detail"].as_str().unwrap_or_default().to_string();
        assert!(
            detail
                .chars()
                .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)),
            "{bid}: the reason must be zh-CN: {detail}"
        );
        (
            c["key"].as_str().unwrap_or_default().into(),
            c["code"].as_str().unwrap_or_default().into(),
            detail,
        )
    }
}

/// Runs `bidseal open BIDS --tender T --platform-cert C` under the memory limit; every QR it
/// shows is answered by `bidseal phone scan` as the bidder's enterprise certificate.
fn open(hall: &Hall, bids: &[PathBuf], tender: &Path, tag: &str) -> Opening {
    open_as(hall, bids, tender, tag, "ent-huaxia")
}

/// [`open`], the phone answering as certificate `cert`.
fn open_as(hall: &Hall, bids: &[PathBuf], tender: &Path, tag: &str, cert: &str) -> Opening {
    let work = hall.dir.join(format!("work-{tag}"));
    let report = hall.dir.join(format!("report-{tag}.json"));
    let peak = hall.dir.join(format!("peak-{tag}.txt"));
    let mut child = Command::new("prlimit")
        .arg(HALL_MEMORY)
        .arg("--")
        .args(["/usr/bin/time", "-f", "%M", "-o"])
        .arg(&peak)
        .arg(BIDSEAL)
        .arg("open")
        .args(bids)
        .arg("--tender")
        .arg(tender)
        .arg("--platform-cert")
        .arg(&hall.platform_cert)
        .arg("--work")
        .arg(&work)
        .arg("--report-json")
        .arg(&report)
        .env("MALLOC_ARENA_MAX", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let mut log = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        if let Some(payload) = line.strip_prefix("扫码内容：") {
            let phone = Command::new(BIDSEAL)
                .args(["phone", "scan", payload, "--keystore"])
                .arg(hall.world())
                .args(["--cosign", &hall.cosign_url, "--pin", PIN, "--cert", cert])
                .arg("--platform-cert")
                .arg(&hall.platform_cert)
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            log.push_str(&String::from_utf8_lossy(&phone.stderr));
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    let mut text = String::new();
    let _ = std::fs::File::open(&report).and_then(|mut f| f.read_to_string(&mut text));
    let reports: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
    let peak_kib = std::fs::read_to_string(&peak).unwrap_or_default();
    eprintln!(
        "bidseal open ({tag}, {} bids): peak resident memory {} KiB",
        bids.len(),
        peak_kib.lines().last().unwrap_or("?")
    );
    Opening {
        success: status.success(),
        stderr: log,
        reports,
        work,
    }
}

/// Every file under `dir` (recursively) with its mode; folders too.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, u32, u64, bool)>) {
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = match e.metadata() {
            Ok(m) => m,
            Err(_) => continue,
        };
        out.push((
            e.path(),
            m.permissions().mode() & 0o777,
            m.len(),
            m.is_dir(),
        ));
        if m.is_dir() {
            walk(&e.path(), out);
        }
    }
}

#[test]
fn the_hall_refuses_every_hostile_bid_and_still_opens_the_good_one() {
    let hall = setup("attacks");
    let ent = enterprise(&hall);
    let at = signed_before_deadline();
    let mut bids = Vec::new();

    // The good bid: a sealed PDF and a text part, the bidder's own signature.
    let good_pdf = hall.dir.join("good.pdf");
    sealed_pdf(&hall, "ent-huaxia", &good_pdf);
    let txt = file(&hall, "a.txt", b"abc");
    let m = manifest(&hall, vec![part("bid.pdf", &good_pdf), part("a.txt", &txt)]);
    bids.push(bid(
        &hall,
        "good.bidseal",
        &m,
        &ent,
        at,
        &[
            ("bid.pdf".into(), good_pdf.clone()),
            ("a.txt".into(), txt.clone()),
        ],
    ));

    // Duplicate entry names: two `a.txt` (the zip crate would keep one silently).
    let m = manifest(&hall, vec![part("a.txt", &txt)]);
    let bytes = m.to_bytes().unwrap_or_default();
    let mfile = file(&hall, "dup-manifest.json", &bytes);
    let p7s = file(&hall, "dup.p7s", &sign(&ent, &bytes, at));
    let evil = file(&hall, "evil.txt", b"xyz");
    let zip = hall.dir.join("dup.zip");
    python_zip(
        &zip,
        &[
            ("manifest.json", &mfile),
            ("manifest.p7s", &p7s),
            ("a.txt", &txt),
            ("a.txt", &evil),
        ],
    );
    bids.push(encrypt(&hall, &zip, "duplicate.bidseal", &bytes));

    // A 10 GB part that is a deflate bomb, in a manifest the bidder really signed.
    let mut m = manifest(&hall, vec![]);
    m.parts.push(BidPart {
        name: "bomb.pdf".into(),
        section: None,
        size: 10 * (1 << 30),
        sha256: "00".repeat(32),
    });
    let bytes = m.to_bytes().unwrap_or_default();
    let mfile = file(&hall, "bomb-manifest.json", &bytes);
    let p7s = file(&hall, "bomb.p7s", &sign(&ent, &bytes, at));
    let zip = hall.dir.join("bomb.zip");
    deflate_bomb_zip(&zip, &mfile, &p7s);
    bids.push(encrypt(&hall, &zip, "bomb.bidseal", &bytes));

    // The right bidder, another project/lot.
    let mut m = manifest(&hall, vec![part("a.txt", &txt)]);
    m.project.lot_id = "BD02".into();
    bids.push(bid(
        &hall,
        "wronglot.bidseal",
        &m,
        &ent,
        at,
        &[("a.txt".into(), txt.clone())],
    ));

    // The victim's name and credit code, under the attacker's own CA.
    let (_, forged_key, forged_cert) = attacker_ca(&hall);
    let m = manifest(&hall, vec![part("a.txt", &txt)]);
    bids.push(bid(
        &hall,
        "forgedca.bidseal",
        &m,
        &local_signer(&forged_key, &forged_cert),
        at,
        &[("a.txt".into(), txt.clone())],
    ));

    // A certificate of an accepted CA in the bidder's name whose keyUsage does not allow
    // signatures (keyAgreement only).
    let (nk, nc) = issue_leaf(
        &hall,
        &hall.pki("ca-1.pem"),
        &hall.pki("ca-1.key.pem"),
        "keyAgreement",
        "noku",
    );
    let m = manifest(&hall, vec![part("a.txt", &txt)]);
    bids.push(bid(
        &hall,
        "keyusage.bidseal",
        &m,
        &local_signer(&nk, &nc),
        at,
        &[("a.txt".into(), txt.clone())],
    ));

    // The bidder's colleague whose certificate had already expired when signing.
    let m = manifest(&hall, vec![part("a.txt", &txt)]);
    bids.push(bid(
        &hall,
        "expired.bidseal",
        &m,
        &holder(&hall, "expired-zhao"),
        at,
        &[("a.txt".into(), txt.clone())],
    ));

    // Signed after the bid deadline.
    let m = manifest(&hall, vec![part("a.txt", &txt)]);
    bids.push(bid(
        &hall,
        "late.bidseal",
        &m,
        &ent,
        SystemTime::now() - Duration::from_secs(60),
        &[("a.txt".into(), txt.clone())],
    ));

    // A PDF sealed by another company (accepted CA, valid signature).
    let other_pdf = hall.dir.join("other.pdf");
    sealed_pdf(&hall, "ent-jiangnan", &other_pdf);
    let m = manifest(&hall, vec![part("bid.pdf", &other_pdf)]);
    bids.push(bid(
        &hall,
        "othercompany.bidseal",
        &m,
        &ent,
        at,
        &[("bid.pdf".into(), other_pdf)],
    ));

    // A sealed PDF changed inside the signed range (the manifest hashes the changed file).
    let mut bytes = std::fs::read(&good_pdf).unwrap_or_default();
    let at_byte = bytes.len() / 3;
    bytes[at_byte] ^= 0x01;
    let changed = file(&hall, "changed.pdf", &bytes);
    let m = manifest(&hall, vec![part("bid.pdf", &changed)]);
    bids.push(bid(
        &hall,
        "badseal.bidseal",
        &m,
        &ent,
        at,
        &[("bid.pdf".into(), changed)],
    ));

    // A plaintext temporary a killed hall left behind (pid 0 never runs a user process).
    let stale_dir = hall.dir.join("work-attacks").join("old.bidseal.opened");
    std::fs::create_dir_all(&stale_dir).unwrap_or_else(|e| panic!("{e}"));
    for d in [hall.dir.join("work-attacks"), stale_dir.clone()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let stale = stale_dir.join(".bidseal-plain-0-1.zip");
    std::fs::write(&stale, b"PK plaintext").unwrap_or_else(|e| panic!("{e}"));

    let run = open(&hall, &bids, &hall.tender, "attacks");
    assert!(!stale.exists(), "the hall sweeps what a killed run left");
    assert!(!run.success, "attacks among the bids: exit 1");
    assert_eq!(
        run.reports.len(),
        bids.len(),
        "every bid reported: {}",
        run.stderr
    );

    let good = run.report("good.bidseal");
    assert_eq!(good["passed"], true, "the good bid still opens: {good:#}");

    let (key, code, why) = run.failure("duplicate.bidseal");
    assert_eq!(
        (key.as_str(), code.as_str()),
        ("package", "BID_PACKAGE_INVALID"),
        "{why}"
    );
    assert!(why.contains("重复"), "{why}");

    let (key, code, why) = run.failure("bomb.bidseal");
    assert_eq!(
        (key.as_str(), code.as_str()),
        ("package", "BID_PACKAGE_INVALID"),
        "{why}"
    );
    assert!(why.contains("压缩炸弹"), "{why}");

    let (_, code, _) = run.failure("wronglot.bidseal");
    assert_eq!(code, "OPEN_WRONG_PROJECT");

    let (key, code, _) = run.failure("forgedca.bidseal");
    assert_eq!(
        (key.as_str(), code.as_str()),
        ("manifest_signature", "OPEN_CA_NOT_ACCEPTED")
    );

    let (key, code, _) = run.failure("keyusage.bidseal");
    assert_eq!(
        (key.as_str(), code.as_str()),
        ("manifest_signature", "OPEN_KEY_USAGE")
    );

    let (key, code, _) = run.failure("expired.bidseal");
    assert_eq!(
        (key.as_str(), code.as_str()),
        ("manifest_signature", "OPEN_CA_NOT_ACCEPTED")
    );

    let (_, code, _) = run.failure("late.bidseal");
    assert_eq!(code, "OPEN_SIGNED_AFTER_DEADLINE");

    let (key, code, why) = run.failure("othercompany.bidseal");
    assert_eq!(
        (key.as_str(), code.as_str()),
        ("pdf:bid.pdf", "OPEN_PDF_SIGNATURE_INVALID")
    );
    assert!(why.contains("不一致"), "{why}");

    let (key, code, _) = run.failure("badseal.bidseal");
    assert_eq!(
        (key.as_str(), code.as_str()),
        ("pdf:bid.pdf", "OPEN_PDF_SIGNATURE_INVALID")
    );

    // Nothing extracted where the package or the signature failed.
    for bid in [
        "duplicate",
        "bomb",
        "forgedca",
        "keyusage",
        "expired",
        "late",
    ] {
        let r = run.report(&format!("{bid}.bidseal"));
        assert!(r["extracted_to"].is_null(), "{bid}: {r:#}");
    }
    // Disk: small; no plaintext temporary; 0600 files in 0700 folders.
    let mut entries = Vec::new();
    walk(&run.work, &mut entries);
    let total: u64 = entries.iter().map(|e| e.2).sum();
    assert!(total < 64 << 20, "the hall wrote {total} bytes");
    for (path, mode, _, is_dir) in &entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        assert!(
            !name.unwrap_or_default().contains("bidseal-plain-"),
            "plaintext temporary left: {}",
            path.display()
        );
        let is_qr = path.extension().is_some_and(|e| e == "png");
        if *is_dir {
            assert_eq!(*mode, 0o700, "{}", path.display());
        } else if !is_qr {
            assert_eq!(*mode, 0o600, "{}", path.display());
        }
    }
}

/// Needs the bounded PDF reader (issue #10, H2's branch): until then the hall process dies
/// on this bid under the 512 MiB limit (only the good bid's report, written before, exists).
#[test]
fn a_pdf_xref_bomb_in_a_bid_is_refused_and_the_other_bid_still_opens() {
    let hall = setup("xref");
    let ent = enterprise(&hall);
    let at = signed_before_deadline();
    let txt = file(&hall, "a.txt", b"abc");
    let m = manifest(&hall, vec![part("a.txt", &txt)]);
    let good = bid(
        &hall,
        "good.bidseal",
        &m,
        &ent,
        at,
        &[("a.txt".into(), txt)],
    );
    // Three cross-reference streams of 32 MiB each behind a ~100 KB PDF.
    let xref = hall.dir.join("xref.pdf");
    xref_bomb_pdf(&xref);
    let m = manifest(&hall, vec![part("xref.pdf", &xref)]);
    let bomb = bid(
        &hall,
        "xref.bidseal",
        &m,
        &ent,
        at,
        &[("xref.pdf".into(), xref)],
    );
    let run = open(&hall, &[good, bomb], &hall.tender, "xref");
    assert_eq!(run.reports.len(), 2, "every bid reported: {}", run.stderr);
    let (key, _, _) = run.failure("xref.bidseal");
    assert_eq!(key, "pdf:xref.pdf");
    assert_eq!(run.report("good.bidseal")["passed"], true);
}

#[test]
fn a_tender_not_signed_by_the_pinned_platform_is_refused_before_any_scan() {
    let hall = setup("forged-tender");
    // The attacker publishes the same tender, signed with their own platform key and carrying
    // their own CA (whose leaf bears the victim's name).
    let (ca, key, cert) = attacker_ca(&hall);
    let (pkey, pcert) = platform_identity(&hall.dir, "attacker-platform");
    let forged = hall.dir.join("forged-tender.zip");
    make_tender(&hall.dir, &forged, &[("ca-x", ca)], &pkey, &pcert);
    let m = manifest(&hall, vec![]);
    let victim = bid(
        &hall,
        "victim.bidseal",
        &m,
        &local_signer(&key, &cert),
        signed_before_deadline(),
        &[],
    );
    let run = open(&hall, std::slice::from_ref(&victim), &forged, "forged");
    assert!(!run.success);
    assert!(
        run.stderr.contains("[TENDER_UNTRUSTED_PLATFORM]"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("扫码内容："),
        "no QR shown: {}",
        run.stderr
    );
    assert!(run.reports.is_empty());
    // The same bid against the real tender: the attacker's CA is not accepted.
    let run = open(&hall, &[victim], &hall.tender, "real");
    let (_, code, _) = run.failure("victim.bidseal");
    assert_eq!(code, "OPEN_CA_NOT_ACCEPTED");
}

#[test]
fn a_bid_file_copied_alone_opens_by_any_recipient_but_not_by_a_revoked_one() {
    let hall = setup("recipients");
    let txt = file(&hall, "a.txt", b"abc");
    let m = manifest(&hall, vec![part("a.txt", &txt)]);
    let bytes = m.to_bytes().unwrap_or_default();
    let p7s = sign(&enterprise(&hall), &bytes, signed_before_deadline());
    let zip = hall.dir.join("multi.zip");
    write_package(&zip, &bytes, &p7s, &[("a.txt".into(), txt)]).unwrap_or_else(|e| panic!("{e}"));
    let built = hall.dir.join("multi.bidseal");
    let recipients = RecipientSet::new(
        ["ent-huaxia", "colleague-wang", "colleague-liu"]
            .iter()
            .map(|id| hall.cert(id))
            .collect(),
        SystemTime::now(),
    )
    .and_then(|set| {
        set.with_ukm(
            &bidseal_scan::EnvelopeUkm {
                tender: bidseal_scan::Digest32(hall.tender_digest),
                manifest: bidseal_scan::Digest32::of(&bytes),
            }
            .to_bytes(),
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    encrypt_file(&zip, &built, &recipients, &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"));
    // Copied alone into an empty folder: nothing else travels with it.
    let alone_dir = hall.dir.join("copied");
    std::fs::create_dir_all(&alone_dir).unwrap_or_else(|e| panic!("{e}"));
    let alone = alone_dir.join("multi.bidseal");
    std::fs::copy(&built, &alone).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read_dir(&alone_dir).map(|d| d.count()).ok(),
        Some(1)
    );

    // The enterprise admin revokes a colleague's certificate: it can no longer decrypt.
    ok(&Command::new(BIDSEAL)
        .args(["phone", "admin", "--cosign", &hall.cosign_url, "--state"])
        .arg(hall.world())
        .args(["revoke", "colleague-liu"])
        .output()
        .unwrap_or_else(|e| panic!("{e}")));
    let run = open_as(
        &hall,
        std::slice::from_ref(&alone),
        &hall.tender,
        "liu",
        "colleague-liu",
    );
    let (key, code, _) = run.failure("multi.bidseal");
    assert_eq!(
        (key.as_str(), code.as_str()),
        ("decrypt_scan", "certificate_revoked")
    );

    // Another colleague opens it: every check passes, exit 0.
    let run = open_as(&hall, &[alone], &hall.tender, "wang", "colleague-wang");
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.report("multi.bidseal")["passed"], true);
}
