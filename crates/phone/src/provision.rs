//! `bidseal phone init DIR`: makes a complete test world in one folder — the test PKI, the
//! phone keystore and the co-signing service's state — so no key is ever checked in.
//!
//! ```text
//! DIR/pki/ca-1.pem ca-2.pem trust.pem          test CA certificates (trust.pem = both)
//! DIR/pki/ca-N.key.pem                          test CA keys (PKCS#8; test only)
//! DIR/pki/<id>.pem <id>.chain.pem              leaf, leaf+CA of every certificate
//! DIR/pki/colleague-chen-plain.key.pem          the one whole key (PKCS#8): the `-plain`
//!                                              certificate, for openssl interop tests
//! DIR/pki/platform.crt platform.key.pem        the world's trading-platform tender-signing
//!                                              identity (`bidseal tender make --world DIR`)
//! DIR/phone/keystore.json, DIR/phone/seals/*.png   what the phone carries (sealed shares)
//! DIR/cosign/state.db, DIR/cosign/admin-token      what the co-signing service keeps
//! DIR/cosign/enrol-issuers.pem                  the CAs whose certificates 开通 registers
//!                                              (= trust.pem)
//! ```
//!
//! Every certificate but the `-plain` one has a split key (密钥拆分, `docs/key-split.md`): 开通
//! over the co-signing API — `init` starts the service's router over `DIR/cosign` on 127.0.0.1
//! and, as the phone, runs the 2-party DKG with it over HTTP ([`enrol_certificate`]); a CSR
//! signed jointly, the CA issues for the joint public key; the phone's share is sealed in the keystore, the service's
//! share kept in `state.db`; no file holds the whole key ([`whole_key_traces`] checks).
//!
//! Guarantees: every file is written atomically; secrets (keys, token, state) are mode 0600 on
//! Unix; the phone keystore holds each key or share only sealed under PIN + service share. It
//! refuses to overwrite an existing `DIR/phone/keystore.json`. [`enrol_into_phone`] (`bidseal
//! phone enroll`) adds one split certificate to an existing phone against a separately running
//! service. Does not: run `init` itself against a separately running service (the router runs
//! in the `init` process, with its own state); with a test key pool ([`InitOptions::key_pool`])
//! take the API path (tests only).

use crate::cosign::device::DeviceKey;
use crate::cosign::state::{write_atomic, CertRecord, CertShares, CosignBook};
use crate::key_seal::{new_share, RecoverySeal, SealedKey};
use crate::keystore::{
    KeystoreEntry, KeystoreManifest, SealImageRef, KEYSTORE_FILE, KEYSTORE_VERSION, SEALS_DIR,
};
use crate::pki::{self, HolderRole, PkiError, TestCa};
use crate::seal_image::{self, SealFont, SealImageKind};
use rand_core::{OsRng, RngCore};
use std::path::{Path, PathBuf};

