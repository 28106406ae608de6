// Process groups over torch.distributed's c10d: rendezvous through a TCPStore that rank 0 hosts, collectives through
// ProcessGroupGloo on the CPU or ProcessGroupNCCL on CUDA tensors. Configured from torchrun's environment variables or
// explicitly.
import { hostname } from 'node:os';

import { binding, type NativeGroup, type NativeStore } from '../torch/native.js';
import { type Device, noGrad, type Tensor } from '../torch/index.js';

export interface GroupOptions {
  rank: number;
  worldSize: number;
  /** Where rank 0 hosts the store (MASTER_ADDR), and its port (MASTER_PORT). */
  masterAddr: string;
  masterPort: number;
  /** How long rendezvous and each collective may take before failing (default 60 s). */
  timeoutMs?: number;
  /**
   * Collectives' engine: Gloo for CPU tensors (the default); NCCL for CUDA tensors, each rank on its own GPU (an addon
   * built against a CUDA libtorch, see `backends()`).
   */
  backend?: Backend;
  /** NCCL: this rank's GPU (default cuda:0; the launcher gives each rank cuda:LOCAL_RANK). */
  device?: Device;
}

export type Backend = 'gloo' | 'nccl';

/** The backends this addon was built with. */
export function backends(): Backend[] {
  return [...(binding.hasGloo ? (['gloo'] as const) : []), ...(binding.hasNccl ? (['nccl'] as const) : [])];
}

export type ReduceOp = 'sum' | 'product' | 'min' | 'max';

function integerVariable(env: NodeJS.ProcessEnv, name: string, min: number): number {
  const text = env[name];
  if (text === undefined || text === '')
    throw new Error(`${name} is not set (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)`);
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got '${text}'`);
  return value;
}

/** The group's settings from torchrun's variables: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): GroupOptions {
  const worldSize = integerVariable(env, 'WORLD_SIZE', 1);
  const rank = integerVariable(env, 'RANK', 0);
  if (rank >= worldSize) throw new Error(`RANK ${rank} is not below WORLD_SIZE ${worldSize}`);
  const masterAddr = env.MASTER_ADDR;
  if (!masterAddr) throw new Error('MASTER_ADDR is not set (the host of rank 0)');
  return {
    rank,
    worldSize,
    masterAddr,
    masterPort: integerVariable(env, 'MASTER_PORT', 1),
    timeoutMs: env.DSDNET_DIST_TIMEOUT_MS ? Number(env.DSDNET_DIST_TIMEOUT_MS) : undefined,
  };
}

function glooGroup(store: NativeStore, { rank, worldSize, masterAddr }: GroupOptions, timeoutMs: number): NativeGroup {
  // Gloo listens on this machine's address as the others reach it: loopback for a single machine, else the hostname.
  const local = masterAddr === 'localhost' || masterAddr.startsWith('127.') ? '127.0.0.1' : hostname();
  return binding.newGlooGroup(store, rank, worldSize, timeoutMs, local);
}

export class ProcessGroup {
  private constructor(
    readonly rank: number,
    readonly worldSize: number,
    /** Where the tensors of its collectives live: the CPU for Gloo, the rank's GPU for NCCL. */
    readonly device: Device,
    private readonly store: NativeStore,
    /** @internal c10d's process group, for the reducer. */ readonly nativeGroup: NativeGroup,
  ) {}

  /** Joins the group: rank 0 hosts the store; every rank waits for the others up to the timeout. */
  static init(options: GroupOptions): ProcessGroup {
    const { rank, worldSize, masterAddr, masterPort, timeoutMs = 60_000, backend = 'gloo' } = options;
    if (backend !== 'gloo' && backend !== 'nccl')
      throw new Error(`unknown backend '${String(backend)}' (gloo or nccl)`);
    if (!binding.hasGloo)
      throw new Error(
        "this dsdnet addon was built without c10d (Gloo's headers were missing): install libgloo-dev and run npm run build:native",
      );
    if (backend === 'nccl' && !binding.hasNccl) {
      throw new Error(
        "the NCCL backend is not in this dsdnet addon: build it against a CUDA libtorch (LIBTORCH=...) with the CUDA toolkit's and NCCL's headers (CUDA_HOME, NCCL_INCLUDE_DIR); this build has gloo",
      );
    }
    if (!(Number.isInteger(worldSize) && worldSize >= 1 && Number.isInteger(rank) && rank >= 0 && rank < worldSize))
      throw new RangeError(`rank ${rank} of world size ${worldSize} is not a valid position`);
    if (!(Number.isInteger(masterPort) && masterPort >= 1 && masterPort <= 65535))
      throw new RangeError(`master port must be in 1..65535, got ${masterPort}`);
    try {
      const store = binding.newTCPStore(masterAddr, masterPort, worldSize, rank === 0, timeoutMs);
      const group =
        backend === 'nccl'
          ? binding.newNcclGroup!(store, rank, worldSize, timeoutMs)
          : glooGroup(store, options, timeoutMs);
      return new ProcessGroup(rank, worldSize, backend === 'nccl' ? (options.device ?? 'cuda:0') : 'cpu', store, group);
    } catch (error) {
      throw new Error(
        `rank ${rank} of ${worldSize} could not join the group at ${masterAddr}:${masterPort} within ${timeoutMs} ms: ${(error as Error).message}`,
      );
    }
  }

  /** Reduces the tensors in place across ranks (every rank gets the result). */
  allReduce(tensors: readonly Tensor[], op: ReduceOp = 'sum'): void {
    binding.allReduce(
      this.nativeGroup,
      tensors.map((t) => t.handle),
      op,
    );
  }

  /**
   * The sum of `input` over the ranks, differentiably (torch.distributed.nn's all_reduce): the gradient that reaches
   * the result is summed over the ranks on its way back to `input`. Every rank must call it at the same point.
   */
  sumOverRanks(input: Tensor): Tensor {
    const total = noGrad(() => input.clone('contiguous'));
    this.allReduce([total]);
    if (!input.requiresGrad) return total;
    // input - input is exactly zero and carries the gradient to `input`; the hook sums that gradient over the ranks.
    const output = input.sub(input.detach()).add(total);
    binding.sumGradientOverRanks(this.nativeGroup, output.handle);
    return output;
  }

  /** Every rank's tensors take `root`'s values. */
  broadcast(tensors: readonly Tensor[], root = 0): void {
    binding.broadcast(
      this.nativeGroup,
      tensors.map((t) => t.handle),
      root,
    );
  }

  barrier(): void {
    binding.barrier(this.nativeGroup);
  }

  /** A string shared through the store (set by one rank, read by the others; get waits up to the timeout). */
  set(key: string, value: string): void {
    binding.storeSet(this.store, key, value);
  }

  get(key: string): string {
    return binding.storeGet(this.store, key);
  }
}
