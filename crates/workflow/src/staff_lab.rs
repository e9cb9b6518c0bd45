//! The staff test console (平台测试): a lab of real services on 127.0.0.1 — a relay in this
//! process (with an optional misbehaviour), the co-signing service, the reference trading
//! platform and simulated phones as `bidseal` processes over a `bidseal phone init` world — and test runs of a scan flow in which
//! the simulated phone answers as told (confirm, reject, wrong PIN, never answer) under an
//! injected fault (QR left to expire, certificate disabled or revoked, relay delay or drop).
//! Every step is timed and logged.
//!
//! Guarantees: the log holds no secret — the QR payload is shown only as the relay address and
//! operation (`QrPayload::redacted_url` is what the phone prints), relay frames only by
//! direction, index and size (they are ciphertext anyway), no PIN; a certificate the lab
//! disabled for a run is enabled again after it; every child process is killed when the lab is
//! dropped or shut down. The flow run is the real `workflow::auth::authenticate` against the
//! world's CAs, with the certificate's own enterprise as the bidder; 扫码签章 is the real
//! `workflow::seal::seal_by_scan` of a one-page lab document with the seal of the certificate's
//! kind, and the sealed file is then verified like a bid (`bidseal_pdf::verify`).
//! 生成标书, 试解密 and 扫码解密 run the bidder's and the opening hall's own flows over a lab
//! tender and a lab bid project of the world ([`lab_bid`]).
//! Does not: run flows against the reference platform it starts (its web pages and the
//! window's platform views do), or use the phone crate in-process (the desktop's library code
//! must not depend on it: DESIGN.md).

use crate::phone_adapters::SealPolicy;
use crate::scan_session::{ScanPresenter, ScanTarget};
use crate::seal::{seal_by_scan, SealJob, SealPlacement};
use crate::FlowError;
use bidseal_pdf::placement::PageRect;
use bidseal_pdf::seal::WidgetLayout;
use bidseal_relay::fault::{FaultAction, FrameFault};
use bidseal_relay::{Relay, RelayConfig, RelayHandle};
use bidseal_scan::client::ScanOptions;
use bidseal_scan::wire::Role;
use bidseal_scan::{
    OperationKind, PhoneHello, PlatformRef, ProjectRef, QrPayload, SealKind, SessionId,
};
use lab_bid::LabBid;
pub use lab_bid::{LAB_BID_WINDOW, LAB_PRICE};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

mod lab_bid;

/// The PIN `bidseal phone init` gives every test certificate unless told otherwise.
pub const WORLD_PIN: &str = "123456";
/// A PIN that is not the certificate's (the wrong-PIN answer).
const WRONG_PIN: &str = "000000";
/// How long the desktop waits for the phone's answer in a lab run (never-answer and relay-drop
/// runs end on it).
pub const LAB_RESPONSE_TIMEOUT: Duration = Duration::from_secs(12);
/// QR lifetime of the expired-QR fault; the phone is handed the QR after it.
pub const EXPIRING_QR_SECS: u64 = 3;

/// How the simulated phone answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneAnswer {
    /// 确认 with the right PIN.
    Confirm,
    /// 拒绝.
    Reject,
    /// 确认 with a wrong PIN.
    WrongPin,
    /// Scans, reads the request, never answers.
    NeverAnswer,
}

/// The fault injected into a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LabFault {
    /// None.
    None,
    /// The QR expires before the phone scans (会话过期).
    ExpiredQr,
    /// The certificate is disabled at the co-signing service for the run (enabled after).
    CertificateDisabled,
    /// The certificate is revoked at the co-signing service (final: it stays revoked).
    CertificateRevoked,
    /// The relay holds every frame, both ways, this long.
    RelayDelay {
        /// Milliseconds.
        ms: u64,
    },
    /// The relay drops the phone's frames after its first (the answer never arrives).
    RelayDrop,
}

/// The scan flow of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabFlow {
    /// 扫码认证.
    Auth,
    /// 扫码签章: one seal of the certificate's kind on the lab document.
    Sign,
    /// 生成标书: a lab tender and bid project, then 标书签章, 扫码认证 and the generate scan.
    Generate,
    /// 试解密 of the lab's last generated bid (before its opening time).
    Trial,
    /// 扫码解密 of the lab's last generated bid in an opening hall, after its opening time.
    Decrypt,
}

/// What the console shows of the lab bid after 生成标书, 试解密 or 扫码解密.
#[derive(Debug, Clone, Serialize)]
pub struct LabBidResult {
    /// The bid file.
    pub bid_file: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The certificates it is encrypted for (subjects).
    pub recipients: Vec<String>,
    /// The lab tender's opening time (Beijing time).
    pub opening_time: String,
    /// The bidder, `name（credit code）` (after a decryption: from the verified manifest).
    pub bidder: Option<String>,
    /// The price reading (唱标) of a decryption whose every check passed.
    pub reading: Vec<String>,
    /// Every opening check of a decryption, as the record prints them.
    pub checks: Vec<String>,
}

/// How a lab flow ended when the flow itself did not fail.
struct LabDone {
    /// `success` or `failed` (a check that did not pass).
    result: &'static str,
    /// Code of the failed check.
    code: Option<String>,
    /// zh-CN message.
    message: String,
    /// The lab bid, for the flows over it.
    bid: Option<LabBidResult>,
}

impl LabDone {
    fn success(message: String) -> LabDone {
        LabDone {
            result: "success",
            code: None,
            message,
            bid: None,
        }
    }
}

/// A run as decided before any QR: the flow with what it needs.
enum LabJob {
    Auth,
    /// 扫码签章 with the seal of the certificate's kind.
    Sign(SealKind),
    /// 生成标书, the phone adding these colleague certificates of the company.
    Generate {
        colleagues: Vec<String>,
    },
    /// 试解密 of the lab bid.
    Trial(LabBid),
    /// 扫码解密 of the lab bid.
    Decrypt(LabBid),
}

/// One timed step of a run.
#[derive(Debug, Clone, Serialize)]
pub struct LabStep {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    /// Who: `desktop`, `phone`, `relay`, `lab`.
    pub actor: &'static str,
    /// What happened, zh-CN.
    pub text: String,
}

