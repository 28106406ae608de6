// The server's Prometheus metrics (GET /metrics), in a registry of each server's own, so that two servers in one
// process (tests, a host embedding dsdnet) never mix their counts: the process's default metrics, requests by route
// and status code and their durations, images scored, batch sizes, both queues' depths, and time in the model.
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, exponentialBuckets, Gauge, Histogram, Registry } from 'prom-client';

export interface QueueDepths {
  /** Uploads waiting to be decoded. */
  decode(): number;
  /** Decoded images waiting to be scored. */
  score(): number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status_code'>;
  private readonly duration: Histogram<'method' | 'route'>;
  private readonly images: Counter;
  private readonly batchSize: Histogram;
  private readonly inference: Histogram;

  constructor(queues: QueueDepths, maxBatch: number) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'dsdnet_http_requests_total',
      help: 'HTTP requests answered, by method, route and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'dsdnet_http_request_duration_seconds',
      help: 'time from a request to its answer, by method and route',
      labelNames: ['method', 'route'],
      registers,
    });
    this.images = new Counter({ name: 'dsdnet_images_predicted_total', help: 'images scored by the model', registers });
    this.batchSize = new Histogram({
      name: 'dsdnet_batch_size',
      help: 'images scored together in one batch',
      buckets: exponentialBuckets(1, 2, Math.ceil(Math.log2(maxBatch)) + 1),
      registers,
    });
    this.inference = new Histogram({
      name: 'dsdnet_inference_seconds',
      help: 'time the model took for one batch',
      registers,
    });
    new Gauge({
      name: 'dsdnet_queue_depth',
      help: 'waiting now: uploads to be decoded (queue="decode"), decoded images to be scored (queue="score")',
      labelNames: ['queue'],
      registers,
      collect() {
        this.set({ queue: 'decode' }, queues.decode());
        this.set({ queue: 'score' }, queues.score());
      },
    });
  }

  /** Counts and times every answer. */
  observe(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      // The route's pattern, not the URL: unknown URLs (404s, scans) share one label instead of one series each.
      const route = request.routeOptions.url ?? 'unmatched';
      this.requests.inc({ method: request.method, route, status_code: reply.statusCode });
      this.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
  }

  /** One batch scored by the model. */
  scored(images: number, seconds: number): void {
    this.images.inc(images);
    this.batchSize.observe(images);
    this.inference.observe(seconds);
  }
}
