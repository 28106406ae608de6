// Shared machinery for benchmarks against the PyTorch peer: run worker processes alternately, collect their timings
// and peak RSS, and print medians and ratios.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { preferredCpuCapability } from '../src/torch/cpu.js';
import type { WorkerMode } from './worker-loop.js';

export interface WorkerResult {
  times: number[];
  peakRssMiB: number;
}

/** A worker that could not run the case (e.g. an op PyTorch lacks in bf16): its error's last line. */
export interface WorkerFailure {
  failed: string;
}

export type WorkerOutcome = WorkerResult | WorkerFailure;

export interface Side {
  name: string;
  command: string;
  args: (caseArgs: string[]) => string[];
  env?: Record<string, string>;
}

export interface CaseResult {
  label: string;
  /** Worker results per side name. */
  bySide: Map<string, WorkerOutcome[]>;
}

export const PYTHON = process.env.DSDNET_PYTHON ?? '/usr/bin/python3';

/** glibc settings equivalent to what dsdnet's addon sets with mallopt (freed memory kept in the heap), for a peer. */
export const PEER_MALLOC_TUNABLES = 'glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647';

export const PEER_SAME_MALLOC = 'PyTorch + same malloc policy';
export const PEER_SAME_SETTINGS = 'PyTorch + same malloc policy and ATen kernels';

export function runWorker(side: Side, caseArgs: string[]): WorkerOutcome {
  const result = spawnSync(side.command, side.args(caseArgs), {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    env: { ...process.env, ...side.env },
  });
  if (result.status !== 0) {
    const lines = result.stderr.trim().split('\n');
    process.stderr.write(
      `${side.name} worker failed (${side.command} ${side.args(caseArgs).join(' ')}):\n${lines.slice(-5).join('\n')}\n`,
    );
    return { failed: lines[lines.length - 1] ?? `exit status ${result.status}` };
  }
  const lastLine = result.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(lastLine) as WorkerResult;
}

/** The worker's result; a failure is an error here (benchmarks whose sides must all run). */
export function succeeded(outcome: WorkerOutcome): WorkerResult {
  if ('failed' in outcome) throw new Error(`a benchmark worker failed: ${outcome.failed}`);
  return outcome;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs every case `rounds` times on every side, alternating sides and rotating who goes first each round. */
export function runAlternating(
  cases: { label: string; args: string[] }[],
  sides: Side[],
  rounds: number,
): CaseResult[] {
  const results: CaseResult[] = cases.map((c) => ({ label: c.label, bySide: new Map(sides.map((s) => [s.name, []])) }));
  for (let round = 0; round < rounds; round++) {
    cases.forEach((c, i) => {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(k + round) % sides.length];
        const r = runWorker(side, c.args);
        results[i].bySide.get(side.name)!.push(r);
        process.stderr.write(
          `round ${round + 1}/${rounds} ${c.label} ${side.name}: ${'failed' in r ? 'failed' : `median ${median(r.times).toFixed(4)} s`}\n`,
        );
      }
    });
  }
  return results;
}

/** Median over every timed step of every run and median peak RSS over runs, or the failure if any run failed. */
export function summarizeSide(runs: readonly WorkerOutcome[]): { seconds: number; rssMiB: number } | WorkerFailure {
  const failure = runs.find((r): r is WorkerFailure => 'failed' in r);
  if (failure) return failure;
  const ok = runs as WorkerResult[];
  return { seconds: median(ok.flatMap((w) => w.times)), rssMiB: median(ok.map((w) => w.peakRssMiB)) };
}

