// Bad input through the command line, as a user meets it: each case gets an error naming the file, folder or flag
// (and what to do) before expensive work where it can, or is left out on request, and loses nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { encodeBlankRleBmp } from './support/bmp.js';
import { encode, makeDataset, pixels } from './support/images.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const cacheDir = mkdtempSync(join(tmpdir(), 'dsdnet-cache-'));
const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-run-'));
const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, DSDNET_CACHE: cacheDir } });
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
let truncated: Uint8Array;
test.before(async () => {
  dataset = await makeDataset(8, [40, 40]);
  const jpeg = await encode('jpg', pixels(64, 64, 3), 64, 64);
  truncated = jpeg.subarray(0, Math.floor(jpeg.length / 2));
  writeFileSync(join(dataset, 'alpha', 'cut.jpg'), truncated);
});

test('a file that fails to decode: train names it and writes nothing; --skip-bad trains without it', () => {
  const out = join(scratch(), 'run');
  const failed = run('train', dataset, ...TINY, '--out', out);
  assert.equal(failed.status, 1);
  assert.match(
    failed.stderr,
    /1 image file\(s\) could not be decoded \(the others stay cached; leave these out with --skip-bad\):\n {2}alpha\/cut\.jpg: corrupt or unreadable JPEG image/,
  );
  assert.equal(existsSync(out), false, 'no run folder is created');
  const skipped = run('train', dataset, ...TINY, '--out', out, '--skip-bad');
  assert.equal(skipped.status, 0, skipped.stderr);
  const split = JSON.parse(readFileSync(join(out, 'split.json'), 'utf8')) as {
    train: { path: string }[];
    test: { path: string }[];
  };
  assert.equal(split.train.length + split.test.length, 24);
  assert.ok(![...split.train, ...split.test].some((e) => e.path === 'alpha/cut.jpg'));
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).skipBad, true);
});

test('data inspect --decode finds files that fail to decode; with --skip-bad it lists them', () => {
  const failed = run('data', 'inspect', dataset, '--decode', '--size', '16');
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, /alpha\/cut\.jpg: corrupt or unreadable JPEG image/);
  const listed = run('data', 'inspect', dataset, '--decode', '--size', '16', '--skip-bad');
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /3 classes, 24 images/);
  assert.match(listed.stdout, /skipped 1 bad file\(s\):\n {2}alpha\/cut\.jpg: corrupt or unreadable JPEG image/);
  assert.match(listed.stderr, /decoded: 24 images at 16 px/);
});

