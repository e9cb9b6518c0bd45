#!/usr/bin/env bash
# Checks the BidSeal .deb the way a user gets it (outside the test path and CI: it installs
# into this machine's system, so it needs root and apt): builds it with scripts/package.sh
# (or takes the .deb given as $1), installs it with `apt-get install ./bidseal_*.deb` (apt
# brings what its Depends name), lists its files, starts the installed
# /usr/bin/bidseal-desktop from an empty folder with none of the repo's variables (so it can
# only find what the package and its dependencies installed), drives its window under Xvfb
# through tauri-driver until the home screen is interactive, checks that the window's CJK font
# is there (document.fonts) and `bidseal --version` answers, saves a screenshot to
# target/package/installed-home.png, then `apt-get remove --purge` and checks that none of the
# package's files are left. Prints the .deb's size against the goal (< 20 MB).
#
# Note: this machine is not a clean system (WebKitGTK, fonts and the build tools are already
# installed), so `apt-get install` here cannot prove the Depends line complete on its own;
# the Depends line comes from dpkg-shlibdeps (package.sh), and this script checks that every
# shared library the running app and its WebKit processes mapped (dlopen'ed ones included)
# belongs to a package in the closure of that line as apt resolves it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out="$root/target/package"
mkdir -p "$out"
if [ $# -ge 1 ]; then
  deb=$(realpath "$1")
else
  bash scripts/package.sh
  deb=$(ls -t "$out"/bidseal_*.deb | head -n1)
fi
size=$(stat -c %s "$deb")
echo "== $deb: $size bytes ($(( size / 1024 / 1024 )) MiB; goal < 20 MB: $([ "$size" -lt 20000000 ] && echo met || echo NOT met))"
dpkg-deb --field "$deb" Depends

echo "== apt-get install $deb"
if dpkg -s bidseal >/dev/null 2>&1; then apt-get remove --purge -y bidseal >/dev/null; fi
# Whatever fails below, the package does not stay installed.
empty=$(mktemp -d)
closure=$(mktemp)
cleanup() {
  rm -rf "$empty" "$closure"
  if dpkg -s bidseal >/dev/null 2>&1; then apt-get remove --purge -y bidseal >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
apt-get install -y "$deb" >"$out/apt-install.log" 2>&1 || { cat "$out/apt-install.log"; exit 1; }
files=$(dpkg -L bidseal)
echo "$files"
for f in /usr/bin/bidseal-desktop /usr/bin/bidseal /usr/share/applications/bidseal.desktop; do
  [ -e "$f" ] || { echo "missing after install: $f" >&2; exit 1; }
done
desktop-file-validate /usr/share/applications/bidseal.desktop 2>/dev/null || true

echo "== libraries the installed binaries load, and their packages"
missing=0
for bin in /usr/bin/bidseal-desktop /usr/bin/bidseal; do
  while read -r lib; do
    owner=$(dpkg -S "$(realpath "$lib")" 2>/dev/null | head -n1 | cut -d: -f1 || true)
    [ -n "$owner" ] || owner=$(dpkg -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1 || true)
    printf '  %s\t%s\n' "$lib" "${owner:-?}"
  done < <(ldd "$bin" | awk '/=> \//{print $3}')
  if ldd "$bin" | grep -q "not found"; then ldd "$bin" | grep "not found" >&2; missing=1; fi
done > "$out/installed-libs.txt"
[ "$missing" -eq 0 ] || { echo "a library is not found" >&2; exit 1; }
echo "  $(cut -f2 "$out/installed-libs.txt" | sort -u | tr '\n' ' ')"

echo "== the installed app's window (Xvfb, tauri-driver), from an empty folder"
(cd "$empty" && env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$empty" \
  /usr/bin/bidseal --version)
# The driver script lives in tests/e2e (selenium-webdriver is installed there); the app is the
# installed one, its environment has no BIDSEAL_* variable and its working folder is empty.
(cd tests/e2e && env -u BIDSEAL_BIN -u BIDSEAL_DEMO_DIR -u BIDSEAL_PLATFORM_URL -u BIDSEAL_INDEX \
  HOME="$empty" BIDSEAL_E2E_OUT="$out" CHECK_DEB_CWD="$empty" \
  xvfb-run -a -s "-screen 0 1280x1024x24" node installed.check.mjs /usr/bin/bidseal-desktop)

echo "== every library and font the running app mapped comes from a package that Depends brings"
# The closure of the Depends line (alternatives included) as apt resolves it from this
# machine's package lists, against the owner of each mapped library (ldd's and dlopen's).
deps=$(dpkg-deb --field "$deb" Depends | sed 's/([^)]*)//g; s/|/,/g' | tr ',' '\n' | tr -d ' ' | grep -v '^$')
# shellcheck disable=SC2086
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $deps 2>/dev/null | grep -v '^ ' | sed 's/:[a-z0-9]*$//' | sort -u > "$closure"
outside=0
while read -r lib; do
  owner=$(dpkg -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1 || true)
  [ -n "$owner" ] || owner=$(dpkg -S "$(realpath "$lib")" 2>/dev/null | head -n1 | cut -d: -f1 || true)
  # Merged /usr: dpkg may know the file under /lib.
  [ -n "$owner" ] || owner=$(dpkg -S "${lib#/usr}" 2>/dev/null | head -n1 | cut -d: -f1 || true)
  if [ -z "$owner" ]; then echo "  $lib: no package owns it" >&2; outside=1; continue; fi
  grep -qx "$owner" "$closure" || { echo "  $lib ($owner) is not brought by Depends" >&2; outside=1; }
done < "$out/installed-maps.txt"
[ "$outside" -eq 0 ] || exit 1
echo "  $(wc -l < "$out/installed-maps.txt") mapped libraries and fonts, all from the $(wc -l < "$closure") packages Depends brings"

echo "== apt-get remove --purge bidseal"
apt-get remove --purge -y bidseal >"$out/apt-remove.log" 2>&1 || { cat "$out/apt-remove.log"; exit 1; }
left=0
while read -r f; do
  [ -n "$f" ] || continue
  # Folders shared with other packages (/usr, /usr/bin, …) stay; the package's files must go.
  if [ -e "$f" ] && [ ! -d "$f" ]; then echo "left after remove: $f" >&2; left=1; fi
done <<<"$files"
if dpkg -s bidseal >/dev/null 2>&1; then echo "dpkg still knows bidseal" >&2; left=1; fi
[ "$left" -eq 0 ] || exit 1
echo "removed: none of the package's files left"
echo "check-deb: ok ($deb, $size bytes)"
