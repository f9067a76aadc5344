/** The UserStreams conformance suite: the same cases against the embedded SQLite streams and Redis. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { openRedisStreams } from '../src/streams/redis.js';
import { openSqliteStreams, streamsPath } from '../src/streams/sqlite.js';
import type { StreamLimits, UserStreams } from '../src/streams/streams.js';
import { eventually } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const quiet = { info: () => undefined, warn: () => undefined };

/** Short enough to wait for, long enough that a busy machine keeps a stream alive by reading it. */
const SHORT_TTL_MS = 2000;

/** One kind of streams: how to open them, and how to look at what they store without them. */
interface Backend {
  readonly name: string;
  readonly skip: string | false;
  open(limits: StreamLimits): Promise<UserStreams>;
  /** Whether `userId`'s stream is stored at all (by the streams opened last), and how many events it holds. */
  stored(userId: string): Promise<{ meta: boolean; events: number }>;
  tearDown(): Promise<void>;
}

function sqliteBackend(): Backend {
  let path = '';
  return {
    name: 'SQLite',
    skip: false,
    async open(limits) {
      path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-')));
      return openSqliteStreams(path, limits, { log: quiet, sweepEveryMs: 100 });
    },
    async stored(userId) {
      const db = new Database(path, { readonly: true });
      try {
        const stream = db.prepare<[string], { id: number }>('SELECT id FROM stream_meta WHERE user = ?').get(userId);
        // Events name their stream by number: without its row, any event no stream owns counts (none should be left).
        const { n } = (
          stream === undefined
            ? db.prepare('SELECT COUNT(*) AS n FROM stream_events WHERE stream NOT IN (SELECT id FROM stream_meta)').get()
            : db.prepare('SELECT COUNT(*) AS n FROM stream_events WHERE stream = ?').get(stream.id)
        ) as { n: number };
        return { meta: stream !== undefined, events: n };
      } finally {
        db.close();
      }
    },
    async tearDown() {},
  };
}

function redisBackend(available: boolean): Backend {
  let prefix = '';
  const raw = new Redis(SHARED_REDIS_URL, { lazyConnect: true });
  const prefixes: string[] = [];
  return {
    name: 'Redis',
    skip: available ? false : 'Redis is not running',
    async open(limits) {
      prefix = uniquePrefix();
      prefixes.push(prefix);
      return openRedisStreams({ url: SHARED_REDIS_URL, prefix, limits, timeoutMs: 2000, log: quiet });
    },
    async stored(userId) {
      const meta = (await raw.exists(`${prefix}:stream-meta:{${userId}}`)) === 1;
      return { meta, events: await raw.xlen(`${prefix}:stream:{${userId}}`) };
    },
    async tearDown() {
      for (const p of prefixes) {
        const keys = await raw.keys(`${p}:*`);
        if (keys.length > 0) await raw.del(...keys);
      }
      raw.disconnect();
    },
  };
}

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

const seqs = (results: readonly { seq: number }[]) => results.map((r) => r.seq);
const events = (userId: string, count: number, name = 'notification') => Array.from({ length: count }, (_, i) => ({ userId, event: name, data: { i } }));

/** Waits (polling the clock, at most ttl + 5 s) until `since` is more than the ttl ago. */
const pastTtl = (since: number, ttlMs: number) => eventually(() => Date.now() > since + ttlMs + 50, ttlMs + 5000, 'the ttl to pass');

