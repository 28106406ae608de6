// A run's configuration takes only settings that a configuration has: an unknown one (a misspelt key in a preset, in
// the settings given to resolveConfig, in a run's config.json) is refused by name, saying where it came from.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { type ConfigSettings, readPreset, readRunConfig, resolveConfig } from '../src/train/index.js';

const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-config-'));
// As JSON or a JavaScript caller would give it: the type does not know the misspelt key.
const misspelt = { lerningRate: 1e-3, epochs: 12 } as ConfigSettings;

test('resolveConfig refuses a setting no configuration has, naming it and whether the preset or the overrides gave it', () => {
  assert.throws(
    () => resolveConfig('data', misspelt, {}),
    /resolveConfig's preset: unknown setting\(s\) "lerningRate"/,
  );
  assert.throws(
    () => resolveConfig('data', {}, { methodOptions: { distilWeight: 1 } } as ConfigSettings),
    /resolveConfig's overrides: unknown setting\(s\) "methodOptions\.distilWeight"/,
  );
  assert.equal(resolveConfig('data', { epochs: 12 }, { lr: 1e-3 }).lr, 1e-3, 'known settings pass');
});

test('a preset file and a run folder with an unknown setting are refused, naming the setting and the file', () => {
  const dir = scratch();
  const preset = join(dir, 'mine.json');
  writeFileSync(preset, JSON.stringify(misspelt));
  assert.throws(() => readPreset(preset), /mine\.json: not a dsdnet preset: unknown setting\(s\) "lerningRate"/);

  const run = join(dir, 'run');
  const config = resolveConfig(join(dir, 'data'), {}, { epochs: 12 });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  assert.deepEqual(readRunConfig(dir), config, 'a run config.json as the trainer writes it reads back');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, lerningRate: 1e-3 }));
  assert.throws(
    () => readRunConfig(dir),
    /config\.json: invalid training configuration: unknown setting\(s\) "lerningRate"/,
  );
  assert.throws(() => readRunConfig(run), /run: nothing to resume \(no config\.json\)/);
});
