//! `bidseal demo --out DIR`: the whole bidder + hall flow on embedded defaults, headless.
//!
//! Embedded relay and co-signing service on 127.0.0.1, simulated phones in-process (each reads
//! the QR from the PNG this run shows, as a camera would), the demo tender spec and PDF built
//! into the binary, the phones' fresh test PKI. Steps: tender package signed by a demo
//! platform key and accepting the phones' two CAs → bid project (attachments, bid form) →
//! composition → seal every signing node by one scan in session mode → authenticate →
//! generate with two colleague certificates → trial decryption (before the opening time, in
//! one `generate` scan) → opening: first before the tender's opening time (the phone must
//! refuse: it reads the opening time from the platform-signed tender and its own clock), then,
//! once the opening time has come, with each of the three certificates. The demo tender opens
//! [`OPENING_AFTER`] after it is made, so the demo waits for it. Everything is left in DIR
//! with a README.txt.
//!
//! Guarantees: any failing step stops the demo with its error code (never a fake success);
//! the exit code is 0 only when every opening check passed.

use super::{flow_err, print_table};
use anyhow::{anyhow, bail, Context, Result};
use bidseal_bid::bidfile::BidderIds;
use bidseal_bid::compose::compose;
use bidseal_bid::opening::BidOpeningReport;
use bidseal_bid::project::BidProject;
use bidseal_bid::tender::{
    self, PackageInputs, PlatformCertificate, PlatformSigner, TenderSpec, TrustedPlatforms,
};
use bidseal_bid::time::OffsetDateTime;
use bidseal_phone::cosign::client::CosignClient;
use bidseal_phone::gates::PinnedPlatforms;
use bidseal_phone::keystore::Keystore;
use bidseal_phone::pki::TestCa;
use bidseal_phone::scan_loop::{run_scan, PhoneBehaviour};
use bidseal_phone::simulator::{PhoneSimulator, PhoneUser, UserDecision};
use bidseal_scan::client::ScanOptions;
use bidseal_scan::{CertificateChoice, OperationKind, QrPayload};
use bidseal_workflow::qr_files::QrFiles;
use bidseal_workflow::report::{write_json_report, write_pdf_report};
use bidseal_workflow::scan_session::{refs_from_tender, ScanPresenter, ScanTarget};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bidseal_bid::tender::demo::{DEMO_PDF as TENDER_PDF, DEMO_SPEC as SPEC};

const PIN: &str = "123456";
/// PIN key-derivation work for the demo's phones (lower than production to keep it quick).
const DEMO_KDF_ITERATIONS: u32 = 20_000;
/// The two colleagues the bid is also encrypted to: one split key and the world's `-plain`
/// certificate, whose whole key lets openssl open the bid file independently (README.txt).
const COLLEAGUES: [&str; 2] = ["colleague-wang", bidseal_phone::pki::PLAIN_CERT_ID];
/// Bid deadline and opening time of the demo tender, counted from its making: long enough
/// for composing, sealing, generating and the trial decryption of a debug build.
pub const OPENING_AFTER: Duration = Duration::from_secs(90);

/// A simulated phone that "photographs" each QR PNG and joins the scan.
struct DemoPhone {
    phone: Arc<PhoneSimulator>,
    qr_files: Arc<Mutex<QrFiles>>,
    label: String,
    errors: Arc<Mutex<Vec<String>>>,
}

impl ScanPresenter for DemoPhone {
    fn show_qr(&mut self, op: OperationKind, payload: &QrPayload) {
        let written = self
            .qr_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_png(op, payload);
        if let Ok(path) = &written {
            eprintln!(
                "{}",
                crate::words!(
                    "out.demo.qr",
                    operation = crate::cmd::lang::operation_name(op),
                    file = path.display()
                )
            );
        }
        let phone = self.phone.clone();
        let device = self.label.clone();
        let errors = self.errors.clone();
        let fallback = payload.to_url();
        tokio::spawn(async move {
            // The phone's camera reads the PNG; without the PNG it has nothing to scan.
            let text = match written.map_err(|e| e.to_string()).and_then(|path| {
                bidseal_phone::camera::read_qr_png(&path).map_err(|e| e.to_string())
            }) {
                Ok(t) => t,
                Err(e) => {
                    errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("二维码图片无法识别：{e}"));
                    let _ = fallback;
                    return;
                }
            };
            let result = run_scan(
                &text,
                &phone,
                &device,
                PhoneBehaviour::Normal,
                &mut |line| eprintln!("    [{device}] {}", crate::cmd::lang::phrase(line)),
            )
            .await;
            if let Err(e) = result {
                errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(e.to_string());
            }
        });
    }

    fn status(&mut self, line: &str) {
        // The flows' progress words (zh-CN), in the language of this run.
        let line = crate::cmd::lang::phrase(line);
        eprintln!("{line}");
    }
}

