// The engine's settings for a command, made once before its action: --threads where the command has it, the
// environment's (engineDefaults: DSDNET_NUM_THREADS, ATEN_CPU_CAPABILITY) otherwise, and for the training commands
// freed memory kept in the heap unless DSDNET_MALLOC=system. A command that never computes with tensors still never
// loads libtorch: the settings wait for the addon to load.
import type { Command } from 'commander';

import { configureEngine, engineDefaults } from '../torch/index.js';

/** Commands whose steps free and allocate the same large buffers again and again (EngineSettings.retainFreedMemory). */
const TRAINING_COMMANDS = new Set(['train']);

export function configureEngineFor(command: Command, env: NodeJS.ProcessEnv = process.env): void {
  const defaults = engineDefaults(env);
  const { threads } = command.opts<{ threads?: number }>();
  configureEngine({
    threads: threads ?? defaults.threads,
    cpuCapability: defaults.cpuCapability,
    retainFreedMemory: TRAINING_COMMANDS.has(command.name()) && env.DSDNET_MALLOC !== 'system',
  });
}
