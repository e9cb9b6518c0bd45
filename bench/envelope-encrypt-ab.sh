#!/usr/bin/env bash
# Repeated encrypt-only comparison on disk (issue #4 "encrypt ≥ openssl"): two bidseal
# binaries (BEFORE, AFTER) against `openssl cms -encrypt -stream -aes-256-gcm` and openssl
# followed by `sync FILE`, interleaved for ROUNDS rounds so that load from a shared machine
# hits every contender alike. Prints "NAME seconds peakKB" per run and the load average.
# Usage: BEFORE=/path/bidseal-old AFTER=/path/bidseal-new bench/envelope-encrypt-ab.sh [SIZE_MB]
#        (ROUNDS=3 by default; BENCH_DIR=/some/dir on the disk to test, default /var/tmp/…)
set -euo pipefail
size_mb=${1:-1024}
: "${BEFORE:?set BEFORE=path to the old bidseal binary}" "${AFTER:?set AFTER=path to the new one}"
work=${BENCH_DIR:-$(mktemp -d /var/tmp/bidseal-envelope-ab.XXXXXX)}
mkdir -p "$work"
cleanup() { [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
cp "$BEFORE" "$work/bidseal-before"
cp "$AFTER" "$work/bidseal-after"
cd "$work"
for i in 1 2 3; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "k$i.pem" \
    -out "c$i.pem" -subj "/CN=Bench Expert $i/O=BidSeal Bench" -days 2 \
    -addext keyUsage=critical,keyAgreement 2>/dev/null
done
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > bid.bin
r=(-recip c1.pem -keyopt ecdh_kdf_md:sha256 -recip c2.pem -keyopt ecdh_kdf_md:sha256
  -recip c3.pem -keyopt ecdh_kdf_md:sha256)
for _ in $(seq "${ROUNDS:-3}"); do
  for who in before after openssl openssl_sync; do
    rm -f out.p7m
    sync
    case $who in
      before | after)
        /usr/bin/time -f "$who %e s %M KB" "./bidseal-$who" envelope encrypt bid.bin out.p7m \
          --to c1.pem --to c2.pem --to c3.pem > /dev/null 2> time.log ;;
      openssl)
        /usr/bin/time -f "$who %e s %M KB" openssl cms -encrypt -stream -aes-256-gcm -binary \
          -outform DER -in bid.bin -out out.p7m "${r[@]}" 2> time.log ;;
      openssl_sync)
        /usr/bin/time -f "$who %e s %M KB" sh -c 'openssl cms -encrypt -stream -aes-256-gcm \
          -binary -outform DER -in bid.bin -out out.p7m "$@" && sync out.p7m' sh "${r[@]}" \
          2> time.log ;;
    esac
    tail -1 time.log
  done
  uptime
done
