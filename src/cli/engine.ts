// The engine's settings for a command, made once before its action: --threads where the command has it, the
// environment's (engineDefaults: DSDNET_NUM_THREADS, ATEN_CPU_CAPABILITY) otherwise, and freed memory kept in the
// heap (DSDNET_MALLOC=system: glibc's policy; =retain: kept). The commands that compute free and allocate the same
// large buffers batch after batch (a forward pass releases its activations when its scope ends), so they keep them: with
// glibc's policy each batch page-faults them in afresh (dsdnet eval of a MobileNetV2 run 4.5x slower here). `serve`
// does not: a service's memory should follow its load, and its requests gained nothing from it (bench/serve-load.ts).
// A command that never computes with tensors still never loads libtorch: the settings wait for the addon to load.
import type { Command } from 'commander';

import { configureEngine, engineDefaults } from '../torch/index.js';

/** Commands that run for as long as they are needed, whose memory should go back when the load drops. */
const SERVICES = new Set(['serve']);

/** Whether the command keeps freed memory in the heap: DSDNET_MALLOC's choice, else all but the services. */
export function retainsFreedMemory(commandName: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const policy = env.DSDNET_MALLOC || (SERVICES.has(commandName) ? 'system' : 'retain');
  if (policy !== 'system' && policy !== 'retain')
    throw new Error(`DSDNET_MALLOC must be 'retain' or 'system', got '${policy}'`);
  return policy === 'retain';
}

export function configureEngineFor(command: Command, env: NodeJS.ProcessEnv = process.env): void {
  const defaults = engineDefaults(env);
  const { threads } = command.opts<{ threads?: number }>();
  configureEngine({
    threads: threads ?? defaults.threads,
    cpuCapability: defaults.cpuCapability,
    retainFreedMemory: retainsFreedMemory(command.name(), env),
  });
}
