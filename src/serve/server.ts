// `dsdnet serve`: an HTTP server (fastify) for a classifier. POST /predict takes image bytes (raw or multipart) and
// answers the top classes as JSON; GET /health, GET /model; the web page at / with examples, and the model and
// ONNX Runtime Web files it needs to run the same model in the browser (served from here, no CDN). Bad uploads get
// a 4xx with a JSON error; a full queue gets 503; the server keeps serving. Every upload is held to a pixel budget,
// decodes are bounded in number, and clients that stop sending are cut off (408) after set times.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';

import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import sharp from 'sharp';

import { decodeImageBytes } from '../data/decode.js';
import { ImageTooLargeError } from '../data/raster.js';
import { topClasses } from '../eval/predict-files.js';
import { Batcher, ClientGoneError, DecodeLimit, QueueFullError } from './batcher.js';
import { brotliOf, contentType, etagOf, pageFiles, REVALIDATE, type SiteFile } from './site.js';
import type { ModelInfo } from '../export/info.js';
import type { ServedModel } from './models.js';

export interface ServeOptions {
  /** Largest upload accepted, in bytes (default DEFAULT_MAX_UPLOAD_BYTES). */
  maxUploadBytes?: number;
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
  /** Decodes an upload to decodeSize px RGB (default decodeImageBytes with the model's options; tests slow it down). */
  decodeUpload?: (bytes: Buffer, maxPixels: number) => Promise<Uint8Array>;
  /** Image files offered as examples on the page. */
  examples?: readonly string[];
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

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/tiff', 'image/bmp', 'image/webp', 'application/octet-stream'];
export class UploadError extends Error {
  constructor(message: string, readonly statusCode = 400) {
    super(message);
    this.name = 'UploadError';
  }
}

/** The page's view of the model: what GET /model answers and what `export --web` writes as model.json. */
export function modelDescription(info: ModelInfo, engine: string): Record<string, unknown> {
  return { engine, backbone: info.backbone, classes: info.classNames, input: info.input, inputSize: info.inputSize, decodeSize: info.decodeSize, mean: info.mean, std: info.std, bands: info.bands, run: info.run };
}

/** Example images as JPEG for the page (TIFFs and BMPs are not shown by browsers), at most 512 px. */
export async function exampleJpegs(files: readonly string[], decodeSize: number): Promise<{ name: string; jpeg: Buffer }[]> {
  return Promise.all(
    files.map(async (file) => {
      const rgb = await decodeImageBytes(readFileSync(file), file, Math.min(512, Math.max(decodeSize, 256)), 'cover');
      const side = Math.round(Math.sqrt(rgb.length / 3));
      return { name: file.split('/').slice(-2).join('/'), jpeg: await sharp(rgb, { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 90 }).toBuffer() };
    }),
  );
}

async function multipartFile(request: FastifyRequest, maxBytes: number): Promise<Buffer> {
  try {
    const file = await request.file({ limits: { fileSize: maxBytes, files: 1 } });
    if (file === undefined) throw new UploadError('multipart upload without a file part');
    const bytes = await file.toBuffer();
    if (file.file.truncated) throw new UploadError(`upload larger than ${maxBytes} bytes`, 413);
    return bytes;
  } catch (error) {
    // @fastify/multipart's own errors carry their status (413 for limits); the parser's (busboy) are the body's fault.
    if (error instanceof UploadError || (error as { statusCode?: number }).statusCode !== undefined) throw error;
    throw new UploadError(`malformed multipart upload: ${(error as Error).message}`);
  }
}

async function uploadOf(request: FastifyRequest, maxBytes: number): Promise<Buffer> {
  if (request.isMultipart()) return multipartFile(request, maxBytes);
  const body = request.body;
  if (!Buffer.isBuffer(body)) throw new UploadError('send the image bytes (Content-Type image/jpeg, image/png, ...) or a multipart form with one file', 415);
  return body;
}

/** A request that broke off or took too long: a JSON error on the socket (no route runs), then it is closed. */
function clientErrorHandler(timeouts: { headers: number; request: number }): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, reason, message] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', `request not received in time: headers are due within ${timeouts.headers / 1000} s, the whole request within ${timeouts.request / 1000} s`]
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'request headers too large']
          : [400, 'Bad Request', `malformed HTTP request (${error.code ?? error.message})`];
    const body = JSON.stringify({ error: message });
    if (socket.writable) socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    socket.destroy();
  };
}

/**
 * A route for one file of the page: validated by its ETag, compressed once when the client takes Brotli, and
 * cross-origin isolated (the page's wasm-vips needs SharedArrayBuffer).
 */
function servesFile(file: SiteFile): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  const etag = etagOf(file.bytes);
  let brotli: Buffer | null | undefined;
  return async (request, reply) => {
    void reply.header('ETag', etag).header('Cache-Control', file.cacheControl).header('Vary', 'Accept-Encoding');
    void reply.header('Cross-Origin-Opener-Policy', 'same-origin').header('Cross-Origin-Embedder-Policy', 'require-corp').header('Cross-Origin-Resource-Policy', 'same-origin');
    if (request.headers['if-none-match'] === etag) return reply.status(304).send();
    if (/\bbr\b/.test(String(request.headers['accept-encoding'] ?? ''))) brotli ??= brotliOf(file);
    else return reply.type(file.type).send(file.bytes);
    return brotli === null ? reply.type(file.type).send(file.bytes) : reply.type(file.type).header('Content-Encoding', 'br').send(brotli);
  };
}