/** A markdown table: for each case and each peer, our median time and peak RSS against the peer's. */
export function table(results: CaseResult[], ours: string, peers: string[]): string {
  const lines = [
    `| case | peer | ${ours} median (s) | peer median (s) | time ratio | ${ours} peak RSS (MiB) | peer peak RSS (MiB) | RSS ratio |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const mine = summarizeSide(r.bySide.get(ours)!);
    for (const peer of peers) {
      const theirs = summarizeSide(r.bySide.get(peer)!);
      const cells = (x: typeof mine): [string, string] =>
        'failed' in x ? [`fails: ${x.failed.slice(0, 80)}`, '-'] : [x.seconds.toFixed(3), x.rssMiB.toFixed(0)];
      const [t, rss] = cells(mine);
      const [pt, prss] = cells(theirs);
      const ratio = (a: number | undefined, b: number | undefined, digits: number): string =>
        a !== undefined && b !== undefined ? (a / b).toFixed(digits) : '-';
      const secs = (x: typeof mine): number | undefined => ('failed' in x ? undefined : x.seconds);
      const mib = (x: typeof mine): number | undefined => ('failed' in x ? undefined : x.rssMiB);
      lines.push(
        `| ${r.label} | ${peer} | ${t} | ${pt} | ${ratio(secs(mine), secs(theirs), 3)} | ${rss} | ${prss} | ${ratio(mib(mine), mib(theirs), 2)} |`,
      );
    }
  }
  return lines.join('\n');
}

export interface BenchCase {
  label: string;
  mode: WorkerMode;
  model: string;
  size: number;
  batch: number;
  /** Default fp32. */
  precision?: 'fp32' | 'bf16';
  /** Default contiguous (NCHW). */
  layout?: 'contiguous' | 'channelsLast';
}

/** The options of the benchmarks that alternate worker processes (--only TEXT: the cases whose label contains TEXT). */
export const ALTERNATING_OPTIONS = {
  rounds: { type: 'string', default: '3' },
  iters: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '3' },
  threads: { type: 'string', default: '2' },
  only: { type: 'string' },
} as const;

/**
 * Runs a benchmark: our worker script against torchvision in PyTorch, stock, with our allocation policy, and, where
 * dsdnet asks libtorch for other ATen kernels than PyTorch picks (AVX-512), with both; every case alternating. On a
 * GPU the peer is stock PyTorch alone (the allocation policy and the kernels are the CPU's matters).
 * Options: --rounds 3 --iters 10 --warmup 3 --threads 2 --device cpu (or the `device` given here).
 */
export function runBenchmark(
  title: string,
  workerFile: string,
  cases: BenchCase[],
  defaults: { device?: string } = {},
): CaseResult[] {
  const { values } = parseArgs({
    options: { ...ALTERNATING_OPTIONS, device: { type: 'string', default: defaults.device ?? 'cpu' } },
  });
  const only = values.only;
  const selected = only === undefined ? cases : cases.filter((c) => c.label.includes(only));
  if (selected.length === 0)
    throw new Error(`--only '${only}' matches no case; the cases are:\n${cases.map((c) => `  ${c.label}`).join('\n')}`);
  const worker = fileURLToPath(new URL(workerFile, import.meta.url));
  const peerScript = fileURLToPath(new URL('../../bench/peer_torch.py', import.meta.url));
  const onCpu = values.device === 'cpu';
  const tail = [values.warmup!, values.iters!, values.threads!, values.device!];
  const ours: Side = { name: 'dsdnet', command: process.execPath, args: (a) => [worker, ...a, ...tail] };
  const peer = (name: string, env?: Record<string, string>): Side => ({
    name,
    command: PYTHON,
    args: (a) => [peerScript, ...a, ...tail],
    env,
  });
  // PyTorch sees the user's ATEN_CPU_CAPABILITY as we do; only our own default differs from its.
  const capability = process.env.ATEN_CPU_CAPABILITY || !onCpu ? undefined : preferredCpuCapability();
  const peers: Side[] = [
    peer('PyTorch'),
    ...(onCpu ? [peer(PEER_SAME_MALLOC, { GLIBC_TUNABLES: PEER_MALLOC_TUNABLES })] : []),
    ...(capability === undefined
      ? []
      : [peer(PEER_SAME_SETTINGS, { GLIBC_TUNABLES: PEER_MALLOC_TUNABLES, ATEN_CPU_CAPABILITY: capability })]),
  ];
  const specs = selected.map((c) => ({
    label: c.label,
    args: [c.mode, c.model, String(c.size), String(c.batch), c.precision ?? 'fp32', c.layout ?? 'contiguous'],
  }));
  const results = runAlternating(specs, [ours, ...peers], Number(values.rounds));
  console.log(
    `${title}; ${onCpu ? `${values.threads} threads` : values.device}, ${values.rounds} rounds x ${values.iters} timed steps (after ${values.warmup} warm-up) per side`,
  );
  console.log(
    table(
      results,
      ours.name,
      peers.map((p) => p.name),
    ),
  );
  return results;
}
