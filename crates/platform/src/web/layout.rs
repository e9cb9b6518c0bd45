//! The page frame (header, navigation, footer), HTML escaping, and the one stylesheet and
//! script every page uses (served from `/assets/`, no build step).
//!
//! Guarantees: every text that comes from a user, a certificate or the database goes through
//! [`esc`]; pages send `Content-Security-Policy: default-src 'self'` (no inline script), so
//! an injected `<script>` does not run even if escaping were missed. Does not: templates.

use crate::db::{Account, Role};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Beijing time of Unix seconds, `2027-06-30 09:30` (the tables say 北京时间 in the header).
pub fn beijing(unix: i64) -> String {
    match crate::clock::in_beijing(unix) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        None => unix.to_string(),
    }
}

/// A whole page: `title`, the logged-in `account` (for the navigation) and the `body` HTML.
pub fn page(title: &str, account: Option<&Account>, body: &str) -> Response {
    let nav = match account {
        None => {
            r#"<a href="/">首页</a><a href="/login" data-testid="nav-login">登录</a>"#.to_string()
        }
        Some(a) => {
            let links = match a.role {
                Role::Company => {
                    r#"<a href="/">首页</a><a href="/me">我的企业</a><a href="/library">诚信库</a><a href="/bind">扫码绑定证书</a>"#
                }
                Role::Staff => {
                    r#"<a href="/">首页</a><a href="/staff">项目管理</a><a href="/staff/companies">企业诚信库</a>"#
                }
            };
            format!(
                r#"{links}<span class="who" data-testid="nav-who">{}</span><form method="post" action="/logout" class="inline"><button type="submit" data-testid="logout">退出</button></form>"#,
                esc(&a.display_name)
            )
        }
    };
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - {platform}</title>
<link rel="stylesheet" href="/assets/site.css">
<script src="/assets/app.js" defer></script>
</head>
<body>
<header><div class="bar"><a class="brand" href="/">{platform}</a><nav>{nav}</nav></div></header>
<main>
<h1>{title}</h1>
{body}
</main>
<footer>BidSeal 参考交易平台 · 电子招投标 · 手机扫码代替 CA 锁</footer>
</body>
</html>"#,
        title = esc(title),
        platform = esc(super::services::PLATFORM_NAME),
    );
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(html),
    )
        .into_response()
}

