/** Picks the store the configuration asks for: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR. */
import type { Config } from '../config.js';
import type { StoreLog } from './postgres.js';
import type { Store } from './store.js';

/** The configuration a store is built from. */
export type StoreConfig = Pick<Config, 'databaseUrl' | 'databaseTimeoutMs' | 'databasePoolSize' | 'dataDir'> & Partial<Pick<Config, 'jsonMaxDepth'>>;

/** Opens and migrates the configured store. Only the chosen implementation is loaded. */
export async function openStore(config: StoreConfig, log: StoreLog): Promise<Store> {
  if (config.databaseUrl !== '') {
    const { openPostgresStore } = await import('./postgres.js');
    return openPostgresStore({
      url: config.databaseUrl,
      timeoutMs: config.databaseTimeoutMs,
      poolSize: config.databasePoolSize,
      log,
      ...(config.jsonMaxDepth !== undefined && { maxDepth: config.jsonMaxDepth }),
    });
  }
  const { openSqliteStore, sqlitePath } = await import('./sqlite.js');
  return openSqliteStore(sqlitePath(config.dataDir), config.jsonMaxDepth === undefined ? {} : { maxDepth: config.jsonMaxDepth });
}
