#!/usr/bin/env bash
# Installs everything BidSeal needs on a fresh Debian machine, as root. Idempotent:
# each step checks whether its result is already there and skips it if so.
#   - Debian packages: Tauri 2 build deps (webkit2gtk 4.1), Xvfb + WebKitWebDriver for the
#     desktop E2E test, poppler-utils/qpdf/ghostscript/zbar as independent validators.
#   - A project venv (.venv-tools, outside the clone by default) with pyHanko + pyhanko-cli
#     and reportlab for building the validation corpus.
#   - tauri-driver (WebDriver bridge) via cargo install.
#   - npm packages of the desktop front end (ui/) and of the E2E harness (tests/e2e).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
TOOLS_DIR=${BIDSEAL_TOOLS_DIR:-/var/cache/bidseal}
mkdir -p "$TOOLS_DIR"

apt_pkgs=(build-essential pkg-config libwebkit2gtk-4.1-dev libssl-dev xvfb xauth
  webkit2gtk-driver poppler-utils qpdf ghostscript zbar-tools openssl fonts-noto-cjk
  imagemagick librsvg2-bin libreoffice-writer-nogui libnss3-tools time)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv="$TOOLS_DIR/venv"
if ! "$venv/bin/python" -c 'import pyhanko, pyhanko.cli, reportlab, fontTools' 2>/dev/null; then
  echo "setup: python venv with pyHanko at $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'pyhanko[image-support]' pyhanko-cli reportlab fonttools
fi

if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: cargo install tauri-driver" >&2
  cargo install tauri-driver --version '^2' --locked -q
fi

if [ -f "$here/tests/e2e/package.json" ] && [ ! -d "$here/tests/e2e/node_modules/selenium-webdriver" ]; then
  echo "setup: npm install (tests/e2e)" >&2
  (cd "$here/tests/e2e" && npm ci --no-audit --no-fund --silent)
fi
if [ -f "$here/ui/package-lock.json" ] && [ ! -x "$here/ui/node_modules/.bin/vite" ]; then
  echo "setup: npm ci (ui)" >&2
  (cd "$here/ui" && npm ci --no-audit --no-fund --silent)
fi
echo "setup: ok" >&2
