/**
 * When and how long the SDK waits before trying a call again: after a network failure (refused,
 * reset), on 502/503/504, and on the gateway's 409 IDEMPOTENCY_KEY_IN_USE (an earlier attempt still
 * runs). Every attempt of an emit carries the same Idempotency-Key, so a retry of a call the gateway
 * did handle answers what it answered instead of delivering again. A timeout is not retried: the
 * caller asked for a bound (the error carries the key, to repeat the call safely later).
 */
import { invalidArgument } from './errors.js';

/** Retry settings of a client; `false` turns retries off. */
export interface RetryOptions {
  /** Retries after the first attempt (default 2, so at most 3 attempts). */
  readonly retries?: number;
  /** Upper bound of the first wait, in milliseconds (default 100); it doubles with every retry. */
  readonly minDelayMs?: number;
  /** Longest wait between two attempts, in milliseconds (default 2000). */
  readonly maxDelayMs?: number;
  /** Called before each wait, for logs and metrics. */
  readonly onRetry?: (info: RetryInfo) => void;
}

/** What `onRetry` learns about the failed attempt and the wait ahead. */
export interface RetryInfo {
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly delayMs: number;
  /** HTTP status of the failed attempt; 0 for a network failure. */
  readonly status: number;
  readonly reason: string;
}

/** Retry settings with every default filled in. */
export interface RetryPolicy {
  readonly retries: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly onRetry: ((info: RetryInfo) => void) | undefined;
}

/** Statuses that mean "a proxy or a closing gateway answered; the emit did most likely not happen". */
export const RETRYABLE_STATUSES: readonly number[] = [502, 503, 504];

/** Fills in the defaults and checks the numbers. */
export function retryPolicy(options: RetryOptions | false | undefined): RetryPolicy {
  if (options === false) return { retries: 0, minDelayMs: 0, maxDelayMs: 0, onRetry: undefined };
  if (options !== undefined && (typeof options !== 'object' || options === null))
    throw invalidArgument(`retry must be an object such as { retries: 2 } or false, got ${JSON.stringify(options)}`);
  if (options?.onRetry !== undefined && typeof options.onRetry !== 'function') throw invalidArgument('retry.onRetry must be a function');
  const retries = options?.retries ?? 2;
  const minDelayMs = options?.minDelayMs ?? 100;
  const maxDelayMs = options?.maxDelayMs ?? 2000;
  for (const [name, value] of [
    ['retry.retries', retries],
    ['retry.minDelayMs', minDelayMs],
    ['retry.maxDelayMs', maxDelayMs],
  ] as const) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw invalidArgument(`${name} must be a number of at least 0, got ${String(value)}`);
  }
  return { retries: Math.floor(retries), minDelayMs, maxDelayMs: Math.max(minDelayMs, maxDelayMs), onRetry: options?.onRetry };
}

/**
 * "Full jitter" exponential backoff: a random wait up to min(max, min * 2^(attempt-1)), so that
 * many services retrying after the same outage spread out instead of arriving together. A
 * `Retry-After` from the gateway is honoured up to `maxDelayMs`.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterSeconds?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** (attempt - 1));
  const jittered = Math.random() * ceiling;
  if (retryAfterSeconds === undefined) return Math.round(jittered);
  return Math.round(Math.min(policy.maxDelayMs, Math.max(jittered, retryAfterSeconds * 1000)));
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