/// What the console shows of a run as it goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LabEvent {
    /// A step.
    Step(LabStep),
    /// The QR the desktop shows (SVG).
    Qr {
        /// SVG of the QR.
        svg: String,
    },
    /// The run ended.
    Done(LabOutcome),
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct LabOutcome {
    /// `success`, `rejected`, `expired` or `failed`.
    pub result: &'static str,
    /// Stable code of a refusal or failure.
    pub code: Option<String>,
    /// zh-CN message.
    pub message: String,
    /// Total milliseconds.
    pub total_ms: u64,
    /// The lab bid (生成标书, 试解密, 扫码解密).
    pub bid: Option<LabBidResult>,
}

/// A state of a service of the lab.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    /// `relay`, `cosign`, `platform`.
    pub name: &'static str,
    /// Running.
    pub running: bool,
    /// Its address when running. (What each service is, the window says from its own
    /// messages, by `name`.)
    pub url: Option<String>,
}

/// A test certificate of the world.
#[derive(Debug, Clone, Serialize)]
pub struct LabCertificate {
    /// Id (`ent-huaxia`, …).
    pub id: String,
    /// Enterprise (O).
    pub enterprise: String,
    /// Holder (CN).
    pub holder: String,
    /// `active`, `disabled`, `revoked`, or `unknown` while the co-signing service is stopped.
    pub state: String,
    /// Its notAfter has passed (the service may still list it `active`: every use is then
    /// refused, `certificate_expired`); false when the certificate cannot be read.
    pub expired: bool,
}

/// What the console shows of the lab.
#[derive(Debug, Clone, Serialize)]
pub struct LabView {
    /// The phone world folder.
    pub world: String,
    /// Relay, co-signing service, platform.
    pub services: Vec<ServiceView>,
    /// The world's certificates.
    pub certificates: Vec<LabCertificate>,
}

/// The `bidseal` command-line program the lab runs phones and the co-signing service with:
/// `BIDSEAL_BIN`, else the `bidseal` next to the running program.
pub fn cli_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("BIDSEAL_BIN") {
        return PathBuf::from(bin);
    }
    std::env::current_exe()
        .map(|exe| exe.with_file_name("bidseal"))
        .unwrap_or_else(|_| PathBuf::from("bidseal"))
}

/// The newcomer's demo world made by `scripts/demo-world.sh` (`BIDSEAL_DEMO_DIR`): a phone world,
/// the demo tender signed by the world's platform, a bid project on it.
#[derive(Debug, Clone, Serialize)]
pub struct DemoWorld {
    /// The demo folder.
    pub dir: String,
    /// The `bidseal phone init` world.
    pub world: String,
    /// The demo tender package.
    pub tender: String,
    /// The platform certificate that signed it.
    pub platform_cert: String,
    /// The bid project made for the phone's company certificate.
    pub project: String,
    /// The PIN of every test certificate.
    pub pin: String,
    /// The `bidseal` CLI (the simulated phone).
    pub bin: String,
    /// The demo company's login at the reference platform (its 统一社会信用代码).
    pub company_login: Option<String>,
    /// The password of every demo company account.
    pub company_password: String,
}

/// The password `bidseal platform serve --demo-world` gives every company account by default.
pub const DEMO_PASSWORD: &str = "Demo@1234";

impl DemoWorld {
    /// The demo world named by `BIDSEAL_DEMO_DIR`, if it is complete.
    pub fn from_env() -> Option<DemoWorld> {
        let dir = PathBuf::from(std::env::var_os("BIDSEAL_DEMO_DIR")?);
        DemoWorld::at(&dir)
    }

    /// The demo world in `dir`, if it is complete.
    pub fn at(dir: &Path) -> Option<DemoWorld> {
        let world = dir.join("world");
        let tender = dir.join("tender.zip");
        let platform_cert = world.join("pki").join("platform.crt");
        let project = dir.join("华夏投标.bidproj");
        let complete = world.join("phone").is_dir()
            && tender.is_file()
            && platform_cert.is_file()
            && project.join("project.json").is_file();
        complete.then(|| DemoWorld {
            dir: dir.display().to_string(),
            world: world.display().to_string(),
            tender: tender.display().to_string(),
            platform_cert: platform_cert.display().to_string(),
            project: project.display().to_string(),
            pin: WORLD_PIN.into(),
            bin: cli_binary().display().to_string(),
            company_login: std::fs::read(world.join("pki").join("ent-huaxia.pem"))
                .ok()
                .and_then(|pem| bidseal_cms::cert::Certificate::from_pem(&pem).ok())
                .and_then(|c| c.credit_code()),
            company_password: DEMO_PASSWORD.into(),
        })
    }
}

/// The relay misbehaviour of the lab and its frame log (sizes only).
#[derive(Default)]
pub struct LabRelayFault {
    mode: Mutex<Option<LabFault>>,
    log: Mutex<Vec<(Instant, String)>>,
    /// When the last delayed frame of each session and direction goes out: a delay never
    /// reorders frames (the ends would rightly call that tampering).
    released: Mutex<std::collections::HashMap<(SessionId, bool), Instant>>,
}

/// Spacing of delayed frames of one direction (timers of distinct milliseconds fire in order).
const DELAY_SPACING: Duration = Duration::from_millis(2);

impl LabRelayFault {
    /// The delay of the next frame of `session` from `from` so that it leaves `ms` after it came
    /// and after the previous delayed frame of the same direction.
    fn ordered_delay(&self, session: SessionId, from: Role, ms: u64) -> Duration {
        let now = Instant::now();
        self.release_at(session, from, ms, now) - now
    }

