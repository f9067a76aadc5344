/** Shared-secret keys (REST API keys, scraper keys), compared in constant time. */
import { hash, timingSafeEqual } from 'node:crypto';
import { eventMatcher, type Grant } from './scopes.js';

/** One-shot hashing: every REST call hashes its key, and a Hash object per call costs more than the hash. */
const digest = (value: string): Buffer => hash('sha256', value, 'buffer');

/** A key declared with what it may do (`API_KEYS`). */
export interface DeclaredKey extends Omit<Grant, 'allowsEvent'> {
  readonly key: string;
}

/** A set of accepted keys. */
export interface KeySet {
  /** Returns a short, non-secret id of the matching key (for rate-limit buckets and logs), or undefined. */
  match(candidate: unknown): string | undefined;
  /** Returns what the matching key may do, or undefined. */
  grant(candidate: unknown): Grant | undefined;
}

/** The id of a key given without one (an `INTERNAL_API_KEY`): a hash prefix, which tells nothing of the key. */
export function anonymousKeyId(key: string): string {
  return digest(`id:${key}`).toString('hex').slice(0, 12);
}

/**
 * Builds a key set: plain strings are keys with every scope, named by `anonymousKeyId`. Comparing
 * hashes keeps the time independent of where a guess differs.
 */
export function createKeySet(keys: readonly (string | DeclaredKey)[]): KeySet {
  const accepted = keys.map((entry) => {
    if (typeof entry === 'string') return { hash: digest(entry), grant: { id: anonymousKeyId(entry), scopes: 'all' } as Grant };
    const { key, ...grant } = entry;
    return { hash: digest(key), grant: { ...grant, ...(grant.events && { allowsEvent: eventMatcher(grant.events) }) } };
  });
  const grant = (candidate: unknown): Grant | undefined => {
    if (typeof candidate !== 'string' || candidate === '') return undefined;
    const hash = digest(candidate);
    let found: Grant | undefined;
    // Every key is compared, so the time does not tell which one (or whether one) matched.
    for (const key of accepted) if (timingSafeEqual(hash, key.hash)) found = key.grant;
    return found;
  };
  return { grant, match: (candidate) => grant(candidate)?.id };
}
