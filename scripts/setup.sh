#!/usr/bin/env bash
# Installs what dsdnet needs on Debian/Ubuntu and builds it: libtorch (Debian's libtorch-dev unless LIBTORCH points
# at another libtorch), the npm dependencies, the native addon and the TypeScript. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# libtorch (unless LIBTORCH points at another one), a font for the text in PNG charts, chromium and GDAL.
packages=()
if [ -z "${LIBTORCH:-}" ] && ! dpkg -s libtorch-dev >/dev/null 2>&1; then packages+=(libtorch-dev); fi
# Gloo's headers, for the c10d binding (Debian's libtorch has ProcessGroupGloo built in).
if ! dpkg -s libgloo-dev >/dev/null 2>&1; then packages+=(libgloo-dev); fi
if ! dpkg -s fonts-dejavu-core >/dev/null 2>&1; then packages+=(fonts-dejavu-core); fi
# Debian's chromium, which the browser test drives through playwright-core (Playwright's own download is not used).
if ! command -v chromium >/dev/null 2>&1; then packages+=(chromium); fi
# GDAL's command-line tools: the map test reads `dsdnet map`'s GeoTIFFs back with gdalinfo and gdal_translate.
if ! command -v gdalinfo >/dev/null 2>&1; then packages+=(gdal-bin); fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing ${packages[*]} (apt)" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci (builds the native addon: about a minute on 2 cores)" >&2
  # onnxruntime-node's install script would download binaries; its CPU binary ships in the package.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
# npm ci's install script built the addon; this rebuilds it after a change to native/ (or a new LIBTORCH).
node native/build.cjs --if-needed

npm run --silent build:ts
