/** The Store conformance suite: the same cases against the embedded SQLite store and PostgreSQL. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LATEST_VERSION } from '../src/store/migrations.js';
import { openPostgresStore } from '../src/store/postgres.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { ImportBatch, Store } from '../src/store/store.js';
import { createTestSchema, postgresAvailable, runSql, SHARED_PG_URL } from './support/postgres.js';

const quiet = { warn: () => undefined };

/** How to open a fresh database of one kind, reopen it, and read its migrations table directly. */
interface Backend {
  readonly name: string;
  readonly skip: string | false;
  setUp(): Promise<void>;
  open(): Promise<Store>;
  appliedVersions(): Promise<number[]>;
  /** Records a migration newer than this code knows. */
  addFutureMigration(): Promise<void>;
  tearDown(): Promise<void>;
}

function sqliteBackend(): Backend {
  let path = '';
  const raw = () => new Database(path);
  return {
    name: 'SQLite',
    skip: false,
    async setUp() {
      path = join(mkdtempSync(join(tmpdir(), 'gs-store-')), 'store.sqlite');
    },
    open: async () => openSqliteStore(path),
    async appliedVersions() {
      const db = raw();
      try {
        return db
          .prepare<[], { version: number }>('SELECT version FROM schema_migrations ORDER BY version')
          .all()
          .map((r) => r.version);
      } finally {
        db.close();
      }
    },
    async addFutureMigration() {
      const db = raw();
      db.prepare("INSERT INTO schema_migrations VALUES (?, 'from the future', '2099-01-01')").run(LATEST_VERSION + 1);
      db.close();
    },
    async tearDown() {},
  };
}

function postgresBackend(available: boolean): Backend {
  let schema: Awaited<ReturnType<typeof createTestSchema>> | undefined;
  return {
    name: 'PostgreSQL',
    skip: available ? false : 'PostgreSQL is not running',
    async setUp() {
      schema = await createTestSchema();
    },
    open: () => openPostgresStore({ url: schema!.url, timeoutMs: 5000, poolSize: 4, log: quiet }),
    async appliedVersions() {
      return (await runSql(SHARED_PG_URL, `SELECT version FROM ${schema!.schema}.schema_migrations ORDER BY version`)).rows.map((r) => r.version as number);
    },
    async addFutureMigration() {
      await runSql(SHARED_PG_URL, `INSERT INTO ${schema!.schema}.schema_migrations VALUES ($1, 'from the future', '2099-01-01')`, [LATEST_VERSION + 1]);
    },
    tearDown: async () => schema?.drop(),
  };
}

const pgUp = await postgresAvailable();

const batch: ImportBatch = {
  users: [
    { _id: 'u1', name: 'Alice', email: 'alice@example.com', password: 'hash-1', prefs: { theme: 'dark', tags: ['a', 'b'] } },
    { _id: 'u2', name: 'Bob' },
  ],
  contacts: [{ _id: 'c1', name: 'John Doe', phone: '+1 555', custom: null }],
  conversationprospects: [{ _id: 'conv1', users: ['u1', 'u2'], contact_id: 'c1', unread_count: { u1: 2 }, is_open: true }],
  communications: [{ _id: 'm1', type: 'INCOMING', data: 'Hello', sent_by: 'c1', conversation_id: ['conv1'], createdAt: '2025-10-13T10:30:00.000Z' }],
};

