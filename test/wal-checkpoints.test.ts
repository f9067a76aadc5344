/**
 * WAL checkpoints on a thread of their own (src/store/wal-checkpoints.ts) and commits that wait for
 * a taken lock on timers (src/store/group-commit.ts): the event loop never sleeps on SQLite's lock
 * or fsyncs, and the WAL of a file written without pause stays bounded all the same.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { groupCommit } from '../src/store/group-commit.js';
import { openLocalDatabase } from '../src/store/sqlite.js';
import { checkpointOffThread } from '../src/store/wal-checkpoints.js';
import { openSqliteStreams, streamsPath } from '../src/streams/sqlite.js';

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
    // About a page a row: 3,000 commits write at least 12 MB of WAL if nothing copies it back.
    const row = 'x'.repeat(PAGE - 200);
    let largest = 0;
    for (let i = 0; i < 3000; i++) {
      await commits.enqueue(() => insert.run(row));
      largest = Math.max(largest, walBytes(path));
      if (i % 10 === 0) await sleep(1);
    }
    assert.equal(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM t').get()!.n, 3000, 'every commit landed');
    assert.ok(largest < 1000 * PAGE, `the WAL stayed under 1,000 pages (largest ${Math.round(largest / PAGE)} pages; 3,000 without checkpoints)`);
    await checkpoints.stop();
    db.close();
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
    await warned;
    await checkpoints.stop();
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000, "SQLite's default is back");
    assert.equal(warnings.length, 1, warnings.join('; '));
    assert.match(warnings[0]!, /checkpointing on the main thread/);
    db.close();
  });
});

describe('SQLite streams: a write lock held elsewhere', { timeout: 60_000 }, () => {
  it('is waited for on timers: the event loop keeps running, and the append lands once the lock is released', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-wait-')));
    const streams = openSqliteStreams(path, { size: 10, ttlMs: 3_600_000 });
    await streams.append([{ userId: 'u', event: 'e', data: 0 }]);
    // Another connection (as another WORKERS process would) holds the write lock for 300 ms.
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    let settled = false;
    const appended = streams.append([{ userId: 'u', event: 'e', data: 1 }]).finally(() => {
      settled = true;
    });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    await sleep(300);
    clearInterval(ticker);
    assert.equal(settled, false, 'the append waits while the lock is taken');
    // SQLite's busy handler would have slept on this thread: no timer could have run.
    assert.ok(ticks >= 5, `timers ran while the append waited (${ticks} ticks of 10 ms)`);
    other.exec('COMMIT');
    other.close();
    const [entry] = await appended;
    assert.equal(entry!.seq, 2);
    await streams.close();
  });
});
