// `dsdnet serve`: an HTTP server (fastify) for a classifier. POST /predict takes images (raw bytes, multipart, JSON)
// and answers their top classes; GET /health (liveness), /ready (readiness), /model, /metrics (Prometheus),
// /openapi.json and /docs; the web page at / with examples, and the model and ONNX Runtime Web files it needs to run
// the same model in the browser (served from here, no CDN). Bad uploads get a 4xx with a JSON error; full queues get
// 503 with Retry-After; the server keeps serving. Every upload is held to a pixel budget, decodes are bounded in
// number, and clients that stop sending are cut off (408) after set times. An API key, when set, guards the routes
// that cost or give away; CORS is off unless origins are named.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';

import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import sharp from 'sharp';

import { decodeImageBytes, ImageTooLargeError } from '../data/index.js';
import { topClasses } from '../eval/index.js';
import { requireApiKey } from './auth.js';
import { Batcher, ClientGoneError, DecodeLimit, QueueFullError } from './batcher.js';
import { brotliOf, etagOf, pageFiles, REVALIDATE, type SiteFile } from './site.js';
import type { ModelInfo } from '../export/index.js';
import { ServerMetrics } from './metrics.js';
import type { ServedModel } from './served-model.js';
import { registerOpenApi, routeSchemas } from './openapi.js';
import { IMAGE_TYPES, type JsonUpload, type Upload, UploadError, uploadsOf } from './uploads.js';

export interface ServeOptions {
  /** Largest upload accepted, in bytes (default DEFAULT_MAX_UPLOAD_BYTES). */
  maxUploadBytes?: number;
  /** Images in one request at most (default DEFAULT_MAX_BATCH); more get 413. */
  maxFiles?: number;
  /** Images scored together at most (default DEFAULT_MAX_BATCH). */
  maxBatch?: number;
  /** Images waiting at most before 503, in each queue: to be decoded, to be scored (default DEFAULT_MAX_QUEUE). */
  maxQueue?: number;
  /** Largest image accepted, in pixels as its header declares them (default DEFAULT_MAX_PIXELS); more get 413. */
  maxPixels?: number;
  /** Uploads decoded at once at most (default: the number of CPUs). */
  maxDecoding?: number;
  /** Time a client has to send its request headers, in ms (default 10 s; timeouts at most MAX_TIMEOUT_S). */
  headersTimeoutMs?: number;
  /** Time a client has to send its whole request, headers and body, in ms (default 30 s). */
  requestTimeoutMs?: number;
  /** Time an idle keep-alive connection stays open between requests, in ms (default 5 s). */
  idleTimeoutMs?: number;
  /** Decodes an upload to decodeSize px RGB; `source` names it in errors (default decodeImageBytes with the model's options; tests slow it down). */
  decodeUpload?: (bytes: Buffer, maxPixels: number, source: string) => Promise<Uint8Array>;
  /** Image files offered as examples on the page. */
  examples?: readonly string[];
  /** Fastify's logger (pino): an access log and errors (default off). */
  logger?: FastifyServerOptions['logger'];
  /** Origins allowed to call the server from a browser ('*' for any); none by default (no CORS headers). */
  cors?: readonly string[];
  /** When set, POST /predict, GET /model.onnx and GET /metrics need it (Authorization: Bearer KEY or X-API-Key: KEY). */
  apiKey?: string;
  /** Whether GET /model.onnx offers the model (default true); the page's in-browser engine needs it. */
  modelDownload?: boolean;
}

/**
 * 8192 x 8192: a scene classifier looks at a few hundred pixels, and this still takes any camera photo or a large
 * aerial tile, while one decode holds at most ~200 MB of RGB (times --max-decoding at once). Bigger scenes are cut
 * into tiles before they are classified anyway.
 */
export const DEFAULT_MAX_PIXELS = 2 ** 26;
export const DEFAULT_TIMEOUTS_MS = { headers: 10_000, request: 30_000, idle: 5_000 };
/** Node's timers hold at most 2^31 - 1 ms, and Node adds a second to the keep-alive timeout: 2,147,482 s (24.8 days). */
export const MAX_TIMEOUT_S = Math.floor((2 ** 31 - 1 - 1000) / 1000);
export const DEFAULT_MAX_UPLOAD_BYTES = 20 * 2 ** 20;
export const DEFAULT_MAX_BATCH = 16;
export const DEFAULT_MAX_QUEUE = 64;
/** Seconds a client is asked to wait after a 503: the queues drain in about a batch's time. */
export const RETRY_AFTER_S = 1;

