// `dsdnet export --web DIR`: the page, the model and ONNX Runtime Web as a static folder that any static file host
// serves; the model runs in the visitor's browser, no server-side inference.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ModelInfo } from '../export/info.js';
import { exampleJpegs, modelDescription, ORT_WEB_FILES, ortWebDir, PAGE_FILES, webDir } from './server.js';

export async function writeStaticSite(model: { info: ModelInfo; onnxBytes: Uint8Array }, dir: string, examples: readonly string[]): Promise<string[]> {
  mkdirSync(join(dir, 'ort'), { recursive: true });
  mkdirSync(join(dir, 'examples'), { recursive: true });
  for (const file of Object.keys(PAGE_FILES)) writeFileSync(join(dir, file), readFileSync(join(webDir(), file)));
  for (const file of ORT_WEB_FILES) copyFileSync(join(ortWebDir(), file), join(dir, 'ort', file));
  writeFileSync(join(dir, 'model.onnx'), model.onnxBytes);
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelDescription(model.info, 'browser'), null, 1));
  const jpegs = await exampleJpegs(examples, model.info.decodeSize);
  jpegs.forEach((e, i) => writeFileSync(join(dir, 'examples', `${i}.jpg`), e.jpeg));
  writeFileSync(join(dir, 'examples', 'index.json'), JSON.stringify(jpegs.map((e, i) => ({ name: e.name, url: `examples/${i}.jpg` }))));
  return [...Object.keys(PAGE_FILES), 'model.onnx', 'model.json', ...ORT_WEB_FILES.map((f) => `ort/${f}`), `examples/ (${jpegs.length})`];
}
