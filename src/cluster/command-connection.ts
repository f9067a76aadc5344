/**
 * The Redis connections of the stores a cluster shares (streams, idempotency keys, revocations):
 * each its own, set to fail fast. No offline queue, one try per command, no replay of unanswered
 * commands after a reconnect, and a command timeout: a caller that needs Redis learns within
 * `timeoutMs` that it is gone (and answers 503 or falls back), never waits for it, and nothing piles
 * up in memory meanwhile. The connection reconnects by itself, at most every 2 s.
 */
import { Redis } from 'ioredis';

/** A fail-fast connection named `general-socket-<name>` (as Redis's CLIENT LIST shows it). */
export function commandConnection(url: string, name: string, timeoutMs: number): Redis {
  const redis = new Redis(url, {
    connectionName: `general-socket-${name}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    commandTimeout: Math.max(timeoutMs, 100),
    connectTimeout: Math.max(timeoutMs, 1000),
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  });
  // ioredis reports every failed reconnect as an error event; without a listener it prints them.
  // The calls that need Redis report the outage themselves.
  redis.on('error', () => undefined);
  return redis;
}

/** Resolves true once `redis` is ready, or false after `timeoutMs` (it keeps trying in the background). */
export function firstReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
