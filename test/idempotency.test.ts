/**
 * Idempotent emits, end to end: real gateways (standalone with the SQLite store, two Redis-joined
 * nodes with the Redis store), real Socket.IO clients counting what they receive. A repeat of an
 * `Idempotency-Key` must never deliver again; what a socket did NOT receive is checked with a later
 * marker event sent through the same path (events to one socket arrive in order).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Socket } from 'socket.io-client';
import { API_KEY, collect, eventually, nextEvent, startGateway, type Reply, type TestGateway } from './support/gateway.js';
import { createTestSchema, postgresAvailable } from './support/postgres.js';
import { SHARED_REDIS_URL, pingRedis, startPrivateRedis, redisServerInstalled, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());
const redisServer = await requireService('the redis-server program', () => redisServerInstalled());
const pgUp = await postgresAvailable();

const keyed = (key: string, headers: Record<string, string> = {}) => ({ 'idempotency-key': key, ...headers });
const replayed = (reply: Reply): boolean => reply.headers.get('idempotent-replayed') === 'true';

/** What `socket` received of `event` once a marker sent after everything else arrived. */
async function receivedBy(gw: TestGateway, socket: Socket, userId: string, got: unknown[]): Promise<unknown[]> {
  const marker = nextEvent(socket, 'marker');
  assert.equal((await gw.request('POST', `/emit/${userId}/marker`, {})).status, 200);
  await marker;
  return got;
}

/** The seq of a stream position `<epoch>:<seq>`. */
const seqOf = (position: string): number => Number(position.split(':')[1]);

/** The position the next event to `userId` gets: one past the last, when nothing else was appended in between. */
async function nextPosition(gw: TestGateway, userId: string): Promise<string> {
  const reply = await gw.request('POST', `/emit/${userId}/probe`, {});
  return reply.body.positions[userId];
}

/**
 * Sends an emit and gives up on its answer as soon as the event reached the socket, as a caller
 * whose timeout fires while the gateway works: the gateway delivered, the caller does not know.
 */
async function emitAndTimeOut(gw: TestGateway, path: string, body: unknown, key: string, arrived: Promise<unknown>): Promise<void> {
  const controller = new AbortController();
  const call = fetch(gw.url + path, {
    method: 'POST',
    headers: { 'x-api-key': API_KEY, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
    signal: controller.signal,
  }).then((response) => response.text());
  await arrived;
  controller.abort();
  await call.catch(() => undefined);
}

describe('idempotent emits on a standalone gateway', { timeout: 60_000 }, () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ INTERNAL_API_KEY: `${API_KEY},second-api-key-0123456789` });
  });
  after(() => gw.close());

  it('a call retried after a client timeout delivers once and answers what the first call answered', async () => {
    const socket = await gw.connectUser('idem-a');
    const got = collect(socket, 'alert');
    await emitAndTimeOut(gw, '/emit/idem-a/alert', { n: 1 }, 'retry-after-timeout', nextEvent(socket, 'alert'));
    const retry = await gw.request('POST', '/emit/idem-a/alert', { n: 1 }, keyed('retry-after-timeout'));
    assert.equal(retry.status, 200);
    assert.deepEqual([retry.body.success, retry.body.sockets], [true, 1], 'the first call’s answer');
    assert.ok(replayed(retry), 'marked Idempotent-Replayed: true');
    const again = await gw.request('POST', '/emit/idem-a/alert', { n: 1 }, keyed('retry-after-timeout'));
    assert.deepEqual(again.body, retry.body, 'every repeat answers the same, stream positions included');
    assert.equal(seqOf(await nextPosition(gw, 'idem-a')), seqOf(retry.body.positions['idem-a']) + 1, 'the repeats appended nothing to the stream');
    assert.deepEqual(await receivedBy(gw, socket, 'idem-a', got), [{ n: 1 }], 'delivered once');
  });

  it('concurrent duplicates deliver once; all answer the same', async () => {
    const socket = await gw.connectUser('idem-b');
    const got = collect(socket, 'alert');
    const replies = await Promise.all(
      Array.from({ length: 6 }, () => gw.request('POST', '/emit/alert', { userIds: ['idem-b'], data: { n: 2 } }, keyed('concurrent'))),
    );
    for (const reply of replies) assert.deepEqual([reply.status, reply.body], [200, replies[0]!.body]);
    assert.equal(replies[0]!.body.sockets, 1);
    assert.equal(replies.filter((reply) => !replayed(reply)).length, 1, 'one call ran, the others were replays');
    assert.deepEqual(await receivedBy(gw, socket, 'idem-b', got), [{ n: 2 }]);
  });

  it('the same key with another body, parameters or route is 422 and sends nothing', async () => {
    const socket = await gw.connectUser('idem-c');
    const got = collect(socket, 'alert');
    assert.equal((await gw.request('POST', '/emit/idem-c/alert', { n: 3 }, keyed('reused'))).status, 200);
    for (const [path, body] of [
      ['/emit/idem-c/alert', { n: 4 }],
      ['/emit/idem-c/other', { n: 3 }],
      ['/emit/alert', { userIds: 'idem-c', data: { n: 3 } }],
    ] as const) {
      const reply = await gw.request('POST', path, body, keyed('reused'));
      assert.equal(reply.status, 422, path);
      assert.equal(reply.body.code, 'IDEMPOTENCY_KEY_REUSED');
      assert.match(reply.body.message, /Idempotency-Key "reused" was used with this API key for another request/);
    }
    assert.deepEqual(await receivedBy(gw, socket, 'idem-c', got), [{ n: 3 }]);
  });

  it('keys belong to their API key: another key’s identical key is another request', async () => {
    const socket = await gw.connectUser('idem-d');
    const got = collect(socket, 'alert');
    const first = await gw.request('POST', '/emit/idem-d/alert', { n: 5 }, keyed('shared-name'));
    const other = await gw.request('POST', '/emit/idem-d/alert', { n: 5 }, keyed('shared-name', { 'x-api-key': 'second-api-key-0123456789' }));
    assert.deepEqual([first.status, replayed(first), other.status, replayed(other)], [200, false, 200, false]);
    assert.deepEqual(await receivedBy(gw, socket, 'idem-d', got), [{ n: 5 }, { n: 5 }]);
  });

  it('a refusal is kept too: the repeat of a 404 is the same 404, replayed', async () => {
    const first = await gw.request('POST', '/lead-finder/task', { socketId: 'gone-scraper', payload: {} }, keyed('refused'));
    const again = await gw.request('POST', '/lead-finder/task', { socketId: 'gone-scraper', payload: {} }, keyed('refused'));
    assert.deepEqual([first.status, again.status, replayed(again)], [404, 404, true]);
    assert.deepEqual(again.body, first.body);
  });

  it('refuses a malformed Idempotency-Key with 400 naming the header', async () => {
    for (const bad of ['', 'x'.repeat(256), 'tab\there', 'é-key']) {
      const reply = await gw.request('POST', '/emit/idem-e/alert', {}, { 'idempotency-key': bad });
      assert.equal(reply.status, 400, JSON.stringify(bad));
      assert.match(reply.body.message, /^headers\.idempotency-key must be 1 to 255 printable ASCII characters/);
    }
  });

  it('calls without the header are not deduplicated', async () => {
    const socket = await gw.connectUser('idem-f');
    const got = collect(socket, 'alert');
    await gw.request('POST', '/emit/idem-f/alert', { n: 6 });
    await gw.request('POST', '/emit/idem-f/alert', { n: 6 });
    assert.deepEqual(await receivedBy(gw, socket, 'idem-f', got), [{ n: 6 }, { n: 6 }]);
  });
});

