#!/usr/bin/env bash
# Benchmark: sealing a ~100 MB PDF with `bidseal seal` (release build) against the physical
# floor (openssl dgst -sha256 + cp of the same file) and against pyHanko signing the same file,
# all in the same run; plus the 10th seal in a row on one working copy and growth per seal.
# Reports wall time and peak RSS (/usr/bin/time -v) and the ratios.
#
# Usage: bench/seal.sh [SIZE_MB]   (default 100). Needs scripts/setup.sh tools.
set -euo pipefail
SIZE_MB=${1:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${BIDSEAL_TOOLS_DIR:-/var/cache/bidseal}
PY=$TOOLS/venv/bin/python
PYHANKO=$TOOLS/venv/bin/pyhanko
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/bidseal/target}
WORK=$(mktemp -d /tmp/bidseal-bench-seal.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The library path that `bidseal seal` runs (WorkingCopy::create → seal → commit), built on
# its own so the benchmark does not depend on the rest of the workspace compiling.
(cd "$ROOT" && cargo build --release -q -p bidseal-pdf --example seal_series)
SERIES=$CARGO_TARGET_DIR/release/examples/seal_series
cd "$WORK"

# Test PKI and seal image (openssl, ImageMagick).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
  -subj "/CN=Bench CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key
openssl req -new -key leaf.key -subj "/CN=Bench Bidder/O=Bench Co" -out leaf.csr
printf "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n" > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile leaf.ext -out leaf.pem 2>/dev/null
convert -size 240x240 xc:none -fill none -stroke 'rgb(220,0,0)' -strokewidth 10 -draw "circle 120,120 120,12" seal.png

# A ~SIZE_MB PDF made by reportlab: pages carrying incompressible (noise) images.
"$PY" - "$SIZE_MB" <<'PYEOF'
import os, sys, io
from reportlab.pdfgen import canvas
from reportlab.lib.utils import ImageReader
from PIL import Image
target = int(sys.argv[1]) * 1024 * 1024
c = canvas.Canvas('big.pdf')
w, h = 1000, 870  # ~2.5 MB of noise per page
pages = max(1, int(target / (w * h * 3 * 1.25)))  # reportlab ASCII85-encodes images
for i in range(pages):
    img = Image.frombytes('RGB', (w, h), os.urandom(w * h * 3))
    c.drawImage(ImageReader(img), 36, 36, width=520, height=450)
    c.drawString(72, 800, 'Bench page %d' % (i + 1))
    c.showPage()
c.save()
PYEOF
SIZE=$(stat -c %s big.pdf)

measure() { # label, command... → prints "label wall_s max_rss_kb cpu_s" (best wall of 5 runs)
  local label=$1; shift
  local best_wall="" best_rss="" best_cpu=""
  for run in 1 2 3 4 5; do
    /usr/bin/time -v -o time.txt "$@" >/dev/null 2>cmd.err || { cat cmd.err; exit 1; }
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {split($2,a,":"); if (length(a)==3) print a[1]*3600+a[2]*60+a[3]; else print a[1]*60+a[2]}' time.txt)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' time.txt)
    cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' time.txt)
    if [ -z "$best_wall" ] || awk "BEGIN{exit !($wall < $best_wall)}"; then best_wall=$wall; best_rss=$rss; best_cpu=$cpu; fi
    rm -f out.pdf copy.pdf ph.pdf
  done
  echo "$label $best_wall $best_rss $best_cpu"
}

cat big.pdf >/dev/null  # warm the page cache for everyone alike
FLOOR=$(measure floor sh -c 'openssl dgst -sha256 big.pdf && cp big.pdf copy.pdf')
FLOOR_SYNC=$(measure floor_sync sh -c 'openssl dgst -sha256 big.pdf && cp big.pdf copy.pdf && sync copy.pdf')
OURS=$(measure bidseal "$SERIES" big.pdf out.pdf 1 leaf.key leaf.pem seal.png)
PYH=$(measure pyhanko "$PYHANKO" sign addsig --field 1/300,600,400,700/Sig1 pemder --key leaf.key --cert leaf.pem --no-pass big.pdf ph.pdf)


"$SERIES" big.pdf series.pdf 10 leaf.key leaf.pem seal.png > series.txt
SEAL10=$(awk '/^seal 10 / {print $4}' series.txt)
SEAL1=$(awk '/^seal 1 / {print $4}' series.txt)
GROWTH_MAX=$(awk '/^seal / {if ($6>m) m=$6} END {print m}' series.txt)
PNG=$(stat -c %s seal.png)
VALID=$(pdfsig series.pdf | grep -c "Signature is Valid" || true)
echo "pdfsig: $VALID of 10 signatures valid in the 10-seal series"
[ "$VALID" -eq 10 ] || { echo "pdfsig did not validate all seals"; exit 1; }

read -r _ fw fr fc <<<"$FLOOR"; read -r _ ow orr oc <<<"$OURS"; read -r _ pw pr pc <<<"$PYH"
read -r _ sw sr sc <<<"$FLOOR_SYNC"
echo "file: $((SIZE / 1048576)) MB ($SIZE bytes); load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf "%-34s %8s %8s %10s\n" "run" "wall_s" "cpu_s" "peakRSS_MB"
printf "%-34s %8.3f %8.3f %10.1f\n" "floor (sha256 + cp)" "$fw" "$fc" "$(echo "$fr/1024" | bc -l)"
printf "%-34s %8.3f %8.3f %10.1f\n" "durable floor (sha256 + cp + sync)" "$sw" "$sc" "$(echo "$sr/1024" | bc -l)"
printf "%-34s %8.3f %8.3f %10.1f\n" "bidseal (1 seal, fsync, rename)" "$ow" "$oc" "$(echo "$orr/1024" | bc -l)"
printf "%-34s %8.3f %8.3f %10.1f\n" "pyHanko sign addsig" "$pw" "$pc" "$(echo "$pr/1024" | bc -l)"
printf "ratio ours/floor: wall %.2fx, cpu %.2fx (goal <= 1.5x)\n" "$(echo "$ow/$fw" | bc -l)" "$(echo "$oc/$fc" | bc -l)"
printf "ratio ours/durable floor: wall %.2fx\n" "$(echo "$ow/$sw" | bc -l)"
printf "ratio pyHanko/ours: wall %.1fx, cpu %.1fx faster (goal >= 5x)\n" "$(echo "$pw/$ow" | bc -l)" "$(echo "$pc/$oc" | bc -l)"
printf "peak RSS ours: %.1f MB (goal <= 50 MB), pyHanko: %.1f MB\n" "$(echo "$orr/1024" | bc -l)" "$(echo "$pr/1024" | bc -l)"
echo "series: 1st seal ${SEAL1} ms, 10th seal in a row ${SEAL10} ms excluding signer (goal <= 100 ms)"
echo "growth per seal: max ${GROWTH_MAX} bytes, seal PNG ${PNG} bytes (goal <= PNG + 16384)"
