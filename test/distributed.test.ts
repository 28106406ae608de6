// c10d through the binding, on loopback: ranks in separate processes rendezvous through a TCPStore and run Gloo
// collectives; a rank that never comes makes the others fail within the timeout, naming the rank.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { backends, ProcessGroup } from '../src/distributed/index.js';
import { makeSeparableDataset } from './support/images.js';

const worker = fileURLToPath(new URL('./support/dist-worker.js', import.meta.url));
const dpWorker = fileURLToPath(new URL('./support/dp-worker.js', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function rank(
  rankNumber: number,
  worldSize: number,
  port: number,
  timeoutMs = 30_000,
  script = worker,
  args: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    RANK: String(rankNumber),
    WORLD_SIZE: String(worldSize),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
    DSDNET_DIST_TIMEOUT_MS: String(timeoutMs),
    DSDNET_NUM_THREADS: '1',
  };
  const child = spawn(process.execPath, [script, ...args], { env });
  let [stdout, stderr] = ['', ''];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

test('two ranks on loopback: all-reduce (sum, max), broadcast, barrier and the store', async () => {
  const port = await freePort();
  const results = await Promise.all([rank(0, 2, port), rank(1, 2, port)]);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  for (const [i, r] of results.entries()) {
    assert.deepEqual(JSON.parse(r.stdout), {
      rank: i,
      summed: [3, 30],
      largest: [4],
      broadcast: [
        [1, 1],
        [1, 1],
      ],
      greeting: 'from rank 0',
    });
  }
});

test(
  'an addon built without NCCL refuses the backend with a message saying how to get it, before any rendezvous',
  { skip: backends().includes('nccl') && 'this addon has NCCL' },
  () => {
    assert.deepEqual(backends(), ['gloo']);
    assert.throws(
      () => ProcessGroup.init({ rank: 0, worldSize: 2, masterAddr: '127.0.0.1', masterPort: 1, backend: 'nccl' }),
      /NCCL backend is not in this dsdnet addon: build it against a CUDA libtorch \(LIBTORCH=\.\.\.\) with the CUDA toolkit's and NCCL's headers \(CUDA_HOME, NCCL_INCLUDE_DIR\); this build has gloo/,
    );
    assert.throws(
      () =>
        ProcessGroup.init({ rank: 0, worldSize: 2, masterAddr: '127.0.0.1', masterPort: 1, backend: 'mpi' as 'gloo' }),
      /unknown backend 'mpi' \(gloo or nccl\)/,
    );
  },
);

test('a rank that never joins: the others fail within the timeout with an error naming their rank', async () => {
  const port = await freePort();
  const started = Date.now();
  const lonely = await rank(0, 2, port, 2000);
  assert.notEqual(lonely.code, 0);
  assert.match(lonely.stderr, /rank 0 of 2 could not join the group at 127\.0\.0\.1:\d+ within 2000 ms/);
  assert.ok(Date.now() - started < 20_000, `failed after ${Date.now() - started} ms`);
});

for (const [mode, what] of [
  ['overlap', 'all-reduce overlapping backward (c10d Reducer)'],
  ['after', 'all-reduce after backward'],
  ['unused', 'overlap, with a layer the loss never reaches'],
  ['syncbn', 'SyncBatchNorm against BatchNorm on the whole batch'],
]) {
  test(`data parallel, ${what}: 2 ranks x batch 16 end with the parameters and buffers of 1 rank x batch 32 (rank 0 weights broadcast first)`, async () => {
    const single = await rank(0, 1, await freePort(), 30_000, dpWorker, [mode]);
    const port = await freePort();
    const pair = await Promise.all([
      rank(0, 2, port, 30_000, dpWorker, [mode]),
      rank(1, 2, port, 30_000, dpWorker, [mode]),
    ]);
    for (const r of [single, ...pair]) assert.equal(r.code, 0, r.stderr);
    const [reference, ...ranks] = [single, ...pair].map((r) => (JSON.parse(r.stdout) as number[][]).flat());
    for (const [i, params] of ranks.entries()) {
      const difference = params.reduce((m, v, k) => Math.max(m, Math.abs(v - reference[k])), 0);
      console.log(
        `${mode}: rank ${i} of 2 against one process with the whole batch: max abs parameter difference ${difference.toExponential(2)}`,
      );
      assert.ok(difference < 1e-6, `rank ${i}: ${difference}`);
    }
  });
}

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Runs `dsdnet train` with the given arguments; `onStdout` sees rank 0's output (through the launcher) as it comes. */
function launch(
  args: string[],
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void,
  options: { ownGroup?: boolean } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  // ownGroup: the launcher leads a process group, as a shell's job does, so that the test can signal it as a terminal would.
  const child = spawn(process.execPath, [cli, 'train', ...args], {
    env: { ...process.env, DSDNET_DIST_TIMEOUT_MS: '15000' },
    detached: options.ownGroup === true,
  });
  let [stdout, stderr] = ['', ''];
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    onStdout?.(stdout, child);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr, pid: child.pid! })));
}

