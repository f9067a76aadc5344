/**
 * `POST /emit/batch` against real gateways and real sockets: per-item results in order, one bad item
 * refusing only itself, the limits, the rate limit counting items, and a batch across two
 * Redis-joined nodes that costs one round of messages between them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { collect, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

const batch = (gw: TestGateway, items: unknown[], headers: Record<string, string> = {}) => gw.request('POST', '/emit/batch', { items }, headers);

describe('POST /emit/batch on one gateway', { timeout: 60_000 }, () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ BATCH_MAX_ITEMS: '10', EMIT_MAX_USER_IDS: '3' });
  });
  after(() => gw.close());

  it('sends the valid items and answers one result per item, in order; each invalid item gets its own error', async () => {
    const [ann, ben, cy] = await Promise.all([gw.connectUser('b-ann'), gw.connectUser('b-ben'), gw.connectUser('b-cy')]);
    const scraper = await gw.connectScraper();
    const annGot = collect(ann, 'note');
    const benGot = collect(ben, 'note');
    const task = nextEvent(scraper, 'task');
    const reply = await batch(gw, [
      { userId: 'b-ann', event: 'note', data: { for: 'ann' } },
      { userId: 'b-ann', event: 'connect', data: {} },
      { userIds: ['b-ben', 'b-cy', 'b-ben'], event: 'note', data: { for: 'ben and cy' } },
      { userId: 'b-ann', socketId: scraper.id, event: 'note', data: {} },
      { socketId: scraper.id, event: 'task', data: { id: 7 } },
      { socketId: 'gone-scraper', event: 'task', data: {} },
      { userId: 'b-ann', event: 'note', data: { n: 1 }, priority: 'high' },
      { userId: 'b-ann', event: 'note' },
      'not an item',
      { userIds: ['a', 'b', 'c', 'd'], event: 'note', data: {} },
    ]);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.success, true);
    const results = reply.body.results as any[];
    assert.equal(results.length, 10);
    assert.deepEqual(
      results.map((r) => (r.success ? `sent ${r.sockets}` : `${r.errno} ${r.code}`)),
      [
        'sent 1',
        '400 VALIDATION_ERROR',
        'sent 2',
        '400 VALIDATION_ERROR',
        'sent 1',
        '404 NOT_FOUND',
        '400 VALIDATION_ERROR',
        '400 VALIDATION_ERROR',
        '400 VALIDATION_ERROR',
        '400 VALIDATION_ERROR',
      ],
    );
    assert.match(results[1].message, /^body\.items\[1\]\.event must be an event name/);
    assert.match(results[3].message, /^body\.items\[3\] must name exactly one audience, userId, userIds or socketId; it names userId and socketId/);
    assert.match(results[5].message, /^body\.items\[5\]: No scraper socket "gone-scraper" is connected/);
    assert.match(results[6].message, /^body\.items\[6\] has an unknown property "priority"/);
    assert.match(results[7].message, /^body\.items\[7\]\.data is required/);
    assert.match(results[8].message, /^body\.items\[8\] must be an object/);
    assert.match(results[9].message, /^body\.items\[9\]\.userIds names 4 users; at most 3 are allowed per item \(EMIT_MAX_USER_IDS\)/);
    assert.ok(results[0].positions['b-ann'], 'with streams on, a sent item has its users’ positions');
    assert.deepEqual(Object.keys(results[2].positions).sort(), ['b-ben', 'b-cy']);
    assert.deepEqual(await task, { id: 7 });
    const markers = Promise.all([nextEvent(ann, 'marker'), nextEvent(ben, 'marker')]);
    await batch(gw, [
      { userId: 'b-ann', event: 'marker', data: null },
      { userId: 'b-ben', event: 'marker', data: null },
    ]);
    await markers;
    assert.deepEqual(annGot, [{ for: 'ann' }]);
    assert.deepEqual(benGot, [{ for: 'ben and cy' }], 'a user listed twice in one item gets it once');
    assert.ok(cy.connected);
  });

  it('items of the same user arrive in the order of the batch', async () => {
    const socket = await gw.connectUser('b-order');
    const arrivals = new Promise<unknown[]>((resolve) => {
      const got: unknown[] = [];
      socket.on('n', (n: unknown) => {
        got.push(n);
        if (got.length === 5) resolve(got);
      });
    });
    const reply = await batch(
      gw,
      [1, 2, 3, 4, 5].map((n) => ({ userId: 'b-order', event: 'n', data: n })),
    );
    const seqs = (reply.body.results as any[]).map((r) => Number(r.positions['b-order'].split(':')[1]));
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => seqs[0]! + i),
      'consecutive stream positions',
    );
    assert.deepEqual(await arrivals, [1, 2, 3, 4, 5]);
  });

  it('refuses the whole call when the batch itself is wrong: no items, too many, not a batch', async () => {
    const empty = await batch(gw, []);
    assert.deepEqual([empty.status, empty.body.code], [400, 'VALIDATION_ERROR']);
    assert.match(empty.body.message, /^body\.items must be a non-empty array of items/);
    const tooMany = await batch(
      gw,
      Array.from({ length: 11 }, () => ({ userId: 'x', event: 'e', data: null })),
    );
    assert.deepEqual([tooMany.status, tooMany.body.code], [413, 'EMIT_TOO_LARGE']);
    assert.match(tooMany.body.message, /body\.items holds 11 items; one batch may hold at most 10 \(BATCH_MAX_ITEMS\)/);
    const single = await gw.request('POST', '/emit/batch', { userIds: ['x'], data: {} });
    assert.equal(single.status, 400, 'the body of POST /emit/:emitTo is not a batch');
  });

  it('a batch repeated with its Idempotency-Key is not sent again', async () => {
    const socket = await gw.connectUser('b-idem');
    const got = collect(socket, 'once');
    const items = [
      { userId: 'b-idem', event: 'once', data: 1 },
      { userId: 'b-idem', event: 'once', data: 2 },
    ];
    const first = await batch(gw, items, { 'idempotency-key': 'batch-1' });
    const again = await batch(gw, items, { 'idempotency-key': 'batch-1' });
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const marker = nextEvent(socket, 'marker');
    await gw.request('POST', '/emit/b-idem/marker', {});
    await marker;
    assert.deepEqual(got, [1, 2]);
  });
});

describe('the rate limit counts one emit per item', { timeout: 60_000 }, () => {
  it('a batch that does not fit in what is left is refused whole and sends nothing', async () => {
    const keys = ['rate-key-a-0123456789', 'rate-key-b-0123456789', 'rate-key-c-0123456789'];
    const gw = await startGateway({ RATE_LIMIT_MAX: '5', RATE_LIMIT_WINDOW_MS: '3600000', INTERNAL_API_KEY: keys.join(',') });
    try {
      const socket = await gw.connectUser('limited');
      const got = collect(socket, 'e');
      const items = (n: number) => Array.from({ length: n }, (_, i) => ({ userId: 'limited', event: 'e', data: i }));
      const first = await batch(gw, items(3), { 'x-api-key': keys[0]! });
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('ratelimit-remaining'), '2', 'three of five used');
      const second = await batch(gw, items(3), { 'x-api-key': keys[0]! });
      assert.deepEqual([second.status, second.body.code], [429, 'RATE_LIMITED']);
      assert.match(second.body.message, /this call counts as 3 \(one per item\), more than are left of 5 per 1 hour for this API key; nothing was sent/);
      assert.ok(Number(second.headers.get('retry-after')) > 0);
      const single = await gw.request('POST', '/emit/limited/e', 'single', { 'x-api-key': keys[0]! });
      assert.equal(single.status, 429, 'the budget is spent for every emit route');
      const tooBig = await batch(gw, items(6), { 'x-api-key': keys[1]! });
      assert.equal(tooBig.status, 429);
      assert.match(tooBig.body.message, /counts as 6 \(one per item\), more than the rate limit allows at all .*split it/);
      // Another key's budget is its own: its call goes out.
      const marker = nextEvent(socket, 'marker');
      assert.equal((await gw.request('POST', '/emit/limited/marker', {}, { 'x-api-key': keys[2]! })).status, 200);
      await marker;
      assert.deepEqual(got, [0, 1, 2], 'only the first batch was sent');
    } finally {
      await gw.close();
    }
  });
});

describe('a batch across two Redis-joined nodes', { skip: !redisUp && 'Redis is not running', timeout: 60_000 }, () => {
  const prefix = uniquePrefix();
  let a: TestGateway;
  let b: TestGateway;
  let spy: Redis;
  before(async () => {
    [a, b] = await Promise.all([
      startGateway({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix }),
      startGateway({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix }),
    ]);
    spy = new Redis(SHARED_REDIS_URL);
  });
  after(async () => {
    spy?.disconnect();
    await Promise.all([a.close(), b.close()]);
  });

  it('counts sockets on both nodes, finds a scraper on the other node, in one round of messages', async () => {
    const [onA, onB, onlyB] = await Promise.all([a.connectUser('x-both'), b.connectUser('x-both'), b.connectUser('x-b')]);
    const scraper = await b.connectScraper();
    // A pattern subscriber sees the nodes' requests without counting as a node that must answer: on
    // the adapter's request channel (CLUSTER_ROUTING=broadcast), or as questions on a node's own
    // channel (targeted, the default; the answers travel there too).
    const requests: Buffer[] = [];
    await spy.psubscribe(`${prefix}-request#*`, `${prefix}:node:*`);
    spy.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => {
      if (!channel.toString().startsWith(`${prefix}:node:`) || JSON.parse(message.toString()).kind === 'ask') requests.push(message);
    });
    const arrivals = Promise.all([nextEvent(onA, 'hello'), nextEvent(onB, 'hello'), nextEvent(onlyB, 'hello'), nextEvent(scraper, 'job')]);
    const reply = await batch(a, [
      { userId: 'x-both', event: 'hello', data: 'both' },
      { userIds: ['x-b', 'x-nobody'], event: 'hello', data: 'b' },
      { socketId: scraper.id, event: 'job', data: { id: 1 } },
      { socketId: 'x-gone', event: 'job', data: {} },
      { userId: 'x-nobody', event: 'hello', data: 'nobody' },
    ]);
    assert.equal(reply.status, 200);
    assert.deepEqual(
      (reply.body.results as any[]).map((r) => (r.success ? r.sockets : r.code)),
      [2, 1, 1, 'NOT_FOUND', 0],
    );
    assert.equal(reply.body.partial, undefined, 'every node answered');
    assert.deepEqual(await arrivals, ['both', 'both', 'b', { id: 1 }]);
    // A single emit after it: requests reach the spy in the order they were published.
    assert.equal((await a.request('POST', '/emit/x-b/after-the-batch', {})).status, 200);
    const isSingle = (message: Buffer) => message.includes('after-the-batch');
    await eventually(() => requests.some(isSingle), 5000, 'the single emit’s request');
    assert.equal(requests.findIndex(isSingle), 1, 'the whole batch cost one request to the other nodes, as the single emit did');
  });
});
