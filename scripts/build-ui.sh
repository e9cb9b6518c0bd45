#!/usr/bin/env bash
# Builds the desktop front end (ui/, Vue 3 + Element Plus via Vite) into ui/dist, which the
# Tauri crate embeds (tauri.conf.json frontendDist). Run before building bidseal-desktop; a
# clean clone needs it. Installs ui/node_modules with `npm ci` if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/ui"
if [ ! -x node_modules/.bin/vite ]; then
  echo "build-ui: npm ci (ui)" >&2
  npm ci --no-audit --no-fund --silent
fi
# Quiet when it works; the type checker's and Vite's words when it does not.
if ! out=$(npm run --silent build 2>&1); then
  printf '%s\n' "$out" >&2
  echo "build-ui: the front end does not build (see above)" >&2
  exit 1
fi
echo "build-ui: ui/dist ok" >&2
