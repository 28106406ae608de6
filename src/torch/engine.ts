// The process-wide engine settings: libtorch's intra-op threads, the instruction set of ATen's own kernels, and the
// heap's policy. configureEngine records them without loading libtorch (a command that never computes with tensors
// never loads it); the addon applies them when it loads, or at once if it has.
//
// A process that never calls configureEngine gets, when the addon loads, engineDefaults(): one thread per core or
// DSDNET_NUM_THREADS (Debian's libtorch starts with one), and AVX-512 kernels on CPUs that run them at full speed
// unless ATEN_CPU_CAPABILITY chooses. Both stay defaults made at load because libtorch fixes the instruction set at
// its first kernel, which may be a library user's first tensor op, and the engine should compute alike however it
// is entered. The heap keeps glibc's own policy unless retainFreedMemory is asked for.
import { availableParallelism } from 'node:os';

import { preferredCpuCapability } from './cpu.js';

/** ATEN_CPU_CAPABILITY's values: ATen's own kernels without vector instructions, with AVX2, with AVX-512. */
export const CPU_CAPABILITIES = ['default', 'avx2', 'avx512'] as const;
export type CpuCapabilityName = (typeof CPU_CAPABILITIES)[number];

export interface EngineSettings {
  /** libtorch's intra-op threads; may change at any time. */
  threads?: number;
  /**
   * The instruction set of ATen's own kernels (elementwise ops, BatchNorm, pooling; oneDNN picks its own for
   * convolutions). libtorch fixes it at its first kernel: asking for another one after that throws.
   */
  cpuCapability?: CpuCapabilityName;
  /**
   * Keep freed memory in the process heap (glibc: no mmap for large blocks, no trimming), so that the large buffers
   * a training step frees and allocates again are reused instead of being page-faulted in afresh; on this project's
   * VMs that halves a ResNet-18 step. Resident memory then stays at its peak. For the rest of the process: once on,
   * it cannot be turned off. Off unless asked for (every command but serve asks: src/cli/engine.ts).
   */
  retainFreedMemory?: boolean;
}

/** The addon's controls of these settings (part of native.ts's binding). */
export interface EngineControls {
  setNumThreads(n: number): void;
  /** The capability ATen's kernels run at ('AVX512', 'AVX2', 'DEFAULT'); reading it fixes it. */
  cpuCapability(): string;
  /** Sets ATEN_CPU_CAPABILITY unless the user did; libtorch reads it at its first kernel. */
  requestCpuCapability(capability: string): void;
  /** Returns whether it applied (glibc only). */
  retainFreedMemory(): boolean;
}

/** The settings when nobody chose them, from the environment: DSDNET_NUM_THREADS and ATEN_CPU_CAPABILITY. */
export function engineDefaults(env: NodeJS.ProcessEnv = process.env): {
  threads: number;
  cpuCapability?: CpuCapabilityName;
} {
  return { threads: defaultThreads(env), cpuCapability: defaultCpuCapability(env) };
}

function defaultThreads(env: NodeJS.ProcessEnv): number {
  const fromEnv = env.DSDNET_NUM_THREADS;
  if (fromEnv === undefined || fromEnv === '') return availableParallelism();
  const n = Number(fromEnv);
  if (!Number.isInteger(n) || n < 1) throw new Error(`DSDNET_NUM_THREADS must be a positive integer, got '${fromEnv}'`);
  return n;
}

/** The user's choice (checked: libtorch only warns about one it does not know), else ours (undefined: libtorch's). */
function defaultCpuCapability(env: NodeJS.ProcessEnv): CpuCapabilityName | undefined {
  const fromEnv = env.ATEN_CPU_CAPABILITY;
  if (fromEnv === undefined || fromEnv === '') return preferredCpuCapability();
  if (!isCpuCapability(fromEnv))
    throw new Error(`ATEN_CPU_CAPABILITY must be one of ${CPU_CAPABILITIES.join(', ')}, got '${fromEnv}'`);
  return fromEnv;
}