export async function createServer(model: ServedModel, options: ServeOptions = {}): Promise<FastifyInstance> {
  sharp.cache(false); // every upload is new: libvips' operation cache would only hold memory
  const maxBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  // Whole milliseconds: fastify takes integers only.
  const timeouts = {
    headers: Math.ceil(options.headersTimeoutMs ?? DEFAULT_TIMEOUTS_MS.headers),
    request: Math.ceil(options.requestTimeoutMs ?? DEFAULT_TIMEOUTS_MS.request),
    idle: Math.ceil(options.idleTimeoutMs ?? DEFAULT_TIMEOUTS_MS.idle),
  };
  const { info } = model;
  const decodeUpload = options.decodeUpload ?? ((bytes, limit) => decodeImageBytes(bytes, 'upload', info.decodeSize, 'cover', { ...model.decode, maxPixels: limit }));
  const decoding = new DecodeLimit({ maxActive: options.maxDecoding ?? availableParallelism(), maxWaiting: options.maxQueue ?? DEFAULT_MAX_QUEUE });
  const classes = info.classNames.length;
  const bytesPerImage = info.decodeSize * info.decodeSize * 3;
  const batcher = new Batcher<Uint8Array, Float64Array>(
    async (images) => {
      const pixels = new Uint8Array(images.length * bytesPerImage);
      images.forEach((image, i) => pixels.set(image, i * bytesPerImage));
      const probabilities = await model.probabilities(pixels, images.length);
      return images.map((_, i) => Float64Array.from(Array.prototype.slice.call(probabilities, i * classes, (i + 1) * classes) as number[]));
    },
    { maxBatch: options.maxBatch ?? DEFAULT_MAX_BATCH, maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE },
  );
  const examples = await exampleJpegs(options.examples ?? [], info.decodeSize);
  const onnxBytes = Buffer.from(model.onnxBytes.buffer, model.onnxBytes.byteOffset, model.onnxBytes.byteLength);
  const site = [...pageFiles(), { path: 'model.onnx', type: contentType('model.onnx'), bytes: onnxBytes, cacheControl: REVALIDATE }];

  const app = Fastify({
    bodyLimit: maxBytes,
    requestTimeout: timeouts.request,
    keepAliveTimeout: timeouts.idle,
    // Node checks headersTimeout <= requestTimeout when the server is made, before fastify sets the latter: both go
    // here (else headers over Node's default request timeout, 300 s, are refused). Node checks those deadlines only
    // every connectionsCheckingInterval (its default, 30 s, would triple a 10 s limit), in whole milliseconds >= 1.
    http: { headersTimeout: timeouts.headers, requestTimeout: timeouts.request, connectionsCheckingInterval: Math.max(1, Math.floor(Math.min(1000, timeouts.headers / 4))) },
    clientErrorHandler: clientErrorHandler(timeouts),
  });
  await app.register(multipart);
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer', bodyLimit: maxBytes }, (_request, body, done) => done(null, body));
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply: FastifyReply) => {
    const status = error instanceof QueueFullError ? 503 : error instanceof UploadError ? error.statusCode : error.code === 'FST_REQ_FILE_TOO_LARGE' ? 413 : (error.statusCode ?? 500);
    // A full queue is the expected answer to overload; a client that went away reads no answer (fastify drops it).
    if (status >= 500 && !(error instanceof QueueFullError || error instanceof ClientGoneError)) app.log.error(error);
    void reply.status(status).send({ error: error.message });
  });
  app.setNotFoundHandler((request, reply) => void reply.status(404).send({ error: `no route ${request.method} ${request.url}` }));

  app.get('/health', async () => ({ status: 'ok', waiting: batcher.waiting }));
  app.get('/model', async () => modelDescription(model.info, model.engine));
  app.get('/examples', async () => examples.map((e, i) => ({ name: e.name, url: `/examples/${i}.jpg` })));
  app.get<{ Params: { index: string } }>('/examples/:index.jpg', async (request, reply) => {
    const example = examples[Number(request.params.index)];
    if (example === undefined) return reply.status(404).send({ error: `no example ${request.params.index}` });
    return reply.type('image/jpeg').send(example.jpeg);
  });
  for (const file of site) app.get(`/${file.path}`, servesFile(file));
  app.get('/', servesFile(site[0]));

  app.post<{ Querystring: { topK?: string } }>('/predict', async (request, reply) => {
    const started = performance.now();
    const topK = request.query.topK === undefined ? 5 : Number(request.query.topK);
    if (!(Number.isInteger(topK) && topK >= 1)) throw new UploadError(`topK must be a positive integer, got '${request.query.topK}'`);
    const bytes = await uploadOf(request, maxBytes);
    if (bytes.length === 0) throw new UploadError('empty upload (0 bytes)');
    let pixels: Uint8Array;
    try {
      // The response is destroyed once the client's connection closed: an upload still waiting then is not decoded.
      pixels = await decoding.run(() => decodeUpload(bytes, maxPixels), () => reply.raw.destroyed);
    } catch (error) {
      if (error instanceof QueueFullError || error instanceof ClientGoneError) throw error;
      throw new UploadError((error as Error).message, error instanceof ImageTooLargeError ? 413 : 400);
    }
    const probabilities = await batcher.submit(pixels);
    return { top: topClasses(probabilities, info.classNames, Math.min(topK, classes)), milliseconds: Math.round(performance.now() - started) };
  });
  app.addHook('onClose', async () => model.close());
  return app;
}