test('data inspect --decode: bitmaps declaring 900 million pixels in a kilobyte cost the memory of their output; names are printed escaped', async () => {
  const root = await makeDataset(3);
  writeFileSync(join(root, 'alpha', 'blank.bmp'), encodeBlankRleBmp(30000, 30000));
  writeFileSync(join(root, 'beta', 'endless.bmp'), encodeBlankRleBmp(30000, 30000, [0, 0, 0], false));
  writeFileSync(join(root, 'gamma', 'bad\u001b[2J.jpg'), 'garbage');
  // The process's peak memory, printed as it exits.
  const probe = `data:text/javascript,${encodeURIComponent('process.on("exit", () => process.stderr.write(`peak RSS ${process.resourceUsage().maxRSS} KiB\\n`));')}`;
  const inspected = spawnSync(
    process.execPath,
    ['--import', probe, cli, 'data', 'inspect', root, '--decode', '--size', '16', '--skip-bad'],
    { encoding: 'utf8', env: { ...process.env, DSDNET_CACHE: cacheDir } },
  );
  assert.equal(inspected.status, 0, inspected.stderr);
  assert.match(inspected.stdout, /3 classes, 10 images/);
  assert.match(
    inspected.stdout,
    /skipped 2 bad file\(s\):\n {2}gamma\/bad\\u001b\[2J\.jpg: not an image .*\n {2}beta\/endless\.bmp: corrupt BMP: run-length data ends before its end-of-bitmap code/,
  );
  assert.doesNotMatch(inspected.stdout + inspected.stderr, /\u001b/, 'no raw escape code');
  const peakKiB = Number(/peak RSS (\d+) KiB/.exec(inspected.stderr)?.[1]);
  assert.ok(
    peakKiB < 400 * 1024,
    `peak RSS ${Math.round(peakKiB / 1024)} MiB (a decoded 30000 x 30000 image is 2.7 GB)`,
  );
});

test('eval and predict: missing files are named before any decoding; undecodable ones are named or skipped', () => {
  const out = join(scratch(), 'run');
  assert.equal(run('train', dataset, ...TINY, '--out', out, '--skip-bad').status, 0);
  const evalFailed = run('eval', out, dataset);
  assert.equal(evalFailed.status, 1);
  assert.match(evalFailed.stderr, /alpha\/cut\.jpg: corrupt or unreadable JPEG image/);
  const evaluated = run('eval', out, dataset, '--skip-bad');
  assert.equal(evaluated.status, 0, evaluated.stderr);
  assert.match(evaluated.stdout, /on 11 images of .* \(test split of .*split\.json\)\nOA \d+\.\d\d%/);
  const good = join(dataset, 'beta', 'beta00.jpg');
  const bad = join(dataset, 'alpha', 'cut.jpg');
  const missing = run('predict', out, good, join(dataset, 'nope.jpg'), dataset);
  assert.equal(missing.status, 1);
  assert.match(
    missing.stderr,
    /2 of the 3 image argument\(s\) cannot be used:\n {2}.*nope\.jpg: cannot read \(ENOENT\)\n {2}.*: not a file/,
  );
  const undecodable = run('predict', out, good, bad);
  assert.equal(undecodable.status, 1);
  assert.match(
    undecodable.stderr,
    /1 image file\(s\) could not be decoded \(leave them out with --skip-bad\):\n {2}.*cut\.jpg: corrupt or unreadable JPEG/,
  );
  const skipped = run('predict', out, good, bad, '--skip-bad', '--json');
  assert.equal(skipped.status, 0, skipped.stderr);
  assert.deepEqual(
    (JSON.parse(skipped.stdout) as { file: string }[]).map((p) => p.file),
    [good],
  );
  assert.match(skipped.stderr, /warning: skipping .*cut\.jpg: corrupt/);
});

test('flags are checked when the command line is read, naming the flag and the accepted values', () => {
  const cases: [string[], RegExp][] = [
    [
      ['train', dataset, '--distill', 'soft_ce'],
      /option '--distill <d>' argument 'soft_ce' is invalid\. Allowed choices are soft-ce, released/,
    ],
    [
      ['train', dataset, '--ddim-steps', '0'],
      /option '--ddim-steps <n>' argument '0' is invalid\. expected an integer in 1\.\.10/,
    ],
    [
      ['train', dataset, '--batch-size', '1'],
      /option '--batch-size <n>' argument '1' is invalid\. expected an integer >= 2/,
    ],
    [
      ['train', dataset, '--ratio', '1.5'],
      /option '--ratio <r>' argument '1\.5' is invalid\. expected a fraction between 0 and 1/,
    ],
    [['train', dataset, '--size', '8'], /option '--size <px>' argument '8' is invalid\. expected an integer >= 32/],
    [['train', dataset, '--backbone', 'vgg16'], /Allowed choices are resnet18, resnet34, resnet50, mobilenet_v2/],
    [['train', dataset, '--precision', 'fp8'], /Allowed choices are fp32, bf16, fp16, auto/],
    [['train', dataset, '--epochs', '2.5'], /option '--epochs <n>' argument '2\.5' is invalid/],
    [
      ['predict', dataset, 'x.jpg', '--top-k', '-1'],
      /option '--top-k <k>' argument '-1' is invalid\. expected an integer >= 1/,
    ],
    [['data', 'split', dataset, '--ratio', '0', '-o', 'x.json'], /option '--ratio <r>' argument '0' is invalid/],
  ];
  for (const [args, message] of cases) {
    const result = run(...args);
    assert.equal(result.status, 1, args.join(' '));
    assert.match(result.stderr, message, args.join(' '));
  }
});

test('--resume refuses flags that contradict the run, accepts those that agree, and re-checks config.json', () => {
  const out = join(scratch(), 'run');
  const first = run('train', dataset, ...TINY, '--epochs', '2', '--out', out, '--skip-bad');
  assert.equal(first.status, 0, first.stderr);
  const contradicted = run('train', ...TINY, '--epochs', '60', '--seed', '3', '--out', out, '--resume');
  assert.equal(contradicted.status, 1);
  assert.match(
    contradicted.stderr,
    /--resume continues .*run exactly as its config\.json says, and these contradict it: epochs 60 \(the run has 2\); warmupEpochs 5 \(the run has 0\); seed 3 \(the run has 0\); skipBad false \(the run has true\); split \{"ratio":0\.5,"seed":3\} \(the run has \{"ratio":0\.5,"seed":0\}\)\. Leave them out, or start a new run/,
  );
  const onlyFlags = run('train', '--method', 'sd', '--out', out, '--resume');
  assert.match(onlyFlags.stderr, /these contradict it: method "sd" \(the run has "plain"\)\./);
  const sameCommand = run('train', dataset, ...TINY, '--epochs', '2', '--skip-bad', '--out', out, '--resume');
  assert.equal(sameCommand.status, 0, sameCommand.stderr);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(out, 'config.json'), JSON.stringify({ ...config, batchSize: 0 }));
  const damaged = run('train', '--out', out, '--resume');
  assert.equal(damaged.status, 1);
  assert.match(
    damaged.stderr,
    /config\.json: invalid training configuration: batchSize must be a positive integer, got 0/,
  );
});

