//! The platform's pages and its scan / push / opening routes as a stranger, another company
//! or a company posing as staff would call them: the real platform (`bidseal_platform::serve`
//! with a demo world, SQLite) and a real `bidseal relay`, over HTTP. Every refusal is a 4xx
//! with a code, never a crash, and nothing of one account is visible to another.

mod scan_common;

use bidseal_platform::{serve, PlatformConfig};
use scan_common::*;
use std::process::Command;

struct Site {
    url: String,
    http: reqwest::Client,
    huaxia: String,
    jiangnan: String,
    _relay: Server,
    _dir: TempDir,
}

async fn site() -> Site {
    let dir = TempDir::new("platform-web");
    let world = dir.0.join("world");
    let out = Command::new(bin())
        .args(["phone", "init"])
        .arg(&world)
        .args(["--pin", PIN, "--kdf-iterations", "1000"])
        .env(
            bidseal_phone::provision::TEST_KEY_POOL_ENV,
            bidseal_phone::provision::test_key_pool_dir(),
        )
        .output()
        .expect("phone init");
    assert!(out.status.success());
    let relay = spawn_server(&["relay", "--listen", "127.0.0.1:0"]);
    let running = serve(PlatformConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.0.join("data"),
        relay_url: Some(relay.url.clone()),
        database_url: None,
        demo_world: Some(world.clone()),
        demo_password: "Demo@1234".into(),
        demo_bind: false,
        trusted_proxies: Vec::new(),
        test_clock: false,
    })
    .await
    .expect("platform serves");
    let url = running.url.clone();
    tokio::spawn(running.wait());
    let uscc = |id: &str| {
        bidseal_cms::cert::Certificate::from_pem(
            &std::fs::read(world.join(format!("pki/{id}.pem"))).expect("pem"),
        )
        .expect("cert")
        .credit_code()
        .expect("uscc")
    };
    Site {
        url,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        huaxia: uscc("ent-huaxia"),
        jiangnan: uscc("ent-jiangnan"),
        _relay: relay,
        _dir: dir,
    }
}

impl Site {
    async fn login(&self, login: &str) -> String {
        let r = self
            .http
            .post(format!("{}/api/v1/login", self.url))
            .json(&serde_json::json!({"login": login, "password": "Demo@1234"}))
            .send()
            .await
            .expect("login");
        assert!(r.status().is_success(), "login {login}: {}", r.status());
        let body: serde_json::Value = r.json().await.expect("json");
        body["token"].as_str().expect("token").to_string()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Cookie", format!("bidseal_session={t}"));
        }
        req.send().await.expect("GET")
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Cookie", format!("bidseal_session={t}"));
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        req.send().await.expect("POST")
    }
}

