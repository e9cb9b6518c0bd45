#!/usr/bin/env bash
# Relay load benchmark on loopback: pending sessions held (RSS per session), message round
# trip in an open scan session vs a WebSocket echo of the same server, complete scans per
# second. Usage: bench/relay.sh [--pending N] [--round-trips N] [--scans N] [--concurrency N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/bidseal/target}
# Each pending session is one socket in the client and one in the relay process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cd "$here"
cargo bench -p bidseal-relay --bench relay_load --no-run 2>&1 | tail -1
exe=$(ls -t "$CARGO_TARGET_DIR"/release/deps/relay_load-* | grep -v '\.d$' | head -1)
/usr/bin/time -v "$exe" "$@" 2> >(grep -E "Maximum resident|Elapsed" >&2)
