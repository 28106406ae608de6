// Nothing of a user's is lost, and a file's settings are as checked as a flag: the run folder is refused when it
// holds something else, sits inside the dataset or cannot be written; SIGTERM and Ctrl-C save and exit non-zero (a
// second one stops at once); flags that contradict each other or do nothing are refused by name; a model file whose
// settings are out of range is refused before any work.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import onnxProto from 'onnx-proto';

import { exportOnnx } from '../src/export/index.js';
import { readSafetensors, writeSafetensors } from '../src/io/index.js';
import { loadModel } from '../src/trained/index.js';
import { makeDataset } from './support/images.js';
import { mountTmpfs } from './support/tmpfs.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-safety-'));
const cacheDir = mkdtempSync(join(tmpdir(), 'dsdnet-cache-'));
const env = { ...process.env, DSDNET_CACHE: cacheDir };
const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
const TINY = [
  '--preset',
  'cpu',
  '--method',
  'plain',
  '--size',
  '32',
  '--epochs',
  '1',
  '--batch-size',
  '6',
  '--ratio',
  '0.5',
  '--threads',
  '2',
  '--quiet',
];

let dataset: string;
let trained: string;
test.before(async () => {
  dataset = await makeDataset(8, [40, 40]);
  trained = join(scratch(), 'run');
  const done = run('train', dataset, ...TINY, '--out', trained);
  assert.equal(done.status, 0, done.stderr);
});

/** Every file under `dir` with its contents, to show that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile())
      files[join(entry.parentPath, entry.name)] = readFileSync(join(entry.parentPath, entry.name), 'latin1');
  }
  return files;
}

test('--out: a folder holding other files, a file, a folder inside the dataset are refused by name and left as they were', () => {
  const mine = scratch();
  writeFileSync(join(mine, 'report.md'), 'my thesis notes\n');
  mkdirSync(join(mine, 'figures'));
  writeFileSync(join(mine, 'figures', 'curves.svg'), '<svg/>');
  const before = snapshot(mine);
  const refused = run('train', dataset, ...TINY, '--out', mine);
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /is not empty and is not a dsdnet run \(it holds "figures", "report\.md"\); choose a new or empty folder for --out/,
  );
  assert.deepEqual(snapshot(mine), before, 'nothing was written');

  const file = join(scratch(), 'notes.txt');
  writeFileSync(file, 'x');
  assert.match(run('train', dataset, ...TINY, '--out', file).stderr, /notes\.txt exists and is not a folder/);

  const inside = join(dataset, 'runs', 'r1');
  const dataBefore = readdirSync(dataset).sort();
  const nested = run('train', dataset, ...TINY, '--out', inside);
  assert.equal(nested.status, 1);
  assert.match(
    nested.stderr,
    /is inside the dataset folder .*: its checkpoints\/ would be scanned as a class; choose an --out outside the dataset/,
  );
  assert.deepEqual(readdirSync(dataset).sort(), dataBefore);

  const empty = scratch();
  const fresh = run('train', dataset, ...TINY, '--out', empty);
  assert.equal(fresh.status, 0, `an empty folder is a way in: ${fresh.stderr}`);
  assert.match(
    run('train', dataset, ...TINY, '--out', empty).stderr,
    /already holds a run; resume it with --resume or choose another --out/,
  );
});

test('--out on a read-only file system is named as such before any work', (t) => {
  const mount = mountTmpfs(2 ** 20, { readOnly: true });
  if (typeof mount === 'string') return t.skip(mount);
  try {
    const refused = run('train', dataset, ...TINY, '--out', join(mount.dir, 'a', 'run'));
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /a\/run: cannot create the run folder: .* is on a read-only file system/);
  } finally {
    mount.unmount();
  }
});

test('flags that contradict each other or change nothing are refused by name; --preset takes names and .json files only', () => {
  const cases: [string[], RegExp][] = [
    [
      ['--split', join(trained, 'split.json'), '--ratio', '0.5'],
      /option '--split <file>' cannot be used with option '--ratio <r>'/,
    ],
    [['--quiet', '--jsonl'], /option '--quiet' cannot be used with option '--jsonl'/],
    [
      ['--method', 'plain', '--ddim-steps', '3'],
      /--method plain trains without self-distillation, so --ddim-steps 3 would change nothing; leave it out or choose --method sd or dsd/,
    ],
    [
      ['--method', 'sd', '--condition', 'student', '--ddim-steps', '2'],
      /--method sd has no diffusion modules, so --condition student, --ddim-steps 2 would change nothing; leave them out or choose --method dsd/,
    ],
    [
      ['--preset', '../package'],
      /--preset '\.\.\/package': give a preset's name \(cpu, finetune, finetune-r50, paper\) or a path to a \.json file/,
    ],
    [['--preset', 'nosuch'], /unknown preset 'nosuch' \(the presets are cpu, finetune, finetune-r50, paper/],
  ];
  for (const [flags, message] of cases) {
    const refused = run('train', dataset, '--epochs', '1', '--size', '32', ...flags, '--out', join(scratch(), 'r'));
    assert.notEqual(refused.status, 0, flags.join(' '));
    assert.match(refused.stderr, message, flags.join(' '));
  }
  const foreign = join(scratch(), 'package.json');
  writeFileSync(foreign, JSON.stringify({ name: 'x', version: '1.0.0', epochs: 3 }));
  assert.match(
    run('train', dataset, '--preset', foreign, '--out', join(scratch(), 'r')).stderr,
    /package\.json: not a dsdnet preset: unknown setting\(s\) "name", "version"/,
  );
});

test("report.md keeps its table whole when a class folder's name holds '|'", async () => {
  const data = await makeDataset(8, [40, 40]);
  renameSync(join(data, 'alpha'), join(data, 'al|pha'));
  const out = join(scratch(), 'run');
  const done = run('train', data, ...TINY, '--out', out);
  assert.equal(done.status, 0, done.stderr);
  const rows = readFileSync(join(out, 'report.md'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| class'));
  assert.equal(rows.length, 3);
  assert.match(rows[0], /^\| al\\\|pha \| \d+ \|/);
  for (const row of rows) assert.equal(row.split(/(?<!\\)\|/).length, 7, row);
});

/** Starts a training that is signalled at its first step; resolves with its exit code and output. */
function trainSignalled(out: string, signals: NodeJS.Signals[]): Promise<{ code: number | null; stderr: string }> {
  const args = [
    cli,
    'train',
    dataset,
    '--out',
    out,
    '--method',
    'plain',
    '--epochs',
    '2',
    '--size',
    '32',
    '--batch-size',
    '2',
    '--ratio',
    '0.5',
    '--threads',
    '1',
    '--jsonl',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let sent = false;
  let [stdout, stderr] = ['', ''];
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (!sent && stdout.includes('"event":"step"')) {
      sent = true;
      for (const signal of signals) child.kill(signal);
    }
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr: stderr + stdout })));
}

