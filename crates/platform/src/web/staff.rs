//! Staff pages (项目管理: publish a tender package, see bids and receipts, start the opening;
//! 企业诚信库: edit companies' records) and the 开标大厅 with its live board.
//!
//! Guarantees: every staff page and action takes [`StaffAuth`]; the opening starts only at or
//! after the tender's opening time (platform clock; the phones check again) and only once; the
//! board shows each bidder's state and, once decrypted, the reading (唱标). Does not: let a
//! company see other companies' bids before the opening (the hall shows states only, prices
//! only after decryption, as a public opening does).

use super::layout::{beijing, esc, page};
use super::pages::render_records;
use crate::auth::{AnyAuth, StaffAuth};
use crate::error::ApiError;
use crate::remote_opening::{OpeningBoard, RemoteBid, RemoteOpening};
use crate::scan::{Company, LONG_POLL_MAX};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a staff page is not shown: an API error (as JSON, with its status) or a page instead
/// (the login page for a visitor, 无权访问 for a company account).
pub enum PageError {
    /// An error answer.
    Api(ApiError),
    /// Another page.
    Page(Box<Response>),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError::Api(ApiError::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Api(e) => e.into_response(),
            PageError::Page(r) => *r,
        }
    }
}

/// A staff page's answer.
type PageResult = Result<Response, PageError>;

fn staff_or_login(auth: Result<StaffAuth, ApiError>) -> Result<StaffAuth, PageError> {
    match auth {
        Ok(a) => Ok(a),
        Err(e) if e.status == StatusCode::FORBIDDEN => Err(PageError::Page(Box::new(page(
            "无权访问",
            None,
            r#"<p class="error">此页面仅供交易平台工作人员使用。</p>"#,
        )))),
        Err(_) => Err(PageError::Page(Box::new(
            Redirect::to("/login").into_response(),
        ))),
    }
}

/// `GET /staff`: tenders and the publish form.
pub async fn tenders(
    State(state): State<AppState>,
    auth: Result<StaffAuth, ApiError>,
) -> PageResult {
    let auth = staff_or_login(auth)?;
    let tenders = state.db.tenders().await?;
    let mut rows = String::new();
    for t in &tenders {
        let bids = state
            .db
            .bids_of_tender(&t.id)
            .await
            .map(|b| b.iter().filter(|b| b.state == "submitted").count())
            .unwrap_or(0);
        rows.push_str(&format!(
            r#"<tr><td class="mono"><a href="/staff/tenders/{id}">{pid}</a></td><td>{}</td><td>{}</td><td>{}</td><td class="num">{bids}</td><td>{}</td></tr>"#,
            esc(&format!("{} {}", t.project_name, t.lot_name)),
            beijing(t.bid_deadline),
            beijing(t.opening_time),
            esc(&t.state),
            id = esc(&t.id),
            pid = esc(&t.project_id),
        ));
    }
    let body = format!(
        r#"<section class="card"><h2>发布招标文件</h2>
<form data-publish><label for="package">招标文件包（由 bidseal tender make 生成并由平台证书签名的 .zip）</label>
<input type="file" id="package" name="package" accept=".zip,application/zip" data-testid="publish-file">
<div class="actions"><button type="submit" data-testid="publish-submit">发布</button><span data-testid="publish-result"></span></div></form></section>
<h2>招标项目</h2>
<table><thead><tr><th>项目编号</th><th>项目 / 标段</th><th>投标截止</th><th>开标时间</th><th>投标数</th><th>状态</th></tr></thead><tbody>{rows}</tbody></table>"#
    );
    Ok(page("项目管理", Some(&auth.session.account), &body))
}

