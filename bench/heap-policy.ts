// The heap policy of the commands that compute: `dsdnet eval` of a run on its test split, with freed memory kept in the
// heap (the default of every command but serve) against glibc's own policy (DSDNET_MALLOC=system), alternating, whole commands timed
// (start, decoding, scoring) with their peak RSS. A forward pass frees its activations when its scope ends; with
// glibc's policy every large one goes back to the kernel and the next batch page-faults it in afresh.
// Usage: node dist/bench/heap-policy.js RUN DATA [--rounds 3] [--precision fp32|bf16]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' }, precision: { type: 'string', default: 'fp32' } },
});
if (positionals.length !== 2) throw new Error('usage: node dist/bench/heap-policy.js RUN DATA [--rounds 3]');
const [run, data] = positionals;
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const policies = [
  { name: 'kept in the heap (default)', env: {} },
  { name: "glibc's (DSDNET_MALLOC=system)", env: { DSDNET_MALLOC: 'system' } },
];
const seconds = policies.map((): number[] => []);
const peaks = policies.map((): number[] => []);
for (let round = 0; round < Number(values.rounds); round++) {
  policies.forEach((policy, i) => {
    const started = performance.now();
    // GNU time's %M: the command's peak resident set, in KiB.
    const result = spawnSync(
      '/usr/bin/time',
      ['-f', 'peak %M', process.execPath, cli, 'eval', run, data, '--precision', values.precision!],
      { encoding: 'utf8', env: { ...process.env, ...policy.env } },
    );
    if (result.status !== 0) throw new Error(`${policy.name}: dsdnet eval failed: ${result.stderr}`);
    seconds[i].push((performance.now() - started) / 1000);
    peaks[i].push(Number(/peak (\d+)/.exec(result.stderr)![1]) / 1024);
    console.log(
      `round ${round + 1}, ${policy.name}: ${seconds[i].at(-1)!.toFixed(1)} s, peak RSS ${peaks[i].at(-1)!.toFixed(0)} MiB`,
    );
  });
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(`\ndsdnet eval ${run} (${values.precision}), medians of ${values.rounds} rounds:`);
console.log('| heap policy | seconds | peak RSS (MiB) |\n|---|---|---|');
policies.forEach((p, i) =>
  console.log(`| ${p.name} | ${median(seconds[i]).toFixed(1)} | ${median(peaks[i]).toFixed(0)} |`),
);
console.log(`glibc's / kept: ${(median(seconds[1]) / median(seconds[0])).toFixed(2)}x the time`);
