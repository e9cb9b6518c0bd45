#!/usr/bin/env bash
# A newcomer's whole bidder flow, by hand, from an empty folder, with the commands README.md and
# docs/ show: a test world (phone init), the co-signing service and the relay as background
# processes, a tender for the world's CAs (tender make --world), the project (new, attach, set,
# compose, status), the three scans (seal, generate, trial-decrypt) answered by `bidseal phone
# scan --qr-png` as a phone's camera would, the opening at the hall (open), and bad inputs with
# the exit code and message docs/cli.md promises. Every step's exit code and output is checked.
#
# Usage: BIDSEAL=path/to/bidseal bash tests/newcomer.sh   (run by tests/newcomer.rs)
# Written for the flow on main as of this commit (no extra platform flags).
set -uo pipefail

BIDSEAL=${BIDSEAL:-$(cd "$(dirname "$0")/.." && pwd)/target/debug/bidseal}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bidseal-newcomer.XXXXXX")
export BIDSEAL_INDEX="$WORK/index.sqlite"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK" || exit 3
STEP=0

fail() { echo "FAIL step $STEP: $*" >&2; exit 1; }

# expect CODE CMD... : runs bidseal CMD, stdout → out.txt, stderr → err.txt, checks the exit code.
expect() {
  local want=$1; shift
  STEP=$((STEP + 1))
  echo "== $STEP: bidseal $*" >&2
  "$BIDSEAL" "$@" >out.txt 2>err.txt
  local got=$?
  [ "$got" = "$want" ] || fail "exit $got, expected $want: bidseal $*
--- stdout
$(cat out.txt)
--- stderr
$(cat err.txt)"
}
has() { grep -qF -- "$2" "$1" || fail "$1 lacks “$2”: $(cat "$1")"; }

# scanning CODE "PHONE ARGS FOR QR 1" ["… QR 2"] -- CMD... : runs bidseal CMD in the background;
# each QR it shows (a `二维码（…）：FILE` line on stderr) is scanned by a new `bidseal phone scan
# --qr-png FILE` with the next PHONE ARGS; checks the desktop's exit code.
scanning() {
  local want=$1; shift
  local phones=()
  while [ "$1" != "--" ]; do phones+=("$1"); shift; done
  shift
  STEP=$((STEP + 1))
  echo "== $STEP: bidseal $* (${#phones[@]} scans)" >&2
  "$BIDSEAL" "$@" >out.txt 2>err.txt &
  local desktop=$! seen=0 phone_pids=()
  while kill -0 "$desktop" 2>/dev/null || [ "$seen" -lt "$(grep -c '^二维码（' err.txt)" ]; do
    local qrs
    qrs=$(grep '^二维码（' err.txt | sed 's/^二维码（[^）]*）：//')
    local n
    n=$(printf '%s\n' "$qrs" | grep -c .)
    while [ "$seen" -lt "$n" ]; do
      local png
      png=$(printf '%s\n' "$qrs" | sed -n "$((seen + 1))p")
      [ "$seen" -lt "${#phones[@]}" ] || fail "more QR codes than expected: $(cat err.txt)"
      local pin="--pin 123456"
      case "${phones[$seen]}" in *--pin*) pin="" ;; esac
      # shellcheck disable=SC2086
      "$BIDSEAL" phone scan --qr-png "$png" --keystore world --cosign "$COSIGN" $pin \
        --platform-cert world/pki/platform.crt ${phones[$seen]} >"phone-$STEP-$seen.out" 2>"phone-$STEP-$seen.err" &
      phone_pids+=($!)
      seen=$((seen + 1))
    done
    sleep 0.2
  done
  wait "$desktop"
  local got=$?
  for p in "${phone_pids[@]}"; do wait "$p"; done
  [ "$seen" = "${#phones[@]}" ] || fail "$seen QR codes shown, ${#phones[@]} expected: $(cat err.txt)"
  [ "$got" = "$want" ] || fail "exit $got, expected $want: bidseal $*
--- stdout
$(cat out.txt)
--- stderr
$(cat err.txt)
--- phones
$(cat phone-$STEP-*.err 2>/dev/null)"
}