struct DemoWorld {
    out: PathBuf,
    pki: PathBuf,
    cosign_url: String,
    qr_files: Arc<Mutex<QrFiles>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl DemoWorld {
    fn phone(&self, label: &str, cert: Option<&str>, colleagues: &[&str]) -> Result<DemoPhone> {
        let keystore = Keystore::load(&self.out.join("phones").join("phone"))
            .map_err(|e| anyhow!("手机证书库无法读取：{e}"))?;
        let cosign = CosignClient::new(&self.cosign_url)
            .map_err(|e| anyhow!("{e}"))?
            .with_device_key(keystore.device_key());
        let user = PhoneUser {
            pin: PIN.to_string().into(),
            decision: UserDecision::Confirm,
            auto_confirm: true,
            cert: cert.map(str::to_string),
            colleagues: colleagues.iter().map(|s| s.to_string()).collect(),
        };
        let platforms = PinnedPlatforms::from_pem_files(&[self.out.join("platform.pem")])
            .map_err(|e| anyhow!("[E_DEMO_PLATFORM] {e}"))?;
        Ok(DemoPhone {
            phone: Arc::new(PhoneSimulator::new(keystore, cosign, user).with_platforms(platforms)),
            qr_files: self.qr_files.clone(),
            label: label.to_string(),
            errors: self.errors.clone(),
        })
    }
}

fn coded<E: std::fmt::Display>(code: &str, e: E) -> anyhow::Error {
    anyhow!("[{code}] {e}")
}

fn flow(e: bidseal_workflow::FlowError) -> anyhow::Error {
    coded(e.code(), e)
}

/// Runs the demo into `out`.
pub async fn run_demo(out: &Path) -> Result<ExitCode> {
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "[E_DEMO_OUT_NOT_EMPTY] 输出目录 {} 已存在且不为空，请指定一个新目录",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("无法创建 {}", out.display()))?;
    let out = out.canonicalize().unwrap_or_else(|_| out.to_path_buf());
    let now = OffsetDateTime::now_utc();

    // 1. The simulated phones' world: test PKI, keystore, co-signing service state.
    eprintln!("{}", crate::words!("out.demo.step1"));
    let phones = out.join("phones");
    let options = crate::cmd::phone::init_options();
    bidseal_phone::provision::init_test_world_with(&phones, PIN, DEMO_KDF_ITERATIONS, options)
        .map_err(|e| anyhow!("[E_DEMO_PHONE_INIT] {e}"))?;
    let pki = phones.join("pki");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let cosign_url = format!("http://{}", listener.local_addr()?);
    let state = phones.join("cosign");
    let relay = bidseal_workflow::relay::start_embedded_relay()
        .await
        .map_err(flow_err)?;
    eprintln!(
        "{}",
        crate::words!(
            "out.demo.services",
            relay = relay.url(),
            cosign = cosign_url
        )
    );
    let world = DemoWorld {
        out: out.clone(),
        pki: pki.clone(),
        cosign_url,
        qr_files: Arc::new(Mutex::new(QrFiles::new(out.to_path_buf()))),
        errors: Arc::new(Mutex::new(Vec::new())),
    };

