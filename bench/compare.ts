// Shared machinery for benchmarks against the PyTorch peer: run worker processes alternately, collect their timings
// and peak RSS, and print medians and ratios.
import { spawnSync } from 'node:child_process';

export interface WorkerResult {
  times: number[];
  peakRssMiB: number;
}

export interface Side {
  name: string;
  command: string;
  args: (caseArgs: string[]) => string[];
}

export interface CaseResult {
  label: string;
  ours: WorkerResult[];
  peer: WorkerResult[];
}

export const PYTHON = process.env.DSDNET_PYTHON ?? '/usr/bin/python3';

export function runWorker(side: Side, caseArgs: string[]): WorkerResult {
  const result = spawnSync(side.command, side.args(caseArgs), { encoding: 'utf8', maxBuffer: 1 << 24 });
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

/** Runs every case `rounds` times, ours and the peer's alternating (and swapping who goes first each round). */
export function runAlternating(cases: { label: string; args: string[] }[], ours: Side, peer: Side, rounds: number): CaseResult[] {
  const results = cases.map((c) => ({ label: c.label, ours: [] as WorkerResult[], peer: [] as WorkerResult[] }));
  for (let round = 0; round < rounds; round++) {
    cases.forEach((c, i) => {
      const order: [Side, WorkerResult[]][] = [
        [ours, results[i].ours],
        [peer, results[i].peer],
      ];
      if (round % 2 === 1) order.reverse();
      for (const [side, into] of order) {
        const r = runWorker(side, c.args);
        into.push(r);
        process.stderr.write(`round ${round + 1}/${rounds} ${c.label} ${side.name}: median ${median(r.times).toFixed(4)} s\n`);
      }
    });
  }
  return results;
}

export function table(results: CaseResult[], peerName: string): string {
  const lines = [
    `| case | dsdnet median (s) | ${peerName} median (s) | time ratio | dsdnet peak RSS (MiB) | ${peerName} peak RSS (MiB) | RSS ratio |`,
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const ours = median(r.ours.flatMap((w) => w.times));
    const peer = median(r.peer.flatMap((w) => w.times));
    const oursRss = Math.max(...r.ours.map((w) => w.peakRssMiB));
    const peerRss = Math.max(...r.peer.map((w) => w.peakRssMiB));
    lines.push(
      `| ${r.label} | ${ours.toFixed(3)} | ${peer.toFixed(3)} | ${(ours / peer).toFixed(3)} | ${oursRss.toFixed(0)} | ${peerRss.toFixed(0)} | ${(oursRss / peerRss).toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}