# The line of FILE that starts with PREFIX, without it (waits up to 20 s for it to appear).
line_after() {
  for _ in $(seq 100); do
    local l
    l=$(grep -m1 "$2" "$1" 2>/dev/null) && { printf '%s\n' "${l#*$2}"; return 0; }
    sleep 0.2
  done
  fail "no “$2” in $1: $(cat "$1")"
}

# --- the world, the services ------------------------------------------------------------------
expect 0 phone init world --kdf-iterations 1000
has out.txt "测试证书已生成"
[ -f world/pki/platform.crt ] && [ -f world/pki/platform.key.pem ] || fail "no platform identity"

"$BIDSEAL" phone serve-cosign --listen 127.0.0.1:0 --state world \
  --platform-cert world/pki/platform.crt >cosign.out 2>cosign.err &
PIDS+=($!)
COSIGN=$(line_after cosign.out "listening on ")
"$BIDSEAL" relay --listen 127.0.0.1:0 >relay.out 2>relay.err &
PIDS+=($!)
RELAY=$(line_after relay.out "relay listening: ")
case "$COSIGN$RELAY" in http://127.0.0.1:*http://127.0.0.1:*) ;; *) fail "services: $COSIGN $RELAY" ;; esac

# --- the tender: opening 75 s from now, so the hall can open it at the end ---------------------
OPENING=$(date -u -d "+75 seconds" +%Y-%m-%dT%H:%M:%SZ)
expect 0 tender make --world world --out tender.zip --deadline "$OPENING" --opening-time "$OPENING"
has out.txt "测试CA 一"
has out.txt "（北京时间）"
expect 0 tender inspect tender.zip
has out.txt "开标时间：20"
has out.txt "（北京时间）"
expect 0 tender verify tender.zip --platform-cert world/pki/platform.crt
has out.txt "校验通过"
expect 1 tender verify tender.zip --platform-cert world/pki/ca-1.pem
has err.txt "[TENDER_UNTRUSTED_PLATFORM]"

# --- the project -------------------------------------------------------------------------------
expect 0 project new 我的投标.bidproj --tender tender.zip --platform-cert world/pki/platform.crt
has out.txt "待办"
P=我的投标.bidproj
expect 0 project attach "$P" --section business "$REPO/assets/demo-tender/tender.pdf"
expect 0 project attach "$P" --section technical "$REPO/assets/demo-tender/tender.pdf"
pdftoppm -r 50 -f 1 -l 1 -singlefile -png "$REPO/assets/demo-tender/tender.pdf" 营业执照 || fail "pdftoppm"
expect 0 project attach "$P" --section qualification 营业执照.png
has out.txt "扫描件"
echo "纯文本" >说明.txt
expect 3 project attach "$P" --section business 说明.txt
has err.txt "[PROJECT_ATTACHMENT_INVALID]"
SUBJECT=$(openssl x509 -in world/pki/ent-huaxia.pem -noout -subject -nameopt utf8,sep_multiline)
NAME=$(printf '%s\n' "$SUBJECT" | sed -n 's/^ *O=//p')
CODE=$(printf '%s\n' "$SUBJECT" | sed -n 's/^ *serialNumber=//p')
expect 1 project set "$P" quality=合格 price=abc
has err.txt "[PROJECT_VALUE_REFUSED]"
has err.txt "全部未写入"
expect 0 project set "$P" "bidder.name=$NAME" "bidder.credit_code=$CODE" \
  bidder.legal_representative=张伟 price=4321000.50 duration=300 quality=合格 project_manager=王芳
expect 0 project compose "$P"
has out.txt "已合成"
expect 0 project status "$P"
has out.txt "下一步：扫码签章"

# --- the scans ---------------------------------------------------------------------------------
expect 2 project seal "$P" --relay 127.0.0.1:47800
has err.txt "http://"
scanning 0 "--auto-confirm" -- project seal "$P" --relay "$RELAY"
has out.txt "已签章"
has err.txt "将在手机上依次确认"
expect 0 verify "$P/out/sealed.pdf" --trust world/pki/trust.pem

