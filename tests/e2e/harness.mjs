// Desktop E2E harness: starts tauri-driver (which starts Debian's WebKitWebDriver), opens a
// WebDriver session on the real BidSeal app and tears everything down, SIGKILL as a fallback.
// The display comes from the caller (xvfb-run in scripts/test.sh).
import { spawn } from "node:child_process";
import net from "node:net";
import fs from "node:fs";
import path from "node:path";
import { Builder } from "selenium-webdriver";

export const APP = process.env.BIDSEAL_APP;
export const OUT_DIR = process.env.BIDSEAL_E2E_OUT ?? path.resolve("../../target/e2e");
const DRIVER_PORT = Number(process.env.BIDSEAL_DRIVER_PORT ?? 4444);
const NATIVE_PORT = DRIVER_PORT + 1;

function portOpen(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port }, () => { sock.destroy(); resolve(true); });
    sock.on("error", () => resolve(false));
  });
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
  if (!app) throw new Error("BIDSEAL_APP is not set (path to the built bidseal-desktop binary)");
  if (!fs.existsSync(app)) throw new Error(`app binary not found: ${app}`);
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
    return { session, driver, exited };
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

/** The workspace version from Cargo.toml, which the app must report. */
export function expectedVersion() {
  const toml = fs.readFileSync(new URL("../../Cargo.toml", import.meta.url), "utf8");
  const m = toml.match(/\[workspace\.package\][^[]*?version\s*=\s*"([^"]+)"/);
  if (!m) throw new Error("no [workspace.package] version in Cargo.toml");
  return m[1];
}
