/**
 * The layout of the streams' file (streams/sqlite.ts) and its upgrades from older versions.
 *
 * A stream is a row of `stream_meta` (epoch, when it was last touched) and its events. Events live
 * in a rowid table, so appends land at its end (a few pages written per commit, whoever they are
 * for), with an index on (user, seq) for reads: keyed by user, every append would write a page of its
 * own user's, and writing pages is what a commit costs. The index itself takes a page per user once
 * each user's entries fill one (a full history: BENCHMARKS.md, "A fan-out once every user's history
 * is full"). For the same reason the last seq is not kept in `stream_meta` but read from that index
 * (its last entry, which trimming never deletes): an append then writes its event and its index
 * entry, not also its user's `stream_meta` page (schema 2; schema 1 kept it there, 27% more pages
 * written per event).
 *
 * A fan-out's payload is written once, to `stream_payloads`, and its users' events point at it (their
 * own `data` left empty): before, a payload sent to 10,000 users was written 10,000 times (schema 3).
 * Such a payload is deleted by time, once it is older than the ttl: no read returns an event that old,
 * so nothing counts who still points at it. Events for a few users keep their payload inline, where
 * a row of its own would cost more than the copy.
 */
import type Database from 'better-sqlite3';

const SCHEMA_VERSION = 3;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS stream_meta (
  user TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  touched INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stream_meta_touched ON stream_meta (touched);
CREATE TABLE IF NOT EXISTS stream_events (
  id INTEGER PRIMARY KEY,
  user TEXT NOT NULL,
  seq INTEGER NOT NULL,
  time INTEGER NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL,
  payload INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS stream_events_user_seq ON stream_events (user, seq);
CREATE TABLE IF NOT EXISTS stream_payloads (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stream_payloads_time ON stream_payloads (time);
`;

/** Creates the tables, or checks that a file written by a newer version is not opened. */
export function createSchema(db: Database.Database, path: string): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`${path} was written by a newer version of the gateway (streams schema ${version}; this version knows up to ${SCHEMA_VERSION})`);
    }
    db.exec(SCHEMA);
    // Schema 1 kept each stream's last seq in stream_meta, where schema 2 reads it from the events'
    // index. Both agree: trimming and size never delete a stream's last event.
    if (version === 1) db.exec('ALTER TABLE stream_meta DROP COLUMN seq');
    // Schema 3 added the events' pointer to a shared payload; their own payloads stay where they are.
    if (version === 1 || version === 2) db.exec('ALTER TABLE stream_events ADD COLUMN payload INTEGER');
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
