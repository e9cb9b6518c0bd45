//! Public and company pages: home (published tenders), login (account + password, and a
//! 扫码登录 QR that turns into the logged-in page by itself), logout, 我的企业, 扫码绑定证书,
//! the company's integrity library; and the `/web/scan/...` endpoints their script polls.
//!
//! Guarantees: the session of a scan login is set as the HttpOnly cookie by the poll that
//! sees `done` (the token never reaches page script); a bind scan is started and read only by
//! the logged-in company account; pages of a role redirect to /login without a session.
//! Does not: render anything from unescaped input ([`esc`]).

use super::layout::{beijing, esc, page, scan_panel};
use super::services::PlatformAccounts;
use crate::auth::{session_cookie, token_hash, AnyAuth, CompanyAuth};
use crate::db::Role;
use crate::error::ApiError;
use crate::records::SignedRecord;
use crate::scan::{RequestOrigin, ScanPurpose, ScanState, LONG_POLL_MAX};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// `GET /`: published tenders.
pub async fn home(State(state): State<AppState>, auth: Result<AnyAuth, ApiError>) -> Response {
    let account = auth.ok().map(|a| a.account);
    let tenders = match state.db.tenders().await {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let now = state.clock.now_unix();
    let mut rows = String::new();
    for t in &tenders {
        let status = if now < t.bid_deadline {
            "接受投标"
        } else if t.state == "opened" {
            "已开标"
        } else if now < t.opening_time {
            "投标截止，待开标"
        } else {
            "待开标"
        };
        rows.push_str(&format!(
            r#"<tr data-testid="tender-row"><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href="/hall/{}">开标大厅</a> · <a href="/api/v1/tenders/{}/package">下载招标文件</a></td></tr>"#,
            esc(&t.project_id),
            esc(&t.project_name),
            esc(&format!("{} {}", t.lot_id, t.lot_name)),
            esc(&t.tenderer),
            beijing(t.bid_deadline),
            beijing(t.opening_time),
            status,
            esc(&t.id),
            esc(&t.id),
        ));
    }
    if tenders.is_empty() {
        rows.push_str(r#"<tr><td colspan="8">暂无已发布的招标项目</td></tr>"#);
    }
    let body = format!(
        r#"<h2>已发布的招标项目</h2>
<table data-testid="tenders"><thead><tr><th>项目编号</th><th>项目名称</th><th>标段</th><th>招标人</th><th>投标截止（北京时间）</th><th>开标时间（北京时间）</th><th>状态</th><th></th></tr></thead><tbody>{rows}</tbody></table>
<p class="hint">投标企业用 BidSeal 投标工具制作、加密并上传投标文件；开标时在手机上确认解密（不见面开标）。</p>"#
    );
    page("招标项目", account.as_ref(), &body)
}

/// `GET /login`.
pub async fn login_page(
    State(state): State<AppState>,
    auth: Result<AnyAuth, ApiError>,
) -> Response {
    if let Ok(a) = auth {
        return Redirect::to(if a.account.role == Role::Staff {
            "/staff"
        } else {
            "/me"
        })
        .into_response();
    }
    let scan = if state.web.scans.is_some() {
        scan_panel(
            "login",
            "用手机 BidSeal 扫码，在手机上核对平台名称与“登录”后输入证书 PIN 确认。证书须先在“扫码绑定证书”中绑定到企业账号。",
        )
    } else {
        r#"<p class="error" data-testid="scan-unavailable">平台未配置扫码中继（启动时未给出 --relay），暂不能扫码登录，请使用账号密码登录。</p>"#.to_string()
    };
    let body = format!(
        r#"<div class="cards">
<section class="card"><h2>账号密码登录</h2>
<form data-password-login>
<label for="login">账号（企业为统一社会信用代码）</label><input type="text" id="login" name="login" autocomplete="username" data-testid="login-name" required>
<label for="password">密码</label><input type="password" id="password" name="password" autocomplete="current-password" data-testid="login-password" required>
<div class="actions"><button type="submit" data-testid="login-submit">登录</button></div>
<div class="error" data-testid="login-error"></div>
</form></section>
<section class="card"><h2>扫码登录</h2>{scan}</section>
</div>"#
    );
    page("登录", None, &body)
}

/// `POST /logout`: ends the session (cookie or bearer) and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = super::services::token_from_headers(&headers) {
        if let Err(e) = state.db.delete_session(&token_hash(&token)).await {
            return ApiError::from(e).into_response();
        }
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session_cookie(None)),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

/// `GET /me`: who is logged in.
pub async fn me(State(state): State<AppState>, auth: Result<AnyAuth, ApiError>) -> Response {
    let Ok(auth) = auth else { return to_login() };
    let a = &auth.account;
    if a.role == Role::Staff {
        return Redirect::to("/staff").into_response();
    }
    let session = state
        .db
        .session(&auth.token_hash)
        .await
        .ok()
        .flatten()
        .map(|s| s.via)
        .unwrap_or_default();
    let via = if session == "scan" {
        "扫码登录"
    } else {
        "账号密码登录"
    };
    let (name, uscc) = a
        .company
        .as_ref()
        .map(|c| (c.name.clone(), c.uscc.clone()))
        .unwrap_or_default();
    let bound = match &a.bound_cert_fingerprint {
        Some(fp) => format!(
            r#"<span class="ok" data-testid="bound">已绑定</span> <span class="mono">{}</span>"#,
            esc(fp)
        ),
        None => r#"<span data-testid="bound">未绑定</span>（<a href="/bind">扫码绑定证书</a>后可扫码登录）"#.into(),
    };
    let body = format!(
        r#"<section class="card"><dl class="kv">
<dt>企业名称</dt><dd data-testid="company-name">{}</dd>
<dt>统一社会信用代码</dt><dd class="mono" data-testid="company-uscc">{}</dd>
<dt>登录方式</dt><dd data-testid="login-via">{via}</dd>
<dt>绑定证书</dt><dd>{bound}</dd>
<dt>会话有效至</dt><dd>{}</dd>
</dl>
<div class="actions"><a class="button" href="/library">诚信库</a><a class="button" href="/bind">扫码绑定证书</a><a class="button" href="/">招标项目</a></div></section>"#,
        esc(&name),
        esc(&uscc),
        beijing(auth.expires_at),
    );
    page("我的企业", Some(a), &body)
}

/// `GET /bind`: 扫码绑定证书.
pub async fn bind_page(
    State(state): State<AppState>,
    auth: Result<CompanyAuth, ApiError>,
) -> Response {
    let auth = match auth {
        Ok(a) => a,
        Err(e) if e.status == StatusCode::FORBIDDEN => {
            return page(
                "扫码绑定证书",
                None,
                r#"<p class="error">只有投标企业账号能绑定证书。</p>"#,
            )
        }
        Err(_) => return to_login(),
    };
    let scan = if state.web.scans.is_some() {
        scan_panel(
            "bind",
            "用本企业的证书扫码。证书中的企业名称与统一社会信用代码必须与本账号一致，否则平台拒绝绑定并说明哪一项不一致。",
        )
    } else {
        r#"<p class="error" data-testid="scan-unavailable">平台未配置扫码中继（--relay），暂不能扫码绑定。</p>"#.to_string()
    };
    let body = format!(
        r#"<div class="cards"><section class="card"><h2>账号</h2><dl class="kv">
<dt>企业名称</dt><dd data-testid="company-name">{}</dd>
<dt>统一社会信用代码</dt><dd class="mono" data-testid="company-uscc">{}</dd>
<dt>当前绑定</dt><dd class="mono">{}</dd></dl></section>
<section class="card"><h2>扫码绑定</h2>{scan}</section></div>"#,
        esc(&auth.company.name),
        esc(&auth.company.uscc),
        esc(auth
            .session
            .account
            .bound_cert_fingerprint
            .as_deref()
            .unwrap_or("未绑定")),
    );
    page("扫码绑定证书", Some(&auth.session.account), &body)
}

/// `GET /library`: the company's integrity library, each record's platform signature checked.
pub async fn library(
    State(state): State<AppState>,
    auth: Result<CompanyAuth, ApiError>,
) -> Response {
    let Ok(auth) = auth else { return to_login() };
    let records = match state.db.records_of(&auth.company.uscc).await {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let body = format!(
        r#"<p>企业：<b>{}</b>（统一社会信用代码 <span class="mono">{}</span>）。每条记录由平台证书签名，投标工具“同步诚信库”时逐条验证。</p>{}"#,
        esc(&auth.company.name),
        esc(&auth.company.uscc),
        render_records(&state, &records, false)
    );
    page("诚信库", Some(&auth.session.account), &body)
}

/// The records as cards (with edit forms for staff).
pub fn render_records(
    state: &AppState,
    records: &[crate::db::StoredRecord],
    editable: bool,
) -> String {
    use base64::Engine;
    if records.is_empty() {
        return r#"<p data-testid="no-records">暂无记录</p>"#.into();
    }
    let mut out = String::new();
    for r in records {
        let parsed: Option<SignedRecord> = serde_json::from_str(&r.record_json).ok();
        let sig_ok = base64::engine::general_purpose::STANDARD
            .decode(&r.signature)
            .ok()
            .is_some_and(|sig| {
                state
                    .identity
                    .certificate()
                    .verify(r.record_json.as_bytes(), &sig)
                    .is_ok()
            });
        let (kind_zh, title, fields) = match &parsed {
            Some(p) => (p.kind.zh(), p.title.clone(), p.fields.clone()),
            None => ("（无法解析）", String::new(), Default::default()),
        };
        let mut rows = String::new();
        for (k, v) in &fields {
            let value = field_text(v);
            let label = parsed
                .as_ref()
                .and_then(|p| {
                    crate::records::required_fields(p.kind)
                        .iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, zh)| *zh)
                })
                .unwrap_or(match k.as_str() {
                    "uscc" => "统一社会信用代码",
                    other => other,
                });
            rows.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(label), esc(&value)));
        }
        let sig = if sig_ok {
            r#"<span class="ok">平台签名有效</span>"#
        } else {
            r#"<span class="error">平台签名无效</span>"#
        };
        let edit = if editable {
            format!(
                r#"<form data-record data-id="{id}" data-version="{ver}"><label>标题</label><input type="text" name="title" value="{title}"><label>字段（JSON）</label><textarea name="fields" rows="4">{fields}</textarea><div class="actions"><button type="submit">保存并重新签名</button><span class="result"></span></div></form>"#,
                id = esc(&r.id),
                ver = r.version,
                title = esc(&title),
                fields = esc(&serde_json::to_string_pretty(&fields).unwrap_or_default()),
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            r#"<div class="record" data-testid="record"><h3>【{}】{}</h3><dl class="kv">{rows}<dt>记录编号</dt><dd class="mono">{}</dd><dt>版本</dt><dd>{}</dd><dt>SHA-256</dt><dd class="mono">{}</dd><dt>签名</dt><dd>{sig}</dd></dl>{edit}</div>"#,
            kind_zh,
            esc(&title),
            esc(&r.id),
            r.version,
            esc(&r.sha256),
        ));
    }
    out
}