/// `GET /staff/tenders/{id}`: bids, receipts, start the opening.
pub async fn tender(
    State(state): State<AppState>,
    auth: Result<StaffAuth, ApiError>,
    Path(id): Path<String>,
) -> PageResult {
    let auth = staff_or_login(auth)?;
    let tender = state
        .db
        .tender(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("招标项目"))?;
    let bids = state.db.bids_of_tender(&id).await?;
    let mut rows = String::new();
    for b in &bids {
        let name = state
            .db
            .company(&b.company_uscc)
            .await
            .ok()
            .flatten()
            .map(|c| c.name)
            .unwrap_or_default();
        let receipts = state
            .db
            .receipts_of(&id, &b.company_uscc)
            .await
            .unwrap_or_default();
        let list: Vec<String> = receipts
            .iter()
            .map(|r| {
                format!(
                    r#"<div><span class="mono">{}</span> {} {}</div>"#,
                    esc(&r.id),
                    esc(&r.action),
                    beijing(r.created_at)
                )
            })
            .collect();
        rows.push_str(&format!(
            r#"<tr data-testid="bid-row"><td>{}</td><td class="mono">{}</td><td>{}</td><td class="num">{}</td><td class="mono">{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&name),
            esc(&b.company_uscc),
            if b.state == "submitted" { "已递交" } else { "已撤回" },
            b.size,
            esc(&b.sha256),
            beijing(b.updated_at),
            list.join(""),
        ));
    }
    if bids.is_empty() {
        rows.push_str(r#"<tr><td colspan="7">尚无投标</td></tr>"#);
    }
    let now = state.clock.now_unix();
    let opening = if state.web.opening(&id).is_some() {
        format!(
            r#"<a class="button" href="/hall/{}">进入开标大厅</a>"#,
            esc(&id)
        )
    } else if now < tender.opening_time {
        format!(
            r#"<button type="button" disabled>开始开标</button><span class="hint">开标时间 {} 之后才能开始</span>"#,
            beijing(tender.opening_time)
        )
    } else {
        format!(
            r#"<button type="button" data-open-tender data-tender="{}" data-testid="open-start">开始开标（不见面开标，推送至投标人手机）</button>"#,
            esc(&id)
        )
    };
    let body = format!(
        r#"<section class="card"><dl class="kv"><dt>项目</dt><dd>{} {}</dd><dt>标段</dt><dd>{} {}</dd><dt>招标人</dt><dd>{}</dd><dt>投标截止</dt><dd>{}</dd><dt>开标时间</dt><dd>{}</dd><dt>招标文件 SHA-256</dt><dd class="mono">{}</dd></dl>
<div class="actions">{opening}<span id="open-result"></span></div></section>
<h2>投标与回执</h2>
<table><thead><tr><th>投标人</th><th>统一社会信用代码</th><th>状态</th><th>大小（字节）</th><th>投标文件 SHA-256</th><th>更新时间</th><th>回执</th></tr></thead><tbody>{rows}</tbody></table>"#,
        esc(&tender.project_id),
        esc(&tender.project_name),
        esc(&tender.lot_id),
        esc(&tender.lot_name),
        esc(&tender.tenderer),
        beijing(tender.bid_deadline),
        beijing(tender.opening_time),
        esc(&tender.manifest_sha256),
    );
    Ok(page("招标项目", Some(&auth.session.account), &body))
}

/// `GET /staff/companies`.
pub async fn companies(
    State(state): State<AppState>,
    auth: Result<StaffAuth, ApiError>,
) -> PageResult {
    let auth = staff_or_login(auth)?;
    let companies = state.db.companies().await?;
    let rows: String = companies
        .iter()
        .map(|c| {
            format!(
                r#"<tr><td><a href="/staff/companies/{u}">{}</a></td><td class="mono">{u}</td></tr>"#,
                esc(&c.name),
                u = esc(&c.uscc)
            )
        })
        .collect();
    let body = format!(
        r#"<table><thead><tr><th>企业名称</th><th>统一社会信用代码</th></tr></thead><tbody>{rows}</tbody></table>"#
    );
    Ok(page("企业诚信库", Some(&auth.session.account), &body))
}

/// `GET /staff/companies/{uscc}`: records with edit forms.
pub async fn company(
    State(state): State<AppState>,
    auth: Result<StaffAuth, ApiError>,
    Path(uscc): Path<String>,
) -> PageResult {
    let auth = staff_or_login(auth)?;
    let company = state
        .db
        .company(&uscc)
        .await?
        .ok_or_else(|| ApiError::not_found("企业"))?;
    let records = state.db.records_of(&uscc).await?;
    let body = format!(
        r#"<p><b>{}</b>（<span class="mono">{}</span>）。保存后版本号加一并由平台重新签名；投标人下次同步时看到变更。</p>{}"#,
        esc(&company.name),
        esc(&company.uscc),
        render_records(&state, &records, true)
    );
    Ok(page("企业诚信库", Some(&auth.session.account), &body))
}

/// The relay remote openings push through.
fn opening_relay(state: &AppState) -> Result<String, ApiError> {
    state
        .web
        .scans
        .as_ref()
        .map(|h| h.relay().to_string())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PLATFORM_NO_RELAY",
                "平台未配置扫码中继（--relay），不能不见面开标",
            )
        })
}

