// `dsdnet serve MODEL`: the HTTP server and its page.
import type { Command } from 'commander';

import { createServer, openServedModel, pickExamples } from '../serve/index.js';
import { integerIn, parsePositiveInteger } from './options.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .argument('<model>', 'run folder or checkpoint (libtorch), or an exported model.onnx (ONNX Runtime, no libtorch)')
    .option('--port <n>', 'port', integerIn(0, 65535), 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--examples <files...>', "example images for the page (default: one from each of six classes of the model's dataset, when it is there)")
    .option('--max-upload <bytes>', 'largest upload accepted', parsePositiveInteger, 20 * 2 ** 20)
    .option('--max-batch <n>', 'images scored together at most', parsePositiveInteger, 16)
    .option('--max-queue <n>', 'images waiting at most; more get 503', parsePositiveInteger, 64)
    .description('an HTTP server: POST /predict (image bytes or multipart) answers the top classes; GET /health, /model; a web page at /')
    .action(async (path: string, flags: { port: number; host: string; examples?: string[]; maxUpload: number; maxBatch: number; maxQueue: number }) => {
      const model = await openServedModel(path);
      const examples = flags.examples ?? pickExamples(model.info.run.dataset as string | undefined);
      const app = await createServer(model, { examples, maxUploadBytes: flags.maxUpload, maxBatch: flags.maxBatch, maxQueue: flags.maxQueue });
      const address = await app.listen({ port: flags.port, host: flags.host });
      console.log(`dsdnet serve: ${model.info.backbone}, ${model.info.classNames.length} classes (${model.engine}) at ${address}`);
      const stop = (): void => void app.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
