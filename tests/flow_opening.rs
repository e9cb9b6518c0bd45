//! The hall's verification says exactly why a bid fails. Bid files are crafted here the way an
//! attacker or a broken tool would make them (package written by hand, then encrypted), and
//! opened by a recipient held locally: the scan is not what is being tested here (see
//! flow_bidfile.rs for the same checks reached through the phone). The world's keys are split
//! (docs/key-split.md): signer and recipient are `WorldKeyHolder`s running the joint protocols
//! with both shares in this process.

mod flow_support;

use bidseal_bid::bidfile::package::write_package;
use bidseal_bid::bidfile::{
    manifest_signed_attributes, BidManifest, BidPart, BidProjectIds, BidderIds, MANIFEST_FORMAT,
};
use bidseal_bid::opening::{open_bid_file, BidOpeningReport, HallContext};
use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_cms::envelope::{encrypt_file, RecipientSet};
use bidseal_cms::signed_data::{SignRequest, Signer};
use bidseal_phone::provision::WorldKeyHolder;
use flow_support::{copy, fresh_dir, repo_path};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

struct Pki(PathBuf);

impl Pki {
    fn path(&self, f: &str) -> PathBuf {
        self.0.join("world").join("pki").join(f)
    }
    fn cert(&self, id: &str) -> Certificate {
        Certificate::from_pem(&std::fs::read(self.path(&format!("{id}.pem"))).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"))
    }
    fn signer(&self, id: &str) -> WorldKeyHolder {
        WorldKeyHolder::load(&self.0.join("world"), flow_support::PIN, id)
            .unwrap_or_else(|e| panic!("{id}: {e}"))
    }
    fn trust(&self) -> TrustStore {
        let mut t = TrustStore::new();
        t.add_pem_file(&self.path("trust.pem"))
            .unwrap_or_else(|e| panic!("{e}"));
        t
    }
}

fn setup(name: &str) -> Pki {
    let dir = fresh_dir(name);
    flow_support::init_world(&dir.join("world"));
    Pki(dir)
}

fn project() -> BidProjectIds {
    BidProjectIds {
        project_id: "P".into(),
        project_name: "项目".into(),
        lot_id: "1".into(),
        lot_name: "一标段".into(),
        platform_id: "demo".into(),
    }
}

fn manifest(pki: &Pki, parts: Vec<BidPart>) -> BidManifest {
    let ent = pki.cert("ent-huaxia");
    BidManifest {
        format: MANIFEST_FORMAT.into(),
        project: project(),
        bidder: BidderIds {
            name: ent.organization().unwrap_or_default(),
            credit_code: ent.credit_code().unwrap_or_default(),
        },
        parts,
        price: BTreeMap::from([("price".to_string(), "100.00".to_string())]),
        integrity_records: vec![],
        tool_version: "test".into(),
        created_at: "2026-11-29T00:00:00Z".into(),
    }
}

async fn sign(signer: &WorldKeyHolder, bytes: &[u8]) -> Vec<u8> {
    let attrs = manifest_signed_attributes(
        bytes,
        signer.certificate_chain().to_vec(),
        SystemTime::now(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let request = SignRequest {
        to_be_signed: attrs.to_be_signed().unwrap_or_else(|e| panic!("{e}")),
        content_digest: [0; 32],
        description: String::new(),
    };
    let sig = signer
        .sign(&request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    attrs.assemble(&sig).unwrap_or_else(|e| panic!("{e}"))
}

/// Packages `signed_manifest` (signed by `signer`) but ships `shipped_manifest` and `files`,
/// encrypts to ent-huaxia, opens with ent-huaxia's key.
async fn open_crafted(
    pki: &Pki,
    tag: &str,
    signer: &str,
    signed_manifest: &[u8],
    shipped_manifest: &[u8],
    files: &[(String, PathBuf)],
) -> BidOpeningReport {
    let p7s = sign(&pki.signer(signer), signed_manifest).await;
    open_with_signature(pki, tag, &p7s, shipped_manifest, files).await
}

/// Packages `shipped_manifest` with the signature `p7s` and `files`, encrypts to ent-huaxia,
/// opens with ent-huaxia's key.
async fn open_with_signature(
    pki: &Pki,
    tag: &str,
    p7s: &[u8],
    shipped_manifest: &[u8],
    files: &[(String, PathBuf)],
) -> BidOpeningReport {
    let zip = pki.0.join(format!("{tag}.zip"));
    write_package(&zip, shipped_manifest, p7s, files).unwrap_or_else(|e| panic!("{e}"));
    let bid = pki.0.join(format!("{tag}.bidseal"));
    let recipients = RecipientSet::new(vec![pki.cert("ent-huaxia")], SystemTime::now())
        .unwrap_or_else(|e| panic!("{e}"));
    encrypt_file(&zip, &bid, &recipients, &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"));
    let agreement = pki.signer("ent-huaxia");
    let hall = HallContext {
        accepted: pki.trust(),
        expected_project: project(),
        bid_deadline: SystemTime::now() + std::time::Duration::from_secs(3600),
        opens_at: 0,
        at: SystemTime::now(),
    };
    open_bid_file(&bid, &pki.0.join(format!("{tag}-work")), &agreement, &hall).await
}

fn failure(report: &BidOpeningReport) -> Vec<(String, String)> {
    report
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| (c.key.clone(), c.code.clone().unwrap_or_default()))
        .collect()
}

fn unsigned_pdf(pki: &Pki) -> PathBuf {
    let p = pki.0.join("unsigned.pdf");
    copy(&repo_path("assets/demo-tender/tender.pdf"), &p);
    p
}

fn txt(pki: &Pki, name: &str, body: &[u8]) -> PathBuf {
    let p = pki.0.join(name);
    std::fs::write(&p, body).unwrap_or_else(|e| panic!("{e}"));
    p
}

fn part(name: &str, path: &Path) -> BidPart {
    BidPart::from_file(name, None, path).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_manifest_changed_after_signing_is_reported_as_tampered() {
    let pki = setup("open-manifest");
    let f = txt(&pki, "a.txt", b"abc");
    let m = manifest(&pki, vec![part("a.txt", &f)]);
    let signed = m.to_bytes().unwrap_or_default();
    let mut changed = m.clone();
    changed.price.insert("price".into(), "1.00".into());
    let shipped = changed.to_bytes().unwrap_or_default();
    let r = open_crafted(
        &pki,
        "m",
        "ent-huaxia",
        &signed,
        &shipped,
        &[("a.txt".into(), f)],
    )
    .await;
    assert!(!r.passed);
    assert_eq!(
        failure(&r),
        vec![("manifest_signature".into(), "OPEN_MANIFEST_TAMPERED".into())]
    );
}

#[tokio::test]
async fn a_part_that_does_not_match_its_hash_is_named() {
    let pki = setup("open-hash");
    let f = txt(&pki, "a.txt", b"abc");
    let m = manifest(&pki, vec![part("a.txt", &f)]);
    let bytes = m.to_bytes().unwrap_or_default();
    let other = txt(&pki, "b.txt", b"xyz");
    let r = open_crafted(
        &pki,
        "h",
        "ent-huaxia",
        &bytes,
        &bytes,
        &[("a.txt".into(), other)],
    )
    .await;
    assert_eq!(
        failure(&r),
        vec![("hash:a.txt".into(), "OPEN_HASH_MISMATCH".into())]
    );
}

#[tokio::test]
async fn a_manifest_signed_by_another_company_is_refused() {
    let pki = setup("open-company");
    let f = txt(&pki, "a.txt", b"abc");
    let bytes = manifest(&pki, vec![part("a.txt", &f)])
        .to_bytes()
        .unwrap_or_default();
    let r = open_crafted(
        &pki,
        "c",
        "ent-jiangnan",
        &bytes,
        &bytes,
        &[("a.txt".into(), f)],
    )
    .await;
    assert_eq!(
        failure(&r),
        vec![("manifest_signature".into(), "BID_WRONG_COMPANY".into())]
    );
}

#[tokio::test]
async fn an_unsigned_pdf_in_the_package_fails_its_check() {
    let pki = setup("open-pdf");
    let pdf = unsigned_pdf(&pki);
    let bytes = manifest(&pki, vec![part("x.pdf", &pdf)])
        .to_bytes()
        .unwrap_or_default();
    let r = open_crafted(
        &pki,
        "p",
        "ent-huaxia",
        &bytes,
        &bytes,
        &[("x.pdf".into(), pdf)],
    )
    .await;
    assert_eq!(
        failure(&r),
        vec![("pdf:x.pdf".into(), "OPEN_PDF_UNSIGNED".into())]
    );
}

#[tokio::test]
async fn a_well_formed_bid_passes_every_check() {
    let pki = setup("open-ok");
    let f = txt(&pki, "a.txt", b"abc");
    let bytes = manifest(&pki, vec![part("a.txt", &f)])
        .to_bytes()
        .unwrap_or_default();
    let r = open_crafted(
        &pki,
        "ok",
        "ent-huaxia",
        &bytes,
        &bytes,
        &[("a.txt".into(), f)],
    )
    .await;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!(r.price.get("price").map(String::as_str), Some("100.00"));
}

#[tokio::test]
async fn a_manifest_signature_with_a_changed_signature_value_is_invalid() {
    let pki = setup("open-sigvalue");
    let f = txt(&pki, "a.txt", b"abc");
    let bytes = manifest(&pki, vec![part("a.txt", &f)])
        .to_bytes()
        .unwrap_or_default();
    let mut p7s = sign(&pki.signer("ent-huaxia"), &bytes).await;
    // The ECDSA signature value ends the SignerInfo, which ends the structure.
    if let Some(last) = p7s.last_mut() {
        *last ^= 0x01;
    }
    let r = open_with_signature(&pki, "sv", &p7s, &bytes, &[("a.txt".into(), f)]).await;
    assert_eq!(
        failure(&r),
        vec![("manifest_signature".into(), "OPEN_SIGNATURE_INVALID".into())]
    );
    assert!(
        r.extracted_to.is_none(),
        "nothing extracted: {:#?}",
        r.checks
    );
}
