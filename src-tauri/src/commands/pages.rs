//! The bid's pages in the window: compose the project (`bidseal_bid::compose`), hand the
//! composed or sealed PDF to the page view over the [`PDF_SCHEME`] URI scheme (pdf.js renders
//! it in the window), and store where
//! the bidder puts a seal (`BidProject::place_seal`), and verify the sealed PDF's signatures
//! for the signatures panel (`workflow::project_flow::verify_sealed`).
//!
//! Guarantees: the composed PDF is handed over only while it is the one recorded (SHA-256 of
//! the composition), the sealed PDF only while its sealing record is current, so the pages
//! the bidder places seals on are the pages that will be sealed; a placement is checked and
//! stored by the `bid` crate (nothing decided here). The file work runs off the window's
//! thread. Does not: render pages (pdf.js in the window does) or seal.

use super::project::{project_err, project_view, ProjectView};
use super::CommandError;
use bidseal_bid::compose::placement::NodePosition;
use bidseal_bid::project::BidProject;
use bidseal_bid::tender::SealKind;
use bidseal_bid::time::OffsetDateTime;
use bidseal_workflow::project_flow::{composed_pdf_bytes, sealed_pdf_bytes};
use bidseal_workflow::FlowError;
use serde::Serialize;
use std::path::Path;
use tauri::http;

/// Which PDF of the project the page view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BidPdf {
    /// `out/bid.pdf`, what seals are placed on.
    Composed,
    /// `out/sealed.pdf`, with the seals as they print.
    Sealed,
}

fn open(path: &str) -> Result<BidProject, CommandError> {
    BidProject::open(Path::new(path)).map_err(project_err)
}

pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| CommandError::coded("E_INTERNAL", format!("后台任务失败：{e}，请重试")))?
}

fn flow_err(e: FlowError) -> CommandError {
    match e {
        // Nothing here is a scan: "nothing was asked of the phone" would only puzzle.
        FlowError::NotReady { code, message } => CommandError::coded(code, message),
        e => CommandError::coded(e.code(), e),
    }
}

/// Composes the project's bid PDF (cover, contents, forms, attachments) and records where
/// every signing node landed; returns the project as the window shows it.
#[tauri::command]
pub async fn compose_project(project_path: String) -> Result<ProjectView, CommandError> {
    off_thread(move || {
        let mut project = open(&project_path)?;
        bidseal_bid::compose::compose(&mut project, OffsetDateTime::now_utc())
            .map_err(|e| CommandError::coded(e.code(), e))?;
        Ok(project_view(&project))
    })
    .await
}

/// URI scheme the page view loads bid PDFs from: `bidpdf://localhost/<project folder,
/// percent-encoded>?which=composed|sealed` (`convertFileSrc(path, "bidpdf")` in the window).
///
/// Not a command: on Linux Tauri's IPC goes through `postMessage`, which turns a byte response
/// into a JSON array of numbers (≈ 4 × the file in text, parsed on the window's thread — 170–290
/// ms for a 570 KB bid, measured); a scheme's response reaches `fetch` as an `ArrayBuffer`.
pub const PDF_SCHEME: &str = "bidpdf";

/// The response to one request of [`PDF_SCHEME`]: the recorded PDF's bytes (200,
/// `application/pdf`), or the [`CommandError`] as JSON with status 409 (not composed, changed
/// after recording…), 400 (a URL the window does not make) or 405 (not a GET). Runs the file
/// work on the caller's thread (the scheme handler puts it off the window's thread).
pub fn pdf_scheme_response(request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let origin = request
        .headers()
        .get(http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| APP_ORIGINS.contains(o))
        .unwrap_or(APP_ORIGINS[0])
        .to_string();
    let answer = |status: http::StatusCode, kind: &str, body: Vec<u8>| {
        http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, kind)
            .header(http::header::CACHE_CONTROL, "no-store")
            .header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str())
            .body(body)
            .unwrap_or_default()
    };
    let refused = |status: http::StatusCode, err: CommandError| {
        let body = serde_json::to_vec(&err).unwrap_or_default();
        answer(status, "application/json", body)
    };
    if request.method() != http::Method::GET {
        return refused(
            http::StatusCode::METHOD_NOT_ALLOWED,
            CommandError::coded("E_PDF_REQUEST", "投标文件页面只能读取，请重新打开项目"),
        );
    }
    let Some((project_path, which)) = pdf_request(request.uri()) else {
        return refused(
            http::StatusCode::BAD_REQUEST,
            CommandError::coded(
                "E_PDF_REQUEST",
                format!("无法识别的页面请求：{}，请重新打开项目", request.uri()),
            ),
        );
    };
    let bytes = open(&project_path).and_then(|project| {
        match which {
            BidPdf::Composed => composed_pdf_bytes(&project),
            BidPdf::Sealed => sealed_pdf_bytes(&project),
        }
        .map_err(flow_err)
    });
    match bytes {
        Ok(bytes) => answer(http::StatusCode::OK, "application/pdf", bytes),
        Err(err) => refused(http::StatusCode::CONFLICT, err),
    }
}

