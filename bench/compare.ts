// Shared machinery for benchmarks against the PyTorch peer: run worker processes alternately, collect their timings
// and peak RSS, and print medians and ratios.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import type { WorkerMode } from './worker-loop.js';

export interface WorkerResult {
  times: number[];
  peakRssMiB: number;
}

export interface Side {
  name: string;
  command: string;
  args: (caseArgs: string[]) => string[];
  env?: Record<string, string>;
}

export interface CaseResult {
  label: string;
  /** Worker results per side name. */
  bySide: Map<string, WorkerResult[]>;
}

export const PYTHON = process.env.DSDNET_PYTHON ?? '/usr/bin/python3';

/** glibc settings equivalent to what dsdnet's addon sets with mallopt (freed memory kept in the heap), for a peer. */
export const PEER_MALLOC_TUNABLES = 'glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647';

export function runWorker(side: Side, caseArgs: string[]): WorkerResult {
  const result = spawnSync(side.command, side.args(caseArgs), {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    env: { ...process.env, ...side.env },
  });
  if (result.status !== 0) {
    throw new Error(`${side.name} worker failed (${side.command} ${side.args(caseArgs).join(' ')}):\n${result.stderr}`);
  }
  const lastLine = result.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(lastLine) as WorkerResult;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs every case `rounds` times on every side, alternating sides and rotating who goes first each round. */
export function runAlternating(cases: { label: string; args: string[] }[], sides: Side[], rounds: number): CaseResult[] {
  const results: CaseResult[] = cases.map((c) => ({ label: c.label, bySide: new Map(sides.map((s) => [s.name, []])) }));
  for (let round = 0; round < rounds; round++) {
    cases.forEach((c, i) => {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(k + round) % sides.length];
        const r = runWorker(side, c.args);
        results[i].bySide.get(side.name)!.push(r);
        process.stderr.write(`round ${round + 1}/${rounds} ${c.label} ${side.name}: median ${median(r.times).toFixed(4)} s\n`);
      }
    });
  }
  return results;
}

/** A markdown table: for each case and each peer, our median time and peak RSS against the peer's. */
export function table(results: CaseResult[], ours: string, peers: string[]): string {
  const lines = [
    `| case | peer | ${ours} median (s) | peer median (s) | time ratio | ${ours} peak RSS (MiB) | peer peak RSS (MiB) | RSS ratio |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  // Time: median over every timed step of every run. Peak RSS: median over runs of each process's peak.
  const stats = (runs: WorkerResult[]): [number, number] => [median(runs.flatMap((w) => w.times)), median(runs.map((w) => w.peakRssMiB))];
  for (const r of results) {
    const [t, rss] = stats(r.bySide.get(ours)!);
    for (const peer of peers) {
      const [pt, prss] = stats(r.bySide.get(peer)!);
      lines.push(
        `| ${r.label} | ${peer} | ${t.toFixed(3)} | ${pt.toFixed(3)} | ${(t / pt).toFixed(3)} | ${rss.toFixed(0)} | ${prss.toFixed(0)} | ${(rss / prss).toFixed(2)} |`,
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
}

/**
 * Runs a benchmark: our worker script against torchvision in PyTorch, stock and with our allocation policy, every
 * case alternating. Options: --rounds 3 --iters 10 --warmup 3 --threads 2.
 */
export function runBenchmark(title: string, workerFile: string, cases: BenchCase[]): void {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      iters: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      threads: { type: 'string', default: '2' },
    },
  });
  const worker = fileURLToPath(new URL(workerFile, import.meta.url));
  const peerScript = fileURLToPath(new URL('../../bench/peer_torch.py', import.meta.url));
  const tail = [values.warmup!, values.iters!, values.threads!];
  const ours: Side = { name: 'dsdnet', command: process.execPath, args: (a) => [worker, ...a, ...tail] };
  const peers: Side[] = [
    { name: 'PyTorch', command: PYTHON, args: (a) => [peerScript, ...a, ...tail] },
    { name: 'PyTorch + same malloc policy', command: PYTHON, args: (a) => [peerScript, ...a, ...tail], env: { GLIBC_TUNABLES: PEER_MALLOC_TUNABLES } },
  ];
  const specs = cases.map((c) => ({ label: c.label, args: [c.mode, c.model, String(c.size), String(c.batch)] }));
  const results = runAlternating(specs, [ours, ...peers], Number(values.rounds));
  console.log(`${title}; ${values.threads} threads, ${values.rounds} rounds x ${values.iters} timed steps (after ${values.warmup} warm-up) per side`);
  console.log(table(results, ours.name, peers.map((p) => p.name)));
}
