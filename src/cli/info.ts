// `dsdnet info`: what a checkpoint holds.
import type { Command } from 'commander';

import { loadModel } from '../trained/index.js';

export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .argument('<checkpoint>', 'run folder, checkpoint folder or model.safetensors')
    .description('what a checkpoint holds: backbone, input size, classes, training state')
    .action((checkpoint: string) => {
      const loaded = loadModel(checkpoint);
      const info = loaded.info;
      console.log(`checkpoint: ${loaded.source}`);
      console.log(
        `backbone: ${loaded.backbone}${loaded.info.config?.bottleneckStride === '1x1' ? " v1 (strides on the bottlenecks' 1x1 convolutions)" : ''} (${loaded.model.numParameters().toLocaleString('en-US')} parameters), input ${loaded.size} px`,
      );
      console.log(`classes (${loaded.classNames.length}): ${loaded.classNames.join(', ')}`);
      if (info.config)
        console.log(
          `method: ${info.config.method}, epoch ${info.epoch}/${info.config.epochs}, iteration ${info.iteration}`,
        );
      loaded.model.dispose();
    });
}