for (const make of [sqliteBackend, () => redisBackend(redisUp)]) {
  const backend = make();
  describe(`UserStreams conformance: ${backend.name}`, { skip: backend.skip, timeout: 120_000 }, () => {
    let streams: UserStreams;
    before(async () => {
      streams = await backend.open({ size: 5, ttlMs: 600_000 });
    });
    after(async () => {
      await streams?.close();
      await backend.tearDown();
    });

    it('numbers each user’s events from 1 without holes, in one epoch', async () => {
      const first = await streams.append(events('alice', 2));
      const second = await streams.append(events('alice', 1));
      assert.deepEqual(seqs([...first, ...second]), [1, 2, 3]);
      assert.equal(new Set([...first, ...second].map((r) => r.epoch)).size, 1);
      assert.deepEqual(await streams.head('alice'), { epoch: first[0]!.epoch, seq: 3, oldest: 1 });
      assert.deepEqual(seqs(await streams.append(events('bob', 1))), [1], 'another user counts on its own');
    });

    it('keeps each user’s order when one call appends to several users', async () => {
      const results = await streams.append([
        { userId: 'u1', event: 'a', data: 1 },
        { userId: 'u2', event: 'a', data: 1 },
        { userId: 'u1', event: 'b', data: 2 },
        { userId: 'u2', event: 'b', data: 2 },
        { userId: 'u1', event: 'c', data: 3 },
      ]);
      assert.deepEqual(seqs(results), [1, 1, 2, 2, 3]);
      const page = await streams.read('u1', 0, 10);
      assert.deepEqual(
        page.entries.map((e) => [e.seq, e.event, e.data]),
        [
          [1, 'a', 1],
          [2, 'b', 2],
          [3, 'c', 3],
        ],
      );
    });

    it('appends one event to each of many users (a fan-out) as it would one by one, trimming each', async () => {
      const users = Array.from({ length: 40 }, (_, i) => `fan-${i}`);
      // Half the users have a stream already; the call also holds a user with two events.
      for (const userId of users.slice(0, 20)) await streams.append(events(userId, 1));
      const shared = { text: 'the same object for everyone', n: 1 };
      for (let round = 0; round < 7; round++) {
        const results = await streams.append([
          ...users.map((userId) => ({ userId, event: `round-${round}`, data: shared })),
          { userId: 'fan-twice', event: 'a', data: round },
          { userId: 'fan-twice', event: 'b', data: round },
        ]);
        users.forEach((userId, i) => {
          assert.equal(results[i]!.seq, round + (i < 20 ? 2 : 1), `${userId}'s seq in round ${round}`);
        });
        assert.deepEqual(seqs(results.slice(-2)), [2 * round + 1, 2 * round + 2]);
      }
      for (const [userId, last] of [
        ['fan-0', 8],
        ['fan-39', 7],
      ] as const) {
        const page = await streams.read(userId, 0, 100);
        assert.equal(page.seq, last);
        assert.equal(page.oldest, last - 4, `${userId} keeps the last 5`);
        assert.deepEqual(
          page.entries.map((e) => [e.seq, e.event, e.data]),
          Array.from({ length: 5 }, (_, k) => [last - 4 + k, `round-${k + 2}`, shared]),
        );
      }
      assert.equal(new Set((await Promise.all(users.map((u) => streams.head(u)))).map((h) => h.epoch)).size, 40, 'an epoch per user');
    });

    it('never gives two concurrent appends the same seq', async () => {
      const calls = await Promise.all(
        Array.from({ length: 20 }, (_, call) =>
          streams.append([
            { userId: 'busy-1', event: 'e', data: call },
            { userId: 'busy-2', event: 'e', data: call },
            { userId: 'busy-1', event: 'e', data: call },
          ]),
        ),
      );
      const ofUser = (index: number) =>
        calls
          .flatMap((results) => results.filter((_, i) => (index === 1 ? i !== 1 : i === 1)))
          .map((r) => r.seq)
          .sort((a, b) => a - b);
      assert.deepEqual(
        ofUser(1),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        ofUser(2),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      for (const results of calls) assert.ok(results[0]!.seq < results[2]!.seq, 'within a call, in the order given');
    });

    it('keeps the last `size` events: older ones are dropped and `oldest` moves', async () => {
      await streams.append(events('trimmed', 8));
      const head = await streams.head('trimmed');
      assert.equal(head.seq, 8);
      assert.equal(head.oldest, 4);
      const page = await streams.read('trimmed', 0, 100);
      assert.deepEqual(
        page.entries.map((e) => e.seq),
        [4, 5, 6, 7, 8],
      );
      assert.deepEqual(page.entries[0]!.data, { i: 3 });
      assert.equal(page.oldest, 4);
      assert.equal((await backend.stored('trimmed')).events, 5, 'the dropped events are deleted, not hidden');
      const big = await streams.append(events('trimmed', 12));
      assert.deepEqual(
        seqs(big),
        Array.from({ length: 12 }, (_, i) => i + 9),
      );
      assert.deepEqual(
        (await streams.read('trimmed', 0, 100)).entries.map((e) => e.seq),
        [16, 17, 18, 19, 20],
      );
    });

    it('pages with `after` and `limit`', async () => {
      await streams.append(events('pager', 5));
      const pages: number[][] = [];
      let after = 0;
      for (;;) {
        const page = await streams.read('pager', after, 2);
        assert.equal(page.seq, 5);
        if (page.entries.length === 0) break;
        pages.push(page.entries.map((e) => e.seq));
        after = page.entries.at(-1)!.seq;
      }
      assert.deepEqual(pages, [[1, 2], [3, 4], [5]]);
      assert.deepEqual((await streams.read('pager', 5, 2)).entries, []);
    });

    it('creates an empty stream on head (and read), and keeps its epoch', async () => {
      const head = await streams.head('newcomer');
      assert.match(head.epoch, /^[0-9a-z]{1,16}$/);
      assert.equal(head.seq, 0);
      assert.equal(head.oldest, 1);
      assert.deepEqual(await streams.head('newcomer'), head);
      const [appended] = await streams.append(events('newcomer', 1));
      assert.deepEqual(appended, { epoch: head.epoch, seq: 1 });
      const page = await streams.read('reader', 0, 10);
      assert.deepEqual({ ...page, epoch: '' }, { epoch: '', seq: 0, oldest: 1, entries: [] });
      assert.equal((await streams.head('reader')).epoch, page.epoch);
    });

    it('gives data back exactly as appended (JSON round trip)', async () => {
      const values = [
        { text: 'héllo 👋 — "quoted" \\ back\nslash \u0000 nul', n: 1.5, neg: -3, big: 2 ** 53 - 1, tiny: 1e-300, yes: true, no: false, nothing: null },
        { nested: { list: [1, 'two', { three: [null, [], {}] }] } },
        'a plain string',
        42,
        null,
      ];
      await streams.append(values.map((data) => ({ userId: 'json', event: 'ünïcode-event ✓', data })));
      const page = await streams.read('json', 0, 10);
      assert.deepEqual(
        page.entries.map((e) => e.data),
        values,
      );
      assert.ok(page.entries.every((e) => e.event === 'ünïcode-event ✓'));
      const times = page.entries.map((e) => e.time);
      assert.ok(
        times.every((t) => Math.abs(t - Date.now()) < 60_000),
        `times are epoch milliseconds: ${times.join(', ')}`,
      );
    });

    it('answers ping while it is reachable', async () => {
      await streams.ping();
    });
  });

  describe(`UserStreams conformance: ${backend.name}, ttl`, { skip: backend.skip, timeout: 120_000 }, () => {
    const backend = make();
    let streams: UserStreams;
    before(async () => {
      streams = await backend.open({ size: 5, ttlMs: SHORT_TTL_MS });
    });
    after(async () => {
      await streams?.close();
      await backend.tearDown();
    });

    it('never reads events older than the ttl, while the stream is kept alive by its head', async () => {
      const [appended] = await streams.append(events('old', 2));
      const since = Date.now();
      let head = await streams.head('old');
      while (Date.now() <= since + SHORT_TTL_MS + 50) {
        head = await streams.head('old');
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(head.epoch, appended!.epoch, 'the stream lives on');
      const page = await streams.read('old', 0, 10);
      assert.deepEqual(page.entries, []);
      assert.equal(page.seq, 2);
      assert.equal(page.oldest, 3, 'nothing is kept: oldest is seq + 1');
      const [next] = await streams.append(events('old', 1));
      assert.deepEqual(next, { epoch: appended!.epoch, seq: 3 });
      assert.equal((await streams.head('old')).oldest, 3);
    });

    it('starts a new epoch, counting from 1 again, once a stream was untouched for the ttl', async () => {
      const [first] = await streams.append(events('sleeper', 3));
      await pastTtl(Date.now(), SHORT_TTL_MS);
      const head = await streams.head('sleeper');
      assert.notEqual(head.epoch, first!.epoch);
      assert.equal(head.seq, 0);
      const [again] = await streams.append(events('sleeper', 1));
      assert.deepEqual(again, { epoch: head.epoch, seq: 1 });
      assert.deepEqual(
        (await streams.read('sleeper', 0, 10)).entries.map((e) => e.data),
        [{ i: 0 }],
        'nothing of the old epoch is read',
      );
    });

    it('starts new epochs for the expired streams of a fan-out, and keeps the live ones', async () => {
      const sleepers = Array.from({ length: 20 }, (_, i) => `fan-sleeper-${i}`);
      const [old] = await streams.append(sleepers.map((userId) => ({ userId, event: 'before', data: 1 })));
      await pastTtl(Date.now(), SHORT_TTL_MS);
      const awake = Array.from({ length: 20 }, (_, i) => `fan-awake-${i}`);
      const [live] = await streams.append(awake.map((userId) => ({ userId, event: 'first', data: 1 })));
      const results = await streams.append([...sleepers, ...awake].map((userId) => ({ userId, event: 'after', data: 2 })));
      for (const result of results.slice(0, 20)) {
        assert.notEqual(result.epoch, old!.epoch);
        assert.equal(result.seq, 1, 'a new epoch counts from 1');
      }
      assert.deepEqual(
        (await streams.read(sleepers[0]!, 0, 10)).entries.map((e) => e.event),
        ['after'],
        'nothing of the old epoch',
      );
      assert.deepEqual(results[20], { epoch: live!.epoch, seq: 2 });
    });

    it('keeps the streams of a fan-out alive while fan-outs keep coming', async () => {
      const busy = Array.from({ length: 20 }, (_, i) => `fan-busy-${i}`);
      const fanOut = (n: number) => streams.append(busy.map((userId) => ({ userId, event: 'tick', data: n })));
      const first = await fanOut(0);
      const since = Date.now();
      let latest = await fanOut(1);
      for (let n = 2; Date.now() <= since + SHORT_TTL_MS + 50; n++) {
        await new Promise((r) => setTimeout(r, 100));
        latest = await fanOut(n);
      }
      for (const [i, result] of latest.entries()) assert.equal(result.epoch, first[i]!.epoch, `${busy[i]}'s stream lives on, in its first epoch`);
      assert.equal(latest[0]!.seq, (await streams.head(busy[0]!)).seq);
    });

    it('deletes idle users’ streams by itself, so they cost nothing', async () => {
      await streams.append(events('idle', 3));
      assert.deepEqual(await backend.stored('idle'), { meta: true, events: 3 });
      await eventually(
        async () => {
          const { meta, events: n } = await backend.stored('idle');
          return !meta && n === 0;
        },
        SHORT_TTL_MS + 10_000,
        'the idle stream to be deleted',
      );
    });
  });
}

describe('SQLite streams: the file', () => {
  it('is readable by its owner only, keeps its streams across a reopen, and refuses a newer schema', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-')));
    const streams = openSqliteStreams(path, { size: 10, ttlMs: 600_000 });
    const [appended] = await streams.append([{ userId: 'u', event: 'e', data: { kept: true } }]);
    await streams.close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    await assert.rejects(streams.append([{ userId: 'u', event: 'e', data: 1 }]), { name: 'StreamsUnavailableError' });

    const reopened = openSqliteStreams(path, { size: 10, ttlMs: 600_000 });
    const page = await reopened.read('u', 0, 10);
    assert.equal(page.epoch, appended!.epoch);
    assert.deepEqual(
      page.entries.map((e) => e.data),
      [{ kept: true }],
    );
    await reopened.close();

    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => openSqliteStreams(path, { size: 10, ttlMs: 600_000 }), /newer version .*schema 99/);
  });

  it('opens a file of schema 1 (the last seq in stream_meta), and its streams go on where they stood', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-')));
    const now = Date.now();
    const v1 = new Database(path);
    v1.exec(`
      CREATE TABLE stream_meta (user TEXT PRIMARY KEY, epoch TEXT NOT NULL, seq INTEGER NOT NULL, touched INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX stream_meta_touched ON stream_meta (touched);
      CREATE TABLE stream_events (id INTEGER PRIMARY KEY, user TEXT NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL);
      CREATE UNIQUE INDEX stream_events_user_seq ON stream_events (user, seq);`);
    // 'u' was trimmed to its last 2 of 7 events; 'empty' had its head read and no event yet.
    v1.prepare('INSERT INTO stream_meta VALUES (?, ?, ?, ?)').run('u', 'ep1', 7, now);
    v1.prepare('INSERT INTO stream_meta VALUES (?, ?, ?, ?)').run('empty', 'ep2', 0, now);
    const insert = v1.prepare('INSERT INTO stream_events (user, seq, time, event, data) VALUES (?, ?, ?, ?, ?)');
    insert.run('u', 6, now, 'e', '{"n":6}');
    insert.run('u', 7, now, 'e', '{"n":7}');
    v1.pragma('user_version = 1');
    v1.close();

    const streams = openSqliteStreams(path, { size: 10, ttlMs: 600_000 });
    try {
      assert.deepEqual(await streams.head('empty'), { epoch: 'ep2', seq: 0, oldest: 1 });
      const appended = await streams.append([
        { userId: 'u', event: 'e', data: { n: 8 } },
        { userId: 'empty', event: 'e', data: { n: 1 } },
      ]);
      assert.deepEqual(appended, [
        { epoch: 'ep1', seq: 8 },
        { epoch: 'ep2', seq: 1 },
      ]);
      const page = await streams.read('u', 0, 10);
      assert.deepEqual(
        page.entries.map((e) => [e.seq, e.data]),
        [
          [6, { n: 6 }],
          [7, { n: 7 }],
          [8, { n: 8 }],
        ],
      );
    } finally {
      await streams.close();
    }
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 5);
    assert.deepEqual(columns(db, 'stream_meta'), ['user', 'epoch', 'touched', 'id']);
    assert.deepEqual(columns(db, 'stream_events'), ['id', 'stream', 'seq', 'time', 'event', 'data', 'payload']);
    assert.deepEqual(columns(db, 'stream_log'), ['id', 'time', 'event', 'payload', 'members', 'trims']);
    db.close();
  });

  it('opens a file of schema 2 (every payload in its event), reads its events, and shares the payloads of later fan-outs', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-')));
    const now = Date.now();
    const v2 = new Database(path);
    v2.exec(`
      CREATE TABLE stream_meta (user TEXT PRIMARY KEY, epoch TEXT NOT NULL, touched INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX stream_meta_touched ON stream_meta (touched);
      CREATE TABLE stream_events (id INTEGER PRIMARY KEY, user TEXT NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL);
      CREATE UNIQUE INDEX stream_events_user_seq ON stream_events (user, seq);`);
    const users = Array.from({ length: 20 }, (_, i) => `v2-${i}`);
    for (const user of users) {
      v2.prepare('INSERT INTO stream_meta VALUES (?, ?, ?)').run(user, 'ep', now);
      v2.prepare('INSERT INTO stream_events (user, seq, time, event, data) VALUES (?, 1, ?, ?, ?)').run(user, now, 'old', '{"v":2}');
    }
    v2.pragma('user_version = 2');
    v2.close();

    const streams = openSqliteStreams(path, { size: 10, ttlMs: 600_000 });
    try {
      const appended = await streams.append(users.map((userId) => ({ userId, event: 'new', data: { v: 3 } })));
      assert.deepEqual(
        appended,
        users.map(() => ({ epoch: 'ep', seq: 2 })),
      );
      for (const user of [users[0]!, users[19]!]) {
        const page = await streams.read(user, 0, 10);
        assert.deepEqual(
          page.entries.map((e) => [e.seq, e.event, e.data]),
          [
            [1, 'old', { v: 2 }],
            [2, 'new', { v: 3 }],
          ],
        );
      }
    } finally {
      await streams.close();
    }
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 5);
    assert.deepEqual(db.prepare('SELECT data FROM stream_payloads').all(), [{ data: '{"v":3}' }], 'the fan-out’s payload, once');
    db.close();
  });

  it('opens a file of schema 3 (events keyed by user id), keeps its events and shared payloads, and numbers new streams after its own', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-')));
    const now = Date.now();
    const v3 = new Database(path);
    v3.exec(`
      CREATE TABLE stream_meta (user TEXT PRIMARY KEY, epoch TEXT NOT NULL, touched INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX stream_meta_touched ON stream_meta (touched);
      CREATE TABLE stream_events (id INTEGER PRIMARY KEY, user TEXT NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL, payload INTEGER);
      CREATE UNIQUE INDEX stream_events_user_seq ON stream_events (user, seq);
      CREATE TABLE stream_payloads (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, data TEXT NOT NULL);
      CREATE INDEX stream_payloads_time ON stream_payloads (time);`);
    // 'a' and 'b' got a fan-out's shared payload, then 'a' an event of its own; 'gone' lost its
    // stream row (swept) but not yet its events.
    v3.prepare('INSERT INTO stream_payloads (id, time, data) VALUES (7, ?, ?)').run(now, '{"shared":true}');
    for (const user of ['a', 'b']) {
      v3.prepare('INSERT INTO stream_meta VALUES (?, ?, ?)').run(user, `ep-${user}`, now);
      v3.prepare("INSERT INTO stream_events (user, seq, time, event, data, payload) VALUES (?, 1, ?, 'news', '', 7)").run(user, now);
    }
    v3.prepare("INSERT INTO stream_events (user, seq, time, event, data) VALUES ('a', 2, ?, 'own', '{\"n\":2}')").run(now);
    v3.prepare("INSERT INTO stream_events (user, seq, time, event, data) VALUES ('gone', 5, ?, 'old', '1')").run(now);
    v3.pragma('user_version = 3');
    v3.close();

    const streams = openSqliteStreams(path, { size: 10, ttlMs: 600_000 });
    try {
      assert.deepEqual(
        (await streams.read('a', 0, 10)).entries.map((e) => [e.seq, e.event, e.data]),
        [
          [1, 'news', { shared: true }],
          [2, 'own', { n: 2 }],
        ],
      );
      assert.deepEqual(await streams.head('b'), { epoch: 'ep-b', seq: 1, oldest: 1 });
      // New streams ('gone' again, 'c') next to the old ones: their events stay apart.
      const appended = await streams.append([
        { userId: 'b', event: 'e', data: 'b2' },
        { userId: 'gone', event: 'e', data: 'g1' },
        { userId: 'c', event: 'e', data: 'c1' },
      ]);
      assert.deepEqual(
        appended.map(({ seq }) => seq),
        [2, 1, 1],
      );
      for (const [user, expected] of [
        ['a', [{ shared: true }, { n: 2 }]],
        ['b', [{ shared: true }, 'b2']],
        ['gone', ['g1']],
        ['c', ['c1']],
      ] as const) {
        assert.deepEqual(
          (await streams.read(user, 0, 10)).entries.map((e) => e.data),
          expected,
          user,
        );
      }
    } finally {
      await streams.close();
    }
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 5);
    const ids = db
      .prepare<[], { id: number }>('SELECT id FROM stream_meta')
      .all()
      .map(({ id }) => id);
    assert.equal(new Set(ids).size, 4, `four streams, four numbers: ${ids}`);
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM stream_events WHERE stream NOT IN (SELECT id FROM stream_meta)').get() as { n: number }).n, 0);
    db.close();
  });

  it('writes a fan-out’s payload once, and deletes it once it is older than the ttl', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-')));
    const streams = openSqliteStreams(path, { size: 10, ttlMs: SHORT_TTL_MS }, { log: quiet, sweepEveryMs: 100 });
    const stored = () => {
      const db = new Database(path, { readonly: true });
      try {
        return {
          payloads: (db.prepare('SELECT COUNT(*) AS n FROM stream_payloads').get() as { n: number }).n,
          inline: (db.prepare("SELECT COUNT(*) AS n FROM stream_events WHERE data <> ''").get() as { n: number }).n,
        };
      } finally {
        db.close();
      }
    };
    try {
      const many = Array.from({ length: 100 }, (_, i) => `shared-${i}`);
      const few = Array.from({ length: 3 }, (_, i) => `inline-${i}`);
      const data = { text: 'x'.repeat(1000) };
      // One call: 100 users share a payload, 3 users with another keep it in their own events.
      await streams.append([...many.map((userId) => ({ userId, event: 'big', data })), ...few.map((userId) => ({ userId, event: 'small', data: 1 }))]);
      const sent = Date.now();
      assert.deepEqual(stored(), { payloads: 1, inline: 3 });
      assert.deepEqual(
        (await streams.read('shared-42', 0, 10)).entries.map((e) => e.data),
        [data],
      );
      await pastTtl(sent, SHORT_TTL_MS);
      await eventually(() => stored().payloads === 0, 10_000, 'the expired payload to be deleted');
    } finally {
      await streams.close();
    }
  });
});