/// The stylesheet.
pub const SITE_CSS: &str = r#"
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; color: #1f2933; background: #f3f5f8; font-size: 15px; line-height: 1.6; }
header { background: #0b4f8a; color: #fff; }
header .bar { max-width: 1100px; margin: 0 auto; display: flex; align-items: center; justify-content: space-between; padding: 10px 20px; gap: 16px; flex-wrap: wrap; }
header a { color: #fff; text-decoration: none; margin-right: 16px; }
header .brand { font-size: 19px; font-weight: 600; }
header nav { display: flex; align-items: center; flex-wrap: wrap; gap: 4px; }
header .who { margin: 0 12px 0 8px; opacity: .9; }
header button { background: transparent; color: #fff; border: 1px solid #fff8; border-radius: 4px; padding: 2px 10px; cursor: pointer; font: inherit; }
main { max-width: 1100px; margin: 0 auto; padding: 12px 20px 40px; }
h1 { font-size: 22px; margin: 12px 0 16px; }
h2 { font-size: 18px; margin: 20px 0 10px; }
footer { text-align: center; color: #7b8794; font-size: 13px; padding: 20px; }
.cards { display: flex; gap: 20px; flex-wrap: wrap; align-items: stretch; }
.card { background: #fff; border-radius: 8px; box-shadow: 0 1px 3px #0002; padding: 18px 22px; flex: 1 1 320px; min-width: 300px; }
.card h2 { margin-top: 0; }
label { display: block; margin: 10px 0 4px; color: #52606d; }
input[type=text], input[type=password], input[type=file], textarea, select { width: 100%; padding: 8px 10px; border: 1px solid #cbd2d9; border-radius: 4px; font: inherit; }
button, .button { background: #0b6bcb; color: #fff; border: 0; border-radius: 4px; padding: 8px 18px; font: inherit; cursor: pointer; display: inline-block; text-decoration: none; }
button.secondary { background: #e4e7eb; color: #1f2933; }
button:disabled { background: #cbd2d9; color: #52606d; cursor: not-allowed; }
form.inline { display: inline; margin: 0; }
.qr { display: flex; flex-direction: column; align-items: center; gap: 8px; }
.qr .frame { min-width: 295px; min-height: 295px; border: 1px solid #e4e7eb; border-radius: 6px; display: flex; align-items: center; justify-content: center; background: #fff; position: relative; padding: 4px; }
.qr img { display: block; image-rendering: pixelated; }
.qr .veil { position: absolute; inset: 0; background: #fffffff0; display: none; align-items: center; justify-content: center; text-align: center; padding: 16px; font-weight: 600; }
.qr .veil.on { display: flex; }
.state { font-weight: 600; }
.state.done { color: #1a7f37; }
.state.rejected, .state.expired, .error { color: #b42318; }
.error { margin-top: 8px; white-space: pre-wrap; }
.ok { color: #1a7f37; }
.hint { color: #7b8794; font-size: 13px; }
table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 3px #0001; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 8px 10px; text-align: left; vertical-align: top; }
th { background: #f0f4f8; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 13px; word-break: break-all; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 6px 16px; margin: 0; }
dl.kv dt { color: #52606d; }
dl.kv dd { margin: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px; background: #e4e7eb; }
.badge.not_decrypted { background: #e4e7eb; }
.badge.pushed { background: #fff3c4; color: #8d6708; }
.badge.decrypted { background: #d3f9d8; color: #1a7f37; }
.badge.failed { background: #ffe3e3; color: #b42318; }
.record { background: #fff; border-radius: 6px; box-shadow: 0 1px 3px #0001; padding: 12px 16px; margin-bottom: 12px; }
.record h3 { margin: 0 0 6px; font-size: 16px; }
.actions { margin: 12px 0; display: flex; gap: 10px; flex-wrap: wrap; align-items: center; }
"#;

/// The script: scan panels (start, long poll, QR swap, refresh), password login, the hall's
/// live board, staff actions. Plain ES2017, no dependencies.
pub const APP_JS: &str = r#"
'use strict';
const STATE_ZH = { waiting: '请使用手机扫码', scanned: '已扫码，请在手机上确认', done: '已完成', rejected: '未通过', expired: '二维码已过期' };

async function getJson(url, opts) {
  const r = await fetch(url, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, opts || {}));
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  return { ok: r.ok, status: r.status, body: body };
}

function byId(id) { return document.getElementById(id); }

function scanPanel(root) {
  const kind = root.dataset.kind; // login | bind
  const img = root.querySelector('[data-testid=scan-qr]');
  const veil = root.querySelector('.veil');
  const stateEl = root.querySelector('[data-testid=scan-state]');
  const reasonEl = root.querySelector('[data-testid=scan-reason]');
  const refresh = root.querySelector('[data-testid=scan-refresh]');
  const resultEl = root.querySelector('[data-testid=scan-result]');
  let generation = 0;

  function show(state, reason) {
    stateEl.textContent = STATE_ZH[state] || state;
    stateEl.className = 'state ' + state;
    stateEl.dataset.state = state;
    reasonEl.textContent = reason || '';
    const over = state === 'expired' || state === 'rejected';
    refresh.hidden = !over;
    veil.classList.toggle('on', over || state === 'scanned');
    veil.textContent = state === 'scanned' ? '已扫码，请在手机上确认' : (state === 'expired' ? '二维码已过期' : (state === 'rejected' ? '未通过' : ''));
  }

  async function start() {
    const mine = ++generation;
    show('waiting', '');
    img.removeAttribute('src');
    const ttl = new URLSearchParams(window.location.search).get('qr_ttl');
    const r = await getJson('/web/scan/' + kind + (ttl ? '?ttl=' + encodeURIComponent(ttl) : ''), { method: 'POST' });
    if (!r.ok) { show('rejected', (r.body && r.body.message) || ('请求失败（HTTP ' + r.status + '）')); return; }
    const id = r.body.id;
    img.src = '/web/scan/' + kind + '/' + encodeURIComponent(id) + '/qr.svg';
    img.dataset.id = id;
    let known = 'waiting';
    while (mine === generation) {
      const p = await getJson('/web/scan/' + kind + '/' + encodeURIComponent(id) + '?known=' + known);
      if (mine !== generation) return;
      if (!p.ok) { show('rejected', (p.body && p.body.message) || ('请求失败（HTTP ' + p.status + '）')); return; }
      const s = p.body;
      known = s.state;
      show(s.state, s.reason || '');
      if (s.state === 'done') {
        if (kind === 'login') { window.location.assign(s.next || '/me'); return; }
        resultEl.hidden = false;
        resultEl.textContent = '绑定成功：' + s.company.name + '（统一社会信用代码 ' + s.company.uscc + '），证书持有人 ' + s.certificate.holder + '，指纹 ' + s.certificate.fingerprint.slice(0, 16) + '…';
        return;
      }
      if (s.state === 'rejected' || s.state === 'expired') return;
    }
  }
  refresh.addEventListener('click', start);
  start();
}

function passwordLogin(form) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = form.querySelector('[data-testid=login-error]');
    err.textContent = '';
    const body = JSON.stringify({ login: form.login.value.trim(), password: form.password.value });
    const r = await getJson('/api/v1/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body });
    if (r.ok) { window.location.assign(r.body.me.role === 'staff' ? '/staff' : '/me'); return; }
    err.textContent = (r.body && r.body.message) || ('登录失败（HTTP ' + r.status + '）');
  });
}

function hallBoard(root) {
  const tender = root.dataset.tender;
  let version = -1;
  async function loop() {
    for (;;) {
      const r = await getJson('/web/hall/' + encodeURIComponent(tender) + '/board?known=' + version);
      if (!r.ok) { byId('hall-error').textContent = (r.body && r.body.message) || ('HTTP ' + r.status); await new Promise(res => setTimeout(res, 3000)); continue; }
      const b = r.body;
      version = b.version;
      render(b);
      if (b.finished) return;
    }
  }
  function cell(text, cls) { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; }
  function render(b) {
    byId('hall-status').textContent = b.started_at ? (b.finished ? '开标结束' : '开标进行中') : '尚未开标';
    const rows = byId('hall-rows');
    rows.replaceChildren();
    const prices = byId('hall-prices');
    prices.replaceChildren();
    b.rows.forEach((row, i) => {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'hall-row';
      tr.appendChild(cell(String(i + 1)));
      tr.appendChild(cell(row.company.name));
      tr.appendChild(cell(row.company.uscc, 'mono'));
      const st = document.createElement('td');
      const badge = document.createElement('span');
      badge.className = 'badge ' + row.state;
      badge.dataset.testid = 'hall-state';
      badge.textContent = row.state_zh;
      st.appendChild(badge);
      tr.appendChild(st);
      tr.appendChild(cell(row.device || ''));
      tr.appendChild(cell(row.reason || '', row.reason ? 'error' : ''));
      rows.appendChild(tr);
      if (row.state === 'decrypted') {
        const pr = document.createElement('tr');
        pr.appendChild(cell(String(i + 1)));
        pr.appendChild(cell(row.company.name));
        pr.appendChild(cell(row.reading.join('；')));
        prices.appendChild(pr);
      }
    });
  }
  loop();
}

function staffPublish(form) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = form.querySelector('[data-testid=publish-result]');
    const file = form.package.files[0];
    if (!file) { out.textContent = '请选择招标文件包（.zip）'; out.className = 'error'; return; }
    const r = await getJson('/api/v1/staff/tenders', { method: 'POST', headers: { 'Content-Type': 'application/zip' }, body: file });
    if (r.ok) { window.location.assign('/staff/tenders/' + encodeURIComponent(r.body.id)); return; }
    out.className = 'error';
    out.textContent = (r.body && r.body.message) || ('发布失败（HTTP ' + r.status + '）');
  });
}

function staffRecord(form) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = form.querySelector('.result');
    let fields;
    try { fields = JSON.parse(form.fields.value); } catch (e) { out.className = 'result error'; out.textContent = '字段不是有效的 JSON：' + e.message; return; }
    const body = { version: Number(form.dataset.version), title: form.title.value, fields: fields };
    const r = await getJson('/api/v1/staff/records/' + encodeURIComponent(form.dataset.id), { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    if (r.ok) { window.location.reload(); return; }
    out.className = 'result error';
    out.textContent = (r.body && r.body.message) || ('保存失败（HTTP ' + r.status + '）');
  });
}

function staffOpen(button) {
  button.addEventListener('click', async () => {
    const out = byId('open-result');
    const r = await getJson('/web/staff/tenders/' + encodeURIComponent(button.dataset.tender) + '/opening', { method: 'POST' });
    if (r.ok) { window.location.assign('/hall/' + encodeURIComponent(button.dataset.tender)); return; }
    out.className = 'error';
    out.textContent = (r.body && r.body.message) || ('HTTP ' + r.status);
  });
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('[data-scan-panel]').forEach(scanPanel);
  document.querySelectorAll('form[data-password-login]').forEach(passwordLogin);
  document.querySelectorAll('[data-hall]').forEach(hallBoard);
  document.querySelectorAll('form[data-publish]').forEach(staffPublish);
  document.querySelectorAll('form[data-record]').forEach(staffRecord);
  document.querySelectorAll('button[data-open-tender]').forEach(staffOpen);
});
"#;

/// The scan panel's HTML: QR (shown at its own size, whole pixels per module), state, reason,
/// 刷新二维码; `kind` is `login` or `bind`. `?qr_ttl=SECS` on the page shortens the QR's
/// lifetime (5–180 s).
pub fn scan_panel(kind: &str, hint: &str) -> String {
    format!(
        r#"<div class="qr" data-scan-panel data-kind="{kind}">
<div class="frame"><img data-testid="scan-qr" alt="扫码二维码"><div class="veil"></div></div>
<div class="state" data-testid="scan-state">正在生成二维码…</div>
<div class="error" data-testid="scan-reason"></div>
<button type="button" class="secondary" data-testid="scan-refresh" hidden>刷新二维码</button>
<div class="ok" data-testid="scan-result" hidden></div>
<p class="hint">{}</p>
</div>"#,
        esc(hint)
    )
}
