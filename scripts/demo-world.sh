#!/usr/bin/env bash
# Makes the newcomer's demo world once (idempotent: what exists is kept) in $1:
#   world/        a simulated-phone world (`bidseal phone init`: test CAs, certificates, PIN 123456,
#                 the phone's keystore, the co-signing service's state, a demo platform key)
#   tender.zip    the demo tender accepting the world's CAs, signed by its platform (`tender make --world`),
#                 issued at the fixed time the reference platform uses for its demo tender, so it is the
#                 very tender `bidseal platform serve --demo-world $1/world` publishes (same manifest)
#   华夏投标.bidproj  a bid project on it for the enterprise of the phone's company certificate
# The desktop app (BIDSEAL_DEMO_DIR=$1) starts the co-signing service over world/ and stops it
# with its window; nothing here keeps running. Needs the bidseal CLI as $BIDSEAL_BIN.
set -euo pipefail
dir=$1
bin=${BIDSEAL_BIN:?BIDSEAL_BIN is the bidseal CLI}
mkdir -p "$dir"
if [ ! -f "$dir/world/pki/platform.crt" ]; then
  rm -rf "$dir/world"
  "$bin" phone init "$dir/world" --pin 123456 --kdf-iterations 20000 >/dev/null
  echo "demo-world: 模拟手机世界已生成：$dir/world" >&2
fi
if [ ! -f "$dir/tender.zip" ]; then
  "$bin" tender make --world "$dir/world" --out "$dir/tender.zip.tmp" --issued-at 2026-01-01T00:00:00Z >/dev/null
  mv "$dir/tender.zip.tmp" "$dir/tender.zip"
  echo "demo-world: 演示招标文件包：$dir/tender.zip" >&2
fi
project="$dir/华夏投标.bidproj"
if [ ! -f "$project/project.json" ]; then
  rm -rf "$project" # a half-made one from an interrupted run
  subject=$(openssl x509 -in "$dir/world/pki/ent-huaxia.pem" -noout -subject -nameopt RFC2253,-esc_msb)
  name=$(printf '%s' "$subject" | sed -n 's/.*[=,]O=\([^,]*\).*/\1/p')
  code=$(printf '%s' "$subject" | sed -n 's/.*serialNumber=\([0-9A-Z]\{18\}\).*/\1/p')
  "$bin" project new "$project" --tender "$dir/tender.zip" --platform-cert "$dir/world/pki/platform.crt" >/dev/null
  "$bin" project set "$project" "bidder.name=$name" "bidder.credit_code=$code" "bidder.legal_representative=张伟" >/dev/null
  echo "demo-world: 演示投标项目：$project（投标人 $name）" >&2
fi
