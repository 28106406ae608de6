// Exporting a trained classifier (run folder, checkpoint or model.safetensors) as a self-contained ONNX model: the
// deployed network only (backbone and classifier), traced in eval mode in float32, with what a predictor needs in
// its metadata: class names, input and decode sizes, resize and crop, normalisation, bands and scaling, and the
// training run it came from.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

import { IMAGENET_MEAN, IMAGENET_STD } from '../data/index.js';
import { dispose, randn } from '../torch/index.js';
import type { LoadedModel } from '../trained/index.js';
import { foldBatchNorm } from './fold.js';
import { DEFAULT_OPSET, type OnnxWriteOptions, writeOnnx } from './onnx.js';
import { METADATA_KEY, type ModelInfo, ONNX_FORMAT } from './info.js';
import { traceForward } from './trace.js';

export interface ExportOptions extends Pick<OnnxWriteOptions, 'opset' | 'batch'> {
  /** 'float32' (default): normalised NCHW input; 'uint8': decoded images, prepared inside the graph. */
  input?: ModelInfo['input'];
  /** Fold BatchNorm into the convolutions before it. */
  foldBatchNorm?: boolean;
  /** dsdnet's version, recorded as the producer's. */
  version?: string;
}

/** The run's final metrics, when `path` is a finished run folder. */
function finalMetrics(path: string): Record<string, unknown> | undefined {
  const file = join(path, 'report.json');
  if (!existsSync(file)) return undefined;
  const report = JSON.parse(readFileSync(file, 'utf8')) as {
    final?: { overallAccuracy: number; averageAccuracy: number; kappa: number };
  };
  return report.final
    ? {
        overallAccuracy: report.final.overallAccuracy,
        averageAccuracy: report.final.averageAccuracy,
        kappa: report.final.kappa,
      }
    : undefined;
}

/**
 * The model's metadata. It travels with the file and GET /model serves it, so the run's paths are cut to base names:
 * they name the checkpoint, dataset and weights without telling where they lay on the training machine.
 */
export function modelInfo(loaded: LoadedModel, path: string, input: ModelInfo['input'] = 'float32'): ModelInfo {
  const config = loaded.info.config;
  const run: Record<string, unknown> = {
    checkpoint: basename(loaded.source),
    epoch: loaded.info.epoch,
    iteration: loaded.info.iteration,
  };
  if (config) {
    const split = 'file' in config.split ? { file: basename(config.split.file) } : config.split;
    const pretrained = config.pretrained === null ? null : basename(config.pretrained);
    Object.assign(run, {
      method: config.method,
      seed: config.seed,
      dataset: basename(config.data),
      split,
      pretrained,
      precision: config.precision,
    });
  }
  const final = finalMetrics(path);
  if (final) run.final = final;
  return {
    format: ONNX_FORMAT,
    classNames: loaded.classNames,
    backbone: loaded.backbone,
    input,
    inputSize: loaded.size,
    decodeSize: loaded.decodeSize,
    resize: 'cover',
    mean: [...IMAGENET_MEAN],
    std: [...IMAGENET_STD],
    bands: loaded.decode.bands,
    scale: loaded.decode.scale,
    run,
  };
}

/** The ONNX model's bytes, with the number of BatchNorms folded. `path` is what the model was loaded from. */
export function exportOnnx(
  loaded: LoadedModel,
  path: string,
  options: ExportOptions = {},
): { bytes: Uint8Array; info: ModelInfo; folded: number } {
  const example = randn([1, 3, loaded.size, loaded.size]);
  const traced = traceForward(loaded.model, example);
  example.dispose();
  const { graph, folded } = options.foldBatchNorm ? foldBatchNorm(traced) : { graph: traced, folded: 0 };
  try {
    const info = modelInfo(loaded, path, options.input);
    const bytes = writeOnnx(graph, [3, loaded.size, loaded.size], {
      pixels: info.input === 'uint8' ? info : undefined,
      opset: options.opset ?? DEFAULT_OPSET,
      batch: options.batch,
      producerVersion: options.version,
      docString: `${loaded.backbone} scene classifier, ${loaded.classNames.length} classes, trained with dsdnet`,
      metadata: { [METADATA_KEY]: JSON.stringify(info), classes: JSON.stringify(info.classNames) },
    });
    return { bytes, info, folded };
  } finally {
    dispose([...new Set([...traced.weights.values(), ...graph.weights.values()])]);
  }
}
