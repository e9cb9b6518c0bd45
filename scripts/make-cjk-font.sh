#!/usr/bin/env bash
# Makes assets/fonts/NotoSansSC-GB2312.otf: Noto Sans CJK SC Regular (SIL OFL 1.1) cut down to
# ASCII, Latin-1 punctuation, the GB2312 repertoire (6763 hanzi + symbols) and the CJK
# punctuation/full-width forms a bid document uses. The source is Debian's fonts-noto-cjk
# collection (face 2 of NotoSansCJK-Regular.ttc is "Noto Sans CJK SC"). Needs pyftsubset from
# fonttools (installed into the tools venv by scripts/setup.sh).
#
# The output is a committed asset; rerun this script only to change the repertoire.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
TOOLS_DIR=${BIDSEAL_TOOLS_DIR:-/var/cache/bidseal}
py="$TOOLS_DIR/venv/bin/python"
src=${NOTO_CJK_TTC:-/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc}
out="$here/assets/fonts/NotoSansSC-GB2312.otf"
[ -f "$src" ] || { echo "make-cjk-font: $src missing (apt-get install fonts-noto-cjk)" >&2; exit 1; }
chars=$(mktemp)
trap 'rm -f "$chars"' EXIT
"$py" - "$chars" <<'PY'
import sys
cps = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))
cps |= set(range(0x2000, 0x2070)) | set(range(0x3000, 0x3040)) | set(range(0xFF00, 0xFFF0))
cps |= {0x2116, 0x2103, 0x00D7, 0x00F7, 0x2460, 0x2461, 0x2462, 0x2463, 0x2464, 0x25A1, 0x25A0, 0x2713, 0x2714}
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            cps.add(ord(bytes([hi, lo]).decode("gb2312")))
        except UnicodeDecodeError:
            pass
with open(sys.argv[1], "w") as f:
    f.write(",".join("U+%04X" % c for c in sorted(cps)))
PY
tmp="$out.tmp.$$"
"$TOOLS_DIR/venv/bin/pyftsubset" "$src" --font-number=2 --unicodes-file="$chars" \
  --layout-features='' --name-IDs='*' --name-languages='*' --notdef-outline \
  --output-file="$tmp"
mv -f "$tmp" "$out"
ls -l "$out" >&2
