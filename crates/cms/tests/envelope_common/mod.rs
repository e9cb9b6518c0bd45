//! Shared test fixtures for the envelope tests: P-256, RSA, SM2 and expired certificates made
//! with `openssl` (an independent tool) into temporary folders at test time, files of
//! pseudo-random bytes, and a blocking wrapper around `decrypt_file`.
#![allow(dead_code)]

use bidseal_cms::cert::Certificate;
use bidseal_cms::envelope::{
    decrypt_file, encrypt_file, EnvelopeError, LocalKeyAgreement, OpenSummary, RecipientSet,
    SealSummary,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// A temporary folder removed on drop.
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "bidseal-envelope-{tag}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Names of the entries in the folder, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs openssl in `dir`; the test fails with a clear message when openssl is missing.
pub fn openssl_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (scripts/setup.sh installs it); it is the interop peer")
}

/// Runs openssl in `dir` and requires success.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    let out = openssl_output(dir, args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A certificate and its private key on disk.
#[derive(Clone, Debug)]
pub struct Party {
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Party {
    pub fn certificate(&self) -> Certificate {
        Certificate::from_pem(&std::fs::read(&self.cert).unwrap()).unwrap()
    }

    pub fn agreement(&self) -> LocalKeyAgreement {
        LocalKeyAgreement::from_pem_files(&self.cert, &self.key).unwrap()
    }
}

/// A self-signed certificate with a fresh key: `newkey` is an `openssl req -newkey` value
/// (`ec` for P-256, `rsa:2048`); `key_usage` an `-addext keyUsage=` value or none.
pub fn party(dir: &Path, name: &str, newkey: &str, key_usage: Option<&str>) -> Party {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let mut args = vec![
        "req".to_string(),
        "-x509".into(),
        "-newkey".into(),
        newkey.into(),
    ];
    if newkey == "ec" {
        args.extend(["-pkeyopt".into(), "ec_paramgen_curve:P-256".into()]);
    }
    args.extend([
        "-nodes".into(),
        "-keyout".into(),
        key.display().to_string(),
        "-out".into(),
        cert.display().to_string(),
        "-days".into(),
        "30".into(),
        "-subj".into(),
        format!("/CN={name}/O=BidSeal Test"),
    ]);
    if let Some(ku) = key_usage {
        args.extend(["-addext".into(), format!("keyUsage={ku}")]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(dir, &refs);
    Party {
        name: name.to_string(),
        cert,
        key,
    }
}

/// A P-256 encryption certificate (keyUsage keyAgreement).
pub fn p256(dir: &Path, name: &str) -> Party {
    party(dir, name, "ec", Some("critical,keyAgreement"))
}

/// `n` P-256 encryption certificates.
pub fn p256_many(dir: &Path, prefix: &str, n: usize) -> Vec<Party> {
    (0..n)
        .map(|i| p256(dir, &format!("{prefix}{i:02}")))
        .collect()
}

/// A self-signed SM2 certificate (id-ecPublicKey on curve 1.2.156.10197.1.301).
pub fn sm2(dir: &Path, name: &str) -> Party {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    let (k, c) = (key.display().to_string(), cert.display().to_string());
    openssl(
        dir,
        &["ecparam", "-name", "SM2", "-genkey", "-noout", "-out", &k],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            &k,
            "-sm3",
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "30",
            "-out",
            &c,
        ],
    );
    Party {
        name: name.to_string(),
        cert,
        key,
    }
}

/// A P-256 certificate valid only in January 2020.
pub fn expired_p256(dir: &Path, name: &str) -> Party {
    let ca_dir = dir.join(format!("{name}-ca"));
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::write(ca_dir.join("index.txt"), "").unwrap();
    std::fs::write(ca_dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        ca_dir.join("ca.cnf"),
        "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n\
         default_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n",
    )
    .unwrap();
    openssl(
        &ca_dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "k.pem",
        ],
    );
    openssl(
        &ca_dir,
        &[
            "req",
            "-new",
            "-key",
            "k.pem",
            "-subj",
            &format!("/CN={name}"),
            "-out",
            "r.csr",
        ],
    );
    openssl(
        &ca_dir,
        &[
            "ca",
            "-config",
            "ca.cnf",
            "-batch",
            "-selfsign",
            "-keyfile",
            "k.pem",
            "-in",
            "r.csr",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200201000000Z",
            "-out",
            "c.pem",
        ],
    );
    Party {
        name: name.to_string(),
        cert: ca_dir.join("c.pem"),
        key: ca_dir.join("k.pem"),
    }
}

/// Writes `len` pseudo-random bytes (xorshift, seeded) to `path` and returns them.
pub fn random_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, &data).unwrap();
    data
}

pub fn recipient_set(parties: &[Party]) -> Result<RecipientSet, EnvelopeError> {
    RecipientSet::new(
        parties.iter().map(Party::certificate).collect(),
        SystemTime::now(),
    )
}

/// Our encryption of `input` to `parties`.
pub fn seal(input: &Path, output: &Path, parties: &[Party]) -> SealSummary {
    let set = recipient_set(parties).unwrap();
    encrypt_file(input, output, &set, &mut |_, _| {}).unwrap()
}

/// Our decryption of `input` as `party`, driven to completion on a small runtime.
pub fn open(input: &Path, output: &Path, party: &Party) -> Result<OpenSummary, EnvelopeError> {
    let agreement = LocalKeyAgreement::from_pem_files(&party.cert, &party.key)?;
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(decrypt_file(input, output, &agreement, &mut |_, _| {}))
}

/// `openssl cms -encrypt -aes-256-gcm` with the SHA-256 KDF for every recipient.
pub fn openssl_seal(dir: &Path, input: &Path, output: &Path, parties: &[Party], stream: bool) {
    let mut args: Vec<String> = vec!["cms".into(), "-encrypt".into(), "-aes-256-gcm".into()];
    if stream {
        args.push("-stream".into());
    }
    args.extend(["-binary".into(), "-outform".into(), "DER".into()]);
    args.extend([
        "-in".into(),
        input.display().to_string(),
        "-out".into(),
        output.display().to_string(),
    ]);
    for p in parties {
        args.extend([
            "-recip".into(),
            p.cert.display().to_string(),
            "-keyopt".into(),
            "ecdh_kdf_md:sha256".into(),
        ]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(dir, &refs);
}

/// `openssl cms -decrypt -inform DER` as `party`; returns the output (success or not).
pub fn openssl_open(dir: &Path, input: &Path, output: &Path, party: &Party) -> Output {
    openssl_output(
        dir,
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-binary",
            "-in",
            &input.display().to_string(),
            "-recip",
            &party.cert.display().to_string(),
            "-inkey",
            &party.key.display().to_string(),
            "-out",
            &output.display().to_string(),
        ],
    )
}
