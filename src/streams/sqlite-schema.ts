/**
 * The layout of the streams' file (streams/sqlite.ts) and its upgrades from older versions.
 *
 * A stream is a row of `stream_meta` (epoch, when it was last touched, and its number) and its
 * events. Events live in a rowid table, so appends land at its end (a few pages written per commit,
 * whoever they are for), with an index on (stream, seq) for reads: keyed by user, every append would
 * write a page of its own user's, and writing pages is what a commit costs. The index itself takes a
 * page per few users once each user's entries fill one (a full history: BENCHMARKS.md, "A fan-out
 * once every user's history is full"). For the same reason the last seq is not kept in `stream_meta`
 * but read from that index (its last entry, which trimming never deletes): an append then writes its
 * event and its index entry, not also its user's `stream_meta` page (schema 2; schema 1 kept it
 * there, 27% more pages written per event).
 *
 * A fan-out's payload is written once, to `stream_payloads`, and its users' events point at it (their
 * own `data` left empty): before, a payload sent to 10,000 users was written 10,000 times (schema 3).
 * Such a payload is deleted by time, once it is older than the ttl: no read returns an event that old,
 * so nothing counts who still points at it. Events for a few users keep their payload inline, where
 * a row of its own would cost more than the copy.
 *
 * Events name their stream by its number, not by its user's id (schema 4): an index entry is then a
 * few bytes whatever the ids look like (a 24-character id made each entry about 35 bytes), so a full
 * history's entries take a fraction of a page, and a fan-out to users with full histories writes a
 * page per few users rather than one per user. Numbers come from `stream_ids`, inside the write
 * transaction, so processes sharing the file never hand out one twice; a stream keeps its number when
 * it starts a new epoch (its old events are deleted then), and the sweeper deletes both together.
 *
 * A fan-out is first written as one row of `stream_log`, its users' [stream, seq] pairs in a JSON
 * array, and moved into `stream_events` later, several fan-outs at once (streams/sqlite-log.ts,
 * schema 5). A file of schema 4 needs only the new, empty table.
 */
import type Database from 'better-sqlite3';

const SCHEMA_VERSION = 5;

/** The events' table, under `name` (an upgrade builds it beside the old one). */
const eventsTable = (name: string): string => `
CREATE TABLE IF NOT EXISTS ${name} (
  id INTEGER PRIMARY KEY,
  stream INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  time INTEGER NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL,
  payload INTEGER
);`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS stream_meta (
  user TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  touched INTEGER NOT NULL,
  id INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stream_meta_touched ON stream_meta (touched);
CREATE TABLE IF NOT EXISTS stream_ids (next INTEGER NOT NULL);
INSERT INTO stream_ids (next) SELECT coalesce(max(id), 0) + 1 FROM stream_meta WHERE NOT EXISTS (SELECT 1 FROM stream_ids);
${eventsTable('stream_events')}
CREATE UNIQUE INDEX IF NOT EXISTS stream_events_stream_seq ON stream_events (stream, seq);
CREATE TABLE IF NOT EXISTS stream_payloads (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stream_payloads_time ON stream_payloads (time);
CREATE TABLE IF NOT EXISTS stream_log (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  event TEXT NOT NULL,
  payload INTEGER NOT NULL,
  members TEXT NOT NULL,
  trims TEXT NOT NULL
);
`;

/** Creates the tables (upgrading an older file's), or checks that a file written by a newer version is not opened. */
export function createSchema(db: Database.Database, path: string): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`${path} was written by a newer version of the gateway (streams schema ${version}; this version knows up to ${SCHEMA_VERSION})`);
    }
    if (version > 0 && version < 4) upgrade(db, version);
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** Brings a file of schema 1, 2 or 3 to schema 4, its streams and events kept as they were. */
function upgrade(db: Database.Database, version: number): void {
  // Schema 1 kept each stream's last seq in stream_meta, where schema 2 reads it from the events'
  // index. Both agree: trimming and size never delete a stream's last event.
  if (version === 1) db.exec('ALTER TABLE stream_meta DROP COLUMN seq');
  // Schema 4 numbers the streams and rewrites the events with their stream's number (and without a
  // pointer to a shared payload before schema 3). Events whose user has no stream row left are not
  // kept: the next call for that user starts a new epoch, which drops them anyway.
  db.exec(`
    ALTER TABLE stream_meta ADD COLUMN id INTEGER NOT NULL DEFAULT 0;
    UPDATE stream_meta SET id = n FROM (SELECT user AS numbered, row_number() OVER (ORDER BY user) AS n FROM stream_meta) WHERE user = numbered;
    ${eventsTable('stream_events_4')}
    INSERT INTO stream_events_4 (id, stream, seq, time, event, data, payload)
      SELECT e.id, m.id, e.seq, e.time, e.event, e.data, ${version >= 3 ? 'e.payload' : 'NULL'} FROM stream_events e JOIN stream_meta m ON m.user = e.user;
    DROP TABLE stream_events;
    ALTER TABLE stream_events_4 RENAME TO stream_events;`);
}
