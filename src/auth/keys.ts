/** Shared-secret keys (REST API keys, scraper keys), compared in constant time. */
import { hash, timingSafeEqual } from 'node:crypto';

/** One-shot hashing: every REST call hashes its key, and a Hash object per call costs more than the hash. */
const digest = (value: string): Buffer => hash('sha256', value, 'buffer');

/** A set of accepted keys. `match` returns the matching key's id, or undefined. */
export interface KeySet {
  /** Returns a short, non-secret id of the matching key (for rate-limit buckets and logs). */
  match(candidate: unknown): string | undefined;
}

/** Builds a key set; comparing hashes keeps the time independent of where a guess differs. */
export function createKeySet(keys: readonly string[]): KeySet {
  const accepted = keys.map((key) => ({ hash: digest(key), id: digest(`id:${key}`).toString('hex').slice(0, 12) }));
  return {
    match(candidate) {
      if (typeof candidate !== 'string' || candidate === '') return undefined;
      const hash = digest(candidate);
      let found: string | undefined;
      // Every key is compared, so the time does not tell which one (or whether one) matched.
      for (const key of accepted) if (timingSafeEqual(hash, key.hash)) found = key.id;
      return found;
    },
  };
}
