/**
 * Rate limits on the emit routes, as the seed recommends: per API key (a key of `API_KEYS` may have
 * a limit of its own). Every route of the scope the
 * limiter is registered in shares one budget per key (a per-route `rateLimit` object would give each
 * route a budget of its own, which is not what "100 emits per minute" means); the routes that are not
 * emits opt out (routes/register.ts, from the route table's `emit`).
 * Uses @fastify/rate-limit. In a cluster the counters live in a store every node shares (Redis, or
 * the primary process of `WORKERS=n`), so N nodes do not allow N times the limit; while that store
 * fails, each node counts in its own memory instead of letting everything through.
 *
 * A call that sends several emits (a batch) counts as that many: the route's hook counts it once, as
 * every call, and its handler counts the rest with `reply.countEmits` once it knows how many.
 */
import rateLimit, { type FastifyRateLimitOptions, type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { fail } from '../errors.js';
import { LocalStore, rulesOf, type StoreFactory } from '../internals/rate-limit.js';

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Counts this call as `emits` emits against the key's rate limit, the one its route counted
     * included; rejects with 429 when they do not all fit, before anything is sent.
     */
    countEmits(emits: number): Promise<void>;
  }
}

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

/** "1 minute", "90 seconds", "1500 ms": a window as its configuration reads. */
export function describeWindow(ms: number): string {
  const [amount, unit] =
    ms % 3_600_000 === 0 ? [ms / 3_600_000, 'hour'] : ms % 60_000 === 0 ? [ms / 60_000, 'minute'] : ms % 1000 === 0 ? [ms / 1000, 'second'] : [ms, 'ms'];
  return unit === 'ms' ? `${amount} ms` : `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

/**
 * Registers the limiter for every route of `app`'s scope. Each key counts against its own
 * `rateLimit` when `API_KEYS` gives it one (`keyLimits`), else against `RATE_LIMIT_MAX` per
 * `RATE_LIMIT_WINDOW_MS`; nothing is registered when neither limits anything.
 */
export async function registerRateLimit(
  app: FastifyInstance,
  config: Pick<Config, 'rateLimitMax' | 'rateLimitWindowMs'> & { readonly keyLimits?: boolean },
  shared?: StoreFactory,
): Promise<void> {
  const global = config.rateLimitMax !== 0 && config.rateLimitWindowMs !== 0;
  if (!global && !config.keyLimits) {
    app.decorateReply('countEmits', async () => undefined);
    return;
  }
  const windowOf = (request: FastifyRequest): number => request.apiKey?.rateLimit?.windowMs ?? config.rateLimitWindowMs;
  const maxOf = (request: FastifyRequest): number => request.apiKey?.rateLimit?.max ?? config.rateLimitMax;
  await app.register(rateLimit, {
    global: true,
    // Numbers unless some key has its own limit: a function costs a promise per request.
    ...(config.keyLimits
      ? {
          max: maxOf,
          timeWindow: windowOf,
          // With RATE_LIMIT_MAX=0, keys without a limit of their own are not limited.
          ...(!global && { allowList: (request: FastifyRequest) => request.apiKey?.rateLimit === undefined }),
        }
      : { max: config.rateLimitMax, timeWindow: config.rateLimitWindowMs }),
    enableDraftSpec: true,
    // Buckets are named by the key's non-secret id: no API key ever reaches a shared store.
    // The access hook runs first, so every request counted here presented a valid key.
    keyGenerator: (request) => `key:${request.apiKeyId ?? 'none'}`,
    // `context.after` is the time left in the window, not the window: name each for what it is.
    errorResponseBuilder: (request, context) =>
      fail(
        'RATE_LIMITED',
        `Too many emit requests: at most ${context.max} per ${describeWindow(windowOf(request))} for this API key; retry in ${Math.ceil(context.ttl / 1000)} s`,
      ),
    ...(shared && { store: withLocalFallback(shared) }),
  });
  // The same store and bucket as the routes' hook; one count per emit, all sent at once.
  const count = app.createRateLimit();
  app.decorateReply('countEmits', async function (this: FastifyReply, emits: number) {
    if (emits <= 1) return;
    const counted = await Promise.all(Array.from({ length: emits - 1 }, () => count(this.request)));
    let remaining = Number.POSITIVE_INFINITY;
    let retryIn = 0;
    for (const result of counted) {
      if (result.isAllowed) return;
      remaining = Math.min(remaining, result.remaining);
      retryIn = Math.max(retryIn, result.ttlInSeconds);
    }
    void this.header('ratelimit-remaining', remaining).header('ratelimit-reset', retryIn);
    if (counted.some((result) => !result.isAllowed && result.isExceeded)) {
      const limit = `${maxOf(this.request)} per ${describeWindow(windowOf(this.request))} for this API key`;
      throw fail(
        'RATE_LIMITED',
        emits > maxOf(this.request)
          ? `Too many emits: this call counts as ${emits} (one per item), more than the rate limit allows at all (${limit}); nothing was sent, split it`
          : `Too many emits: this call counts as ${emits} (one per item), more than are left of ${limit}; nothing was sent, retry in ${retryIn} s`,
        { 'retry-after': String(retryIn) },
      );
    }
  });
}
