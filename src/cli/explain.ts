// `dsdnet explain RUN|CHECKPOINT images... -o DIR`: where the model finds the evidence for a class (Grad-CAM).
import { type Command, InvalidArgumentError, Option } from 'commander';

import { CAM_METHODS, type CamMethod, checkOutputDir, explainImages } from '../explain/index.js';
import { checkImageFiles } from '../eval/index.js';
import { loadModel } from '../trained/index.js';

/** '4', '3', '2', '1' or 'all' (2, 3 and 4: stage 1 is rarely more than edges). */
function parseStages(value: string): number[] {
  if (value === 'all') return [2, 3, 4];
  const stage = Number(value);
  if (!(Number.isInteger(stage) && stage >= 1 && stage <= 4))
    throw new InvalidArgumentError(`expected 4, 3, 2, 1 or all, got '${value}'`);
  return [stage];
}

export function registerExplainCommand(program: Command): void {
  program
    .command('explain')
    .argument('<model>', 'run folder, checkpoint folder or model.safetensors')
    .argument('<images...>', 'image files')
    .requiredOption('-o, --output <dir>', 'a new (or empty) folder for the pictures, the raw maps and explain.json')
    .option('--class <name>', "the class to explain (default: each image's predicted class)")
    .option(
      '--stage <stage>',
      'the stage whose features are weighed: 4 (the last), 3, 2, 1 or all (2, 3 and 4 side by side)',
      parseStages,
      [4],
    )
    .addOption(new Option('--method <method>', 'gradcam or gradcam++').choices(CAM_METHODS).default('gradcam'))
    .option('--tag <tag>', 'latest | best', 'latest')
    .description(
      "class activation maps (Grad-CAM): where the model finds a class's evidence; an sd/dsd run's stage heads side by side",
    )
    .action(
      async (
        path: string,
        files: string[],
        flags: { output: string; class?: string; stage: number[]; method: CamMethod; tag: string },
      ) => {
        checkImageFiles(files);
        checkOutputDir(flags.output); // before the model is loaded
        const loaded = loadModel(path, { tag: flags.tag, heads: true });
        try {
          const results = await explainImages(loaded, files, flags.output, {
            stages: flags.stage,
            method: flags.method,
            className: flags.class,
          });
          for (const r of results)
            console.log(
              `${r.file}: ${r.explained} (${(100 * r.probability).toFixed(1)}%; predicted ${r.predicted}) -> ${r.png}, ${r.npy} (${r.panels.join(', ')})`,
            );
          console.log(`${flags.output}: montage.png, explain.json`);
        } finally {
          loaded.model.dispose();
          for (const head of loaded.heads ?? []) head.dispose();
        }
      },
    );
}
