/**
 * Rate limits on the emit routes, as the seed recommends: per API key, or per IP without one.
 * Uses @fastify/rate-limit, whose store is pluggable (the cluster issue plugs in Redis).
 */
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { fail } from '../errors.js';

/**
 * Route `config` of an emit route. Every route of the scope the limiter is registered in shares one
 * budget per key (a per-route `rateLimit` object would give each route a budget of its own, which
 * is not what "100 emits per minute" means), so emit routes need nothing more than this marker.
 */
export const EMIT_LIMITED = {} as const;

/** Route `config` of a route in the limited scope that is not an emit (it must not use the budget). */
export const NOT_RATE_LIMITED = { rateLimit: false } as const;

/** Registers the limiter for every route of `app`'s scope; nothing when `RATE_LIMIT_MAX` or the window is 0. */
export async function registerRateLimit(
  app: FastifyInstance,
  config: Pick<Config, 'rateLimitMax' | 'rateLimitWindowMs'>,
  store?: Partial<RateLimitPluginOptions>,
): Promise<void> {
  if (config.rateLimitMax === 0 || config.rateLimitWindowMs === 0) return;
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimitMax,
    timeWindow: config.rateLimitWindowMs,
    enableDraftSpec: true,
    keyGenerator: (request) => (request.apiKeyId ? `key:${request.apiKeyId}` : `ip:${request.ip}`),
    errorResponseBuilder: (_request, context) =>
      fail('RATE_LIMITED', `Too many emit requests: at most ${context.max} per ${context.after}; retry in ${Math.ceil(context.ttl / 1000)} s`),
    ...store,
  });
}
