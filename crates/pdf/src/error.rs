//! Errors of the PDF sealing engine, each with a stable code and a zh-CN message that tells
//! the user what to do. Hostile or broken files always end here, never in a panic.

use bidseal_cms::cert::CertError;
use bidseal_cms::signed_data::SignedDataError;
use thiserror::Error;

/// Why a PDF could not be read, sealed or verified.
#[derive(Debug, Error)]
pub enum PdfError {
    /// Reading or writing a file failed.
    #[error("文件读写失败（{path}）：{detail}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        detail: String,
    },
    /// The file is empty or does not start like a PDF.
    #[error("不是 PDF 文件（缺少 %PDF- 文件头），请选择正确的 PDF 文件")]
    NotPdf,
    /// The cross-reference data is missing, cut off or inconsistent.
    #[error("PDF 文件已损坏或不完整（{detail}），请重新导出或用原软件修复后再签章")]
    Corrupt {
        /// What was wrong, for support.
        detail: String,
    },
    /// The `/Prev` chain of cross-reference sections loops.
    #[error("PDF 交叉引用表存在循环引用（/Prev 指向已读过的位置），文件可能被恶意构造，已拒绝")]
    XrefLoop,
    /// Objects refer to themselves (e.g. a `/Length` or a page tree that loops).
    #[error("PDF 对象存在循环引用，文件可能被恶意构造，已拒绝")]
    ReferenceLoop,
    /// Nesting deeper than the parser allows.
    #[error("PDF 对象嵌套过深，文件可能被恶意构造，已拒绝")]
    TooDeep,
    /// A compressed stream expands beyond the limit.
    #[error("PDF 压缩数据解压后超过 {limit_mb} MB（疑似压缩炸弹），已拒绝")]
    FlateBomb {
        /// The limit in MB.
        limit_mb: u64,
    },
    /// The cross-reference data declares more objects than the file has bytes for.
    #[error("PDF 交叉引用数据声明了至少 {entries} 个对象，超过该文件大小所能容纳的 {limit} 个（疑似恶意构造），已拒绝；请用原软件重新导出 PDF")]
    XrefTooLarge {
        /// Entries declared so far.
        entries: u64,
        /// What the file size allows.
        limit: u64,
    },
    /// One object holds more values than the parser builds for a single object.
    #[error("PDF 中单个对象包含的元素过多（超过 {limit} 个，疑似恶意构造），已拒绝")]
    ObjectTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No object number is left for the seal's new objects.
    #[error(
        "PDF 对象编号已用尽（文件中出现了接近上限的对象号），无法追加印章；请用原软件重新导出 PDF"
    )]
    ObjectNumbersExhausted,
    /// Password-protected / encrypted documents cannot be sealed.
    #[error("PDF 文件已加密（设置了密码或权限），请先去除加密后再签章")]
    Encrypted,
    /// The document is certified with DocMDP P=1 (no changes allowed).
    #[error(
        "该 PDF 已被认证签名锁定为“不允许任何修改”（DocMDP P=1），不能再签章；请联系文件出具方"
    )]
    Certified,
    /// The document is certified with DocMDP P=2: only existing fields may be filled/signed,
    /// and a seal needs a new signature field.
    #[error("该 PDF 已被认证签名限定为“仅允许填写表单和签署已有签名域”（DocMDP P=2），新增印章会使认证签名失效；请联系文件出具方预留签名域")]
    CertifiedFormsOnly,
    /// Page number out of range.
    #[error("页码 {page} 超出范围：文件共 {count} 页")]
    PageOutOfRange {
        /// Requested page (1-based).
        page: usize,
        /// Pages in the document.
        count: usize,
    },
    /// The seal rectangle is empty or outside the page.
    #[error("印章位置无效：{detail}")]
    BadPlacement {
        /// What is wrong.
        detail: String,
    },
    /// The seal image could not be used.
    #[error("印章图片无法使用（{detail}），请提供 PNG 图片（建议透明背景）")]
    BadImage {
        /// What is wrong.
        detail: String,
    },
    /// The CMS signature does not fit into the reserved `/Contents`.
    #[error("签名数据（{needed} 字节）超过预留空间（{reserved} 字节），请重试")]
    SignatureTooLarge {
        /// Bytes needed.
        needed: usize,
        /// Bytes reserved.
        reserved: usize,
    },
    /// The working copy changed underneath a pending signature.
    #[error("待签文件在签名过程中被修改（{detail}），请重新签章")]
    WorkingCopyChanged {
        /// What differs.
        detail: String,
    },
    /// The engine re-read its own update and found it changes more than a seal may (e.g. an
    /// object number that collided with document content). Nothing was written.
    #[error("签章自检失败：本次更新会改动原文件内容（{detail}）；未写入任何文件，请将此文件提交技术支持")]
    SelfCheck {
        /// What the update would change, zh-CN.
        detail: String,
    },
    /// A signature problem from the CMS layer.
    #[error(transparent)]
    Signature(#[from] SignedDataError),
    /// A certificate problem.
    #[error(transparent)]
    Cert(#[from] CertError),
}

impl PdfError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PdfError::Io { .. } => "E_PDF_IO",
            PdfError::NotPdf => "E_PDF_NOT_PDF",
            PdfError::Corrupt { .. } => "E_PDF_CORRUPT",
            PdfError::XrefLoop => "E_PDF_XREF_LOOP",
            PdfError::ReferenceLoop => "E_PDF_REF_LOOP",
            PdfError::TooDeep => "E_PDF_TOO_DEEP",
            PdfError::FlateBomb { .. } => "E_PDF_FLATE_BOMB",
            PdfError::XrefTooLarge { .. } => "E_PDF_XREF_TOO_LARGE",
            PdfError::ObjectTooLarge { .. } => "E_PDF_OBJECT_TOO_LARGE",
            PdfError::ObjectNumbersExhausted => "E_PDF_OBJECT_NUMBERS",
            PdfError::Encrypted => "E_PDF_ENCRYPTED",
            PdfError::Certified => "E_PDF_CERTIFIED_NO_CHANGES",
            PdfError::CertifiedFormsOnly => "E_PDF_CERTIFIED_FORMS_ONLY",
            PdfError::PageOutOfRange { .. } => "E_PDF_PAGE_RANGE",
            PdfError::BadPlacement { .. } => "E_PDF_PLACEMENT",
            PdfError::BadImage { .. } => "E_PDF_IMAGE",
            PdfError::SignatureTooLarge { .. } => "E_PDF_SIG_TOO_LARGE",
            PdfError::WorkingCopyChanged { .. } => "E_PDF_WORKING_COPY",
            PdfError::SelfCheck { .. } => "E_PDF_SELF_CHECK",
            PdfError::Signature(e) => e.code(),
            PdfError::Cert(e) => e.code(),
        }
    }

    /// Shorthand for [`PdfError::Corrupt`].
    pub fn corrupt(detail: impl Into<String>) -> Self {
        PdfError::Corrupt {
            detail: detail.into(),
        }
    }

    /// Shorthand for [`PdfError::Io`].
    pub fn io(path: &std::path::Path, e: std::io::Error) -> Self {
        PdfError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        }
    }
}
