#!/usr/bin/env node
// The dsdnet command line.
import { createRequire } from 'node:module';

import { Command } from 'commander';

import { backends } from '../distributed/index.js';
import { cpuCapability, cpuHasNativeBf16, cudaDeviceCount, getNumThreads, libtorchVersion } from '../torch/index.js';
import { registerDataCommands } from './data.js';
import { registerEmbedCommand } from './embed.js';
import { configureEngineFor } from './engine.js';
import { registerEvaluateCommands } from './evaluate.js';
import { registerExplainCommand } from './explain.js';
import { registerExportCommand } from './export.js';
import { registerInfoCommand } from './info.js';
import { registerMapCommand } from './map.js';
import { registerReportCommand } from './report.js';
import { registerServeCommand } from './serve.js';
import { registerTrainCommand } from './train.js';
import { registerWeightsCommands } from './weights.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

function engineInfo(): string {
  const cuda = cudaDeviceCount();
  return [
    `dsdnet ${pkg.version}`,
    `libtorch ${libtorchVersion()}`,
    `threads ${getNumThreads()}`,
    `ATen kernels ${cpuCapability()} (ATEN_CPU_CAPABILITY=avx2|avx512 before starting chooses)`,
    `device ${cuda > 0 ? `cuda (${cuda} GPU${cuda > 1 ? 's' : ''}), cpu` : 'cpu'}`,
    `distributed ${backends().join(', ') || 'none (built without c10d: install libgloo-dev and rebuild)'}`,
    `bfloat16 ${cpuHasNativeBf16() ? 'native on this CPU (--precision auto trains in bf16)' : 'not native on this CPU (--precision auto trains in fp32)'}`,
  ].join('\n');
}

const program = new Command('dsdnet')
  .description('Remote sensing scene classification on libtorch: DSDNet and its baselines')
  .version(pkg.version)
  .hook('preAction', (_program, command) => configureEngineFor(command))
  .action(() => console.log(engineInfo()));
program
  .command('env')
  .description('the engine this installation runs on')
  .action(() => console.log(engineInfo()));
registerDataCommands(program);
registerTrainCommand(program);
registerInfoCommand(program);
registerEvaluateCommands(program);
registerEmbedCommand(program);
registerReportCommand(program);
registerWeightsCommands(program);
registerExportCommand(program);
registerServeCommand(program);
registerExplainCommand(program);
registerMapCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`dsdnet: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
