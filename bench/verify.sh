#!/usr/bin/env bash
# Benchmark: verifying a ~100 MB PDF carrying 5 seals with our verifier (release build of the
# `bidseal verify` library path) against pyHanko validating the same file (all 5 signatures,
# same trust root, difference analysis included) and against the floor (one openssl SHA-256
# of the file), all in the same run. Reports wall time, CPU and peak RSS (/usr/bin/time -v).
#
# Usage: bench/verify.sh [SIZE_MB] [SEALS]   (defaults 100, 5). Needs scripts/setup.sh tools.
set -euo pipefail
SIZE_MB=${1:-100}
SEALS=${2:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${BIDSEAL_TOOLS_DIR:-/var/cache/bidseal}
PY=$TOOLS/venv/bin/python
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/bidseal/target}
WORK=$(mktemp -d /tmp/bidseal-bench-verify.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

(cd "$ROOT" && cargo build --release -q -p bidseal-pdf --example seal_series --example verify_file)
SERIES=$CARGO_TARGET_DIR/release/examples/seal_series
VERIFY=$CARGO_TARGET_DIR/release/examples/verify_file
cd "$WORK"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
  -subj "/CN=Bench CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key
openssl req -new -key leaf.key -subj "/CN=Bench Bidder/O=Bench Co" -out leaf.csr
printf "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n" > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile leaf.ext -out leaf.pem 2>/dev/null
convert -size 240x240 xc:none -fill none -stroke 'rgb(220,0,0)' -strokewidth 10 -draw "circle 120,120 120,12" seal.png

# A ~SIZE_MB PDF made by reportlab (pages of incompressible images), then SEALS seals by us.
"$PY" - "$SIZE_MB" <<'PYEOF'
import os, sys
from reportlab.pdfgen import canvas
from reportlab.lib.utils import ImageReader
from PIL import Image
target = int(sys.argv[1]) * 1024 * 1024
c = canvas.Canvas('big.pdf')
w, h = 1000, 870
pages = max(1, int(target / (w * h * 3 * 1.25)))
for i in range(pages):
    img = Image.frombytes('RGB', (w, h), os.urandom(w * h * 3))
    c.drawImage(ImageReader(img), 36, 36, width=520, height=450)
    c.drawString(72, 800, 'Bench page %d' % (i + 1))
    c.showPage()
c.save()
PYEOF
"$SERIES" big.pdf sealed.pdf "$SEALS" leaf.key leaf.pem seal.png >/dev/null
SIZE=$(stat -c %s sealed.pdf)

cat > pyhanko_validate.py <<'PYEOF'
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.keys import load_cert_from_pemder
from pyhanko_certvalidator import ValidationContext
vc = ValidationContext(trust_roots=[load_cert_from_pemder(sys.argv[2])], allow_fetching=False)
with open(sys.argv[1], 'rb') as f:
    r = PdfFileReader(f)
    ok = [validate_pdf_signature(s, vc).bottom_line for s in r.embedded_signatures]
print(len(ok), all(ok))
sys.exit(0 if ok and all(ok) else 1)
PYEOF

measure() { # label, command... → "label wall_s max_rss_kb cpu_s" (best wall of 3 runs)
  local label=$1; shift
  local best_wall="" best_rss="" best_cpu=""
  for run in 1 2 3; do
    /usr/bin/time -v -o time.txt "$@" >out.txt 2>cmd.err || { cat out.txt cmd.err; exit 1; }
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {split($2,a,":"); if (length(a)==3) print a[1]*3600+a[2]*60+a[3]; else print a[1]*60+a[2]}' time.txt)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' time.txt)
    cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' time.txt)
    if [ -z "$best_wall" ] || awk "BEGIN{exit !($wall < $best_wall)}"; then best_wall=$wall; best_rss=$rss; best_cpu=$cpu; fi
  done
  echo "$label $best_wall $best_rss $best_cpu"
}

cat sealed.pdf >/dev/null  # warm the page cache for everyone alike
FLOOR=$(measure floor openssl dgst -sha256 sealed.pdf)
OURS=$(measure bidseal "$VERIFY" sealed.pdf ca.pem)
VALID=$("$VERIFY" sealed.pdf ca.pem | grep -c '^\[有效\]' || true)
PYH=$(measure pyhanko "$PY" pyhanko_validate.py sealed.pdf ca.pem)
PYH_OUT=$("$PY" pyhanko_validate.py sealed.pdf ca.pem)
echo "our verifier: $VALID of $SEALS signatures valid; pyHanko: $PYH_OUT (count, all valid)"
[ "$VALID" -eq "$SEALS" ] || { echo "our verifier did not validate all seals"; exit 1; }
[ "$PYH_OUT" = "$SEALS True" ] || { echo "pyHanko did not validate all seals"; exit 1; }

read -r _ fw fr fc <<<"$FLOOR"; read -r _ ow orr oc <<<"$OURS"; read -r _ pw pr pc <<<"$PYH"
echo "file: $((SIZE / 1048576)) MB ($SIZE bytes), $SEALS seals; load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf "%-34s %8s %8s %10s\n" "run" "wall_s" "cpu_s" "peakRSS_MB"
printf "%-34s %8.3f %8.3f %10.1f\n" "floor (one sha256 of the file)" "$fw" "$fc" "$(echo "$fr/1024" | bc -l)"
printf "%-34s %8.3f %8.3f %10.1f\n" "bidseal verify ($SEALS signatures)" "$ow" "$oc" "$(echo "$orr/1024" | bc -l)"
printf "%-34s %8.3f %8.3f %10.1f\n" "pyHanko validate ($SEALS signatures)" "$pw" "$pc" "$(echo "$pr/1024" | bc -l)"
printf "ratio ours/floor: wall %.2fx, cpu %.2fx\n" "$(echo "$ow/$fw" | bc -l)" "$(echo "$oc/$fc" | bc -l)"
printf "ratio pyHanko/ours: wall %.1fx, cpu %.1fx; peak RSS ours %.1f MB, pyHanko %.1f MB\n" \
  "$(echo "$pw/$ow" | bc -l)" "$(echo "$pc/$oc" | bc -l)" "$(echo "$orr/1024" | bc -l)" "$(echo "$pr/1024" | bc -l)"