/// Errors of `phone init`.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// PKI generation.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Sealing a key.
    #[error(transparent)]
    Seal(#[from] crate::key_seal::SealError),
    /// Persisting the service state.
    #[error(transparent)]
    Book(#[from] crate::cosign::state::BookError),
    /// I/O.
    #[error("写入 {path} 失败：{source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Already initialised.
    #[error("{0} 已存在测试证书库，请换一个目录或先删除它")]
    Exists(String),
    /// PIN format.
    #[error("PIN 码必须是 6 位数字")]
    BadPin,
    /// 开通 over the co-signing API failed.
    #[error("证书 {0} 开通失败：{1}")]
    Enrol(String, crate::cosign::client::CosignCallError),
    /// The phone keystore could not be read or written.
    #[error(transparent)]
    Keystore(#[from] crate::keystore::KeystoreError),
    /// `phone enroll` of an id the phone already carries.
    #[error("手机中已有证书 {0}：换一个证书编号，或先在新文件夹中开通")]
    OnPhone(String),
    /// A keystore without a device key (made before device keys existed).
    #[error("手机证书库 {0} 没有设备密钥，无法开通：请用 bidseal phone init 新建")]
    NoDeviceKey(String),
    /// A certificate id that cannot name files or is the whole-key suffix.
    #[error("证书编号 “{0}” 无效：只能含字母、数字、- 和 _（至多 64 个），且不能以 -plain 结尾")]
    BadCertId(String),
}

/// What `init` made.
#[derive(Debug, Clone)]
pub struct ProvisionReport {
    /// The folder.
    pub dir: PathBuf,
    /// Certificate ids and labels.
    pub certificates: Vec<(String, String)>,
    /// True when seals were drawn without text (no CJK font).
    pub font_missing: bool,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ProvisionError> {
    write_atomic(path, bytes).map_err(|source| ProvisionError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Like [`write`] but readable by everyone (certificates, seal images: nothing secret).
fn write_public(path: &Path, bytes: &[u8]) -> Result<(), ProvisionError> {
    write(path, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(
            |source| ProvisionError::Io {
                path: path.display().to_string(),
                source,
            },
        )?;
    }
    Ok(())
}

fn mkdir(path: &Path) -> Result<(), ProvisionError> {
    std::fs::create_dir_all(path).map_err(|source| ProvisionError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Checks a 6-digit PIN.
pub fn check_pin_format(pin: &str) -> Result<(), ProvisionError> {
    if pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ProvisionError::BadPin)
    }
}

/// Makes the test world in `dir` with the same `pin` on every certificate.
/// `kdf_iterations` is the PBKDF2 count of every PIN-derived key and PIN verifier
/// ([`crate::key_seal::PIN_KDF_ITERATIONS`] by default).
pub fn init_test_world(
    dir: &Path,
    pin: &str,
    kdf_iterations: u32,
) -> Result<ProvisionReport, ProvisionError> {
    init_test_world_with(dir, pin, kdf_iterations, InitOptions::default())
}

/// Options of [`init_test_world_with`].
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Tests only: take each split certificate's pair of shares from this folder (made by a
    /// real DKG the first time and kept; [`TEST_KEY_POOL_ENV`]) instead of running a DKG per
    /// certificate and world. Every world still gets its own CAs, certificates (from a
    /// jointly signed CSR), PIN, device key and sealed shares; only the key pairs repeat.
    pub key_pool: Option<PathBuf>,
}

/// Environment variable with which a test harness hands `phone init` / `demo` a key pool
/// ([`InitOptions::key_pool`]). Never set it for a world a person uses: its keys are shared
/// with every other world made from the same pool, and the pool holds both shares.
pub const TEST_KEY_POOL_ENV: &str = "BIDSEAL_TEST_KEY_POOL";

/// The key pool folder of the running test binary or `bidseal` build:
/// `<target>/<profile>/test-key-pool` (beside `deps/`). Tests only.
#[doc(hidden)]
pub fn test_key_pool_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir.join("test-key-pool")
}

/// True for the one certificate whose key stays whole (`-plain`, [`pki::PLAIN_CERT_ID`]).
pub fn is_plain(id: &str) -> bool {
    id.ends_with("-plain")
}

/// One certificate's key material as `init` hands it to the phone and the service.
struct KeyMaterial {
    issued: pki::IssuedCert,
    /// What the phone seals: the PKCS#8 key, or the encoded phone share of a split key.
    phone_secret: zeroize::Zeroizing<Vec<u8>>,
    /// Where the service's side is.
    service: ServiceSide,
}

/// The service's side of one certificate.
enum ServiceSide {
    /// A whole key (the `-plain` certificate): `init` writes the record.
    Plain,
    /// The service's share of a pooled key pair (tests): `init` writes the record.
    Pooled(Box<crate::key_split::KeyShare>),
    /// Enrolled over the co-signing API: the service stored its record itself and answered
    /// the shares the phone seals with.
    Enrolled {
        seal_share: crate::key_seal::ServiceShare,
        recovery_share: crate::key_seal::ServiceShare,
    },
}

fn split_err(e: crate::key_split::KeySplitError) -> PkiError {
    PkiError::Key(format!("{}：{e}", e.code()))
}

/// A fresh DKG for `id` with both parties in this process: only for the test key pool
/// ([`InitOptions::key_pool`]); `phone init` runs the DKG with the service over HTTP.
fn fresh_shares(
    id: &str,
) -> Result<(crate::key_split::KeyShare, crate::key_split::KeyShare), ProvisionError> {
    let mut session = [0u8; 32];
    OsRng.fill_bytes(&mut session);
    let session = [&session[..], id.as_bytes()].concat();
    Ok(crate::key_split::dkg_in_process(&session).map_err(split_err)?)
}

/// The `-plain` certificate: a whole key made by the CA.
fn plain_material(ca: &TestCa, spec: &pki::LeafSpec) -> Result<KeyMaterial, ProvisionError> {
    let issued = ca.issue(spec)?;
    let phone_secret = issued
        .key_pkcs8
        .clone()
        .ok_or_else(|| PkiError::Key("CA 未生成私钥".into()))?;
    Ok(KeyMaterial {
        issued,
        phone_secret,
        service: ServiceSide::Plain,
    })
}

/// A pooled pair of shares (tests): the CSR signed jointly in this process, the CA issues.
fn pooled_material(
    ca: &TestCa,
    spec: &pki::LeafSpec,
    (phone, service): SharePair,
) -> Result<KeyMaterial, ProvisionError> {
    use sha2::Digest;
    let public = phone.public_key().map_err(split_err)?;
    let info = pki::request_info(spec, &public)?;
    let digest: [u8; 32] =
        sha2::Sha256::digest(der::Encode::to_der(&info).map_err(PkiError::from)?).into();
    let mut nonce = [0u8; 32];
    OsRng.fill_bytes(&mut nonce);
    let sign_id = [
        b"bidseal/phone-init/csr/v1:".as_slice(),
        &nonce,
        spec.id.as_bytes(),
    ]
    .concat();
    let signature = crate::key_split::sign_in_process(&phone, &service, &sign_id, &digest)
        .map_err(split_err)?;
    let csr = pki::certificate_request(info, signature.to_der().as_bytes())?;
    let issued = ca.issue_from_csr(spec, &csr)?;
    let phone_secret = phone.to_secret_bytes().map_err(split_err)?;
    Ok(KeyMaterial {
        issued,
        phone_secret,
        service: ServiceSide::Pooled(Box::new(service)),
    })
}

/// 开通 of one certificate over the co-signing API (the phone's side; `client` carries the
/// phone's device key): the DKG with the service, the CSR for `spec` signed jointly, `ca`
/// issues from it after checking signature and subject, the service registers the
/// certificate with `pin`. The phone's share never leaves this side.
pub async fn enrol_certificate(
    client: &crate::cosign::client::CosignClient,
    ca: &TestCa,
    spec: &pki::LeafSpec,
    code: &str,
    pin: &str,
) -> Result<(pki::IssuedCert, crate::cosign::client::EnrolledKey), ProvisionError> {
    let issued = std::sync::Mutex::new(None);
    let request_info =
        |public: &p256::PublicKey| pki::request_info(spec, public).map_err(|e| e.to_string());
    let issue = |csr: &x509_cert::request::CertReq| {
        let cert = ca.issue_from_csr(spec, csr).map_err(|e| e.to_string())?;
        let out = cert.cert.clone();
        if let Ok(mut slot) = issued.lock() {
            *slot = Some(cert);
        }
        Ok(out)
    };
    let enrolled = client
        .enrol(&spec.id, code, pin, &request_info, &issue)
        .await
        .map_err(|e| ProvisionError::Enrol(spec.id.clone(), e))?;
    let issued = issued
        .into_inner()
        .ok()
        .flatten()
        .ok_or_else(|| PkiError::Key("CA 未签发证书".into()))?;
    Ok((issued, enrolled))
}

/// What `phone enroll` did ([`enrol_into_phone`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnrolReport {
    /// Certificate id.
    pub cert: String,
    /// Who / what it is (`王芳（个人证书，华夏…）`).
    pub label: String,
    /// SHA-256 fingerprint of the issued certificate.
    pub fingerprint: String,
    /// The CA that issued it (`ca-1` / `ca-2`).
    pub ca: String,
    /// The end of its validity (Unix seconds).
    pub not_after: i64,
    /// The phone's device public key (hex SEC1) the service bound the certificate to.
    pub device: String,
    /// The certificate's PEM file in the world's `pki/` (None without a `pki/` folder).
    pub cert_file: Option<PathBuf>,
    /// Number of seal images drawn for it.
    pub seals: usize,
}

/// Checks a new certificate's id before anything is asked of the service: it names files
/// (`pki/<id>.pem`, `seals/<id>-….png`), so letters, digits, `-` and `_` only (at most 64,
/// as the service's admin route), and not the `-plain` suffix of the one whole-key
/// certificate (a split certificate never carries it).
pub fn check_new_cert_id(id: &str) -> Result<(), ProvisionError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid && !is_plain(id) {
        Ok(())
    } else {
        Err(ProvisionError::BadCertId(id.to_string()))
    }
}

/// Where and what [`enrol_into_phone`] enrols.
#[derive(Clone, Copy)]
pub struct PhoneEnrolment<'a> {
    /// The phone's keystore folder (holds `keystore.json` with a device key).
    pub phone_dir: &'a Path,
    /// The world's `pki/` folder for `<id>.pem` and `<id>.chain.pem` (None: not written).
    pub pki_dir: Option<&'a Path>,
    /// The CA that issues from the jointly signed CSR.
    pub ca: &'a TestCa,
    /// The certificate to make.
    pub spec: &'a pki::LeafSpec,
    /// PBKDF2 count of the phone's PIN-derived sealing key.
    pub kdf_iterations: u32,
}