expect 3 project generate "$P" --out 没有的文件夹/投标文件.bsbid
has err.txt "[E_OUTPUT_DIR]"
scanning 0 "" "--pick-colleague colleague-wang --pick-colleague colleague-liu" -- \
  project generate "$P" --relay "$RELAY" --out 投标文件.bsbid --json
has out.txt '"bid_file": '
has out.txt '"recipients": [' 
has err.txt "须另选恰好 2 张"
expect 0 envelope inspect 投标文件.bsbid --json
has out.txt '"length": "complete"'
head -c 1000 投标文件.bsbid >截断.bsbid
expect 3 envelope inspect 截断.bsbid
has err.txt "[E_ENV_TRUNCATED]"

scanning 0 "" -- project trial-decrypt "$P" 投标文件.bsbid --relay "$RELAY" --json
has out.txt '"passed": true' 
expect 0 project status "$P" --json
has out.txt '"current": true'

# A wrong PIN on the phone: both sides exit 1.
scanning 1 "--pin 000000" -- project trial-decrypt "$P" 投标文件.bsbid --relay "$RELAY"
grep -q '"wrong_pin"' phone-$STEP-0.out || fail "phone did not report wrong_pin: $(cat phone-$STEP-0.out)"

# An edit after sealing retires the seals, loudly.
expect 0 project set "$P" price=4320000.00
has err.txt "原签章已失效"
expect 0 project status "$P"
has out.txt "下一步：合成投标文件"

# --- the opening at the hall, once the opening time is reached ---------------------------------
# A relay address without its scheme is a usage error, before any QR.
expect 2 open 投标文件.bsbid --tender tender.zip --platform-cert world/pki/platform.crt --relay 127.0.0.1:47800
has err.txt "[E_RELAY_URL]"
has err.txt "请在地址前加上 http://"
cp 投标文件.bsbid 副本.bsbid
# Nobody scans: the QR expires, the hall says to run the command again (it has no refresh
# button) and exits 4; a phone scanning that QR afterwards says why once, not twice.
expect 4 open 投标文件.bsbid --tender tender.zip --platform-cert world/pki/platform.crt \
  --relay "$RELAY" --work opened-expired --qr-ttl 1
has out.txt "请重新运行本命令"
grep -q "桌面端" out.txt && fail "desktop words at the command line: $(cat out.txt)"
EXPIRED=$(sed -n 's/^扫码内容：//p' err.txt)
STEP=$((STEP + 1))
"$BIDSEAL" phone scan "$EXPIRED" --keystore world --cosign "$COSIGN" --pin 123456 \
  --platform-cert world/pki/platform.crt >out.txt 2>err.txt
case $? in 3|4) ;; *) fail "phone scan of an expired QR: exit $?: $(cat err.txt)" ;; esac
has err.txt "[scan."
[ "$(grep -o "重新扫码" err.txt | wc -l)" -le 1 ] || fail "the phone says it twice: $(cat err.txt)"
while [ "$(date -u +%s)" -le "$(date -u -d "$OPENING" +%s)" ]; do sleep 1; done
# The same bid given three times (twice by name, once as a copy): one scan, one bid counted.
scanning 0 "" -- open 投标文件.bsbid ./投标文件.bsbid 副本.bsbid --tender tender.zip \
  --platform-cert world/pki/platform.crt --relay "$RELAY" --work opened --report-pdf 开标记录.pdf
has out.txt "开标结果（1 份投标文件）"
has err.txt "只开启、计数一次"
has out.txt "投标文件.bsbid"
# The reading (唱标) names each price-form field by its label and unit, as the form printed it.
has out.txt "投标总价 4321000.50 元"
pdftotext 开标记录.pdf 开标记录.txt || fail "pdftotext"
has 开标记录.txt "投标总价 4321000.50 元"
has 开标记录.txt "北京时间"
grep -q "price=" 开标记录.txt && fail "key=value in the PDF report: $(cat 开标记录.txt)"

echo "newcomer flow: $STEP steps passed" >&2
