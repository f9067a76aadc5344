/** Picks the idempotency store the configuration asks for: Redis when REDIS_URL is set (cluster-wide), else SQLite in DATA_DIR. */
import type { Config } from '../config.js';
import type { IdempotencyStore } from './store.js';

/** Opens the configured store. Only the chosen implementation is loaded. */
export async function openIdempotencyStore(config: Pick<Config, 'redisUrl' | 'redisPrefix' | 'clusterTimeoutMs' | 'dataDir'>): Promise<IdempotencyStore> {
  if (config.redisUrl !== '') {
    const { openRedisIdempotency } = await import('./redis.js');
    return openRedisIdempotency({ url: config.redisUrl, prefix: config.redisPrefix, timeoutMs: config.clusterTimeoutMs });
  }
  const { openSqliteIdempotency, idempotencyPath } = await import('./sqlite.js');
  return openSqliteIdempotency(idempotencyPath(config.dataDir));
}