/// `bidseal phone enroll`: 开通 of one more split certificate `spec` into the existing phone
/// keystore `phone_dir` against the co-signing service `client` talks to (a separately running
/// `serve-cosign`), with the administrator's one-time `code`: the DKG over HTTP with the
/// phone's device key ([`enrol_certificate`]), the world's test CA `ca` issues from the jointly
/// signed CSR, then the certificate and chain go to `pki_dir` (when given), the seal images to
/// the keystore's `seals/`, and the entry (share sealed under PIN + the service's seal share)
/// into `keystore.json` (atomically). Refuses an id the phone already has before calling the
/// service. Does not: recover when the keystore cannot be written after the service
/// registered the certificate (the id is then taken on the service: the administrator revokes
/// it; see docs/key-split.md).
pub async fn enrol_into_phone(
    target: &PhoneEnrolment<'_>,
    client: crate::cosign::client::CosignClient,
    code: &str,
    pin: &str,
) -> Result<EnrolReport, ProvisionError> {
    let PhoneEnrolment {
        phone_dir,
        pki_dir,
        ca,
        spec,
        kdf_iterations,
    } = *target;
    check_pin_format(pin)?;
    check_new_cert_id(&spec.id)?;
    let mut keystore = crate::keystore::Keystore::load(phone_dir)?;
    if keystore.entry(&spec.id).is_ok() {
        return Err(ProvisionError::OnPhone(spec.id.clone()));
    }
    let device = keystore
        .device_key()
        .cloned()
        .ok_or_else(|| ProvisionError::NoDeviceKey(phone_dir.display().to_string()))?;
    let seals_dir = phone_dir.join(SEALS_DIR);
    mkdir(&seals_dir)?;
    let client = client.with_device_key(Some(&device));
    let (issued, enrolled) = enrol_certificate(&client, ca, spec, code, pin).await?;
    let secret = enrolled.share.to_secret_bytes().map_err(split_err)?;
    let cert_file = match pki_dir {
        Some(dir) => {
            let file = dir.join(format!("{}.pem", spec.id));
            write_public(&file, pki::cert_pem(&issued.cert)?.as_bytes())?;
            write_public(
                &dir.join(format!("{}.chain.pem", spec.id)),
                issued.chain_pem()?.as_bytes(),
            )?;
            Some(file)
        }
        None => None,
    };
    let seals = draw_seals(&SealFont::load(), spec, &seals_dir)?;
    let entry = keystore_entry(
        spec,
        ca.id,
        &issued,
        EntrySecret {
            secret: &secret,
            split: true,
            pin,
            share: &enrolled.seal_share,
            recovery_share: &enrolled.recovery_share,
            kdf_iterations,
        },
        seals,
    )?;
    let report = EnrolReport {
        cert: entry.id.clone(),
        label: entry.label(),
        fingerprint: entry.fingerprint.clone(),
        ca: ca.id.to_string(),
        not_after: issued.not_after_unix(),
        device: device.public_hex(),
        cert_file,
        seals: entry.seals.len(),
    };
    keystore.manifest.certificates.push(entry);
    keystore.save()?;
    Ok(report)
}

/// `phone init`'s split certificates: starts the co-signing service's router over
/// `cosign_dir` on 127.0.0.1 (an ephemeral port, in this process but with its own state: it
/// loads `state.db` and `admin-token` like `serve-cosign`), and enrols each certificate over
/// HTTP as the phone with `device` — the administrator's enrolment code first (admin token),
/// then [`enrol_certificate`]. Runs on its own threads and runtime (callable from async code).
fn enrol_over_loopback(
    cosign_dir: &Path,
    device: &DeviceKey,
    jobs: &[(&TestCa, &pki::LeafSpec)],
    pin: &str,
    kdf_iterations: u32,
) -> Result<Vec<KeyMaterial>, ProvisionError> {
    let io = |source: std::io::Error| ProvisionError::Io {
        path: cosign_dir.display().to_string(),
        source,
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(io)?;
                let router = crate::cosign::server::router(cosign_dir, Default::default())
                    .map_err(|e| ProvisionError::Io {
                        path: cosign_dir.display().to_string(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                let listener = runtime
                    .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                    .map_err(io)?;
                let addr = listener.local_addr().map_err(io)?;
                runtime.spawn(async move { axum::serve(listener, router).await });
                let admin = zeroize::Zeroizing::new(
                    std::fs::read_to_string(
                        cosign_dir.join(crate::cosign::server::ADMIN_TOKEN_FILE),
                    )
                    .map_err(io)?,
                );
                let client = crate::cosign::client::CosignClient::new(&format!("http://{addr}"))
                    .map_err(|e| ProvisionError::Enrol(String::new(), e))?
                    .with_device_key(Some(device));
                let handle = runtime.handle();
                // Each enrolment on its own thread: the phone's half of the DKG is CPU work.
                let results: Vec<Result<KeyMaterial, ProvisionError>> = std::thread::scope(|s| {
                    let jobs: Vec<_> = jobs
                        .iter()
                        .map(|&(ca, spec)| {
                            let (client, admin) = (&client, &admin);
                            s.spawn(move || {
                                handle.block_on(async move {
                                    let holder =
                                        spec.person.clone().unwrap_or_else(|| spec.company.clone());
                                    let code = client
                                        .enrol_code(
                                            admin.trim(),
                                            &spec.id,
                                            &holder,
                                            Some(kdf_iterations),
                                        )
                                        .await
                                        .map_err(|e| ProvisionError::Enrol(spec.id.clone(), e))?;
                                    let (issued, enrolled) =
                                        enrol_certificate(client, ca, spec, &code, pin).await?;
                                    Ok(KeyMaterial {
                                        issued,
                                        phone_secret: enrolled
                                            .share
                                            .to_secret_bytes()
                                            .map_err(split_err)?,
                                        service: ServiceSide::Enrolled {
                                            seal_share: enrolled.seal_share,
                                            recovery_share: enrolled.recovery_share,
                                        },
                                    })
                                })
                            })
                        })
                        .collect();
                    join_all(jobs)
                });
                runtime.shutdown_timeout(std::time::Duration::from_secs(5));
                results.into_iter().collect()
            })
            .join()
            .unwrap_or_else(|_| Err(PkiError::Key("开通线程异常退出".into()).into()))
    })
}

// ---------------------------------------------------------------- test key pool

/// One pooled key: both shares, hex (test only; outside every world).
#[derive(serde::Serialize, serde::Deserialize)]
struct PooledKey {
    phone: String,
    service: String,
}

fn pool_file(pool: &Path, id: &str) -> PathBuf {
    pool.join(format!("{id}.shares.json"))
}

fn read_pooled(
    pool: &Path,
    id: &str,
) -> Option<(crate::key_split::KeyShare, crate::key_split::KeyShare)> {
    use crate::key_split::{KeyShare, Side};
    let bytes = zeroize::Zeroizing::new(std::fs::read(pool_file(pool, id)).ok()?);
    let key: PooledKey = serde_json::from_slice(&bytes).ok()?;
    let phone = zeroize::Zeroizing::new(hex::decode(&key.phone).ok()?);
    let service = zeroize::Zeroizing::new(hex::decode(&key.service).ok()?);
    let phone = KeyShare::from_secret_bytes(&phone, Side::Phone).ok()?;
    let service = KeyShare::from_secret_bytes(&service, Side::Service).ok()?;
    // A pool from another library version or a torn file is remade, never used.
    (phone.public_key().ok()? == service.public_key().ok()?).then_some((phone, service))
}

/// Removes the pool's lock file when dropped.
struct PoolLock(PathBuf);

