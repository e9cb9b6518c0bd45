//! 生成标书, 试解密 and 扫码解密 in the staff lab (平台测试), over a lab tender and a lab bid
//! project of the lab's world.
//!
//! The lab tender is the demo tender's requirements (`assets/demo-tender`, what `bidseal tender
//! make --world` packages by default): the world's CAs (`pki/ca-*.pem`) accepted, signed with
//! the world's platform key (`pki/platform.key.pem`, whose certificate the co-signing service
//! and the simulated phones pin), kept to the signing nodes one enterprise certificate can seal
//! (公章, not 骑缝章), its bid deadline and opening time [`StaffLab::set_bid_window`] after it
//! is made. The lab bid project on it lives in the lab's folder: the one-page lab PDF as each
//! attachment, a fixed bid form, the certificate's enterprise as bidder. Then the real flows
//! run on them, each scan with a simulated phone process: `project_flow::seal_project`,
//! `generation_checklist` + `generate_project` (the bidder's 生成标书), then
//! `trial_decrypt_project_typed` (试解密) and the opening hall's `OpeningHall::load`,
//! `add_bid`, `bid_job`, `hall::open_by_scan_typed`, `record`, `view` (扫码解密, 唱标).
//!
//! Guarantees: no gate is bypassed or moved — the lab tender simply has its times set so that
//! generation happens before its deadline and 扫码解密 after its opening time: the lab waits for
//! the opening time before showing the decrypt QR (the co-signing service would refuse earlier,
//! on its own clock); a refusal, a wrong PIN, an expiry or a failed check ends the run with that
//! refusal. Does not: keep lab bids after the lab shuts down (its folder is removed), or upload
//! them to the reference platform.

use super::{lab_dir, lab_err, lock, LabBidResult, LabDone, StaffLab};
use crate::hall::ScanOpening;
use crate::opening_hall::{first_failure, OpeningHall};
use crate::project_flow::{
    generate_project, generation_checklist, seal_project, trial_decrypt_project_typed,
};
use crate::scan_session::{refs_from_tender, ScanPresenter, ScanTarget};
use crate::FlowError;
use bidseal_bid::bidfile::BidderIds;
use bidseal_bid::project::BidProject;
use bidseal_bid::tender::{
    PackageInputs, PageAnchor, PlatformCertificate, PlatformSigner, SealKind, TenderSpec,
    TrustedPlatforms,
};
use bidseal_bid::time::OffsetDateTime;
use bidseal_scan::CertificateChoice;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bidseal_bid::tender::demo::{DEMO_PDF, DEMO_SPEC};

/// Time from making a lab tender to its bid deadline and opening time (default of
/// [`StaffLab::set_bid_window`]): room for the three scans of 生成标书 on a loaded machine
/// (1.5 s measured at load 9 without faults); a relay delay adds [`DELAYED_FRAMES`] times the
/// delay.
pub const LAB_BID_WINDOW: Duration = Duration::from_secs(30);

/// Frames per direction a delayed relay holds back during 生成标书's three scans, with room.
const DELAYED_FRAMES: u32 = 40;

/// Most colleague certificates a lab bid is encrypted for (as the window's 生成标书).
const MAX_LAB_COLLEAGUES: usize = 8;

/// The lab bid's price (投标总价) — what 唱标 must read back.
pub const LAB_PRICE: &str = "4321000.50";

/// The lab's last generated bid: what 试解密 and 扫码解密 run on.
#[derive(Debug, Clone)]
pub(super) struct LabBid {
    /// Its folder (tender, project, bid file, hall work).
    dir: PathBuf,
    /// The lab tender package.
    tender: PathBuf,
    /// The lab bid project.
    project: PathBuf,
    /// The generated bid file.
    bid_file: PathBuf,
    /// The certificate that generated it (the bidder's enterprise certificate).
    pub bidder_cert: String,
    /// The lab tender's opening time.
    opening_time: OffsetDateTime,
    /// What the console shows of it.
    result: LabBidResult,
}