test('SIGTERM (a scheduler preempting the job) saves, says so and exits 143; the run resumes', async () => {
  const out = join(scratch(), 'term');
  const stopped = await trainSignalled(out, ['SIGTERM']);
  assert.equal(stopped.code, 143, stopped.stderr);
  assert.match(
    stopped.stderr,
    /interrupted by SIGTERM: saved .*checkpoints\/latest at epoch 1, step \d+; resume with --resume/,
  );
  assert.ok(
    JSON.parse(readFileSync(join(out, 'checkpoints', 'latest', 'checkpoint.json'), 'utf8')).extra.batchInEpoch > 0,
  );
  const resumed = run('train', '--out', out, '--resume', '--quiet');
  assert.equal(resumed.status, 0, resumed.stderr);
});

test('a second stop signal before the save stops at once with its code and says what checkpoints/latest keeps', async () => {
  // Two signals of one kind sent together may merge into one; Ctrl-C then the scheduler's SIGTERM do not.
  // Sent together, they may arrive in either order: the second one's code is the exit code.
  const stopped = await trainSignalled(join(scratch(), 'twice'), ['SIGINT', 'SIGTERM']);
  const second =
    /a second stop signal \((SIGINT|SIGTERM)\): stopped at once without saving; no checkpoint was written yet/.exec(
      stopped.stderr,
    );
  assert.ok(second !== null, stopped.stderr);
  assert.equal(stopped.code, 128 + constants.signals[second[1] as NodeJS.Signals], stopped.stderr);
});

test("a model file's settings are checked against the flags' limits (an input size of 8000, a decode size of 100000) and NaN weights are named", async () => {
  const source = join(trained, 'checkpoints', 'latest', 'model.safetensors');
  const { tensors, metadata } = readSafetensors(source);
  const bare = join(scratch(), 'model.safetensors');
  const { dsdnet: _run, ...weightsOnly } = metadata; // a bare weights file: its size is read from the metadata alone
  writeSafetensors(bare, tensors, { ...weightsOnly, size: '8000', decodeSize: '8000' });
  for (const t of tensors.values()) t.dispose();
  assert.throws(
    () => loadModel(bare),
    /model\.safetensors: its settings cannot be used: input size must be an integer in 32\.\.4096 px, got 8000/,
  );
  const predicted = run('predict', bare, join(dataset, 'alpha', readdirSync(join(dataset, 'alpha'))[0]));
  assert.equal(predicted.status, 1);
  assert.match(predicted.stderr, /input size must be an integer in 32\.\.4096 px, got 8000/);

  const { tensors: weights, metadata: saved } = readSafetensors(source);
  const poisoned = join(scratch(), 'model.safetensors');
  weights.get('fc.weight')!.fill_(NaN);
  writeSafetensors(poisoned, weights, saved);
  for (const t of weights.values()) t.dispose();
  const nan = run('eval', poisoned, dataset);
  assert.equal(nan.status, 1);
  assert.match(
    nan.stderr,
    /model\.safetensors: tensor 'fc\.weight' holds \d+ NaN \/ 0 Inf values; refusing a model that is not finite/,
  );

  const onnxFile = join(scratch(), 'model.onnx');
  const loaded = loadModel(trained);
  const { bytes } = exportOnnx(loaded, trained);
  loaded.model.dispose();
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  for (const prop of model.metadataProps)
    if (prop.key === 'dsdnet') prop.value = JSON.stringify({ ...JSON.parse(prop.value ?? '{}'), decodeSize: 100000 });
  writeFileSync(onnxFile, onnxProto.onnx.ModelProto.encode(model).finish());
  const refused = run(
    'predict',
    onnxFile,
    join(dataset, 'alpha', readdirSync(join(dataset, 'alpha'))[0]),
    '--engine',
    'onnx',
  );
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /model\.onnx: its dsdnet metadata cannot be used: decode size must be an integer in 32\.\.4096 px, got 100000/,
  );
  assert.equal(existsSync(onnxFile), true);
});