    // 2. Tender package accepting the phones' CAs, signed by a demo platform key.
    eprintln!("{}", crate::words!("out.demo.step2"));
    let platform_ca = TestCa::generate("platform", "BidSeal 演示交易平台")
        .map_err(|e| anyhow!("[E_DEMO_PLATFORM] {e}"))?;
    let platform_pem =
        bidseal_phone::pki::cert_pem(&platform_ca.cert).map_err(|e| anyhow!("{e}"))?;
    std::fs::write(out.join("platform.pem"), &platform_pem)?;
    // The co-signing service pins the demo platform: it reads the opening time from the tenders
    // this platform signs (its listener is already bound; phones only call it from step 4 on).
    let pins = bidseal_phone::cosign::opening::PlatformPins::load(&[out.join("platform.pem")])
        .map_err(|e| anyhow!("[E_DEMO_PLATFORM] {e}"))?;
    tokio::spawn(async move {
        let config = bidseal_phone::cosign::server::ServiceConfig {
            platform_pins: pins,
            ..Default::default()
        };
        if let Err(e) = bidseal_phone::cosign::server::serve_with(listener, &state, config).await {
            eprintln!("{}", crate::words!("out.demo.cosign_stopped", error = e));
        }
    });
    let platform = PlatformCertificate::from_pem(&platform_pem).map_err(|e| coded(e.code(), e))?;
    let signer = PlatformSigner::from_pkcs8_pem(platform_ca.key_pem().map_err(|e| anyhow!("{e}"))?)
        .map_err(|e| coded(e.code(), e))?;
    let mut spec: TenderSpec = serde_json::from_str(SPEC).context("内置演示招标规格无法解析")?;
    spec.bid_deadline = now + OPENING_AFTER;
    spec.opening_time = spec.bid_deadline;
    eprintln!(
        "{}",
        crate::words!(
            "out.demo.times",
            time = spec.opening_time,
            secs = OPENING_AFTER.as_secs()
        )
    );
    let mut cas = Vec::new();
    for id in ["ca-1", "ca-2"] {
        let pem = std::fs::read(pki.join(format!("{id}.pem")))?;
        cas.push((id.to_string(), format!("测试 CA {id}"), pem));
    }
    let tender_path = out.join("tender.zip");
    let manifest = tender::make(
        spec,
        PackageInputs {
            tender_pdf: TENDER_PDF,
            extra_docs: vec![],
            accepted_cas: cas,
            platform_cert: &platform,
            signer: &signer,
        },
        now,
        &tender_path,
    )
    .map_err(|e| coded(e.code(), e))?;
    let (platform_ref, project_ref) = refs_from_tender(&manifest);

    // 3. Bid project, attachments, bid form, composition.
    eprintln!("{}", crate::words!("out.demo.step3"));
    let proj_dir = out.join("work").join("demo.bidproj");
    std::fs::create_dir_all(out.join("work"))?;
    let mut project = BidProject::create(
        &proj_dir,
        &tender_path,
        &TrustedPlatforms::pinned(vec![platform]),
        now,
    )
    .map_err(|e| coded(e.code(), e))?;
    let attach_src = out.join("work").join("附件.pdf");
    std::fs::write(&attach_src, TENDER_PDF)?;
    for section in ["business", "technical", "qualification"] {
        project
            .attach(section, &attach_src)
            .map_err(|e| coded(e.code(), e))?;
    }
    let ent = bidseal_cms::cert::Certificate::from_pem(&std::fs::read(pki.join("ent-huaxia.pem"))?)
        .map_err(|e| coded(e.code(), e))?;
    let bidder = BidderIds {
        name: ent.organization().unwrap_or_default(),
        credit_code: ent.credit_code().unwrap_or_default(),
    };
    for (k, v) in [
        ("bidder.name", bidder.name.as_str()),
        ("bidder.credit_code", bidder.credit_code.as_str()),
        ("bidder.legal_representative", "张伟"),
        ("bidder.address", "北京市海淀区演示路 1 号"),
        ("bidder.contact", "李娜"),
        ("bidder.phone", "010-88886666"),
        ("price", "4321000.50"),
        ("duration", "300"),
        ("quality", "合格"),
        ("project_manager", "王芳"),
    ] {
        project.set(k, v).map_err(|e| coded(e.code(), e))?;
    }
    let composition = compose(&mut project, now).map_err(|e| coded(e.code(), e))?;
    let composed = proj_dir.join(&composition.output);
    let before_seal = out.join("composed-before-seal.pdf");
    std::fs::copy(&composed, &before_seal)?;
    eprintln!(
        "{}",
        crate::words!(
            "out.demo.composed",
            pages = composition.pages,
            nodes = composition.placements.len()
        )
    );

    let target = ScanTarget {
        relay: relay.url(),
        platform: platform_ref,
        project: project_ref,
        options: ScanOptions {
            ttl: Duration::from_secs(120),
            response_timeout: Duration::from_secs(60),
        },
    };

    // 4. Seal every node by one scan in session mode.
    eprintln!("{}", crate::words!("out.demo.step4"));
    let mut phone = world.phone("张伟的手机", None, &[])?;
    let record = bidseal_workflow::project_flow::seal_project(&target, &mut phone, &project)
        .await
        .map_err(flow)?;
    let sealed_dir = out.join("sealed");
    std::fs::create_dir_all(&sealed_dir)?;
    std::fs::copy(
        proj_dir.join(bidseal_workflow::project_flow::SEALED_PDF),
        sealed_dir.join("投标文件.pdf"),
    )?;