/// What 生成标书 in the lab is asked for.
pub(super) struct LabBidOrder<'a> {
    /// The certificate (an enterprise certificate: the bidder's).
    pub cert: &'a str,
    /// Its enterprise, the bidder.
    pub bidder: &'a BidderIds,
    /// How many colleague certificates the phone adds.
    pub colleagues: usize,
    /// The relay delay fault of the run (the lab tender's window grows with it).
    pub relay_delay: Duration,
}

/// The console's step sink.
type Step<'a> = &'a (dyn Fn(&'static str, String) + Send + Sync);

fn io(path: &Path, e: impl std::fmt::Display) -> FlowError {
    lab_err(
        "E_LAB_IO",
        format!("平台测试读写 {} 失败：{e}", path.display()),
    )
}

/// Writes the lab tender for `world` at `out`: the demo tender's requirements with only the
/// 公章 nodes that are not 骑缝章, the world's CAs, signed by the world's platform; deadline and
/// opening time `window` after `now`. Returns the package as made.
fn make_lab_tender(
    world: &Path,
    out: &Path,
    window: Duration,
    now: OffsetDateTime,
) -> Result<(PlatformCertificate, bidseal_bid::tender::TenderManifest), FlowError> {
    let pki = world.join("pki");
    let tender_err = |e: bidseal_bid::tender::TenderError| {
        lab_err(e.code(), format!("平台测试招标文件无法生成：{e}"))
    };
    let mut spec: TenderSpec = serde_json::from_str(DEMO_SPEC)
        .map_err(|e| lab_err("E_LAB_TENDER", format!("内置演示招标要求无法解析：{e}")))?;
    spec.signing_nodes.retain(|n| {
        n.seal_kinds == [SealKind::Enterprise] && !matches!(n.anchor, PageAnchor::CrossPage)
    });
    spec.project.id = format!("LAB-{}", now.unix_timestamp());
    spec.project.name = format!("平台测试：{}", spec.project.name);
    spec.bid_deadline = now + window;
    spec.opening_time = spec.bid_deadline;
    let mut cas: Vec<PathBuf> = std::fs::read_dir(&pki)
        .map_err(|e| io(&pki, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("ca-") && n.ends_with(".pem") && !n.ends_with(".key.pem")
            })
        })
        .collect();
    cas.sort();
    let mut accepted = Vec::new();
    for ca in &cas {
        let pem = std::fs::read(ca).map_err(|e| io(ca, e))?;
        let title = bidseal_cms::cert::Certificate::from_pem(&pem)
            .map_err(|e| {
                lab_err(
                    "E_LAB_WORLD",
                    format!("测试世界的 CA 证书 {} 无法读取：{e}", ca.display()),
                )
            })?
            .subject_string();
        let stem = ca
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        accepted.push((stem, title, pem));
    }
    if accepted.is_empty() {
        return Err(lab_err(
            "E_LAB_WORLD",
            format!("{} 中没有 CA 证书（ca-*.pem）", pki.display()),
        ));
    }
    let cert_path = pki.join("platform.crt");
    let cert_pem = std::fs::read_to_string(&cert_path).map_err(|e| io(&cert_path, e))?;
    let platform = PlatformCertificate::from_pem(&cert_pem).map_err(tender_err)?;
    let signer =
        PlatformSigner::from_pem_file(&pki.join("platform.key.pem")).map_err(tender_err)?;
    let manifest = bidseal_bid::tender::make(
        spec,
        PackageInputs {
            tender_pdf: DEMO_PDF,
            extra_docs: Vec::new(),
            accepted_cas: accepted,
            platform_cert: &platform,
            signer: &signer,
        },
        now,
        out,
    )
    .map_err(tender_err)?;
    Ok((platform, manifest))
}