describe('idempotency keys expire', { timeout: 60_000 }, () => {
  it('after IDEMPOTENCY_TTL_SECONDS the same key runs again', async () => {
    const gw = await startGateway({ IDEMPOTENCY_TTL_SECONDS: '1' });
    try {
      const socket = await gw.connectUser('ttl');
      const got = collect(socket, 'alert');
      assert.equal(replayed(await gw.request('POST', '/emit/ttl/alert', { n: 1 }, keyed('short-lived'))), false);
      // Repeats within the second are replays; the first one that is not ran again.
      await eventually(async () => !replayed(await gw.request('POST', '/emit/ttl/alert', { n: 1 }, keyed('short-lived'))), 10_000, 'the key to expire');
      assert.deepEqual(await receivedBy(gw, socket, 'ttl', got), [{ n: 1 }, { n: 1 }]);
    } finally {
      await gw.close();
    }
  });
});

describe('a restarted standalone gateway', { timeout: 60_000 }, () => {
  it('still replays the answers it gave before (DATA_DIR/idempotency.sqlite)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gs-idem-'));
    const before = await startGateway({ DATA_DIR: dataDir });
    const socket = await before.connectUser('restart');
    const arrived = nextEvent(socket, 'alert');
    const first = await before.request('POST', '/emit/restart/alert', { n: 1 }, keyed('across-restart'));
    await arrived;
    await before.close();

    const after = await startGateway({ DATA_DIR: dataDir });
    try {
      const socket = await after.connectUser('restart');
      const got = collect(socket, 'alert');
      const again = await after.request('POST', '/emit/restart/alert', { n: 1 }, keyed('across-restart'));
      assert.deepEqual([again.status, again.body, replayed(again)], [200, first.body, true]);
      assert.deepEqual(await receivedBy(after, socket, 'restart', got), [], 'the restarted gateway sent nothing');
    } finally {
      await after.close();
    }
  });
});

