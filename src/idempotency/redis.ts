/**
 * The cluster's idempotency store: one Redis key per idempotency key, under REDIS_PREFIX, so a retry
 * sent to any node finds the first call's claim or answer. A claim is `SET NX PX` (the lease is the
 * key's expiry); renewing, completing and releasing check the holder's token in a script, so they are
 * one atomic round trip each.
 *
 * Its own connection, set up like the bus's publishing one: no offline queue and a command timeout,
 * so that while Redis is away a call with an Idempotency-Key fails at once (503) instead of waiting.
 */
import { commandConnection, firstReady } from '../cluster/command-connection.js';
import { redactUrl } from '../secrets.js';
import { claimOf, type Claim, type IdempotencyEntry, type IdempotencyStore } from './store.js';

/** Claims the key, or returns what holds it. */
const CLAIM = `
  if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
  return redis.call('GET', KEYS[1])
`;

/** The running entry of KEYS[1] when ARGV[1] holds it, else nil (prepended to the scripts below). */
const HELD = `
  local function held()
    local value = redis.call('GET', KEYS[1])
    if not value then return nil end
    local entry = cjson.decode(value)
    if entry.token == ARGV[1] and entry.state == 'running' then return entry end
    return nil
  end
`;

const RENEW = `${HELD}
  if not held() then return 0 end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
`;

const COMPLETE = `${HELD}
  if not held() then return 0 end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
`;

const RELEASE = `${HELD}
  if held() then redis.call('DEL', KEYS[1]) end
  return 1
`;

interface Scripts {
  idempotencyClaim(key: string, entry: string, leaseMs: number): Promise<string | null>;
  idempotencyRenew(key: string, token: string, leaseMs: number): Promise<number>;
  idempotencyComplete(key: string, token: string, entry: string, ttlMs: number): Promise<number>;
  idempotencyRelease(key: string, token: string): Promise<number>;
}

/** Connects to Redis (waiting at most `timeoutMs` for the first connection) and returns the store. */
export async function openRedisIdempotency(options: { url: string; prefix: string; timeoutMs: number }): Promise<IdempotencyStore> {
  const { url, prefix, timeoutMs } = options;
  const where = redactUrl(url);
  const redis = commandConnection(url, 'idempotency', timeoutMs);
  redis.defineCommand('idempotencyClaim', { numberOfKeys: 1, lua: CLAIM });
  redis.defineCommand('idempotencyRenew', { numberOfKeys: 1, lua: RENEW });
  redis.defineCommand('idempotencyComplete', { numberOfKeys: 1, lua: COMPLETE });
  redis.defineCommand('idempotencyRelease', { numberOfKeys: 1, lua: RELEASE });
  const scripts = redis as unknown as Scripts;
  await firstReady(redis, timeoutMs);

  const named = (key: string): string => `${prefix}:idempotency:${key}`;
  const unavailable = (error: unknown): never => {
    throw new Error(`Redis at ${where}: ${(error as Error).message}`, { cause: error });
  };

  return {
    description: `redis ${where}`,
    async claim(key, token, fingerprint, leaseMs): Promise<Claim> {
      const entry: IdempotencyEntry = { state: 'running', token, fingerprint };
      const held = await scripts.idempotencyClaim(named(key), JSON.stringify(entry), leaseMs).catch(unavailable);
      return held === null ? { kind: 'claimed' } : claimOf(JSON.parse(held) as IdempotencyEntry);
    },
    renew: async (key, token, leaseMs) => (await scripts.idempotencyRenew(named(key), token, leaseMs).catch(unavailable)) === 1,
    async complete(key, token, { fingerprint, status, body }, ttlMs) {
      const entry: IdempotencyEntry = { state: 'done', token, fingerprint, status, body };
      return (await scripts.idempotencyComplete(named(key), token, JSON.stringify(entry), ttlMs).catch(unavailable)) === 1;
    },
    release: async (key, token) => void (await scripts.idempotencyRelease(named(key), token).catch(unavailable)),
    ping: async () => void (await redis.ping().catch(unavailable)),
    close: async () => redis.disconnect(),
  };
}