/// Makes the lab bid project in `dir` on the lab tender at `tender` for `bidder`: every
/// section that asks for attachments gets the one-page lab attachment, the bid form is filled
/// (投标总价 [`LAB_PRICE`]), then it is composed.
fn make_lab_project(
    dir: &Path,
    tender: &Path,
    platform: PlatformCertificate,
    bidder: &BidderIds,
    now: OffsetDateTime,
) -> Result<BidProject, FlowError> {
    let project_err =
        |e: bidseal_bid::project::ProjectError| lab_err(e.code(), format!("平台测试投标项目：{e}"));
    let mut project = BidProject::create(
        &dir.join("平台测试投标.bidproj"),
        tender,
        &TrustedPlatforms::pinned(vec![platform]),
        now,
    )
    .map_err(project_err)?;
    let attachment = dir.join("平台测试附件.pdf");
    bidseal_bid::compose::page::one_page_pdf(
        "平台测试附件",
        &["BidSeal 平台测试台生成，仅用于测试生成标书与解密流程，不是投标文件"],
        &[],
    )
    .and_then(|bytes| bidseal_bid::fsio::write_atomic(&attachment, &bytes))
    .map_err(|e| io(&attachment, e))?;
    let sections: Vec<String> = project
        .manifest()
        .sections
        .iter()
        .filter(|s| s.min_attachments > 0)
        .map(|s| s.id.clone())
        .collect();
    for section in sections {
        project.attach(&section, &attachment).map_err(project_err)?;
    }
    for (key, value) in [
        ("bidder.name", bidder.name.as_str()),
        ("bidder.credit_code", bidder.credit_code.as_str()),
        ("bidder.legal_representative", "张伟"),
        ("bidder.address", "北京市海淀区演示路 1 号"),
        ("bidder.contact", "李娜"),
        ("bidder.phone", "010-88886666"),
        ("price", LAB_PRICE),
        ("duration", "300"),
        ("quality", "合格"),
        ("project_manager", "王芳"),
    ] {
        project.set(key, value).map_err(project_err)?;
    }
    bidseal_bid::compose::compose(&mut project, now)
        .map_err(|e| lab_err(e.code(), format!("平台测试投标项目无法合成：{e}")))?;
    Ok(project)
}

/// The scan target of the lab tender: the lab relay and options of `base`, the tender's
/// platform and project (what the phone shows and checks).
fn target_for(base: &ScanTarget, manifest: &bidseal_bid::tender::TenderManifest) -> ScanTarget {
    let (platform, project) = refs_from_tender(manifest);
    ScanTarget {
        platform,
        project,
        ..base.clone()
    }
}

/// The outcome of a 试解密 or 扫码解密: the scan's own error as the run's error (a refusal is
/// a refusal), a failed check as `failed` with its code, else success with the reading.
fn opened(
    opening: ScanOpening,
    what: &str,
    mut result: LabBidResult,
    reading: Vec<String>,
) -> Result<LabDone, FlowError> {
    if let Some(e) = opening.scan_error {
        return Err(e);
    }
    let report = opening.report;
    result.checks = report.checks.iter().map(|c| c.line()).collect();
    if let Some(failed) = report.first_failure() {
        return Ok(LabDone {
            result: "failed",
            code: Some(failed.code.clone().unwrap_or_else(|| failed.key.clone())),
            message: format!(
                "{what}未通过：{}",
                first_failure(&report).unwrap_or_default()
            ),
            bid: Some(result),
        });
    }
    let bidder = report
        .bidder
        .as_ref()
        .map(|b| format!("{}（{}）", b.name, b.credit_code))
        .unwrap_or_default();
    result.bidder = Some(bidder.clone());
    result.reading = reading;
    Ok(LabDone {
        result: "success",
        code: None,
        message: format!(
            "{what}通过：{bidder}，{}，以 {} 解密",
            result.reading.join("，"),
            report.opened_as.unwrap_or_default()
        ),
        bid: Some(result),
    })
}

