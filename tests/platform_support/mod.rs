//! Test support for the trading platform: a throw-away PostgreSQL cluster, the platform
//! process, and HTTP through `curl` (an independent client).
#![allow(dead_code)]

use super::scan_common::{bin, spawn_server, Server, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private PostgreSQL cluster (initdb into a temp dir, unix socket only), stopped and
/// removed on drop.
pub struct PgCluster {
    child: Child,
    data: PathBuf,
    pub url: String,
    // Dropped last: the cluster's files.
    dir: TempDir,
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // `runuser` forks: stop the postmaster itself (fast shutdown ends its backends), then
        // reap our child.
        if let Some(pg_ctl) = pg_bin("pg_ctl") {
            let _ = as_pg_user(&pg_ctl)
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pg_bin(name: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args` as the `postgres` user when we are root (initdb refuses root).
fn as_pg_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl PgCluster {
    /// Starts a cluster, or `None` (with a loud message) when PostgreSQL is not installed.
    pub fn start(fsync: bool) -> Option<Self> {
        let (Some(initdb), Some(postgres)) = (pg_bin("initdb"), pg_bin("postgres")) else {
            eprintln!(
                "\n!!!!!!!! SKIPPED: PostgreSQL binaries not found under /usr/lib/postgresql \
                 (scripts/setup.sh installs Debian's postgresql); the PostgreSQL half of this \
                 test did NOT run !!!!!!!!\n"
            );
            return None;
        };
        let dir = TempDir::new("pg");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir.0)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown of the cluster folder to postgres failed");
        }
        let data = dir.0.join("data");
        let out = as_pg_user(&initdb)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sock = dir.0.clone();
        let port = 20000 + (std::process::id() % 20000) as u16;
        let mut cmd = as_pg_user(&postgres);
        cmd.arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&sock)
            .args(["-p", &port.to_string(), "-c", "listen_addresses="])
            .args(["-c", "max_connections=200"]);
        if !fsync {
            cmd.args(["-c", "fsync=off", "-c", "synchronous_commit=off"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let socket = sock.join(format!(".s.PGSQL.{port}"));
        for _ in 0..200 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            socket.exists(),
            "postgres did not open {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(300));
        let url = format!(
            "postgres://postgres@localhost/postgres?host={}&port={port}",
            sock.display()
        );
        Some(PgCluster {
            child,
            data,
            url,
            dir,
        })
    }

    /// Runs SQL with psql (tests that play an intruder editing the database).
    pub fn psql(&self, sql: &str) -> String {
        let psql = pg_bin("psql")
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "psql".into());
        let out = Command::new(psql)
            .arg(&self.url)
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Starts `bidseal platform serve` on 127.0.0.1 with a demo world.
pub fn spawn_platform(data: &Path, world: &Path, database: Option<&str>) -> Server {
    spawn_platform_with(data, world, database, &[])
}

/// [`spawn_platform`] with more flags (`--test-clock`).
#[allow(dead_code)] // not every test file that shares this module uses it
pub fn spawn_platform_with(
    data: &Path,
    world: &Path,
    database: Option<&str>,
    extra: &[&str],
) -> Server {
    let data = data.to_string_lossy().to_string();
    let world = world.to_string_lossy().to_string();
    let mut args = vec![
        "platform",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data,
        "--demo-world",
        &world,
    ];
    if let Some(db) = database {
        args.push("--database");
        args.push(db);
    }
    args.extend_from_slice(extra);
    spawn_server(&args)
}

/// An HTTP answer.
pub struct Http {
    pub status: u16,
    pub body: String,
}

impl Http {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `curl -X METHOD URL` with an optional bearer token and extra arguments.
pub fn curl(method: &str, url: &str, token: Option<&str>, extra: &[&str]) -> Http {
    let mut c = Command::new("curl");
    c.args(["-s", "-S", "-X", method, "-w", "\n%{http_code}", url]);
    if let Some(t) = token {
        c.arg("-H").arg(format!("Authorization: Bearer {t}"));
    }
    c.args(extra);
    let out = c.output().expect("curl (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    Http {
        status: code.trim().parse().unwrap_or(0),
        body: body.to_string(),
    }
}

/// Password login; returns the bearer token.
pub fn login(base: &str, login: &str, password: &str) -> String {
    let body = serde_json::json!({ "login": login, "password": password }).to_string();
    let r = curl(
        "POST",
        &format!("{base}/api/v1/login"),
        None,
        &["-H", "content-type: application/json", "--data", &body],
    );
    assert_eq!(r.status, 200, "login {login}: {}", r.body);
    r.json()["token"].as_str().unwrap_or_default().to_string()
}

/// `bidseal ARGS` (index inside `home`).
pub fn bidseal(home: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env("BIDSEAL_INDEX", home.join("index.sqlite"));
    // `phone init` takes its split keys from the test key pool (docs/key-split.md).
    c.env(
        bidseal_phone::provision::TEST_KEY_POOL_ENV,
        bidseal_phone::provision::test_key_pool_dir(),
    );
    c
}
