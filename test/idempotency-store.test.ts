/**
 * One conformance suite for every idempotency store (src/idempotency/): the embedded SQLite file and
 * Redis. What a store must do is what the emit routes rely on: one claim at a time per key, answers
 * kept for their time and then gone, a lease that frees the keys of a holder that vanished, and only
 * the holder's token can renew, complete or release.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { openRedisIdempotency } from '../src/idempotency/redis.js';
import { idempotencyPath, openSqliteIdempotency } from '../src/idempotency/sqlite.js';
import type { IdempotencyStore } from '../src/idempotency/store.js';
import { eventually } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

const LONG = 60_000;
const answer = (fingerprint: string, status = 200) => ({ fingerprint, status, body: `{"success":true,"n":${status}}` });

/** The suite, against the store `open` returns (a fresh one per suite). */
function conformance(name: string, open: () => Promise<IdempotencyStore>, skip: string | false = false): void {
  describe(`idempotency store: ${name}`, { skip, timeout: 60_000 }, () => {
    let store: IdempotencyStore;
    before(async () => {
      store = await open();
    });
    after(() => store?.close());

    it('the first claim holds the key; others see it running with its fingerprint', async () => {
      assert.deepEqual(await store.claim('k1', 'token-a', 'fp-1', LONG), { kind: 'claimed' });
      assert.deepEqual(await store.claim('k1', 'token-b', 'fp-1', LONG), { kind: 'running', fingerprint: 'fp-1' });
      assert.deepEqual(await store.claim('k1', 'token-c', 'fp-2', LONG), { kind: 'running', fingerprint: 'fp-1' }, 'whatever their own fingerprint');
      assert.deepEqual(await store.claim('k1-other', 'token-b', 'fp-1', LONG), { kind: 'claimed' }, 'keys are independent');
    });

    it('the holder completes it; every later claim gets the answer', async () => {
      await store.claim('k2', 'token-a', 'fp-2', LONG);
      assert.equal(await store.complete('k2', 'token-b', answer('fp-2', 500), LONG), false, 'only the holder completes');
      assert.equal(await store.complete('k2', 'token-a', answer('fp-2'), LONG), true);
      assert.deepEqual(await store.claim('k2', 'token-c', 'fp-2', LONG), { kind: 'done', answer: answer('fp-2') });
      assert.equal(await store.complete('k2', 'token-a', answer('fp-2', 404), LONG), false, 'an answer is stored once');
      assert.equal(await store.renew('k2', 'token-a', LONG), false, 'a stored answer is not a running claim');
      await store.release('k2', 'token-a');
      assert.deepEqual(await store.claim('k2', 'token-c', 'fp-2', LONG), { kind: 'done', answer: answer('fp-2') }, 'nor can it be released');
    });

    it('the holder releases it; the next claim gets it', async () => {
      await store.claim('k3', 'token-a', 'fp-3', LONG);
      await store.release('k3', 'token-b');
      assert.deepEqual(await store.claim('k3', 'token-b', 'fp-3', LONG), { kind: 'running', fingerprint: 'fp-3' }, 'only the holder releases');
      await store.release('k3', 'token-a');
      assert.deepEqual(await store.claim('k3', 'token-b', 'fp-3', LONG), { kind: 'claimed' });
    });

    it('a claim not renewed expires with its lease; the late holder can no longer complete it', async () => {
      await store.claim('k4', 'token-a', 'fp-4', 300);
      await eventually(async () => (await store.claim('k4', 'token-b', 'fp-4', LONG)).kind === 'claimed', 10_000, 'the lease to end');
      assert.equal(await store.renew('k4', 'token-a', LONG), false);
      assert.equal(await store.complete('k4', 'token-a', answer('fp-4'), LONG), false);
      assert.equal(await store.complete('k4', 'token-b', answer('fp-4', 201), LONG), true);
      assert.deepEqual(await store.claim('k4', 'token-c', 'fp-4', LONG), { kind: 'done', answer: answer('fp-4', 201) });
    });

    it('a renewed claim outlives its first lease', async () => {
      await store.claim('k5', 'token-a', 'fp-5', 300);
      assert.equal(await store.renew('k5', 'token-a', LONG), true);
      assert.equal(await store.renew('k5', 'token-b', LONG), false, 'only the holder renews');
      // Past the first lease: the first claim that finds it free would say "claimed".
      const lease = Date.now() + 600;
      await eventually(() => Date.now() > lease, 5000, 'the first lease to pass');
      assert.deepEqual(await store.claim('k5', 'token-b', 'fp-5', LONG), { kind: 'running', fingerprint: 'fp-5' });
    });

    it('an answer is gone after its time to live', async () => {
      await store.claim('k6', 'token-a', 'fp-6', LONG);
      await store.complete('k6', 'token-a', answer('fp-6'), 300);
      await eventually(async () => (await store.claim('k6', 'token-b', 'fp-6', LONG)).kind === 'claimed', 10_000, 'the answer to expire');
    });

    it('keeps a large answer whole', async () => {
      const body = JSON.stringify({ results: Array.from({ length: 2000 }, (_, i) => ({ success: true, sockets: i, note: 'é\u2028"\\' })) });
      await store.claim('k7', 'token-a', 'fp-7', LONG);
      await store.complete('k7', 'token-a', { fingerprint: 'fp-7', status: 200, body }, LONG);
      const found = await store.claim('k7', 'token-b', 'fp-7', LONG);
      assert.equal(found.kind === 'done' && found.answer.body, body);
    });

    it('answers a ping', async () => {
      await store.ping();
    });
  });
}