impl StaffLab {
    /// How long after it is made a lab tender's bid deadline and opening time come (default
    /// [`LAB_BID_WINDOW`]; tests shorten it).
    pub fn set_bid_window(&mut self, window: Duration) {
        self.bid_window = window;
    }

    /// The lab's last generated bid file, if any.
    pub fn lab_bid_file(&self) -> Option<PathBuf> {
        lock(&self.bid).as_ref().map(|b| b.bid_file.clone())
    }

    /// The lab's last generated bid, for 试解密 and 扫码解密.
    pub(super) fn lab_bid(&self) -> Option<LabBid> {
        lock(&self.bid).clone()
    }

    /// 生成标书 in the lab: a lab tender and project for `bidder` (the enterprise of
    /// certificate `cert`), then the scans the bidder's project view runs — 标书签章 (session
    /// mode), then, if the generation checklist has no blocking item, 扫码认证 and the generate
    /// scan, encrypting for the certificate and the `colleagues` the phone picks.
    pub(super) async fn generate_lab_bid(
        &self,
        base: &ScanTarget,
        presenter: &mut dyn ScanPresenter,
        step: Step<'_>,
        order: LabBidOrder<'_>,
    ) -> Result<LabDone, FlowError> {
        let LabBidOrder {
            cert,
            bidder,
            colleagues,
            relay_delay,
        } = order;
        let now = OffsetDateTime::now_utc();
        let window = self.bid_window + relay_delay * DELAYED_FRAMES;
        let dir = lab_dir()?.join(format!("bid-{}", now.unix_timestamp_nanos()));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let tender = dir.join("平台测试招标文件.zip");
        let (platform, manifest) = make_lab_tender(&self.world, &tender, window, now)?;
        let opening = crate::report::format_beijing_time(manifest.opening_time);
        step(
            "lab",
            format!(
                "平台测试招标文件：{}（{}），接受测试世界的 CA（{}），由测试世界的交易平台签名；投标截止与开标时间 {opening}（{} 秒后）",
                manifest.project.name,
                manifest.project.id,
                manifest
                    .accepted_cas
                    .iter()
                    .map(|c| c.title.as_str())
                    .collect::<Vec<_>>()
                    .join("；"),
                window.as_secs()
            ),
        );
        let project = make_lab_project(&dir, &tender, platform, bidder, now)?;
        let (pages, nodes) = project
            .file()
            .composition
            .as_ref()
            .map_or((0, 0), |c| (c.pages, c.placements.len()));
        step(
            "lab",
            format!(
                "平台测试投标项目已合成：投标人 {}（{}），{pages} 页，{nodes} 个签章节点（公章），投标总价 {LAB_PRICE} 元",
                bidder.name, bidder.credit_code
            ),
        );
        let target = target_for(base, &manifest);
        step("lab", "第 1 次扫码：标书签章（会话模式）".into());
        let record = seal_project(&target, presenter, &project).await?;
        step(
            "lab",
            format!("标书签章完成：{} 个签章", record.seals.len()),
        );
        let output = dir.join("投标文件.bsbid");
        if let Some(blocking) = generation_checklist(&project, &output, OffsetDateTime::now_utc())
            .into_iter()
            .find(|i| i.ok == Some(false))
        {
            return Err(lab_err("E_NOT_READY", blocking.line));
        }
        let n = colleagues.min(MAX_LAB_COLLEAGUES) as u8;
        step(
            "lab",
            format!("第 2、3 次扫码：扫码认证，然后生成标书（手机另选同事加密证书 {n} 本）"),
        );
        let summary = generate_project(
            &target,
            presenter,
            &project,
            &output,
            CertificateChoice {
                min_extra: n,
                max_extra: n,
            },
        )
        .await?;
        let result = LabBidResult {
            bid_file: summary.path.display().to_string(),
            size: summary.size,
            sha256: summary.sha256.clone(),
            recipients: summary.recipients.clone(),
            opening_time: opening.clone(),
            bidder: Some(format!("{}（{}）", bidder.name, bidder.credit_code)),
            reading: Vec::new(),
            checks: Vec::new(),
        };
        *lock(&self.bid) = Some(LabBid {
            dir,
            tender,
            project: project.dir().to_path_buf(),
            bid_file: summary.path.clone(),
            bidder_cert: cert.to_string(),
            opening_time: manifest.opening_time,
            result: result.clone(),
        });
        Ok(LabDone {
            result: "success",
            code: None,
            message: format!(
                "生成标书完成：{}（{} 字节），可解密证书 {} 本；开标时间 {opening}",
                summary.path.display(),
                summary.size,
                summary.recipients.len()
            ),
            bid: Some(result),
        })
    }

