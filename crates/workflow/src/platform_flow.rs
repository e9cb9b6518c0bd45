//! The trading platform as the desktop window and the CLI reach it: which platform a project
//! uses, the project's saved session (reused while alive), 扫码登录 with the platform's QR and
//! the phone's progress, the published tenders and their packages (新建项目 from the
//! platform's list), and staff fetching a tender's bid files for the opening hall.
//!
//! Guarantees: a session is saved only after the platform said `done` and the logged-in
//! company is the project's bidder (another company's login is refused and not kept); a
//! certificate the platform has not bound to an account is reported with the platform's code
//! (`PLATFORM_CERT_NOT_BOUND`) and the platform's own pages to bind it on. A downloaded tender
//! package is only a file here: the project is created from it by `BidProject::create`, which
//! verifies it against the platform certificate the user pinned, never against what this
//! platform says about itself. Does not: verify records or receipts (`library_sync`,
//! `bid_upload` do).

use crate::platform_client::{PlatformClient, PlatformClientError, ScanLoginState};
use bidseal_scan::QrPayload;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where a project notes the platform it was created from or last logged in to.
pub const PLATFORM_NOTE: &str = "work/platform.json";
/// How long a saved session is kept (the platform's sessions last 8 hours).
pub const SESSION_SECS: i64 = 8 * 3600;
/// Largest tender package or bid file fetched (bytes).
pub const MAX_DOWNLOAD: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct PlatformNote {
    url: String,
}

fn local(e: impl std::fmt::Display) -> PlatformClientError {
    PlatformClientError::Local(e.to_string())
}

/// Now, Unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The platform URL the project noted, if any.
pub fn remembered_platform(project_dir: &Path) -> Option<String> {
    let bytes = std::fs::read(project_dir.join(PLATFORM_NOTE)).ok()?;
    serde_json::from_slice::<PlatformNote>(&bytes)
        .ok()
        .map(|n| n.url)
        .filter(|u| !u.is_empty())
}

/// Notes `url` as the project's platform.
pub fn remember_platform(project_dir: &Path, url: &str) -> Result<(), PlatformClientError> {
    let path = project_dir.join(PLATFORM_NOTE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(local)?;
    }
    let json = serde_json::to_vec(&PlatformNote {
        url: url.trim_end_matches('/').to_string(),
    })
    .map_err(local)?;
    bidseal_bid::fsio::write_atomic(&path, &json).map_err(local)
}

/// The project's saved session on a platform.
pub enum SavedSession {
    /// Still alive (the platform said so): a client using it.
    Alive(PlatformClient),
    /// There was one, it expired (now forgotten).
    Expired,
    /// None saved for this platform.
    Absent,
}

/// The project's saved session on `base`, asked of the platform; an expired one is forgotten.
pub async fn resume_session(
    base: &str,
    project_dir: &Path,
) -> Result<SavedSession, PlatformClientError> {
    let mut client = PlatformClient::new(base)?;
    if !client.load_session(project_dir, now_unix()) {
        return Ok(SavedSession::Absent);
    }
    match client.refresh_me().await {
        Ok(()) => Ok(SavedSession::Alive(client)),
        Err(PlatformClientError::SessionExpired) => {
            client.forget_session(project_dir);
            Ok(SavedSession::Expired)
        }
        Err(e) => Err(e),
    }
}

/// What a scan login shows while it runs.
#[derive(Debug)]
pub enum LoginStep {
    /// Show this QR (the platform's, parsed and checked here).
    Qr(QrPayload),
    /// The phone scanned; its label.
    Scanned(String),
}

/// 扫码登录 at `base` for the project at `project_dir` (`purpose`: `login` or
/// `sync_integrity`, what the phone shows): the platform's QR and the phone's progress go to
/// `on_step`; on success the session is saved in the project (0600) and the platform noted.
/// `bidder_uscc` (when not empty) must be the logged-in company's.
pub async fn login_by_scan(
    base: &str,
    project_dir: &Path,
    bidder_uscc: &str,
    purpose: &str,
    on_step: &mut (dyn FnMut(LoginStep) + Send),
) -> Result<PlatformClient, PlatformClientError> {
    let mut client = PlatformClient::new(base)?;
    let start = client.scan_login_start(purpose).await?;
    let payload = QrPayload::parse(&start.qr).map_err(|e| {
        PlatformClientError::Protocol(format!("平台给出的扫码登录二维码无法识别：{e}"))
    })?;
    on_step(LoginStep::Qr(payload));
    let waited = client
        .scan_login_wait(&start.id, &mut |st: &ScanLoginState| {
            if st.state == "scanned" {
                on_step(LoginStep::Scanned(st.device.clone().unwrap_or_default()));
            }
        })
        .await;
    if let Err(PlatformClientError::ScanLogin { code, reason }) = waited {
        return Err(PlatformClientError::ScanLogin {
            reason: if code.as_deref() == Some("PLATFORM_CERT_NOT_BOUND") {
                format!(
                    "{reason}（绑定方法：在浏览器打开 {b}/login 用账号密码登录，再在 {b}/bind 页面扫码绑定本证书，然后重新扫码登录）",
                    b = client.base()
                )
            } else {
                reason
            },
            code,
        });
    }
    waited?;
    check_company(&client, bidder_uscc)?;
    client.save_session(project_dir, now_unix() + SESSION_SECS)?;
    remember_platform(project_dir, client.base())?;
    Ok(client)
}

