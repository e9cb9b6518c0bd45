//! Test PKI made with `openssl` (an independent tool), through the workspace's one builder,
//! `bidseal_testkit`, with the names these tests use: a P-256 root CA and a bidder leaf with a
//! PKCS#8 key, or three levels, generated into a temporary folder for each test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[allow(unused_imports)]
pub use bidseal_testkit::openssl;

/// Makes a P-256 CA named `ca` and a leaf `leaf` signed by it in `dir`.
pub fn make_ca_and_leaf(dir: &Path, ca: &str, leaf: &str) {
    bidseal_testkit::ca_and_leaf(
        dir,
        ca,
        &format!("/CN={ca} Root CA/O=Test CA"),
        leaf,
        "/CN=张三/O=某某建设工程有限公司/serialNumber=NTRCN-91350100M000100Y43",
    );
}

pub fn tempdir(name: &str) -> PathBuf {
    bidseal_testkit::tempdir("cert", name)
}

/// A three-level PKI in `dir`: `root.pem` (self-signed), `inter.pem` (CA signed by the root)
/// and `leaf.pem`/`leaf.key` signed by the intermediate, plus `chain.pem` = leaf + intermediate
/// (what CAs hand out).
pub fn make_three_level(dir: &Path) {
    bidseal_testkit::three_level(
        dir,
        "/CN=Chain Test Root/O=Test CA",
        "/CN=Chain Test Issuing CA/O=Test CA",
        "leaf",
        "/CN=王五/O=某某建设工程有限公司",
    );
}