    /// When a frame that arrives at `now` leaves: `ms` later, and after the frame before it
    /// in its direction by [`DELAY_SPACING`] at least.
    fn release_at(&self, session: SessionId, from: Role, ms: u64, now: Instant) -> Instant {
        let mut released = lock(&self.released);
        let key = (session, from == Role::Phone);
        let mut at = now + Duration::from_millis(ms);
        if let Some(last) = released.get(&key) {
            at = at.max(*last + DELAY_SPACING);
        }
        released.insert(key, at);
        at
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FrameFault for LabRelayFault {
    fn on_frame(&self, session: SessionId, from: Role, index: u64, frame: Vec<u8>) -> FaultAction {
        let who = match from {
            Role::Desktop => "桌面端→手机",
            Role::Phone => "手机→桌面端",
        };
        let (action, note) = match *lock(&self.mode) {
            // Both directions, order kept within each; the relay reports an end that left only
            // after the frames it still holds back from it.
            Some(LabFault::RelayDelay { ms }) => (
                FaultAction::Delay(self.ordered_delay(session, from, ms), frame.clone()),
                format!("延迟 {ms} ms 转发"),
            ),
            Some(LabFault::RelayDrop) if from == Role::Phone && index >= 1 => {
                (FaultAction::Drop, "丢弃（故障注入）".to_string())
            }
            _ => (FaultAction::Forward(frame.clone()), "转发".to_string()),
        };
        lock(&self.log).push((
            Instant::now(),
            format!("帧 {who} #{index}，{} 字节密文：{note}", frame.len()),
        ));
        action
    }
}

/// A service process of the lab and its address. A shell holds the service and stops it when
/// its stdin (the lifeline) closes: when the lab stops it or is dropped, and when this process
/// ends in any way (even killed), so none is left behind. (Not kill_on_drop: killing the shell
/// first would orphan the service.)
struct LabService {
    child: Child,
    lifeline: tokio::process::ChildStdin,
    url: String,
}

/// The lab's services run as `bidseal` child processes.
#[derive(Clone, Copy)]
enum LabServiceKind {
    Cosign,
    Platform,
}

impl LabServiceKind {
    /// The process could not be spawned.
    fn not_started(self, e: &str) -> FlowError {
        match self {
            LabServiceKind::Cosign => {
                lab_err("E_LAB_COSIGN", format!("无法启动协同签名服务（{e}）"))
            }
            LabServiceKind::Platform => {
                lab_err("E_LAB_PLATFORM", format!("无法启动参考交易平台（{e}）"))
            }
        }
    }

    /// The process did not name its address within 30 s; `last` is its last line said.
    fn silent(self, last: &str) -> FlowError {
        match self {
            LabServiceKind::Cosign => lab_err(
                "E_LAB_COSIGN",
                format!("协同签名服务未能启动（30 秒内未报告地址），已停止；它最后说：{last}"),
            ),
            LabServiceKind::Platform => lab_err(
                "E_LAB_PLATFORM",
                format!("参考交易平台未能启动（30 秒内未报告地址），已停止；它最后说：{last}"),
            ),
        }
    }
}

impl LabService {
    /// Runs `bin args…` under the lifeline shell and waits (30 s at most) for the line that
    /// names its `http://127.0.0.1:PORT` address.
    async fn start(
        bin: &Path,
        args: &[std::ffi::OsString],
        kind: LabServiceKind,
    ) -> Result<LabService, FlowError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#""$0" "$@" & svc=$!; read _ignored; kill $svc; wait $svc"#)
            .arg(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| kind.not_started(&e.to_string()))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        pipe_lines(child.stdout.take(), tx.clone());
        pipe_lines(child.stderr.take(), tx);
        let mut said = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = rx.recv().await {
                if let Some(at) = line.find("http://127.0.0.1:") {
                    let url: String = line[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.'))
                        .collect();
                    return Some(url);
                }
                said.push(line);
            }
            None
        })
        .await;
        match (found, child.stdin.take()) {
            (Ok(Some(url)), Some(lifeline)) => {
                // Keep draining its output so that the pipe never fills.
                tokio::spawn(async move { while rx.recv().await.is_some() {} });
                Ok(LabService {
                    child,
                    lifeline,
                    url,
                })
            }
            (_, lifeline) => {
                // Closing the lifeline stops the service; the shell is killed if it lingers.
                drop(lifeline);
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                let _ = child.kill().await;
                let last = said.iter().rev().find(|l| !l.trim().is_empty());
                Err(kind.silent(last.map(String::as_str).unwrap_or("")))
            }
        }
    }

    /// Closes the lifeline; kills the shell if the service has not ended within 5 s.
    async fn stop(self) {
        let LabService {
            mut child,
            lifeline,
            ..
        } = self;
        drop(lifeline);
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

/// The lab: a world and the services running over it.
pub struct StaffLab {
    world: PathBuf,
    bin: PathBuf,
    relay: Option<(RelayHandle, Arc<LabRelayFault>)>,
    /// The co-signing service's shell, its lifeline (stdin) and URL.
    cosign: Option<LabService>,
    /// The reference platform.
    platform: Option<LabService>,
    /// The last bid 生成标书 made (for 试解密 and 扫码解密).
    bid: Mutex<Option<LabBid>>,
    /// Lab tenders' time from making to deadline and opening.
    bid_window: Duration,
}

fn lab_err(code: &'static str, message: String) -> FlowError {
    FlowError::NotReady { code, message }
}

/// Reads lines of a child's pipe into `sink` until it closes.
fn pipe_lines<R>(pipe: Option<R>, sink: tokio::sync::mpsc::UnboundedSender<String>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    if let Some(pipe) = pipe {
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if sink.send(line).is_err() {
                    break;
                }
            }
        });
    }
}

impl StaffLab {
    /// A lab over the `bidseal phone init` world at `world`, driving the `bidseal` binary `bin`.
    pub fn new(world: &Path, bin: &Path) -> Result<StaffLab, FlowError> {
        if !world.join("pki").is_dir() || !world.join("phone").is_dir() {
            return Err(lab_err(
                "E_LAB_WORLD",
                format!(
                    "{} 不是 bidseal phone init 生成的测试世界（缺少 pki/ 或 phone/），请先运行 bidseal phone init",
                    world.display()
                ),
            ));
        }
        if !bin.is_file() {
            return Err(lab_err(
                "E_LAB_BIN",
                format!(
                    "找不到 bidseal 命令行程序 {}（模拟手机与协同签名服务由它运行），请先 cargo build -p bidseal",
                    bin.display()
                ),
            ));
        }
        Ok(StaffLab {
            world: world.to_path_buf(),
            bin: bin.to_path_buf(),
            relay: None,
            cosign: None,
            platform: None,
            bid: Mutex::new(None),
            bid_window: LAB_BID_WINDOW,
        })
    }

    /// Starts the lab's relay (in this process, with the lab's fault hook).
    pub async fn start_relay(&mut self) -> Result<String, FlowError> {
        if let Some((h, _)) = &self.relay {
            return Ok(h.url());
        }
        let fault = Arc::new(LabRelayFault::default());
        let config = RelayConfig {
            fault: Some(fault.clone()),
            ..RelayConfig::default()
        };
        let handle =
            Relay::bind_with("127.0.0.1:0", config)
                .await
                .map_err(|e| FlowError::RelayDown {
                    detail: e.to_string(),
                })?;
        let url = handle.url();
        self.relay = Some((handle, fault));
        Ok(url)
    }

