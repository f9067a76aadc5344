/**
 * WAL checkpoints on a thread of their own (src/store/wal-checkpoints.ts) and commits that wait for
 * a taken lock on timers (src/store/group-commit.ts): the event loop never sleeps on SQLite's
 * fsyncs, and the WAL of a file written without pause stays bounded all the same. The streams'
 * waiting for a lock held elsewhere is in streams-faults.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupCommit } from '../src/store/group-commit.js';
import { openLocalDatabase } from '../src/store/sqlite.js';
import { checkpointOffThread } from '../src/store/wal-checkpoints.js';

const PAGE = 4096;

function walBytes(path: string): number {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
}

describe('WAL checkpoints on their own thread', { timeout: 60_000 }, () => {
  it('keep the WAL of a file written without pause bounded, though the main connection never checkpoints', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'gs-wal-')), 'file.sqlite');
    const db = openLocalDatabase(path, { busyTimeoutMs: 0 });
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const checkpoints = checkpointOffThread(db, path, { everyMs: 5, restartAtPages: 100 });
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'the main connection does not checkpoint');
    const commits = groupCommit(db, { flushAt: 1000, failure: (error) => error as Error, lockWaitMs: 5000 });
    const insert = db.prepare<[string]>('INSERT INTO t (v) VALUES (?)');
    // About a page a row: 5,000 commits write at least 20 MB of WAL if nothing copies it back.
    const row = 'x'.repeat(PAGE - 200);
    let largest = 0;
    for (let i = 0; i < 5000; i++) {
      await commits.enqueue(() => insert.run(row));
      largest = Math.max(largest, walBytes(path));
      if (i % 5 === 0) await sleep(1);
    }
    assert.equal(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM t').get()!.n, 5000, 'every commit landed');
    // Restarted past 100 pages, it stays near that; the margin is for a thread kept waiting by a busy
    // machine (with three test suites at once, it once reached 2,100 pages before its first restart).
    assert.ok(largest < 3000 * PAGE, `the WAL stayed under 3,000 pages (largest ${Math.round(largest / PAGE)} pages; 5,000 or more without checkpoints)`);
    await checkpoints.stop();
    db.close();
  });

  it('let commits through while a reader keeps the WAL from starting over', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'gs-wal-')), 'file.sqlite');
    const db = openLocalDatabase(path, { busyTimeoutMs: 0 });
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare<[string]>('INSERT INTO t (v) VALUES (?)');
    const row = 'x'.repeat(PAGE - 200);
    // Past restartAtPages before the thread starts, so its first round tries a RESTART.
    db.transaction(() => {
      for (let i = 0; i < 300; i++) insert.run(row);
    })();
    // Another connection in a read transaction (another process's page of history): its snapshot
    // holds frames of the WAL, which cannot start over until it ends.
    const reader = new Database(path);
    reader.prepare('BEGIN').run();
    reader.prepare('SELECT count(*) FROM t').get();
    const checkpoints = checkpointOffThread(db, path, { everyMs: 5, restartAtPages: 100 });
    let written = 0;
    let refused = 0;
    try {
      for (let i = 0; i < 60; i++) {
        try {
          insert.run(row);
          written++;
        } catch (error) {
          if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
          refused++;
        }
        await sleep(5);
      }
    } finally {
      reader.prepare('COMMIT').run();
      reader.close();
      await checkpoints.stop();
      db.close();
    }
    // A RESTART that waited for the reader holding the write lock refused every commit for a second.
    assert.ok(written > refused * 2, `commits went on beside the reader: ${written} written, ${refused} refused the lock`);
  });

  it('hands checkpoints back to the main connection, with a warning, when the thread cannot run', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'gs-wal-')), 'file.sqlite');
    const db = openLocalDatabase(path, { busyTimeoutMs: 0 });
    const warnings: string[] = [];
    let resolve = (): void => undefined;
    const warned = new Promise<void>((settle) => {
      resolve = settle;
    });
    // A path the thread cannot open: it fails at once.
    const checkpoints = checkpointOffThread(db, join(path, 'missing'), {
      log: {
        warn: (_details, message) => {
          warnings.push(message);
          resolve();
        },
      },
    });
    // The thread keeps nothing alive (a gateway's server does): this test's timer does meanwhile.
    const keepAlive = setInterval(() => undefined, 1000);
    await warned;
    clearInterval(keepAlive);
    await checkpoints.stop();
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000, "SQLite's default is back");
    assert.equal(warnings.length, 1, warnings.join('; '));
    assert.match(warnings[0]!, /checkpointing on the main thread/);
    db.close();
  });
});
