/**
 * The streams when things go wrong: a process killed while appending, two processes sharing one
 * SQLite file, a write lock held by another connection (waited for on timers, up to 5 s), and a Redis
 * that goes away or stops answering.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config.js';
import { createGateway } from '../src/gateway.js';
import { openRedisStreams } from '../src/streams/redis.js';
import { openSqliteStreams, streamsPath } from '../src/streams/sqlite.js';
import { StreamsUnavailableError, type UserStreams } from '../src/streams/streams.js';
import { API_KEY, eventually, gatewayEnv } from './support/gateway.js';
import { redisServerInstalled, startPrivateRedis, uniquePrefix, type PrivateRedis } from './support/redis.js';
import { requireService } from './support/services.js';

const WORKER = fileURLToPath(new URL('./support/streams-append-worker.ts', import.meta.url));
const redisServer = await requireService('the redis-server program', () => redisServerInstalled());
const quiet = { info: () => undefined, warn: () => undefined };

/** A worker process and the acknowledged appends it printed (complete lines only). */
function startWorker(path: string, ...args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<unknown> } {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, path, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const complete = text.split('\n');
    partial = complete.pop()!;
    lines.push(...complete);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, lines, exited };
}

/** Parses `<userId> <epoch>:<seq> <data>` lines. */
const acknowledged = (lines: readonly string[]) =>
  lines
    .filter((line) => line !== 'ready')
    .map((line) => {
      const [userId, position, ...data] = line.split(' ');
      const [epoch, seq] = position!.split(':');
      return { userId: userId!, epoch: epoch!, seq: Number(seq), data: JSON.parse(data.join(' ')) as unknown };
    });

/** Every event of `userId`'s stream, by seq. */
async function everything(streams: UserStreams, userId: string): Promise<{ epoch: string; seq: number; bySeq: Map<number, unknown> }> {
  const page = await streams.read(userId, 0, 10_000);
  return { epoch: page.epoch, seq: page.seq, bySeq: new Map(page.entries.map((e) => [e.seq, e.data])) };
}

/** Settles `promise`, or fails the test when it takes longer than `ms`: a wait that never ends is the bug. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe('SQLite streams: a process killed while appending', { timeout: 120_000 }, () => {
  it('loses no acknowledged event (SIGKILL mid-append, then reopen)', async (t) => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-crash-')));
    const worker = startWorker(path, 'forever');
    await eventually(() => worker.lines.length >= 600, 60_000, 'the worker to acknowledge 600 appends').catch((error: unknown) => {
      worker.child.kill('SIGKILL');
      throw error;
    });
    worker.child.kill('SIGKILL');
    await worker.exited;
    const acked = acknowledged(worker.lines);

    const streams = openSqliteStreams(path, { size: 10_000, ttlMs: 3_600_000 });
    try {
      let lost = 0;
      for (const userId of new Set(acked.map((a) => a.userId))) {
        const stored = await everything(streams, userId);
        assert.ok(stored.seq < 10_000, 'nothing was trimmed, so every event must still be there');
        assert.deepEqual(
          [...stored.bySeq.keys()],
          Array.from({ length: stored.seq }, (_, i) => i + 1),
          `${userId}: seqs 1..${stored.seq} without holes`,
        );
        for (const event of acked.filter((a) => a.userId === userId)) {
          assert.equal(event.epoch, stored.epoch);
          if (!stored.bySeq.has(event.seq)) lost++;
          else assert.deepEqual(stored.bySeq.get(event.seq), event.data);
        }
      }
      assert.ok(acked.length >= 600);
      assert.equal(lost, 0, `${lost} of ${acked.length} acknowledged events were lost`);
      t.diagnostic(`${acked.length} acknowledged before the kill, 0 lost`);
    } finally {
      await streams.close();
    }
  });
});

describe('SQLite streams: two processes sharing one file (WORKERS)', { timeout: 120_000 }, () => {
  it('never hand out the same seq, and leave no hole', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-shared-')));
    const workers = [startWorker(path, 'count', '400'), startWorker(path, 'count', '400')];
    await eventually(() => workers.every((w) => w.lines.includes('ready')), 60_000, 'both workers to open the file').catch((error: unknown) => {
      for (const worker of workers) worker.child.kill('SIGKILL');
      throw error;
    });
    // Both start appending at once.
    for (const worker of workers) worker.child.stdin!.end('go\n');
    await within(60_000, Promise.all(workers.map((w) => w.exited)), 'both workers to finish').catch((error: unknown) => {
      for (const worker of workers) worker.child.kill('SIGKILL');
      throw error;
    });
    const [first, second] = workers.map((w) => acknowledged(w.lines));
    assert.ok(first!.length >= 1600 && second!.length >= 1600, 'each worker appended its share');

    for (const userId of new Set(first!.map((a) => a.userId))) {
      const positions = [...first!, ...second!].filter((a) => a.userId === userId);
      assert.equal(new Set(positions.map((a) => a.epoch)).size, 1, `${userId}: one epoch`);
      const seqs = positions.map((a) => a.seq).sort((a, b) => a - b);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => i + 1),
        `${userId}: every seq once, 1..${seqs.length}`,
      );
      const interleaved = new Set(first!.filter((a) => a.userId === userId).map((a) => a.seq));
      assert.ok(
        seqs.some((seq, i) => i > 0 && interleaved.has(seq) !== interleaved.has(seqs[i - 1]!)),
        'both processes appended to the user (the test saw them share it)',
      );
    }
  });
});

/** Streams with one event appended, and another connection to their file (as another WORKERS process) holding its write lock. */
async function streamsWithLockTaken(prefix: string): Promise<{ streams: UserStreams; other: Database.Database }> {
  const path = streamsPath(mkdtempSync(join(tmpdir(), prefix)));
  const streams = openSqliteStreams(path, { size: 10, ttlMs: 3_600_000 });
  await streams.append([{ userId: 'u', event: 'e', data: 0 }]);
  const other = new Database(path);
  other.pragma('busy_timeout = 0');
  other.exec('BEGIN IMMEDIATE');
  return { streams, other };
}