    /// Stops the lab's relay.
    pub async fn stop_relay(&mut self) {
        if let Some((h, _)) = self.relay.take() {
            h.shutdown().await;
        }
    }

    /// Starts the co-signing service (`bidseal phone serve-cosign`) over the world, pinned to
    /// the world's platform certificate.
    pub async fn start_cosign(&mut self) -> Result<String, FlowError> {
        if let Some(service) = &self.cosign {
            return Ok(service.url.clone());
        }
        let mut args: Vec<std::ffi::OsString> = [
            "phone",
            "serve-cosign",
            "--listen",
            "127.0.0.1:0",
            "--state",
        ]
        .iter()
        .map(Into::into)
        .collect();
        args.push(self.world.clone().into());
        args.push("--platform-cert".into());
        args.push(self.pki("platform.crt").into());
        let service = LabService::start(&self.bin, &args, LabServiceKind::Cosign).await?;
        let url = service.url.clone();
        self.cosign = Some(service);
        Ok(url)
    }

    /// Stops the co-signing service.
    pub async fn stop_cosign(&mut self) {
        if let Some(service) = self.cosign.take() {
            service.stop().await;
        }
    }

    /// Starts the reference trading platform (`bidseal platform serve`) over the world: its CAs
    /// trusted, one company account per enterprise (password [`DEMO_PASSWORD`]), the demo
    /// tender; data in `data`, else in the lab's folder; scans go through the lab's relay when
    /// it runs.
    pub async fn start_platform(&mut self, data: Option<&Path>) -> Result<String, FlowError> {
        if let Some(service) = &self.platform {
            return Ok(service.url.clone());
        }
        let data = match data {
            Some(d) => d.to_path_buf(),
            None => lab_dir()?.join("platform"),
        };
        let mut args: Vec<std::ffi::OsString> =
            ["platform", "serve", "--listen", "127.0.0.1:0", "--data"]
                .iter()
                .map(Into::into)
                .collect();
        args.push(data.into());
        args.push("--demo-world".into());
        args.push(self.world.clone().into());
        if let Some((relay, _)) = &self.relay {
            args.push("--relay".into());
            args.push(relay.url().into());
        }
        let service = LabService::start(&self.bin, &args, LabServiceKind::Platform).await?;
        let url = service.url.clone();
        self.platform = Some(service);
        Ok(url)
    }

    /// The reference platform's URL while it runs (the bidder window's default platform).
    pub fn platform_url(&self) -> Option<String> {
        self.platform.as_ref().map(|p| p.url.clone())
    }

    /// Stops the reference platform.
    pub async fn stop_platform(&mut self) {
        if let Some(service) = self.platform.take() {
            service.stop().await;
        }
    }

    /// Stops everything.
    pub async fn shutdown(&mut self) {
        self.stop_platform().await;
        self.stop_cosign().await;
        self.stop_relay().await;
        // The lab's test pages, sealed copies, lab tenders and bids go with it.
        *lock(&self.bid) = None;
        let _ = std::fs::remove_dir_all(lab_dir_path());
    }

    fn pki(&self, file: &str) -> PathBuf {
        self.world.join("pki").join(file)
    }

