/**
 * Picks the streams the configuration asks for: none when HISTORY_SIZE is 0, Redis when REDIS_URL is
 * set (every node of a cluster must see one user's stream), else SQLite in DATA_DIR.
 */
import type { Config } from '../config.js';
import type { RedisStreamsLog } from './redis.js';
import type { UserStreams } from './streams.js';

/** The configuration the streams are built from. */
export type StreamsConfig = Pick<Config, 'historySize' | 'historyTtlSeconds' | 'redisUrl' | 'redisPrefix' | 'clusterTimeoutMs' | 'dataDir'>;

/** Opens the configured streams, or resolves to undefined when history is off. Only the chosen implementation is loaded. */
export async function openStreams(config: StreamsConfig, log: RedisStreamsLog): Promise<UserStreams | undefined> {
  if (config.historySize === 0) return undefined;
  const limits = { size: config.historySize, ttlMs: config.historyTtlSeconds * 1000 };
  if (config.redisUrl !== '') {
    const { openRedisStreams } = await import('./redis.js');
    return openRedisStreams({ url: config.redisUrl, prefix: config.redisPrefix, limits, timeoutMs: config.clusterTimeoutMs, log });
  }
  const { openSqliteStreams, streamsPath } = await import('./sqlite.js');
  return openSqliteStreams(streamsPath(config.dataDir), limits, { log });
}
