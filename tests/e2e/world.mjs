// A test world for the desktop scan flows, made of real processes on 127.0.0.1 like
// tests/scan_common (Rust): `bidseal phone init` (keys, two test CAs, certificates), a running
// `bidseal phone serve-cosign`, a tender accepting the two CAs (`bidseal tender make`) and the
// bidder's project for the enterprise of the phone's certificate (`bidseal project new|set`).
// The phone is a `bidseal phone scan PAYLOAD` process per scan; the payload comes from the
// window's screenshot through `zbarimg`, as a phone camera would read it.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const PIN = "123456";
const REPO = path.resolve(new URL("../..", import.meta.url).pathname);

/** The `bidseal` CLI next to the app binary (same target dir). */
export function cliPath(app = process.env.BIDSEAL_APP) {
  const bin = process.env.BIDSEAL_BIN ?? path.join(path.dirname(app ?? ""), "bidseal");
  if (!fs.existsSync(bin)) throw new Error(`bidseal CLI not found at ${bin} (cargo build -p bidseal)`);
  return bin;
}

// Split keys (docs/key-split.md): every `bidseal phone init` these tests run (worlds, the
// first run's scripts/demo-world.sh) takes its key pairs from the test key pool beside the
// binaries — a real DKG once per build instead of seven per world.
if (!process.env.BIDSEAL_TEST_KEY_POOL) {
  const bin = process.env.BIDSEAL_BIN ?? path.join(path.dirname(process.env.BIDSEAL_APP ?? ""), "bidseal");
  process.env.BIDSEAL_TEST_KEY_POOL = path.join(path.dirname(bin), "test-key-pool");
}

/** Starts a server process and resolves with { child, url } (its http://127.0.0.1:PORT) once
 * printed; rejects with what it printed if it exits first or prints no URL in 60 s. */
export function spawnServer(bin, args) {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`${args.join(" ")}: no URL in 60 s: ${log}`)); }, 60000);
    const look = (chunk) => {
      log += String(chunk);
      const m = log.match(/http:\/\/127\.0\.0\.1:\d+/);
      if (m) { clearTimeout(timer); resolve({ child, url: m[0] }); }
    };
    child.stdout.on("data", look);
    child.stderr.on("data", look);
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`${args.join(" ")} exited with ${code}: ${log}`)); });
  });
}

/** Ends a spawned server and waits for it to be gone. */
async function stopServer(server) {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((r) => server.child.once("exit", r));
  server.child.kill("SIGKILL");
  await exited;
}