describe('answers worth retrying are not kept', { skip: !pgUp && 'PostgreSQL is not running', timeout: 60_000 }, () => {
  it('a 503 releases the key: the retry with the same key delivers', async () => {
    const schema = await createTestSchema();
    const gw = await startGateway({ DATABASE_URL: schema.url, DATABASE_TIMEOUT_MS: '300' });
    try {
      await gw.gateway.store.importDocuments({
        users: [{ _id: 'pg-u1' }],
        conversationprospects: [{ _id: 'pg-c1', users: ['pg-u1'] }],
        communications: [{ _id: 'pg-m1', type: 'OUTGOING', sent_by: 'pg-u1', conversation_id: ['pg-c1'], data: 'hello' }],
      });
      const socket = await gw.connectUser('pg-u1');
      const got = collect(socket, 'prospect_message');
      // A transaction that holds the messages' table makes the gateway's read time out: 503.
      const lock = new pg.Client({ connectionString: schema.url });
      await lock.connect();
      try {
        await lock.query('BEGIN');
        await lock.query('LOCK TABLE communications IN ACCESS EXCLUSIVE MODE');
        const refused = await gw.request('GET', '/conversations/prospect/emit/message/pg-m1', undefined, keyed('after-outage'));
        assert.equal(refused.status, 503);
        await lock.query('ROLLBACK');
      } finally {
        await lock.end();
      }
      const retry = await gw.request('GET', '/conversations/prospect/emit/message/pg-m1', undefined, keyed('after-outage'));
      assert.deepEqual([retry.status, retry.body.sockets, replayed(retry)], [200, 1, false]);
      const again = await gw.request('GET', '/conversations/prospect/emit/message/pg-m1', undefined, keyed('after-outage'));
      assert.deepEqual([again.status, replayed(again)], [200, true]);
      const marker = nextEvent(socket, 'marker');
      await gw.request('POST', '/emit/pg-u1/marker', {});
      await marker;
      assert.equal(got.length, 1, 'delivered once, by the retry');
    } finally {
      await gw.close();
      await schema.drop();
    }
  });
});

describe('idempotent emits across two Redis-joined nodes', { skip: !redisUp && 'Redis is not running', timeout: 60_000 }, () => {
  const prefix = uniquePrefix();
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    [a, b] = await Promise.all([
      startGateway({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix }),
      startGateway({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix }),
    ]);
  });
  after(() => Promise.all([a.close(), b.close()]));

  it('a call retried on the other node after a client timeout delivers once', async () => {
    const onA = await a.connectUser('cross');
    const onB = await b.connectUser('cross');
    const gotA = collect(onA, 'alert');
    const gotB = collect(onB, 'alert');
    await emitAndTimeOut(a, '/emit/cross/alert', { n: 1 }, 'cross-node-retry', Promise.all([nextEvent(onA, 'alert'), nextEvent(onB, 'alert')]));
    const retry = await b.request('POST', '/emit/cross/alert', { n: 1 }, keyed('cross-node-retry'));
    assert.deepEqual([retry.status, retry.body.sockets, replayed(retry)], [200, 2, true]);
    assert.equal(seqOf(await nextPosition(a, 'cross')), seqOf(retry.body.positions.cross) + 1, 'the retry appended nothing to the stream');
    const markers = Promise.all([nextEvent(onA, 'marker'), nextEvent(onB, 'marker')]);
    await b.request('POST', '/emit/cross/marker', {});
    await markers;
    assert.deepEqual([gotA, gotB], [[{ n: 1 }], [{ n: 1 }]], 'each socket got it once');
  });

  it('concurrent duplicates sent to both nodes deliver once', async () => {
    const socket = await a.connectUser('cross-2');
    const got = collect(socket, 'alert');
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).request('POST', '/emit/cross-2/alert', { n: 2 }, keyed('cross-concurrent'))),
    );
    for (const reply of replies) assert.deepEqual([reply.status, reply.body.sockets], [200, 1]);
    assert.equal(replies.filter((reply) => !replayed(reply)).length, 1);
    assert.deepEqual(await receivedBy(a, socket, 'cross-2', got), [{ n: 2 }]);
  });
});

describe('the Redis idempotency store unreachable', { skip: !redisServer && 'redis-server is not installed', timeout: 60_000 }, () => {
  it('answers 503 to a call with a key and sends nothing; calls without a key still go out', async () => {
    const redis = await startPrivateRedis();
    // Streams off: with them, the unkeyed call would need the same Redis for the user's stream.
    const gw = await startGateway({ REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), CLUSTER_TIMEOUT_MS: '300', HISTORY_SIZE: '0' });
    try {
      const socket = await gw.connectUser('no-store');
      const got = collect(socket, 'alert');
      await redis.stop();
      const refused = await gw.request('POST', '/emit/no-store/alert', { n: 1 }, keyed('needs-the-store'));
      assert.equal(refused.status, 503);
      assert.equal(refused.body.code, 'SERVICE_UNAVAILABLE');
      assert.match(refused.body.message, /idempotency store .* cannot be reached.*nothing was sent/);
      assert.equal(refused.headers.get('retry-after'), '1');
      const unkeyed = await gw.request('POST', '/emit/no-store/alert', { n: 2 });
      assert.equal(unkeyed.status, 200);
      await eventually(() => got.length === 1, 5000, 'the unkeyed event');
      assert.deepEqual(got, [{ n: 2 }]);
    } finally {
      await gw.close();
      await redis.stop();
    }
  });
});
