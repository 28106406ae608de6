#!/usr/bin/env node
// Builds the addon with node-gyp (two jobs). Node's own headers are used when they are installed next to the running
// node (as Debian's nodejs and the official tarballs lay them out), so the build needs no download.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const args = ['rebuild', '-j', '2'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const result = spawnSync(process.execPath, [nodeGyp, ...args], { cwd: __dirname, stdio: 'inherit' });
process.exit(result.status ?? 1);
