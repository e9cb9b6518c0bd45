//! Deadline rush client (run by `bench/platform-rush.sh`): N bidders upload the same bid file
//! at once to a running `bidseal platform serve` and each waits for its signed receipt.
//!
//! Setup (not timed): staff registers N companies (`POST /staff/companies`), each logs in.
//! Timed: all N start together; each starts an upload, sends the chunks, completes. Printed as
//! one JSON line: wall time, throughput (MB/s of bid bytes stored), and per-bidder latencies —
//! `complete` (the receipt call: hash, envelope check, sign, commit) and `upload` (first byte
//! to receipt) at p50/p99.
//!
//! Usage: deadline_rush --platform URL --staff-password PW --file BID --bidders N [--chunk-mb 4]

use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn login(http: &reqwest::Client, api: &str, login: &str, pw: &str) -> Result<String, String> {
    let r = http
        .post(format!("{api}/login"))
        .json(&serde_json::json!({"login": login, "password": pw}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    v["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("login {login}: {v}"))
}

struct Timing {
    upload: Duration,
    complete: Duration,
}

/// What every bidder uploads, and where.
struct Rush {
    http: reqwest::Client,
    api: String,
    tender: String,
    bytes: Vec<u8>,
    sha: String,
    chunk: usize,
    start: tokio::sync::Barrier,
}

async fn one_bidder(rush: std::sync::Arc<Rush>, token: String) -> Result<Timing, String> {
    let Rush {
        http,
        api,
        tender,
        bytes,
        sha,
        chunk,
        start,
    } = rush.as_ref();
    let chunk = *chunk;
    start.wait().await;
    let t0 = Instant::now();
    let r = http
        .post(format!("{api}/tenders/{tender}/uploads"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"size": bytes.len(), "sha256": sha}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    let id = v["id"]
        .as_str()
        .ok_or_else(|| format!("start: {v}"))?
        .to_string();
    let mut offset = 0usize;
    while offset < bytes.len() {
        let end = (offset + chunk).min(bytes.len());
        let r = http
            .put(format!("{api}/uploads/{id}?offset={offset}"))
            .bearer_auth(&token)
            .body(bytes[offset..end].to_vec())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("chunk: {}", r.text().await.unwrap_or_default()));
        }
        offset = end;
    }
    let t1 = Instant::now();
    let r = http
        .post(format!("{api}/uploads/{id}/complete"))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    if v["receipt_json"].as_str().is_none() {
        return Err(format!("complete: {v}"));
    }
    Ok(Timing {
        upload: t0.elapsed(),
        complete: t1.elapsed(),
    })
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let base = arg(&args, "--platform").ok_or("--platform URL")?;
    let staff_pw = arg(&args, "--staff-password").ok_or("--staff-password")?;
    let file = arg(&args, "--file").ok_or("--file BID")?;
    let n: usize = arg(&args, "--bidders")
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let chunk = arg(&args, "--chunk-mb")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(4)
        << 20;
    let api = format!("{}/api/v1", base.trim_end_matches('/'));
    let bytes = std::sync::Arc::new(std::fs::read(&file).map_err(|e| e.to_string())?);
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes.as_slice()))
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(n)
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    let staff = login(&http, &api, "staff", &staff_pw).await?;
    let tenders: serde_json::Value = http
        .get(format!("{api}/tenders"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let tender = tenders
        .as_array()
        .and_then(|a| a.iter().find(|t| t["accepting_bids"] == true))
        .and_then(|t| t["id"].as_str())
        .ok_or("no tender accepting bids")?
        .to_string();
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() % 10_000)
        .unwrap_or(0);
    let mut tokens = Vec::new();
    for i in 0..n {
        let body = format!("9111{run:04}{i:08}");
        let uscc = bidseal_phone::uscc::UnifiedSocialCreditCode::from_body(&body)
            .map_err(|e| e.to_string())?
            .to_string();
        let r = http
            .post(format!("{api}/staff/companies"))
            .bearer_auth(&staff)
            .json(&serde_json::json!({"uscc": uscc, "name": format!("压测投标人{i}有限公司"), "password": "Bench@12345"}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() && r.status().as_u16() != 409 {
            return Err(format!("register: {}", r.text().await.unwrap_or_default()));
        }
        tokens.push(login(&http, &api, &uscc, "Bench@12345").await?);
    }
    let size = bytes.len();
    let rush = std::sync::Arc::new(Rush {
        http: http.clone(),
        api: api.clone(),
        tender,
        bytes: std::sync::Arc::try_unwrap(bytes).unwrap_or_else(|b| b.as_ref().clone()),
        sha,
        chunk,
        start: tokio::sync::Barrier::new(n + 1),
    });
    let mut tasks = Vec::new();
    for token in tokens {
        tasks.push(tokio::spawn(one_bidder(rush.clone(), token)));
    }
    rush.start.wait().await;
    let t0 = Instant::now();
    let mut uploads = Vec::new();
    let mut completes = Vec::new();
    for t in tasks {
        let timing = t.await.map_err(|e| e.to_string())??;
        uploads.push(timing.upload.as_secs_f64() * 1000.0);
        completes.push(timing.complete.as_secs_f64() * 1000.0);
    }
    let wall = t0.elapsed().as_secs_f64();
    uploads.sort_by(f64::total_cmp);
    completes.sort_by(f64::total_cmp);
    let mb = (size * n) as f64 / 1048576.0;
    println!(
        "{}",
        serde_json::json!({
            "bidders": n,
            "file_mb": size as f64 / 1048576.0,
            "wall_s": wall,
            "throughput_mb_s": mb / wall,
            "complete_p50_ms": pct(&completes, 50.0),
            "complete_p99_ms": pct(&completes, 99.0),
            "upload_p50_ms": pct(&uploads, 50.0),
            "upload_p99_ms": pct(&uploads, 99.0),
        })
    );
    Ok(())
}
