/**
 * The one place that reaches into @fastify/rate-limit's private parts: its two stores, which the
 * package ships but does not export by name, and the counting rules the plugin hands a custom
 * store's constructor though its types omit them. Using its stores keeps the counting rules the
 * same whichever store answers (in memory, in Redis, in the WORKERS primary).
 * test/internals.test.ts fails if an upgrade moves or changes them.
 */
import { createRequire } from 'node:module';
import type { FastifyRateLimitStore } from '@fastify/rate-limit';

/** The counting rules the plugin hands to a store's constructor (and to `child` per route). */
export interface StoreRules {
  readonly continueExceeding?: boolean;
  readonly exponentialBackoff?: boolean;
}

/** Builds a store that follows the plugin's counting rules (what a cluster bus offers to share counts). */
export type StoreFactory = (rules: StoreRules) => FastifyRateLimitStore;

/** The counting rules in the settings the plugin hands a store's constructor. */
export function rulesOf(settings: unknown): StoreRules {
  const { continueExceeding, exponentialBackoff } = (settings ?? {}) as StoreRules;
  return { continueExceeding, exponentialBackoff };
}

/**
 * What the plugin hands a store's `child` for one route: its counting rules, and the key prefix
 * that keeps the route's counts apart (built as the plugin's own RedisStore builds it).
 */
export function routeOf(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): { readonly rules: StoreRules; readonly prefix: string } {
  const { routeInfo } = routeOptions as unknown as { routeInfo: { method: string; url: string } };
  return { rules: rulesOf(routeOptions), prefix: `${routeInfo.method}${routeInfo.url}-` };
}

const require = createRequire(import.meta.url);

/** @fastify/rate-limit's in-memory store: `new LocalStore(continueExceeding, exponentialBackoff)`. */
export const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as new (
  continueExceeding?: boolean,
  exponentialBackoff?: boolean,
) => FastifyRateLimitStore;

/** @fastify/rate-limit's Redis store: `new RedisStore(continueExceeding, exponentialBackoff, ioredis, prefix)`. */
export const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as new (
  continueExceeding: boolean | undefined,
  exponentialBackoff: boolean | undefined,
  redis: unknown,
  prefix: string,
) => FastifyRateLimitStore;
