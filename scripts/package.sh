#!/usr/bin/env bash
# Builds the BidSeal .deb (outside the test path): a release build of the desktop app and of the
# `bidseal` CLI (the app runs the simulated phones and the co-signing service of 平台测试 and
# 新手上路 with it), stripped. With `cargo tauri` installed it bundles with `cargo tauri build
# --bundles deb`; without it (installing tauri-cli takes ~10+ minutes of compiling) the same
# layout is assembled with dpkg-deb: /usr/bin/bidseal-desktop, /usr/bin/bidseal, the .desktop
# entry and icons; Depends from dpkg-shlibdeps plus a CJK font. Prints the .deb's path and size.
# scripts/check-deb.sh installs it as a user would and checks it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/env.sh
bash scripts/build-ui.sh
export CARGO_PROFILE_RELEASE_STRIP=true
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
arch=$(dpkg --print-architecture)
out="$root/target/package"
mkdir -p "$out"
deb="$out/bidseal_${version}_${arch}.deb"

cargo build --locked --release -p bidseal
if cargo tauri --version >/dev/null 2>&1; then
  (cd src-tauri && cargo tauri build --bundles deb)
  built=$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb | head -n1)
  cp "$built" "$deb"
  echo "package: cargo tauri built $built (the bidseal CLI is not inside it: install it next to the app)" >&2
else
  cargo build --locked --release -p bidseal-desktop
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  install -Dm755 "$CARGO_TARGET_DIR/release/bidseal-desktop" "$stage/usr/bin/bidseal-desktop"
  install -Dm755 "$CARGO_TARGET_DIR/release/bidseal" "$stage/usr/bin/bidseal"
  install -Dm644 src-tauri/icons/128x128.png "$stage/usr/share/icons/hicolor/128x128/apps/bidseal.png"
  install -Dm644 src-tauri/icons/32x32.png "$stage/usr/share/icons/hicolor/32x32/apps/bidseal.png"
  mkdir -p "$stage/usr/share/applications" "$stage/DEBIAN"
  cat > "$stage/usr/share/applications/bidseal.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=BidSeal 投标签章
Comment=手机扫码代替 CA 锁：认证、签章、加密、解密
Exec=/usr/bin/bidseal-desktop
Icon=bidseal
Categories=Office;
Terminal=false
DESKTOP
  size_kib=$(du -sk "$stage/usr" | cut -f1)
  # Depends: the shared libraries both programs link (dpkg-shlibdeps reads them from the
  # binaries: WebKitGTK 4.1, GTK 3, glib, libc…), and a CJK font — the window's text is
  # Chinese and the UI names Noto Sans CJK SC first; without any CJK font a clean system shows
  # boxes (the PDF fonts are inside the binaries).
  mkdir -p "$stage/debian"
  printf 'Source: bidseal\n\nPackage: bidseal\nArchitecture: any\n' > "$stage/debian/control"
  # (Its warning that the binaries are not under debian/PACKAGE/ concerns the package's own
  # libraries, of which there are none.)
  shlibs=$(cd "$stage" && dpkg-shlibdeps -O usr/bin/bidseal-desktop usr/bin/bidseal 2> >(grep -v 'should already be installed' >&2) | sed -n 's/^shlibs:Depends=//p')
  rm -rf "$stage/debian"
  [ -n "$shlibs" ] || { echo "package: dpkg-shlibdeps found no libraries" >&2; exit 1; }
  depends="$shlibs, fonts-noto-cjk | fonts-wqy-microhei | fonts-wqy-zenhei"
  cat > "$stage/DEBIAN/control" <<CONTROL
Package: bidseal
Version: $version
Architecture: $arch
Maintainer: BidSeal maintainers
Installed-Size: $size_kib
Depends: $depends
Section: misc
Priority: optional
Description: BidSeal 投标签章 — bid sealing and encryption authorised by phone scan
 Desktop tool for bidders in Chinese electronic tendering: every certificate
 operation is authorised by scanning a QR code with the phone instead of a USB CA key.
 Includes the bidseal command line.
CONTROL
  dpkg-deb --root-owner-group --build -Zxz "$stage" "$deb" >/dev/null
  echo "package: assembled with dpkg-deb (cargo tauri is not installed)" >&2
fi
dpkg-deb --info "$deb" >/dev/null
printf '%s\t%s bytes (%s)\n' "$deb" "$(stat -c %s "$deb")" "$(du -h "$deb" | cut -f1)"