for (const backend of [sqliteBackend(), postgresBackend(pgUp)]) {
  describe(`Store conformance: ${backend.name}`, { skip: backend.skip }, () => {
    let store: Store;
    before(async () => {
      await backend.setUp();
      store = await backend.open();
    });
    after(async () => {
      await store?.close();
      await backend.tearDown();
    });

    it('creates the schema at open, recorded in schema_migrations, and applies nothing twice', async () => {
      assert.deepEqual(
        await backend.appliedVersions(),
        Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
      );
      const again = await backend.open();
      await again.close();
      assert.deepEqual(
        await backend.appliedVersions(),
        Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
      );
      await store.ping();
    });

    it('imports documents and counts them as new, then as unchanged (idempotent)', async () => {
      assert.deepEqual(await store.importDocuments(batch), {
        users: { inserted: 2, updated: 0, unchanged: 0 },
        contacts: { inserted: 1, updated: 0, unchanged: 0 },
        conversationprospects: { inserted: 1, updated: 0, unchanged: 0 },
        communications: { inserted: 1, updated: 0, unchanged: 0 },
      });
      const again = await store.importDocuments(batch);
      assert.deepEqual(again.users, { inserted: 0, updated: 0, unchanged: 2 });
      assert.deepEqual(again.communications, { inserted: 0, updated: 0, unchanged: 1 });
    });

    it('finds documents by id, whole, with every extra field; unknown ids are absent', async () => {
      const users = await store.find('users', ['u1', 'u2', 'nobody', 'u1']);
      assert.deepEqual([...users.keys()].sort(), ['u1', 'u2']);
      assert.deepEqual(users.get('u1'), batch.users![0]);
      assert.deepEqual((await store.find('contacts', ['c1'])).get('c1'), batch.contacts![0]);
      assert.deepEqual((await store.find('conversationprospects', ['conv1'])).get('conv1'), batch.conversationprospects![0]);
      assert.deepEqual((await store.find('communications', ['m1'])).get('m1'), batch.communications![0]);
      assert.equal((await store.find('users', [])).size, 0);
      assert.equal((await store.find('contacts', ['u1'])).size, 0, 'collections are separate');
    });

    it('looks up thousands of ids in one call', async () => {
      const many = Array.from({ length: 5000 }, (_, i) => ({ _id: `bulk-${i}`, n: i }));
      assert.deepEqual((await store.importDocuments({ users: many })).users, { inserted: 5000, updated: 0, unchanged: 0 });
      const found = await store.find(
        'users',
        many.map((d) => d._id),
      );
      assert.equal(found.size, 5000);
      assert.deepEqual(found.get('bulk-4999'), { _id: 'bulk-4999', n: 4999 });
    });

    it('upserts by _id: a changed document is updated, and the last copy in a batch wins', async () => {
      const counts = await store.importDocuments({
        users: [{ _id: 'u2', name: 'Bobby' }, { _id: 'u2', name: 'Robert', title: 'broker' }, { ...batch.users![0]! }],
      });
      assert.deepEqual(counts.users, { inserted: 0, updated: 1, unchanged: 1 });
      assert.deepEqual((await store.find('users', ['u2'])).get('u2'), { _id: 'u2', name: 'Robert', title: 'broker' });
    });

    it('imports all or nothing: a failure in a later collection leaves earlier ones untouched', async () => {
      await assert.rejects(
        store.importDocuments({
          users: [
            { _id: 'u-new', name: 'Never' },
            { _id: 'u1', name: 'Overwritten' },
          ],
          communications: [{ _id: 'm-bad', type: 'INCOMING', sent_by: 'c1', conversation_id: ['conv1'], size: 10n } as never],
        }),
      );
      assert.equal((await store.find('users', ['u-new'])).size, 0);
      assert.equal((await store.find('users', ['u1'])).get('u1')?.name, 'Alice');
    });

    it('refuses to open a database migrated by a newer version, saying so', async () => {
      await backend.addFutureMigration();
      await assert.rejects(backend.open(), new RegExp(`schema is at version ${LATEST_VERSION + 1}.*knows versions up to ${LATEST_VERSION}`));
    });
  });
}

describe('PostgreSQL store: misconfiguration', { skip: !pgUp && 'PostgreSQL is not running' }, () => {
  it('refuses to open a database that does not exist, instead of waiting for it', async () => {
    await assert.rejects(
      openPostgresStore({ url: SHARED_PG_URL.replace(/\/test$/, '/gs_no_such_database'), timeoutMs: 5000, poolSize: 1, log: quiet }),
      /database "gs_no_such_database" does not exist/,
    );
  });
});
