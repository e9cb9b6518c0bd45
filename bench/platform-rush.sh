#!/usr/bin/env bash
# Deadline rush on loopback (issue #12): N bidders upload a 20 MB bid file (our CMS envelope)
# to `bidseal platform serve` at the same moment and wait for the signed receipt; on SQLite
# (the bundled file) and on PostgreSQL (a private cluster, fsync on), release build. The disk
# write floor in the same run: N concurrent `dd bs=4M conv=fsync` copies of the same bytes.
# Prints a markdown table: throughput (MB/s of bid bytes stored) and latencies (p50/p99 of the
# receipt call, and of first byte → receipt) against the dd floor.
# Usage: bench/platform-rush.sh [N...]   (default: 8 32; SIZE_MB=20)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/bidseal/target}
size_mb=${SIZE_MB:-20}
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(8 32)
work=${BENCH_DIR:-$(mktemp -d /var/tmp/bidseal-rush.XXXXXX)}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${pgdata:-}" ] && [ -d "$pgdata" ]; then
    $pgrun "$pgbin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

cd "$here"
if [ -z "${BIDSEAL_BIN:-}" ]; then
  cargo build --release -q -p bidseal
  BIDSEAL_BIN="$CARGO_TARGET_DIR/release/bidseal"
fi
cargo bench -q -p bidseal-platform --bench deadline_rush --no-run 2>/dev/null
client=$(ls -t "$CARGO_TARGET_DIR"/release/deps/deadline_rush-* | grep -v '\.d$' | head -1)
cp "$BIDSEAL_BIN" "$work/bidseal"
bin="$work/bidseal"
cd "$work"

"$bin" phone init world --pin 123456 --kdf-iterations 1000 >/dev/null
head -c "$((size_mb * 1024 * 1024 - 4096))" /dev/urandom > bid.plain
"$bin" envelope encrypt bid.plain bid.bsbid --to world/pki/ent-huaxia.pem >/dev/null
bytes=$(stat -c %s bid.bsbid)

# A platform on BACKEND; sets $url.
start_platform() { # name [--database URL]
  local name=$1; shift
  rm -rf "data-$name"
  "$bin" platform serve --listen 127.0.0.1:0 --data "data-$name" --demo-world world "$@" \
    > "platform-$name.out" 2> "platform-$name.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    url=$(sed -n 's/^listening on //p' "platform-$name.out")
    [ -n "$url" ] && return 0
    sleep 0.2
  done
  cat "platform-$name.err" >&2; exit 1
}

rows=()
run_backend() { # name
  local name=$1
  for n in "${counts[@]}"; do
    local j
    j=$("$client" --platform "$url" --staff-password Demo@1234 --file bid.bsbid --bidders "$n")
    # dd floor: the same bytes, N concurrent copies, each fsynced.
    rm -rf dd; mkdir dd
    local t0 t1
    t0=$(date +%s.%N)
    local dds=()
    for i in $(seq 1 "$n"); do dd if=bid.bsbid of="dd/$i" bs=4M conv=fsync status=none & dds+=($!); done
    wait "${dds[@]}"
    t1=$(date +%s.%N)
    rm -rf dd
    rows+=("$(python3 - "$name" "$n" "$bytes" "$t0" "$t1" "$j" <<'PY'
import json, sys
name, n, size, t0, t1, j = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), json.loads(sys.argv[6])
dd_s = t1 - t0
dd_mb_s = n * size / 1048576 / dd_s
print(f"| {name} | {n} | {j['throughput_mb_s']:.0f} | {dd_mb_s:.0f} | {j['throughput_mb_s']/dd_mb_s:.2f} | "
      f"{j['complete_p50_ms']:.0f} / {j['complete_p99_ms']:.0f} | {j['upload_p50_ms']:.0f} / {j['upload_p99_ms']:.0f} | "
      f"{j['wall_s']:.2f} | {dd_s:.2f} |")
PY
)")
    rm -rf "data-$name/uploads"/* "data-$name/bids"/*
  done
}

start_platform sqlite
run_backend sqlite

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort | tail -1 || true)
if [ -n "$pgbin" ] && [ -x "$pgbin/initdb" ]; then
  pgrun=""
  if [ "$(id -u)" = 0 ]; then pgrun="runuser -u postgres --"; chown postgres: "$work"; fi
  pgdata="$work/pg"
  $pgrun mkdir -p "$pgdata"
  $pgrun "$pgbin/initdb" -D "$pgdata" -A trust -U postgres -E UTF8 >/dev/null
  $pgrun "$pgbin/pg_ctl" -D "$pgdata" -w -o "-k $work -p 25432 -c listen_addresses= -c max_connections=200" -l "$work/pg.log" start >/dev/null
  start_platform postgres --database "postgres://postgres@localhost/postgres?host=$work&port=25432"
  run_backend postgres
else
  echo "!!! PostgreSQL binaries missing: PostgreSQL rows NOT measured (scripts/setup.sh installs them)" >&2
fi

echo "Deadline rush, $(nproc) CPU, bid file $((bytes / 1024)) KiB, release build, $(date -u +%F)"
echo
echo "| backend | bidders | platform MB/s | dd+fsync MB/s | ratio | receipt call p50 / p99 ms | upload→receipt p50 / p99 ms | platform wall s | dd wall s |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
