//! Benchmark of split keys on loopback (bench/split.sh runs it in release): one joint
//! signature, one seal's grant (item + seal-image binding), one joint ECDH, against the
//! single-key path in the same run (the service's `authorise` + unseal + local ECDSA, and a
//! bare local ECDSA), all through the real co-signing router on 127.0.0.1.
//!
//! Last: 开通 (enrolment) over loopback — the DKG, the jointly signed CSR and the registration
//! of a new certificate, as `phone init` runs it — at most 5 rounds.
//!
//! Usage: `cargo run --release -p bidseal-phone --example split_bench [ROUNDS]` (default 30).

use bidseal_phone::cosign::client::CosignClient;
use bidseal_phone::cosign::device::DeviceKey;
use bidseal_phone::cosign::opening::PlatformPins;
use bidseal_phone::cosign::server::{serve_with, ServiceConfig};
use bidseal_phone::cosign::state::{
    rfc3339, CertRecord, CertShares, CosignBook, CosignOperation, OperationContext, TenderEvidence,
};
use bidseal_phone::key_seal::SealedKey;
use bidseal_phone::key_split::{dkg_in_process, KeyShare, Side};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use std::time::{Duration, Instant};

const PIN: &str = "135790";

fn stats(name: &str, mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    println!(
        "{name:<44} median {:>8.2} ms  p90 {:>8.2} ms  mean {:>8.2} ms  (n={})",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        mean,
        samples.len()
    );
    ms(samples[samples.len() / 2])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30)
        .max(3);
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("cosign");
    std::fs::create_dir_all(&state)?;
    let device = DeviceKey::generate();

    let t = Instant::now();
    let (phone, service) = dkg_in_process(b"bench")?;
    println!(
        "DKG (both parties in one process): {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let public = phone.public_key()?;

    // A split certificate and a plain one (whole key sealed under PIN + share, as today).
    let split_seal = bidseal_phone::key_seal::new_share();
    let sealed_share = SealedKey::seal(&phone.to_secret_bytes()?, PIN, &split_seal, "fp-s", 1000)?;
    drop(phone);
    let plain_key = p256::SecretKey::random(&mut rand_core::OsRng);
    let plain_share = bidseal_phone::key_seal::new_share();
    use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    let pkcs8 = plain_key.to_pkcs8_der()?;
    let sealed_plain = SealedKey::seal(pkcs8.as_bytes(), PIN, &plain_share, "fp-p", 1000)?;
    let mut book = CosignBook::create(&state.join("state.db"))?;
    let recovery = bidseal_phone::key_seal::new_share();
    let shares = |s| CertShares {
        share: s,
        recovery_share: &recovery,
    };
    book.insert(
        &CertRecord::new(
            "split",
            "fp-s",
            "测试",
            i64::MAX / 2,
            PIN,
            shares(&split_seal),
            1000,
        )
        .with_device(&device.public_hex())
        .with_split_share(&service)?,
    )?;
    drop(service);
    book.insert(
        &CertRecord::new(
            "plain",
            "fp-p",
            "测试",
            i64::MAX / 2,
            PIN,
            shares(&plain_share),
            1000,
        )
        .with_device(&device.public_hex()),
    )?;
    drop(book);
    std::fs::write(state.join("admin-token"), "bench")?;
    let platform = bidseal_phone::pki::TestCa::generate("ca-1", "平台")?;
    let pins = PlatformPins::new(vec![bidseal_bid::tender::PlatformCertificate::from_pem(
        &bidseal_phone::pki::cert_pem(&platform.cert)?,
    )?]);
    let signer = bidseal_bid::tender::PlatformSigner::from_pkcs8_pem(platform.key_pem()?)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let serve_state = state.clone();
    tokio::spawn(async move {
        let config = ServiceConfig {
            platform_pins: pins,
            ..Default::default()
        };
        let _ = serve_with(listener, &serve_state, config).await;
    });
    let client = CosignClient::new(&url)?.with_device_key(Some(&device));
    let ctx = |operation, session: usize, tender: Option<TenderEvidence>| OperationContext {
        operation,
        desktop: "bench".into(),
        session_id: format!("session-{session}"),
        detail: "bench".into(),
        tender,
        bound_digest: None,
    };
    let open = |seal: &bidseal_phone::key_seal::ServiceShare| -> Option<KeyShare> {
        let bytes = sealed_share.unseal(PIN, seal, "fp-s").ok()?;
        KeyShare::from_secret_bytes(&bytes, Side::Phone).ok()
    };

    let mut local = Vec::new();
    let mut plain = Vec::new();
    let mut joint = Vec::new();
    let mut joint_seal = Vec::new();
    let mut joint_ecdh = Vec::new();
    let manifest = serde_json::json!({
        "project": {"id": "B", "lot": {"id": "1"}},
        "opening_time": rfc3339(time::OffsetDateTime::now_utc().unix_timestamp() - 60),
    })
    .to_string()
    .into_bytes();
    let tender = TenderEvidence {
        signature: signer.sign(&manifest).into(),
        manifest: manifest.clone().into(),
    };
    let ukm = bidseal_scan::EnvelopeUkm {
        tender: bidseal_scan::Digest32::of(&manifest),
        manifest: bidseal_scan::Digest32([7; 32]),
    }
    .to_bytes();
    for i in 0..rounds {
        let digest: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            i.to_be_bytes(),
        ))
        .into();
        let binding = [i as u8; 32];

        let t = Instant::now();
        let key = p256::ecdsa::SigningKey::from(&plain_key);
        let _sig: p256::ecdsa::Signature = key.sign_prehash(&digest)?;
        local.push(t.elapsed());

        let t = Instant::now();
        let share = client
            .authorise("plain", PIN, "测试", &ctx(CosignOperation::Sign, i, None))
            .await?;
        let der = sealed_plain.unseal(PIN, &share, "fp-p")?;
        let key = p256::ecdsa::SigningKey::from(p256::SecretKey::from_pkcs8_der(&der)?);
        let _a: p256::ecdsa::Signature = key.sign_prehash(&digest)?;
        let _b: p256::ecdsa::Signature = key.sign_prehash(&binding)?;
        plain.push(t.elapsed());

        let t = Instant::now();
        let sigs = client
            .split_sign(
                "split",
                PIN,
                "测试",
                &ctx(CosignOperation::Sign, i, None),
                &[digest],
                &open,
            )
            .await?;
        joint.push(t.elapsed());
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        p256::ecdsa::VerifyingKey::from(public).verify_prehash(&digest, &sigs[0])?;

        let t = Instant::now();
        client
            .split_sign(
                "split",
                PIN,
                "测试",
                &ctx(CosignOperation::Sign, i, None),
                &[digest, binding],
                &open,
            )
            .await?;
        joint_seal.push(t.elapsed());

        let eph = p256::SecretKey::random(&mut rand_core::OsRng);
        let t = Instant::now();
        let z = client
            .split_ecdh(
                "split",
                PIN,
                "测试",
                &ctx(CosignOperation::Decrypt, i, Some(tender.clone())),
                &eph.public_key(),
                &ukm,
                &open,
            )
            .await?;
        joint_ecdh.push(t.elapsed());
        let expected = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), public.as_affine());
        assert_eq!(z.as_slice(), expected.raw_secret_bytes().as_slice());
    }
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("loopback, {build} build, {rounds} rounds each, same run:");
    let l = stats("local ECDSA (whole key in memory)", local);
    let p = stats("seal today: authorise + unseal + 2 ECDSA", plain);
    let j = stats("joint ECDSA, 1 digest (3 calls)", joint);
    let s = stats("joint seal: item + seal binding (3 calls)", joint_seal);
    let e = stats("joint ECDH (1 call)", joint_ecdh);
    println!(
        "added per seal vs today: {:.1} ms (goal < 100 ms); 30-node session ≈ {:.1} s of signing; joint/local ratio {:.0}x; ECDH {:.1} ms",
        s - p,
        30.0 * s / 1000.0,
        j / l.max(1e-6),
        e
    );

    // 开通 over loopback: admin code, DKG, jointly signed CSR, the CA issues, registration
    // (what `phone init` does per certificate), one after another.
    let ca = bidseal_phone::pki::TestCa::generate("ca-1", "测试CA")?;
    std::fs::write(
        state.join(bidseal_phone::cosign::server::ENROL_ISSUERS_FILE),
        bidseal_phone::pki::cert_pem(&ca.cert)?,
    )?;
    let mut spec = bidseal_phone::pki::standard_specs()?
        .into_iter()
        .find(|s| s.id == "colleague-wang")
        .ok_or("spec")?;
    let mut enrol = Vec::new();
    for i in 0..rounds.min(5) {
        spec.id = format!("bench-enrol-{i}");
        let t = Instant::now();
        let code = client
            .enrol_code("bench", &spec.id, "测试", Some(1000))
            .await?;
        bidseal_phone::provision::enrol_certificate(&client, &ca, &spec, &code, PIN).await?;
        enrol.push(t.elapsed());
    }
    stats("开通 over loopback (code, DKG, joint CSR, register)", enrol);
    Ok(())
}