test('run folder mistakes: a folder holding a run, --resume without --out or with nothing to resume, a batch larger than the training set', () => {
  const out = join(scratch(), 'run');
  assert.equal(run('train', dataset, ...TINY, '--out', out, '--skip-bad').status, 0);
  assert.match(
    run('train', dataset, ...TINY, '--out', out, '--skip-bad').stderr,
    /run already holds a run; resume it with --resume or choose another --out/,
  );
  assert.match(run('train', '--resume').stderr, /--resume needs --out RUN_DIR/);
  assert.match(run('train', '--resume', '--out', scratch()).stderr, /nothing to resume \(no config\.json\)/);
  const big = run('train', dataset, ...TINY, '--batch-size', '20', '--out', join(scratch(), 'big'), '--skip-bad');
  assert.match(big.stderr, /batch size 20 is larger than the 13 training images/);
});

test('split files: relabelled entries and files in both lists are named', async () => {
  const withSplit = TINY.filter((flag, i) => flag !== '--ratio' && TINY[i - 1] !== '--ratio'); // --split fixes the split
  const file = join(scratch(), 'split.json');
  const clean = await makeDataset(4);
  assert.equal(run('data', 'split', clean, '--ratio', '0.5', '-o', file).status, 0);
  const split = JSON.parse(readFileSync(file, 'utf8')) as {
    train: { path: string; label: number }[];
    test: { path: string; label: number }[];
  };
  writeFileSync(
    file,
    JSON.stringify({
      ...split,
      test: [...split.test.slice(1), { ...split.test[0], label: (split.test[0].label + 1) % 3 }],
    }),
  );
  assert.match(
    run('train', clean, ...withSplit, '--split', file, '--out', join(scratch(), 'r')).stderr,
    new RegExp(`labels disagree with the class folders for ${split.test[0].path}`),
  );
  writeFileSync(file, JSON.stringify({ ...split, test: [...split.test, split.train[0]] }));
  assert.match(
    run('train', clean, ...withSplit, '--split', file, '--out', join(scratch(), 'r')).stderr,
    new RegExp(`1 file\\(s\\) are in both train and test: ${split.train[0].path}`),
  );
});
