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
npm run --silent build >/dev/null
echo "build-ui: ui/dist ok" >&2