/// Origins of the app's own pages (Linux/macOS, Windows): the only ones the scheme answers
/// for in `Access-Control-Allow-Origin`.
const APP_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

/// The project folder and PDF of a [`PDF_SCHEME`] URL; `None` for any other shape.
fn pdf_request(uri: &http::Uri) -> Option<(String, BidPdf)> {
    let encoded = uri.path().strip_prefix('/')?;
    let path = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()?
        .into_owned();
    if path.is_empty() || path.contains('\0') {
        return None;
    }
    let which = match uri.query()? {
        "which=composed" => BidPdf::Composed,
        "which=sealed" => BidPdf::Sealed,
        _ => return None,
    };
    Some((path, which))
}

/// Stores where the bidder puts `node`'s seal of `kind` (`None`: the node's only kind or a
/// 骑缝章); refused with a `PLACE_…` code when it does not fit. A change retires a sealed PDF
/// made on the old places.
#[tauri::command]
pub async fn place_seal(
    project_path: String,
    node: String,
    kind: Option<SealKind>,
    position: NodePosition,
) -> Result<ProjectView, CommandError> {
    off_thread(move || {
        let mut project = open(&project_path)?;
        project
            .place_seal(&node, kind, &position)
            .map_err(project_err)?;
        Ok(project_view(&project))
    })
    .await
}

/// One signature of the sealed PDF as the signatures panel shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureView {
    pub field_name: String,
    /// Seal kind (`/Reason`), zh-CN.
    pub seal_kind: Option<String>,
    pub signer: Option<String>,
    pub organization: Option<String>,
    pub credit_code: Option<String>,
    /// `/M` as written in the PDF (`D:YYYYMMDDHHmmSS+08'00'`).
    pub signing_time: Option<String>,
    /// Intact, trusted by the tender's CAs, nothing but signatures added afterwards.
    pub valid: bool,
    pub covers_whole_file: bool,
    /// Bytes the signature covers.
    pub covered_end: u64,
    /// Why it is not valid, in the window's language (empty when valid).
    pub problems: Vec<String>,
    /// What later revisions changed.
    pub changes: Vec<ChangeView>,
}

/// A change made after a signature.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeView {
    /// The sealed-bid policy accepts it (a later signature and its bookkeeping).
    pub allowed: bool,
    /// What changed, in the window's language.
    pub description: String,
    /// 1-based page, when known.
    pub page: Option<usize>,
}

/// The signatures panel: every signature of the sealed PDF.
#[derive(Debug, Clone, Serialize)]
pub struct SignaturesView {
    pub file: String,
    pub file_len: u64,
    pub revisions: usize,
    pub all_valid: bool,
    pub signatures: Vec<SignatureView>,
}

