#!/usr/bin/env bash
# Packs dsdnet and installs the tarball in an empty folder as a user would (`npm install ./dsdnet-<version>.tgz`):
# the addon is built at install against Debian's libtorch or $LIBTORCH; then `npx dsdnet env` and a short
# `npx dsdnet train DIR --preset finetune` run there, outside the repository. Also checks that the tarball holds no
# tests, results or benchmarks, and that a missing libtorch stops the build in one message. Needs the npm registry
# (or npm's cache) for the dependencies. Prints the tarball's size and the time of each step.
# Usage: bash scripts/check-package.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
step() { echo "check-package: $*" >&2; }
timed() { local label="$1" start=$SECONDS; shift; "$@"; step "  ($label: $((SECONDS - start)) s)"; }

step "npm pack (prepack compiles the TypeScript)"
tgz="$work/$(npm pack --silent --pack-destination "$work" | tail -1)"
step "$(basename "$tgz"): $(du -k "$tgz" | cut -f1) KB, $(tar -tzf "$tgz" | wc -l) files"
unwanted="$(tar -tzf "$tgz" | grep -E '^package/(test|bench|results|runs|scripts|dist/(test|bench|scripts)|native/build)/' || true)"
[ -z "$unwanted" ] || { echo "check-package: the tarball holds files users do not need:" >&2; echo "$unwanted" | head >&2; exit 1; }

app="$work/app"
rm -rf "$app" && mkdir -p "$app" && cd "$app"
step "npm install $(basename "$tgz") in an empty folder ($app)"
# onnxruntime-node's install script would download binaries; its CPU binary ships in the package.
timed "install, with the addon's build" env ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --foreground-scripts "$tgz" 2>&1 | grep -E '^(dsdnet|check-package)|error|ERR' || true
[ -f node_modules/dsdnet/native/build/Release/dsdnet_native.node ] || { echo "check-package: the install did not build the addon" >&2; exit 1; }

step "npx dsdnet env"
npx --no-install dsdnet env

step "LIBTORCH=/nonexistent npm rebuild dsdnet (must stop in one message)"
if LIBTORCH=/nonexistent npm rebuild dsdnet >"$work/rebuild.log" 2>&1; then echo "check-package: a build without libtorch succeeded" >&2; exit 1; fi
grep -m1 'does not look like libtorch' "$work/rebuild.log" >&2
# The failed attempt stopped before node-gyp, so the addon built at install is still there.
[ -f node_modules/dsdnet/native/build/Release/dsdnet_native.node ] || { echo "check-package: a failed rebuild removed the addon" >&2; exit 1; }

# A small dataset: 4 UC Merced classes x 12 photos where ../shared has them, else generated images.
data="$work/data"
rm -rf "$data"
ucm="$repo/../shared/datasets/ucmerced"
if [ -d "$ucm" ]; then
  for class in agricultural beach forest runway; do
    mkdir -p "$data/$class"
    find "$ucm/$class" -type f | sort | sed -n 1,12p | xargs -I{} cp {} "$data/$class/"
  done
else
  step "../shared/datasets/ucmerced is absent: generated images instead"
  node -e "
    const sharp = require('$app/node_modules/sharp'); const fs = require('fs');
    const colours = { red: [200, 40, 40], green: [40, 160, 60], blue: [40, 60, 200], grey: [128, 128, 128] };
    (async () => { for (const [name, rgb] of Object.entries(colours)) { fs.mkdirSync('$data/' + name, { recursive: true });
      for (let i = 0; i < 12; i++) { const raw = Buffer.alloc(64 * 64 * 3); for (let p = 0; p < raw.length; p++) raw[p] = Math.max(0, Math.min(255, rgb[p % 3] + ((p * 7919 + i * 104729) % 61) - 30));
        await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).png().toFile('$data/' + name + '/' + i + '.png'); } } })();"
fi
weights="$repo/../shared/weights"
pretrained=(); [ -d "$weights" ] && export DSDNET_WEIGHTS="$weights" || pretrained=(--pretrained none)

step "npx dsdnet train $data --preset finetune (1 epoch, 64 px)"
timed train npx --no-install dsdnet train "$data" --preset finetune --epochs 1 --size 64 --batch-size 8 "${pretrained[@]}" --out "$app/runs/finetune" --quiet
[ -f "$app/runs/finetune/report.json" ] || { echo "check-package: the run wrote no report.json" >&2; exit 1; }
node -e "const r = require('$app/runs/finetune/report.json'); console.log('check-package: report.json:', JSON.stringify(r).slice(0, 200))"
step "ok: packed, installed in an empty folder, built, env and train ran ($work)"