describe('SQLite streams: trimming', () => {
  it('keeps at most 31 events past the size on disk per user, whichever way they were appended', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-')));
    const size = 5;
    const streams = openSqliteStreams(path, { size, ttlMs: 600_000 });
    const users = Array.from({ length: 20 }, (_, i) => `broadcast-${i}`);
    const db = new Database(path, { readonly: true });
    const count = db.prepare<[], { user: string; n: number }>(
      'SELECT m.user, COUNT(*) AS n FROM stream_events e JOIN stream_meta m ON m.id = e.stream GROUP BY m.user',
    );
    try {
      for (let round = 1; round <= 80; round++) {
        // A fan-out (one statement for all its users), and a user appended to alone, 7 events a call.
        await streams.append(users.map((userId) => ({ userId, event: 'news', data: round })));
        await streams.append(events('alone', 7));
        const counts = count.all();
        assert.equal(counts.length, users.length + 1, 'every stream’s events are counted');
        for (const { user, n } of counts) assert.ok(n <= size + 31, `${user} keeps ${n} events on disk after ${round} calls`);
      }
      assert.deepEqual(
        (await streams.read('broadcast-0', 0, 100)).entries.map((e) => e.data),
        [76, 77, 78, 79, 80],
      );
    } finally {
      db.close();
      await streams.close();
    }
  });
});

