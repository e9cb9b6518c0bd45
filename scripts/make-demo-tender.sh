#!/usr/bin/env bash
# Builds the demo tender package in assets/demo-tender/ from its sources there:
#   spec.json    what the tender asks for (sections, bid-form fields, signing nodes)
#   tender.html  the tender document, converted to tender.pdf by LibreOffice (headless)
# and writes:
#   tender.pdf          the tender document
#   platform.crt        the demo platform's certificate (pin it with --platform-cert)
#   ca-demo-1.pem, ca-demo-2.pem   two demo CA roots the tender accepts
#   demo.tender.zip     the signed tender package
# The platform key and the CA keys are generated in a temporary folder and thrown away: no
# private key is ever checked in. Rerunning makes a new platform certificate (and so a new
# package); tests that need a key make their own.
#
# Needs: openssl, libreoffice (scripts/setup.sh), and the bidseal binary (built here if
# BIDSEAL_BIN is not set).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
demo="$here/assets/demo-tender"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "${BIDSEAL_BIN:-}" ]; then
  (cd "$here" && cargo build -q -p bidseal)
  BIDSEAL_BIN="${CARGO_TARGET_DIR:-$here/target}/debug/bidseal"
fi

# Tender PDF from HTML (fonts-noto-cjk provides the CJK font LibreOffice embeds).
soffice -env:UserInstallation="file://$work/lo-profile" --headless --infilter="HTML (StarWriter)" \
  --convert-to pdf:writer_pdf_Export \
  --outdir "$work" "$demo/tender.html" >/dev/null 2>&1
cp "$work/tender.pdf" "$demo/tender.pdf"

# Platform signing key + self-signed certificate (P-256), key discarded afterwards.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/platform.key" 2>/dev/null
openssl req -new -x509 -key "$work/platform.key" -days 3650 -sha256 \
  -subj "/C=CN/O=BidSeal Demo/CN=demo-platform" -out "$demo/platform.crt" 2>/dev/null

# Two demo CA roots (stand-ins: the headless demo builds its own tender with the simulated
# phones' CA roots through the same library call).
for i in 1 2; do
  openssl req -new -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca$i.key" \
    -days 3650 -sha256 -subj "/C=CN/O=BidSeal Demo CA $i/CN=BidSeal Demo Root CA $i" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$demo/ca-demo-$i.pem" 2>/dev/null
done

"$BIDSEAL_BIN" tender make --spec "$demo/spec.json" --pdf "$demo/tender.pdf" \
  --ca "$demo/ca-demo-1.pem" --ca "$demo/ca-demo-2.pem" \
  --key "$work/platform.key" --cert "$demo/platform.crt" \
  --issued-at 2026-11-29T10:00:00+08:00 --out "$demo/demo.tender.zip"
"$BIDSEAL_BIN" tender verify "$demo/demo.tender.zip" --platform-cert "$demo/platform.crt"
