// Example images for the page: the first image of each of a few classes of the dataset the model was trained on.
import { existsSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';

import { IMAGE_EXTENSIONS } from '../data/index.js';

export function pickExamples(root: string | undefined, count = 6): string[] {
  if (root === undefined || !existsSync(root)) return [];
  const classes = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const step = Math.max(1, Math.floor(classes.length / count));
  return classes
    .filter((_, i) => i % step === 0)
    .slice(0, count)
    .flatMap((name) => {
      const first = readdirSync(join(root, name))
        .sort()
        .find((f) => !f.startsWith('.') && IMAGE_EXTENSIONS.has(extname(f).toLowerCase()));
      return first === undefined ? [] : [join(root, name, first)];
    });
}
