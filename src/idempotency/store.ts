/**
 * The idempotency store: what makes a repeated emit (same API key, same `Idempotency-Key`) answer
 * what the first one answered instead of delivering again. Two implementations sit behind this
 * interface (idempotency/sqlite.ts, a file of its own in DATA_DIR that WORKERS processes share and a
 * restart keeps; idempotency/redis.ts for a cluster); one conformance suite
 * (test/idempotency-store.test.ts) runs against both.
 *
 * A key goes through two states. `claim` makes it *running*, held by the caller's random token for a
 * lease (renewed while the request runs), so a node that crashes mid-request does not hold it for
 * ever; `complete` makes it *done*, holding the answer for the retention time; `release` forgets it
 * (the answer was not one to keep, such as a 503, so a retry may deliver). Only the token holder can
 * renew, complete or release, so a claim that outlived its lease cannot overwrite its successor's.
 */

/** What a finished request answered, kept for its repeats. */
export interface IdempotentAnswer {
  /** What identifies the request (method, route, parameters, body); a repeat must have the same. */
  readonly fingerprint: string;
  readonly status: number;
  /** The response body, as sent. */
  readonly body: string;
}

/** What a claim found. */
export type Claim =
  /** The key was free: the caller holds it now and must complete or release it. */
  | { readonly kind: 'claimed' }
  /** Another request holds it and is still running. */
  | { readonly kind: 'running'; readonly fingerprint: string }
  /** A request finished with it: its answer. */
  | { readonly kind: 'done'; readonly answer: IdempotentAnswer };

/** Where idempotency keys live. Every method rejects when the store cannot be reached. */
export interface IdempotencyStore {
  /** Where it lives, for logs (never a password). */
  readonly description: string;
  /** Claims `key` for `token` for `leaseMs`, or says who has it. `key` is already scoped to the API key. */
  claim(key: string, token: string, fingerprint: string, leaseMs: number): Promise<Claim>;
  /** Extends a running claim held by `token`; false when the token no longer holds it. */
  renew(key: string, token: string, leaseMs: number): Promise<boolean>;
  /** Stores the answer of the claim `token` holds, kept for `ttlMs`; false when the token no longer holds it. */
  complete(key: string, token: string, answer: IdempotentAnswer, ttlMs: number): Promise<boolean>;
  /** Forgets the claim `token` holds, so the next request with the key runs. */
  release(key: string, token: string): Promise<void>;
  /** Whether it can be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A running claim or a stored answer, as both implementations keep it (JSON). */
export type IdempotencyEntry =
  | { readonly state: 'running'; readonly token: string; readonly fingerprint: string }
  | { readonly state: 'done'; readonly token: string; readonly fingerprint: string; readonly status: number; readonly body: string };

/** The claim an existing entry means for someone else. */
export function claimOf(entry: IdempotencyEntry): Claim {
  if (entry.state === 'running') return { kind: 'running', fingerprint: entry.fingerprint };
  return { kind: 'done', answer: { fingerprint: entry.fingerprint, status: entry.status, body: entry.body } };
}