/** How the page may reach the model: whether it must ask for an API key, whether it can fetch model.onnx. */
export interface ModelAccess {
  apiKeyRequired: boolean;
  downloadable: boolean;
}

/** The page's view of the model: what GET /model answers and what `export --web` writes as model.json (no key, the model beside it). */
export function modelDescription(
  info: ModelInfo,
  engine: string,
  access: ModelAccess = { apiKeyRequired: false, downloadable: true },
): Record<string, unknown> {
  return {
    engine,
    backbone: info.backbone,
    classes: info.classNames,
    input: info.input,
    inputSize: info.inputSize,
    decodeSize: info.decodeSize,
    mean: info.mean,
    std: info.std,
    bands: info.bands,
    run: info.run,
    ...access,
  };
}

/** Example images as JPEG for the page (TIFFs and BMPs are not shown by browsers), at most 512 px. */
export async function exampleJpegs(
  files: readonly string[],
  decodeSize: number,
): Promise<{ name: string; jpeg: Buffer }[]> {
  return Promise.all(
    files.map(async (file) => {
      const rgb = await decodeImageBytes(readFileSync(file), file, Math.min(512, Math.max(decodeSize, 256)), 'cover');
      const side = Math.round(Math.sqrt(rgb.length / 3));
      return {
        name: file.split('/').slice(-2).join('/'),
        jpeg: await sharp(rgb, { raw: { width: side, height: side, channels: 3 } })
          .jpeg({ quality: 90 })
          .toBuffer(),
      };
    }),
  );
}

