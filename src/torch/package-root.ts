// The installed package's folder (it holds the addon, presets/ and the page) and the folder beside it where the
// project's shared data and weights live by default (../shared). Here, the lowest room, because finding the addon
// needs it first.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the dsdnet package folder (no package.json above the code)');
    dir = parent;
  }
  return dir;
}

/** ../shared beside the package: datasets/ and weights/ (see the README). */
export function sharedDir(): string {
  return resolve(packageRoot(), '..', 'shared');
}