async fn code_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (status, body["code"].as_str().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_other_companies_and_hostile_input_are_refused_with_codes() {
    let s = site().await;
    let huaxia = s.login(&s.huaxia).await;
    let jiangnan = s.login(&s.jiangnan).await;
    let staff = s.login("staff").await;

    // Pages: a stranger is sent to /login; a company is not staff.
    let r = s.get("/me", None).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/login");
    let r = s.get("/staff", Some(&huaxia)).await;
    let body = r.text().await.expect("text");
    assert!(body.contains("仅供交易平台工作人员使用"), "{body}");
    let r = s.get("/me", Some(&huaxia)).await;
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");

    // Scan login API: bad purpose, unknown id, malformed JSON.
    let (st, code) = code_of(
        s.post(
            "/api/v1/scan-login",
            None,
            Some(r#"{"purpose":"sign_everything"}"#),
        )
        .await,
    )
    .await;
    assert_eq!((st, code.as_str()), (400, "PLATFORM_BAD_REQUEST"));
    let r = s.post("/api/v1/scan-login", None, Some("{not json")).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let (st, code) = code_of(s.get("/api/v1/scan-login/AAAA?wait=0", None).await).await;
    assert_eq!((st, code.as_str()), (404, "PLATFORM_SCAN_UNKNOWN"));
    let (st, _) = code_of(
        s.get("/api/v1/scan-login/AAAA?known=nonsense&wait=0", None)
            .await,
    )
    .await;
    assert_eq!(st, 400);
    let r = s
        .get(&format!("/api/v1/scan-login/{}", "x".repeat(5000)), None)
        .await;
    assert!(r.status().is_client_error());
    // A login scan starts for anyone; its poll answers within the asked wait.
    let r = s.post("/api/v1/scan-login", None, None).await;
    assert!(r.status().is_success(), "{}", r.status());
    let started: serde_json::Value = r.json().await.expect("json");
    let id = started["id"].as_str().expect("id").to_string();
    assert!(started["qr"]
        .as_str()
        .unwrap_or("")
        .starts_with("bidseal://scan?"));
    let t0 = std::time::Instant::now();
    let r = s
        .get(
            &format!("/api/v1/scan-login/{id}?known=waiting&wait=1"),
            None,
        )
        .await;
    let status: serde_json::Value = r.json().await.expect("json");
    assert_eq!(status["state"], "waiting");
    assert!(status.get("token").is_none());
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));

    // Bind: only for a logged-in company; another company cannot read or show it.
    let (st, _) = code_of(s.post("/api/v1/scan-bind", None, None).await).await;
    assert_eq!(st, 401);
    let (st, _) = code_of(s.post("/web/scan/bind", Some(&staff), None).await).await;
    assert_eq!(st, 403, "staff cannot bind a company certificate");
    let r = s.post("/web/scan/bind", Some(&huaxia), None).await;
    assert!(r.status().is_success());
    let bind: serde_json::Value = r.json().await.expect("json");
    let bind_id = bind["id"].as_str().expect("id");
    let (st, _) = code_of(
        s.get(
            &format!("/web/scan/bind/{bind_id}?known=waiting"),
            Some(&jiangnan),
        )
        .await,
    )
    .await;
    assert_eq!(st, 404, "another company's bind scan is not found");
    let r = s
        .get(&format!("/web/scan/bind/{bind_id}/qr.svg"), Some(&jiangnan))
        .await;
    assert_eq!(r.status().as_u16(), 404);
    let r = s
        .get(&format!("/web/scan/bind/{bind_id}/qr.svg"), Some(&huaxia))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    // The bind scan's id is not a login scan.
    let (st, _) = code_of(
        s.get(&format!("/web/scan/login/{bind_id}/qr.svg"), None)
            .await,
    )
    .await;
    assert_eq!(st, 404);

    // Push poll: only with a company session.
    let (st, _) = code_of(s.get("/api/v1/opening/push?wait=0", None).await).await;
    assert_eq!(st, 401);
    let r = s
        .http
        .get(format!("{}/api/v1/opening/push?wait=0", s.url))
        .bearer_auth(&staff)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 403);
    let r = s
        .http
        .get(format!("{}/api/v1/opening/push?wait=0", s.url))
        .bearer_auth(&huaxia)
        .send()
        .await
        .expect("GET");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["requests"], serde_json::json!([]));

    // Opening: staff only, and not before the opening time (the demo tender opens in 2027).
    let tenders: serde_json::Value = s
        .get("/api/v1/tenders", None)
        .await
        .json()
        .await
        .expect("json");
    let tender = tenders[0]["id"].as_str().expect("tender id").to_string();
    let (st, _) = code_of(
        s.post(
            &format!("/web/staff/tenders/{tender}/opening"),
            Some(&huaxia),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(st, 403);
    let (st, code) = code_of(
        s.post(
            &format!("/web/staff/tenders/{tender}/opening"),
            Some(&staff),
            None,
        )
        .await,
    )
    .await;
    assert_eq!((st, code.as_str()), (409, "OPEN_BEFORE_OPENING_TIME"));
    let board: serde_json::Value = s
        .get(&format!("/web/hall/{tender}/board"), None)
        .await
        .json()
        .await
        .expect("board");
    assert_eq!(board["started_at"], serde_json::Value::Null);
    let (st, _) = code_of(
        s.post(
            "/web/staff/tenders/does-not-exist/opening",
            Some(&staff),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(st, 404);

    // Logout ends the session for good.
    let r = s.post("/logout", Some(&huaxia), None).await;
    assert_eq!(r.status().as_u16(), 303);
    let r = s.get("/me", Some(&huaxia)).await;
    assert_eq!(r.status().as_u16(), 303, "the old cookie no longer logs in");
}

/// The test clock (`--test-clock`): refused on any address but loopback; on loopback it only
/// moves forward, by a bounded step; without it `POST /test/clock` does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_clock_is_loopback_only_forward_only_and_absent_by_default() {
    let dir = TempDir::new("platform-test-clock");
    let config = |listen: &str, test_clock: bool| PlatformConfig {
        listen: listen.into(),
        data_dir: dir.0.join("data"),
        relay_url: None,
        database_url: None,
        demo_world: None,
        demo_password: "Demo@1234".into(),
        demo_bind: false,
        trusted_proxies: Vec::new(),
        test_clock,
    };
    for listen in ["0.0.0.0:0", "[::]:0", "localhost:0"] {
        match serve(config(listen, true)).await {
            Err(e) => {
                assert_eq!(e.code(), "PLATFORM_LISTEN", "{listen}");
                assert!(e.to_string().contains("--test-clock"), "{e}");
            }
            Ok(_) => panic!("a test clock on {listen} must be refused"),
        }
    }
    let http = reqwest::Client::new();
    let advance = |url: &str, body: &str| {
        http.post(format!("{url}/test/clock"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
    };
    let running = serve(config("127.0.0.1:0", true)).await.expect("serves");
    let url = running.url.clone();
    let before = running.state.clock.now_unix();
    let r = advance(&url, r#"{"advance_secs":3600}"#)
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 200);
    let now = r.json::<serde_json::Value>().await.expect("json")["now"]
        .as_i64()
        .unwrap_or(0);
    assert!((3600..=3602).contains(&(now - before)), "{before} → {now}");
    for hostile in [
        r#"{"advance_secs":-3600}"#,
        r#"{"advance_secs":0}"#,
        r#"{"advance_secs":99999999999}"#,
        r#"{"advance_secs":"1"}"#,
        r#"{"advance_secs":1,"to":0}"#,
        "{not json",
    ] {
        let r = advance(&url, hostile).await.expect("POST");
        assert_eq!(r.status().as_u16() / 100, 4, "{hostile}");
    }
    assert!(
        running.state.clock.now_unix() - before < 3603,
        "nothing moved it back or on"
    );
    running.shutdown().await;

    let running = serve(config("127.0.0.1:0", false)).await.expect("serves");
    let r = advance(&running.url, r#"{"advance_secs":3600}"#)
        .await
        .expect("POST");
    assert_eq!(
        r.status().as_u16(),
        404,
        "no test clock without --test-clock"
    );
    assert!(running.state.clock.now_unix() <= bidseal_scan::unix_now() as i64 + 1);
    running.shutdown().await;
}