impl Drop for PoolLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Takes the pool's lock (a file made with `create_new`); a lock older than 10 minutes is a
/// crashed holder's and is taken over.
fn lock_pool(pool: &Path) -> Result<PoolLock, ProvisionError> {
    let path = pool.join("lock");
    let started = std::time::Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => return Ok(PoolLock(path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let stale = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(600));
                if stale || started.elapsed() > std::time::Duration::from_secs(900) {
                    let _ = std::fs::remove_file(&path);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(source) => {
                return Err(ProvisionError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
    }
}

/// The results of key-making threads (a panicked thread is an error, not a panic here).
fn join_all<T>(
    jobs: Vec<std::thread::ScopedJoinHandle<'_, Result<T, ProvisionError>>>,
) -> Vec<Result<T, ProvisionError>> {
    jobs.into_iter()
        .map(|job| {
            job.join()
                .unwrap_or_else(|_| Err(PkiError::Key("密钥生成线程异常退出".into()).into()))
        })
        .collect()
}

type SharePair = (crate::key_split::KeyShare, crate::key_split::KeyShare);

/// The pooled pair of shares of every split certificate in `specs`: read from `pool`, the
/// missing ones made once by a real DKG (on all cores) under the pool's lock and kept.
fn pooled_shares(
    pool: &Path,
    specs: &[pki::LeafSpec],
) -> Result<Vec<Option<SharePair>>, ProvisionError> {
    let wanted = |s: &pki::LeafSpec| !is_plain(&s.id);
    let read_all = || -> Vec<Option<SharePair>> {
        specs
            .iter()
            .map(|s| wanted(s).then(|| read_pooled(pool, &s.id)).flatten())
            .collect()
    };
    let complete = |got: &[Option<SharePair>]| {
        specs
            .iter()
            .zip(got)
            .all(|(s, g)| !wanted(s) || g.is_some())
    };
    let got = read_all();
    if complete(&got) {
        return Ok(got);
    }
    mkdir(pool)?;
    let _lock = lock_pool(pool)?;
    let mut got = read_all();
    let made: Vec<Result<Option<SharePair>, ProvisionError>> = std::thread::scope(|scope| {
        let jobs: Vec<_> = specs
            .iter()
            .zip(&got)
            .map(|(spec, have)| {
                let missing = wanted(spec) && have.is_none();
                scope.spawn(move || {
                    if missing {
                        fresh_shares(&spec.id).map(Some)
                    } else {
                        Ok(None)
                    }
                })
            })
            .collect();
        join_all(jobs)
    });
    for ((spec, slot), made) in specs.iter().zip(got.iter_mut()).zip(made) {
        let Some((phone, service)) = made? else {
            continue;
        };
        let key = PooledKey {
            phone: hex::encode(phone.to_secret_bytes().map_err(split_err)?.as_slice()),
            service: hex::encode(service.to_secret_bytes().map_err(split_err)?.as_slice()),
        };
        let json =
            zeroize::Zeroizing::new(serde_json::to_vec(&key).map_err(|e| ProvisionError::Io {
                path: pool.display().to_string(),
                source: std::io::Error::other(e),
            })?);
        write(&pool_file(pool, &spec.id), &json)?;
        *slot = Some((phone, service));
    }
    Ok(got)
}

/// [`init_test_world`] with options (a test key pool).
pub fn init_test_world_with(
    dir: &Path,
    pin: &str,
    kdf_iterations: u32,
    options: InitOptions,
) -> Result<ProvisionReport, ProvisionError> {
    check_pin_format(pin)?;
    let (pki_dir, phone_dir, cosign_dir) = (dir.join("pki"), dir.join("phone"), dir.join("cosign"));
    if phone_dir.join(KEYSTORE_FILE).exists() {
        return Err(ProvisionError::Exists(dir.display().to_string()));
    }
    for d in [
        &pki_dir,
        &phone_dir,
        &phone_dir.join(SEALS_DIR),
        &cosign_dir,
    ] {
        mkdir(d)?;
    }
    let cas = [
        TestCa::generate("ca-1", "BidSeal 测试CA 一")?,
        TestCa::generate("ca-2", "BidSeal 测试CA 二")?,
    ];
    let mut trust = String::new();
    for ca in &cas {
        let pem = pki::cert_pem(&ca.cert)?;
        write_public(&pki_dir.join(format!("{}.pem", ca.id)), pem.as_bytes())?;
        write(
            &pki_dir.join(format!("{}.key.pem", ca.id)),
            ca.key_pem()?.as_bytes(),
        )?;
        trust.push_str(&pem);
    }
    write_public(&pki_dir.join("trust.pem"), trust.as_bytes())?;
    // The service registers only certificates these CAs issued (开通).
    write_public(
        &cosign_dir.join(crate::cosign::server::ENROL_ISSUERS_FILE),
        trust.as_bytes(),
    )?;
    write_platform_identity(&pki_dir)?;

    let font = SealFont::load();
    let device = DeviceKey::generate();
    let mut book = CosignBook::create(&cosign_dir.join(crate::cosign::server::STATE_FILE))?;
    let mut token = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(token.as_mut());
    write(
        &cosign_dir.join(crate::cosign::server::ADMIN_TOKEN_FILE),
        hex::encode(*token).as_bytes(),
    )?;
    let mut entries = Vec::new();
    let mut report = Vec::new();
    let specs = pki::standard_specs()?;
    let ca_of = |spec: &pki::LeafSpec| &cas[spec.ca_index.min(1)];
    let materials: Vec<Result<KeyMaterial, ProvisionError>> = match &options.key_pool {
        Some(pool) => {
            let mut pooled = pooled_shares(pool, &specs)?;
            std::thread::scope(|scope| {
                let jobs: Vec<_> = specs
                    .iter()
                    .zip(pooled.iter_mut())
                    .map(|(spec, pair)| {
                        let ca = ca_of(spec);
                        let pair = pair.take();
                        scope.spawn(move || match pair {
                            Some(pair) => pooled_material(ca, spec, pair),
                            None => plain_material(ca, spec),
                        })
                    })
                    .collect();
                join_all(jobs)
            })
        }
        None => {
            // The DKGs run with the service over HTTP (both sides on all cores at once).
            let split: Vec<_> = specs
                .iter()
                .filter(|s| !is_plain(&s.id))
                .map(|s| (ca_of(s), s))
                .collect();
            let mut enrolled =
                enrol_over_loopback(&cosign_dir, &device, &split, pin, kdf_iterations)?.into_iter();
            specs
                .iter()
                .map(|spec| {
                    if is_plain(&spec.id) {
                        plain_material(ca_of(spec), spec)
                    } else {
                        enrolled
                            .next()
                            .ok_or_else(|| PkiError::Key("开通结果缺失".into()).into())
                    }
                })
                .collect()
        }
    };
    for (spec, material) in specs.into_iter().zip(materials) {
        let ca = ca_of(&spec);
        let material = material?;
        let issued = &material.issued;
        let fp = pki::fingerprint(&issued.cert)?;
        write_public(
            &pki_dir.join(format!("{}.pem", spec.id)),
            pki::cert_pem(&issued.cert)?.as_bytes(),
        )?;
        write_public(
            &pki_dir.join(format!("{}.chain.pem", spec.id)),
            issued.chain_pem()?.as_bytes(),
        )?;
        if issued.key_pkcs8.is_some() {
            write(
                &pki_dir.join(format!("{}.key.pem", spec.id)),
                issued.key_pem()?.as_bytes(),
            )?;
        }

        let holder = spec.person.clone().unwrap_or_else(|| spec.company.clone());
        let secret = &material.phone_secret;
        let split = !matches!(material.service, ServiceSide::Plain);
        let (share, recovery_share) = match material.service {
            ServiceSide::Enrolled {
                seal_share,
                recovery_share,
            } => (seal_share, recovery_share),
            ServiceSide::Plain | ServiceSide::Pooled(_) => {
                let (share, recovery_share) = (new_share(), new_share());
                let mut record = CertRecord::new(
                    &spec.id,
                    &fp,
                    &holder,
                    issued.not_after_unix(),
                    pin,
                    CertShares {
                        share: &share,
                        recovery_share: &recovery_share,
                    },
                    kdf_iterations,
                )
                .with_device(&device.public_hex());
                if let ServiceSide::Pooled(service_share) = &material.service {
                    record = record
                        .with_split_share(service_share)
                        .map_err(|e| PkiError::Key(format!("{}：{e}", e.code())))?;
                }
                book.insert(&record)?;
                (share, recovery_share)
            }
        };
        let seals = draw_seals(&font, &spec, &phone_dir.join(SEALS_DIR))?;
        let entry = keystore_entry(
            &spec,
            ca.id,
            issued,
            EntrySecret {
                secret,
                split,
                pin,
                share: &share,
                recovery_share: &recovery_share,
                kdf_iterations,
            },
            seals,
        )?;
        report.push((entry.id.clone(), entry.label()));
        entries.push(entry);
    }
    let manifest = KeystoreManifest {
        version: KEYSTORE_VERSION,
        certificates: entries,
        device_key: Some(device),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ProvisionError::Io {
        path: KEYSTORE_FILE.into(),
        source: std::io::Error::other(e),
    })?;
    write(&phone_dir.join(KEYSTORE_FILE), &json)?;
    Ok(ProvisionReport {
        dir: dir.to_path_buf(),
        certificates: report,
        font_missing: font.is_missing(),
    })
}

/// The seal images of `spec` (公章 for an enterprise, 法人章 + signature for the legal person,
/// its personal seals for a person), drawn into `seals_dir` (public files).
fn draw_seals(
    font: &SealFont,
    spec: &pki::LeafSpec,
    seals_dir: &Path,
) -> Result<Vec<SealImageRef>, ProvisionError> {
    let mut seals = Vec::new();
    let mut add = |kind: SealImageKind, index: u8, png: Vec<u8>| -> Result<(), ProvisionError> {
        let file = format!("{}-{}-{}.png", spec.id, serde_kind(kind), index + 1);
        write_public(&seals_dir.join(&file), &png)?;
        seals.push(SealImageRef { kind, index, file });
        Ok(())
    };
    match (spec.role, &spec.person) {
        (HolderRole::Enterprise, _) => add(
            SealImageKind::EnterpriseSeal,
            0,
            seal_image::enterprise_seal(font, &spec.company),
        )?,
        (HolderRole::LegalPerson, Some(p)) => {
            add(
                SealImageKind::LegalPersonSeal,
                0,
                seal_image::legal_person_seal(font, p),
            )?;
            add(
                SealImageKind::LegalPersonSignature,
                0,
                seal_image::handwritten_signature(font, p),
            )?;
        }
        _ => {}
    }
    if let Some(p) = &spec.person {
        for i in 0..spec.personal_seals.min(3) {
            add(
                SealImageKind::PersonalSeal,
                i,
                seal_image::personal_seal(font, p, i),
            )?;
        }
    }
    Ok(seals)
}

/// What the phone seals for one certificate and with what.
struct EntrySecret<'a> {
    /// The PKCS#8 key, or the encoded phone share of a split key.
    secret: &'a [u8],
    split: bool,
    pin: &'a str,
    /// The service's seal share (opens the entry with the PIN).
    share: &'a crate::key_seal::ServiceShare,
    /// The service's recovery share (忘记证书密码).
    recovery_share: &'a crate::key_seal::ServiceShare,
    kdf_iterations: u32,
}

/// The keystore entry of an issued certificate: its secret sealed under PIN + seal share and
/// for recovery, its certificate and chain, its seal images.
fn keystore_entry(
    spec: &pki::LeafSpec,
    ca_id: &str,
    issued: &pki::IssuedCert,
    s: EntrySecret<'_>,
    seals: Vec<SealImageRef>,
) -> Result<KeystoreEntry, ProvisionError> {
    let fp = pki::fingerprint(&issued.cert)?;
    let recovery = RecoverySeal::seal(s.secret, s.recovery_share, &fp)?;
    let sealed = SealedKey::seal(s.secret, s.pin, s.share, &fp, s.kdf_iterations)?;
    Ok(KeystoreEntry {
        id: spec.id.clone(),
        role: spec.role,
        company: spec.company.clone(),
        uscc: spec.uscc.clone(),
        person: spec.person.clone(),
        ca: ca_id.to_string(),
        fingerprint: fp,
        cert_pem: pki::cert_pem(&issued.cert)?,
        chain_pem: issued.chain_pem()?,
        sealed_key: sealed,
        split: s.split,
        recovery: Some(recovery),
        seals,
    })
}

/// The world's platform certificate (public), for `bidseal tender make --world` and
/// `project new --platform-cert`.
pub const PLATFORM_CERT_FILE: &str = "platform.crt";
/// The world's platform signing key (PKCS#8 PEM, mode 0600).
pub const PLATFORM_KEY_FILE: &str = "platform.key.pem";

/// Writes the world's trading-platform identity into `pki_dir`: a fresh self-signed P-256
/// certificate and its key, with which `bidseal tender make --world` signs tender packages
/// that accept this world's CAs. Test only, like every key of the world.
pub fn write_platform_identity(pki_dir: &Path) -> Result<(), ProvisionError> {
    let platform = TestCa::generate("platform", "BidSeal 测试交易平台")?;
    write_public(
        &pki_dir.join(PLATFORM_CERT_FILE),
        pki::cert_pem(&platform.cert)?.as_bytes(),
    )?;
    write(
        &pki_dir.join(PLATFORM_KEY_FILE),
        platform.key_pem()?.as_bytes(),
    )
}

fn serde_kind(kind: SealImageKind) -> &'static str {
    match kind {
        SealImageKind::EnterpriseSeal => "enterprise_seal",
        SealImageKind::LegalPersonSeal => "legal_person_seal",
        SealImageKind::LegalPersonSignature => "legal_person_signature",
        SealImageKind::PersonalSeal => "personal_seal",
    }
}

// ---------------------------------------------------------------- leak search (tests)

/// Every encoding of `secret` a file could hold: raw big/little endian, hex (both cases), and
/// base64 (standard and URL-safe) at each of the three alignments the 32 bytes can have inside
/// a longer base64 text — for each, the characters that depend on key bytes only.
fn encodings(secret: &[u8; 32]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let mut le = *secret;
    le.reverse();
    let mut out = vec![secret.to_vec(), le.to_vec()];
    for bytes in [secret.as_slice(), le.as_slice()] {
        out.push(hex::encode(bytes).into_bytes());
        out.push(hex::encode_upper(bytes).into_bytes());
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            // The key starting 0, 1 or 2 bytes into a 3-byte group: the whole groups from
            // byte 0, 2 or 1 of the key on encode the same wherever the text is.
            for skip in [0usize, 1, 2] {
                let whole = (32 - skip) / 3 * 3;
                out.push(
                    engine
                        .encode(&bytes[skip..skip + whole])
                        .trim_end_matches('=')
                        .as_bytes()
                        .to_vec(),
                );
            }
        }
    }
    out
}