/// Verifies every signature of the project's sealed PDF (`workflow::project_flow::verify_sealed`).
#[tauri::command]
pub async fn verify_sealed(project_path: String) -> Result<SignaturesView, CommandError> {
    off_thread(move || {
        let project = open(&project_path)?;
        let report = bidseal_workflow::project_flow::verify_sealed(&project).map_err(flow_err)?;
        let signatures = report
            .signatures
            .iter()
            .map(|s| {
                let mut problems: Vec<String> = s.error.iter().cloned().collect();
                if !s.byte_range_ok {
                    problems.push("签名范围异常（/ByteRange 与签名值不符）".into());
                }
                if !s.digest_ok {
                    problems.push("摘要不符：签名覆盖的内容被修改".into());
                }
                if !s.signature_ok {
                    problems.push("签名值无效".into());
                }
                if let Some(c) = &s.chain_error {
                    problems.push(format!("证书不受招标文件认可的 CA 信任：{c}"));
                }
                problems.extend(
                    s.violations()
                        .map(|c| format!("签名后有不允许的修改：{}", c.description)),
                );
                // Worded in the window's language (the workflow's phrases).
                let problems = problems.iter().map(|p| super::in_window_words(p)).collect();
                SignatureView {
                    field_name: s.field_name.clone(),
                    seal_kind: s.seal_kind.clone(),
                    signer: s.signer.clone(),
                    organization: s.organization.clone(),
                    credit_code: s.credit_code.clone(),
                    signing_time: s.signing_time.clone(),
                    valid: s.is_valid(),
                    covers_whole_file: s.covers_whole_file,
                    covered_end: s.covered_end,
                    problems,
                    changes: s
                        .changes
                        .iter()
                        .map(|c| ChangeView {
                            allowed: c.allowed,
                            description: super::in_window_words(&c.description),
                            page: c.page,
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(SignaturesView {
            file: project
                .dir()
                .join(bidseal_workflow::project_flow::SEALED_PDF)
                .display()
                .to_string(),
            file_len: report.file_len,
            revisions: report.revisions,
            all_valid: report.all_valid(),
            signatures,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(uri: &str, origin: Option<&str>) -> http::Request<Vec<u8>> {
        let mut b = http::Request::builder().method("GET").uri(uri);
        if let Some(o) = origin {
            b = b.header(http::header::ORIGIN, o);
        }
        b.body(Vec::new()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refusal(r: &http::Response<Vec<u8>>) -> (u16, String) {
        assert_eq!(r.headers()[http::header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value =
            serde_json::from_slice(r.body()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!v["message"].as_str().unwrap_or("").is_empty(), "{v}");
        (r.status().as_u16(), v["code"].as_str().unwrap_or("").into())
    }

    #[test]
    fn urls_the_window_makes_name_a_project_and_one_of_its_two_pdfs_and_nothing_else() {
        let uri = |s: &str| {
            s.parse::<http::Uri>()
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        assert_eq!(
            pdf_request(&uri(
                "bidpdf://localhost/%2Ftmp%2F%E5%8D%8E%E5%A4%8F.bidproj?which=composed"
            )),
            Some(("/tmp/华夏.bidproj".into(), BidPdf::Composed))
        );
        assert_eq!(
            pdf_request(&uri(
                "http://bidpdf.localhost/%2Fa%20b.bidproj?which=sealed"
            )),
            Some(("/a b.bidproj".into(), BidPdf::Sealed))
        );
        for bad in [
            "bidpdf://localhost/%2Fa.bidproj",
            "bidpdf://localhost/%2Fa.bidproj?which=",
            "bidpdf://localhost/%2Fa.bidproj?which=other",
            "bidpdf://localhost/%2Fa.bidproj?which=composed&x=1",
            "bidpdf://localhost/%2Fa.bidproj?which=../../etc/passwd",
            "bidpdf://localhost/?which=composed",
            "bidpdf://localhost/%2Fa%00.bidproj?which=composed",
            "bidpdf://localhost/%2Fa%FF.bidproj?which=composed",
        ] {
            assert_eq!(pdf_request(&uri(bad)), None, "{bad}");
        }
    }

    #[test]
    fn refusals_are_coded_json_and_only_the_app_origin_is_allowed() {
        let r = pdf_scheme_response(&get(
            "bidpdf://localhost/%2Fa.bidproj?which=x",
            Some("https://evil.example"),
        ));
        assert_eq!(refusal(&r), (400, "E_PDF_REQUEST".into()));
        assert_eq!(
            r.headers()[http::header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "tauri://localhost"
        );
        assert_eq!(r.headers()[http::header::CACHE_CONTROL], "no-store");

        let mut post = get(
            "bidpdf://localhost/%2Fa.bidproj?which=composed",
            Some("http://tauri.localhost"),
        );
        *post.method_mut() = http::Method::POST;
        let r = pdf_scheme_response(&post);
        assert_eq!(refusal(&r), (405, "E_PDF_REQUEST".into()));
        assert_eq!(
            r.headers()[http::header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://tauri.localhost"
        );

        // A folder that is no project, and a file: the project's own refusal, never bytes.
        let dir = std::env::temp_dir().join(format!("bidpdf-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("x.pdf"), b"%PDF-1.7").unwrap_or_else(|e| panic!("{e}"));
        for path in [dir.clone(), dir.join("x.pdf")] {
            let enc: String = percent_encoding::utf8_percent_encode(
                &path.display().to_string(),
                percent_encoding::NON_ALPHANUMERIC,
            )
            .collect();
            let r = pdf_scheme_response(&get(
                &format!("bidpdf://localhost/{enc}?which=composed"),
                None,
            ));
            let (status, code) = refusal(&r);
            assert_eq!(status, 409, "{}", path.display());
            assert!(code.starts_with("PROJECT_"), "{}: {code}", path.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
