#!/usr/bin/env node
// Locates libtorch for the native build and prints one gyp value:
//   include | libdir | libs | cflags
// Order: $LIBTORCH (official archive or pip's torch/ layout: include/ and lib/), then Debian's libtorch-dev.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const HOW_TO_GET =
  'dsdnet needs libtorch to build its native addon, and found none.\n' +
  '  Debian/Ubuntu:  apt-get install libtorch-dev\n' +
  '  Any other libtorch (e.g. a CUDA build): unpack it and set LIBTORCH to the folder that holds include/ and lib/\n' +
  '  (an official libtorch archive, or the torch/ folder of a pip-installed PyTorch).';

function fail(message) {
  process.stderr.write(`\n${message}\n\n`);
  process.exit(1);
}

function fromEnv(dir) {
  const include = path.join(dir, 'include');
  const lib = path.join(dir, 'lib');
  if (!fs.existsSync(path.join(include, 'ATen', 'ATen.h')) || !fs.existsSync(lib)) {
    fail(`LIBTORCH=${dir} does not look like libtorch: expected ${include}/ATen/ATen.h and ${lib}/.\n\n${HOW_TO_GET}`);
  }
  return { include, lib, rpath: true, cmakeDir: path.join(dir, 'share', 'cmake', 'Torch') };
}

function fromDebian() {
  const multiarch = ['x86_64-linux-gnu', 'aarch64-linux-gnu'].find((a) => fs.existsSync(`/usr/lib/${a}/libtorch.so`));
  if (!multiarch || !fs.existsSync('/usr/include/ATen/ATen.h')) return null;
  return { include: '/usr/include', lib: `/usr/lib/${multiarch}`, rpath: false, cmakeDir: null };
}

// Pre-C++11-ABI builds (older pip wheels) announce it in TorchConfig.cmake; Debian's and current archives use the new ABI.
function cxxAbi(found) {
  if (!found.cmakeDir) return 1;
  const config = path.join(found.cmakeDir, 'TorchConfig.cmake');
  if (!fs.existsSync(config)) return 1;
  const match = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(fs.readFileSync(config, 'utf8'));
  return match ? Number(match[1]) : 1;
}

const found = process.env.LIBTORCH ? fromEnv(path.resolve(process.env.LIBTORCH)) : fromDebian();
if (!found) fail(HOW_TO_GET);

const hasCuda = fs.existsSync(path.join(found.lib, 'libtorch_cuda.so'));

// ProcessGroupNCCL (c10d on GPUs) compiles against the CUDA toolkit's and NCCL's headers, which a libtorch archive
// does not ship: CUDA_HOME (or /usr/local/cuda, or Debian's /usr/include), NCCL_INCLUDE_DIR (or those same folders).
function firstWith(dirs, file) {
  return dirs.find((dir) => dir && fs.existsSync(path.join(dir, file)));
}
function ncclIncludes(report = false) {
  if (!hasCuda) return null;
  const cudaHome = process.env.CUDA_HOME || process.env.CUDA_PATH || '/usr/local/cuda';
  const cuda = firstWith([path.join(cudaHome, 'include'), '/usr/include'], 'cuda_runtime_api.h');
  const nccl = firstWith([process.env.NCCL_INCLUDE_DIR, found.include, cuda, '/usr/include'], 'nccl.h');
  const header = path.join(found.include, 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupNCCL.hpp');
  if (!cuda || !nccl || !fs.existsSync(header)) {
    const missing = [!cuda && 'cuda_runtime_api.h (set CUDA_HOME)', !nccl && 'nccl.h (set NCCL_INCLUDE_DIR)', !fs.existsSync(header) && header].filter(Boolean);
    if (report) process.stderr.write(`dsdnet: this libtorch has CUDA, but the addon is built without NCCL: not found: ${missing.join(', ')}\n`);
    return null;
  }
  return [...new Set([cuda, nccl])];
}
const what = process.argv[2];
switch (what) {
  case 'include':
    console.log([found.include, path.join(found.include, 'torch', 'csrc', 'api', 'include'), ...(ncclIncludes() ?? [])].join(' '));
    break;
  case 'libdir':
    console.log(found.lib);
    break;
  case 'libs':
    // --no-as-needed keeps libtorch_cuda linked although no symbol of it is used: its kernels register at load.
    console.log(
      [`-L${found.lib}`, '-Wl,--no-as-needed', '-ltorch', '-ltorch_cpu', '-lc10', ...(hasCuda ? ['-ltorch_cuda', '-lc10_cuda'] : []), '-Wl,--as-needed']
        .concat(found.rpath ? [`-Wl,-rpath,${found.lib}`] : [])
        .join(' '),
    );
    break;
  case 'cflags': {
    // c10d's ProcessGroupGloo needs Gloo's headers: bundled with some libtorch builds, libgloo-dev on Debian.
    const gloo = [found.include, '/usr/include'].some((dir) => fs.existsSync(path.join(dir, 'gloo', 'config.h')));
    const nccl = gloo && ncclIncludes(true) !== null;
    console.log([`-D_GLIBCXX_USE_CXX11_ABI=${cxxAbi(found)}`, ...(gloo ? ['-DDSDNET_WITH_GLOO=1'] : []), ...(nccl ? ['-DDSDNET_WITH_NCCL=1'] : [])].join(' '));
    break;
  }
  default:
    fail(`find-libtorch: unknown query '${what}' (include | libdir | libs | cflags)`);
}
