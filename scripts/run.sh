#!/usr/bin/env bash
# Builds and launches the BidSeal desktop app on its embedded defaults with a demo world ready
# (scripts/demo-world.sh: simulated phones, demo tender, a bid project). Installs what is
# missing first (scripts/setup.sh, idempotent). Without a display ($DISPLAY unset, e.g. over
# SSH), the app runs inside Xvfb and a screenshot of its window is written every 10 s to
# target/run/window.png so that you can still see it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
. scripts/env.sh
bash scripts/build-ui.sh
cargo build --locked -p bidseal-desktop -p bidseal
app="$CARGO_TARGET_DIR/debug/bidseal-desktop"
# The newcomer's demo world (made once; the app starts its co-signing service and stops it with
# its window, and its home screen says how to run the bidder flow with the simulated phone).
export BIDSEAL_BIN="$CARGO_TARGET_DIR/debug/bidseal"
export BIDSEAL_DEMO_DIR="${BIDSEAL_DEMO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/bidseal/demo}"
bash scripts/demo-world.sh "$BIDSEAL_DEMO_DIR"
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$app"
fi
echo "未检测到显示器（DISPLAY 未设置）：在 Xvfb 中运行，窗口截图写入 target/run/window.png，Ctrl+C 退出。" >&2
mkdir -p target/run
exec xvfb-run -a -s "-screen 0 1280x1024x24" bash -c '
  "$0" & app=$!
  trap "kill $app 2>/dev/null" EXIT INT TERM
  while kill -0 $app 2>/dev/null; do
    sleep 10
    import -window root target/run/window.png 2>/dev/null || true
  done
  wait $app' "$app"