/** `bidseal phone scan ARGS`; `done` resolves with { code, stdout, stderr } when it exits. */
export function spawnPhone(bin, args) {
  const child = spawn(bin, ["phone", "scan", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c) => (stdout += c));
  child.stderr.on("data", (c) => (stderr += c));
  const done = new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

export class World {
  /** Builds the world in a fresh temporary folder. */
  static async create() {
    const w = new World();
    w.bin = cliPath();
    w.dir = fs.mkdtempSync(path.join(os.tmpdir(), "bidseal-e2e-"));
    w.index = path.join(w.dir, "index.sqlite");
    const run = (args) => w.cli(args);
    run(["phone", "init", w.dir, "--pin", PIN, "--kdf-iterations", "1000"]);
    w.cosign = await spawnServer(w.bin, ["phone", "serve-cosign", "--listen", "127.0.0.1:0", "--state", w.dir]);

    const key = path.join(w.dir, "platform.key");
    const cert = path.join(w.dir, "platform.crt");
    execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key], { stdio: "ignore" });
    execFileSync("openssl", ["req", "-new", "-x509", "-key", key, "-days", "30", "-sha256", "-subj", "/O=Test/CN=platform", "-out", cert], { stdio: "ignore" });
    const demo = path.join(REPO, "assets/demo-tender");
    w.platformCert = cert;
    w.tender = path.join(w.dir, "tender.zip");
    run(["tender", "make", "--spec", path.join(demo, "spec.json"), "--pdf", path.join(demo, "tender.pdf"),
      "--ca", path.join(w.dir, "pki/ca-1.pem"), "--ca", path.join(w.dir, "pki/ca-2.pem"),
      "--key", key, "--cert", cert, "--out", w.tender]);

    // The bidder is the enterprise of the phone's enterprise certificate.
    const subject = execFileSync("openssl", ["x509", "-in", path.join(w.dir, "pki/ent-huaxia.pem"), "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"]).toString();
    w.enterprise = subject.match(/(?:^|[=,])O=([^,\n]+)/)[1];
    w.creditCode = subject.match(/serialNumber=([0-9A-Z]{18})/)[1];
    w.project = path.join(w.dir, "华夏投标.bidproj");
    run(["project", "new", w.project, "--tender", w.tender, "--platform-cert", cert]);
    run(["project", "set", w.project, `bidder.name=${w.enterprise}`, `bidder.credit_code=${w.creditCode}`, "bidder.legal_representative=张伟"]);
    return w;
  }

  /** Runs `bidseal ARGS` with this world's project index; returns stdout. */
  cli(args) {
    return execFileSync(this.bin, args, { env: { ...process.env, BIDSEAL_INDEX: this.index }, stdio: ["ignore", "pipe", "pipe"] }).toString();
  }

  /** Fills the project, attaches the tender PDF to every section and composes the bid PDF;
   * with `technicalPages`, the technical section gets a PDF of that many pages instead (the
   * tender's pages repeated, by qpdf). */
  compose({ technicalPages = 0 } = {}) {
    const pdf = path.join(REPO, "assets/demo-tender/tender.pdf");
    for (const section of ["business", "technical", "qualification"]) {
      const file = section === "technical" && technicalPages > 0 ? this.longPdf(technicalPages) : pdf;
      this.cli(["project", "attach", this.project, "--section", section, file]);
    }
    this.cli(["project", "set", this.project, "price=4321000.50", "duration=300", "quality=合格", "project_manager=王芳"]);
    this.cli(["project", "compose", this.project]);
  }

  /** A PDF of `pages` pages (the demo tender's text pages over and over). */
  longPdf(pages) {
    const tender = path.join(REPO, "assets/demo-tender/tender.pdf");
    const out = path.join(this.dir, `技术文件-${pages}页.pdf`);
    const per = Number(execFileSync("qpdf", ["--show-npages", tender]).toString().trim());
    const copies = Array(Math.ceil(pages / per)).fill(tender);
    execFileSync("qpdf", ["--empty", "--pages", ...copies, "--", out]);
    execFileSync("qpdf", ["--empty", "--pages", out, `1-${pages}`, "--", `${out}.cut`]);
    fs.renameSync(`${out}.cut`, out);
    return out;
  }

  /** A phone scanning `payload`; resolves with { code, stdout, stderr } when it exits. */
  phone(payload, extra = []) {
    return spawnPhone(this.bin, [payload, "--keystore", this.dir, "--cosign", this.cosign.url, "--pin", PIN, ...extra]);
  }

  /** Stops the co-signing service and removes the folder. */
  async close() {
    await stopServer(this.cosign);
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Decodes every QR code in a PNG with zbarimg (an independent decoder); [] when none. */
export function decodeQr(png) {
  try {
    const out = execFileSync("zbarimg", ["--raw", "-q", "-Sdisable", "-Sqrcode.enable", png]).toString();
    return out.split("\n").filter(Boolean);
  } catch (e) {
    if (e.status === 4) return []; // zbarimg: no symbol found
    throw e;
  }
}

/**
 * A hall world (开标大厅): `bidseal demo --out DIR` makes the phones' world, a platform-signed
 * tender whose opening time has passed when it returns, and a bid file encrypted to three
 * certificates of the phones (投标文件.bidseal); then a `bidseal phone serve-cosign` pinned to
 * the demo platform (it reads the opening time from the tenders that platform signs).
 */
export class HallWorld {
  static async create() {
    const w = new HallWorld();
    w.bin = cliPath();
    w.dir = fs.mkdtempSync(path.join(os.tmpdir(), "bidseal-e2e-hall-"));
    w.out = path.join(w.dir, "demo");
    // BIDSEAL_E2E_HALL_DEMO: a finished `bidseal demo --out` folder to copy instead of making one
    // (the demo waits ~90 s for its opening time).
    if (process.env.BIDSEAL_E2E_HALL_DEMO) fs.cpSync(process.env.BIDSEAL_E2E_HALL_DEMO, w.out, { recursive: true });
    else execFileSync(w.bin, ["demo", "--out", w.out], { stdio: ["ignore", "ignore", "pipe"], timeout: 600000 });
    w.phones = path.join(w.out, "phones");
    w.platformCert = path.join(w.out, "platform.pem");
    w.tender = path.join(w.out, "tender.zip");
    w.bid = path.join(w.out, "bid", "投标文件.bidseal");
    w.work = path.join(w.dir, "opened");
    w.cosign = await spawnServer(w.bin, ["phone", "serve-cosign", "--listen", "127.0.0.1:0", "--state", w.phones, "--platform-cert", w.platformCert]);
    return w;
  }

  /** A phone with certificate `cert` scanning `payload`. */
  phone(payload, cert, extra = []) {
    return spawnPhone(this.bin, [payload, "--keystore", this.phones, "--cosign", this.cosign.url, "--pin", PIN,
      "--cert", cert, "--platform-cert", this.platformCert, ...extra]);
  }

  async close() {
    await stopServer(this.cosign);
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Unix seconds as the RFC 3339 UTC time `tender make` takes. */
export const rfc3339 = (unix) => new Date(unix * 1000).toISOString().replace(/\.\d+Z$/, "Z");

/**
 * A platform world (交易平台): `bidseal phone init DIR/world` (keys, test CAs, certificates and
 * the platform's key), `bidseal phone serve-cosign` pinned to that platform certificate (it
 * reads the opening time from the tenders the platform signs), optionally `bidseal relay` for
 * the platform's scans (扫码登录, 扫码绑定, 同步诚信库), and `bidseal platform serve --demo-world`
 * (its accounts: every enterprise of the world by credit code, and `staff`; password
 * Demo@1234). `api` talks to the platform directly, as its web page or a staff script would.
 */
export class PlatformWorld {
  static PASSWORD = "Demo@1234";

  /** `relay`: start a relay and give it to the platform; `demoBind`: the platform starts with
   * the world's enterprise certificates bound to their accounts (no 扫码绑定 needed);
   * `testClock`: the platform's clock can be moved forward ([`advanceClock`]). */
  static async create(prefix, { relay = false, demoBind = false, testClock = false } = {}) {
    const w = new PlatformWorld();
    w.bin = cliPath();
    w.dir = fs.mkdtempSync(path.join(os.tmpdir(), `bidseal-e2e-${prefix}-`));
    w.world = path.join(w.dir, "world");
    w.data = path.join(w.dir, "data");
    w.index = path.join(w.dir, "index.sqlite");
    w.platformCert = path.join(w.world, "pki/platform.crt");
    w.servers = [];
    try {
      w.cli(["phone", "init", w.world, "--pin", PIN, "--kdf-iterations", "1000"]);
      const start = async (args) => { const s = await spawnServer(w.bin, args); w.servers.push(s); return s.url; };
      w.cosign = await start(["phone", "serve-cosign", "--listen", "127.0.0.1:0", "--state", w.world, "--platform-cert", w.platformCert]);
      if (relay) w.relay = await start(["relay", "--listen", "127.0.0.1:0"]);
      w.platform = await start(["platform", "serve", "--listen", "127.0.0.1:0", "--data", w.data, "--demo-world", w.world,
        ...(relay ? ["--relay", w.relay] : []), ...(demoBind ? ["--demo-bind"] : []), ...(testClock ? ["--test-clock"] : [])]);
    } catch (e) {
      await w.close();
      throw e;
    }
    return w;
  }

  /** Runs `bidseal ARGS` with this world's project index; returns stdout. */
  cli(args) {
    return execFileSync(this.bin, args, { env: { ...process.env, BIDSEAL_INDEX: this.index }, stdio: ["ignore", "pipe", "pipe"] }).toString();
  }

  /** The platform's REST API: { status, data } (data parsed JSON, else the text). */
  async api(method, p, { token, json, body } = {}) {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (json) headers["content-type"] = "application/json";
    const r = await fetch(`${this.platform}/api/v1${p}`, { method, headers, body: json ? JSON.stringify(json) : body });
    const text = await r.text();
    let data;
    try { data = JSON.parse(text); } catch { data = text; }
    return { status: r.status, data };
  }

  /** Moves the platform's clock `secs` seconds forward (`platform serve --test-clock`; the
   * phones', the co-signing service's and the app's clocks do not move). */
  async advanceClock(secs) {
    const r = await fetch(`${this.platform}/test/clock`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ advance_secs: secs }) });
    if (r.status !== 200) throw new Error(`test clock: ${r.status} ${await r.text()}`);
  }

  /** A session token of `account` (a credit code, or `staff`). */
  async login(account) {
    const r = await this.api("POST", "/login", { json: { login: account, password: PlatformWorld.PASSWORD } });
    if (r.status !== 200) throw new Error(`login ${account}: ${r.status} ${JSON.stringify(r.data)}`);
    return r.data.token;
  }

  /** The enterprise of certificate `cert` (e.g. ent-huaxia): { name, uscc }. */
  company(cert) {
    const subject = execFileSync("openssl", ["x509", "-in", path.join(this.world, `pki/${cert}.pem`), "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"]).toString();
    return { name: subject.match(/(?:^|[=,])O=([^,\n]+)/)[1], uscc: subject.match(/serialNumber=([0-9A-Z]{18})/)[1] };
  }

  /** Makes a tender signed by the world's platform key whose bid deadline is `deadline` and
   * opening time `opening` (unix seconds) and publishes it as staff; returns the platform's
   * answer ({ id, … }) with `zip`, the package's path. */
  async publishTender(name, deadline, opening) {
    const zip = path.join(this.dir, `${name}.zip`);
    this.cli(["tender", "make", "--world", this.world, "--out", zip, "--deadline", rfc3339(deadline), "--opening-time", rfc3339(opening)]);
    const pub = await this.api("POST", "/staff/tenders", { token: await this.login("staff"), body: fs.readFileSync(zip) });
    if (pub.status !== 200) throw new Error(`publish ${name}: ${pub.status} ${JSON.stringify(pub.data)}`);
    return { ...pub.data, zip };
  }

  /** The phone scanning `payload` with certificate `cert` (null: the phone picks, as for
   * 标书签章 where the seal's kind decides); `extra`: --confirm, --device, …. */
  phone(payload, cert, extra = []) {
    return spawnPhone(this.bin, [payload, "--keystore", this.world, "--cosign", this.cosign, "--pin", PIN, ...(cert ? ["--cert", cert] : []), ...extra]);
  }

  /** Stops the servers and removes the folder. */
  async close() {
    for (const s of this.servers ?? []) await stopServer(s);
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