    /// The world's certificates (ids from `pki/*.chain.pem`), with their state at the
    /// co-signing service when it runs.
    pub async fn view(&self) -> LabView {
        let mut certificates = Vec::new();
        let mut ids: Vec<String> = std::fs::read_dir(self.world.join("pki"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".chain.pem"))
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        let states = self.cert_states().await;
        for id in ids {
            let cert = std::fs::read(self.pki(&format!("{id}.pem")))
                .ok()
                .and_then(|pem| bidseal_cms::cert::Certificate::from_pem(&pem).ok());
            let state = states
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| "unknown".into());
            certificates.push(LabCertificate {
                enterprise: cert
                    .as_ref()
                    .and_then(|c| c.organization())
                    .unwrap_or_default(),
                holder: cert
                    .as_ref()
                    .and_then(|c| c.common_name())
                    .unwrap_or_default(),
                expired: cert
                    .as_ref()
                    .is_some_and(|c| c.not_after() < std::time::SystemTime::now()),
                id,
                state,
            });
        }
        LabView {
            world: self.world.display().to_string(),
            services: vec![
                ServiceView {
                    name: "relay",
                    running: self.relay.is_some(),
                    url: self.relay.as_ref().map(|(h, _)| h.url()),
                },
                ServiceView {
                    name: "cosign",
                    running: self.cosign.is_some(),
                    url: self.cosign.as_ref().map(|s| s.url.clone()),
                },
                ServiceView {
                    name: "platform",
                    running: self.platform.is_some(),
                    url: self.platform.as_ref().map(|s| s.url.clone()),
                },
            ],
            certificates,
        }
    }

    /// `(id, role, credit code)` of every certificate in the phone's keystore, as
    /// `bidseal phone init` writes it.
    fn keystore_entries(&self) -> Vec<(String, String, String)> {
        let store: Option<serde_json::Value> =
            std::fs::read(self.world.join("phone").join("keystore.json"))
                .ok()
                .and_then(|text| serde_json::from_slice(&text).ok());
        let field =
            |c: &serde_json::Value, k: &str| c.get(k).and_then(|v| v.as_str()).map(str::to_string);
        store
            .as_ref()
            .and_then(|s| s.get("certificates")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| Some((field(c, "id")?, field(c, "role")?, field(c, "uscc")?)))
            .collect()
    }

    /// What `flow` with certificate `cert` will run, decided before any QR: 扫码签章 needs a
    /// certificate with a seal, 生成标书 an enterprise certificate (the bidder's own; its
    /// company's colleague certificates are added), 试解密 the certificate that generated the
    /// lab bid, 扫码解密 a lab bid (any certificate may try: a stranger is refused by the phone).
    fn job_for(&self, flow: LabFlow, cert: &str) -> Result<LabJob, (&'static str, String)> {
        let entries = self.keystore_entries();
        let entry = entries.iter().find(|(id, _, _)| id == cert);
        let role = entry.map(|(_, role, _)| role.as_str()).unwrap_or_default();
        let no_bid = || {
            (
                "E_LAB_NO_BID",
                format!(
                    "平台测试还没有生成标书：请先用企业证书运行「{}」",
                    flow_name(LabFlow::Generate)
                ),
            )
        };
        match flow {
            LabFlow::Auth => Ok(LabJob::Auth),
            LabFlow::Sign => seal_kind_of_role(role).map(LabJob::Sign).ok_or_else(|| {
                (
                    "E_LAB_CERT",
                    format!("证书 {cert} 没有印章（只有企业、法人、个人证书可在平台测试中签章）"),
                )
            }),
            LabFlow::Generate if role == "enterprise" => Ok(LabJob::Generate {
                colleagues: entries
                    .iter()
                    .filter(|(_, r, uscc)| {
                        r == "colleague" && entry.is_some_and(|(_, _, own)| own == uscc)
                    })
                    .map(|(id, _, _)| id.clone())
                    .collect(),
            }),
            LabFlow::Generate => Err((
                "E_LAB_CERT",
                format!("生成标书须用投标人的企业证书，证书 {cert} 不是企业证书"),
            )),
            LabFlow::Trial => {
                let bid = self.lab_bid().ok_or_else(no_bid)?;
                if bid.bidder_cert != cert {
                    return Err((
                        "E_LAB_CERT",
                        format!(
                            "试解密须用生成该标书的企业证书 {}（证书 {cert} 请在「{}」中测试）",
                            bid.bidder_cert,
                            flow_name(LabFlow::Decrypt)
                        ),
                    ));
                }
                Ok(LabJob::Trial(bid))
            }
            LabFlow::Decrypt => self.lab_bid().map(LabJob::Decrypt).ok_or_else(no_bid),
        }
    }

    /// 扫码签章 in the lab: seals a fresh copy of the lab document with one seal of `kind` by
    /// scan (session mode, the real `seal_by_scan`), then verifies the sealed file against the
    /// world's CAs. The message names the signer and the verdict.
    async fn seal_lab_document(
        &self,
        target: &ScanTarget,
        presenter: &mut dyn ScanPresenter,
        kind: SealKind,
        policy: SealPolicy,
    ) -> Result<String, FlowError> {
        let dir = lab_dir()?;
        let input = dir.join("lab-document.pdf");
        if !input.is_file() {
            write_lab_document(&input)?;
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let output = dir.join(format!("lab-sealed-{stamp}.pdf"));
        let [x, y, w, h] = LAB_SEAL_RECT;
        let job = SealJob {
            input,
            output: output.clone(),
            document: "平台测试签章样张".into(),
            placements: vec![SealPlacement {
                node_ids: vec!["lab".into()],
                label: format!("平台测试：{}", kind.name_zh()),
                kind,
                layout: WidgetLayout::SameRect {
                    pages: vec![1],
                    rect: PageRect { x, y, w, h },
                },
            }],
            policy,
        };
        let sealed = seal_by_scan(target, presenter, &job).await?;
        let report =
            bidseal_pdf::verify::verify_file(&output, &job.policy.accepted, SystemTime::now())
                .map_err(|e| lab_err("E_LAB_VERIFY", format!("签章后的样张无法验证：{e}")))?;
        if !report.all_valid() {
            return Err(lab_err(
                "E_LAB_VERIFY",
                format!("签章后的样张验证未通过：{}", output.display()),
            ));
        }
        Ok(format!(
            "扫码签章完成并验证有效：{}，签章人 {}，文件 {}",
            kind.name_zh(),
            sealed
                .first()
                .map(|s| s.signer.as_str())
                .unwrap_or_default(),
            output.display()
        ))
    }

    /// `(id, state)` from `bidseal phone admin list --json`, empty when the service is down.
    async fn cert_states(&self) -> Vec<(String, String)> {
        let Some(LabService { url, .. }) = &self.cosign else {
            return Vec::new();
        };
        let out = Command::new(&self.bin)
            .args(["phone", "admin", "--cosign", url, "--state"])
            .arg(&self.world)
            .args(["list", "--json"])
            .stdin(Stdio::null())
            .output()
            .await;
        let Ok(out) = out else { return Vec::new() };
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        list.iter()
            .filter_map(|c| {
                Some((
                    c.get("id")?.as_str()?.to_string(),
                    c.get("state")?.as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// `bidseal phone admin ACTION CERT`.
    async fn admin(&self, action: &str, cert: &str) -> Result<(), String> {
        let Some(LabService { url, .. }) = &self.cosign else {
            return Err("协同签名服务未运行".into());
        };
        let out = Command::new(&self.bin)
            .args(["phone", "admin", "--cosign", url, "--state"])
            .arg(&self.world)
            .args([action, cert])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Runs `flow` once: the desktop shows the QR, the lab hands it to a simulated phone with
    /// certificate `cert` answering `answer`, under `fault`. Events go to `sink` as they happen.
    pub async fn run(
        &self,
        flow: LabFlow,
        cert: &str,
        answer: PhoneAnswer,
        fault: LabFault,
        sink: &(dyn Fn(LabEvent) + Send + Sync),
    ) -> LabOutcome {
        let started = Instant::now();
        let ms = move || started.elapsed().as_millis() as u64;
        let step = |actor: &'static str, text: String| {
            sink(LabEvent::Step(LabStep {
                at_ms: ms(),
                actor,
                text,
            }))
        };
        let finish = |result: &'static str,
                      code: Option<String>,
                      message: String,
                      bid: Option<LabBidResult>| {
            let outcome = LabOutcome {
                result,
                code,
                message,
                total_ms: ms(),
                bid,
            };
            sink(LabEvent::Done(outcome.clone()));
            outcome
        };
        let done = |result: &'static str, code: Option<String>, message: String| {
            finish(result, code, message, None)
        };
        let (
            Some((relay, relay_fault)),
            Some(LabService {
                url: cosign_url, ..
            }),
        ) = (&self.relay, &self.cosign)
        else {
            return done(
                "failed",
                Some("E_LAB_NOT_STARTED".into()),
                "请先启动平台测试中继与协同签名服务".into(),
            );
        };
        if !cert
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || !self.pki(&format!("{cert}.pem")).is_file()
        {
            return done(
                "failed",
                Some("E_LAB_CERT".into()),
                format!("测试世界中没有证书 {cert}"),
            );
        }
        let mut job = match self.job_for(flow, cert) {
            Ok(job) => job,
            Err((code, message)) => return done("failed", Some(code.into()), message),
        };
        // A colleague certificate the co-signing service has disabled or revoked is not added.
        if let LabJob::Generate { colleagues } = &mut job {
            let states = self.cert_states().await;
            colleagues.retain(|c| {
                let state = states.iter().find(|(id, _)| id == c).map(|(_, s)| s);
                match state {
                    Some(s) if s != "active" => {
                        let s = match s.as_str() {
                            "disabled" => "已禁用",
                            "revoked" => "已注销",
                            other => other,
                        };
                        step("lab", format!("同事证书 {c}（{s}）不参与加密"));
                        false
                    }
                    _ => true,
                }
            });
        }
        // The bidder is the certificate's own enterprise; the tender accepts the world's CAs.
        let mut accepted = bidseal_cms::cert::TrustStore::new();
        for ca in ["ca-1.pem", "ca-2.pem"] {
            if let Err(e) = accepted.add_pem_file(&self.pki(ca)) {
                return done("failed", Some("E_LAB_WORLD".into()), e.to_string());
            }
        }
        let leaf = std::fs::read(self.pki(&format!("{cert}.pem")))
            .ok()
            .and_then(|pem| bidseal_cms::cert::Certificate::from_pem(&pem).ok());
        let bidder = bidseal_bid::bidfile::BidderIds {
            name: leaf
                .as_ref()
                .and_then(|c| c.organization())
                .unwrap_or_default(),
            credit_code: leaf
                .as_ref()
                .and_then(|c| c.credit_code())
                .unwrap_or_default(),
        };

        // Faults set before the run.
        *lock(&relay_fault.mode) = Some(fault);
        lock(&relay_fault.log).clear();
        let mut restore_enable = false;
        match fault {
            LabFault::CertificateDisabled => match self.admin("disable", cert).await {
                Ok(()) => {
                    restore_enable = true;
                    step(
                        "lab",
                        format!("故障注入：已在协同签名服务禁用证书 {cert}（本次结束后恢复）"),
                    );
                }
                Err(e) => step("lab", format!("禁用证书失败：{e}")),
            },
            LabFault::CertificateRevoked => match self.admin("revoke", cert).await {
                Ok(()) => step("lab", format!("故障注入：已注销证书 {cert}（不可恢复）")),
                Err(e) => step("lab", format!("注销证书失败：{e}")),
            },
            LabFault::RelayDelay { ms } => step(
                "lab",
                format!("故障注入：中继将双向的每帧延迟 {ms} ms（保持顺序）"),
            ),
            LabFault::RelayDrop => step("lab", "故障注入：中继丢弃手机的应答帧".into()),
            LabFault::ExpiredQr => step(
                "lab",
                format!("故障注入：二维码 {EXPIRING_QR_SECS} 秒过期，手机在过期后才扫码"),
            ),
            LabFault::None => {}
        }

        let ttl = if fault == LabFault::ExpiredQr {
            EXPIRING_QR_SECS
        } else {
            120
        };
        let target = ScanTarget {
            relay: relay.url(),
            platform: PlatformRef {
                id: "bidseal-staff-lab".into(),
                name: "平台测试".into(),
            },
            project: ProjectRef {
                code: if flow == LabFlow::Sign {
                    "LAB-SIGN"
                } else {
                    "LAB-AUTH"
                }
                .into(),
                name: format!("平台测试：{}", flow_name(flow)),
            },
            options: ScanOptions {
                ttl: Duration::from_secs(ttl),
                response_timeout: LAB_RESPONSE_TIMEOUT,
            },
        };
        let (phone_tx, mut phone_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut presenter = LabPresenter {
            step: &step,
            sink,
            bin: self.bin.clone(),
            world: self.world.clone(),
            cosign: cosign_url.clone(),
            cert: cert.to_string(),
            answer,
            hand_over_after: if fault == LabFault::ExpiredQr {
                Duration::from_secs(EXPIRING_QR_SECS + 2)
            } else {
                Duration::ZERO
            },
            colleagues: match &job {
                LabJob::Generate { colleagues } => colleagues.clone(),
                _ => Vec::new(),
            },
            phone_lines: phone_tx,
            phone: None,
            later: None,
        };
        let result = {
            let flow_future = async {
                match &job {
                    LabJob::Sign(kind) => {
                        let policy = SealPolicy {
                            accepted: accepted.clone(),
                            bidder: bidder.clone(),
                        };
                        self.seal_lab_document(&target, &mut presenter, *kind, policy)
                            .await
                            .map(LabDone::success)
                    }
                    LabJob::Auth => {
                        crate::auth::authenticate(&target, &mut presenter, &accepted, &bidder)
                            .await
                            .map(|who| {
                                LabDone::success(format!(
                                    "扫码认证通过：{}（{}）",
                                    bidder.name,
                                    who.chain
                                        .first()
                                        .and_then(|c| c.common_name())
                                        .unwrap_or_default()
                                ))
                            })
                    }
                    LabJob::Generate { colleagues } => {
                        self.generate_lab_bid(
                            &target,
                            &mut presenter,
                            &step,
                            lab_bid::LabBidOrder {
                                cert,
                                bidder: &bidder,
                                colleagues: colleagues.len(),
                                relay_delay: match fault {
                                    LabFault::RelayDelay { ms } => Duration::from_millis(ms),
                                    _ => Duration::ZERO,
                                },
                            },
                        )
                        .await
                    }
                    LabJob::Trial(bid) => {
                        self.trial_lab_bid(&target, &mut presenter, &step, bid)
                            .await
                    }
                    LabJob::Decrypt(bid) => {
                        self.decrypt_lab_bid(&target, &mut presenter, &step, bid)
                            .await
                    }
                }
            };
            tokio::pin!(flow_future);
            loop {
                tokio::select! {
                    r = &mut flow_future => break r,
                    Some(line) = phone_rx.recv() => step("phone", line),
                }
            }
        };
        let phone = presenter.phone.take();
        let later = presenter.later.take();
        drop(presenter);
        if let Some(later) = later {
            let _ = tokio::time::timeout(Duration::from_secs(30), later).await;
        }
        // The phone's last words, then it is stopped if still running.
        if let Some(mut child) = phone {
            let _ = tokio::time::timeout(Duration::from_secs(3), child.wait()).await;
            let _ = child.kill().await;
        }
        while let Ok(line) = phone_rx.try_recv() {
            step("phone", line);
        }
        for (at, line) in lock(&relay_fault.log).drain(..) {
            let _ = at;
            step("relay", line);
        }
        *lock(&relay_fault.mode) = None;
        lock(&relay_fault.released).clear();
        if restore_enable {
            match self.admin("enable", cert).await {
                Ok(()) => step("lab", format!("已恢复证书 {cert}")),
                Err(e) => step("lab", format!("恢复证书失败：{e}")),
            }
        }
        match result {
            Ok(LabDone {
                result,
                code,
                message,
                bid,
            }) => finish(result, code, message, bid),
            Err(FlowError::Refused(r)) => done("rejected", Some(r.code().into()), r.message_zh()),
            Err(FlowError::Scan(bidseal_scan::ScanError::Expired)) => done(
                "expired",
                Some("scan.expired".into()),
                "二维码已过期：手机未在有效期内扫码".into(),
            ),
            Err(e) => done("failed", Some(e.code().into()), e.to_string()),
        }
    }
}

/// zh-CN name of a lab flow.
fn flow_name(flow: LabFlow) -> &'static str {
    match flow {
        LabFlow::Auth => "扫码认证",
        LabFlow::Sign => "扫码签章",
        LabFlow::Generate => "生成标书",
        LabFlow::Trial => "试解密",
        LabFlow::Decrypt => "扫码解密",
    }
}

/// The seal a certificate of holder `role` (as `bidseal phone init` writes it in the phone's
/// keystore) makes; colleagues' certificates have none.
fn seal_kind_of_role(role: &str) -> Option<SealKind> {
    match role {
        "enterprise" => Some(SealKind::Enterprise),
        "legal_person" => Some(SealKind::LegalPerson),
        "personal" => Some(SealKind::Personal { index: 1 }),
        _ => None,
    }
}

/// The folder of this process's lab documents under the system's temp dir (removed by
/// [`StaffLab::shutdown`]).
fn lab_dir_path() -> PathBuf {
    std::env::temp_dir().join(format!("bidseal-staff-lab-{}", std::process::id()))
}

/// [`lab_dir_path`], created.
fn lab_dir() -> Result<PathBuf, FlowError> {
    let dir = lab_dir_path();
    std::fs::create_dir_all(&dir).map_err(|e| {
        lab_err(
            "E_LAB_IO",
            format!("无法创建平台测试工作目录 {}：{e}", dir.display()),
        )
    })?;
    Ok(dir)
}

/// Writes the one-page lab document (A4, Chinese text, a frame where the seal goes) at `path`.
fn write_lab_document(path: &Path) -> Result<(), FlowError> {
    let [x, y, w, h] = LAB_SEAL_RECT;
    let frame =
        bidseal_bid::compose::page::PdfRect::from_xywh(x as f32, y as f32, w as f32, h as f32);
    bidseal_bid::compose::page::one_page_pdf(
        "平台测试签章样张",
        &["BidSeal 平台测试台生成，仅用于测试扫码签章流程，不是投标文件"],
        &[(frame, "签章位置")],
    )
    .and_then(|bytes| bidseal_bid::fsio::write_atomic(path, &bytes))
    .map_err(|e| {
        lab_err(
            "E_LAB_IO",
            format!("无法生成平台测试样张 {}：{e}", path.display()),
        )
    })
}

/// The seal's place on the lab document: x, y, width, height in points (42 mm square).
const LAB_SEAL_RECT: [f64; 4] = [380.0, 420.0, 119.0, 119.0];

/// The desktop side of a lab run: shows the QR (to the console) and hands its payload to a
/// simulated phone process, as a camera would read it.
struct LabPresenter<'a> {
    step: &'a (dyn Fn(&'static str, String) + Send + Sync),
    sink: &'a (dyn Fn(LabEvent) + Send + Sync),
    bin: PathBuf,
    world: PathBuf,
    cosign: String,
    cert: String,
    answer: PhoneAnswer,
    /// Colleague certificates the phone adds when it generates a bid file.
    colleagues: Vec<String>,
    hand_over_after: Duration,
    phone_lines: tokio::sync::mpsc::UnboundedSender<String>,
    phone: Option<Child>,
    /// The phone that scans after expiry.
    later: Option<tokio::task::JoinHandle<()>>,
}

impl LabPresenter<'_> {
    fn spawn_phone(&mut self, payload: String) {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["phone", "scan"])
            .arg(&payload)
            .arg("--keystore")
            .arg(&self.world)
            .args(["--cosign", &self.cosign, "--cert", &self.cert])
            .arg("--platform-cert")
            .arg(self.world.join("pki").join("platform.crt"))
            .args(["--device", &format!("模拟手机（{}）", self.cert)])
            .args(
                self.colleagues
                    .iter()
                    .flat_map(|c| ["--pick-colleague", c.as_str()]),
            )
            .args([
                "--pin",
                if self.answer == PhoneAnswer::WrongPin {
                    WRONG_PIN
                } else {
                    WORLD_PIN
                },
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match self.answer {
            PhoneAnswer::Reject => {
                cmd.arg("--reject");
            }
            PhoneAnswer::NeverAnswer => {
                cmd.arg("--never-answer");
            }
            PhoneAnswer::Confirm | PhoneAnswer::WrongPin => {
                cmd.arg("--confirm");
            }
        }
        match cmd.spawn() {
            Ok(mut child) => {
                pipe_lines(child.stdout.take(), self.phone_lines.clone());
                pipe_lines(child.stderr.take(), self.phone_lines.clone());
                self.phone = Some(child);
            }
            Err(e) => (self.step)("lab", format!("无法启动模拟手机：{e}")),
        }
    }
}

impl ScanPresenter for LabPresenter<'_> {
    fn show_qr(&mut self, op: OperationKind, payload: &QrPayload) {
        match bidseal_scan::qr::render_svg(payload) {
            Ok(svg) => (self.sink)(LabEvent::Qr { svg }),
            Err(e) => (self.step)("desktop", format!("二维码无法生成：{e}")),
        }
        (self.step)(
            "desktop",
            format!(
                "显示二维码：{}，{}（有效期至 {}）",
                op.name_zh(),
                payload.redacted_url(),
                crate::report::format_beijing(payload.expires_at as i64)
            ),
        );
        let text = payload.to_url();
        if self.hand_over_after.is_zero() {
            (self.step)("lab", format!("模拟手机（{}）扫码", self.cert));
            self.spawn_phone(text);
        } else {
            // The phone scans only after the QR expired: a thread waits, then starts it.
            let wait = self.hand_over_after;
            (self.step)(
                "lab",
                format!(
                    "模拟手机将在 {} 秒后扫码（二维码届时已过期）",
                    wait.as_secs()
                ),
            );
            let tx = self.phone_lines.clone();
            let lab = LabPhoneLater {
                bin: self.bin.clone(),
                world: self.world.clone(),
                cosign: self.cosign.clone(),
                cert: self.cert.clone(),
            };
            self.later = Some(tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                let _ = tx.send("（过期后）模拟手机扫码".into());
                let out = Command::new(&lab.bin)
                    .args(["phone", "scan"])
                    .arg(&text)
                    .arg("--keystore")
                    .arg(&lab.world)
                    .args([
                        "--cosign",
                        &lab.cosign,
                        "--cert",
                        &lab.cert,
                        "--pin",
                        WORLD_PIN,
                    ])
                    .stdin(Stdio::null())
                    .kill_on_drop(true)
                    .output()
                    .await;
                if let Ok(out) = out {
                    for line in String::from_utf8_lossy(&out.stderr).lines() {
                        let _ = tx.send(line.to_string());
                    }
                }
            }));
        }
    }

    fn status(&mut self, line: &str) {
        (self.step)("desktop", line.to_string());
    }

    fn scanned(&mut self, phone: &PhoneHello) {
        (self.step)(
            "desktop",
            format!("已扫码：{}（{}）", phone.device, phone.app),
        );
    }
}

