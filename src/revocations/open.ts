/** Picks where revocations are kept: Redis with `REDIS_URL`, else SQLite in `DATA_DIR`. */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import type { RevocationStore } from './revocations.js';

/** Opens the store the configuration asks for: Redis with `REDIS_URL`, else SQLite in `DATA_DIR`. */
export async function openRevocations(
  config: Pick<Config, 'redisUrl' | 'redisPrefix' | 'clusterTimeoutMs' | 'dataDir'>,
  log: FastifyBaseLogger,
): Promise<RevocationStore> {
  if (config.redisUrl !== '') {
    const { openRedisRevocations } = await import('./redis.js');
    return openRedisRevocations({ url: config.redisUrl, prefix: config.redisPrefix, timeoutMs: config.clusterTimeoutMs, log });
  }
  const { openSqliteRevocations } = await import('./sqlite.js');
  return openSqliteRevocations(config.dataDir);
}
