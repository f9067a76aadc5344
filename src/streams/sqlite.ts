/**
 * The embedded streams: one SQLite file, `DATA_DIR/streams.sqlite`, apart from the documents'
 * database, whose writes are few and large where these are many and small.
 *
 * Group commit: the calls (append, head, read) made in one turn of the event loop join one queue,
 * which runs at setImmediate in one BEGIN IMMEDIATE transaction (or at once when it grows large);
 * their promises settle after the commit. A fan-out to 10,000 users, or a hundred emits arriving
 * together, costs one commit, not one each. WAL with synchronous=NORMAL: a committed append
 * survives a killed process (not a power cut) without an fsync per commit. The WAL is copied into
 * the file by a thread of its own (store/wal-checkpoints.ts), and a commit that finds the write lock
 * taken tries again on a timer: neither the checkpoint's fsyncs nor a wait for the lock stall the
 * event loop.
 *
 * Several processes (WORKERS=n without Redis) may share the file, so seqs are handed out inside the
 * write transaction: two processes never hand out one seq. A process remembers the heads of the
 * streams it appended to, but trusts them only while no other connection has committed to the file
 * since its own last transaction (PRAGMA data_version); otherwise it reads them from the table.
 *
 * A stream is a row of `stream_meta` and its events, laid out as sqlite-schema.ts says. Untouched
 * for the ttl, it is expired: the next call starts a new epoch, and a sweeper deletes expired streams
 * (and shared payloads past the ttl) so that idle users cost nothing.
 */
import { join } from 'node:path';
import { groupCommit } from '../store/group-commit.js';
import { openLocalDatabase } from '../store/sqlite.js';
import { checkpointOffThread } from '../store/wal-checkpoints.js';
import { rememberedHeads, type Head } from './sqlite-heads.js';
import { fanoutLog } from './sqlite-log.js';
import { createSchema } from './sqlite-schema.js';
import {
  StreamsUnavailableError,
  newEpoch,
  serializePayloads,
  type Append,
  type Appended,
  type StreamEntry,
  type StreamHead,
  type StreamLimits,
  type StreamPage,
  type UserStreams,
} from './streams.js';

/** The streams' file inside a data folder. */
export function streamsPath(dataDir: string): string {
  return join(dataDir, 'streams.sqlite');
}

/** Where the sweeper reports what it could not do (pino-compatible). */
export interface StreamsLog {
  warn(details: object, message: string): void;
}

/** Tuning that tests (and nobody else) change. */
export interface SqliteStreamsOptions {
  readonly log?: StreamsLog;
  /** How often expired streams are deleted (default 60 s). */
  readonly sweepEveryMs?: number;
}

/** Items queued past this many are written at once rather than at the end of the turn. */
const FLUSH_AT_ITEMS = 5000;

/**
 * A user's events past the size are deleted every this many appends (reads skip them meanwhile): a
 * delete at each append would dirty a page more per event, and pages written are what a commit costs.
 */
const TRIM_EVERY = 32;

/**
 * From this many users with one event each in a call, they are appended by set-wide statements, and
 * those with the same event and payload point at one copy of it.
 */
const MANY_USERS = 16;

/** Expired streams deleted per transaction, so that a sweep never holds the write lock for long. */
const SWEEP_BATCH = 500;

/** How long a commit waits for the write lock (another WORKERS process's commit, a checkpoint) before failing. */
const LOCK_WAIT_MS = 5000;

