// `dsdnet export RUN|CHECKPOINT -o model.onnx [--web DIR]`: the deployed network as an ONNX model with its metadata,
// and as a static web page that runs it in the browser.
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';

import { type Command, InvalidArgumentError, Option } from 'commander';

import { DEFAULT_OPSET, exportOnnx, MIN_OPSET } from '../export/index.js';
import { checkWriteTarget, writeFileAtomic } from '../io/index.js';
import { pickExamples, writeStaticSite } from '../serve/index.js';
import { loadModel } from '../trained/index.js';
import { integerIn } from './options.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

function parseBatch(value: string): 'dynamic' | number {
  if (value === 'dynamic') return value;
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 1))
    throw new InvalidArgumentError(`expected 'dynamic' or a positive integer, got '${value}'`);
  return n;
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .argument('<checkpoint>', 'run folder, checkpoint folder or model.safetensors')
    .option('-o, --output <file>', 'the ONNX model to write (e.g. model.onnx)')
    .option(
      '--web <dir>',
      'also write a static web page (page, model, ONNX Runtime Web) that classifies in the browser',
    )
    .option(
      '--examples <files...>',
      "example images for the page (default: one from each of six classes of the model's dataset)",
    )
    .option(
      '--opset <n>',
      `ONNX opset (${MIN_OPSET}..${DEFAULT_OPSET})`,
      integerIn(MIN_OPSET, DEFAULT_OPSET),
      DEFAULT_OPSET,
    )
    .option('--batch <b>', "'dynamic' or a fixed batch size", parseBatch, 'dynamic' as const)
    .addOption(
      new Option(
        '--input <kind>',
        "what the graph takes: 'float32', normalised N x 3 x S x S, or 'uint8', decoded images N x D x D x 3 (RGB, short side resized to D, centre crop) that the graph crops and normalises",
      )
        .choices(['float32', 'uint8'])
        .default('float32'),
    )
    .option(
      '--fold-bn',
      'fold BatchNorm into the convolutions before it (fewer ops, same outputs within float rounding)',
    )
    .option('--tag <tag>', 'latest | best', 'latest')
    .description(
      'the deployed network (backbone and classifier) as an ONNX model, with class names, preprocessing and the run in its metadata',
    )
    .action(
      async (
        checkpoint: string,
        flags: {
          output?: string;
          web?: string;
          examples?: string[];
          opset: number;
          batch: 'dynamic' | number;
          foldBn?: boolean;
          tag: string;
          input: 'float32' | 'uint8';
        },
      ) => {
        if (flags.output === undefined && flags.web === undefined)
          throw new Error('give -o model.onnx, --web DIR, or both');
        if (flags.output !== undefined) checkWriteTarget(flags.output); // before the model is loaded and exported
        const loaded = loadModel(checkpoint, { tag: flags.tag });
        const { bytes, info, folded } = exportOnnx(loaded, checkpoint, {
          opset: flags.opset,
          batch: flags.batch,
          foldBatchNorm: flags.foldBn,
          version: pkg.version,
          input: flags.input,
        });
        loaded.model.dispose();
        if (flags.output !== undefined) {
          writeFileAtomic(flags.output, [bytes]);
          const megabytes = statSync(flags.output).size / 2 ** 20;
          console.log(
            `${flags.output}: ${loaded.backbone}, ${loaded.classNames.length} classes, input ${loaded.size} px, opset ${flags.opset}, batch ${flags.batch}, ${flags.input === 'uint8' ? `uint8 input of ${loaded.decodeSize} px` : 'float32 input'}${flags.foldBn ? `, ${folded} BatchNorm folded` : ''}, ${megabytes.toFixed(1)} MiB`,
          );
        }
        if (flags.web !== undefined) {
          const files = await writeStaticSite(
            { info, onnxBytes: bytes },
            flags.web,
            flags.examples ?? pickExamples(loaded.info.config?.data),
          );
          console.log(
            `${flags.web}: a static page that classifies in the browser (${files.length} files: the page, ONNX Runtime Web, wasm-vips, the model, ${files.filter((f) => f.endsWith('.jpg')).length} examples); serve the folder with any static file host`,
          );
        }
      },
    );
}
