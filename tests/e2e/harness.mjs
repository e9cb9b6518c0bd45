// Desktop E2E harness: starts tauri-driver (which starts Debian's WebKitWebDriver), opens a
// WebDriver session on the real BidSeal app and tears everything down, SIGKILL as a fallback.
// The display comes from the caller (xvfb-run in scripts/test.sh).
import { spawn } from "node:child_process";
import net from "node:net";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { after, afterEach } from "node:test";
import { Builder } from "selenium-webdriver";

export const APP = process.env.BIDSEAL_APP;
export const OUT_DIR = process.env.BIDSEAL_E2E_OUT ?? path.resolve("../../target/e2e");

/** Whether nothing listens on 127.0.0.1:`port` (we could bind it). */
function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** tauri-driver's port (`BIDSEAL_DRIVER_PORT`, else the first free pair from 4444) and
 * WebKitWebDriver's (the next one). A driver of another run on the same machine would
 * otherwise answer our session ("Maximum number of active sessions"). */
async function driverPorts() {
  if (process.env.BIDSEAL_DRIVER_PORT) {
    const port = Number(process.env.BIDSEAL_DRIVER_PORT);
    return [port, port + 1];
  }
  for (let port = 4444; port < 4544; port += 2) {
    if ((await portFree(port)) && (await portFree(port + 1))) return [port, port + 1];
  }
  throw new Error("no free port pair for tauri-driver in 4444–4543");
}

function portOpen(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port }, () => { sock.destroy(); resolve(true); });
    sock.on("error", () => resolve(false));
  });
}

/** Pids of running processes whose executable is `app` (Linux /proc). */
function appPids(app) {
  const target = fs.realpathSync(app);
  const pids = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const exe = fs.readlinkSync(`/proc/${entry}/exe`);
      if (exe === target || exe === `${target} (deleted)`) pids.push(Number(entry));
    } catch { /* gone, or not ours to read */ }
  }
  return pids;
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** Ends app processes this session started that outlived the driver (an app whose window
 * closed but whose process did not exit would keep the test runner's stdout open and hang
 * CI): SIGTERM, then SIGKILL after 3 s. */
async function killLeftoverApps(app) {
  const left = appPids(app.path).filter((pid) => !app.before.has(pid));
  for (const pid of left) { try { process.kill(pid, "SIGTERM"); } catch { /* already gone */ } }
  const deadline = Date.now() + 3000;
  while (left.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of left.filter(alive)) {
    console.error(`harness: app pid ${pid} did not exit after SIGTERM: SIGKILL`);
    try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ }
  }
}

async function waitPorts(ports, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await Promise.all(ports.map(portOpen));
    if (open.every(Boolean)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`tauri-driver did not open ports ${ports.join(", ")} within ${timeoutMs} ms`);
}

/** Starts tauri-driver and a WebDriver session on the app at `app`; `env` is added to the
 * environment of the driver, which the app inherits (e.g. BIDSEAL_INDEX). */
export async function startApp(app = APP, env = {}) {
  const [DRIVER_PORT, NATIVE_PORT] = await driverPorts();
  if (!app) throw new Error("BIDSEAL_APP is not set (path to the built bidseal-desktop binary)");
  if (!fs.existsSync(app)) throw new Error(`app binary not found: ${app}`);
  const before = new Set(appPids(app));
  const driver = spawn("tauri-driver", ["--port", String(DRIVER_PORT), "--native-port", String(NATIVE_PORT)], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, ...env },
  });
  const exited = new Promise((resolve) => driver.once("exit", resolve));
  try {
    // tauri-driver listens a few ms before WebKitWebDriver does: wait for both.
    await waitPorts([DRIVER_PORT], 15000);
    const session = await new Builder()
      .usingServer(`http://127.0.0.1:${DRIVER_PORT}/`)
      .withCapabilities({ browserName: "wry", "tauri:options": { application: app } })
      .build();
    // The window is up before Vue has mounted the home screen; a test's first findElement
    // (without a wait) then found nothing (a CI flake). Wait until the app has drawn.
    await session.wait(async () => session.executeScript("return !!document.querySelector('#app [data-testid]')"), 20000);
    return { session, driver, exited, path: app, before };
  } catch (err) {
    await killDriver({ driver, exited });
    throw err;
  }
}