/// Both shares of the split certificate `id` of a world (the phone's unsealed with `pin`).
fn shares_of(
    ks: &crate::keystore::Keystore,
    book: &mut CosignBook,
    id: &str,
    pin: &str,
) -> Result<SharePair, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let e = ks
        .manifest
        .certificates
        .iter()
        .find(|e| e.id == id && e.split)
        .ok_or_else(|| format!("{id} 不是拆分密钥的证书"))?;
    let rec = book
        .record(&e.id)
        .map_err(|e| text(&e))?
        .ok_or("证书不在服务状态中")?;
    let seal = rec.share().ok_or("无封存分量")?;
    let phone_bytes = e
        .sealed_key
        .unseal(pin, &seal, &e.fingerprint)
        .map_err(|e| text(&e))?;
    let phone =
        crate::key_split::KeyShare::from_secret_bytes(&phone_bytes, crate::key_split::Side::Phone)
            .map_err(|e| text(&e))?;
    let service = rec.split_share().ok_or("无服务端分量")?;
    Ok((phone, service))
}

/// Test helper: the phone share of the split certificate `id` of the world `dir` (its
/// `phone/` opened with `pin` and the seal share in its `cosign/state.db`) — to try an old
/// share after a refresh. The product never does this.
#[doc(hidden)]
pub fn phone_share_for_tests(
    dir: &Path,
    pin: &str,
    id: &str,
) -> Result<crate::key_split::KeyShare, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let ks = crate::keystore::Keystore::load(&dir.join("phone")).map_err(|e| text(&e))?;
    let mut book = CosignBook::load(&dir.join("cosign/state.db")).map_err(|e| text(&e))?;
    shares_of(&ks, &mut book, id, pin).map(|(phone, _)| phone)
}

