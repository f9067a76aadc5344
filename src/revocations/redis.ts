/**
 * Revocations in Redis, for a cluster: every node reads the same keys, which expire on their own at
 * the end of each revocation (`EXAT`), so Redis holds at most a TTL's revocations.
 *
 * Redis going away must not stop users from connecting: while it cannot be read, a node decides from
 * the revocations it has seen (its own and those the other nodes told it about), and logs the outage.
 */
import type { FastifyBaseLogger } from 'fastify';
import { commandConnection, firstReady } from '../cluster/command-connection.js';
import { redactUrl } from '../secrets.js';
import { RevocationMemory, nowSeconds, type RevocationStore } from './revocations.js';

/** Sets a user's revocation unless a later one is stored (nodes' clocks differ). */
const REVOKE_USER = `
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
end
return 1`;

/** Opens the revocations under `prefix` and waits (at most `timeoutMs`) for the first connection. */
export async function openRedisRevocations(options: { url: string; prefix: string; timeoutMs: number; log: FastifyBaseLogger }): Promise<RevocationStore> {
  const { url, prefix, timeoutMs, log } = options;
  const where = redactUrl(url);
  // A handshake must not wait for a Redis that is gone.
  const redis = commandConnection(url, 'revocations', timeoutMs);
  await firstReady(redis, timeoutMs);

  const memory = new RevocationMemory();
  let failing = false;
  const userKey = (userId: string): string => `${prefix}:revoked:user:${userId}`;
  const tokenKey = (jti: string): string => `${prefix}:revoked:jti:${jti}`;

  return {
    description: `redis ${where}`,
    async add(entry) {
      if (entry.kind === 'user') await redis.eval(REVOKE_USER, 1, userKey(entry.userId), entry.revokedAt, entry.keepUntil);
      else await redis.set(tokenKey(entry.jti), '1', 'EXAT', entry.keepUntil);
      memory.add(entry);
    },
    async lookup(userId, jti) {
      try {
        const [revokedAt, token] = await redis.mget(userKey(userId), jti === undefined ? userKey(userId) : tokenKey(jti));
        if (failing) log.info({ redis: where }, 'token revocations readable again in Redis');
        failing = false;
        const at = revokedAt === null ? undefined : Number(revokedAt);
        return { ...(at !== undefined && Number.isFinite(at) && { userRevokedAt: at }), tokenRevoked: jti !== undefined && token !== null };
      } catch (error) {
        if (!failing) {
          log.warn(
            { redis: where, reason: (error as Error).message },
            'token revocations unreadable in Redis: handshakes are checked against the revocations this node has seen until it answers again',
          );
        }
        failing = true;
        return memory.lookup(userId, jti, nowSeconds());
      }
    },
    remember: (entry) => memory.add(entry),
    async close() {
      redis.disconnect();
    },
  };
}
