//! `docs/platform-api.yaml` against the code and the running server: every route the API
//! router declares is documented with its methods and every documented operation is routed
//! (except those marked `x-served-by: web`, which the web module serves); documented
//! operations without `security: []` answer 401 without a token; the answers of the GET
//! operations (and login, and an error) match their documented schemas (required fields,
//! types, nullability, `$ref`s).

mod platform_support;
mod scan_common;

use platform_support::*;
use scan_common::TempDir;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The spec as JSON (PyYAML from the tools venv, which pyHanko already needs).
fn spec() -> Value {
    let tools = std::env::var("BIDSEAL_TOOLS_DIR").unwrap_or_else(|_| "/var/cache/bidseal".into());
    let out = Command::new(Path::new(&tools).join("venv/bin/python3"))
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(repo().join("docs/platform-api.yaml"))
        .output()
        .expect("python3 with PyYAML (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("spec JSON")
}

/// (path, method) of every `.route(...)` in the API router source.
fn routed() -> BTreeSet<(String, String)> {
    let src =
        std::fs::read_to_string(repo().join("crates/platform/src/api/mod.rs")).expect("api/mod.rs");
    let mut out = BTreeSet::new();
    let mut rest = src.as_str();
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let mut depth = 1;
        let mut end = 0;
        for (j, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &rest[..end];
        let path = call
            .split('"')
            .nth(1)
            .expect("route path literal")
            .to_string();
        for m in ["get", "post", "put", "delete", "patch"] {
            if call.contains(&format!("{m}(")) {
                out.insert((path.clone(), m.to_string()));
            }
        }
    }
    assert!(out.len() > 10, "routes parsed: {out:?}");
    out
}

fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut cur = spec;
            for part in r.trim_start_matches("#/").split('/') {
                cur = &cur[part];
            }
            resolve(spec, cur)
        }
        None => v,
    }
}

/// Checks `value` against `schema`; pushes every mismatch into `errs`.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str, errs: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if value.is_null() {
        if schema["nullable"] != true {
            errs.push(format!("{at}: null but not nullable"));
        }
        return;
    }
    match schema["type"].as_str() {
        Some("object") | None if schema.get("properties").is_some() => {
            let Some(obj) = value.as_object() else {
                errs.push(format!("{at}: expected object, got {value}"));
                return;
            };
            for req in schema["required"].as_array().into_iter().flatten() {
                let k = req.as_str().unwrap_or_default();
                if !obj.contains_key(k) {
                    errs.push(format!("{at}: required field {k} missing"));
                }
            }
            if let Some(props) = schema["properties"].as_object() {
                for (k, v) in obj {
                    match props.get(k) {
                        Some(p) => check(spec, p, v, &format!("{at}.{k}"), errs),
                        None => errs.push(format!("{at}: field {k} not documented")),
                    }
                }
            }
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(spec, &schema["items"], item, &format!("{at}[{i}]"), errs);
                }
            }
            None => errs.push(format!("{at}: expected array")),
        },
        Some("string") if !value.is_string() => errs.push(format!("{at}: expected string")),
        Some("integer") if !value.is_i64() => errs.push(format!("{at}: expected integer")),
        Some("boolean") if !value.is_boolean() => errs.push(format!("{at}: expected boolean")),
        _ => {}
    }
    if let (Some(allowed), Some(s)) = (schema["enum"].as_array(), value.as_str()) {
        if !allowed.iter().any(|a| a == s) {
            errs.push(format!("{at}: {s} not in enum {allowed:?}"));
        }
    }
}

fn response_schema<'a>(spec: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let resp = &spec["paths"][path][method]["responses"][status.to_string()];
    assert!(
        !resp.is_null(),
        "{method} {path}: status {status} not documented"
    );
    let resp = resolve(spec, resp);
    &resp["content"]["application/json"]["schema"]
}

