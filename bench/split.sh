#!/usr/bin/env bash
# Benchmark: split keys (docs/key-split.md) on loopback, release build. One joint signature,
# one seal's joint grant (item + seal-image binding), one joint ECDH, against the single-key
# path in the same run (authorise + unseal + local ECDSA, and bare local ECDSA).
#
# Usage: bench/split.sh [ROUNDS]   (default 30)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/bidseal/target}
cd "$ROOT"
cargo build --release -q -p bidseal-phone --example split_bench
"$CARGO_TARGET_DIR/release/examples/split_bench" "${1:-30}"
