//! Tender packages as a bidder meets them: a package the platform made verifies (and openssl
//! agrees about its signature), and every kind of tampering or malformed zip is refused with
//! its own error code before anything is imported.

mod bid_support;

use bid_support::*;

fn verify(
    dir: &std::path::Path,
    pkg: &std::path::Path,
    cert: &std::path::Path,
) -> std::process::Output {
    bidseal(
        dir,
        &["tender", "verify", s(pkg), "--platform-cert", s(cert)],
    )
}

#[test]
fn platform_made_tender_verifies_and_openssl_checks_the_signature() {
    let dir = TestDir::new();
    let (pkg, cert, _) = make_tender(dir.path());
    let out = ok(&verify(dir.path(), &pkg, &cert));
    assert!(out.contains("校验通过"), "{out}");

    // Independent check: the manifest signature is plain ECDSA-P256/SHA-256 over tender.json.
    let (m, sig, pc, pubkey) = (
        dir.path().join("m.json"),
        dir.path().join("m.sig"),
        dir.path().join("p.crt"),
        dir.path().join("p.pub"),
    );
    extract(&pkg, "tender.json", &m);
    extract(&pkg, "tender.json.sig", &sig);
    extract(&pkg, "platform.crt", &pc);
    let pem = ok(&tool(
        "openssl",
        &["x509", "-in", s(&pc), "-pubkey", "-noout"],
    ));
    std::fs::write(&pubkey, pem).unwrap();
    let v = ok(&tool(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            s(&pubkey),
            "-signature",
            s(&sig),
            s(&m),
        ],
    ));
    assert!(v.contains("Verified OK"), "{v}");

    // The manifest binds the PDF by hash.
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    let pdf_hash = manifest["documents"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let sum = ok(&tool("sha256sum", &[s(&demo().join("tender.pdf"))]));
    assert!(
        sum.starts_with(&pdf_hash),
        "manifest hash {pdf_hash} vs {sum}"
    );

    // inspect shows the structure a bidder must follow.
    let shown = ok(&bidseal(dir.path(), &["tender", "inspect", s(&pkg)]));
    for needle in [
        "商务文件",
        "技术文件",
        "报价文件",
        "资格审查文件",
        "投标总价",
        "letter-enterprise",
        "企业公章",
    ] {
        assert!(shown.contains(needle), "inspect lacks {needle}:\n{shown}");
    }
}

#[test]
fn demo_tender_in_assets_verifies_against_its_platform_certificate() {
    let dir = TestDir::new();
    let d = demo();
    ok(&verify(
        dir.path(),
        &d.join("demo.tender.zip"),
        &d.join("platform.crt"),
    ));
}

#[test]
fn one_byte_changed_in_the_manifest_is_refused() {
    let dir = TestDir::new();
    let (pkg, cert, _) = make_tender(dir.path());
    let bad = dir.path().join("bad.zip");
    // Raise the price cap by one digit: exactly the tampering a signature must catch.
    rewrite_zip(
        &pkg,
        &bad,
        "entries['tender.json'] = entries['tender.json'].replace(b'5000000.00', b'6000000.00', 1)",
    );
    let err = refused(&verify(dir.path(), &bad, &cert), "TENDER_SIGNATURE_INVALID");
    assert!(err.contains("篡改"), "{err}");
}

#[test]
fn one_byte_changed_in_the_tender_pdf_is_refused() {
    let dir = TestDir::new();
    let (pkg, cert, _) = make_tender(dir.path());
    let bad = dir.path().join("bad.zip");
    rewrite_zip(
        &pkg,
        &bad,
        "b = bytearray(entries['tender.pdf']); b[len(b)//2] ^= 1; entries['tender.pdf'] = bytes(b)",
    );
    refused(&verify(dir.path(), &bad, &cert), "TENDER_HASH_MISMATCH");
}

#[test]
fn a_package_without_signature_is_refused() {
    let dir = TestDir::new();
    let (pkg, cert, _) = make_tender(dir.path());
    let bad = dir.path().join("bad.zip");
    rewrite_zip(&pkg, &bad, "del entries['tender.json.sig']");
    let err = refused(&verify(dir.path(), &bad, &cert), "TENDER_UNSIGNED");
    assert!(err.contains("未签名"), "{err}");
}

#[test]
fn a_package_signed_by_another_platform_is_refused() {
    let dir = TestDir::new();
    let (pkg, _, _) = make_tender(dir.path());
    let (_, other) = platform_identity(dir.path(), "other-platform");
    refused(
        &verify(dir.path(), &pkg, &other),
        "TENDER_UNTRUSTED_PLATFORM",
    );
    // ...and a project cannot be created from it either.
    let out = bidseal(
        dir.path(),
        &[
            "project",
            "new",
            s(&dir.path().join("x.bidproj")),
            "--tender",
            s(&pkg),
            "--platform-cert",
            s(&other),
        ],
    );
    refused(&out, "TENDER_UNTRUSTED_PLATFORM");
    assert!(
        !dir.path().join("x.bidproj").exists(),
        "a refused import must not leave a project folder"
    );
}

#[test]
fn path_traversal_and_unlisted_entries_are_refused() {
    let dir = TestDir::new();
    let (pkg, cert, _) = make_tender(dir.path());
    let bad = dir.path().join("traversal.zip");
    rewrite_zip(&pkg, &bad, "entries['../../etc/evil.pdf'] = b'%PDF-1.4'");
    refused(&verify(dir.path(), &bad, &cert), "TENDER_FORBIDDEN_ENTRY");
    let bad2 = dir.path().join("extra.zip");
    rewrite_zip(
        &pkg,
        &bad2,
        "entries['docs/extra.pdf'] = b'%PDF-1.4 injected'",
    );
    refused(&verify(dir.path(), &bad2, &cert), "TENDER_UNLISTED_ENTRY");
}

