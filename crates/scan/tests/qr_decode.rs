//! Every QR we render is read back by independent decoders: rqrr in-process and Debian's
//! `zbarimg` on the PNG file, and stays at version ≤ 10, error correction M.

use bidseal_scan::{qr, DesktopOffer, OperationKind, QrPayload};
use std::process::Command;
use std::time::Duration;

fn payloads() -> Vec<QrPayload> {
    let relays = [
        "http://127.0.0.1:47001",
        "http://192.168.100.200:65535",
        "https://relay.ggzy.example.gov.cn:8443",
        "https://scan-relay.ggzy.guangdong.example.gov.cn:8443/relay/v1",
    ];
    let ops = [
        OperationKind::Auth,
        OperationKind::Sign,
        OperationKind::Generate,
        OperationKind::Decrypt,
    ];
    let mut out = Vec::new();
    for relay in relays {
        for op in ops {
            let offer =
                DesktopOffer::new(relay, op, Duration::from_secs(300), 1_800_000_000).unwrap();
            out.push(offer.payload().clone());
        }
    }
    out
}

fn rqrr_decode(png: &[u8]) -> (String, usize, u16) {
    let img = image::load_from_memory(png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "expected exactly one QR code");
    let (meta, content) = grids[0].decode().unwrap();
    (content, meta.version.0, meta.ecc_level)
}

#[test]
fn rqrr_reads_every_rendered_qr_back_at_version_10_or_less_ec_m() {
    for p in payloads() {
        let png = qr::render_png(&p).unwrap();
        let (content, version, ecc) = rqrr_decode(&png);
        assert_eq!(QrPayload::parse(&content).unwrap(), p);
        assert!(version <= 10, "version {version} for {}", p.relay);
        // rqrr's ecc_level: 0 = M, 1 = L, 2 = H, 3 = Q (the format-info bit order).
        assert_eq!(ecc, 0, "EC level must be M");
        assert!(qr::version_of(&p).unwrap() <= 10);
    }
}

#[test]
fn zbarimg_reads_every_rendered_png_file_back() {
    let dir = tempfile::tempdir().unwrap();
    let zbar = which_zbarimg();
    for (i, p) in payloads().into_iter().enumerate() {
        let path = dir.path().join(format!("qr-{i}.png"));
        qr::write_atomic(&path, &qr::render_png(&p).unwrap()).unwrap();
        // QR only, as a phone's scanner: with every symbology on, zbar now and then also
        // "finds" a 1-D barcode in the QR's modules (seen: an extra line `B:4A`).
        let out = Command::new(&zbar)
            .args(["--raw", "-q", "-Sdisable", "-Sqrcode.enable"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "zbarimg failed on {}: {:?}",
            path.display(),
            out
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(QrPayload::parse(text.trim_end_matches('\n')).unwrap(), p);
    }
}

#[test]
fn svg_output_is_a_qr_svg_document() {
    let p = payloads().remove(0);
    let svg = qr::render_svg(&p).unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"));
    // The SVG holds the same module matrix as the PNG: rasterise it with librsvg and read
    // it back with zbar.
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("qr.svg");
    let png_path = dir.path().join("qr-from-svg.png");
    qr::write_atomic(&svg_path, svg.as_bytes()).unwrap();
    let convert = Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png_path)
        .arg(&svg_path)
        .status();
    assert!(
        matches!(convert, Ok(s) if s.success()),
        "rsvg-convert (Debian librsvg2-bin) is required: run scripts/setup.sh"
    );
    let out = Command::new(which_zbarimg())
        .args(["--raw", "-q", "-Sdisable", "-Sqrcode.enable"])
        .arg(&png_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zbarimg could not read the SVG rendering"
    );
    assert_eq!(
        QrPayload::parse(String::from_utf8_lossy(&out.stdout).trim()).unwrap(),
        p
    );
}

fn which_zbarimg() -> String {
    let found = Command::new("zbarimg").arg("--version").output();
    assert!(
        matches!(found, Ok(ref o) if o.status.success()),
        "zbarimg (Debian zbar-tools) is required for this test: run scripts/setup.sh"
    );
    "zbarimg".into()
}

#[test]
fn a_relay_address_too_long_for_a_version_10_qr_is_refused_up_front() {
    let relay = format!("https://{}.example.gov.cn", "a".repeat(80));
    let err = DesktopOffer::new(
        &relay,
        OperationKind::Sign,
        Duration::from_secs(180),
        1_800_000_000,
    )
    .err();
    assert!(
        matches!(err, Some(bidseal_scan::ScanError::QrTooLarge { .. })),
        "{err:?}"
    );
}
