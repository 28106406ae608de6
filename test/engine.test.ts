// configureEngine: its settings are checked before any applies; before the addon loads they wait for it (without
// loading libtorch), afterwards threads change at once, the kernels' instruction set must be the one libtorch fixed at
// its first kernel, and retained freed memory stays retained.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  configureEngine,
  CPU_CAPABILITIES,
  cpuCapability,
  type EngineSettings,
  getNumThreads,
  ones,
} from '../src/torch/index.js';
import { retainsFreedMemory } from '../src/cli/engine.js';

const torch = new URL('../src/torch/index.js', import.meta.url).href;
const forbidAddon = fileURLToPath(new URL('./support/forbid-addon.js', import.meta.url));

/** Runs `body` (with `t`, the torch barrel) in a fresh process; its stdout, stderr and status. */
function fresh(
  body: string,
  env: Record<string, string | undefined> = {},
  nodeArgs: string[] = [],
): { stdout: string; stderr: string; status: number | null } {
  const script = `const t = await import(${JSON.stringify(torch)});\n${body}`;
  const childEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete childEnv[name];
  return spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: childEnv,
  });
}

test('configureEngine checks its settings, naming each problem, and applies none of them when one is wrong', () => {
  const cases: [unknown, RegExp][] = [
    [{ threads: 0 }, /configureEngine: threads must be a positive integer, got 0/],
    [{ threads: 2.5 }, /threads must be a positive integer, got 2\.5/],
    [{ cpuCapability: 'avx9' }, /cpuCapability must be one of default, avx2, avx512, got "avx9"/],
    [{ retainFreedMemory: 'yes' }, /retainFreedMemory must be true or false, got "yes"/],
    [{ thread: 2 }, /unknown setting\(s\) "thread"/],
    [null, /configureEngine: expected an object of settings, got null/],
  ];
  for (const [settings, message] of cases)
    assert.throws(() => configureEngine(settings as EngineSettings), message, JSON.stringify(settings));
  const threads = getNumThreads();
  const other = threads === 1 ? 2 : 1;
  assert.throws(
    () => configureEngine({ threads: other, cpuCapability: 'avx9' } as unknown as EngineSettings),
    /cpuCapability must be one of/,
  );
  assert.equal(getNumThreads(), threads, 'the valid threads setting was not applied either');
  configureEngine({ threads: other });
  assert.equal(getNumThreads(), other, 'after the addon loaded, threads change at once');
  configureEngine({ threads });
});

test("after the first kernel, another instruction set is refused (libtorch's is fixed); the same one is accepted", () => {
  ones([4]).add(1).dispose(); // a kernel has run
  const inUse = cpuCapability();
  const other = CPU_CAPABILITIES.find((c) => c.toUpperCase() !== inUse)!;
  assert.throws(
    () => configureEngine({ cpuCapability: other }),
    new RegExp(
      `configureEngine: ATen's kernels already run as ${inUse}, fixed by libtorch at its first kernel; ask for cpuCapability '${other}' before any tensor work`,
    ),
  );
  const same = CPU_CAPABILITIES.find((c) => c.toUpperCase() === inUse);
  if (same !== undefined) configureEngine({ cpuCapability: same });
  assert.equal(cpuCapability(), inUse);
});

test('settings made before the addon loads apply when it loads; configureEngine alone never loads libtorch', () => {
  const configured = fresh(
    `t.configureEngine({ threads: 1, cpuCapability: 'avx2' });
     t.ones([4]).add(1);
     console.log(JSON.stringify({ threads: t.getNumThreads(), capability: t.cpuCapability() }));`,
    { DSDNET_NUM_THREADS: '2', ATEN_CPU_CAPABILITY: undefined },
  );
  assert.equal(configured.status, 0, configured.stderr);
  assert.deepEqual(JSON.parse(configured.stdout), { threads: 1, capability: 'AVX2' });

  const withoutAddon = fresh(
    `t.configureEngine({ threads: 1, cpuCapability: 'default', retainFreedMemory: true }); console.log('configured');`,
    { ATEN_CPU_CAPABILITY: undefined },
    ['--import', forbidAddon],
  );
  assert.equal(withoutAddon.status, 0, withoutAddon.stderr);
  assert.equal(withoutAddon.stdout.trim(), 'configured');
});

test('a capability that ATEN_CPU_CAPABILITY contradicts is refused; retained freed memory cannot be released', () => {
  const contradicted = fresh(`t.configureEngine({ cpuCapability: 'avx512' });`, { ATEN_CPU_CAPABILITY: 'avx2' });
  assert.notEqual(contradicted.status, 0);
  assert.match(
    contradicted.stderr,
    /configureEngine: cpuCapability 'avx512' contradicts ATEN_CPU_CAPABILITY=avx2, which libtorch reads instead/,
  );
  const retained = fresh(
    `t.configureEngine({ retainFreedMemory: true });
     t.ones([4]).add(1);
     try { t.configureEngine({ retainFreedMemory: false }); } catch (error) { console.log(error.message); }`,
  );
  assert.equal(retained.status, 0, retained.stderr);
  assert.match(retained.stdout, /freed memory is already retained in the heap, for the rest of the process/);
});

test('the CLI keeps freed memory in the heap for batch commands, not for serve; DSDNET_MALLOC overrides it or is refused by name', () => {
  for (const command of ['train', 'eval', 'predict', 'embed', 'explain', 'map', 'export'])
    assert.equal(retainsFreedMemory(command, {}), true, command);
  assert.equal(retainsFreedMemory('serve', {}), false);
  assert.equal(retainsFreedMemory('serve', { DSDNET_MALLOC: 'retain' }), true);
  assert.equal(retainsFreedMemory('eval', { DSDNET_MALLOC: 'system' }), false);
  assert.throws(
    () => retainsFreedMemory('eval', { DSDNET_MALLOC: 'heap' }),
    /DSDNET_MALLOC must be 'retain' or 'system', got 'heap'/,
  );
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const run = spawnSync(process.execPath, [cli, 'info', '/nonexistent'], {
    encoding: 'utf8',
    env: { ...process.env, DSDNET_MALLOC: 'heap' },
  });
  assert.match(
    run.stderr,
    /^dsdnet: DSDNET_MALLOC must be 'retain' or 'system', got 'heap'/,
    'the command says so first',
  );
});
