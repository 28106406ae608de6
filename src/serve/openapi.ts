// The API's description: the routes' JSON schemas (fastify checks requests and writes answers with them), served
// as OpenAPI at /openapi.json and as a docs page at /docs (Swagger UI, its files from the package, no CDN).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';

import { packageRoot } from '../torch/index.js';
import { IMAGE_TYPES } from './uploads.js';

const error = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] };
const top = {
  type: 'array',
  description: 'the most probable classes, most probable first',
  items: {
    type: 'object',
    properties: { label: { type: 'string' }, index: { type: 'integer' }, probability: { type: 'number' } },
  },
};
const waiting = {
  type: 'object',
  description: 'uploads waiting to be decoded, images waiting to be scored',
  properties: { decode: { type: 'integer' }, score: { type: 'integer' } },
};
// Raw and multipart bodies reach validation as a Buffer or not at all: their schemas describe, with no type to refuse them.
const rawImage = { description: 'one image: its bytes (JPEG, PNG, TIFF, BMP, WebP)', contentEncoding: 'binary' };
const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

/** The routes' schemas; with an API key, the protected routes' say so and describe its 401. */
export function routeSchemas(apiKey: boolean) {
  const withKey = (schema: FastifySchema & { response: Record<number, unknown> }): FastifySchema =>
    apiKey
      ? {
          ...schema,
          security,
          response: { ...schema.response, 401: { ...error, description: 'no API key, or a wrong one' } },
        }
      : schema;
  return {
    predict: withKey({
      summary: 'classify images',
      description:
        'One image as the raw body, several as a multipart form (a file part per image) or as JSON; one result per image, in order.',
      // No type on topK: the handler's own check names a bad value.
      querystring: {
        type: 'object',
        properties: { topK: { description: 'classes per image, a positive integer (default 5)' } },
      },
      body: {
        content: {
          ...Object.fromEntries(IMAGE_TYPES.map((type) => [type, { schema: rawImage }])),
          'multipart/form-data': {
            schema: { description: 'a file part per image (any field name), at most --max-files' },
          },
          'application/json': {
            schema: {
              type: 'object',
              required: ['images'],
              properties: {
                images: {
                  type: 'array',
                  minItems: 1,
                  items: { type: 'string', contentEncoding: 'base64' },
                  description: 'the images, base64, at most --max-files',
                },
                names: {
                  type: 'array',
                  items: { type: 'string' },
                  description: "the images' names, echoed in the results",
                },
              },
            },
          },
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['results', 'milliseconds'],
          properties: {
            results: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, top } } },
            top: { ...top, description: "the one image's classes, when the request held one image" },
            milliseconds: { type: 'integer' },
          },
        },
        400: { ...error, description: 'a bad image (the error names it), a bad topK or body' },
        413: { ...error, description: 'over --max-upload, --max-pixels or --max-files' },
        415: { ...error, description: 'another content type' },
        503: { ...error, description: 'the queues are full; retry after Retry-After seconds' },
      },
    }),
    model: {
      summary: 'the model: classes, input, preprocessing, training run; whether /model.onnx is offered and needs a key',
      response: {
        200: {
          type: 'object',
          properties: {
            engine: { type: 'string' },
            backbone: { type: 'string' },
            classes: { type: 'array', items: { type: 'string' } },
            input: {
              type: 'string',
              enum: ['float32', 'uint8'],
              description:
                'what /model.onnx takes: normalised float32 N x 3 x S x S, or uint8 decoded images N x D x D x 3',
            },
            inputSize: { type: 'integer' },
            decodeSize: { type: 'integer' },
            mean: { type: 'array', items: { type: 'number' } },
            std: { type: 'array', items: { type: 'number' } },
            bands: { type: ['array', 'null'], items: { type: 'integer' } },
            run: { type: 'object', additionalProperties: true },
            apiKeyRequired: { type: 'boolean' },
            downloadable: { type: 'boolean' },
          },
        },
      },
    },
    modelOnnx: withKey({
      summary: 'the ONNX model',
      response: {
        200: {
          description: 'the model file',
          content: { 'application/octet-stream': { schema: { contentEncoding: 'binary' } } },
        },
        404: { ...error, description: 'not offered (--no-model-download)' },
      },
    }),
    health: {
      summary: 'liveness: 200 while the process serves',
      response: { 200: { type: 'object', properties: { status: { type: 'string' }, waiting: { type: 'integer' } } } },
    },
    ready: {
      summary: 'readiness: 200 when the model is loaded and the queues have room, else 503',
      response: {
        200: { type: 'object', properties: { status: { type: 'string', enum: ['ready'] }, waiting } },
        503: {
          type: 'object',
          description: 'busy, or (with an error) shutting down',
          properties: { status: { type: 'string', enum: ['busy'] }, waiting, error: { type: 'string' } },
        },
      },
    },
    metrics: withKey({
      summary: 'Prometheus metrics',
      response: {
        200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } },
      },
    }),
    hidden: { hide: true },
  } satisfies Record<string, FastifySchema & { hide?: boolean }>;
}

/** Registers OpenAPI (before the routes, which it collects as they are added) and the docs page. */
export async function registerOpenApi(app: FastifyInstance, apiKey: boolean): Promise<void> {
  const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  await app.register(swagger, {
    openapi: {
      info: { title: 'dsdnet serve', description: 'Remote sensing scene classification', version },
      components: apiKey
        ? {
            securitySchemes: {
              bearer: { type: 'http', scheme: 'bearer' },
              apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
            },
          }
        : {},
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