/// Refuses a session of another company than the bidder.
fn check_company(client: &PlatformClient, bidder_uscc: &str) -> Result<(), PlatformClientError> {
    match &client.company {
        Some(c) if bidder_uscc.is_empty() || c.uscc == bidder_uscc => Ok(()),
        Some(c) => Err(PlatformClientError::LoginFailed(format!(
            "登录的企业（{} {}）不是本项目的投标人（统一社会信用代码 {bidder_uscc}），请用投标人的证书扫码登录",
            c.name, c.uscc
        ))),
        None => Err(PlatformClientError::LoginFailed(
            "该账号不属于任何企业（员工账号不能投标），请用投标人的证书扫码登录".into(),
        )),
    }
}

/// A tender as the platform lists it (`GET /tenders`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublishedTender {
    /// The platform's id.
    pub id: String,
    /// 项目编号.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// 标段编号.
    pub lot_id: String,
    /// Lot name.
    pub lot_name: String,
    /// 招标人.
    pub tenderer: String,
    /// 投标截止时间, Unix seconds.
    pub bid_deadline: i64,
    /// 开标时间, Unix seconds.
    pub opening_time: i64,
    /// Still taking bids.
    pub accepting_bids: bool,
    /// SHA-256 of the signed manifest.
    pub manifest_sha256: String,
}

/// The platform's published tenders.
pub async fn published_tenders(
    client: &PlatformClient,
) -> Result<Vec<PublishedTender>, PlatformClientError> {
    client.get_json("/tenders").await
}

/// Downloads the signed package of tender `id` to `dest` (atomically). Not verified here:
/// `BidProject::create` verifies it against the pinned platform certificate.
pub async fn download_tender_package(
    client: &PlatformClient,
    id: &str,
    dest: &Path,
) -> Result<(), PlatformClientError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PlatformClientError::Protocol(format!(
            "招标项目编号“{id}”无效"
        )));
    }
    let bytes = client
        .get_bytes(&format!("/tenders/{id}/package"), MAX_DOWNLOAD)
        .await?;
    bidseal_bid::fsio::write_atomic(dest, &bytes).map_err(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform_client::CompanyRef;

    fn client_of(uscc: Option<&str>) -> PlatformClient {
        let mut c = PlatformClient::new("http://127.0.0.1:9").expect("client");
        c.company = uscc.map(|u| CompanyRef {
            uscc: u.into(),
            name: "某企业".into(),
        });
        c
    }

    #[test]
    fn a_login_of_another_company_or_of_no_company_is_refused() {
        assert!(check_company(&client_of(Some("A")), "A").is_ok());
        assert!(
            check_company(&client_of(Some("A")), "").is_ok(),
            "bidder not filled yet"
        );
        let other = check_company(&client_of(Some("B")), "A").expect_err("stranger");
        assert_eq!(other.code(), "E_LOGIN_FAILED");
        assert!(other.to_string().contains('B'), "{other}");
        let staff = check_company(&client_of(None), "A").expect_err("staff account");
        assert_eq!(staff.code(), "E_LOGIN_FAILED");
    }

    #[test]
    fn the_project_notes_its_platform_without_a_trailing_slash() {
        let dir = std::env::temp_dir().join(format!("bidseal-note-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(remembered_platform(&dir), None);
        remember_platform(&dir, "http://127.0.0.1:8080/").expect("note");
        assert_eq!(
            remembered_platform(&dir).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        std::fs::write(dir.join(PLATFORM_NOTE), b"{not json").expect("garbage");
        assert_eq!(
            remembered_platform(&dir),
            None,
            "a broken note is no platform"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_tender_id_that_is_not_plain_is_refused_before_any_request() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dest = std::env::temp_dir().join("bidseal-never.zip");
        for id in ["", "../staff/tenders", "T1?x=1", "T1/../../x"] {
            let err = rt
                .block_on(download_tender_package(&client_of(None), id, &dest))
                .expect_err(id);
            assert_eq!(err.code(), "E_PLATFORM_PROTOCOL", "{id}");
        }
        assert!(!dest.exists());
    }
}