const isCpuCapability = (value: unknown): value is CpuCapabilityName =>
  (CPU_CAPABILITIES as readonly unknown[]).includes(value);

/** The settings asked for before the addon loaded: startEngine applies them. */
const pending: EngineSettings = {};
/** The addon's controls, once it has loaded. */
let engine: EngineControls | undefined;
/** Whether freed memory is kept in the heap (for good). */
let retained = false;

/** Refuses settings that are not EngineSettings, naming each, before any of them applies. */
function checkSettings(settings: EngineSettings): void {
  if (typeof settings !== 'object' || settings === null)
    throw new TypeError(`configureEngine: expected an object of settings, got ${JSON.stringify(settings)}`);
  const problems: string[] = [];
  const known = new Set(['threads', 'cpuCapability', 'retainFreedMemory']);
  const unknown = Object.keys(settings).filter((key) => !known.has(key));
  if (unknown.length > 0) problems.push(`unknown setting(s) ${unknown.map((key) => JSON.stringify(key)).join(', ')}`);
  const { threads, cpuCapability, retainFreedMemory } = settings;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1))
    problems.push(`threads must be a positive integer, got ${threads}`);
  if (cpuCapability !== undefined && !isCpuCapability(cpuCapability))
    problems.push(`cpuCapability must be one of ${CPU_CAPABILITIES.join(', ')}, got ${JSON.stringify(cpuCapability)}`);
  if (retainFreedMemory !== undefined && typeof retainFreedMemory !== 'boolean')
    problems.push(`retainFreedMemory must be true or false, got ${JSON.stringify(retainFreedMemory)}`);
  if (problems.length > 0) throw new Error(`configureEngine: ${problems.join('; ')}`);
}

/** Refuses a capability that libtorch would not use: another one fixed already, or another one in the environment. */
function checkCapability(capability: CpuCapabilityName): void {
  if (engine !== undefined) {
    // The addon may have run a kernel by now; reading the capability gives the one libtorch fixed (or fixes it).
    const inUse = engine.cpuCapability();
    if (inUse !== capability.toUpperCase())
      throw new Error(
        `configureEngine: ATen's kernels already run as ${inUse}, fixed by libtorch at its first kernel; ask for cpuCapability '${capability}' before any tensor work, or set ATEN_CPU_CAPABILITY=${capability} before starting`,
      );
    return;
  }
  const fromEnv = process.env.ATEN_CPU_CAPABILITY;
  if (fromEnv !== undefined && fromEnv !== '' && fromEnv !== capability)
    throw new Error(
      `configureEngine: cpuCapability '${capability}' contradicts ATEN_CPU_CAPABILITY=${fromEnv}, which libtorch reads instead; unset it or ask for '${fromEnv}'`,
    );
}

/**
 * Sets the engine's settings (those given; the others stay as they are). Before the addon loads they wait for it;
 * afterwards threads change at once, retainFreedMemory turns on at once (and cannot be turned off), and
 * cpuCapability must be the one libtorch already uses.
 */
export function configureEngine(settings: EngineSettings): void {
  checkSettings(settings);
  const { threads, cpuCapability, retainFreedMemory } = settings;
  if (cpuCapability !== undefined) checkCapability(cpuCapability);
  if (retainFreedMemory === false && retained)
    throw new Error('configureEngine: freed memory is already retained in the heap, for the rest of the process');
  if (engine === undefined) {
    Object.assign(pending, Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)));
    return;
  }
  if (threads !== undefined) engine.setNumThreads(threads);
  if (retainFreedMemory && !retained) retained = engine.retainFreedMemory();
}

/** Applies the settings asked for (the defaults for the others) to the addon as it loads, before any kernel. */
export function startEngine(loaded: EngineControls): void {
  loaded.setNumThreads(pending.threads ?? defaultThreads(process.env));
  const capability = pending.cpuCapability ?? defaultCpuCapability(process.env);
  if (capability !== undefined) loaded.requestCpuCapability(capability);
  if (pending.retainFreedMemory) retained = loaded.retainFreedMemory();
  engine = loaded;
}
