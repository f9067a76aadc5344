/**
 * Rate limits on the emit routes, as the seed recommends: per API key.
 * Uses @fastify/rate-limit. In a cluster the counters live in a store every node shares (Redis, or
 * the primary process of `WORKERS=n`), so N nodes do not allow N times the limit; while that store
 * fails, each node counts in its own memory instead of letting everything through.
 */
import rateLimit, { type FastifyRateLimitOptions, type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { fail } from '../errors.js';
import { LocalStore, rulesOf, type StoreFactory } from '../internals/rate-limit.js';

/**
 * Route `config` of every emit route: counted in the emit metrics. Every route of the scope the
 * limiter is registered in shares one budget per key (a per-route `rateLimit` object would give
 * each route a budget of its own, which is not what "100 emits per minute" means).
 */
export const EMIT_LIMITED = { emit: true } as const;

/** Route `config` of a route in the limited scope that is not an emit (it must not use the budget). */
export const NOT_RATE_LIMITED = { rateLimit: false } as const;

type StoreCallback = Parameters<FastifyRateLimitStore['incr']>[1];
type RouteOptions = Parameters<FastifyRateLimitStore['child']>[0];

/** Counts in the shared store; when it fails, in this process's memory. */
class FallbackStore implements FastifyRateLimitStore {
  constructor(
    private readonly shared: FastifyRateLimitStore,
    private readonly local: FastifyRateLimitStore,
  ) {}

  incr(key: string, callback: StoreCallback, timeWindow: number, max: number): void {
    this.shared.incr(key, (error, result) => (error ? this.local.incr(key, callback, timeWindow, max) : callback(null, result)), timeWindow, max);
  }

  child(routeOptions: RouteOptions): FastifyRateLimitStore {
    return new FallbackStore(this.shared.child(routeOptions), this.local.child(routeOptions));
  }
}

/** The plugin's `store` option for a shared store with an in-memory fallback. */
function withLocalFallback(shared: StoreFactory): FastifyRateLimitStoreCtor {
  return class extends FallbackStore {
    constructor(options: FastifyRateLimitOptions) {
      const rules = rulesOf(options);
      super(shared(rules), new LocalStore(rules.continueExceeding, rules.exponentialBackoff));
    }
  };
}

/** Registers the limiter for every route of `app`'s scope; nothing when `RATE_LIMIT_MAX` or the window is 0. */
export async function registerRateLimit(
  app: FastifyInstance,
  config: Pick<Config, 'rateLimitMax' | 'rateLimitWindowMs'>,
  shared?: StoreFactory,
): Promise<void> {
  if (config.rateLimitMax === 0 || config.rateLimitWindowMs === 0) return;
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimitMax,
    timeWindow: config.rateLimitWindowMs,
    enableDraftSpec: true,
    // Buckets are named by the key's non-secret id: no API key ever reaches a shared store.
    // The access hook runs first, so every request counted here presented a valid key.
    keyGenerator: (request) => `key:${request.apiKeyId ?? 'none'}`,
    errorResponseBuilder: (_request, context) =>
      fail('RATE_LIMITED', `Too many emit requests: at most ${context.max} per ${context.after}; retry in ${Math.ceil(context.ttl / 1000)} s`),
    ...(shared && { store: withLocalFallback(shared) }),
  });
}