describe('SQLite streams: a write lock held elsewhere', { timeout: 60_000 }, () => {
  it('is waited for on timers: the event loop keeps running, and the append lands once the lock is released', async () => {
    const { streams, other } = await streamsWithLockTaken('gs-streams-wait-');
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

  it('past 5 s, rejects every append of the batch with StreamsUnavailableError, then works again', async () => {
    const { streams, other } = await streamsWithLockTaken('gs-streams-locked-');
    try {
      const batch = [streams.append([{ userId: 'u', event: 'e', data: 1 }]), streams.append([{ userId: 'v', event: 'e', data: 1 }])];
      for (const result of await Promise.allSettled(batch)) {
        assert.equal(result.status, 'rejected');
        assert.ok(result.reason instanceof StreamsUnavailableError, String(result.reason));
        assert.match(result.reason.message, /SQLITE_BUSY/);
      }
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const [next] = await streams.append([{ userId: 'u', event: 'e', data: 2 }]);
    assert.equal(next!.seq, 2, 'the failed appends took no seq');
    await streams.close();
  });
});

describe('Redis streams: Redis going away', { skip: !redisServer && 'redis-server is not installed', timeout: 120_000 }, () => {
  let redis: PrivateRedis;
  let streams: UserStreams;
  before(async () => {
    redis = await startPrivateRedis();
    streams = await openRedisStreams({ url: redis.url, prefix: uniquePrefix(), limits: { size: 10, ttlMs: 3_600_000 }, timeoutMs: 500, log: quiet });
  });
  after(async () => {
    await streams?.close();
    await redis?.stop();
  });

  const item = { userId: 'u', event: 'e', data: { hello: 'world' } };

  it('refuses appends, heads and reads at once while Redis is down, and works again when it is back (a new epoch: it restarted empty)', async () => {
    const [before] = await streams.append([item]);
    await redis.stop();
    const calls: [string, () => Promise<unknown>][] = [
      ['append', () => streams.append([item, { ...item, userId: 'w' }])],
      ['head', () => streams.head('u')],
      ['read', () => streams.read('u', 0, 10)],
      ['ping', () => streams.ping()],
    ];
    for (const [what, call] of calls) {
      await assert.rejects(within(5000, call(), what), (error: Error) => {
        assert.ok(error instanceof StreamsUnavailableError, `${what}: ${error.message}`);
        assert.match(error.message, /Redis at redis:\/\/127\.0\.0\.1:\d+ is unavailable/);
        return true;
      });
    }
    await redis.start();
    let after: { epoch: string; seq: number } | undefined;
    await eventually(
      async () => {
        after = (await streams.append([item]).catch(() => []))[0];
        return after !== undefined;
      },
      15_000,
      'appends to work again',
    );
    assert.notEqual(after!.epoch, before!.epoch, 'the wiped stream is a new epoch, so readers learn they missed events');
    assert.equal(after!.seq, 1);
  });

  it('refuses appends within the command timeout while Redis does not answer (paused)', async () => {
    await streams.append([item]);
    redis.pause();
    try {
      await assert.rejects(within(5000, streams.append([item]), 'an append to a paused Redis'), StreamsUnavailableError);
    } finally {
      redis.resume();
    }
    await eventually(
      () =>
        streams.append([item]).then(
          () => true,
          () => false,
        ),
      15_000,
      'appends to work again',
    );
  });

  it('makes the history route answer 503 and /readyz report the streams down', async () => {
    const gateway = await createGateway(loadConfig(gatewayEnv({ REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), CLUSTER_TIMEOUT_MS: '500' })));
    try {
      const get = (url: string) => gateway.app.inject({ method: 'GET', url, headers: { 'x-api-key': API_KEY } });
      assert.equal((await get('/users/u/events')).statusCode, 200);
      await redis.stop();
      const refused = await within(5000, get('/users/u/events'), 'GET /users/u/events');
      assert.equal(refused.statusCode, 503);
      assert.equal(refused.json().code, 'SERVICE_UNAVAILABLE');
      assert.equal(refused.headers['retry-after'], '1');
      const ready = (await get('/readyz')).json();
      assert.equal(ready.checks.streams.ok, false);
      assert.match(ready.checks.streams.detail, /Redis at .* is unavailable for the event streams/);
    } finally {
      await redis.start();
      await gateway.close();
    }
  });
});

describe('SQLite streams: a batch that fails part-way', { timeout: 60_000 }, () => {
  it('takes no seq for any of its appends (the heads it remembered are forgotten with it)', async () => {
    const path = streamsPath(mkdtempSync(join(tmpdir(), 'gs-streams-rollback-')));
    const streams = openSqliteStreams(path, { size: 10, ttlMs: 3_600_000 });
    const fanout = Array.from({ length: 20 }, (_, i) => `f${i}`);
    const fanoutOf = (data: unknown) => fanout.map((userId) => ({ userId, event: 'e', data }));
    try {
      await streams.ping();
      // A statement that fails inside a batch, as a full disk would: a trigger refusing one event name.
      const other = new Database(path);
      other.exec("CREATE TRIGGER refuse BEFORE INSERT ON stream_events WHEN NEW.event = 'refused' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
      other.close();
      assert.deepEqual(seqsOf(await streams.append([{ userId: 'u', event: 'e', data: 1 }])), [1]);
      assert.deepEqual(new Set(seqsOf(await streams.append(fanoutOf(1)))), new Set([1]));

      // One batch: an append to u, a fan-out, and the refused event; the last one fails them all.
      const batch = [
        streams.append([{ userId: 'u', event: 'e', data: 2 }]),
        streams.append(fanoutOf(2)),
        streams.append([{ userId: 'x', event: 'refused', data: 0 }]),
      ];
      for (const result of await Promise.allSettled(batch)) {
        assert.equal(result.status, 'rejected');
        assert.ok(result.reason instanceof StreamsUnavailableError, String(result.reason));
        assert.match(result.reason.message, /refused by the test/);
      }

      assert.deepEqual(seqsOf(await streams.append([{ userId: 'u', event: 'e', data: 3 }])), [2], 'u goes on after its last written event');
      assert.deepEqual(new Set(seqsOf(await streams.append(fanoutOf(3)))), new Set([2]), 'so does every user of the fan-out');
      const page = await streams.read('f7', 0, 10);
      assert.deepEqual(
        page.entries.map((e) => [e.seq, e.data]),
        [
          [1, 1],
          [2, 3],
        ],
      );
    } finally {
      await streams.close();
    }
  });
});

const seqsOf = (results: readonly { seq: number }[]) => results.map((r) => r.seq);
