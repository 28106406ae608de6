// The server's API key: when it has one, the routes that cost (predictions) or give away (the model, the metrics)
// need it, as `Authorization: Bearer KEY` or `X-API-Key: KEY`; the rest (health, readiness, the page, docs) stay open.
import { createHash, timingSafeEqual } from 'node:crypto';

import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** The keys a request presents, from either header. */
function presentedKeys(request: FastifyRequest): string[] {
  const keys: string[] = [];
  const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
  if (bearer) keys.push(bearer[1].trim());
  const header = request.headers['x-api-key'];
  if (typeof header === 'string') keys.push(header.trim());
  return keys;
}

/**
 * An onRequest hook that answers 401 unless the request presents `key`; it runs before the body is read. Keys are
 * compared as SHA-256 digests with timingSafeEqual: constant time, and equal lengths whatever the key sent.
 */
export function requireApiKey(key: string): onRequestHookHandler {
  const expected = digest(key);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const keys = presentedKeys(request);
    if (keys.some((given) => timingSafeEqual(digest(given), expected))) return;
    const error =
      keys.length === 0 ? 'an API key is needed: send Authorization: Bearer KEY or X-API-Key: KEY' : 'wrong API key';
    return reply.status(401).header('WWW-Authenticate', 'Bearer').send({ error });
  };
}
