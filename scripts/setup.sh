#!/usr/bin/env bash
# Installs everything BidSeal needs on a fresh Debian machine, as root. Idempotent:
# each step checks whether its result is already there and skips it if so.
#   - Debian packages: Tauri 2 build deps (webkit2gtk 4.1), Xvfb + WebKitWebDriver for the
#     desktop E2E test, chromium + chromium-driver for the platform web E2E test
#     (tests/platform-web), poppler-utils/qpdf/ghostscript/zbar as independent validators,
#     PostgreSQL (the trading platform's tests start a private throw-away cluster with its
#     initdb/postgres binaries; the system cluster the package creates is not used), curl, and
#     xdotool (the desktop E2E answers the native file dialogs as a user would, by keyboard).
#   - A project venv (.venv-tools, outside the clone by default) with pyHanko + pyhanko-cli
#     and reportlab for building the validation corpus.
#   - tauri-driver (WebDriver bridge) via cargo install.
#   - optional (BIDSEAL_SETUP_MUTANTS=1): cargo-mutants, for mutation runs by hand; never
#     part of the test path.
#   - npm packages of the desktop front end (ui/) and of the E2E harness (tests/e2e).
#   - A self-signed development CA and a server certificate for 127.0.0.1/localhost in
#     $TOOLS_DIR/devca (ca.pem, server.pem, server.key.pem): TLS of the scan relay
#     (`bidseal relay --tls-cert/--tls-key`, clients `--relay-ca`/BIDSEAL_RELAY_CA) and of
#     the co-signing service in tests. Never for production.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
TOOLS_DIR=${BIDSEAL_TOOLS_DIR:-/var/cache/bidseal}
mkdir -p "$TOOLS_DIR"

# Optional: `setup.sh --fuzz` installs only cargo-fuzz (+ nightly) for fuzz/run.sh; not needed
# to build or test.
if [ "${1:-}" = "--fuzz" ]; then
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "setup: cargo install cargo-fuzz (takes minutes)" >&2
    cargo install cargo-fuzz --locked -q
  fi
  echo "setup: fuzz ok" >&2
  exit 0
fi

apt_pkgs=(build-essential pkg-config libwebkit2gtk-4.1-dev libssl-dev xvfb xauth
  webkit2gtk-driver poppler-utils qpdf ghostscript zbar-tools openssl fonts-noto-cjk
  imagemagick librsvg2-bin libreoffice-writer-nogui libnss3-tools time
  chromium chromium-driver postgresql curl xdotool)
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
if ! "$venv/bin/python" -c 'import pyhanko, pyhanko.cli, reportlab, fontTools, lxml' 2>/dev/null; then
  echo "setup: python venv with pyHanko at $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'pyhanko[image-support]' pyhanko-cli reportlab fonttools lxml
fi

if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: cargo install tauri-driver" >&2
  cargo install tauri-driver --version '^2' --locked -q
fi

if [ "${BIDSEAL_SETUP_MUTANTS:-0}" = 1 ] && ! command -v cargo-mutants >/dev/null 2>&1; then
  echo "setup: cargo install cargo-mutants (optional)" >&2
  cargo install cargo-mutants --locked -q
fi

if [ -f "$here/tests/e2e/package.json" ] && [ ! -d "$here/tests/e2e/node_modules/selenium-webdriver" ]; then
  echo "setup: npm install (tests/e2e)" >&2
  (cd "$here/tests/e2e" && npm ci --no-audit --no-fund --silent)
fi
devca="$TOOLS_DIR/devca"
if ! { [ -f "$devca/ca.pem" ] && [ -f "$devca/server.key.pem" ] && [ -f "$devca/server.pem" ] \
    && openssl verify -CAfile "$devca/ca.pem" "$devca/server.pem" >/dev/null 2>&1 \
    && openssl x509 -in "$devca/server.pem" -noout -checkend 2592000 >/dev/null 2>&1; }; then
  echo "setup: development CA and 127.0.0.1/localhost server certificate in $devca" >&2
  mkdir -p "$devca"
  tmp=$(mktemp -d)
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=BidSeal development CA" -keyout "$tmp/ca.key.pem" -out "$tmp/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout "$tmp/server.key.pem" -out "$tmp/server.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" >"$tmp/ext"
  openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key.pem" \
    -CAcreateserial -days 825 -extfile "$tmp/ext" -out "$tmp/server.pem" 2>/dev/null
  # PKCS#8 key files readable by rustls and openssl alike.
  openssl pkcs8 -topk8 -nocrypt -in "$tmp/server.key.pem" -out "$tmp/server.key.p8" 2>/dev/null
  install -m 0644 "$tmp/ca.pem" "$devca/ca.pem"
  install -m 0600 "$tmp/ca.key.pem" "$devca/ca.key.pem"
  install -m 0644 "$tmp/server.pem" "$devca/server.pem"
  install -m 0600 "$tmp/server.key.p8" "$devca/server.key.pem"
  rm -rf "$tmp"
fi
if [ -f "$here/ui/package-lock.json" ] && [ ! -x "$here/ui/node_modules/.bin/vite" ]; then
  echo "setup: npm ci (ui)" >&2
  (cd "$here/ui" && npm ci --no-audit --no-fund --silent)
fi
echo "setup: ok" >&2
