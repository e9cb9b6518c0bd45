#!/usr/bin/env bash
# Runs every test of BidSeal: formatting, lints, the Rust test suites (unit, integration and
# end-to-end across real processes) and the desktop E2E test (a real window under Xvfb driven
# through WebDriver). Installs what is missing first (scripts/setup.sh, idempotent).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
. scripts/env.sh

step() { printf '\n== %s ==\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

# The desktop crate embeds ui/dist: build it before anything compiles bidseal-desktop.
step "front end: unit tests (vitest) and build (vue-tsc + vite → ui/dist)"
(cd ui && npm test --silent)
bash scripts/build-ui.sh

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests (cargo nextest)"
cargo build --locked --bins -p bidseal
cargo nextest run --workspace --locked --no-fail-fast

# The desktop E2E's hall tests need a `bidseal demo` world, which waits ~90 s for its tender's
# opening time: made once, in the background while the platform web test runs, and copied by
# each test that needs it (BIDSEAL_E2E_HALL_DEMO, tests/e2e/world.mjs HallWorld).
hall_demo=$(mktemp -d)
hall_demo_pid=
# A step that fails before the wait below must not leave the demo running.
trap '[ -n "$hall_demo_pid" ] && kill "$hall_demo_pid" 2>/dev/null; rm -rf "$hall_demo"' EXIT
"$CARGO_TARGET_DIR/debug/bidseal" demo --out "$hall_demo/demo" > "$hall_demo/demo.log" 2>&1 &
hall_demo_pid=$!

step "platform web E2E test (headless chromium + chromium-driver)"
bash tests/platform-web/run.sh

step "desktop E2E test (Xvfb + tauri-driver + WebKitWebDriver)"
cargo build --locked -p bidseal-desktop
if ! wait "$hall_demo_pid"; then
  cat "$hall_demo/demo.log" >&2
  echo "bidseal demo failed: the hall world for the desktop E2E could not be made" >&2
  exit 1
fi
hall_demo_pid=
export BIDSEAL_E2E_HALL_DEMO="$hall_demo/demo"
export BIDSEAL_APP="$CARGO_TARGET_DIR/debug/bidseal-desktop"
export BIDSEAL_E2E_OUT="$root/target/e2e"
(cd tests/e2e && xvfb-run -a -s "-screen 0 1280x1024x24" node --test --test-concurrency=1)
echo "screenshots: $BIDSEAL_E2E_OUT/*.png" >&2
