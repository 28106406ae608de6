#!/usr/bin/env bash
# Compiles the addon's c10d binding with ProcessGroupNCCL on a machine without CUDA: the CUDA toolkit's headers
# (Debian 12 non-free, nvidia-cuda-dev 11.8) and NCCL's (Debian 13 contrib, libnccl-dev) are downloaded from Debian's
# archive into a temporary folder, and native/src/distributed.cc is compiled to an object file against them and
# Debian's libtorch headers, as a CUDA libtorch build would compile it (DSDNET_WITH_NCCL). Nothing is installed or
# linked, and nothing runs on a GPU: it checks that the binding matches c10d's NCCL API. About 900 MB of downloads.
# Usage: bash scripts/check-nccl-build.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work/headers" "$work/gen/c10/cuda/impl"

download() { # suite component package
  local apt="$work/apt-$1"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $1 $2" > "$apt/sources.list"
  local options=(-o APT::Sandbox::User=root -o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
  apt-get "${options[@]}" update -qq
  (cd "$work" && apt-get "${options[@]}" download "$3")
  dpkg-deb --fsys-tarfile "$work"/"$3"_*.deb | tar -x -C "$work/headers" --wildcards './usr/include/*'
  rm "$work"/"$3"_*.deb
}
[ -f "$work/headers/usr/include/cuda_runtime_api.h" ] || download bookworm non-free nvidia-cuda-dev
[ -f "$work/headers/usr/include/nccl.h" ] || download trixie contrib libnccl-dev

# A CUDA libtorch generates this header at its build; Debian's CPU libtorch ships c10/cuda without it.
printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$work/gen/c10/cuda/impl/cuda_cmake_macros.h"

node_api="$(node -p "require('node-addon-api').include_dir")"
g++ -std=c++17 -O0 -c native/src/distributed.cc -o "$work/distributed.o" \
  -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -DDSDNET_WITH_GLOO=1 -DDSDNET_WITH_NCCL=1 \
  -I/usr/include/node -I"$node_api" -I/usr/include/torch/csrc/api/include \
  -idirafter native/compat -idirafter "$work/headers/usr/include" -idirafter "$work/gen" \
  -D_GLIBCXX_USE_CXX11_ABI=1 -fexceptions -frtti -Wall -Wno-unused-parameter
echo "compiled native/src/distributed.cc with ProcessGroupNCCL: $work/distributed.o"
echo "NCCL symbols it takes from a CUDA libtorch (libtorch_cuda.so):"
nm -C -u "$work/distributed.o" | grep -i nccl | sed 's/^ *U /  /'
