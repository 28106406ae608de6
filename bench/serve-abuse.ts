// Abuse of `dsdnet serve` on loopback, bounded in time: for --seconds, all at once, clients post tiny BMPs declaring
// huge sizes, open uploads and stall, post corrupt images and malformed multipart bodies, while honest clients post a
// real JPEG and a prober asks GET /health every 100-200 ms. The server (an exported random ResNet-18, ONNX Runtime)
// runs with its defaults but shorter timeouts, so that stalled clients are cut off several times within the run.
// Prints the server's peak RSS, /health probes answered, honest requests served and their median latency, and the
// answers each abusive kind got; exits 1 when the RSS goes over --max-rss-mib, a /health probe fails or the server
// exits. The model's temporary folder is removed however the run ends.
// Usage: node dist/bench/serve-abuse.js [--seconds 30] [--max-rss-mib 600]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import sharp from 'sharp';

import { DEFAULT_SCALE } from '../src/data/index.js';
import { exportOnnx } from '../src/export/index.js';
import { createBackbone } from '../src/models/index.js';
import { DEFAULT_MAX_UPLOAD_BYTES } from '../src/serve/server.js';
import { hostileBmp, MALFORMED_MULTIPART } from '../test/support/hostile.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '30' }, 'max-rss-mib': { type: 'string', default: '600' } },
});
const seconds = Math.min(600, Number(values.seconds));
const maxRssMiB = Number(values['max-rss-mib']);
if (!(seconds > 0 && maxRssMiB > 0))
  throw new Error(
    `--seconds and --max-rss-mib must be positive numbers, got '${values.seconds}' and '${values['max-rss-mib']}'`,
  );
const TIMEOUTS = { header: 2, request: 5 };
const MAX_UPLOAD = DEFAULT_MAX_UPLOAD_BYTES;
const CLIENTS = { hostileBmp: 2, stalled: 8, corrupt: 2, honest: 4 };

// The model: a random ResNet-18 for 3 classes at 64 px, exported to ONNX (served without libtorch).
const dir = mkdtempSync(join(tmpdir(), 'dsdnet-abuse-'));
// 'exit' also comes after an uncaught error; a signal would end the process without it.
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(1));
const modelFile = join(dir, 'model.onnx');
const backbone = createBackbone('resnet18', 3);
writeFileSync(
  modelFile,
  exportOnnx(
    {
      model: backbone,
      classNames: ['a', 'b', 'c'],
      backbone: 'resnet18',
      size: 64,
      decodeSize: 73,
      decode: { bands: null, scale: DEFAULT_SCALE },
      source: 'bench',
      info: {},
    },
    dir,
  ).bytes,
);
backbone.dispose();

const port = await new Promise<number>((resolve) => {
  const probe = createNetServer().listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address() as { port: number };
    probe.close(() => resolve(free));
  });
});
const serverArgs = [
  'serve',
  modelFile,
  '--port',
  String(port),
  '--header-timeout',
  String(TIMEOUTS.header),
  '--request-timeout',
  String(TIMEOUTS.request),
];
const server = spawn(process.execPath, [fileURLToPath(new URL('../src/cli/main.js', import.meta.url)), ...serverArgs], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
process.once('exit', () => server.kill('SIGTERM'));
const fail = (reason: string): never => {
  console.log(`FAILED: ${reason}`);
  process.exit(1);
};
let finished = false;
// Whenever the server exits before the run is over (at start, or crashing under abuse), the run fails saying so.
server.once('exit', (code, signal) => finished || fail(`the server exited (${signal ?? `code ${code}`})`));
await new Promise<void>((resolve) =>
  server.stdout!.on('data', (d: Buffer) => d.toString().includes('dsdnet serve:') && resolve()),
);
const url = `http://127.0.0.1:${port}`;
/** A memory field of the server's /proc status in MiB; undefined once the server is gone (its 'exit' handler says so). */
const mib = (field: string): number | undefined => {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) / 1024;
  } catch {
    return undefined;
  }
};
const startRss = mib('VmRSS') ?? fail('the server exited at start');
let peakRss = startRss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, mib('VmRSS') ?? 0)), 50);

/** Answers per kind of request: status code (0: no answer, the connection failed or was closed), or what happened -> count. */
const answers = new Map<string, Map<number | string, number>>();
const record = (kind: string, answer: number | string): void => {
  const counts = answers.get(kind) ?? new Map<number | string, number>();
  counts.set(answer, (counts.get(answer) ?? 0) + 1);
  answers.set(kind, counts);
};
const until = performance.now() + seconds * 1000;
const running = (): boolean => performance.now() < until;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const post = async (contentType: string, body: Uint8Array | string): Promise<number> => {
  try {
    const response = await fetch(`${url}/predict`, {
      method: 'POST',
      headers: { 'Content-Type': contentType },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
};
/** `count` clients, each posting what `next` gives until the run ends. */
const loop = (
  count: number,
  next: (i: number) => { kind: string; contentType: string; body: Uint8Array | string },
): Promise<void>[] =>
  Array.from({ length: count }, async () => {
    for (let i = 0; running(); i++) {
      const { kind, contentType, body } = next(i);
      record(kind, await post(contentType, body));
    }
  });

/** Opens a connection, writes `request` and stops sending; the answer is the status line's code, 0 if the server closed it without one. */
const stallOnce = (request: Buffer): Promise<number | string> =>
  new Promise((resolve) => {
    let answer = '';
    let endOfRun = false;
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const end = setTimeout(() => ((endOfRun = true), socket.destroy()), Math.max(0, until - performance.now()));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(end);
      resolve(endOfRun ? 'still open at the end' : Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? 0));
    });
  });