/// Test helper: a split certificate of a world acting as signer and as envelope recipient
/// with both shares in this process — the joint protocols run here, the whole key is never
/// formed. For tests that play a party holding a certificate outside any scan (an attacker's
/// bid, a crafted manifest, a crash during generation); the product never does this.
#[doc(hidden)]
pub struct WorldKeyHolder {
    phone: crate::key_split::KeyShare,
    service: crate::key_split::KeyShare,
    chain: Vec<bidseal_cms::cert::Certificate>,
}

impl WorldKeyHolder {
    /// The split certificate `id` of the world `dir` (its `pki/<id>.pem`).
    pub fn load(dir: &Path, pin: &str, id: &str) -> Result<Self, String> {
        let text = |e: &dyn std::fmt::Display| e.to_string();
        let ks = crate::keystore::Keystore::load(&dir.join("phone")).map_err(|e| text(&e))?;
        let mut book = CosignBook::load(&dir.join("cosign/state.db")).map_err(|e| text(&e))?;
        let (phone, service) = shares_of(&ks, &mut book, id, pin)?;
        let pem = std::fs::read(dir.join("pki").join(format!("{id}.pem"))).map_err(|e| text(&e))?;
        let cert = bidseal_cms::cert::Certificate::from_pem(&pem).map_err(|e| text(&e))?;
        Ok(Self {
            phone,
            service,
            chain: vec![cert],
        })
    }
}

impl WorldKeyHolder {
    /// The whole key `d = d₁ + d₂`, only to plant it where a leak search must find it.
    pub fn whole_key_for_leak_search(&self) -> Result<zeroize::Zeroizing<[u8; 32]>, String> {
        crate::key_split::whole_key_for_leak_search(&self.phone, &self.service)
            .map_err(|e| e.to_string())
    }
}

impl bidseal_cms::signed_data::Signer for WorldKeyHolder {
    fn certificate_chain(&self) -> &[bidseal_cms::cert::Certificate] {
        &self.chain
    }

    fn sign<'a>(
        &'a self,
        request: &'a bidseal_cms::signed_data::SignRequest,
    ) -> bidseal_cms::signed_data::SignFuture<'a> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(&request.to_be_signed).into();
        let mut sign_id = [0u8; 32];
        OsRng.fill_bytes(&mut sign_id);
        let result =
            crate::key_split::sign_in_process(&self.phone, &self.service, &sign_id, &digest)
                .map(|sig| sig.to_bytes().to_vec())
                .map_err(|e| bidseal_cms::signed_data::SignedDataError::Signer {
                    detail: e.to_string(),
                });
        Box::pin(async move { result })
    }
}

impl bidseal_cms::envelope::KeyAgreement for WorldKeyHolder {
    fn certificate(&self) -> &bidseal_cms::cert::Certificate {
        &self.chain[0]
    }

    fn key_encryption_key(
        &self,
        entry: &bidseal_cms::envelope::RecipientEntry,
    ) -> impl std::future::Future<
        Output = Result<
            bidseal_cms::envelope::KeyEncryptionKey,
            bidseal_cms::envelope::EnvelopeError,
        >,
    > + Send {
        let result = entry.originator_key().and_then(|originator| {
            let part = crate::key_split::ecdh_part(&self.service, originator).map_err(|e| {
                bidseal_cms::envelope::EnvelopeError::KeyUnreadable {
                    detail: e.to_string(),
                }
            })?;
            let z =
                crate::key_split::combine_ecdh(&self.phone, originator, &part).map_err(|e| {
                    bidseal_cms::envelope::EnvelopeError::KeyUnreadable {
                        detail: e.to_string(),
                    }
                })?;
            entry.key_encryption_key(&bidseal_cms::envelope::SharedSecret::from_bytes(*z))
        });
        async move { result }
    }
}

/// Test helper: searches every file under `dir` for the whole key of each split certificate
/// (computed here from the two shares, which only a test holding the whole world can do) in
/// every encoding ([`encodings`]), and for any PEM private key (PKCS#8 or SEC1) of a split
/// certificate's public key. Returns the files that hold one; errors for an unreadable world
/// or one without split certificates.
#[doc(hidden)]
pub fn whole_key_traces(dir: &Path, pin: &str) -> Result<Vec<String>, String> {
    whole_key_traces_in(dir, pin, &[dir])
}

