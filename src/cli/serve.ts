// `dsdnet serve MODEL`: the HTTP server and its page.
import { availableParallelism } from 'node:os';

import { type Command, InvalidArgumentError, Option } from 'commander';

import type { Device } from '../torch/index.js';
import {
  createServer,
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_PIXELS,
  DEFAULT_MAX_QUEUE,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_TIMEOUTS_MS,
  MAX_TIMEOUT_S,
  openServedModel,
  pickExamples,
  type ServeEngine,
} from '../serve/index.js';
import { DEVICE_HELP, integerIn, parseDevice, parseNumber, parsePositiveInteger } from './options.js';

/** `--cors`: '*' or an origin, scheme://host[:port] as browsers send it in the Origin header. */
export function parseOrigin(value: string, previous: string[] = []): string[] {
  let origin: string | undefined;
  try {
    origin = new URL(value).origin;
  } catch {
    // not a URL: refused below
  }
  if (value !== '*' && origin !== value)
    throw new InvalidArgumentError(
      `expected '*' or an origin such as https://example.org (scheme, host and port only, no path or trailing slash), got '${value}'`,
    );
  return [...previous, value];
}

/**
 * The API key from --api-key or DSDNET_API_KEY, checked here rather than by a parser: commander would echo a secret
 * in its error. Header values lose surrounding spaces, so a key must be printable ASCII without spaces.
 */
export function checkApiKey(key: string | undefined): string | undefined {
  if (key !== undefined && !/^[\x21-\x7e]+$/.test(key))
    throw new Error(
      '--api-key (or DSDNET_API_KEY): expected printable ASCII without spaces, and not empty (the key is not shown)',
    );
  return key;
}