/// The tender package of an opening, written to its work folder and opened.
async fn opening_package(
    state: &AppState,
    id: &str,
) -> Result<(bidseal_bid::tender::TenderPackage, PathBuf), ApiError> {
    let package_bytes = state
        .db
        .tender_package(id)
        .await?
        .ok_or_else(|| ApiError::not_found("招标项目"))?;
    let work = state.data_dir.join("opening").join(id);
    std::fs::create_dir_all(&work).map_err(|e| ApiError::internal("opening dir", e))?;
    let package_path = work.join("tender.zip");
    std::fs::write(&package_path, &package_bytes)
        .map_err(|e| ApiError::internal("write tender", e))?;
    let package = bidseal_bid::tender::open(&package_path).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "OPEN_TENDER_UNUSABLE",
            format!("招标文件包无法打开：{e}"),
        )
    })?;
    Ok((package, work))
}

/// Runs `bids` of `opening` in the background; the tender becomes `opened` when it ends.
fn spawn_opening(
    state: &AppState,
    opening: Arc<RemoteOpening>,
    relay: String,
    package: bidseal_bid::tender::TenderPackage,
    bids: Vec<RemoteBid>,
    work: PathBuf,
) {
    let state = state.clone();
    let options = bidseal_scan::client::ScanOptions::default();
    tokio::spawn(async move {
        let _ = opening
            .run(&relay, &package, bids, &work, &state.web.mailbox, options)
            .await;
        finish_opening(&state, &opening).await;
    });
}

/// A finished opening: its reading signed and published (once), the tender `opened`.
async fn finish_opening(state: &AppState, opening: &RemoteOpening) {
    let board = opening.board();
    if let Err(e) = publish_report(state, &board).await {
        eprintln!(
            "platform: opening {}: reading not published: {}",
            board.tender, e.message
        );
    }
    let _ = state.db.set_tender_state(&board.tender, "opened").await;
}

/// Signs and stores the reading of a finished board unless one is published.
async fn publish_report(state: &AppState, board: &OpeningBoard) -> Result<(), ApiError> {
    if !board.finished || state.db.opening_report(&board.tender).await?.is_some() {
        return Ok(());
    }
    let tender = state
        .db
        .tender(&board.tender)
        .await?
        .ok_or_else(|| ApiError::not_found("招标项目"))?;
    let bid_sha256: std::collections::HashMap<String, String> = state
        .db
        .bids_of_tender(&board.tender)
        .await?
        .into_iter()
        .filter_map(|b| b.upload_id.map(|u| (u, b.sha256)))
        .collect();
    let report = crate::remote_opening::sign_report(
        &state.identity,
        &tender,
        board,
        &bid_sha256,
        state.clock.now_unix(),
    )
    .map_err(|e| ApiError::internal("opening report json", e))?;
    state.db.insert_opening_report(&report).await?;
    Ok(())
}

/// `POST /web/staff/tenders/{id}/opening`: starts the remote opening of every submitted bid.
pub async fn start_opening(
    State(state): State<AppState>,
    _auth: StaffAuth,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let relay = opening_relay(&state)?;
    let tender = state
        .db
        .tender(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("招标项目"))?;
    let already = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "OPEN_ALREADY_STARTED",
            "本项目已开标，不能重复开始",
        )
    };
    if state.db.opening_board(&id).await?.is_some() {
        return Err(already());
    }
    let (package, work) = opening_package(&state, &id).await?;
    let mut bids = Vec::new();
    for b in state.db.bids_of_tender(&id).await? {
        let (Some(upload), true) = (b.upload_id.clone(), b.state == "submitted") else {
            continue;
        };
        let name = state
            .db
            .company(&b.company_uscc)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        bids.push(RemoteBid {
            bid: upload.clone(),
            company: Company {
                uscc: b.company_uscc.clone(),
                name,
            },
            file: crate::bids::bid_file_path(&state, &upload),
        });
    }
    let opening = {
        let mut openings = state.web.openings.lock().unwrap_or_else(|p| p.into_inner());
        if openings.contains_key(&id) {
            return Err(already());
        }
        let opening = Arc::new(RemoteOpening::stored(&id, &bids, state.db.clone()));
        let now = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(state.clock.now_unix().max(0) as u64);
        opening
            .begin(&package, now)
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string()))?;
        openings.insert(id.clone(), opening.clone());
        opening
    };
    opening.save().await;
    let _ = state.db.set_tender_state(&id, "opening").await;
    spawn_opening(&state, opening, relay, package, bids, work);
    Ok(Json(serde_json::json!({
        "tender": tender.id,
        "hall": format!("/hall/{id}"),
    })))
}