/** Opens (creating when needed) the streams' file at `path`. */
export function openSqliteStreams(path: string, limits: StreamLimits, options: SqliteStreamsOptions = {}): UserStreams {
  const db = openLocalDatabase(path, { busyTimeoutMs: LOCK_WAIT_MS });
  try {
    createSchema(db, path);
  } catch (error) {
    db.close();
    throw error;
  }
  // From here on the group commit waits for the lock, on timers (store/group-commit.ts).
  db.pragma('busy_timeout = 0');
  const checkpoints = checkpointOffThread(db, path, { log: options.log });
  const { size, ttlMs } = limits;
  /**
   * How old a live stream's `touched` may be before a call writes it again: 1% of the ttl, at most a
   * minute. Each write moves the stream's entry in the `touched` index: written at every append, that
   * was a fifth of what an append cost, and once a second still as much as the events themselves in a
   * fan-out's commit (BENCHMARKS.md). A stream therefore expires up to this much before its ttl is over.
   */
  const touchEvery = Math.min(60_000, Math.floor(ttlMs / 100));

  // A live stream's epoch, touch and last seq (0 before its first event): no row when it is missing or
  // expired. The seq is the last entry of the (stream, seq) index, which SQLite reads without a scan.
  const liveStream = db.prepare<[string, number], { id: number; epoch: string; touched: number; seq: number }>(
    'SELECT m.id, m.epoch, m.touched, coalesce((SELECT max(e.seq) FROM stream_events e WHERE e.stream = m.id), 0) AS seq FROM stream_meta m WHERE m.user = ? AND m.touched > ?',
  );
  const touch = db.prepare<[number, string]>('UPDATE stream_meta SET touched = ? WHERE user = ?');
  // A new stream takes the next id; an expired one keeps its own (and its old events are deleted).
  // `WHERE true` tells the parser that ON CONFLICT belongs to the INSERT, not to a join.
  const restart = db.prepare<[string, string, number], { id: number }>(
    `INSERT INTO stream_meta (user, epoch, touched, id) SELECT ?, ?, ?, next FROM stream_ids WHERE true
     ON CONFLICT (user) DO UPDATE SET epoch = excluded.epoch, touched = excluded.touched RETURNING id`,
  );
  const takeIds = db.prepare<[number]>('UPDATE stream_ids SET next = next + ?');
  const dropEvents = db.prepare<[number]>('DELETE FROM stream_events WHERE stream = ?');
  const dropMeta = db.prepare<[string]>('DELETE FROM stream_meta WHERE user = ?');
  const insertEvent = db.prepare<[number, number, number, string, string]>('INSERT INTO stream_events (stream, seq, time, event, data) VALUES (?, ?, ?, ?, ?)');
  const firstLive = db.prepare<[number, number], { seq: number }>('SELECT seq FROM stream_events WHERE stream = ? AND time > ? ORDER BY seq LIMIT 1');
  const dropBefore = db.prepare<[number, number]>('DELETE FROM stream_events WHERE stream = ? AND seq < ?');
  // An event's payload is its own `data`, or the row of stream_payloads it points at.
  const selectEvents = db.prepare<[number, number, number, number], { seq: number; time: number; event: string; data: string }>(
    `SELECT e.seq, e.time, e.event, coalesce(p.data, e.data) AS data FROM stream_events e LEFT JOIN stream_payloads p ON p.id = e.payload
     WHERE e.stream = ? AND e.seq > ? AND e.time > ? ORDER BY e.seq LIMIT ?`,
  );
  // The same steps for many users at once (a fan-out), each one statement over a JSON array: one call
  // into SQLite, and the payload bound once, not once per user.
  const liveStreams = db.prepare<[string, number], { user: string; id: number; epoch: string; touched: number; seq: number }>(
    `SELECT m.user, m.id, m.epoch, m.touched, coalesce((SELECT max(e.seq) FROM stream_events e WHERE e.stream = m.id), 0) AS seq
     FROM stream_meta m WHERE m.user IN (SELECT value FROM json_each(?)) AND m.touched > ?`,
  );
  const touchMany = db.prepare<[number, string]>('UPDATE stream_meta SET touched = ? WHERE user IN (SELECT value FROM json_each(?))');
  const dropEventsMany = db.prepare<[string]>('DELETE FROM stream_events WHERE stream IN (SELECT value FROM json_each(?))');
  const restartMany = db.prepare<[number, string], { user: string; id: number }>(
    `INSERT INTO stream_meta (user, epoch, touched, id) SELECT value ->> 0, value ->> 1, ?, (SELECT next FROM stream_ids) + key FROM json_each(?) WHERE true
     ON CONFLICT (user) DO UPDATE SET epoch = excluded.epoch, touched = excluded.touched RETURNING user, id`,
  );
  const insertEventMany = db.prepare<[number, string, string, string]>(
    'INSERT INTO stream_events (stream, seq, time, event, data) SELECT value ->> 0, value ->> 1, ?, ?, ? FROM json_each(?)',
  );
  const insertPayload = db.prepare<[number, string]>('INSERT INTO stream_payloads (time, data) VALUES (?, ?)');
  const log = fanoutLog(db);
  const expiredPayloads = db.prepare<[number, number]>('DELETE FROM stream_payloads WHERE id IN (SELECT id FROM stream_payloads WHERE time <= ? LIMIT ?)');
  const expiredUsers = db.prepare<[number, number], { user: string; id: number }>('SELECT user, id FROM stream_meta WHERE touched <= ? LIMIT ?');

  const heads = rememberedHeads(db, ttlMs, () => log.unsure());

  /**
   * The epoch and last seq of `user`'s stream, which is touched: a new epoch (and none of the old
   * events) when the stream is missing or expired.
   */
  const streamOf = (user: string, now: number): Head => {
    const live = heads.get(user, now) ?? liveStream.get(user, now - ttlMs);
    if (live !== undefined) {
      if (live.touched <= now - touchEvery) {
        touch.run(now, user);
        live.touched = now;
      }
      return live;
    }
    const epoch = newEpoch();
    const { id } = restart.get(user, epoch, now)!;
    takeIds.run(1);
    // The old epoch's events, if the sweeper has not deleted them yet.
    dropEvents.run(id);
    return { id, epoch, touched: now, seq: 0 };
  };

  /** The stream's head, and its id for reading its events. */
  const headOf = (user: string, now: number): StreamHead & { id: number } => {
    heads.check();
    log.drain();
    const { id, epoch, seq } = streamOf(user, now);
    // Up to TRIM_EVERY - 1 events past the size may still be on disk: they are not kept.
    return { id, epoch, seq, oldest: Math.max(firstLive.get(id, now - ttlMs)?.seq ?? seq + 1, seq - size + 1) };
  };

  /**
   * Appends one event to each of many users' streams (users with one item in the call), in a few
   * statements whatever their number. Same effect as appendAll's loop for each.
   */
  const appendOneEach = (
    singles: readonly [user: string, index: number][],
    items: readonly Append[],
    payloads: readonly string[],
    now: number,
    results: Appended[],
  ): void => {
    const streams: [user: string, index: number, head: Head][] = [];
    const unknown: [user: string, index: number][] = [];
    for (const [user, index] of singles) {
      const head = heads.get(user, now);
      if (head === undefined) unknown.push([user, index]);
      else streams.push([user, index, head]);
    }
    if (unknown.length > 0) {
      // Their last seqs are read from the index.
      log.drain();
      const indexOf = new Map(unknown);
      const rows = liveStreams.all(JSON.stringify(unknown.map(([user]) => user)), now - ttlMs);
      for (const { user, ...head } of rows) streams.push([user, indexOf.get(user)!, head]);
      // Missing or expired streams start a new epoch, without the old epoch's events.
      if (rows.length < unknown.length) {
        const live = new Set(rows.map((row) => row.user));
        const fresh = unknown.filter(([user]) => !live.has(user)).map(([user, index]) => ({ user, index, epoch: newEpoch() }));
        const ids = new Map(restartMany.all(now, JSON.stringify(fresh.map(({ user, epoch }) => [user, epoch]))).map(({ user, id }) => [user, id]));
        takeIds.run(fresh.length);
        dropEventsMany.run(JSON.stringify([...ids.values()]));
        for (const { user, index, epoch } of fresh) streams.push([user, index, { id: ids.get(user)!, epoch, touched: now, seq: 0 }]);
      }
    }
    const stale = streams.filter(([, , head]) => head.touched <= now - touchEvery);
    if (stale.length > 0) {
      touchMany.run(now, JSON.stringify(stale.map(([user]) => user)));
      for (const [, , head] of stale) head.touched = now;
    }
    // Rows grouped by payload and event: a fan-out is one group, logged as one row (its payload
    // written once for all); groups of a few users are written to the index at once.
    const groups = new Map<string, Map<string, { rows: [number, number][]; trims: [number, number][] }>>();
    for (const [user, index, head] of streams) {
      const { id, epoch } = head;
      const seq = ++head.seq;
      heads.set(user, head);
      results[index] = { epoch, seq };
      const { event } = items[index]!;
      const byEvent = groups.get(payloads[index]!) ?? groups.set(payloads[index]!, new Map()).get(payloads[index]!)!;
      const group = byEvent.get(event) ?? byEvent.set(event, { rows: [], trims: [] }).get(event)!;
      group.rows.push([id, seq]);
      if (seq > size && seq % TRIM_EVERY === 0) group.trims.push([id, seq - size + 1]);
    }
    for (const [payload, byEvent] of groups) {
      for (const [event, { rows, trims }] of byEvent) {
        if (rows.length >= MANY_USERS) {
          log.write(now, event, insertPayload.run(now, payload).lastInsertRowid, rows, trims);
          continue;
        }
        // Their trims must find the users' logged events in the index.
        log.drain();
        insertEventMany.run(now, event, payload, JSON.stringify(rows));
        for (const [id, kept] of trims) dropBefore.run(id, kept);
      }
    }
  };

  /** Appends one call's items; results in the items' order, each user's seqs in the items' order. */
  const appendAll = (items: readonly Append[], payloads: readonly string[], now: number): Appended[] => {
    heads.check();
    const byUser = new Map<string, number[]>();
    items.forEach((item, index) => {
      const indexes = byUser.get(item.userId);
      if (indexes === undefined) byUser.set(item.userId, [index]);
      else indexes.push(index);
    });
    const results: Appended[] = new Array(items.length);
    if (byUser.size >= MANY_USERS) {
      const singles: [string, number][] = [];
      for (const [user, indexes] of byUser) if (indexes.length === 1) singles.push([user, indexes[0]!]);
      if (singles.length >= MANY_USERS) {
        appendOneEach(singles, items, payloads, now, results);
        for (const [user] of singles) byUser.delete(user);
      }
    }
    // A user's events written one by one, and their trims, go after the logged ones.
    if (byUser.size > 0) log.drain();
    for (const [user, indexes] of byUser) {
      const head = streamOf(user, now);
      const { id, epoch, seq: before } = head;
      const first = before + 1;
      const last = before + indexes.length;
      head.seq = last;
      heads.set(user, head);
      indexes.forEach((index, k) => {
        const seq = first + k;
        // Events the size would drop at once are never written.
        if (seq > last - size) insertEvent.run(id, seq, now, items[index]!.event, payloads[index]!);
        results[index] = { epoch, seq };
      });
      // Events older than the ttl are left to reads (which skip them), the size and the sweeper: all bound them.
      // Trimmed every TRIM_EVERY events of a user, not at each: a delete dirties pages of its own.
      if (last > size && Math.floor(last / TRIM_EVERY) > Math.floor((first - 1) / TRIM_EVERY)) dropBefore.run(id, last - size + 1);
    }
    return results;
  };

  const commits = groupCommit(db, {
    flushAt: FLUSH_AT_ITEMS,
    failure: (error) => unavailable(path, error),
    lockWaitMs: LOCK_WAIT_MS,
    rolledBack: heads.forget,
  });
  let closed = false;
  const enqueue = <T>(items: number, run: (now: number) => T): Promise<T> =>
    closed ? Promise.reject(new StreamsUnavailableError('the streams are closed')) : commits.enqueue(run, items);

  /** Deletes a batch of expired streams and of payloads older than the ttl; true when more may be left. */
  const sweepBatch = (now: number): boolean => {
    heads.check();
    log.drain();
    const users = expiredUsers.all(now - ttlMs, SWEEP_BATCH);
    for (const { user, id } of users) {
      dropEvents.run(id);
      dropMeta.run(user);
      heads.delete(user);
    }
    const payloads = expiredPayloads.run(now - ttlMs, SWEEP_BATCH).changes;
    return users.length === SWEEP_BATCH || payloads === SWEEP_BATCH;
  };
  let sweeping: NodeJS.Immediate | undefined;
  const sweep = (): void => {
    sweeping = undefined;
    if (closed) return;
    // A full batch may have left more: the next one runs after other work had its turn.
    enqueue(0, sweepBatch).then(
      (more) => {
        if (more) sweeping ??= setImmediate(sweep);
      },
      (error: unknown) => {
        if (!closed) options.log?.warn({ err: (error as Error).message, path }, 'could not delete expired event streams; retrying at the next sweep');
      },
    );
  };
  sweep();
  const sweeper = setInterval(() => {
    sweeping ??= setImmediate(sweep);
  }, options.sweepEveryMs ?? 60_000);
  sweeper.unref();

  return {
    description: `sqlite ${path}`,
    append(items) {
      if (items.length === 0) return Promise.resolve([]);
      let payloads: string[];
      try {
        payloads = serializePayloads(items);
      } catch (error) {
        return Promise.reject(error);
      }
      return enqueue(items.length, (now) => appendAll(items, payloads, now));
    },
    head: (userId) =>
      enqueue(1, (now): StreamHead => {
        const { epoch, seq, oldest } = headOf(userId, now);
        return { epoch, seq, oldest };
      }),
    read: (userId, after, limit) =>
      enqueue(1, (now): StreamPage => {
        const { id, epoch, seq, oldest } = headOf(userId, now);
        const entries: StreamEntry[] = selectEvents
          .all(id, Math.max(after, oldest - 1), now - ttlMs, limit)
          .map(({ seq, time, event, data }) => ({ seq, time, event, data: JSON.parse(data) as unknown }));
        return { epoch, seq, oldest, entries };
      }),
    ping: () => enqueue(0, () => undefined),
    async close() {
      if (closed) return;
      // What was asked before the close is written (and answered) first.
      commits.flush();
      closed = true;
      clearInterval(sweeper);
      if (sweeping !== undefined) clearImmediate(sweeping);
      // The thread's connection goes first: the last one to close checkpoints what is left.
      await checkpoints.stop();
      db.close();
    },
  };
}

/** Whatever failed a commit (a lock held past busy_timeout, a full disk) leaves the events unwritten. */
function unavailable(path: string, error: unknown): StreamsUnavailableError {
  const code = (error as { code?: string }).code;
  return new StreamsUnavailableError(`the events could not be written to ${path} (${code ? `${code}: ` : ''}${(error as Error).message})`, { cause: error });
}