/** A time in seconds (fractions allowed), > 0 and within what Node's timers hold. */
export function parseSeconds(value: string): number {
  const seconds = parseNumber(value);
  if (!(seconds > 0 && seconds <= MAX_TIMEOUT_S))
    throw new InvalidArgumentError(
      `expected a number of seconds > 0 and at most ${MAX_TIMEOUT_S} (Node's timer limit, 24.8 days), got '${value}'`,
    );
  return seconds;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

interface ServeFlags {
  port: number;
  host: string;
  device: Device;
  engine?: ServeEngine;
  examples?: string[];
  maxUpload: number;
  maxFiles: number;
  maxPixels: number;
  maxBatch: number;
  maxQueue: number;
  maxDecoding: number;
  headerTimeout: number;
  requestTimeout: number;
  idleTimeout: number;
  logLevel: string;
  cors: string[];
  apiKey?: string;
  modelDownload: boolean;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .argument('<model>', 'run folder or checkpoint (libtorch), or an exported model.onnx (ONNX Runtime, no libtorch)')
    .option('--port <n>', 'port', integerIn(0, 65535), 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--device <device>',
      `${DEVICE_HELP} (a run folder or checkpoint, served with libtorch)`,
      parseDevice,
      'cpu',
    )
    .addOption(
      new Option(
        '--engine <engine>',
        'what scores a run folder or checkpoint: onnx (ONNX Runtime, exported on start; the faster on a CPU) or libtorch',
      )
        .choices(['onnx', 'libtorch'])
        .default(undefined, 'onnx on the CPU, libtorch on a GPU'),
    )
    .option(
      '--examples <files...>',
      'example images for the page (default for a run folder or checkpoint: one from each of six classes of its dataset, when it is there; none for a model.onnx)',
    )
    .option(
      '--max-upload <bytes>',
      'largest upload accepted, all its images together; more get 413',
      parsePositiveInteger,
      DEFAULT_MAX_UPLOAD_BYTES,
    )
    .option('--max-files <n>', 'images in one request at most; more get 413', parsePositiveInteger, DEFAULT_MAX_BATCH)
    .addOption(
      new Option('--max-pixels <n>', 'largest image accepted, in pixels as its header declares them; more get 413')
        .argParser(parsePositiveInteger)
        .default(DEFAULT_MAX_PIXELS, `${DEFAULT_MAX_PIXELS} = 8192 x 8192`),
    )
    .option('--max-batch <n>', 'images scored together at most', parsePositiveInteger, DEFAULT_MAX_BATCH)
    .option(
      '--max-queue <n>',
      'uploads waiting at most to be decoded, and images waiting at most to be scored; more get 503',
      parsePositiveInteger,
      DEFAULT_MAX_QUEUE,
    )
    .addOption(
      new Option('--max-decoding <n>', 'uploads decoded at once at most; more wait (see --max-queue)')
        .argParser(parsePositiveInteger)
        .default(availableParallelism(), `the number of CPUs, ${availableParallelism()} here`),
    )
    .option(
      '--header-timeout <seconds>',
      'time a client has to send its request headers; then 408 and the connection is closed',
      parseSeconds,
      DEFAULT_TIMEOUTS_MS.headers / 1000,
    )
    .option(
      '--request-timeout <seconds>',
      'time a client has to send its whole request (headers and upload); then 408 and the connection is closed',
      parseSeconds,
      DEFAULT_TIMEOUTS_MS.request / 1000,
    )
    .option(
      '--idle-timeout <seconds>',
      'time an idle keep-alive connection stays open between requests',
      parseSeconds,
      DEFAULT_TIMEOUTS_MS.idle / 1000,
    )
    .addOption(
      new Option('--log-level <level>', 'access log and errors on stdout (JSON lines, pino)')
        .choices(LOG_LEVELS)
        .default('info'),
    )
    .addOption(
      new Option('--cors <origin>', "let pages from this origin call the server (repeat for several; '*' for any)")
        .argParser(parseOrigin)
        .default([], 'none'),
    )
    .addOption(
      new Option(
        '--api-key <key>',
        'POST /predict, GET /model.onnx and GET /metrics then need Authorization: Bearer KEY or X-API-Key: KEY (prefer the environment variable: flags show in ps)',
      ).env('DSDNET_API_KEY'),
    )
    .option('--no-model-download', "don't offer the model at /model.onnx (the page then runs no in-browser engine)")
    .description(
      'an HTTP server: POST /predict (image bytes, multipart or JSON, one or several images) answers the top classes; GET /health, /ready, /model, /metrics, /openapi.json, /docs; a web page at /',
    )
    .action(async (path: string, flags: ServeFlags) => {
      if (flags.headerTimeout > flags.requestTimeout)
        throw new Error(
          `--header-timeout ${flags.headerTimeout} must not exceed --request-timeout ${flags.requestTimeout} (the headers are part of the request)`,
        );
      if (flags.maxFiles > flags.maxQueue)
        throw new Error(
          `--max-files ${flags.maxFiles} must not exceed --max-queue ${flags.maxQueue} (a request's images wait in the queues together; more would always get 503)`,
        );
      const apiKey = checkApiKey(flags.apiKey);
      const model = await openServedModel(path, flags.device, flags.engine);
      const examples = flags.examples ?? pickExamples(model.dataset);
      const app = await createServer(model, {
        examples,
        maxUploadBytes: flags.maxUpload,
        maxFiles: flags.maxFiles,
        maxPixels: flags.maxPixels,
        maxBatch: flags.maxBatch,
        maxQueue: flags.maxQueue,
        maxDecoding: flags.maxDecoding,
        headersTimeoutMs: flags.headerTimeout * 1000,
        requestTimeoutMs: flags.requestTimeout * 1000,
        idleTimeoutMs: flags.idleTimeout * 1000,
        logger: { level: flags.logLevel },
        cors: flags.cors,
        apiKey,
        modelDownload: flags.modelDownload,
      });
      const address = await app.listen({ port: flags.port, host: flags.host });
      console.log(
        `dsdnet serve: ${model.info.backbone}, ${model.info.classNames.length} classes (${model.engine}) at ${address}`,
      );
      const stop = (): void => void app.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