#[test]
fn an_oversize_manifest_is_refused() {
    let dir = TestDir::new();
    let (pkg, cert, _) = make_tender(dir.path());
    let bad = dir.path().join("big.zip");
    // 2 MiB of incompressible bytes: over the 1 MiB manifest limit without looking like a bomb.
    rewrite_zip(
        &pkg,
        &bad,
        "import os\nentries['tender.json'] = os.urandom(2*1024*1024)",
    );
    refused(&verify(dir.path(), &bad, &cert), "TENDER_TOO_LARGE");
}

/// `bidseal tender verify PKG --platform-cert CERT` under `/usr/bin/time`: the output and
/// the peak resident memory in KiB.
fn verify_peak_kib(
    dir: &std::path::Path,
    pkg: &std::path::Path,
    cert: &std::path::Path,
) -> (std::process::Output, u64) {
    let peak = dir.join("peak.txt");
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o", s(&peak), env!("CARGO_BIN_EXE_bidseal")])
        .args(["tender", "verify", s(pkg), "--platform-cert", s(cert)])
        .env("BIDSEAL_INDEX", dir.join("index.sqlite"))
        .output()
        .expect("/usr/bin/time (GNU time) runs the bidseal binary");
    let kib = std::fs::read_to_string(&peak)
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory from /usr/bin/time"));
    (out, kib)
}

#[test]
fn a_zip_bomb_is_refused_without_inflating_it() {
    let dir = TestDir::new();
    let (pkg, cert, _) = make_tender(dir.path());
    let bad = dir.path().join("bomb.zip");
    // 200 MiB of zeros deflates to ~200 KiB: ratio ~1000.
    rewrite_zip(
        &pkg,
        &bad,
        "entries['docs/bomb.pdf'] = b'%PDF-' + bytes(200*1024*1024)",
    );
    let (out, good_kib) = verify_peak_kib(dir.path(), &pkg, &cert);
    ok(&out);
    let (out, bomb_kib) = verify_peak_kib(dir.path(), &bad, &cert);
    refused(&out, "TENDER_ZIP_BOMB");
    eprintln!("peak memory: good package {good_kib} KiB, bomb {bomb_kib} KiB");
    // Inflating the entry would take 200 MiB; refusing it takes what a good package takes.
    assert!(
        bomb_kib < good_kib + 32 * 1024,
        "peak memory {bomb_kib} KiB refusing the bomb vs {good_kib} KiB for a good package"
    );
    let not_zip = dir.path().join("junk.zip");
    std::fs::write(&not_zip, b"this is not a zip").unwrap();
    refused(&verify(dir.path(), &not_zip, &cert), "TENDER_NOT_ZIP");
}

#[test]
fn a_forged_signature_is_refused_before_a_large_entry_is_read() {
    let dir = TestDir::new();
    let (pkg, cert, _) = make_tender(dir.path());
    let bad = dir.path().join("forged.zip");
    // A 200 MiB stored (ratio 1) document in a package whose manifest signature is broken:
    // reading it before checking the signature would take 200 MiB.
    let program = "import sys, zipfile\n\
        src, dst = sys.argv[1], sys.argv[2]\n\
        zin = zipfile.ZipFile(src)\n\
        with zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as z:\n    \
            for n in zin.namelist():\n        \
                b = zin.read(n)\n        \
                if n == 'tender.json.sig': b = b[:-1] + bytes([b[-1] ^ 1])\n        \
                z.writestr(n, b)\n    \
            z.writestr('docs/big.pdf', b'%PDF-' + bytes(200*1024*1024))\n";
    ok(&tool("python3", &["-c", program, s(&pkg), s(&bad)]));
    let (out, good_kib) = verify_peak_kib(dir.path(), &pkg, &cert);
    ok(&out);
    let (out, forged_kib) = verify_peak_kib(dir.path(), &bad, &cert);
    refused(&out, "TENDER_SIGNATURE_INVALID");
    eprintln!("peak memory: good package {good_kib} KiB, forged {forged_kib} KiB");
    assert!(
        forged_kib < good_kib + 32 * 1024,
        "peak memory {forged_kib} KiB refusing a forged package vs {good_kib} KiB for a good one"
    );
}

#[test]
fn a_duplicate_entry_name_is_refused() {
    let dir = TestDir::new();
    let (pkg, cert, _) = make_tender(dir.path());
    let bad = dir.path().join("dup.zip");
    // A second `tender.pdf` after the signed one (the zip crate would keep only one).
    let program = "import sys, zipfile, warnings\n\
        warnings.simplefilter('ignore')\n\
        src, dst = sys.argv[1], sys.argv[2]\n\
        zin = zipfile.ZipFile(src)\n\
        with zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as z:\n    \
            for n in zin.namelist(): z.writestr(n, zin.read(n))\n    \
            z.writestr('tender.pdf', b'%PDF-1.4 substituted')\n";
    ok(&tool("python3", &["-c", program, s(&pkg), s(&bad)]));
    let err = refused(&verify(dir.path(), &bad, &cert), "TENDER_FORBIDDEN_ENTRY");
    assert!(err.contains("tender.pdf"), "{err}");
}
