/**
 * The fan-out log of the streams' file (streams/sqlite.ts): a fan-out to many users is written as one
 * row, its users' [stream, seq] pairs in a JSON array, and moved into the events' (stream, seq) index
 * later, several fan-outs at once, sorted. The index is ordered by stream, so a fan-out inserted on
 * its own dirties a page of it per few users, all of them once histories are full, and its commit
 * writes them all; moved together, five fan-outs dirty each page once (BENCHMARKS.md, "the fan-out
 * log"). A committed log row is as durable as the events it stands for.
 *
 * The index is whole only after a drain, so whatever reads it (a head, a page of events, the heads
 * of users this process does not remember, the sweeper) or writes to it directly (an append of a few
 * users) drains the log first, inside the same transaction.
 */
import type Database from 'better-sqlite3';

/** Fan-out members logged past which the log is drained by the append that logged them. */
const DRAIN_AT = 50_000;

export interface FanoutLog {
  /**
   * Logs one fan-out of `event` with the payload `payload` (a stream_payloads row) to `members`, its
   * users' [stream, seq]; `trims` are the trims due with these seqs ([stream, first seq kept]), applied
   * when the fan-out is moved.
   */
  write(
    time: number,
    event: string,
    payload: number | bigint,
    members: readonly (readonly [number, number])[],
    trims: readonly (readonly [number, number])[],
  ): void;
  /** Moves every logged fan-out into the index and applies its trims (in the caller's transaction). */
  drain(): void;
  /** Rows this connection did not write may be logged (another connection's, or a drain rolled back): the next drain looks. */
  unsure(): void;
}

/** The fan-out log of `db` (the streams' connection). */
export function fanoutLog(db: Database.Database): FanoutLog {
  const insert = db.prepare<[number, string, number | bigint, string, string]>(
    'INSERT INTO stream_log (time, event, payload, members, trims) VALUES (?, ?, ?, ?, ?)',
  );
  // Sorted by (stream, seq), so the index is written page after page.
  const expand = db.prepare(
    `INSERT INTO stream_events (stream, seq, time, event, data, payload)
     SELECT m.value ->> 0, m.value ->> 1, l.time, l.event, '', l.payload FROM stream_log l, json_each(l.members) m ORDER BY 1, 2`,
  );
  const trim = db.prepare(
    `DELETE FROM stream_events WHERE id IN (
       SELECT e.id FROM stream_log l, json_each(l.trims) t, stream_events e WHERE e.stream = t.value ->> 0 AND e.seq < t.value ->> 1)`,
  );
  const clear = db.prepare('DELETE FROM stream_log');
  /** Members this connection logged since its last drain. */
  let logged = 0;
  /** At open, a previous run may have left rows. */
  let unsure = true;

  const drain = (): void => {
    if (logged === 0 && !unsure) return;
    expand.run();
    trim.run();
    clear.run();
    logged = 0;
    unsure = false;
  };
  return {
    write(time, event, payload, members, trims) {
      insert.run(time, event, payload, JSON.stringify(members), JSON.stringify(trims));
      logged += members.length;
      if (logged >= DRAIN_AT) drain();
    },
    drain,
    unsure() {
      unsure = true;
    },
  };
}
