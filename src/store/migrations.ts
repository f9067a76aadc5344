/**
 * Versioned schema migrations, for both dialects side by side so they cannot drift. Each store
 * applies, at start and in one transaction, the migrations whose version its `schema_migrations`
 * table does not list yet. Append new migrations; never edit one that has shipped.
 *
 * Every lookup the gateway makes is by `_id` (batched: `id IN (...)` / `id = ANY($1)`), so each
 * table's primary key is the index those lookups use; documents are kept whole as JSON. Tables are
 * named after the MongoDB collections.
 */

/** One step of the schema. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
  readonly postgres: string;
}

/**
 * Every migration, in order. Each is literal SQL, never built from code that may change (such as the
 * collection list): what version 1 means must be the same to every later version. A collection added
 * later gets a table from a migration of its own; test/migrations.test.ts pins the shipped ones.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'documents by id',
    sqlite: [
      'CREATE TABLE users (id TEXT PRIMARY KEY, doc TEXT NOT NULL CHECK (json_valid(doc)), updated_at TEXT NOT NULL) WITHOUT ROWID;',
      'CREATE TABLE contacts (id TEXT PRIMARY KEY, doc TEXT NOT NULL CHECK (json_valid(doc)), updated_at TEXT NOT NULL) WITHOUT ROWID;',
      'CREATE TABLE conversationprospects (id TEXT PRIMARY KEY, doc TEXT NOT NULL CHECK (json_valid(doc)), updated_at TEXT NOT NULL) WITHOUT ROWID;',
      'CREATE TABLE communications (id TEXT PRIMARY KEY, doc TEXT NOT NULL CHECK (json_valid(doc)), updated_at TEXT NOT NULL) WITHOUT ROWID;',
    ].join('\n'),
    postgres: [
      'CREATE TABLE users (id text PRIMARY KEY, doc jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());',
      'CREATE TABLE contacts (id text PRIMARY KEY, doc jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());',
      'CREATE TABLE conversationprospects (id text PRIMARY KEY, doc jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());',
      'CREATE TABLE communications (id text PRIMARY KEY, doc jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());',
    ].join('\n'),
  },
];

/** The newest schema version this code knows. */
export const LATEST_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/** The migrations still to apply to a database at `applied` versions; refuses a newer database. */
export function pendingMigrations(applied: readonly number[]): Migration[] {
  const newest = Math.max(0, ...applied);
  if (newest > LATEST_VERSION) {
    throw new Error(
      `the database schema is at version ${newest} but this gateway knows versions up to ${LATEST_VERSION}: run a newer general-socket against this database`,
    );
  }
  return MIGRATIONS.filter((m) => !applied.includes(m.version));
}

/** The table that records applied migrations (same text for both dialects). */
export const SCHEMA_MIGRATIONS_DDL = 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)';