/// A record field as text: strings as they are, a list of certificates one per line-part
/// (`一级注册建造师 京111… 有效期至 2028-06-30；…`), anything else as JSON.
fn field_text(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(o) => {
                    let get = |k: &str| o.get(k).map(field_text).unwrap_or_default();
                    let mut parts = vec![get("type"), get("number")];
                    if o.contains_key("valid_until") {
                        parts.push(format!("有效期至 {}", get("valid_until")));
                    }
                    let known = ["type", "number", "valid_until"];
                    parts.extend(
                        o.iter()
                            .filter(|(k, _)| !known.contains(&k.as_str()))
                            .map(|(_, v)| field_text(v)),
                    );
                    parts.retain(|p| !p.is_empty());
                    parts.join(" ")
                }
                other => field_text(other),
            })
            .collect::<Vec<_>>()
            .join("；"),
        other => other.to_string(),
    }
}

// --- /web/scan/... ------------------------------------------------------------------------

fn no_scans() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "PLATFORM_NO_RELAY",
        "平台未配置扫码中继（--relay），暂不能扫码",
    )
    .into_response()
}

fn refusal(r: crate::scan::ScanRefusal) -> Response {
    let status = match r {
        crate::scan::ScanRefusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    (
        status,
        Json(serde_json::json!({"code": r.code(), "message": r.to_string()})),
    )
        .into_response()
}

fn unknown_scan() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "PLATFORM_SCAN_UNKNOWN",
        "二维码已失效，请刷新二维码",
    )
    .into_response()
}