    // 5. Authenticate, generate with two colleagues, trial decryption.
    eprintln!("{}", crate::words!("out.demo.step5"));
    let mut phone = world.phone("华夏建设的手机", None, &COLLEAGUES)?;
    let bid_dir = out.join("bid");
    std::fs::create_dir_all(&bid_dir)?;
    let bid_file = bid_dir.join("投标文件.bidseal");
    let summary = bidseal_workflow::project_flow::generate_project(
        &target,
        &mut phone,
        &project,
        &bid_file,
        CertificateChoice {
            min_extra: 2,
            max_extra: 2,
        },
    )
    .await
    .map_err(flow)?;
    let trial = bidseal_workflow::project_flow::trial_decrypt_project(
        &target,
        &mut phone,
        &project,
        &bid_file,
        &out.join("work"),
    )
    .await
    .map_err(flow)?;
    if trial.passed {
        eprintln!("{}", crate::words!("out.demo.trial_passed"));
    } else {
        // Keep going so that every output (bid file, reports, README) can be inspected; the
        // demo still ends with a non-zero exit code.
        print_table(std::slice::from_ref(&trial), &manifest.price_form);
        eprintln!(
            "{}",
            crate::words!(
                "out.demo.trial_failed",
                code = format!("{:?}", trial.first_failure().map(|c| c.code.clone()))
            )
        );
    }