#[test]
fn the_documented_api_is_the_served_api() {
    let spec = spec();
    let mut documented = BTreeSet::new();
    let mut web_served = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if op["x-served-by"] == "web" {
                web_served.insert((path.clone(), method.clone()));
            } else {
                documented.insert((path.clone(), method.clone()));
            }
        }
    }
    let routed = routed();
    let undocumented: Vec<_> = routed
        .difference(&documented)
        .filter(|r| !web_served.contains(*r))
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/platform-api.yaml: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );

    // The running server.
    let home = TempDir::new("openapi");
    let world = home.0.join("world");
    let out = bidseal(&home.0)
        .args(["phone", "init"])
        .arg(&world)
        .args(["--pin", "123456", "--kdf-iterations", "1000"])
        .output()
        .expect("phone init");
    assert!(out.status.success());
    let server = spawn_platform(&home.0.join("data"), &world, None);
    let api = format!("{}/api/v1", server.url);

    // Without a token: 401 for every protected operation, never the router's fallback.
    for (path, method) in &documented {
        let op = &spec["paths"][path][method];
        let url = format!(
            "{api}{}",
            path.replace("{id}", "X")
                .replace("{uscc}", "X")
                .replace("{bid}", "X")
        );
        let url = if path == "/uploads/{id}" && method == "put" {
            format!("{url}?offset=0")
        } else {
            url
        };
        let r = curl(&method.to_uppercase(), &url, None, &[]);
        let public = op["security"].as_array().is_some_and(|a| a.is_empty());
        if !public {
            assert_eq!(r.status, 401, "{method} {path} without a token: {}", r.body);
            let mut errs = Vec::new();
            check(
                &spec,
                &spec["components"]["schemas"]["Error"],
                &r.json(),
                "error",
                &mut errs,
            );
            assert!(errs.is_empty(), "{errs:?}");
        } else {
            assert_ne!(r.status, 405, "{method} {path}");
            assert!(
                !r.body.contains("接口不存在"),
                "{method} {path} not routed: {}",
                r.body
            );
        }
    }

    // Answers match their schemas.
    let staff = login(&server.url, "staff", "Demo@1234");
    let companies = curl("GET", &format!("{api}/staff/companies"), Some(&staff), &[]).json();
    let uscc = companies[0]["uscc"]
        .as_str()
        .expect("a company")
        .to_string();
    let company = login(&server.url, &uscc, "Demo@1234");
    let tenders = curl("GET", &format!("{api}/tenders"), None, &[]).json();
    let tender = tenders[0]["id"].as_str().expect("demo tender").to_string();
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("/platform", format!("{api}/platform"), None),
        ("/tenders", format!("{api}/tenders"), None),
        ("/tenders/{id}", format!("{api}/tenders/{tender}"), None),
        ("/me", format!("{api}/me"), Some(company.as_str())),
        ("/records", format!("{api}/records"), Some(company.as_str())),
        (
            "/staff/companies",
            format!("{api}/staff/companies"),
            Some(staff.as_str()),
        ),
        (
            "/staff/companies/{uscc}/records",
            format!("{api}/staff/companies/{uscc}/records"),
            Some(staff.as_str()),
        ),
        (
            "/staff/tenders/{id}/bids",
            format!("{api}/staff/tenders/{tender}/bids"),
            Some(staff.as_str()),
        ),
    ];
    let mut errs = Vec::new();
    let mut seen = BTreeMap::new();
    for (path, url, token) in cases {
        let r = curl("GET", &url, token, &[]);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        check(
            &spec,
            response_schema(&spec, path, "get", 200),
            &r.json(),
            path,
            &mut errs,
        );
        seen.insert(path, r.json());
    }
    assert!(seen["/records"]["records"]
        .as_array()
        .is_some_and(|a| a.len() == 7));
    let body = serde_json::json!({"login": uscc, "password": "Demo@1234"}).to_string();
    let r = curl(
        "POST",
        &format!("{api}/login"),
        None,
        &["-H", "content-type: application/json", "--data", &body],
    );
    check(
        &spec,
        response_schema(&spec, "/login", "post", 200),
        &r.json(),
        "/login",
        &mut errs,
    );
    let r = curl("GET", &format!("{api}/tenders/nope"), None, &[]);
    assert_eq!(r.status, 404);
    check(
        &spec,
        response_schema(&spec, "/tenders/{id}", "get", 404),
        &r.json(),
        "404",
        &mut errs,
    );
    assert!(
        errs.is_empty(),
        "answers differ from docs/platform-api.yaml: {errs:#?}"
    );

    // The checker itself says no to an answer that differs.
    let mut bad = seen["/tenders/{id}"].clone();
    bad.as_object_mut().map(|o| o.remove("bid_deadline"));
    bad["surprise"] = Value::from(1);
    let mut errs = Vec::new();
    check(
        &spec,
        response_schema(&spec, "/tenders/{id}", "get", 200),
        &bad,
        "t",
        &mut errs,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
}

/// The phone's answers the platform documents (`PhoneHello`, `DecryptAnswer`) are the shape
/// the code enforces (`bidseal_scan::answer`): the same limits, and an answer of that shape
/// matches the documented schema field for field (no field the schema does not list).
#[test]
fn the_documented_phone_answers_are_the_enforced_ones() {
    use bidseal_scan::answer::{KEK_BYTES, MAX_CERTIFICATE_BYTES, MAX_NAME_CHARS};
    use bidseal_scan::{Bytes, DecryptResponse, OperationResponse, PhoneHello, SharedSecretBytes};
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    let b64_len = |bytes: usize| (bytes * 4).div_ceil(3) as u64;
    let hello = &schemas["PhoneHello"];
    let answer = &schemas["DecryptAnswer"];
    for field in ["device", "app"] {
        assert_eq!(
            hello["properties"][field]["maxLength"], MAX_NAME_CHARS as u64,
            "{field}"
        );
    }
    assert_eq!(
        answer["properties"]["certificate"]["maxLength"],
        b64_len(MAX_CERTIFICATE_BYTES)
    );
    for bound in ["minLength", "maxLength"] {
        assert_eq!(
            answer["properties"]["key_encryption_key"][bound],
            b64_len(KEK_BYTES),
            "{bound}"
        );
    }
    assert_eq!(hello["additionalProperties"], false);
    assert_eq!(answer["additionalProperties"], false);

    let mut errs = Vec::new();
    let value = serde_json::to_value(PhoneHello {
        device: "华夏投标专员的手机".into(),
        app: "BidSeal 手机模拟器 0.1.0".into(),
    })
    .expect("json");
    check(&spec, hello, &value, "hello", &mut errs);
    let value = serde_json::to_value(OperationResponse::Decrypt(DecryptResponse {
        certificate: Bytes(vec![0x30; 300]),
        recipient: 0,
        key_encryption_key: SharedSecretBytes(Bytes(vec![7; KEK_BYTES])),
    }))
    .expect("json");
    check(&spec, answer, &value, "answer", &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        value["key_encryption_key"].as_str().map(str::len),
        Some(b64_len(KEK_BYTES) as usize)
    );
}