async function killDriver({ driver, exited }) {
  driver.kill("SIGTERM");
  const timer = setTimeout(() => driver.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

/** Ends the session and the driver. */
export async function stopApp(app) {
  if (!app) return;
  try { await app.session.quit(); } catch { /* the window may already be gone */ }
  await killDriver(app);
  await killLeftoverApps(app);
}

/** Saves a PNG screenshot of the window to OUT_DIR/name and returns its path. */
export async function screenshot(session, name) {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  // Let WebKit paint what the DOM now holds (two animation frames) before capturing.
  await session.executeAsyncScript(
    "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done()));",
  );
  const file = path.join(OUT_DIR, name);
  fs.writeFileSync(file, Buffer.from(await session.takeScreenshot(), "base64"));
  return file;
}

/** Registers the end of a test file with one window: after each test a screenshot
 * `PREFIX-end-N.png` of the window as the test left it (a failed step is then visible); after
 * all of them the app stopped, then `cleanup` (the test's world, servers). `getApp` returns the
 * app of startApp, or undefined when it never started. */
export function endHooks(prefix, getApp, cleanup = async () => undefined) {
  let ended = 0;
  afterEach(async () => {
    const app = getApp();
    if (app) await screenshot(app.session, `${prefix}-end-${++ended}.png`).catch(() => undefined);
  });
  after(async () => {
    await stopApp(getApp());
    await cleanup();
  });
}

/** The workspace version from Cargo.toml, which the app must report. */
export function expectedVersion() {
  const toml = fs.readFileSync(new URL("../../Cargo.toml", import.meta.url), "utf8");
  const m = toml.match(/\[workspace\.package\][^[]*?version\s*=\s*"([^"]+)"/);
  if (!m) throw new Error("no [workspace.package] version in Cargo.toml");
  return m[1];
}

/**
 * Decodes a PNG (8-bit RGB or RGBA, non-interlaced — what WebKit's screenshots are) into
 * `{ width, height, channels, pixels }`, with `pixels` one byte per channel, rows top to bottom.
 * Throws on anything else, so a check built on it cannot pass on a file it did not read.
 */
export function decodePng(buffer) {
  const sig = "89504e470d0a1a0a";
  if (buffer.subarray(0, 8).toString("hex") !== sig) throw new Error("not a PNG");
  let pos = 8;
  let width = 0, height = 0, channels = 0;
  const idat = [];
  while (pos < buffer.length) {
    const len = buffer.readUInt32BE(pos);
    const type = buffer.toString("ascii", pos + 4, pos + 8);
    const data = buffer.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8], colour = data[9], interlace = data[12];
      if (depth !== 8 || interlace !== 0 || (colour !== 2 && colour !== 6)) {
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`);
      }
      channels = colour === 6 ? 4 : 3;
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      break;
    }
    pos += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`bad PNG filter ${filter}`);
      pixels[y * stride + x] = v & 0xff;
    }
  }
  return { width, height, channels, pixels };
}


/** Pixels of `img` inside `rect` ({x, y, width, height} in image pixels) that are dark (text). */
export function darkPixels(img, rect) {
  let dark = 0;
  const x0 = Math.max(0, Math.floor(rect.x)), y0 = Math.max(0, Math.floor(rect.y));
  const x1 = Math.min(img.width, Math.ceil(rect.x + rect.width));
  const y1 = Math.min(img.height, Math.ceil(rect.y + rect.height));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * img.width + x) * img.channels;
      const lum = 0.299 * img.pixels[i] + 0.587 * img.pixels[i + 1] + 0.114 * img.pixels[i + 2];
      if (lum < 128) dark++;
    }
  }
  return dark;
}

/** Number of distinct colours (quantised to 4 bits per channel) in the whole image. */
export function colourCount(img) {
  const seen = new Set();
  for (let i = 0; i < img.pixels.length; i += img.channels) {
    seen.add(((img.pixels[i] >> 4) << 8) | ((img.pixels[i + 1] >> 4) << 4) | (img.pixels[i + 2] >> 4));
  }
  return seen.size;
}