/// Query of `POST /web/scan/{kind}`.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    /// QR lifetime in seconds (5–180; default 180). Shorter only shortens one's own QR.
    pub ttl: Option<u64>,
}

/// Query of the scan long poll.
#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    /// The state the page shows now.
    pub known: Option<String>,
}

fn ttl_of(q: &StartQuery) -> Option<Duration> {
    q.ttl.map(|s| Duration::from_secs(s.clamp(5, 180)))
}

fn known_of(q: &WaitQuery) -> Option<ScanState> {
    q.known.as_deref().and_then(ScanState::parse)
}

/// `POST /web/scan/login`.
pub async fn start_login(
    State(state): State<AppState>,
    origin: RequestOrigin,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some(hub) = state.web.scans.clone() else {
        return no_scans();
    };
    let accounts = Arc::new(PlatformAccounts(state.clone()));
    match hub
        .start_with(ScanPurpose::Login, accounts, ttl_of(&q), Some(&origin))
        .await
    {
        Ok(s) => Json(serde_json::json!({"id": s.id, "expires_at": s.expires_at})).into_response(),
        Err(r) => refusal(r),
    }
}

/// `GET /web/scan/login/{id}`: on `done` sets the session cookie.
pub async fn wait_login(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Response {
    let Some(hub) = state.web.scans.clone() else {
        return no_scans();
    };
    let Some(mut status) = hub.wait(&id, None, known_of(&q), LONG_POLL_MAX).await else {
        return unknown_scan();
    };
    let token = status.token.take();
    let mut body = serde_json::to_value(&status).unwrap_or_default();
    if status.state == ScanState::Done {
        body["next"] = "/me".into();
    }
    match token {
        Some(t) => (
            [
                (header::SET_COOKIE, session_cookie(Some(&t))),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            Json(body),
        )
            .into_response(),
        None => ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response(),
    }
}

fn svg(svg: Option<String>) -> Response {
    match svg {
        Some(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            svg,
        )
            .into_response(),
        None => unknown_scan(),
    }
}

/// `GET /web/scan/login/{id}/qr.svg`.
pub async fn qr_login(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match &state.web.scans {
        Some(hub) => svg(hub.qr_svg(&id, None).await),
        None => no_scans(),
    }
}

/// `POST /web/scan/bind`.
pub async fn start_bind(
    State(state): State<AppState>,
    origin: RequestOrigin,
    auth: CompanyAuth,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some(hub) = state.web.scans.clone() else {
        return no_scans();
    };
    let accounts = Arc::new(PlatformAccounts(state.clone()));
    let purpose = ScanPurpose::Bind {
        account: auth.session.account.login.clone(),
    };
    match hub
        .start_with(purpose, accounts, ttl_of(&q), Some(&origin))
        .await
    {
        Ok(s) => Json(serde_json::json!({"id": s.id, "expires_at": s.expires_at})).into_response(),
        Err(r) => refusal(r),
    }
}

/// `GET /web/scan/bind/{id}`.
pub async fn wait_bind(
    State(state): State<AppState>,
    auth: CompanyAuth,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Response {
    let Some(hub) = state.web.scans.clone() else {
        return no_scans();
    };
    let viewer = auth.session.account.login.as_str();
    match hub
        .wait(&id, Some(viewer), known_of(&q), LONG_POLL_MAX)
        .await
    {
        Some(status) => ([(header::CACHE_CONTROL, "no-store")], Json(status)).into_response(),
        None => unknown_scan(),
    }
}

/// `GET /web/scan/bind/{id}/qr.svg`.
pub async fn qr_bind(
    State(state): State<AppState>,
    auth: CompanyAuth,
    Path(id): Path<String>,
) -> Response {
    match &state.web.scans {
        Some(hub) => svg(hub.qr_svg(&id, Some(&auth.session.account.login)).await),
        None => no_scans(),
    }
}
