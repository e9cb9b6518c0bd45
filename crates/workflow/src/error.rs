//! Errors a user of BidSeal can meet, each with a stable code and a zh-CN message that says
//! what to do. Library crates return their own typed errors; this is where they become
//! something a bidder or hall operator can act on.

use bidseal_scan::{RefusalReason, ScanError};
use thiserror::Error;

/// An error from one of the flows, shown to the user as `[code] message`.
#[derive(Debug, Error)]
pub enum FlowError {
    /// The feature exists in the command line or the UI but is not built yet. Never a silent
    /// success: the user learns that nothing was done.
    #[error("功能尚未实现：{feature}（开发计划见 issue #{issue}），本次未执行任何操作")]
    NotBuilt {
        /// What the user asked for, in zh-CN.
        feature: &'static str,
        /// The project issue that will build it.
        issue: u32,
    },
    /// The scan itself failed (relay unreachable, QR expired, channel broken, time-out).
    #[error("扫码失败：{0}")]
    Scan(#[from] ScanError),
    /// The phone refused the request; the reason says what to do.
    #[error("手机端拒绝：{}", .0.message_zh())]
    Refused(RefusalReason),
    /// The phone answered something that does not fit the request (wrong operation, digest
    /// echo mismatch, a certificate other than the one agreed, a signature that does not
    /// verify). Treated as an attack or a broken phone app: nothing is written.
    #[error("手机端的应答与请求不符（{detail}），本次操作未生效，请重新扫码")]
    BadPhoneAnswer {
        /// What did not fit, zh-CN.
        detail: String,
    },
    /// A bid-file or opening step failed (the bid crate's error carries its own code).
    #[error("{0}")]
    Bid(#[from] bidseal_bid::bidfile::BidFileError),
    /// Sealing a PDF failed.
    #[error("PDF 签章失败：{0}")]
    Pdf(#[from] bidseal_pdf::PdfError),
    /// The operating system failed us (randomness, files).
    #[error("系统错误：{detail}，请重试")]
    System {
        /// What failed.
        detail: String,
    },
    /// The certificate (or seal image) the phone would seal with is not acceptable for this
    /// tender and bidder: refused before anything is embedded.
    #[error("不能用该证书盖{seal}：{subject}——{why}。请用本单位在招标文件认可的 CA 申领、在有效期内的签章证书扫码")]
    SealCertificateRefused {
        /// Seal kind, zh-CN.
        seal: String,
        /// Certificate subject.
        subject: String,
        /// Why, zh-CN.
        why: String,
    },
    /// A trial decryption cannot be done for this bid file (its manifest is not known here or
    /// does not match the envelope).
    #[error("无法试解密：{why}")]
    TrialNotPossible {
        /// Why, zh-CN.
        why: String,
    },
    /// The project has no current composition to seal or generate from.
    #[error("投标项目尚未合成（或修改后需重新合成），请先合成投标文件（窗口中点「合成投标文件」，命令行用 bidseal project compose）")]
    NotComposed,
    /// A check made before any QR is shown failed (output folder, changed files, a bid file
    /// that is not one): nothing was asked of the phone. `code` is stable (`E_OUTPUT_DIR`, …).
    #[error("{message}（尚未扫码，手机端未收到任何请求）")]
    NotReady {
        /// Stable code.
        code: &'static str,
        /// What is wrong and what to do, zh-CN.
        message: String,
    },
    /// A relay address the phone could not use (no `http://`/`https://`, no host): a usage
    /// error, refused before any QR.
    #[error("中继地址“{url}”无效：须以 http:// 或 https:// 开头并写明主机。请在地址前加上 http://（TLS 中继用 https://），如 http://127.0.0.1:47800")]
    RelayUrl {
        /// The address as given.
        url: String,
    },
    /// The embedded relay could not start (no loopback port, too many open files).
    #[error("内置扫码中继无法启动：{detail}。请检查本机是否允许在 127.0.0.1 上监听后重试（命令行也可用 --relay 指定已运行的中继）")]
    RelayDown {
        /// Why, from the relay.
        detail: String,
    },
    /// A result file could not be written (report, folder full or read-only).
    #[error("无法写出 {path}：{detail}。请检查该文件夹是否存在、可写、空间是否足够")]
    WriteFailed {
        /// The file.
        path: String,
        /// Why, from the system.
        detail: String,
    },
    /// Mandatory signing nodes are not sealed: generation is blocked.
    #[error("以下必须签章的节点尚未签章，不能生成投标文件：{}", .missing.join("；"))]
    MissingSeals {
        /// One line per missing node, zh-CN.
        missing: Vec<String>,
    },
}

impl FlowError {
    /// A stable, machine-readable code for the error (used in logs, tests and the UI).
    pub fn code(&self) -> &'static str {
        match self {
            FlowError::NotBuilt { .. } => "E_NOT_BUILT",
            FlowError::Scan(e) => e.code(),
            FlowError::Refused(r) => r.code(),
            FlowError::BadPhoneAnswer { .. } => "E_BAD_PHONE_ANSWER",
            FlowError::Bid(e) => e.code(),
            FlowError::Pdf(_) => "E_PDF_SEAL",
            FlowError::MissingSeals { .. } => "E_MISSING_SEALS",
            FlowError::System { .. } => "E_SYSTEM",
            FlowError::NotComposed => "E_NOT_COMPOSED",
            FlowError::SealCertificateRefused { .. } => "E_SEAL_CERTIFICATE_REFUSED",
            FlowError::TrialNotPossible { .. } => "E_TRIAL_NOT_POSSIBLE",
            FlowError::NotReady { code, .. } => code,
            FlowError::RelayUrl { .. } => "E_RELAY_URL",
            FlowError::RelayDown { .. } => "E_RELAY",
            FlowError::WriteFailed { .. } => "E_IO",
        }
    }
}
