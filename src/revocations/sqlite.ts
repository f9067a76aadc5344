import { join } from 'node:path';
import { openLocalDatabase } from '../store/sqlite.js';
import { nowSeconds, type RevocationEntry, type RevocationStore } from './revocations.js';

/** The revocations file inside a data folder. */
export function revocationsPath(dataDir: string): string {
  return join(dataDir, 'token-revocations.sqlite');
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS revoked_users (user_id TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, keep_until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_tokens (jti TEXT PRIMARY KEY, keep_until INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS revoked_users_keep_until ON revoked_users (keep_until);
CREATE INDEX IF NOT EXISTS revoked_tokens_keep_until ON revoked_tokens (keep_until);
`;

/** Opens (creating when needed) the revocations of `dataDir`. */
export function openSqliteRevocations(dataDir: string): RevocationStore {
  const path = revocationsPath(dataDir);
  const db = openLocalDatabase(path, { busyTimeoutMs: 2000 });
  db.exec(SCHEMA);

  // A later revocation of a user wins; an earlier one (another node's clock) changes nothing.
  const revokeUser = db.prepare<[string, number, number]>(
    `INSERT INTO revoked_users (user_id, revoked_at, keep_until) VALUES (?, ?, ?)
     ON CONFLICT (user_id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at), keep_until = max(keep_until, excluded.keep_until)`,
  );
  const revokeToken = db.prepare<[string, number]>(
    'INSERT INTO revoked_tokens (jti, keep_until) VALUES (?, ?) ON CONFLICT (jti) DO UPDATE SET keep_until = max(keep_until, excluded.keep_until)',
  );
  const user = db.prepare<[string, number], { revoked_at: number }>('SELECT revoked_at FROM revoked_users WHERE user_id = ? AND keep_until > ?');
  const token = db.prepare<[string, number], { n: number }>('SELECT 1 AS n FROM revoked_tokens WHERE jti = ? AND keep_until > ?');
  const purge = db.transaction((now: number) => {
    db.prepare('DELETE FROM revoked_users WHERE keep_until <= ?').run(now);
    db.prepare('DELETE FROM revoked_tokens WHERE keep_until <= ?').run(now);
  });
  purge(nowSeconds());

  return {
    description: `sqlite ${path}`,
    async add(entry) {
      const now = nowSeconds();
      // Each write also drops what has ended, so the file holds at most a TTL's revocations.
      purge(now);
      if (entry.kind === 'user') revokeUser.run(entry.userId, entry.revokedAt, entry.keepUntil);
      else revokeToken.run(entry.jti, entry.keepUntil);
    },
    async lookup(userId, jti) {
      const now = nowSeconds();
      const revokedAt = user.get(userId, now)?.revoked_at;
      return { ...(revokedAt !== undefined && { userRevokedAt: revokedAt }), tokenRevoked: jti !== undefined && token.get(jti, now) !== undefined };
    },
    // Every process reads the same file: nothing to remember.
    remember: (_entry: RevocationEntry) => undefined,
    close: async () => void db.close(),
  };
}
