// Load test of `dsdnet serve` on loopback: N concurrent clients post a JPEG for a fixed time (after 10 s of the same
// load as warm-up); requests per second, latency percentiles, errors, and the server's RSS at start and end and every
// 10 s. Bounded in clients and time.
// Usage: node dist/bench/serve-load.js MODEL IMAGE [--clients 8] [--seconds 60] [--port 8097] [--serve-arg=--engine=libtorch ...]
// (--serve-arg: passed on to `dsdnet serve`, e.g. the engine)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '60' },
    port: { type: 'string', default: '8097' },
    'serve-arg': { type: 'string', multiple: true, default: [] },
  },
});
const [model, imageFile] = positionals;
if (!model || !imageFile)
  throw new Error('usage: node dist/bench/serve-load.js MODEL IMAGE [--clients 8] [--seconds 60]');
const clients = Math.min(64, Number(values.clients));
const seconds = Math.min(600, Number(values.seconds));
const url = `http://127.0.0.1:${values.port}`;
const image = readFileSync(imageFile);

const server = spawn(
  process.execPath,
  [
    fileURLToPath(new URL('../src/cli/main.js', import.meta.url)),
    'serve',
    model,
    '--port',
    values.port!,
    ...values['serve-arg']!,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
await new Promise<void>((resolve, reject) => {
  server.stdout!.on('data', (d: Buffer) => d.toString().includes('dsdnet serve:') && resolve());
  server.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
});
const rssMiB = (): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]) / 1024;

const post = async (): Promise<number> => {
  const response = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'Content-Type': 'image/jpeg' },
    body: image,
  });
  await response.arrayBuffer();
  return response.status;
};
/** `clients` loops posting until `until`; each request's latency and status recorded when `record` is given. */
const load = (until: number, record?: (ms: number, status: number) => void): Promise<void[]> =>
  Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const started = performance.now();
        const status = await post().catch(() => 0);
        record?.(performance.now() - started, status);
      }
    }),
  );
await load(performance.now() + 10_000); // warm-up under the same concurrency: buffers, threads, arenas
const startRss = rssMiB();
const rssSeries: number[] = [];
const sampler = setInterval(() => rssSeries.push(rssMiB()), 10_000);
const latencies: number[] = [];
const statuses = new Map<number, number>();
await load(performance.now() + seconds * 1000, (ms, status) => {
  latencies.push(ms);
  statuses.set(status, (statuses.get(status) ?? 0) + 1);
});
clearInterval(sampler);
const endRss = rssMiB();
server.kill('SIGTERM');
latencies.sort((a, b) => a - b);
const pct = (q: number): string =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(0);
const errors = [...statuses].filter(([s]) => s !== 200).reduce((n, [, c]) => n + c, 0);
console.log(
  `dsdnet serve ${[model, ...values['serve-arg']!].join(' ')}: ${clients} clients for ${seconds} s on loopback, one ${image.length}-byte JPEG per request`,
);
console.log(
  '| requests | requests/s | p50 (ms) | p95 (ms) | p99 (ms) | errors | statuses | RSS start (MiB) | RSS end (MiB) |\n|---|---|---|---|---|---|---|---|---|',
);
console.log(
  `| ${latencies.length} | ${(latencies.length / seconds).toFixed(1)} | ${pct(0.5)} | ${pct(0.95)} | ${pct(0.99)} | ${errors} | ${[...statuses].map(([s, c]) => `${s}: ${c}`).join(', ')} | ${startRss.toFixed(0)} | ${endRss.toFixed(0)} |`,
);
console.log(`server RSS every 10 s (MiB): ${[startRss, ...rssSeries, endRss].map((v) => v.toFixed(0)).join(', ')}`);
