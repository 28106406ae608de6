#!/usr/bin/env node
// The dsdnet command line. For now: what engine this installation runs on.
import { createRequire } from 'node:module';

import { cudaDeviceCount, getNumThreads, libtorchVersion } from '../torch/index.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

const cuda = cudaDeviceCount();
console.log(`dsdnet ${pkg.version}`);
console.log(`libtorch ${libtorchVersion()}`);
console.log(`threads ${getNumThreads()}`);
console.log(`device ${cuda > 0 ? `cuda (${cuda} GPU${cuda > 1 ? 's' : ''}), cpu` : 'cpu'}`);
