// `dsdnet export --web DIR`: the page, the model and the runtimes as a static folder that any static file host
// serves; the model runs in the visitor's browser, no server-side inference. The page's service worker makes it
// cross-origin isolated there and keeps it for offline use.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { ModelInfo } from '../export/index.js';
import { exampleJpegs, modelDescription } from './server.js';
import { pageFiles } from './site.js';

export async function writeStaticSite(
  model: { info: ModelInfo; onnxBytes: Uint8Array },
  dir: string,
  examples: readonly string[],
): Promise<string[]> {
  const jpegs = await exampleJpegs(examples, model.info.decodeSize);
  const files = [
    ...pageFiles(),
    { path: 'model.onnx', bytes: model.onnxBytes },
    { path: 'model.json', bytes: JSON.stringify(modelDescription(model.info, 'browser'), null, 1) },
    ...jpegs.map((e, i) => ({ path: `examples/${i}.jpg`, bytes: e.jpeg })),
    {
      path: 'examples/index.json',
      bytes: JSON.stringify(jpegs.map((e, i) => ({ name: e.name, url: `examples/${i}.jpg` }))),
    },
  ];
  for (const file of files) {
    mkdirSync(dirname(join(dir, file.path)), { recursive: true });
    writeFileSync(join(dir, file.path), file.bytes);
  }
  return files.map((f) => f.path);
}
