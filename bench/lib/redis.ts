/** The Redis the cluster workloads use: the machine's shared server, and whether it answers. */
import { Redis } from 'ioredis';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** Why Redis cannot be used (a workload then says "not measured"), or null when it answers PING. */
export async function redisUnavailable(): Promise<string | null> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (error) {
    return `Redis at 127.0.0.1:6379 is unavailable (${(error as Error).message})`;
  } finally {
    redis.disconnect();
  }
}
