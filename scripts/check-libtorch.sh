#!/usr/bin/env bash
# Builds dsdnet against Debian 13's libtorch 2.6 and runs the whole test suite there, as CI does on Debian 12's 1.13.
# A Debian 13 root is made with debootstrap from Debian's archive (libtorch-dev 2.6, python3-torch 2.6 and
# python3-torchvision for the fixtures and the PyTorch peer, nodejs, g++, libgloo-dev) and kept for the next run;
# this checkout's files and node_modules are copied in (../shared is mounted read-only beside it), the addon is built
# there and `npm test`'s command runs. The last line is the test runner's summary, as in .ci/run. Needs root and
# about 5 GB of disk (2.5 GB of downloads the first time).
#
#   bash scripts/check-libtorch.sh [--root DIR] [--cuda] [--shell | --run COMMAND] [-- test files...]
#
# --cuda   a second root with contrib's libtorch-cuda-dev 2.6 and libnccl-dev: the addon is compiled and linked
#          with Gloo and NCCL, `ldd` is shown, and loading it on a machine without the CUDA libraries must fail in
#          one clear line (Debian's cuDNN package downloads cuDNN from NVIDIA at install, which cannot work here).
# --shell  opens a shell in the root instead of testing.
# --run    runs COMMAND in the root's checkout after the build, instead of the tests (e.g. a benchmark against the
#          root's PyTorch 2.6: --run 'node dist/bench/modules.js --only "bf16"').
set -euo pipefail
cd "$(dirname "$0")/.."

cuda=0; shell=0; root=""; run=""; tests=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda) cuda=1 ;;
    --shell) shell=1 ;;
    --run) run="$2"; shift ;;
    --root) root="$2"; shift ;;
    --) shift; tests=("$@"); break ;;
    *) echo "check-libtorch: unknown argument '$1' (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "check-libtorch: debootstrap and chroot need root" >&2; exit 1; }
command -v debootstrap >/dev/null || PATH="$PATH:/usr/sbin"
command -v debootstrap >/dev/null || { echo "check-libtorch: apt-get install debootstrap" >&2; exit 1; }

mirror=http://deb.debian.org/debian
if [ "$cuda" = 1 ]; then
  root="${root:-/var/tmp/dsdnet-trixie-cuda}"
  packages=(libtorch-cuda-dev libnccl-dev libgloo-cuda-dev nodejs libnode-dev g++ make python3)
else
  root="${root:-/var/tmp/dsdnet-trixie}"
  packages=(libtorch-dev python3-torch python3-torchvision libgloo-dev nodejs libnode-dev g++ make python3 fonts-dejavu-core chromium)
fi

in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 "$@"; }
mounted=()
cleanup() { for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done; }
trap cleanup EXIT
mount_in_root() { # source target [options]
  mkdir -p "$root/$2"
  mountpoint -q "$root/$2" || { mount "${@:3}" "$1" "$root/$2"; mounted+=("$root/$2"); }
}

# The root is ready when it holds this package list (a list grown since is installed on the next run).
if [ "$(cat "$root/.dsdnet-ready" 2>/dev/null)" != "${packages[*]}" ]; then
  echo "check-libtorch: making a Debian 13 root in $root (${packages[*]})" >&2
  [ -x "$root/usr/bin/apt-get" ] || debootstrap --variant=minbase trixie "$root" "$mirror"
  components=main; [ "$cuda" = 1 ] && components="main contrib non-free non-free-firmware"
  echo "deb $mirror trixie $components" > "$root/etc/apt/sources.list"
  mount_in_root /proc proc -t proc
  mount_in_root /dev dev --bind
  in_root apt-get update -qq
  # cuDNN's package downloads cuDNN from NVIDIA when it is configured; that step fails here, its files stay unpacked.
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" || [ "$cuda" = 1 ]
  in_root apt-get clean
  echo "${packages[*]}" > "$root/.dsdnet-ready"
fi
mount_in_root /proc proc -t proc
mount_in_root /dev dev --bind
mount_in_root /dev/shm dev/shm --bind
# ../shared (datasets and weights), read-only, where the tests look for it: beside the checkout.
if [ -d ../shared ]; then mount_in_root "$(realpath ../shared)" shared --bind -o ro; fi

# This checkout (tracked and untracked files that git does not ignore) and its node_modules; the addon is rebuilt.
work="$root/dsdnet"
rm -rf "$work" && mkdir -p "$work"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$work"
cp -a node_modules "$work/"

echo "check-libtorch: $(in_root sh -c 'dpkg-query -W -f "\${db:Status-Abbrev}\${Package} \${Version}\n" libtorch-dev libtorch-cuda-dev 2>/dev/null | sed -n "s/^ii *//p"'), node $(in_root node --version)" >&2
if [ "$shell" = 1 ]; then in_root sh -c 'cd /dsdnet && exec bash'; exit; fi

in_root sh -c 'cd /dsdnet && node native/build.cjs >/tmp/build.log 2>&1 || { tail -40 /tmp/build.log; exit 1; }'
if [ "$cuda" = 1 ]; then
  addon=/dsdnet/native/build/Release/dsdnet_native.node
  echo "check-libtorch: built with: $(in_root sh -c 'cd /dsdnet/native && node find-libtorch.cjs cflags')"
  in_root ldd "$addon" | grep -E 'libtorch|libc10|nccl|gloo|cudnn|cudart' || true
  # Where the CUDA libraries are missing, this says which one, in one line.
  in_root sh -c 'cd /dsdnet && ./node_modules/.bin/tsc -p tsconfig.json && node dist/src/cli/main.js env' || true
  exit 0
fi
in_root sh -c 'cd /dsdnet && ./node_modules/.bin/tsc -p tsconfig.json'
if [ -n "$run" ]; then in_root sh -c 'cd /dsdnet && exec sh -c "$1"' sh "$run"; exit; fi
if [ ${#tests[@]} -eq 0 ]; then tests=(dist/test/*.test.js); fi
in_root sh -c 'cd /dsdnet && exec node --test --test-concurrency=1 "$@"' sh "${tests[@]}"