    // 6. Opening: before the tender's opening time (must be refused by the phone), then at it.
    eprintln!("{}", crate::words!("out.demo.step6"));
    let hall_dir = out.join("hall");
    std::fs::create_dir_all(&hall_dir)?;
    let (mut hall, tender) =
        bidseal_workflow::hall::hall_from_tender(project.tender(), SystemTime::now())
            .map_err(flow)?;
    let opens_at = project
        .tender()
        .manifest
        .opening_time
        .unix_timestamp()
        .max(0) as u64;
    if bidseal_scan::unix_now() >= opens_at {
        bail!(
            "[E_DEMO_TOO_SLOW] 到开标时间（{} 秒）前未能完成签章与生成，无法演示开标前的拒绝；请在负载较低时重试",
            OPENING_AFTER.as_secs()
        );
    }
    let mut early_phone = world.phone("华夏建设的手机", None, &[])?;
    let early = bidseal_workflow::hall::open_by_scan(
        &target,
        &mut early_phone,
        &hall,
        &bid_file,
        &hall_dir.join("early"),
        &tender,
    )
    .await;
    let early_code = early.first_failure().and_then(|c| c.code.clone());
    if early.passed || early_code.as_deref() != Some("before_opening_time") {
        bail!(
            "[E_DEMO_OPENING_LOCK] 开标时间前的解密应被拒绝，实际：{:?}",
            early.first_failure()
        );
    }
    eprintln!("{}", crate::words!("out.demo.early_refused"));
    let wait = opens_at.saturating_sub(bidseal_scan::unix_now()) + 1;
    eprintln!("{}", crate::words!("out.demo.waiting", secs = wait));
    tokio::time::sleep(Duration::from_secs(wait)).await;
    hall.at = SystemTime::now();
    let mut reports: Vec<BidOpeningReport> = Vec::new();
    for (id, device) in [
        ("ent-huaxia", "华夏建设的手机"),
        ("colleague-wang", "王芳的手机"),
        (bidseal_phone::pki::PLAIN_CERT_ID, "陈静的手机"),
    ] {
        let mut p = world.phone(device, Some(id), &[])?;
        let work = hall_dir.join(id);
        reports.push(
            bidseal_workflow::hall::open_by_scan(&target, &mut p, &hall, &bid_file, &work, &tender)
                .await,
        );
    }
    print_table(&reports, &manifest.price_form);
    write_json_report(&out.join("opening-report.json"), &reports).map_err(flow_err)?;
    write_pdf_report(
        &out.join("opening-report.pdf"),
        &reports,
        &manifest.price_form,
    )
    .map_err(flow_err)?;
    let errors = world.errors.lock().map(|e| e.clone()).unwrap_or_default();
    for e in &errors {
        eprintln!("{}", crate::words!("out.demo.phone_error", error = e));
    }
    write_readme(&out, &world.pki, &summary.recipients, record.seals.len())?;
    relay.shutdown().await;
    let all = trial.passed && reports.iter().all(|r| r.passed);
    let verdict = if all {
        crate::words!("out.demo.all_passed")
    } else {
        crate::words!("out.demo.some_failed")
    };
    eprintln!(
        "{}",
        crate::words!("out.demo.done", verdict = verdict, dir = out.display())
    );
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_readme(out: &Path, pki: &Path, recipients: &[String], seals: usize) -> Result<()> {
    let mut qr: Vec<String> = std::fs::read_dir(out)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("qr-"))
        .collect();
    qr.sort();
    let rel = |p: &Path| p.strip_prefix(out).unwrap_or(p).display().to_string();
    let text = format!(
        "BidSeal 演示输出（bidseal demo）\n\
================================\n\n\
tender.zip                 招标文件包（清单 manifest.json + 平台签名 + 招标文件 PDF + 认可的 CA 证书）\n\
platform.pem               演示交易平台证书（签发招标文件包清单）\n\
composed-before-seal.pdf   合成后的投标文件，尚未盖章\n\
sealed/投标文件.pdf         扫码盖章后的投标文件（{seals} 个 PAdES 签名，增量更新；上一个文件是它的字节前缀）\n\
bid/投标文件.bidseal        加密投标文件：CMS AuthEnvelopedData（DER），可由以下任一证书解密：\n{recips}\n\
opening-report.json        开标报告：每本证书扫码解密后的全部检查（信封、清单签名、文件摘要、PDF 签章）\n\
opening-report.pdf         同一开标报告的 PDF 版（中文）\n\
hall/                      开标解密出的文件（hall/<证书>/投标文件.bidseal.opened/parts/）\n\
work/demo.bidproj/         投标项目文件夹（project.json、附件、合成输出 out/bid.pdf、盖章后的 out/sealed.pdf 与签章记录 out/seals.json）\n\
{qrs}\n\
{pki_rel}/                  模拟手机的测试证书、CA 证书与私钥（PEM，仅供测试）：\n\
\x20\x20ca-1.pem ca-2.pem trust.pem      两家测试 CA（trust.pem 为二者合并）\n\
\x20\x20<id>.pem <id>.chain.pem       证书、证书链；id：ent-huaxia（企业）、legal-zhang（法人）、staff-li、colleague-wang、\n\
\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20colleague-liu、{plain}、ent-jiangnan（他单位）、expired-zhao、legal-chen（他单位法人）\n\
\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20私钥拆分在手机与协同签名服务之间（密钥拆分），任何文件都没有完整私钥\n\
\x20\x20{plain}.key.pem  唯一的完整私钥（PKCS#8，仅供 openssl 互通测试）\n\
phones/phone/, phones/cosign/  手机证书库（私钥以 PIN+服务端分量密封）与协同签名服务状态（含使用日志）\n\n\
不依赖 BidSeal 自行验证：\n\
\x20\x20pdfsig sealed/投标文件.pdf\n\
\x20\x20{venv}/bin/pyhanko sign validate --trust {pki_rel}/trust.pem sealed/投标文件.pdf\n\
\x20\x20openssl cms -decrypt -inform DER -in bid/投标文件.bidseal -recip {pki_rel}/{plain}.pem \\\n\
\x20\x20\x20\x20\x20\x20-inkey {pki_rel}/{plain}.key.pem -out package.zip && unzip -l package.zip\n\
\x20\x20openssl cms -verify -inform DER -binary -in <(unzip -p package.zip manifest.p7s) \\\n\
\x20\x20\x20\x20\x20\x20-content <(unzip -p package.zip manifest.json) -CAfile {pki_rel}/trust.pem -purpose any -out /dev/null\n",
        recips = recipients.iter().map(|r| format!("                             - {r}")).collect::<Vec<_>>().join("\n"),
        qrs = qr.iter().map(|q| format!("{q:<26} 本次运行显示的二维码（手机模拟器从该图片识别后扫码）")).collect::<Vec<_>>().join("\n"),
        pki_rel = rel(pki),
        plain = bidseal_phone::pki::PLAIN_CERT_ID,
        venv = std::env::var("BIDSEAL_TOOLS_DIR").unwrap_or_else(|_| "/var/cache/bidseal".into()) + "/venv",
    );
    bidseal_bid::fsio::write_atomic(&out.join("README.txt"), text.as_bytes())?;
    Ok(())
}
