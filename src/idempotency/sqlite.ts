import { join } from 'node:path';
import { groupCommit } from '../store/group-commit.js';
import { openLocalDatabase } from '../store/sqlite.js';
import { claimOf, type Claim, type IdempotencyEntry, type IdempotencyStore } from './store.js';

/** The idempotency file inside a data folder. */
export function idempotencyPath(dataDir: string): string {
  return join(dataDir, 'idempotency.sqlite');
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done')),
    status INTEGER,
    body TEXT,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
`;

type Row = { token: string; fingerprint: string; state: 'running' | 'done'; status: number | null; body: string | null; expires_at: number };

/** Opens (creating when needed) the idempotency file at `path`; expired keys are deleted every `sweepEveryMs`. */
export function openSqliteIdempotency(path: string, { sweepEveryMs = 60_000 }: { sweepEveryMs?: number } = {}): IdempotencyStore & { sweep(): number } {
  const db = openLocalDatabase(path);
  db.exec(SCHEMA);

  const select = db.prepare<[string], Row>('SELECT token, fingerprint, state, status, body, expires_at FROM idempotency_keys WHERE key = ?');
  const upsertRunning = db.prepare<[string, string, string, number]>(
    `INSERT INTO idempotency_keys (key, token, fingerprint, state, status, body, expires_at) VALUES (?, ?, ?, 'running', NULL, NULL, ?)
     ON CONFLICT (key) DO UPDATE SET token = excluded.token, fingerprint = excluded.fingerprint, state = 'running', status = NULL, body = NULL,
     expires_at = excluded.expires_at`,
  );
  const extend = db.prepare<[number, string, string]>("UPDATE idempotency_keys SET expires_at = ? WHERE key = ? AND token = ? AND state = 'running'");
  const finish = db.prepare<[string, number, string, number, string, string]>(
    "UPDATE idempotency_keys SET state = 'done', fingerprint = ?, status = ?, body = ?, expires_at = ? WHERE key = ? AND token = ? AND state = 'running'",
  );
  const forget = db.prepare<[string, string]>("DELETE FROM idempotency_keys WHERE key = ? AND token = ? AND state = 'running'");
  const expired = db.prepare<[number]>('DELETE FROM idempotency_keys WHERE expires_at <= ?');

  // Claims and answers of many calls share one commit (store/group-commit.ts): a keyed emit costs
  // two statements in others' commits instead of two commits of its own.
  const commits = groupCommit(db, { flushAt: 1000, failure: (error) => (error instanceof Error ? error : new Error(String(error))) });
  const claim = (key: string, token: string, fingerprint: string, leaseMs: number, now: number): Claim => {
    const row = select.get(key);
    if (row !== undefined && row.expires_at > now) return claimOf(entryOf(row));
    upsertRunning.run(key, token, fingerprint, now + leaseMs);
    return { kind: 'claimed' };
  };

  const sweep = (): number => expired.run(Date.now()).changes;
  sweep();
  const sweeper = setInterval(() => {
    try {
      sweep();
    } catch {
      // Locked by another process for longer than busy_timeout: the next round deletes them.
    }
  }, sweepEveryMs);
  sweeper.unref();

  return {
    description: `sqlite ${path}`,
    claim: (key, token, fingerprint, leaseMs) => commits.enqueue((now) => claim(key, token, fingerprint, leaseMs, now)),
    renew: (key, token, leaseMs) => commits.enqueue((now) => extend.run(now + leaseMs, key, token).changes === 1),
    complete: (key, token, { fingerprint, status, body }, ttlMs) =>
      commits.enqueue((now) => finish.run(fingerprint, status, body, now + ttlMs, key, token).changes === 1),
    release: (key, token) => commits.enqueue(() => void forget.run(key, token)),
    ping: async () => void db.prepare('SELECT 1').get(),
    sweep,
    close: async () => {
      clearInterval(sweeper);
      commits.flush();
      db.close();
    },
  };
}

function entryOf(row: Row): IdempotencyEntry {
  if (row.state === 'running') return { state: 'running', token: row.token, fingerprint: row.fingerprint };
  return { state: 'done', token: row.token, fingerprint: row.fingerprint, status: row.status ?? 500, body: row.body ?? '' };
}
