#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/Cargo.toml for SECONDS each (default 60), one after
# the other, with the checked-in seeds (fuzz/seeds/<target>) plus a working corpus outside the
# repository (fuzz/corpus/<target>, ignored by git). Prints executions and findings per target;
# exits non-zero if any target found a crash (artifacts in fuzz/artifacts/<target>).
#   fuzz/run.sh 300            # five minutes per target
#   TARGETS="pdf_verify" fuzz/run.sh 60
# Needs the nightly toolchain and cargo-fuzz: installs cargo-fuzz when missing (via
# scripts/setup.sh --fuzz, which takes minutes). Never part of the test path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-60}
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  "$here/../scripts/setup.sh" --fuzz
fi
cd "$here"
targets=${TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^bidseal-fuzz$')}
failed=0
for t in $targets; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"
  echo "fuzz: $t for ${seconds}s" >&2
  set +e
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=20 -max_len=262144 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' | tail -1 || true)
  if [ -z "$execs" ]; then
    execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  fi
  crashes=$(find "artifacts/$t" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
  echo "fuzz: $t: exit $rc, executions ${execs:-?}, findings $crashes (log $here/$log)"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then failed=1; fi
done
exit $failed
