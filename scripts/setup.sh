#!/usr/bin/env bash
# Installs what dsdnet needs on Debian/Ubuntu and builds it: libtorch (Debian's libtorch-dev unless LIBTORCH points
# at another libtorch), the npm dependencies, the native addon and the TypeScript. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# libtorch (unless LIBTORCH points at another one), a font for the text in PNG charts, and chromium.
packages=()
if [ -z "${LIBTORCH:-}" ] && ! dpkg -s libtorch-dev >/dev/null 2>&1; then packages+=(libtorch-dev); fi
# Gloo's headers, for the c10d binding (Debian's libtorch has ProcessGroupGloo built in).
if ! dpkg -s libgloo-dev >/dev/null 2>&1; then packages+=(libgloo-dev); fi
if ! dpkg -s fonts-dejavu-core >/dev/null 2>&1; then packages+=(fonts-dejavu-core); fi
# Debian's chromium, which the browser test drives through playwright-core (Playwright's own download is not used).
if ! command -v chromium >/dev/null 2>&1; then packages+=(chromium); fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing ${packages[*]} (apt)" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  # onnxruntime-node's install script would download binaries; its CPU binary ships in the package.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

if [ ! -f native/build/Release/dsdnet_native.node ] || [ -n "$(find native/src native/binding.gyp -newer native/build/Release/dsdnet_native.node 2>/dev/null)" ]; then
  echo "setup: building the native addon" >&2
  npm run --silent build:native
fi

npm run --silent build:ts
