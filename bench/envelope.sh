#!/usr/bin/env bash
# Benchmark of the multi-recipient bid envelope (issue #4), release build:
# a SIZE_MB (default 1024) MB bid encrypted to 3 P-256 recipients and decrypted again, ours
# (`bidseal envelope`) against `openssl cms` on the same file in the same run, and against the
# AES-256-GCM floor from `openssl speed -evp aes-256-gcm`. Wall time and peak RSS come from
# `/usr/bin/time -v`. All files are in the page cache (warm) for every contender.
#
# Goals (issue #4): encrypt ≥ openssl's speed, decrypt ≥ 1.5× openssl's, peak RSS ≤ 64 MB.
# Our outputs are fsynced before the rename (atomic, durable outputs); openssl does not
# fsync, so openssl is also timed followed by `sync FILE` ("openssl+sync").
# Usage: bench/envelope.sh [SIZE_MB]     (BENCH_DIR=/some/dir to keep the files)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
size_mb=${1:-${SIZE_MB:-1024}}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/bidseal/target}
command -v openssl >/dev/null || { echo "openssl missing (scripts/setup.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (apt-get install time)" >&2; exit 1; }

work=${BENCH_DIR:-$(mktemp -d /var/tmp/bidseal-envelope-bench.XXXXXX)}
mkdir -p "$work"
cleanup() { [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

# BIDSEAL_BIN=/path/to/release/bidseal skips the build. The binary is copied into the work
# folder so that a concurrent build in a shared target dir cannot swap it mid-run.
if [ -z "${BIDSEAL_BIN:-}" ]; then
  (cd "$here" && cargo build --release -q -p bidseal)
  BIDSEAL_BIN="$CARGO_TARGET_DIR/release/bidseal"
fi
cp "$BIDSEAL_BIN" "$work/bidseal"
bin="$work/bidseal"
cd "$work"

for i in 1 2 3; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "k$i.pem" \
    -out "c$i.pem" -subj "/CN=Bench Expert $i/O=BidSeal Bench" -days 2 \
    -addext keyUsage=critical,keyAgreement 2>/dev/null
done
echo "bench: writing ${size_mb} MB of random data" >&2
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > bid.bin

# measure NAME CMD... → appends "NAME seconds kilobytes" to results.txt
: > results.txt
measure() {
  local name=$1; shift
  sync
  /usr/bin/time -v "$@" > /dev/null 2> "time-$name.log" || { cat "time-$name.log" >&2; exit 1; }
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "time-$name.log" | awk '{print $NF}' \
    | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep "Maximum resident set size" "time-$name.log" | awk '{print $NF}')
  echo "$name $wall $rss" >> results.txt
  awk -v n="$name" -v w="$wall" -v r="$rss" \
    'BEGIN { printf "bench: %-22s %8.2f s  %8.1f MB peak RSS\n", n, w, r / 1024 }' >&2
}

recips=(-recip c1.pem -keyopt ecdh_kdf_md:sha256 -recip c2.pem -keyopt ecdh_kdf_md:sha256
  -recip c3.pem -keyopt ecdh_kdf_md:sha256)

measure ours_encrypt "$bin" envelope encrypt bid.bin ours.p7m --to c1.pem --to c2.pem --to c3.pem
measure openssl_encrypt openssl cms -encrypt -stream -aes-256-gcm -binary -outform DER \
  -in bid.bin -out openssl.p7m "${recips[@]}"
measure openssl_encrypt_sync sh -c 'openssl cms -encrypt -stream -aes-256-gcm -binary \
  -outform DER -in bid.bin -out openssl.p7m "$@" && sync openssl.p7m' sh "${recips[@]}"
measure ours_decrypt_ours "$bin" envelope decrypt ours.p7m out-ours.bin --key k2.pem --cert c2.pem
cmp -s bid.bin out-ours.bin || { echo "bench: our round trip differs" >&2; exit 1; }
rm -f out-ours.bin
measure ours_decrypt_openssl "$bin" envelope decrypt openssl.p7m out-ours2.bin --key k3.pem --cert c3.pem
cmp -s bid.bin out-ours2.bin || { echo "bench: our decryption of openssl's file differs" >&2; exit 1; }
rm -f out-ours2.bin
measure openssl_decrypt openssl cms -decrypt -inform DER -binary -in openssl.p7m \
  -recip c3.pem -inkey k3.pem -out out-openssl.bin
cmp -s bid.bin out-openssl.bin || { echo "bench: openssl's round trip differs" >&2; exit 1; }
rm -f out-openssl.bin
measure openssl_decrypt_sync sh -c 'openssl cms -decrypt -inform DER -binary -in openssl.p7m \
  -recip c3.pem -inkey k3.pem -out out-openssl.bin && sync out-openssl.bin'
rm -f out-openssl.bin
measure openssl_decrypt_ours openssl cms -decrypt -inform DER -binary -in ours.p7m \
  -recip c1.pem -inkey k1.pem -out out-openssl2.bin
cmp -s bid.bin out-openssl2.bin || { echo "bench: openssl could not open ours" >&2; exit 1; }
rm -f out-openssl2.bin

# AES-256-GCM floor: openssl speed on 16 KiB blocks, in 1000s of bytes per second.
speed_k=$(openssl speed -evp aes-256-gcm -seconds 2 -bytes 16384 2>/dev/null \
  | awk '/^[Aa][Ee][Ss]-256-[Gg][Cc][Mm]/ {print $NF}' | tr -d k)
floor=$(awk -v s="$size_mb" -v k="$speed_k" 'BEGIN { printf "%.3f", s * 1048576 / (k * 1000) }')

t() { awk -v n="$1" '$1==n {print $2}' results.txt; }
m() { awk -v n="$1" '$1==n {printf "%.1f", $3/1024}' results.txt; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cat <<REPORT
== bidseal envelope benchmark: ${size_mb} MB, 3 recipients (warm page cache) ==
AES-256-GCM floor (openssl speed, 16 KiB blocks): ${speed_k}k B/s → $(printf '%.2f' "$floor") s
encrypt: ours $(t ours_encrypt) s, $(m ours_encrypt) MB | openssl -stream $(t openssl_encrypt) s, $(m openssl_encrypt) MB | openssl+sync $(t openssl_encrypt_sync) s
         speed ours/openssl = $(ratio "$(t openssl_encrypt)" "$(t ours_encrypt)")×, ours/(openssl+sync) = $(ratio "$(t openssl_encrypt_sync)" "$(t ours_encrypt)")×, floor/ours = $(ratio "$floor" "$(t ours_encrypt)")
decrypt: ours (openssl's file) $(t ours_decrypt_openssl) s, $(m ours_decrypt_openssl) MB | openssl $(t openssl_decrypt) s, $(m openssl_decrypt) MB | openssl+sync $(t openssl_decrypt_sync) s
         speed ours/openssl = $(ratio "$(t openssl_decrypt)" "$(t ours_decrypt_openssl)")×, ours/(openssl+sync) = $(ratio "$(t openssl_decrypt_sync)" "$(t ours_decrypt_openssl)")×, floor/ours = $(ratio "$floor" "$(t ours_decrypt_openssl)")
         ours (our file) $(t ours_decrypt_ours) s, $(m ours_decrypt_ours) MB; openssl on our file $(t openssl_decrypt_ours) s, $(m openssl_decrypt_ours) MB
peak RSS ratio openssl/ours: encrypt $(ratio "$(m openssl_encrypt)" "$(m ours_encrypt)")×, decrypt $(ratio "$(m openssl_decrypt)" "$(m ours_decrypt_openssl)")×
REPORT
