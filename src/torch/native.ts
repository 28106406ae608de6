// Loads the native addon and describes its surface. Everything else in src/torch goes through `binding`.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { type EngineControls, startEngine } from './engine.js';
import { packageRoot } from './package-root.js';

/** Opaque reference to a native tensor. */
export type NativeHandle = { readonly __nativeTensor: unique symbol };

/** What the binding accepts for one operator argument. */
/** Opaque reference to a native random generator. */
export type NativeGenerator = { readonly __nativeGenerator: unique symbol };

/** Opaque references to c10d objects: a key-value store, a process group and a gradient reducer. */
export type NativeStore = { readonly __nativeStore: unique symbol };
export type NativeGroup = { readonly __nativeGroup: unique symbol };
export type NativeReducer = { readonly __nativeReducer: unique symbol };

export type NativeArg =
  NativeHandle | NativeGenerator | number | boolean | string | bigint | null | undefined | readonly NativeArg[];

/** What an operator returns: tensors, numbers, booleans, strings, null, or arrays of them (tuples and lists). */
export type NativeValue = NativeHandle | number | boolean | string | null | undefined | NativeValue[];

/** The addon's surface; its engine settings' controls are engine.ts's. */
export interface NativeBinding extends EngineControls {
  dispose(handle: NativeHandle): void;
  isDisposed(handle: NativeHandle): boolean;
  /** Reports the tensor's memory to V8 (once), for a handle the garbage collector now owns. */
  account(handle: NativeHandle): void;
  liveTensors(): number;
  newGenerator(seed: number): NativeGenerator;
  findOp(name: string, overload: string): number;
  opSchema(id: number): string;
  call(id: number, ...args: NativeArg[]): NativeValue;
  callDiscard(id: number, ...args: NativeArg[]): void;
  fromBuffer(data: ArrayBufferView, shape: readonly number[], dtypeCode: number): NativeHandle;
  toBuffer(handle: NativeHandle): ArrayBuffer;
  shape(handle: NativeHandle): number[];
  strides(handle: NativeHandle): number[];
  dtype(handle: NativeHandle): number;
  device(handle: NativeHandle): string;
  /** Memory format codes: 0 row-major, 2 channels-last. */
  isContiguous(handle: NativeHandle, memoryFormatCode: number): boolean;
  backward(roots: NativeHandle[], grads: (NativeHandle | null)[], retainGraph: boolean, createGraph: boolean): void;
  grad(handle: NativeHandle): NativeHandle | null;
  setGrad(handle: NativeHandle, grad: NativeHandle | null): void;
  requiresGrad(handle: NativeHandle): boolean;
  setRequiresGrad(handle: NativeHandle, flag: boolean): void;
  isLeaf(handle: NativeHandle): boolean;
  gradFn(handle: NativeHandle): string | null;
  isGradEnabled(): boolean;
  /** [enabled, dtype code] of the thread's autocast for the device type. */
  autocastState(deviceType: string): [boolean, number];
  /** Sets the thread's autocast for the device type; returns the previous [enabled, dtype code]. */
  setAutocast(deviceType: string, enabled: boolean, dtypeCode: number): [boolean, number];
  enterAutocastRegion(): number;
  /** Leaves a region; the outermost one frees the cached 16-bit weights. */
  exitAutocastRegion(): number;
  setGradEnabled(flag: boolean): void;
  version(): string;
  getNumThreads(): number;
  parallelInfo(): string;
  manualSeed(seed: number): void;
  getRngState(device?: string): NativeHandle;
  setRngState(state: NativeHandle, device?: string): void;
  cudaDeviceCount(): number;
  setCudnnBenchmark(on: boolean): void;
  cudaSynchronize(index: number): void;
  /** Whether the addon was built with c10d's Gloo process group (Gloo's headers present at build time). */
  hasGloo: boolean;
  newTCPStore(host: string, port: number, worldSize: number, isServer: boolean, timeoutMs: number): NativeStore;
  storeSet(store: NativeStore, key: string, value: string): void;
  storeGet(store: NativeStore, key: string): string;
  newGlooGroup(store: NativeStore, rank: number, size: number, timeoutMs: number, hostname: string): NativeGroup;
  /** Whether the addon was built with c10d's NCCL process group (a CUDA libtorch, with CUDA's and NCCL's headers). */
  hasNccl: boolean;
  newNcclGroup?(store: NativeStore, rank: number, size: number, timeoutMs: number): NativeGroup;
  allReduce(group: NativeGroup, tensors: NativeHandle[], op: string): void;
  broadcast(group: NativeGroup, tensors: NativeHandle[], root: number): void;
  barrier(group: NativeGroup): void;
  newReducer(
    group: NativeGroup,
    parameters: NativeHandle[],
    bucketBytes: number,
    findUnusedParameters: boolean,
  ): NativeReducer;
  reducerPrepare(reducer: NativeReducer, outputs: NativeHandle[]): void;
  sumGradientOverRanks(group: NativeGroup, tensor: NativeHandle): void;
}

function load(): NativeBinding {
  const file = join(packageRoot(), 'native', 'build', 'Release', 'dsdnet_native.node');
  if (!existsSync(file)) {
    throw new Error(
      `the native addon is not built (${file} is missing). Run: npm rebuild dsdnet (in a checkout: npm run build:native)`,
    );
  }
  try {
    return createRequire(import.meta.url)(file) as NativeBinding;
  } catch (error) {
    // The dynamic loader's text names the library the libtorch it was built against needs, deep in a long message.
    const missing = /(lib[\w.+-]*\.so[\w.]*): cannot open shared object file/.exec((error as Error).message);
    if (missing === null) throw error;
    const cuda = /^lib(cu|nccl|nv)/.test(missing[1])
      ? ' (a CUDA library: install it with CUDA, put its folder on LD_LIBRARY_PATH, or rebuild dsdnet against a CPU libtorch)'
      : '';
    throw new Error(
      `the native addon cannot load: ${missing[1]} is not found${cuda}; ${file} was built against a libtorch that needs it`,
      { cause: error },
    );
  }
}

/**
 * The addon, loaded on first use rather than on import: code that never computes with tensors (the ONNX engine, the
 * CLI's help) never loads libtorch. Until then `binding` is a stand-in that loads the addon, applies the engine's
 * settings (engine.ts) and then replaces itself, so importers (which see this live binding) call the addon directly
 * afterwards.
 */
export let binding: NativeBinding = new Proxy({} as NativeBinding, {
  get(_target, key) {
    const loaded = load();
    startEngine(loaded);
    binding = loaded;
    return loaded[key as keyof NativeBinding];
  },
});
