#!/usr/bin/env node
// Builds the addon with node-gyp (a job per core, at most 8: a compile takes about 1 GB): from a checkout
// (`npm run build:native`, scripts/setup.sh) and when the package is installed (its `install` script, as sharp
// builds from source when no prebuilt binary fits). libtorch is located first, so a missing one stops the build with
// one message saying how to get it, before node-gyp runs.
// Node's own headers are used when they are installed next to the running node (as Debian's nodejs and the official
// tarballs lay them out), so the build needs no download.
//   node native/build.cjs [--if-needed]   --if-needed: skip when the addon is newer than every source file and was
//                                         built against the libtorch found now
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const addon = path.join(__dirname, 'build', 'Release', 'dsdnet_native.node');

function newestSource() {
  const files = [path.join(__dirname, 'binding.gyp'), path.join(__dirname, 'find-libtorch.cjs')];
  for (const dir of ['src', 'compat']) {
    for (const entry of fs.readdirSync(path.join(__dirname, dir), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.push(path.join(entry.parentPath ?? entry.path, entry.name));
    }
  }
  return Math.max(...files.map((file) => fs.statSync(file).mtimeMs));
}

// A missing libtorch stops here, with find-libtorch's message.
const where = spawnSync(process.execPath, [path.join(__dirname, 'find-libtorch.cjs'), 'libdir'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
if (where.status !== 0) process.exit(where.status ?? 1);
const libdir = where.stdout.trim();
// Which libtorch the addon was built against, so that a new LIBTORCH rebuilds it.
const builtAgainst = path.join(__dirname, 'build', 'libtorch-dir');
const upToDate = () =>
  fs.existsSync(addon) && fs.statSync(addon).mtimeMs >= newestSource() && fs.existsSync(builtAgainst) && fs.readFileSync(builtAgainst, 'utf8') === libdir;
if (process.argv.includes('--if-needed') && upToDate()) process.exit(0);
process.stderr.write(`dsdnet: building the native addon against the libtorch in ${libdir} (about a minute on 2 cores)\n`);

const args = ['rebuild', '-j', String(Math.min(8, os.availableParallelism()))];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const result = spawnSync(process.execPath, [nodeGyp, ...args], { cwd: __dirname, stdio: 'inherit' });
if (result.status === 0) fs.writeFileSync(builtAgainst, libdir);
process.exit(result.status ?? 1);
