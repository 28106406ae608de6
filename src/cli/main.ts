#!/usr/bin/env node
// The dsdnet command line.
import { createRequire } from 'node:module';

import { Command } from 'commander';

import { backends } from '../distributed/index.js';
import { cpuCapability, cpuHasNativeBf16, cudaDeviceCount, getNumThreads, libtorchVersion } from '../torch/index.js';
import { configureEngineFor } from './engine.js';

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

type Register = (program: Command) => void;
/**
 * Each command's module, in the order help lists them. Only the one a command line names is loaded (the others bring
 * in sharp, fastify, ONNX Runtime, GeoTIFF...: half a second at every start); help and unknown names load them all.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  data: async () => (await import('./data.js')).registerDataCommands,
  train: async () => (await import('./train.js')).registerTrainCommand,
  info: async () => (await import('./info.js')).registerInfoCommand,
  eval: async () => (await import('./evaluate.js')).registerEvaluateCommands,
  predict: async () => (await import('./evaluate.js')).registerEvaluateCommands,
  embed: async () => (await import('./embed.js')).registerEmbedCommand,
  report: async () => (await import('./report.js')).registerReportCommand,
  weights: async () => (await import('./weights.js')).registerWeightsCommands,
  export: async () => (await import('./export.js')).registerExportCommand,
  serve: async () => (await import('./serve.js')).registerServeCommand,
  explain: async () => (await import('./explain.js')).registerExplainCommand,
  map: async () => (await import('./map.js')).registerMapCommand,
};
const named = process.argv[2];
// `dsdnet` alone and `dsdnet env` need none of them.
const wanted =
  named === undefined || named === 'env' ? [] : Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);

function fail(error: unknown): never {
  process.stderr.write(`dsdnet: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

try {
  // eval and predict share a module: it registers both, once.
  for (const register of new Set(await Promise.all(wanted.map((name) => COMMANDS[name]())))) register(program);
} catch (error) {
  fail(error); // a module that cannot load (a missing optional package), said as the commands' errors are
}
program.parseAsync(process.argv).catch(fail);
