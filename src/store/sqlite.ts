/**
 * The embedded store: one SQLite file under DATA_DIR (better-sqlite3), used when DATABASE_URL is
 * unset, so `npm start` needs no database server. Calls are synchronous and fast (local file,
 * primary-key lookups); they are wrapped in promises to fit the Store interface.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_JSON_MAX_DEPTH } from '../json-limits.js';
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

/** The database file inside a data folder. */
export function sqlitePath(dataDir: string): string {
  return join(dataDir, 'general-socket.sqlite');
}

/** Opens (creating and migrating when needed) the SQLite store at `path`; documents nested deeper than `maxDepth` are refused when read. */
export function openSqliteStore(path: string, { maxDepth = DEFAULT_JSON_MAX_DEPTH }: { maxDepth?: number } = {}): Store {
  const db = openLocalDatabase(path);
  migrate(db);

  // One statement per collection; json_each turns one JSON array parameter into the IN list, so a
  // batch of any size is one query with one parameter.
  const select = Object.fromEntries(
    COLLECTIONS.map((c) => [c, db.prepare<[string], { id: string; doc: string }>(`SELECT id, doc FROM ${c} WHERE id IN (SELECT value FROM json_each(?))`)]),
  ) as Record<Collection, Database.Statement<[string], { id: string; doc: string }>>;
  const upsert = Object.fromEntries(
    COLLECTIONS.map((c) => [
      c,
      db.prepare<[string, string, string]>(
        `INSERT INTO ${c} (id, doc, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`,
      ),
    ]),
  ) as Record<Collection, Database.Statement<[string, string, string]>>;

  const findSync = <C extends Collection>(collection: C, ids: readonly string[]): Map<string, DocumentOf[C]> => {
    const found = new Map<string, DocumentOf[C]>();
    if (ids.length === 0) return found;
    for (const row of select[collection].all(JSON.stringify([...new Set(ids)]))) found.set(row.id, readDocument(collection, row.id, row.doc, maxDepth));
    return found;
  };
  const storedSync = (collection: Collection, ids: readonly string[]): Map<string, StoredDocument | null> => {
    const found = new Map<string, StoredDocument | null>();
    for (const row of select[collection].all(JSON.stringify([...new Set(ids)]))) found.set(row.id, readForImport(row.doc, maxDepth));
    return found;
  };

  const importAll = db.transaction((batch: Parameters<Store['importDocuments']>[0]): ImportCounts => {
    const counts: ImportCounts = {};
    const now = new Date().toISOString();
    for (const collection of COLLECTIONS) {
      const documents = batch[collection] as readonly StoredDocument[] | undefined;
      if (documents === undefined) continue;
      const { writes, count } = planUpserts(
        documents,
        storedSync(
          collection,
          documents.map((d) => d._id),
        ),
      );
      for (const document of writes) upsert[collection].run(document._id, JSON.stringify(document), now);
      counts[collection] = count;
    }
    return counts;
  });

  return {
    description: `sqlite ${path}`,
    find: async (collection, ids) => guard(() => findSync(collection, ids)),
    // IMMEDIATE takes the write lock up front, so the read-compare-write cannot interleave.
    importDocuments: async (batch) => guard(() => importAll.immediate(batch)),
    ping: async () => void guard(() => db.prepare('SELECT 1').get()),
    close: async () => void db.close(),
  };
}

/**
 * The database holds user documents: it is created 0600, and SQLite gives its -wal, -shm and
 * -journal files the database file's mode. Files an older version left readable by others are
 * tightened; a file of another owner (which cannot be) is left as it is. The streams' file
 * (streams/sqlite.ts), which holds event payloads, and the idempotency file (idempotency/sqlite.ts),
 * which holds emit answers, are created the same way.
 */
/**
 * Opens a SQLite file of the gateway's own (the documents, the streams, idempotency keys,
 * revocations), creating it and its folder readable by their owner only. WAL with
 * synchronous=NORMAL: a commit survives a killed process without an fsync each. Every WORKERS
 * process (and the import CLI) may open the same file: a writer waits up to `busyTimeoutMs` for
 * another's lock rather than failing at once.
 */
export function openLocalDatabase(path: string, { busyTimeoutMs = 5000 }: { busyTimeoutMs?: number } = {}): Database.Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  createOwnerOnly(path);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

export function createOwnerOnly(path: string): void {
  closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    try {
      const { mode } = statSync(file);
      if ((mode & 0o077) !== 0) chmodSync(file, mode & 0o700);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EPERM') throw error;
    }
  }
}

/** Applies pending migrations in one write transaction. */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    db.exec(SCHEMA_MIGRATIONS_DDL);
    const applied = db
      .prepare<[], { version: number }>('SELECT version FROM schema_migrations')
      .all()
      .map((r) => r.version);
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of pendingMigrations(applied)) {
      db.exec(migration.sqlite);
      record.run(migration.version, migration.name, new Date().toISOString());
    }
  }).immediate();
}

/** A database locked for longer than busy_timeout is unavailable, not broken. */
function guard<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      throw new StoreUnavailableError(`the SQLite database is locked by another process (${code})`, { cause: error });
    }
    throw error;
  }
}
