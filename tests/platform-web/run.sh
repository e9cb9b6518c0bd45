#!/usr/bin/env bash
# Platform web E2E: headless Debian chromium + chromium-driver through selenium-webdriver
# (from tests/e2e/node_modules), against `bidseal relay`, `bidseal phone serve-cosign`,
# `bidseal platform serve --demo-world` and `bidseal phone scan` on 127.0.0.1.
# Needs: scripts/setup.sh (chromium, chromium-driver, zbar-tools, npm packages of tests/e2e)
# and a built `bidseal` (cargo build --bins -p bidseal). Screenshots: target/e2e/platform/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export BIDSEAL_BIN=${BIDSEAL_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/bidseal}
export BIDSEAL_PLATFORM_E2E_OUT=${BIDSEAL_PLATFORM_E2E_OUT:-$root/target/e2e/platform}
cd "$root/tests/platform-web"
node --test --test-concurrency=1
echo "screenshots: $BIDSEAL_PLATFORM_E2E_OUT/*.png" >&2
