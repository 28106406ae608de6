// The engine's settings for a command, made once before its action: --threads where the command has it, the
// environment's (engineDefaults: DSDNET_NUM_THREADS, ATEN_CPU_CAPABILITY) otherwise, and freed memory kept in the
// heap unless DSDNET_MALLOC=system. Every command that computes frees and allocates the same large buffers batch after
// batch (a forward pass releases its activations when its scope ends), so every command keeps them: without it each
// batch page-faults them in afresh (9x slower MobileNetV2 inference here). A command that never computes with tensors
// still never loads libtorch: the settings wait for the addon to load.
import type { Command } from 'commander';

import { configureEngine, engineDefaults } from '../torch/index.js';

export function configureEngineFor(command: Command, env: NodeJS.ProcessEnv = process.env): void {
  const defaults = engineDefaults(env);
  const { threads } = command.opts<{ threads?: number }>();
  configureEngine({
    threads: threads ?? defaults.threads,
    cpuCapability: defaults.cpuCapability,
    retainFreedMemory: env.DSDNET_MALLOC !== 'system',
  });
}