describe('SQLite streams: the fan-out log', () => {
  const count = (path: string, table: string): number => {
    const db = new Database(path, { readonly: true });
    try {
      return (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  it('logs a fan-out as one row, and whoever reads the histories next (another process too) finds its events', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-log-')));
    const limits = { size: 3, ttlMs: 600_000 };
    const streams = openSqliteStreams(path, limits);
    const users = Array.from({ length: 20 }, (_, i) => `log-${i}`);
    const fanout = (data: number) => streams.append(users.map((userId) => ({ userId, event: 'news', data })));
    try {
      for (let round = 1; round <= 4; round++) assert.deepEqual(new Set(seqs(await fanout(round))), new Set([round]));
      assert.deepEqual([count(path, 'stream_log'), count(path, 'stream_events')], [4, 0], 'four fan-outs, a row each, not moved yet');

      // Another process sharing the file (WORKERS) appends to one of the users: it moves the log first.
      const other = openSqliteStreams(path, limits);
      try {
        assert.deepEqual(seqs(await other.append([{ userId: 'log-0', event: 'own', data: 5 }])), [5]);
        assert.deepEqual([count(path, 'stream_log'), count(path, 'stream_events')], [0, 4 * 20 + 1]);
        assert.deepEqual(
          (await other.read('log-7', 0, 10)).entries.map((e) => [e.seq, e.data]),
          [
            [2, 2],
            [3, 3],
            [4, 4],
          ],
        );
      } finally {
        await other.close();
      }
      // This process goes on after the other's append, not from what it remembered.
      const next = await fanout(6);
      assert.deepEqual([next[0]!.seq, next[7]!.seq], [6, 5]);
      assert.deepEqual(
        (await streams.read('log-0', 0, 10)).entries.map((e) => [e.seq, e.event, e.data]),
        [
          [4, 'news', 4],
          [5, 'own', 5],
          [6, 'news', 6],
        ],
      );
    } finally {
      await streams.close();
    }
  });

  it('applies the trims of the fan-outs it moves: at most 31 events past the size stay on disk', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-log-')));
    const size = 5;
    const streams = openSqliteStreams(path, { size, ttlMs: 600_000 });
    const users = Array.from({ length: 20 }, (_, i) => `trim-${i}`);
    try {
      for (let round = 1; round <= 80; round++) await streams.append(users.map((userId) => ({ userId, event: 'news', data: round })));
      assert.equal(count(path, 'stream_log'), 80, 'nothing moved yet');
      assert.deepEqual(
        (await streams.read('trim-3', 0, 100)).entries.map((e) => e.data),
        [76, 77, 78, 79, 80],
      );
      // Trimmed at seq 64 (the last multiple of 32): seqs 60 to 80 stay for each user.
      assert.equal(count(path, 'stream_events'), 20 * 21);
    } finally {
      await streams.close();
    }
  });
});

/** The names of a table's columns, in order. */
function columns(db: Database.Database, table: string): string[] {
  return db
    .prepare<[string], { name: string }>('SELECT name FROM pragma_table_info(?)')
    .all(table)
    .map((c) => c.name);
}

/** The part of a key Redis Cluster hashes to pick its slot. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open === -1 || close === -1 || close === open + 1 ? key : key.slice(open + 1, close);
}

describe('Redis streams: keys', { skip: !redisUp && 'Redis is not running' }, () => {
  const prefix = uniquePrefix();
  const raw = new Redis(SHARED_REDIS_URL);
  let streams: UserStreams;
  before(async () => {
    streams = await openRedisStreams({ url: SHARED_REDIS_URL, prefix, limits: { size: 5, ttlMs: 600_000 }, timeoutMs: 2000, log: quiet });
  });
  after(async () => {
    await streams.close();
    const keys = await raw.keys(`${prefix}:*`);
    if (keys.length > 0) await raw.del(...keys);
    raw.disconnect();
  });

  it('keeps one user’s keys in one cluster slot, each expiring after the ttl', async () => {
    await streams.append([{ userId: 'u{1}', event: 'e', data: 1 }]);
    const keys = (await raw.keys(`${prefix}:*`)).sort();
    assert.deepEqual(keys, [`${prefix}:stream-meta:{u{1}}`, `${prefix}:stream:{u{1}}`]);
    assert.equal(hashTag(keys[0]!), 'u{1', 'Redis Cluster hashes the text between the first { and the next }');
    assert.equal(hashTag(keys[1]!), 'u{1');
    for (const key of keys) {
      const ttl = await raw.pttl(key);
      assert.ok(ttl > 0 && ttl <= 600_000, `${key} expires (pttl ${ttl})`);
    }
  });

  it('turns an evicted meta into a new epoch, and an evicted stream into a gap, never silent loss', async () => {
    const [first] = await streams.append([
      { userId: 'evicted', event: 'e', data: 1 },
      { userId: 'evicted', event: 'e', data: 2 },
    ]);
    await raw.del(`${prefix}:stream:{evicted}`);
    const head = await streams.head('evicted');
    assert.deepEqual(head, { epoch: first!.epoch, seq: 2, oldest: 3 }, 'a reader at seq 0 sees that 1 and 2 are gone');
    const [third] = await streams.append([{ userId: 'evicted', event: 'e', data: 3 }]);
    assert.deepEqual(third, { epoch: first!.epoch, seq: 3 });

    await raw.del(`${prefix}:stream-meta:{evicted}`);
    const after = await streams.head('evicted');
    assert.notEqual(after.epoch, first!.epoch);
    assert.deepEqual({ seq: after.seq, oldest: after.oldest }, { seq: 0, oldest: 1 });
    assert.deepEqual((await streams.read('evicted', 0, 10)).entries, [], 'the stale stream of the old epoch is gone');
  });
});