/// What a phone started later needs.
struct LabPhoneLater {
    bin: PathBuf,
    world: PathBuf,
    cosign: String,
    cert: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_after(f: &LabRelayFault, from: Role, index: u64) -> FaultAction {
        f.on_frame(SessionId([1; 16]), from, index, vec![0xAB; 32])
    }

    #[test]
    fn a_delay_holds_both_directions_keeps_the_order_of_frames_and_logs_only_sizes() {
        let f = LabRelayFault::default();
        *lock(&f.mode) = Some(LabFault::RelayDelay { ms: 100 });
        for i in 0..5 {
            match frame_after(&f, Role::Desktop, i) {
                FaultAction::Delay(d, bytes) => {
                    assert_eq!(bytes, vec![0xAB; 32], "the frame is forwarded unchanged");
                    assert!(d >= Duration::from_millis(100), "frame {i}: held {d:?}");
                }
                other => panic!("frame {i}: {other:?}"),
            }
        }
        assert!(matches!(
            frame_after(&f, Role::Phone, 0),
            FaultAction::Delay(..)
        ));
        // Frames that come together leave at distinct, increasing times, each direction in
        // its own order (on a fixed clock: a loaded machine must not make this flaky).
        let g = LabRelayFault::default();
        let session = SessionId([2; 16]);
        let t0 = Instant::now();
        let desktop: Vec<Instant> = (0..5)
            .map(|_| g.release_at(session, Role::Desktop, 100, t0))
            .collect();
        assert!(desktop.windows(2).all(|w| w[1] > w[0]), "{desktop:?}");
        assert_eq!(desktop[0], t0 + Duration::from_millis(100));
        let phone = g.release_at(session, Role::Phone, 100, t0);
        assert_eq!(phone, t0 + Duration::from_millis(100), "its own order");
        // Frames far apart each wait their full delay, no more.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(
            g.release_at(session, Role::Desktop, 100, later),
            later + Duration::from_millis(100)
        );
        let log = lock(&f.log);
        assert!(log
            .iter()
            .all(|(_, l)| l.contains("32 字节密文") && !l.contains("AB")));
    }

    #[test]
    fn a_drop_loses_the_phone_answers_but_not_its_hello() {
        let f = LabRelayFault::default();
        *lock(&f.mode) = Some(LabFault::RelayDrop);
        assert!(matches!(
            frame_after(&f, Role::Phone, 0),
            FaultAction::Forward(_)
        ));
        assert_eq!(frame_after(&f, Role::Phone, 1), FaultAction::Drop);
        assert!(matches!(
            frame_after(&f, Role::Desktop, 3),
            FaultAction::Forward(_)
        ));
        *lock(&f.mode) = None;
        assert!(matches!(
            frame_after(&f, Role::Phone, 1),
            FaultAction::Forward(_)
        ));
    }

    #[test]
    fn an_incomplete_demo_folder_is_no_demo_world() {
        let dir = std::env::temp_dir().join(format!("bidseal-demo-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("world").join("phone"));
        assert!(DemoWorld::at(&dir).is_none(), "no tender, no project");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_certificates_with_a_seal_can_seal_in_the_lab() {
        assert_eq!(seal_kind_of_role("enterprise"), Some(SealKind::Enterprise));
        assert_eq!(
            seal_kind_of_role("legal_person"),
            Some(SealKind::LegalPerson)
        );
        assert_eq!(
            seal_kind_of_role("personal"),
            Some(SealKind::Personal { index: 1 })
        );
        assert_eq!(seal_kind_of_role("colleague"), None);
        assert_eq!(seal_kind_of_role("Enterprise"), None);
    }

    #[test]
    fn a_folder_that_is_not_a_phone_world_is_refused() {
        let dir = std::env::temp_dir();
        let e = StaffLab::new(&dir, Path::new("/bin/sh")).err();
        assert_eq!(e.as_ref().map(FlowError::code), Some("E_LAB_WORLD"));
        // The staff console speaks English too (the window's language switch).
        let e = e.unwrap();
        let en = crate::i18n::error_text(crate::i18n::Lang::En, Some(e.code()), &e.to_string());
        assert!(
            en.contains("is not a test world made by bidseal phone init")
                && en.contains(&dir.display().to_string()),
            "{en}"
        );
    }

    #[test]
    fn a_missing_cli_program_is_named_in_english_too() {
        let world = std::env::temp_dir().join(format!("bidseal-lab-en-{}", std::process::id()));
        std::fs::create_dir_all(world.join("pki")).unwrap();
        std::fs::create_dir_all(world.join("phone")).unwrap();
        let e = StaffLab::new(&world, Path::new("/nonexistent/bidseal")).err();
        let _ = std::fs::remove_dir_all(&world);
        let e = e.unwrap();
        assert_eq!(e.code(), "E_LAB_BIN");
        let en = crate::i18n::error_text(crate::i18n::Lang::En, Some(e.code()), &e.to_string());
        assert!(
            en.starts_with("Cannot find the bidseal command-line program /nonexistent/bidseal"),
            "{en}"
        );
    }
}
