/**
 * The PostgreSQL store (`pg`), used when DATABASE_URL is a postgres:// URL.
 *
 * PostgreSQL may go away at any time. Every wait is bounded (connecting, and each query, by
 * DATABASE_TIMEOUT_MS), so callers get a StoreUnavailableError quickly instead of hanging; a lost
 * connection is dropped from the pool and never crashes the process; and since the pool opens new
 * connections on demand, the store recovers by itself once the server is back. A database that is
 * down at start does not stop the gateway: the schema is migrated on first use instead.
 */
import pg from 'pg';
import { DEFAULT_JSON_MAX_DEPTH } from '../json-limits.js';
import { redactUrl } from '../secrets.js';
import { SCHEMA_MIGRATIONS_DDL, pendingMigrations } from './migrations.js';
import {
  COLLECTIONS,
  StoreUnavailableError,
  planUpserts,
  readDocument,
  readForImport,
  type Collection,
  type DocumentOf,
  type ImportCounts,
  type Store,
  type StoredDocument,
} from './store.js';

/** Where the store reports connections it lost (pino-compatible). */
export interface StoreLog {
  warn(details: object, message: string): void;
}

/** How to reach PostgreSQL. */
export interface PostgresOptions {
  readonly url: string;
  /** Bound on connecting and on each query, in milliseconds. */
  readonly timeoutMs: number;
  readonly poolSize: number;
  readonly log: StoreLog;
  /** Documents nested deeper are refused when read (JSON_MAX_DEPTH). */
  readonly maxDepth?: number;
}

/** Migrations may take longer than a lookup. */
const MIGRATION_TIMEOUT_MS = 60_000;

/** Connects to PostgreSQL and migrates its schema; a server that is down is retried on first use. */
export async function openPostgresStore(options: PostgresOptions): Promise<Store> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    connectionTimeoutMillis: options.timeoutMs,
    query_timeout: options.timeoutMs,
    statement_timeout: options.timeoutMs,
    idleTimeoutMillis: 10_000,
    keepAlive: true,
    application_name: 'general-socket',
  });
  // An idle connection that dies emits 'error' on the pool, a checked-out one on the client; an
  // unhandled 'error' event would end the process.
  pool.on('error', (error) => options.log.warn({ err: error.message }, 'PostgreSQL connection lost; the pool reconnects on demand'));
  pool.on('connect', (client) => client.on('error', () => undefined));

  let schema: Promise<void> | undefined;
  const ensureSchema = (): Promise<void> =>
    (schema ??= migrate(pool).catch((error: unknown) => {
      schema = undefined;
      throw translate(error);
    }));

  try {
    await ensureSchema();
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) {
      await pool.end();
      throw error;
    }
    options.log.warn({ err: error.message }, 'PostgreSQL is unavailable at start; conversation routes answer 503 until it is back');
  }

  const maxDepth = options.maxDepth ?? DEFAULT_JSON_MAX_DEPTH;
  // Documents come as text (doc::text), not parsed by pg: the depth and numbers are checked on the
  // text (readDocument), and jsonb's exact numbers are not rounded before they are.
  const find = async <C extends Collection>(collection: C, ids: readonly string[]): Promise<Map<string, DocumentOf[C]>> => {
    const found = new Map<string, DocumentOf[C]>();
    if (ids.length === 0) return found;
    await ensureSchema();
    const result = await pool
      .query<{ id: string; doc: string }>(`SELECT id, doc::text AS doc FROM ${collection} WHERE id = ANY($1::text[])`, [[...new Set(ids)]])
      .catch((error: unknown) => Promise.reject(translate(error)));
    for (const row of result.rows) found.set(row.id, readDocument(collection, row.id, row.doc, maxDepth));
    return found;
  };

  return {
    description: `postgres ${redactUrl(options.url)}`,
    find,
    async importDocuments(batch) {
      await ensureSchema();
      return transaction(pool, async (client) => {
        const counts: ImportCounts = {};
        for (const collection of COLLECTIONS) {
          const documents = batch[collection] as readonly StoredDocument[] | undefined;
          if (documents === undefined) continue;
          const ids = documents.map((d) => d._id);
          const existing = await client.query<{ id: string; doc: string }>(
            `SELECT id, doc::text AS doc FROM ${collection} WHERE id = ANY($1::text[]) FOR UPDATE`,
            [ids],
          );
          const { writes, count } = planUpserts(documents, new Map(existing.rows.map((r) => [r.id, readForImport(r.doc, maxDepth)])));
          if (writes.length > 0) {
            await client.query(
              `INSERT INTO ${collection} (id, doc) SELECT * FROM unnest($1::text[], $2::jsonb[])
               ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = now()`,
              [writes.map((d) => d._id), writes.map((d) => JSON.stringify(d))],
            );
          }
          counts[collection] = count;
        }
        return counts;
      });
    },
    async ping() {
      await ensureSchema();
      await pool.query('SELECT 1').catch((error: unknown) => Promise.reject(translate(error)));
    },
    close: () => pool.end(),
  };
}

/** Runs `work` in one transaction on one connection; any failure rolls everything back. */
async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect().catch((error: unknown) => Promise.reject(translate(error)));
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (error) {
    // A broken connection is not returned to the pool; a rollback on it would fail anyway.
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(error as Error);
    throw translate(error);
  }
}

/** Applies pending migrations; an advisory lock keeps gateways starting together from racing. */
async function migrate(pool: pg.Pool): Promise<void> {
  await transaction(pool, async (client) => {
    // pg reads a per-query `query_timeout` that its types do not declare.
    const run = (text: string, values?: unknown[]): Promise<pg.QueryResult> =>
      client.query({ text, values, query_timeout: MIGRATION_TIMEOUT_MS } as pg.QueryConfig);
    await run(`SET LOCAL statement_timeout = ${MIGRATION_TIMEOUT_MS}`);
    await run("SELECT pg_advisory_xact_lock(hashtext('general-socket:schema_migrations'))");
    await run(SCHEMA_MIGRATIONS_DDL);
    const applied = (await run('SELECT version FROM schema_migrations')).rows.map((r: { version: number }) => r.version);
    for (const migration of pendingMigrations(applied)) {
      await run(migration.postgres);
      await run('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, new Date().toISOString()]);
    }
  });
}

/** Node's network errors: the server is unreachable. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN']);

/**
 * Tells "the database is unavailable" (retry later: 503) from everything else (a bug or bad data,
 * reported as is). SQLSTATE classes 08 (connection), 53 (resources) and 57 (operator intervention,
 * including statement timeouts and shutdowns) are unavailability, and so are pg's own timeouts and
 * lost connections.
 */
function translate(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  const unavailable =
    typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)
      ? /^(08|53|57)/.test(code)
      : (typeof code === 'string' && NETWORK_CODES.has(code)) ||
        /timeout|Connection terminated|connection error|Connection ended|not queryable|pool .*ended/i.test(text);
  return unavailable ? new StoreUnavailableError(`PostgreSQL is unavailable: ${text}`, { cause: error }) : error;
}
