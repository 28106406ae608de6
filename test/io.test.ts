// safetensors encoding and decoding, clear errors for damaged or foreign files, and crash-safe checkpoints.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs, {
  cpSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { mock, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { writeFileDurable } from '../src/io/atomic.js';
import {
  checkWriteTarget,
  decodeSafetensors,
  encodeSafetensors,
  loadCheckpoint,
  readNpy,
  readSafetensors,
  readSafetensorsMetadata,
  readTorchFile,
  resolveCheckpoint,
  saveCheckpoint,
  writeFileAtomic,
  writeSafetensors,
} from '../src/io/index.js';
import { type Tensor, tensor } from '../src/torch/index.js';
import { readWeights } from '../src/weights/index.js';
import { mountTmpfs } from './support/tmpfs.js';

const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-io-'));

function sample(): Map<string, Tensor> {
  return new Map<string, Tensor>([
    [
      'a.weight',
      tensor(
        [
          [1.5, -2],
          [3, 4],
        ],
        { dtype: 'float32' },
      ),
    ],
    ['b', tensor([1, 2, 3], { dtype: 'float64' })],
    ['c', tensor([-5, 7], { dtype: 'int64' })],
    ['d', tensor([9], { dtype: 'int32' })],
    ['e', tensor([255, 0], { dtype: 'uint8' })],
    ['f', tensor([true, false, true])],
    ['scalar', tensor(2.5, { dtype: 'float32' })],
  ]);
}

test('safetensors: the published layout, every dtype, metadata, round trip', () => {
  const bytes = Buffer.concat(encodeSafetensors(sample(), { format: 'pt', note: 'x' }));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + headerLength) % 8, 0, 'data starts 8-byte aligned');
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  assert.deepEqual(header.__metadata__, { format: 'pt', note: 'x' });
  assert.deepEqual(header['a.weight'], { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
  assert.deepEqual(header.f, { dtype: 'BOOL', shape: [3], data_offsets: [62, 65] });
  assert.deepEqual(
    [...bytes.subarray(8 + headerLength, 8 + headerLength + 4)],
    [0x00, 0x00, 0xc0, 0x3f],
    'little-endian 1.5f',
  );
  const back = decodeSafetensors(bytes, 'memory');
  assert.deepEqual(back.metadata, { format: 'pt', note: 'x' });
  for (const [name, t] of sample()) {
    const got = back.tensors.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.deepEqual(got.toArray(), t.toArray(), name);
  }
  // The same bytes one byte off alignment in memory: every tensor is read through an aligned copy instead.
  const shifted = Buffer.alloc(bytes.length + 1);
  bytes.copy(shifted, 1);
  const misaligned = decodeSafetensors(shifted.subarray(1), 'memory');
  for (const [name, t] of sample())
    assert.deepEqual(misaligned.tensors.get(name)!.toArray(), t.toArray(), `${name}, misaligned`);
});

test('safetensors: F16, BF16, I16 and I8 (Hugging Face files) are read widened exactly to float32 / int32', () => {
  const tensors: [string, string, number[]][] = [
    ['half', 'F16', [0x3c00, 0xc000, 0x7c00, 0x0001, 0x8000, 0x3555]], // 1, -2, inf, 2^-24, -0, 0.333251953125
    ['brain', 'BF16', [0x3f80, 0x4049, 0xff80, 0x0001]], // 1, 3.140625, -inf, 2^-133
    ['short', 'I16', [0x8000, 1234]],
    ['byte', 'I8', [0x80, 0x7f]],
  ];
  const header: Record<string, unknown> = {};
  const bodies: Buffer[] = [];
  let offset = 0;
  for (const [name, dtype, words] of tensors) {
    const width = dtype === 'I8' ? 1 : 2;
    const body = Buffer.alloc(words.length * width);
    words.forEach((w, i) => (width === 1 ? body.writeUInt8(w, i) : body.writeUInt16LE(w, 2 * i)));
    header[name] = { dtype, shape: [words.length], data_offsets: [offset, offset + body.length] };
    bodies.push(body);
    offset += body.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const { tensors: back, widened } = decodeSafetensors(Buffer.concat([prefix, json, ...bodies]), 'memory');
  assert.deepEqual(Object.fromEntries(widened), { half: 'float16', brain: 'bfloat16', short: 'int16', byte: 'int8' });
  assert.equal(back.get('half')!.dtype, 'float32');
  assert.deepEqual(Array.from(back.get('half')!.data() as Float32Array), [
    1,
    -2,
    Infinity,
    2 ** -24,
    -0,
    0.333251953125,
  ]);
  assert.ok(Object.is((back.get('half')!.data() as Float32Array)[4], -0), 'negative zero kept');
  assert.deepEqual(Array.from(back.get('brain')!.data() as Float32Array), [1, 3.140625, -Infinity, 2 ** -133]);
  assert.equal(back.get('short')!.dtype, 'int32');
  assert.deepEqual(back.get('short')!.toArray(), [-32768, 1234]);
  assert.deepEqual(back.get('byte')!.toArray(), [-128, 127]);
});

test('damaged and foreign files fail with an error naming the file; their header alone reads as null', () => {
  const dir = scratch();
  const good = join(dir, 'good.safetensors');
  writeSafetensors(good, sample());
  const whole = readFileSync(good);
  const cases: [string, Buffer | string, RegExp][] = [
    ['empty.safetensors', Buffer.alloc(0), /empty\.safetensors: not a readable safetensors file: 0 bytes/],
    [
      'truncated-data.safetensors',
      whole.subarray(0, whole.length - 5),
      /truncated-data\.safetensors: .*truncated: tensor 'f' ends at byte 65 of the data, which has 64/,
    ],
    [
      'truncated-header.safetensors',
      whole.subarray(0, 20),
      /truncated-header\.safetensors: .*truncated: the header needs/,
    ],
    [
      'photo.jpg',
      Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]),
      /photo\.jpg: not a readable safetensors file: header length \d+ is implausible/,
    ],
    [
      'notes.txt',
      'hello world, this is not a tensor file at all',
      /notes\.txt: not a readable safetensors file: header length \d+ is implausible/,
    ],
  ];
  const badJson = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{nop')]);
  cases.push(['bad-json.safetensors', badJson, /bad-json\.safetensors: .*the header is not JSON/]);
  for (const [name, content, message] of cases) {
    const path = join(dir, name);
    writeFileSync(path, content);
    assert.throws(() => readSafetensors(path), message, name);
  }
  assert.throws(
    () => readSafetensors(join(dir, 'missing.safetensors')),
    /missing\.safetensors: cannot read \(ENOENT\)/,
  );
  // The header alone (how a weights file was made, read before its tensors): null where no header can be read.
  for (const name of [
    'empty.safetensors',
    'truncated-header.safetensors',
    'photo.jpg',
    'notes.txt',
    'bad-json.safetensors',
  ])
    assert.equal(readSafetensorsMetadata(join(dir, name)), null, name);
  assert.deepEqual(readSafetensorsMetadata(join(dir, 'truncated-data.safetensors')), {}, 'its header is whole');
  writeFileSync(join(dir, 'array.safetensors'), rawSafetensors('[1, 2]'));
  assert.equal(readSafetensorsMetadata(join(dir, 'array.safetensors')), null, 'a header that is not an object');
  assert.equal(spawnSync('mkfifo', [join(dir, 'pipe.safetensors')]).status, 0);
  assert.throws(
    () => readSafetensorsMetadata(join(dir, 'pipe.safetensors')),
    /pipe\.safetensors: cannot read: it is a FIFO/,
  );
});

/** A safetensors file from its header's JSON text (written as is, so numbers like 1e20 stay what they are) and data. */
function rawSafetensors(headerJson: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const json = Buffer.from(headerJson, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, data]);
}

