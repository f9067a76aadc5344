/**
 * Rate limits on the emit routes, as the seed recommends: per API key, or per IP without one.
 * Uses @fastify/rate-limit, whose store is pluggable (the cluster issue plugs in Redis).
 */
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { fail } from '../errors.js';

/** The per-route `config` of every emit route: puts it under the emit limit and counts it in the emit metrics. */
export const EMIT_LIMITED = { rateLimit: {}, emit: true } as const;

/** Registers the limiter (route opt-in); does nothing when `RATE_LIMIT_MAX` or the window is 0. */
export async function registerRateLimit(
  app: FastifyInstance,
  config: Pick<Config, 'rateLimitMax' | 'rateLimitWindowMs'>,
  store?: Partial<RateLimitPluginOptions>,
): Promise<void> {
  if (config.rateLimitMax === 0 || config.rateLimitWindowMs === 0) return;
  await app.register(rateLimit, {
    global: false,
    max: config.rateLimitMax,
    timeWindow: config.rateLimitWindowMs,
    enableDraftSpec: true,
    keyGenerator: (request) => (request.apiKeyId ? `key:${request.apiKeyId}` : `ip:${request.ip}`),
    errorResponseBuilder: (_request, context) =>
      fail('RATE_LIMITED', `Too many emit requests: at most ${context.max} per ${context.after}; retry in ${Math.ceil(context.ttl / 1000)} s`),
    ...store,
  });
}