/// [`whole_key_traces`] for the world `dir`, searching every file under each of `roots` (the
/// world, a demo's outputs, saved logs).
#[doc(hidden)]
pub fn whole_key_traces_in(dir: &Path, pin: &str, roots: &[&Path]) -> Result<Vec<String>, String> {
    use p256::pkcs8::DecodePrivateKey;
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let ks = crate::keystore::Keystore::load(&dir.join("phone")).map_err(|e| text(&e))?;
    let mut book = CosignBook::load(&dir.join("cosign/state.db")).map_err(|e| text(&e))?;
    let mut needles = Vec::new();
    let mut publics = Vec::new();
    for e in ks.manifest.certificates.iter().filter(|e| e.split) {
        let (phone, service) = shares_of(&ks, &mut book, &e.id, pin)?;
        let d =
            crate::key_split::whole_key_for_leak_search(&phone, &service).map_err(|e| text(&e))?;
        needles.extend(encodings(&d));
        publics.push(phone.public_key().map_err(|e| text(&e))?);
    }
    if publics.is_empty() {
        return Err(format!("{} 中没有拆分密钥的证书", dir.display()));
    }
    let mut hits = Vec::new();
    let mut stack: Vec<PathBuf> = roots.iter().map(|r| r.to_path_buf()).collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| text(&e))? {
                stack.push(entry.map_err(|e| text(&e))?.path());
            }
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| text(&e))?;
        let name = path.display().to_string();
        if needles
            .iter()
            .any(|n| bytes.windows(n.len()).any(|w| w == n.as_slice()))
        {
            hits.push(format!("{name}: raw scalar"));
        }
        let content = String::from_utf8_lossy(&bytes);
        for block in content.split("-----BEGIN ").skip(1) {
            let Some(end) = block.find("-----END ") else {
                continue;
            };
            let tail = block[end + 9..].split("-----").next().unwrap_or("");
            let pem = format!("-----BEGIN {}{tail}-----\n", &block[..end + 9]);
            let key = p256::SecretKey::from_pkcs8_pem(&pem)
                .ok()
                .or_else(|| p256::SecretKey::from_sec1_pem(&pem).ok());
            if key.is_some_and(|k| publics.contains(&k.public_key())) {
                hits.push(format!("{name}: PEM private key"));
            }
        }
    }
    Ok(hits)
}