/** A float32 .npy file (format 1.0) from its shape text and data. */
function rawNpy(shapeText: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.from(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }\n`, 'latin1');
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, header, data]);
}

test('shapes the engine cannot hold ([0, 1e20], 2^53, -1) are refused naming the file and the tensor, in safetensors and .npy', () => {
  const dir = scratch();
  const safetensors: [string, RegExp][] = [
    [
      '{"w":{"dtype":"F32","shape":[0,100000000000000000000],"data_offsets":[0,0]}}',
      /huge\.safetensors: not a readable safetensors file: tensor 'w' has shape \[0, 100000000000000000000\] that is not made of whole numbers from 0 to 2\^53 - 1 \(dimension 1 is 100000000000000000000\)/,
    ],
    [
      '{"w":{"dtype":"F32","shape":[0,9007199254740991,9007199254740991],"data_offsets":[0,0]}}',
      /huge\.safetensors: .*tensor 'w' has shape \[0, 9007199254740991, 9007199254740991\] that is too large \(its dimensions multiply to more than 2\^53 - 1\)/,
    ],
    [
      '{"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]}}',
      /tensor 'w' has shape \[2, -1\] that is not made of whole numbers .*\(dimension 1 is -1\)/,
    ],
    [
      '{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}}',
      /tensor 'w' has shape \[1\.5\] that is not made of whole numbers/,
    ],
    [
      '{"w":{"dtype":"F32","shape":"4","data_offsets":[0,0]}}',
      /tensor 'w' has shape "4", which is not a list of dimensions/,
    ],
    [
      '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}',
      /tensor 'w' has shape \[3\] that needs 12 bytes of float32, but its data_offsets span 8/,
    ],
  ];
  for (const [header, message] of safetensors) {
    const path = join(dir, 'huge.safetensors');
    writeFileSync(path, rawSafetensors(header, Buffer.alloc(16)));
    assert.throws(() => readSafetensors(path), message, header);
  }
  const npy: [string, Buffer, RegExp][] = [
    [
      '(0, 100000000000000000000)',
      Buffer.alloc(0),
      /huge\.npy: not a readable \.npy file: the array has shape \[0, 100000000000000000000\] that is not made of whole numbers from 0 to 2\^53 - 1 \(dimension 1 is 100000000000000000000\)/,
    ],
    [
      '(0, 9007199254740991, 4)',
      Buffer.alloc(0),
      /huge\.npy: .*the array has shape \[0, 9007199254740991, 4\] that is too large/,
    ],
    [
      '(3,)',
      Buffer.alloc(16),
      /huge\.npy: .*the array has shape \(3,\) that needs 12 data bytes of <f4, but the file holds 16/,
    ],
    ['(5,)', Buffer.alloc(16), /huge\.npy: .*truncated: shape \(5,\) needs 20 data bytes, 16 present/],
  ];
  for (const [shape, data, message] of npy) {
    const path = join(dir, 'huge.npy');
    writeFileSync(path, rawNpy(shape, data));
    assert.throws(() => readNpy(path), message, shape);
  }
  const fine = join(dir, 'fine.npy');
  writeFileSync(fine, rawNpy('(0, 3)'));
  assert.deepEqual(readNpy(fine).shape, [0, 3]);
});

/** Makes a FIFO (named pipe) at `path`. */
const mkfifo = (path: string): void => {
  execFileSync('mkfifo', [path]);
};

test('a FIFO, a socket, a device or a folder given as a weights or model file is refused by name, without hanging', async () => {
  const dir = scratch();
  const fifo = join(dir, 'weights.pth');
  mkfifo(fifo);
  // A checkpoint whose checkpoint.json is a FIFO, and a folder of .npy weights one of which is.
  const checkpoint = join(dir, 'ckpt');
  mkdirSync(checkpoint);
  writeSafetensors(join(checkpoint, 'model.safetensors'), sample());
  mkfifo(join(checkpoint, 'checkpoint.json'));
  const npyFolder = join(dir, 'npy');
  mkdirSync(npyFolder);
  mkfifo(join(npyFolder, 'conv_0_weight.npy'));
  const socketPath = join(dir, 'weights.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  // In a child with a deadline: before the fix, opening a FIFO blocks the whole process until a writer comes.
  const script = `
    const io = await import(${JSON.stringify(new URL('../src/io/index.js', import.meta.url).href)});
    const weights = await import(${JSON.stringify(new URL('../src/weights/index.js', import.meta.url).href)});
    const [fifo, socket, checkpoint, npyFolder] = process.argv.slice(1);
    const attempts = {
      readBytes: () => io.readBytes(fifo), readSafetensors: () => io.readSafetensors(fifo), readTorchFile: () => io.readTorchFile(fifo),
      readNpy: () => io.readNpy(fifo), readWeights: () => weights.readWeights(fifo), socket: () => weights.readWeights(socket),
      device: () => io.readBytes('/dev/null'), folder: () => io.readSafetensors(npyFolder), checkpoint: () => io.loadCheckpoint(checkpoint),
      npyFolder: () => weights.readWeights(npyFolder),
    };
    const results = {};
    for (const [name, attempt] of Object.entries(attempts)) {
      try { attempt(); results[name] = 'read'; } catch (error) { results[name] = error.message; }
    }
    console.log(JSON.stringify(results));`;
  const child = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', script, fifo, socketPath, checkpoint, npyFolder],
    { encoding: 'utf8', timeout: 60_000 },
  );
  server.close();
  assert.equal(child.signal, null, `the reads hung (killed after 60 s): ${child.stderr}`);
  const results = JSON.parse(child.stdout) as Record<string, string>;
  const isFifo = `${fifo}: cannot read: it is a FIFO (named pipe), not a regular file`;
  for (const name of ['readBytes', 'readSafetensors', 'readTorchFile', 'readNpy', 'readWeights'])
    assert.equal(results[name], isFifo, name);
  assert.equal(results.socket, `${socketPath}: cannot read: it is a socket, not a regular file`);
  assert.equal(results.device, '/dev/null: cannot read: it is a character device, not a regular file');
  assert.equal(results.folder, `${npyFolder}: cannot read: it is a folder, not a regular file`);
  assert.equal(
    results.checkpoint,
    `${join(checkpoint, 'checkpoint.json')}: cannot read: it is a FIFO (named pipe), not a regular file`,
  );
  assert.equal(
    results.npyFolder,
    `${join(npyFolder, 'conv_0_weight.npy')}: cannot read: it is a FIFO (named pipe), not a regular file`,
  );
  // A file too large to read whole (sparse: it takes no disk) says so rather than ERR_FS_FILE_TOO_LARGE.
  const large = join(dir, 'large.pth');
  writeFileSync(large, '');
  truncateSync(large, 3 * 2 ** 30);
  assert.throws(
    () => readTorchFile(large),
    new RegExp(`^Error: ${large}: cannot read \\(File size \\(3221225472\\) is greater than 2 GiB\\)$`),
  );
  rmSync(large);
});

/**
 * Runs `body` with fs.NAME replaced by `replacement` in every module (their named imports included), for failures
 * root cannot be made to meet (EACCES); `original` is the real function.
 */
function withFsReplaced<Name extends 'readdirSync' | 'rmSync'>(
  name: Name,
  replacement: (original: (typeof fs)[Name]) => (typeof fs)[Name],
  body: () => void,
): void {
  const original = fs[name];
  const replaced = mock.method(fs, name, replacement(original));
  syncBuiltinESMExports();
  try {
    body();
  } finally {
    replaced.mock.restore();
    syncBuiltinESMExports();
  }
}

const eacces = (path: string): Error =>
  Object.assign(new Error(`EACCES: permission denied, '${path}'`), { code: 'EACCES' });

test('a symbolic link in a loop, as a weights file or as the file to write, is named with ELOOP (not a raw stat error)', () => {
  const dir = scratch();
  const loop = join(dir, 'loop.safetensors');
  symlinkSync('loop.safetensors', loop);
  const unreadable = new RegExp(`^Error: ${loop}: cannot read \\(ELOOP\\)$`);
  assert.throws(() => readSafetensors(loop), unreadable);
  assert.throws(() => readWeights(loop), unreadable, 'not "no such file or folder"');
  const unwritable = new RegExp(`^Error: ${loop}: cannot write \\(ELOOP: too many symbolic links encountered\\)$`);
  assert.throws(() => checkWriteTarget(loop), unwritable);
  assert.throws(() => writeFileAtomic(loop, [Buffer.from('x')]), unwritable);
  assert.ok(lstatSync(loop).isSymbolicLink(), 'the link is left as it was');
});

test('writing over a FIFO, a device, a folder or a link to one is refused before a byte is written; a link to a file is written through', (t) => {
  const dir = scratch();
  const bytes = [Buffer.from('new contents\n')];
  const fifo = join(dir, 'model.onnx');
  mkfifo(fifo);
  assert.throws(
    () => writeFileAtomic(fifo, bytes),
    new RegExp(
      `^Error: ${fifo}: refusing to write: it is a FIFO \\(named pipe\\), not a regular file \\(give the path of a file to create or replace\\)$`,
    ),
  );
  assert.ok(lstatSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
  const folder = join(dir, 'out');
  mkdirSync(folder);
  assert.throws(() => writeFileAtomic(folder, bytes), /out: refusing to write: it is a folder, not a regular file/);
  assert.ok(lstatSync(folder).isDirectory());
  const linkToFolder = join(dir, 'to-folder');
  symlinkSync(folder, linkToFolder);
  assert.throws(
    () => writeFileAtomic(linkToFolder, bytes),
    new RegExp(
      `to-folder: refusing to write: it is a symbolic link to a folder \\(${folder}\\), not to a regular file`,
    ),
  );
  assert.ok(lstatSync(linkToFolder).isSymbolicLink());
  const dangling = join(dir, 'dangling');
  symlinkSync(join(dir, 'nowhere'), dangling);
  assert.throws(
    () => writeFileAtomic(dangling, bytes),
    /dangling: refusing to write: it is a symbolic link to .*nowhere, which does not exist/,
  );
  assert.throws(
    () => checkWriteTarget(fifo),
    /refusing to write: it is a FIFO/,
    'the check the CLI runs before any work',
  );
  // A link to a regular file: the file it names is replaced, the link stays a link.
  const real = join(dir, 'real.onnx');
  writeFileSync(real, 'old');
  const link = join(dir, 'link.onnx');
  symlinkSync('real.onnx', link);
  writeFileAtomic(link, bytes);
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readFileSync(real, 'utf8'), 'new contents\n');
  assert.deepEqual(
    readdirSync(dir).filter((e) => e.includes('.tmp-')),
    [],
    'no temporary file left',
  );
  // A character device of our own (mknod needs root), as /dev/null would be.
  const device = join(dir, 'null');
  try {
    execFileSync('mknod', [device, 'c', '1', '3'], { stdio: 'pipe' });
  } catch {
    t.diagnostic('mknod is not allowed here: the device case is left out');
    return;
  }
  assert.throws(
    () => writeFileAtomic(device, bytes),
    /null: refusing to write: it is a character device, not a regular file/,
  );
  assert.ok(lstatSync(device).isCharacterDevice(), 'the device is still a device');
});

test('a full or read-only disk: the write error names the file, and the file is left as it was', (t) => {
  const full = mountTmpfs(1 << 20);
  if (typeof full === 'string') return t.skip(full);
  try {
    const target = join(full.dir, 'split.json');
    writeFileAtomic(target, [Buffer.from('old')]);
    assert.throws(
      () => writeFileAtomic(target, [Buffer.alloc(2 << 20)]),
      new RegExp(`^Error: ${target}: cannot write \\(ENOSPC: no space left on device\\); it is left as it was$`),
    );
    assert.equal(readFileSync(target, 'utf8'), 'old');
    assert.deepEqual(readdirSync(full.dir), ['split.json'], 'the temporary file is removed');
    const durable = join(full.dir, 'model.safetensors');
    assert.throws(
      () => writeFileDurable(durable, [Buffer.alloc(2 << 20)]),
      new RegExp(`^Error: ${durable}: cannot write \\(ENOSPC: no space left on device\\)$`),
    );
  } finally {
    full.unmount();
  }
  const readOnly = mountTmpfs(1 << 20, { readOnly: true });
  if (typeof readOnly === 'string') return t.skip(readOnly);
  try {
    const target = join(readOnly.dir, 'model.onnx');
    assert.throws(
      () => writeFileAtomic(target, [Buffer.from('x')]),
      new RegExp(`^Error: ${target}: cannot write \\(EROFS: read-only file system\\); it is left as it was$`),
    );
  } finally {
    readOnly.unmount();
  }
});

test('checkpoints: save, tag, resolve, load, prune', () => {
  const root = join(scratch(), 'checkpoints');
  const save = (step: number, tags: string[]): string =>
    saveCheckpoint(root, tags, {
      model: new Map([['w', tensor([step, step], { dtype: 'float32' })]]),
      tensors: new Map([['optimizer.0.momentum_buffer', tensor([step * 10], { dtype: 'float32' })]]),
      info: { step, classes: ['a', 'b'] },
      modelMetadata: { backbone: 'resnet18' },
    });
  save(1, ['latest', 'best']);
  save(2, ['latest']);
  save(3, ['latest']);
  assert.deepEqual(
    readdirSync(root).sort(),
    ['best', 'ckpt-000001', 'ckpt-000003', 'latest'],
    'unreferenced generations are pruned',
  );
  assert.equal(readlinkSync(join(root, 'latest')), 'ckpt-000003');
  assert.ok(lstatSync(join(root, 'best')).isSymbolicLink());
  const latest = loadCheckpoint<{ step: number; classes: string[] }>(root);
  assert.equal(latest.info.step, 3);
  assert.deepEqual(latest.model.get('w')!.toArray(), [3, 3]);
  assert.deepEqual(latest.tensors.get('optimizer.0.momentum_buffer')!.toArray(), [30]);
  assert.deepEqual(latest.modelMetadata, { backbone: 'resnet18' });
  assert.equal(loadCheckpoint<{ step: number }>(root, 'best').info.step, 1);
  assert.equal(
    resolveCheckpoint(join(root, '..')),
    join(root, 'latest'),
    'a run folder resolves to its checkpoints/latest',
  );
  const bare = loadCheckpoint(join(root, 'latest', 'model.safetensors'));
  assert.deepEqual(bare.model.get('w')!.toArray(), [3, 3]);
  assert.throws(() => loadCheckpoint(join(root, 'nope')), /nope: no such checkpoint/);
  assert.throws(
    () => saveCheckpoint(root, ['../x'], { model: new Map(), tensors: new Map(), info: {} }),
    /invalid tag/,
  );
});

/** Saves a checkpoint whose weights are `values` and optimizer buffer `-values[0]`. */
function saveValues(root: string, tags: string[], values: number[]): string {
  return saveCheckpoint(root, tags, {
    model: new Map([['w', tensor(values, { dtype: 'float32' })]]),
    tensors: new Map([['optimizer.0.buf', tensor([-values[0]], { dtype: 'float32' })]]),
    info: { step: values[0] },
  });
}

/** Flips one bit of the last byte of `path` (a tensor's data in a safetensors file). */
function flipLastByte(path: string): void {
  const bytes = readFileSync(path);
  bytes[bytes.length - 1] ^= 0x10;
  writeFileSync(path, bytes);
}

test('checkpoints carry a manifest: a flipped byte is named on loading, with the intact checkpoints and how to use them', () => {
  const root = join(scratch(), 'checkpoints');
  saveValues(root, ['latest', 'best'], [1, 1]);
  saveValues(root, ['latest'], [2, 2]);
  const manifest = JSON.parse(readFileSync(join(root, 'latest', 'manifest.json'), 'utf8'));
  assert.equal(manifest.format, 'dsdnet-manifest/1');
  assert.deepEqual(Object.keys(manifest.files), ['model.safetensors', 'state.safetensors', 'checkpoint.json']);
  assert.equal(manifest.files['model.safetensors'].bytes, lstatSync(join(root, 'latest', 'model.safetensors')).size);
  assert.match(manifest.files['model.safetensors'].sha256, /^[0-9a-f]{64}$/);

  flipLastByte(join(root, 'latest', 'model.safetensors'));
  const expected = new RegExp(
    `^Error: ${root}/ckpt-000002: damaged checkpoint: model\\.safetensors does not hold the bytes it was saved with \\(SHA-256 [0-9a-f]{12}…, [0-9a-f]{12}… when saved\\)\\. ` +
      `Intact checkpoints beside it: 'best' \\(ckpt-000001\\)\\. Use ckpt-000001 with --tag best \\(evaluate, export\\) or its folder ${root}/ckpt-000001; ` +
      `to resume from it, point 'latest' at it: ln -sfn ckpt-000001 ${root}/latest$`,
  );
  assert.throws(() => loadCheckpoint(root), expected);
  assert.throws(
    () => loadCheckpoint(join(root, 'latest', 'model.safetensors')),
    expected,
    'a bare model.safetensors of a checkpoint is checked too',
  );
  assert.throws(() => readWeights(join(root, '..')), expected, 'and so is a run folder given as weights');
  const best = loadCheckpoint<{ step: number }>(root, 'best');
  assert.equal(best.info.step, 1, 'the intact one still loads');

  // A truncated state file, then both damaged: nothing intact to offer.
  const state = join(root, 'ckpt-000001', 'state.safetensors');
  writeFileSync(state, readFileSync(state).subarray(0, 10));
  assert.throws(
    () => loadCheckpoint(root, 'best'),
    new RegExp(
      `^Error: ${root}/ckpt-000001: damaged checkpoint: state\\.safetensors has 10 bytes, \\d+ when it was saved\\. No intact checkpoint is left beside it in ${root}$`,
    ),
  );

  // Saved before manifests: loads as it always did.
  const old = join(scratch(), 'checkpoints');
  saveValues(old, ['latest'], [3, 3]);
  rmSync(join(old, 'latest', 'manifest.json'));
  assert.equal(loadCheckpoint<{ step: number }>(old).info.step, 3);
});

test('a damaged checkpoint outside a run (a copy in Downloads) is named alone: no sibling is listed or pointed at', () => {
  const root = join(scratch(), 'checkpoints');
  saveValues(root, ['latest'], [1, 1]);
  const downloads = join(scratch(), 'Downloads');
  mkdirSync(join(downloads, 'ckpt-000007'), { recursive: true }); // a generation-named folder beside it, unrelated
  cpSync(join(root, 'ckpt-000001'), join(downloads, 'ckpt'), { recursive: true });
  flipLastByte(join(downloads, 'ckpt', 'model.safetensors'));
  const damage = `${downloads}/ckpt: damaged checkpoint: model\\.safetensors does not hold the bytes it was saved with \\(SHA-256 [0-9a-f]{12}…, [0-9a-f]{12}… when saved\\)\\.`;
  assert.throws(() => loadCheckpoint(join(downloads, 'ckpt')), new RegExp(`^Error: ${damage}$`));
  // In a run, the folder around it that cannot be listed leaves the damage message as it is.
  flipLastByte(join(root, 'ckpt-000001', 'model.safetensors'));
  withFsReplaced(
    'readdirSync',
    () => (path) => {
      throw eacces(String(path));
    },
    () => {
      assert.throws(
        () => loadCheckpoint(root),
        new RegExp(
          `^Error: ${root}/ckpt-000001: damaged checkpoint: model\\.safetensors does not hold the bytes it was saved with \\([^)]*\\)\\.$`,
        ),
      );
    },
  );
});

test('a manifest listing a file that is not a checkpoint file (../../big.bin) is refused, naming it; the file is not read', () => {
  const work = scratch();
  const root = join(work, 'checkpoints');
  saveValues(root, ['latest'], [1, 1]);
  const elsewhere = join(dirname(root), 'big.bin');
  writeFileSync(elsewhere, 'not part of the checkpoint');
  const manifestPath = join(root, 'ckpt-000001', 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.files['../../big.bin'] = {
    bytes: 26,
    sha256: createHash('sha256').update(readFileSync(elsewhere)).digest('hex'),
  };
  writeFileSync(manifestPath, JSON.stringify(manifest));
  assert.throws(() => loadCheckpoint(root), {
    message: `${root}/ckpt-000001: damaged checkpoint: manifest.json is not a dsdnet-manifest/1 manifest: it lists "../../big.bin", not a checkpoint file (model.safetensors, state.safetensors, checkpoint.json). No intact checkpoint is left beside it in ${root}`,
  });
});

test('a failed save whose cleanup fails too still reports why the save failed, with the path', () => {
  const root = join(scratch(), 'checkpoints');
  saveValues(root, ['latest'], [1, 1]);
  const tmpLink = join(root, `best.tmp-${process.pid}`);
  // Removing the temporary 'best' link fails: first in the save, then again in its cleanup.
  withFsReplaced(
    'rmSync',
    (rmSync) => (path, options) =>
      path === tmpLink
        ? (() => {
            throw eacces(tmpLink);
          })()
        : rmSync(path, options),
    () => {
      assert.throws(() => saveValues(root, ['latest', 'best'], [2, 2]), {
        message: `${root}: cannot save checkpoint ckpt-000002: EACCES: permission denied, '${tmpLink}'. Removing what it wrote failed too (EACCES: permission denied); the next save in ${root} removes what is left`,
      });
    },
  );
  saveValues(root, ['latest', 'best'], [3, 3]);
  assert.deepEqual(readdirSync(root).sort(), ['best', 'ckpt-000003', 'latest'], 'the next save removed what was left');
});

test('a full disk while saving: the error names the file, the partial checkpoint is removed and latest stays where it was', (t) => {
  const disk = mountTmpfs(2 << 20);
  if (typeof disk === 'string') return t.skip(disk);
  try {
    const root = join(disk.dir, 'checkpoints');
    saveValues(root, ['latest'], [1, 1]);
    const big = new Array<number>(768 * 1024).fill(2); // 3 MiB of weights on a 2 MiB disk
    const staging = `${root}/ckpt-000002.tmp-${process.pid}`;
    const expected = `${root}: cannot save checkpoint ckpt-000002: ${staging}/model.safetensors: cannot write (ENOSPC: no space left on device). Removed the partial ${staging}; 'latest' points at ckpt-000001`;
    for (let attempt = 0; attempt < 3; attempt++) {
      assert.throws(() => saveValues(root, ['latest', 'best'], big), {
        message: expected.replace(
          "'latest' points at ckpt-000001",
          "'latest' points at ckpt-000001, there is no 'best'",
        ),
      });
      assert.deepEqual(readdirSync(root).sort(), ['ckpt-000001', 'latest'], `attempt ${attempt}: nothing left behind`);
    }
    assert.throws(() => saveValues(root, ['latest'], big), { message: expected });
    assert.equal(readlinkSync(join(root, 'latest')), 'ckpt-000001');
    assert.equal(loadCheckpoint<{ step: number }>(root).info.step, 1);
    saveValues(root, ['latest'], [3, 3]); // once there is room again, saving goes on
    assert.equal(readlinkSync(join(root, 'latest')), 'ckpt-000002');
  } finally {
    disk.unmount();
  }
});

test('a save killed at random moments never leaves an unreadable or inconsistent latest checkpoint (12 tries)', async () => {
  const writer = fileURLToPath(new URL('./support/checkpoint-writer.js', import.meta.url));
  const root = join(scratch(), 'checkpoints');
  let killedMidSave = 0;
  for (let attempt = 0; attempt < 12; attempt++) {
    const child = spawn(process.execPath, [writer, root], { stdio: ['ignore', 'pipe', 'inherit'] });
    let saves = 0;
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        saves += chunk
          .toString()
          .split('\n')
          .filter((l) => l.startsWith('saved')).length;
        if (saves === 1) setTimeout(() => child.kill('SIGKILL'), 5 + attempt * 10);
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    const checkpoint = loadCheckpoint<{ step: number }>(root);
    const step = checkpoint.info.step;
    const weights = checkpoint.model.get('layer.weight')!;
    assert.deepEqual(
      [weights.min().item(), weights.max().item()],
      [step, step],
      `attempt ${attempt}: weights belong to step ${step}`,
    );
    assert.deepEqual(checkpoint.tensors.get('optimizer.0.buf')!.max().item(), -step);
    if (readdirSync(root).some((e) => e.includes('.tmp-'))) killedMidSave++;
    checkpoint.model.get('layer.weight')!.dispose();
  }
  assert.ok(killedMidSave > 0, 'at least one kill landed in the middle of a save');
});