/// At start: every stored opening back on its board; one a restart cut off carries on — its
/// undelivered pushes (bound to the old process's relay sessions) are withdrawn and each bid
/// not yet 已解密 or 失败 is pushed again. Without a relay those bids end 失败
/// (`PLATFORM_NO_RELAY`).
pub async fn resume_openings(state: &AppState) -> Result<(), crate::PlatformError> {
    for (tender_id, json) in state.db.opening_boards().await? {
        let board: OpeningBoard = match serde_json::from_str(&json) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("platform: opening {tender_id}: stored board unreadable: {e}");
                continue;
            }
        };
        let finished = board.finished;
        let opening = Arc::new(RemoteOpening::restore(board, state.db.clone()));
        state
            .web
            .openings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tender_id.clone(), opening.clone());
        if finished {
            // Finished just before the restart: the reading may still be unpublished.
            finish_opening(state, &opening).await;
            continue;
        }
        state.web.mailbox.withdraw_tender(&tender_id).await;
        let bids = opening.unfinished(|bid| crate::bids::bid_file_path(state, bid));
        opening.save().await;
        let prepared = match opening_relay(state) {
            Ok(relay) => opening_package(state, &tender_id)
                .await
                .map(|(package, work)| (relay, package, work)),
            Err(e) => Err(e),
        };
        match prepared {
            Ok((relay, package, work)) => {
                spawn_opening(state, opening, relay, package, bids, work);
            }
            Err(e) => {
                opening.fail_all(&bids, e.code, &e.message).await;
                finish_opening(state, &opening).await;
            }
        }
    }
    Ok(())
}

/// `GET /hall/{id}`: 开标大厅 (public, as an opening is).
pub async fn hall(
    State(state): State<AppState>,
    auth: Result<AnyAuth, ApiError>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let account = auth.ok().map(|a| a.account);
    let tender = state
        .db
        .tender(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("招标项目"))?;
    let body = format!(
        r#"<section class="card" data-hall data-tender="{id}"><dl class="kv"><dt>项目</dt><dd>{} {} · {} {}</dd><dt>开标时间</dt><dd>{}（北京时间）</dd><dt>状态</dt><dd class="state" id="hall-status" data-testid="hall-status">尚未开标</dd></dl><div class="error" id="hall-error"></div></section>
<h2>投标人解密状态</h2>
<table><thead><tr><th>序号</th><th>投标人</th><th>统一社会信用代码</th><th>状态</th><th>手机</th><th>说明</th></tr></thead><tbody id="hall-rows"></tbody></table>
<h2>唱标</h2>
<table data-testid="hall-prices"><thead><tr><th>序号</th><th>投标人</th><th>报价</th></tr></thead><tbody id="hall-prices"></tbody></table>
<p class="hint">不见面开标：平台把解密请求推送到投标人待命的手机（bidseal phone standby），投标人在手机上核对项目与开标时间后确认，平台解密并逐项验证。</p>"#,
        esc(&tender.project_id),
        esc(&tender.project_name),
        esc(&tender.lot_id),
        esc(&tender.lot_name),
        beijing(tender.opening_time),
        id = esc(&id),
    );
    Ok(page("开标大厅", account.as_ref(), &body))
}

/// Query of the board long poll.
#[derive(Debug, Deserialize)]
pub struct BoardQuery {
    /// The board version the page shows (-1: none yet).
    pub known: Option<i64>,
}

/// `GET /web/hall/{id}/board?known=V`: the board once newer than `V` (≤ 25 s).
pub async fn board(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<BoardQuery>,
) -> Response {
    let board = match state.web.opening(&id) {
        Some(opening) => {
            let known = q.known.unwrap_or(-1);
            if known < 0 {
                opening.board()
            } else {
                opening.board_after(known as u64, LONG_POLL_MAX).await
            }
        }
        None => {
            // Not started: every current bid 未解密, no prices; wait a little so the page
            // does not spin.
            if q.known.unwrap_or(-1) >= 0 {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
            let bids = state.db.bids_of_tender(&id).await.unwrap_or_default();
            let mut rows = Vec::new();
            for b in bids.iter().filter(|b| b.state == "submitted") {
                let name = state
                    .db
                    .company(&b.company_uscc)
                    .await
                    .ok()
                    .flatten()
                    .map(|c| c.name)
                    .unwrap_or_default();
                rows.push(RemoteBid {
                    bid: b.upload_id.clone().unwrap_or_default(),
                    company: Company {
                        uscc: b.company_uscc.clone(),
                        name,
                    },
                    file: Default::default(),
                });
            }
            RemoteOpening::new(&id, &rows).board()
        }
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(board)).into_response()
}