conformance('SQLite', async () => openSqliteIdempotency(idempotencyPath(mkdtempSync(join(tmpdir(), 'gs-idem-store-')))));

const prefix = uniquePrefix();
conformance('Redis', () => openRedisIdempotency({ url: SHARED_REDIS_URL, prefix, timeoutMs: 2000 }), !redisUp && 'Redis is not running');

describe('bounded storage', { timeout: 60_000 }, () => {
  it('SQLite: the sweeper deletes expired answers and claims from the file', async () => {
    const store = openSqliteIdempotency(idempotencyPath(mkdtempSync(join(tmpdir(), 'gs-idem-sweep-'))));
    try {
      await store.claim('a', 't', 'f', 200);
      await store.claim('b', 't', 'f', LONG);
      await store.complete('b', 't', answer('f'), 200);
      await store.claim('c', 't', 'f', LONG);
      const expiry = Date.now() + 300;
      await eventually(() => Date.now() > expiry, 5000, 'both to expire');
      assert.equal(store.sweep(), 2, 'the expired claim and the expired answer');
      assert.equal(store.sweep(), 0);
      assert.deepEqual(await store.claim('c', 't2', 'f', LONG), { kind: 'running', fingerprint: 'f' }, 'the live claim stays');
    } finally {
      await store.close();
    }
  });

  it('Redis: every key it writes expires, under REDIS_PREFIX', { skip: !redisUp && 'Redis is not running' }, async () => {
    const own = uniquePrefix();
    const store = await openRedisIdempotency({ url: SHARED_REDIS_URL, prefix: own, timeoutMs: 2000 });
    const redis = new Redis(SHARED_REDIS_URL);
    try {
      await store.claim('running', 't', 'f', LONG);
      await store.claim('done', 't', 'f', LONG);
      await store.complete('done', 't', answer('f'), 2 * LONG);
      const keys = (await redis.keys(`${own}:*`)).sort();
      assert.deepEqual(keys, [`${own}:idempotency:done`, `${own}:idempotency:running`]);
      for (const key of keys) {
        const ttl = await redis.pttl(key);
        assert.ok(ttl > 0 && ttl <= 2 * LONG, `${key} expires (PTTL ${ttl})`);
      }
    } finally {
      redis.disconnect();
      await store.close();
    }
  });
});