const partialBody = Buffer.alloc(2 * 2 ** 20, 0xff); // 2 MiB sent of the upload
const STALLS = [
  {
    kind: 'stall: headers never finished',
    request: Buffer.from('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: ima'),
  },
  {
    kind: `stall: 2 MiB of a ${MAX_UPLOAD - 1}-byte upload`,
    request: Buffer.concat([
      Buffer.from(
        `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${MAX_UPLOAD - 1}\r\n\r\n`,
      ),
      partialBody,
    ]),
  },
  {
    kind: 'stall: 2 MiB of a multipart upload',
    request: Buffer.concat([
      Buffer.from(
        `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${MAX_UPLOAD - 1}\r\n\r\n--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
      ),
      partialBody,
    ]),
  },
];

const scene = Uint8Array.from({ length: 320 * 240 * 3 }, (_, i) => (i * 31 + Math.floor(i / 960) * 7) % 256); // a textured photo's size
const honestJpeg = await sharp(scene, { raw: { width: 320, height: 240, channels: 3 } })
  .jpeg()
  .toBuffer();
const corrupt = [
  { kind: 'corrupt: truncated JPEG', contentType: 'image/jpeg', body: honestJpeg.subarray(0, honestJpeg.length >> 1) },
  {
    kind: 'corrupt: random bytes as PNG',
    contentType: 'image/png',
    body: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)),
  },
  ...MALFORMED_MULTIPART.map(({ what, contentType, body }) => ({ kind: `multipart: ${what}`, contentType, body })),
];
const bmp = hostileBmp(30000, 30000);
const latencies: number[] = [];
let probes = 0;
let probesAnswered = 0;
const failedProbes: string[] = [];

await Promise.all([
  ...loop(CLIENTS.hostileBmp, () => ({
    kind: `hostile: ${bmp.length}-byte RLE8 BMP declaring 30000 x 30000`,
    contentType: 'image/bmp',
    body: bmp,
  })),
  ...loop(CLIENTS.corrupt, (i) => corrupt[i % corrupt.length]),
  ...Array.from({ length: CLIENTS.stalled }, async (_, c) => {
    const { kind, request } = STALLS[c % STALLS.length];
    while (running()) record(kind, await stallOnce(request));
  }),
  ...Array.from({ length: CLIENTS.honest }, async () => {
    while (running()) {
      const started = performance.now();
      const answer = await post('image/jpeg', honestJpeg);
      record('honest: JPEG', answer);
      if (answer === 200) latencies.push(performance.now() - started);
    }
  }),
  (async () => {
    while (running()) {
      probes++;
      const started = performance.now();
      try {
        const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
        await response.arrayBuffer();
        if (response.status === 200) probesAnswered++;
        else failedProbes.push(`status ${response.status} after ${(performance.now() - started).toFixed(0)} ms`);
      } catch (error) {
        failedProbes.push(`${(error as Error).name} after ${(performance.now() - started).toFixed(0)} ms`);
      }
      await sleep(100 + Math.random() * 100);
    }
  })(),
]);
clearInterval(sampler);
const highWater = mib('VmHWM') ?? fail('the server exited at the end of the run');
finished = true;
server.kill('SIGTERM');

latencies.sort((a, b) => a - b);
const honest = answers.get('honest: JPEG') ?? new Map();
const counts = (m: Map<number | string, number>): string =>
  [...m].map(([s, c]) => `${s === 0 ? 'no answer' : s}: ${c}`).join(', ');
console.log(`dsdnet ${serverArgs.join(' ')} (defaults otherwise), ${seconds} s on loopback`);
console.log(
  `clients: ${CLIENTS.hostileBmp} hostile BMP, ${CLIENTS.stalled} stalling, ${CLIENTS.corrupt} corrupt / malformed, ${CLIENTS.honest} honest (${honestJpeg.length}-byte 320 x 240 JPEG), 1 /health prober`,
);
console.log(
  `server RSS: ${startRss.toFixed(0)} MiB at start, peak ${peakRss.toFixed(0)} MiB sampled every 50 ms (VmHWM ${highWater.toFixed(0)} MiB); bound ${maxRssMiB} MiB`,
);
console.log(
  `/health: ${probesAnswered} / ${probes} answered${failedProbes.length > 0 ? `; failed: ${failedProbes.slice(0, 5).join('; ')}` : ''}`,
);
console.log(
  `honest: ${honest.get(200) ?? 0} / ${[...honest.values()].reduce((a, b) => a + b, 0)} served (${counts(honest)}), median ${latencies.length > 0 ? latencies[latencies.length >> 1].toFixed(0) : '-'} ms`,
);
console.log('| abusive kind | requests | answers |\n|---|---|---|');
for (const [kind, m] of answers)
  if (kind !== 'honest: JPEG')
    console.log(`| ${kind} | ${[...m.values()].reduce((a, b) => a + b, 0)} | ${counts(m)} |`);
const failures = [
  ...(peakRss > maxRssMiB ? [`peak RSS ${peakRss.toFixed(0)} MiB is over the bound of ${maxRssMiB} MiB`] : []),
  ...(failedProbes.length > 0 ? [`${failedProbes.length} /health probes failed`] : []),
];
if (failures.length > 0) fail(failures.join('; '));
