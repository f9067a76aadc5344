/**
 * Schema migrations never change once shipped: a database migrated by one version must mean the same
 * schema to every later version. New collections, columns or indexes come as new migrations.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../src/store/migrations.js';
import { COLLECTIONS } from '../src/store/store.js';

/**
 * The fingerprint of every migration that has shipped. Adding a migration adds a line here; a test
 * failing on an existing line means a shipped migration was edited: revert it, add a new one instead.
 */
const SHIPPED: Record<number, string> = {
  1: '61f92d6b3b133cb3cdfc593a2d815100ffa05f74ead9101ffce42bc507a10ec9',
};

const fingerprint = (migration: (typeof MIGRATIONS)[number]): string =>
  createHash('sha256')
    .update(JSON.stringify([migration.version, migration.name, migration.sqlite, migration.postgres]))
    .digest('hex');

describe('schema migrations', () => {
  it('are numbered 1, 2, 3... in order', () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, n) => n + 1),
    );
  });

  it('never change once shipped', () => {
    for (const migration of MIGRATIONS) {
      const pinned = SHIPPED[migration.version];
      if (pinned === undefined) continue;
      assert.equal(
        fingerprint(migration),
        pinned,
        `migration ${migration.version} ("${migration.name}") has shipped and must not change: add a new migration instead`,
      );
    }
  });

  it('do not follow the live collection list: a collection added later needs a migration of its own', async () => {
    const live = COLLECTIONS as unknown as string[];
    live.push('collectionaddedlater');
    // A second instance of the module (another URL), evaluated while the list holds one more collection.
    const again = '../src/store/migrations.js?with-a-later-collection';
    let fresh: { MIGRATIONS: typeof MIGRATIONS };
    try {
      fresh = (await import(again)) as typeof fresh;
    } finally {
      live.pop();
    }
    assert.deepEqual(fresh.MIGRATIONS, MIGRATIONS);
    assert.ok(!fresh.MIGRATIONS.some((m) => m.sqlite.includes('collectionaddedlater') || m.postgres.includes('collectionaddedlater')));
  });

  it('give every collection its table, in both dialects', () => {
    const db = new Database(':memory:');
    try {
      for (const migration of MIGRATIONS) db.exec(migration.sqlite);
      const tables = db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((row) => row.name);
      assert.deepEqual(tables, [...COLLECTIONS].sort(), 'a collection without a table needs a new migration that creates it');
    } finally {
      db.close();
    }
    const created = (dialect: 'sqlite' | 'postgres'): string[] =>
      MIGRATIONS.flatMap((m) => [...m[dialect].matchAll(/CREATE TABLE (\w+)/gi)].map((match) => match[1]!)).sort();
    assert.deepEqual(created('postgres'), created('sqlite'));
  });
});