    /// 试解密 of the lab bid, as the bidder's project view runs it (before the opening time).
    pub(super) async fn trial_lab_bid(
        &self,
        base: &ScanTarget,
        presenter: &mut dyn ScanPresenter,
        step: Step<'_>,
        bid: &LabBid,
    ) -> Result<LabDone, FlowError> {
        let project = BidProject::open(&bid.project)
            .map_err(|e| lab_err(e.code(), format!("平台测试投标项目：{e}")))?;
        step(
            "lab",
            format!("试解密平台测试标书：{}", bid.bid_file.display()),
        );
        let target = target_for(base, project.manifest());
        let work = bid.dir.join("trial");
        let opening =
            trial_decrypt_project_typed(&target, presenter, &project, &bid.bid_file, &work).await?;
        let reading = opening.report.price_texts(&project.manifest().price_form);
        opened(opening, "试解密", bid.result.clone(), reading)
    }

    /// 扫码解密 of the lab bid in an opening hall over the lab tender (pinned to the world's
    /// platform), after the tender's opening time: the lab waits for it first.
    pub(super) async fn decrypt_lab_bid(
        &self,
        base: &ScanTarget,
        presenter: &mut dyn ScanPresenter,
        step: Step<'_>,
        bid: &LabBid,
    ) -> Result<LabDone, FlowError> {
        let wait = bid.opening_time - OffsetDateTime::now_utc();
        if wait.is_positive() {
            let secs = wait.whole_seconds() + 1;
            step(
                "lab",
                format!(
                    "平台测试标书的开标时间 {} 未到：等待 {secs} 秒（协同签名服务按自己的时钟，开标前拒绝解密）",
                    bid.result.opening_time
                ),
            );
            tokio::time::sleep(Duration::from_secs(secs.max(0) as u64)).await;
        }
        let work = bid.dir.join(format!(
            "hall-{}",
            OffsetDateTime::now_utc().unix_timestamp_nanos()
        ));
        let mut hall = OpeningHall::load(&bid.tender, &[self.pki("platform.crt")], &work)?;
        let index = hall.add_bid(&bid.bid_file)?;
        let job = hall.bid_job(index)?;
        let row = hall.view().bids.into_iter().nth(index);
        step(
            "lab",
            format!(
                "开标大厅已载入平台测试标书：{}（{} 字节），可解密证书：{}",
                bid.bid_file.display(),
                row.as_ref().map_or(0, |r| r.size),
                row.map(|r| r.recipients.join("、")).unwrap_or_default()
            ),
        );
        let target = target_for(base, &hall.tender().manifest);
        let opening = crate::hall::open_by_scan_typed(
            &target,
            presenter,
            &job.hall,
            &job.path,
            &job.work,
            &job.signed,
        )
        .await;
        hall.record(&job, opening.report.clone());
        let reading = hall
            .view()
            .reading
            .into_iter()
            .nth(index)
            .map(|r| r.price)
            .unwrap_or_default();
        opened(opening, "扫码解密（唱标）", bid.result.clone(), reading)
    }
}
