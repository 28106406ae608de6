// `dsdnet weights inspect SOURCE` and `dsdnet weights import SOURCE --backbone NAME -o FILE`.
import { type Command, Option } from 'commander';

import { checkWriteTarget, writeSafetensors } from '../io/index.js';
import { BACKBONES, BOTTLENECK_STRIDES, type BottleneckStride, createBackbone } from '../models/index.js';
import {
  describeCounts,
  disposeWeights,
  fitOf,
  IMPORT_FORMAT,
  mapToBackbone,
  nonFiniteCounts,
  readPretrained,
  readWeights,
  resolveSource,
  type WeightSet,
} from '../weights/index.js';

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function describe(weights: WeightSet, backbones: readonly string[]): string {
  const lines = [
    `${weights.path}: ${weights.kind}, ${plural(weights.tensors.size, 'tensor')}, ${[...weights.tensors.values()].reduce((s, t) => s + t.numel, 0).toLocaleString('en-US')} values`,
  ];
  let nonFinite = 0;
  for (const [key, t] of weights.tensors) {
    const widened = weights.sourceDtypes.get(key);
    const counts = nonFiniteCounts(t);
    if (counts !== null) nonFinite++;
    lines.push(
      `  ${key}  [${t.shape.join(', ')}]  ${widened && widened !== t.dtype ? `${widened} (read as ${t.dtype})` : t.dtype}${counts ? `  holds ${describeCounts(counts)}` : ''}`,
    );
  }
  if (nonFinite > 0)
    lines.push(
      `${plural(nonFinite, 'tensor')} ${nonFinite === 1 ? 'holds' : 'hold'} NaN or Inf values: weights import and train --pretrained refuse the file if the backbone uses them`,
    );
  if (weights.values.size > 0)
    lines.push('other entries:', ...[...weights.values].map(([key, v]) => `  ${key} = ${JSON.stringify(v)}`));
  lines.push('backbones:');
  for (const name of backbones) {
    const backbone = createBackbone(name, 1);
    let verdict: string;
    try {
      const mapped = mapToBackbone(weights, backbone);
      const fit = fitOf(mapped.state, backbone);
      const covered = [...backbone.stateDict().keys()].filter((k) => mapped.state.has(k)).length;
      const problems = [
        plural(fit.missing.length, 'missing key'),
        plural(fit.unexpected.length, 'unexpected key'),
        plural(fit.misShaped.length, 'mis-shaped key'),
      ];
      const classifier = backbone.classifierKeys().find((k) => k.endsWith('weight'));
      const classes = classifier && mapped.state.get(classifier)?.shape[0];
      verdict =
        fit.missing.length + fit.unexpected.length + fit.misShaped.length === 0
          ? `fits (${covered} keys${mapped.layout === 'torchvision' ? '' : `, ${mapped.layout} names`}${mapped.entry ? ` under '${mapped.entry}'` : ''}` +
            `${mapped.foldedBatchNorm ? ', BatchNorm folded: calibrated when training starts' : ''}; classifier ${classes ? `for ${classes} classes, ` : 'absent, '}replaced for the dataset's classes)`
          : `does not fit: ${problems.join(', ')}`;
    } catch (error) {
      verdict = `does not fit: ${(error as Error).message}`;
    }
    backbone.dispose();
    lines.push(`  ${name}: ${verdict}`);
  }
  return lines.join('\n');
}

export function registerWeightsCommands(program: Command): void {
  const weights = program
    .command('weights')
    .description('pretrained weights: what a file holds, and importing it for a backbone');

  weights
    .command('inspect')
    .argument(
      '<source>',
      "a PyTorch .pth (torch.save), a safetensors file, a folder of .npy tensors, or 'imagenet' with --backbone",
    )
    .option('--backbone <name>', `check the fit with this backbone only (${BACKBONES.join(', ')})`)
    .description('tensors, shapes and dtypes of a weight source, and which backbones it fits')
    .action((source: string, flags: { backbone?: string }) => {
      const backbones = flags.backbone ? [flags.backbone] : BACKBONES;
      if (flags.backbone && !(BACKBONES as readonly string[]).includes(flags.backbone))
        throw new Error(`unknown backbone '${flags.backbone}' (expected one of ${BACKBONES.join(', ')})`);
      const set = readWeights(resolveSource(source, flags.backbone ?? 'mobilenet_v2').path);
      console.log(describe(set, backbones));
      disposeWeights(set);
    });

  weights
    .command('import')
    .argument('<source>', "a PyTorch .pth (torch.save), a safetensors file, a folder of .npy tensors, or 'imagenet'")
    .requiredOption('--backbone <name>', BACKBONES.join(' | '))
    .addOption(
      new Option(
        '--bottleneck-stride <s>',
        "resnet50: the stride placement the weights were trained with, recorded so that train --pretrained uses it (default: what the source records; 'imagenet' is 1x1)",
      ).choices(BOTTLENECK_STRIDES),
    )
    .requiredOption(
      '-o, --out <file>',
      'the backbone weights to write (safetensors, torchvision names, without the classifier)',
    )
    .description(
      "convert weights for a backbone into dsdnet's safetensors (checked to fit; use it with train --pretrained)",
    )
    .action((source: string, flags: { backbone: string; bottleneckStride?: BottleneckStride; out: string }) => {
      checkWriteTarget(flags.out); // before the source is read
      const backbone = createBackbone(flags.backbone, 1, { bottleneckStride: flags.bottleneckStride });
      const pretrained = readPretrained(source, backbone, flags.backbone);
      // Where the strides sit changes the function, not the tensors: the file must say it.
      const bottleneckStride = flags.bottleneckStride ?? pretrained.backboneOptions?.bottleneckStride;
      writeSafetensors(flags.out, pretrained.state, {
        format: IMPORT_FORMAT,
        backbone: flags.backbone,
        source: pretrained.source,
        layout: pretrained.layout,
        foldedBatchNorm: String(pretrained.foldedBatchNorm),
        ...(bottleneckStride !== undefined ? { bottleneckStride } : {}),
      });
      console.log(
        `${flags.out}: ${plural(pretrained.state.size, 'tensor')} of ${flags.backbone}${bottleneckStride === '1x1' ? ' (v1: strides on the 1x1 convolutions)' : ''} from ${pretrained.source} (${pretrained.kind}, ${pretrained.layout} names)` +
          `${pretrained.dropped.length > 0 ? `; left out: ${pretrained.dropped.join(', ')}` : ''}${pretrained.foldedBatchNorm ? '; BatchNorm is folded: training calibrates it' : ''}`,
      );
      for (const t of pretrained.state.values()) t.dispose();
      backbone.dispose();
    });
}