/// A world (PIN 123456) from the test key pool: fast once the pool exists (unit tests).
#[cfg(test)]
pub(crate) fn pooled_test_world(dir: &Path) -> Result<ProvisionReport, ProvisionError> {
    let options = InitOptions {
        key_pool: Some(test_key_pool_dir()),
    };
    init_test_world_with(dir, "123456", 1000, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::Keystore;

    fn pooled_world(dir: &Path) -> ProvisionReport {
        pooled_test_world(dir).unwrap()
    }

    fn cert_key(e: &KeystoreEntry) -> Vec<u8> {
        use x509_cert::der::DecodePem;
        let cert = x509_cert::Certificate::from_pem(e.cert_pem.as_bytes()).unwrap();
        cert.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .to_vec()
    }

    #[test]
    fn init_makes_a_keystore_whose_keys_and_shares_open_only_with_the_service_share() {
        let dir = tempfile::tempdir().unwrap();
        let report = pooled_world(dir.path());
        assert_eq!(report.certificates.len(), 9);
        let ks = Keystore::load(&dir.path().join("phone")).unwrap();
        let ent = ks.entry("ent-huaxia").unwrap();
        assert_eq!(ent.seals.len(), 1);
        assert!(ks.seal_png(&ent.seals[0]).unwrap().starts_with(b"\x89PNG"));
        assert_eq!(ks.entry("staff-li").unwrap().seals.len(), 3);
        let mut book = CosignBook::load(&dir.path().join("cosign/state.db")).unwrap();
        assert!(book
            .record("ent-huaxia")
            .unwrap()
            .unwrap()
            .pin
            .matches("123456"));
        assert!(
            init_test_world(dir.path(), "123456", 1000).is_err(),
            "must not overwrite"
        );
        let platform = std::fs::read_to_string(dir.path().join("pki/platform.crt")).unwrap();
        assert!(platform.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = std::fs::read_to_string(dir.path().join("pki/platform.key.pem")).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let keystore_text =
            std::fs::read_to_string(dir.path().join("phone/keystore.json")).unwrap();
        assert!(!keystore_text.contains("PRIVATE KEY"));

        // Exactly one certificate is plain: its key file exists and is its key; every other
        // certificate is split and has no key file.
        let plain: Vec<_> = ks
            .manifest
            .certificates
            .iter()
            .filter(|e| !e.split)
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(plain, [pki::PLAIN_CERT_ID]);
        for e in &ks.manifest.certificates {
            let key_file = dir.path().join(format!("pki/{}.key.pem", e.id));
            assert_eq!(key_file.exists(), !e.split, "{}", e.id);
        }

        // Every sealed secret opens with the PIN and its own service share and belongs to the
        // certificate (the plain key, or the phone share of the joint key); a wrong share,
        // another certificate's share or a wrong PIN opens nothing.
        let shares: Vec<_> = ks
            .manifest
            .certificates
            .iter()
            .map(|e| book.record(&e.id).unwrap().unwrap().share().unwrap())
            .collect();
        for (i, e) in ks.manifest.certificates.iter().enumerate() {
            use p256::pkcs8::DecodePrivateKey;
            let secret = e
                .sealed_key
                .unseal("123456", &shares[i], &e.fingerprint)
                .unwrap();
            let public = if e.split {
                crate::key_split::KeyShare::from_secret_bytes(
                    &secret,
                    crate::key_split::Side::Phone,
                )
                .unwrap()
                .public_key()
                .unwrap()
            } else {
                p256::SecretKey::from_pkcs8_der(&secret)
                    .unwrap()
                    .public_key()
            };
            assert_eq!(
                public.to_sec1_bytes().as_ref(),
                cert_key(e).as_slice(),
                "{}: the sealed secret is for the certificate's key",
                e.id
            );
            let other = &shares[(i + 1) % shares.len()];
            assert!(e
                .sealed_key
                .unseal("123456", other, &e.fingerprint)
                .is_err());
            let mut flipped = *shares[i];
            flipped[0] ^= 1;
            assert!(e
                .sealed_key
                .unseal("123456", &zeroize::Zeroizing::new(flipped), &e.fingerprint)
                .is_err());
            assert!(e
                .sealed_key
                .unseal("654321", &shares[i], &e.fingerprint)
                .is_err());
        }
        assert_eq!(
            whole_key_traces(dir.path(), "123456"),
            Ok(Vec::<String>::new())
        );
    }

    #[test]
    fn the_leak_search_knows_every_encoding_and_base64_alignment_of_a_key() {
        use base64::Engine;
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let needles = encodings(&key);
        let found = |hay: &[u8]| {
            needles
                .iter()
                .any(|n| hay.windows(n.len()).any(|w| w == n.as_slice()))
        };
        let mut le = key;
        le.reverse();
        for bytes in [key, le] {
            assert!(found(&[b"x".as_slice(), &bytes, b"y"].concat()));
            assert!(found(format!("k={}", hex::encode(bytes)).as_bytes()));
            assert!(found(hex::encode_upper(bytes).as_bytes()));
            for prefix in 0..6 {
                let data = [vec![0x30u8; prefix], bytes.to_vec(), vec![1, 2, 3, 4]].concat();
                for engine in [
                    &base64::engine::general_purpose::STANDARD,
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                ] {
                    assert!(found(engine.encode(&data).as_bytes()), "offset {prefix}");
                }
            }
        }
        // Another key, and this key with one byte changed, are not found.
        let mut other = key;
        other[16] ^= 1;
        assert!(!found(&other));
        assert!(!found(hex::encode(other).as_bytes()));
        assert!(!found(
            base64::engine::general_purpose::STANDARD
                .encode(other)
                .as_bytes()
        ));
    }

    #[test]
    fn pooled_worlds_share_key_pairs_but_not_certificates_and_a_bad_pool_file_is_remade() {
        let pool = tempfile::tempdir().unwrap();
        let options = InitOptions {
            key_pool: Some(pool.path().to_path_buf()),
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        init_test_world_with(a.path(), "123456", 1000, options.clone()).unwrap();
        // A torn pool file (or one of another library version) is remade by a real DKG.
        std::fs::write(
            pool.path().join("ent-huaxia.shares.json"),
            b"{\"phone\":\"00\"}",
        )
        .unwrap();
        init_test_world_with(b.path(), "123456", 1000, options).unwrap();
        let (ka, kb) = (
            Keystore::load(&a.path().join("phone")).unwrap(),
            Keystore::load(&b.path().join("phone")).unwrap(),
        );
        for (ea, eb) in ka
            .manifest
            .certificates
            .iter()
            .zip(&kb.manifest.certificates)
        {
            assert_ne!(
                ea.cert_pem, eb.cert_pem,
                "{}: own certificate per world",
                ea.id
            );
            let same_key = cert_key(ea) == cert_key(eb);
            let remade = ea.id == "ent-huaxia" || !ea.split;
            assert_eq!(same_key, !remade, "{}", ea.id);
        }
        assert!(read_pooled(pool.path(), "ent-huaxia").is_some(), "remade");
        assert!(!pool.path().join("lock").exists(), "lock released");
        assert_eq!(
            whole_key_traces(b.path(), "123456"),
            Ok(Vec::<String>::new())
        );
    }

    #[test]
    fn split_world_has_joint_keys_certified_from_a_joint_csr_and_no_whole_key_anywhere() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        // A fresh DKG per certificate (no pool): what `phone init` does for a person.
        init_test_world(dir.path(), "123456", 1000).unwrap();
        eprintln!(
            "phone init with 7 split keys (debug build): {:?}",
            started.elapsed()
        );
        let ks = Keystore::load(&dir.path().join("phone")).unwrap();
        let mut book = CosignBook::load(&dir.path().join("cosign/state.db")).unwrap();
        for e in ks.manifest.certificates.iter().filter(|e| !is_plain(&e.id)) {
            assert!(e.split, "{}", e.id);
            assert!(
                !dir.path().join(format!("pki/{}.key.pem", e.id)).exists(),
                "{}: no key file for a split key",
                e.id
            );
            let rec = book.record(&e.id).unwrap().unwrap();
            let seal = rec.share().unwrap();
            let phone = crate::key_split::KeyShare::from_secret_bytes(
                &e.sealed_key
                    .unseal("123456", &seal, &e.fingerprint)
                    .unwrap(),
                crate::key_split::Side::Phone,
            )
            .unwrap();
            let service = rec.split_share().unwrap();
            use x509_cert::der::DecodePem;
            let cert = x509_cert::Certificate::from_pem(e.cert_pem.as_bytes()).unwrap();
            let cert_key = cert
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes()
                .to_vec();
            assert_eq!(
                phone.public_key().unwrap().to_sec1_bytes().as_ref(),
                cert_key.as_slice(),
                "{}: the certificate is for the joint key",
                e.id
            );
            // The shares sign together for the certificate's key.
            let digest = [e.id.len() as u8; 32];
            let sig =
                crate::key_split::sign_in_process(&phone, &service, b"check", &digest).unwrap();
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            assert!(p256::ecdsa::VerifyingKey::from_sec1_bytes(&cert_key)
                .unwrap()
                .verify_prehash(&digest, &sig)
                .is_ok());
        }
        assert_eq!(
            whole_key_traces(dir.path(), "123456"),
            Ok(Vec::<String>::new())
        );
        // The search finds a planted key (hex in a log, PKCS#8 PEM in a backup).
        let e = &ks.manifest.certificates[0];
        let rec = book.record(&e.id).unwrap().unwrap();
        let phone = crate::key_split::KeyShare::from_secret_bytes(
            &e.sealed_key
                .unseal("123456", &rec.share().unwrap(), &e.fingerprint)
                .unwrap(),
            crate::key_split::Side::Phone,
        )
        .unwrap();
        let d = crate::key_split::whole_key_for_leak_search(&phone, &rec.split_share().unwrap())
            .unwrap();
        std::fs::write(dir.path().join("cosign/leak.log"), hex::encode(*d)).unwrap();
        let hits = whole_key_traces(dir.path(), "123456").unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        std::fs::remove_file(dir.path().join("cosign/leak.log")).unwrap();
        use p256::pkcs8::EncodePrivateKey;
        let pem = p256::SecretKey::from_slice(d.as_slice())
            .unwrap()
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        std::fs::write(dir.path().join("phone/backup.pem"), pem.as_bytes()).unwrap();
        let hits = whole_key_traces(dir.path(), "123456").unwrap();
        assert!(
            hits.iter().any(|h| h.contains("PEM private key")),
            "{hits:?}"
        );
    }

    #[test]
    fn the_ca_refuses_a_csr_not_signed_by_its_key_or_for_another_subject() {
        let ca = TestCa::generate("ca-1", "测试").unwrap();
        let specs = pki::standard_specs().unwrap();
        let (phone, service) = crate::key_split::dkg_in_process(b"csr").unwrap();
        let public = phone.public_key().unwrap();
        let info = pki::request_info(&specs[0], &public).unwrap();
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(der::Encode::to_der(&info).unwrap()).into();
        let good = crate::key_split::sign_in_process(&phone, &service, b"c", &digest).unwrap();
        let csr = pki::certificate_request(info.clone(), good.to_der().as_bytes()).unwrap();
        assert!(ca.issue_from_csr(&specs[0], &csr).is_ok());
        assert!(matches!(
            ca.issue_from_csr(&specs[1], &csr),
            Err(PkiError::Csr(_))
        ));
        // Signed by another key (a rogue party's own key) for the joint public key.
        let rogue = p256::ecdsa::SigningKey::random(&mut OsRng);
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let bad: p256::ecdsa::Signature = rogue.sign_prehash(&digest).unwrap();
        let csr = pki::certificate_request(info.clone(), bad.to_der().as_bytes()).unwrap();
        assert!(matches!(
            ca.issue_from_csr(&specs[0], &csr),
            Err(PkiError::Csr(_))
        ));
        // A signature by the phone's share alone.
        let (_, other_service) = crate::key_split::dkg_in_process(b"other").unwrap();
        assert!(crate::key_split::sign_in_process(&phone, &other_service, b"c", &digest).is_err());
    }
}