/** A request that broke off or took too long: a JSON error on the socket (no route runs), then it is closed. */
function clientErrorHandler(timeouts: {
  headers: number;
  request: number;
}): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, reason, message] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [
            408,
            'Request Timeout',
            `request not received in time: headers are due within ${timeouts.headers / 1000} s, the whole request within ${timeouts.request / 1000} s`,
          ]
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'request headers too large']
          : [400, 'Bad Request', `malformed HTTP request (${error.code ?? error.message})`];
    const body = JSON.stringify({ error: message });
    if (socket.writable)
      socket.write(
        `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    socket.destroy();
  };
}

/**
 * A route for one file of the page: validated by its ETag, compressed once when the client takes Brotli, and
 * cross-origin isolated (the page's wasm-vips needs SharedArrayBuffer).
 */
function servesFile(file: SiteFile): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  const etag = etagOf(file.bytes);
  let brotli: Promise<Buffer | null> | undefined; // made on the first request that takes it
  return async (request, reply) => {
    void reply.header('ETag', etag).header('Cache-Control', file.cacheControl).header('Vary', 'Accept-Encoding');
    void reply
      .header('Cross-Origin-Opener-Policy', 'same-origin')
      .header('Cross-Origin-Embedder-Policy', 'require-corp')
      .header('Cross-Origin-Resource-Policy', 'same-origin');
    if (request.headers['if-none-match'] === etag) return reply.status(304).send();
    const compressed = /\bbr\b/.test(String(request.headers['accept-encoding'] ?? ''))
      ? await (brotli ??= brotliOf(file))
      : null;
    return compressed
      ? reply.type(file.type).header('Content-Encoding', 'br').send(compressed)
      : reply.type(file.type).send(file.bytes);
  };
}

/** Decodes a request's images and scores them, each through the decode limit and the batcher; the first error fails the request. */
async function scoreUploads(
  uploads: Upload[],
  decode: (upload: Upload, source: string) => Promise<Uint8Array>,
  decoding: DecodeLimit,
  batcher: Batcher<Uint8Array, Float64Array>,
  gone: () => boolean,
): Promise<Float64Array[]> {
  let failed = false;
  return Promise.all(
    uploads.map(async (upload, i) => {
      // One image keeps the plain 'upload' in messages; among several, the error names which one.
      const source =
        uploads.length === 1
          ? 'upload'
          : `image ${i + 1} of ${uploads.length}${upload.name ? ` (${upload.name})` : ''}`;
      try {
        if (upload.bytes.length === 0)
          throw new UploadError(`${uploads.length === 1 ? '' : `${source}: `}empty upload (0 bytes)`);
        // The response is destroyed once the client's connection closed, and a request with a bad image is answered
        // at once: its images still waiting then are not decoded.
        const pixels = await decoding.run(
          () => decode(upload, source),
          () => failed || gone(),
        );
        return await batcher.submit(pixels);
      } catch (error) {
        failed = true;
        if (error instanceof UploadError || error instanceof QueueFullError || error instanceof ClientGoneError)
          throw error;
        throw new UploadError((error as Error).message, error instanceof ImageTooLargeError ? 413 : 400);
      }
    }),
  );
}

export async function createServer(model: ServedModel, options: ServeOptions = {}): Promise<FastifyInstance> {
  sharp.cache(false); // every upload is new: libvips' operation cache would only hold memory
  const limits = {
    maxBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    maxFiles: options.maxFiles ?? DEFAULT_MAX_BATCH,
  };
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  // Whole milliseconds: fastify takes integers only.
  const timeouts = {
    headers: Math.ceil(options.headersTimeoutMs ?? DEFAULT_TIMEOUTS_MS.headers),
    request: Math.ceil(options.requestTimeoutMs ?? DEFAULT_TIMEOUTS_MS.request),
    idle: Math.ceil(options.idleTimeoutMs ?? DEFAULT_TIMEOUTS_MS.idle),
  };
  const { info } = model;
  const decodeUpload =
    options.decodeUpload ??
    ((bytes, limit, source) =>
      decodeImageBytes(bytes, source, info.decodeSize, 'cover', { ...model.decode, maxPixels: limit }));
  const decoding = new DecodeLimit({ maxActive: options.maxDecoding ?? availableParallelism(), maxWaiting: maxQueue });
  const metrics = new ServerMetrics({ decode: () => decoding.waiting, score: () => batcher.waiting }, maxBatch);
  const classes = info.classNames.length;
  const bytesPerImage = info.decodeSize * info.decodeSize * 3;
  const batcher = new Batcher<Uint8Array, Float64Array>(
    async (images) => {
      const pixels = new Uint8Array(images.length * bytesPerImage);
      images.forEach((image, i) => pixels.set(image, i * bytesPerImage));
      const started = performance.now();
      const probabilities = await model.probabilities(pixels, images.length);
      metrics.scored(images.length, (performance.now() - started) / 1000);
      return images.map((_, i) =>
        Float64Array.from(Array.prototype.slice.call(probabilities, i * classes, (i + 1) * classes) as number[]),
      );
    },
    { maxBatch, maxQueue },
  );
  const examples = await exampleJpegs(options.examples ?? [], info.decodeSize);
  const onnxBytes = Buffer.from(model.onnxBytes.buffer, model.onnxBytes.byteOffset, model.onnxBytes.byteLength);
  const site = pageFiles();
  const access: ModelAccess = {
    apiKeyRequired: options.apiKey !== undefined,
    downloadable: options.modelDownload ?? true,
  };
  const schemas = routeSchemas(access.apiKeyRequired);
  const guarded = options.apiKey === undefined ? {} : { onRequest: requireApiKey(options.apiKey) };
  let closing = false;

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: limits.maxBytes,
    requestTimeout: timeouts.request,
    keepAliveTimeout: timeouts.idle,
    // Node checks headersTimeout <= requestTimeout when the server is made, before fastify sets the latter: both go
    // here (else headers over Node's default request timeout, 300 s, are refused). Node checks those deadlines only
    // every connectionsCheckingInterval (its default, 30 s, would triple a 10 s limit), in whole milliseconds >= 1.
    http: {
      headersTimeout: timeouts.headers,
      requestTimeout: timeouts.request,
      connectionsCheckingInterval: Math.max(1, Math.floor(Math.min(1000, timeouts.headers / 4))),
    },
    clientErrorHandler: clientErrorHandler(timeouts),
    // Requests that arrive while the server closes are refused by the hook below, with a JSON error and Retry-After.
    return503OnClosing: false,
  });
  await registerOpenApi(app, access.apiKeyRequired);
  if (options.cors?.length) await app.register(cors, { origin: options.cors.includes('*') ? '*' : [...options.cors] });
  await app.register(multipart);
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer', bodyLimit: limits.maxBytes }, (_request, body, done) =>
    done(null, body),
  );
  metrics.observe(app);
  app.addHook('preClose', async () => void (closing = true));
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) return reply.status(503).header('Connection', 'close').send({ error: 'the server is shutting down' });
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 503) reply.header('Retry-After', String(RETRY_AFTER_S));
    return payload;
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply: FastifyReply) => {
    const status =
      error instanceof QueueFullError
        ? 503
        : error instanceof UploadError
          ? error.statusCode
          : error.code === 'FST_REQ_FILE_TOO_LARGE'
            ? 413
            : (error.statusCode ?? 500);
    // A full queue is the expected answer to overload; a client that went away reads no answer (fastify drops it).
    if (status >= 500 && !(error instanceof QueueFullError || error instanceof ClientGoneError)) app.log.error(error);
    void reply.status(status).send({ error: error.message });
  });
  app.setNotFoundHandler(
    (request, reply) => void reply.status(404).send({ error: `no route ${request.method} ${request.url}` }),
  );

  app.get('/health', { schema: schemas.health }, async () => ({ status: 'ok', waiting: batcher.waiting }));
  // The model is loaded before the server is made: readiness is room in both queues (and, by the hook above, not
  // shutting down).
  app.get('/ready', { schema: schemas.ready }, async (_request, reply) => {
    const waiting = { decode: decoding.waiting, score: batcher.waiting };
    const ready = waiting.decode < maxQueue && waiting.score < maxQueue;
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'busy', waiting });
  });
  app.get('/metrics', { schema: schemas.metrics, ...guarded }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/model', { schema: schemas.model }, async () => modelDescription(model.info, model.engine, access));
  const modelFile = servesFile({
    path: 'model.onnx',
    type: 'application/octet-stream',
    bytes: onnxBytes,
    cacheControl: REVALIDATE,
  });
  app.get('/model.onnx', { schema: schemas.modelOnnx, ...guarded }, async (request, reply) => {
    if (!access.downloadable)
      return reply
        .status(404)
        .send({ error: 'this server does not offer its model for download (serve --no-model-download)' });
    return modelFile(request, reply);
  });
  app.get('/examples', { schema: schemas.hidden }, async () =>
    examples.map((e, i) => ({ name: e.name, url: `/examples/${i}.jpg` })),
  );
  app.get<{ Params: { index: string } }>('/examples/:index.jpg', { schema: schemas.hidden }, async (request, reply) => {
    const example = examples[Number(request.params.index)];
    if (example === undefined) return reply.status(404).send({ error: `no example ${request.params.index}` });
    return reply.type('image/jpeg').send(example.jpeg);
  });
  for (const file of site) app.get(`/${file.path}`, { schema: schemas.hidden }, servesFile(file));
  app.get('/', { schema: schemas.hidden }, servesFile(site[0]));

  app.post<{ Querystring: { topK?: string }; Body: JsonUpload | Buffer }>(
    '/predict',
    { schema: schemas.predict, ...guarded },
    async (request, reply) => {
      const started = performance.now();
      const topK = request.query.topK === undefined ? 5 : Number(request.query.topK);
      if (!(Number.isInteger(topK) && topK >= 1))
        throw new UploadError(`topK must be a positive integer, got '${request.query.topK}'`);
      const uploads = await uploadsOf(request, limits);
      const scores = await scoreUploads(
        uploads,
        (upload, source) => decodeUpload(upload.bytes, maxPixels, source),
        decoding,
        batcher,
        () => reply.raw.destroyed,
      );
      const results = scores.map((probabilities, i) => ({
        name: uploads[i].name ?? `image ${i + 1}`,
        top: topClasses(probabilities, info.classNames, Math.min(topK, classes)),
      }));
      // One image keeps the top-level `top` that the page and earlier clients read.
      return {
        results,
        ...(results.length === 1 ? { top: results[0].top } : {}),
        milliseconds: Math.round(performance.now() - started),
      };
    },
  );
  app.addHook('onClose', async () => model.close());
  return app;
}