/** The pid of the launcher's worker with the given RANK. */
function workerPid(launcherPid: number, rankNumber: number): number | undefined {
  const children = readFileSync(`/proc/${launcherPid}/task/${launcherPid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  return children.find((pid) =>
    readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`RANK=${rankNumber}`),
  );
}

/** A small UC Merced subset (3 classes x 8 images, linked) when ../shared is there; generated scenes otherwise. */
async function smallDataset(): Promise<string> {
  const ucmerced = fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
  if (!existsSync(ucmerced)) return makeSeparableDataset(8);
  const root = mkdtempSync(join(tmpdir(), 'dsdnet-ucm-subset-'));
  for (const name of ['beach', 'forest', 'harbor']) {
    mkdirSync(join(root, name));
    for (const file of readdirSync(join(ucmerced, name)).sort().slice(0, 8))
      symlinkSync(join(ucmerced, name, file), join(root, name, file));
  }
  return root;
}

test("dsdnet train --nproc-per-node 2 --sync-bn: trains, a terminal's Ctrl-C (to the whole job) stops both ranks at the same step after saving, --resume finishes it in one process", async () => {
  const data = await smallDataset();
  const out = join(mkdtempSync(join(tmpdir(), 'dsdnet-dist-')), 'run');
  const common = [
    data,
    '--preset',
    'cpu',
    '--method',
    'dsd',
    '--size',
    '32',
    '--epochs',
    '3',
    '--batch-size',
    '4',
    '--ratio',
    '0.5',
    '--out',
    out,
  ];
  let sent = false;
  const first = await launch(
    [...common, '--nproc-per-node', '2', '--sync-bn', '--master-port', String(await freePort()), '--jsonl'],
    (text, child) => {
      if (!sent && text.includes('"event":"epoch"')) {
        sent = true;
        process.kill(-child.pid!, 'SIGINT'); // the terminal signals the job's process group
      }
    },
    { ownGroup: true },
  );
  assert.equal(first.code, 130, `both ranks saved and the launcher exits with 128 + SIGINT: ${first.stderr}`);
  assert.doesNotMatch(
    first.stderr,
    /stopping the other ranks/,
    'a rank stopped by the signal passed on is not a failure',
  );
  assert.match(
    first.stdout,
    /interrupted by SIGINT: saved \S+checkpoints\/latest/,
    'rank 0 saved before exiting (one SIGINT reached it)',
  );
  assert.doesNotMatch(first.stdout + first.stderr, /a second stop signal/);
  const saved = JSON.parse(readFileSync(join(out, 'checkpoints', 'latest', 'checkpoint.json'), 'utf8'));
  assert.ok(saved.epoch >= 1, 'saved after the first epoch');
  assert.equal(existsSync(join(out, 'report.json')), false);
  const resumed = await launch(['--out', out, '--resume', '--quiet']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /final: OA \d+\.\d+%/);
  assert.equal(
    readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length,
    3,
    'one line per epoch, written by rank 0 only',
  );
  assert.ok(existsSync(join(out, 'report.json')), 'the report is written');
});

test('a rank killed mid-run: the launcher stops the other, exits non-zero naming it, and the last checkpoint stays valid', async () => {
  const data = await makeSeparableDataset(8);
  const out = join(mkdtempSync(join(tmpdir(), 'dsdnet-dist-')), 'run');
  let killed = false;
  const workers: number[] = [];
  const result = await launch(
    [
      data,
      '--preset',
      'cpu',
      '--method',
      'plain',
      '--size',
      '32',
      '--epochs',
      '8', // the kill lands during epoch 2; the resumed run trains the rest
      '--batch-size',
      '4',
      '--ratio',
      '0.5',
      '--out',
      out,
      '--nproc-per-node',
      '2',
      '--master-port',
      String(await freePort()),
      '--jsonl',
    ],
    (text, child) => {
      if (!killed && text.includes('"event":"epoch"')) {
        const victim = workerPid(child.pid!, 1);
        const survivor = workerPid(child.pid!, 0);
        if (victim !== undefined && survivor !== undefined) {
          workers.push(victim, survivor);
          killed = true;
          process.kill(victim, 'SIGKILL');
        }
      }
    },
  );
  assert.ok(killed, 'rank 1 was found and killed');
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /dsdnet launch: rank 1 was killed by SIGKILL; stopping the other ranks\. The last checkpoint is kept: continue with dsdnet train --resume --out \S+ --nproc-per-node 2/,
  );
  assert.doesNotMatch(result.stderr, /dsdnet: \[[^\]]*pair\.cc/, "the survivor does not print Gloo's raw text");
  assert.match(
    result.stderr,
    /rank 0 of 2: [^\n]* failed, most likely because another rank stopped \(its own output says why; c10d: /,
    'the survivor says what happened',
  );
  console.log(
    result.stderr
      .split('\n')
      .filter((line) => line.includes('rank 0 of 2'))
      .join('\n'),
  );
  for (const pid of [result.pid, ...workers]) assert.equal(existsSync(`/proc/${pid}`), false, `process ${pid} is gone`);
  const checkpoint = JSON.parse(readFileSync(join(out, 'checkpoints', 'latest', 'checkpoint.json'), 'utf8'));
  assert.ok(checkpoint.epoch >= 1);
  const resumed = await launch(['--out', out, '--resume', '--quiet', '--epochs', '8']);
  assert.equal(resumed.code, 0, `the checkpoint resumes: ${resumed.stderr}`);
});

test('a launcher killed outright (SIGKILL) takes its workers with it: they save between steps and exit', async () => {
  const data = await makeSeparableDataset(8);
  const out = join(mkdtempSync(join(tmpdir(), 'dsdnet-dist-')), 'run');
  const workers: number[] = [];
  const result = await launch(
    [
      data,
      '--preset',
      'cpu',
      '--method',
      'plain',
      '--size',
      '32',
      '--epochs',
      '1000',
      '--batch-size',
      '4',
      '--ratio',
      '0.5',
      '--out',
      out,
      '--nproc-per-node',
      '2',
      '--master-port',
      String(await freePort()),
      '--jsonl',
    ],
    (text, child) => {
      if (workers.length === 0 && text.includes('"event":"epoch"')) {
        const pids = [workerPid(child.pid!, 0), workerPid(child.pid!, 1)];
        if (pids.every((p) => p !== undefined)) {
          workers.push(...(pids as number[]));
          child.kill('SIGKILL');
        }
      }
    },
  );
  assert.equal(result.code, null, 'the launcher was killed');
  assert.equal(workers.length, 2, 'both workers were found');
  // Left alone they would train for minutes; stopping takes a step and a save.
  const deadline = Date.now() + 10_000;
  while (workers.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  for (const pid of workers) assert.equal(existsSync(`/proc/${pid}`), false, `worker ${pid} exited with its launcher`);
  assert.ok(
    JSON.parse(readFileSync(join(out, 'checkpoints', 'latest', 'checkpoint.json'), 'utf8')).epoch >= 1,
    'the last checkpoint stays valid',
  );
});
