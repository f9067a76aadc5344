/**
 * A Redis cluster of real gateways: interop with @socket.io/redis-emitter, and Redis faults. The
 * fault suite runs its own redis-server on a free port, kills it and starts it again on the same
 * port; the shared Redis on 6379 is never touched. What the bus does during an outage is tested with
 * streams off (HISTORY_SIZE=0, live delivery only); with streams on, the users' streams live in the
 * same Redis, and an emit to users is refused (503) rather than sent unrecorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Emitter } from '@socket.io/redis-emitter';
import { io as connect } from 'socket.io-client';
import { assertSent, collect, eventually, nextEvent, startGateway, type Reply, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, freePort, pingRedis, redisServerInstalled, startPrivateRedis, uniquePrefix, type PrivateRedis } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());
const redisServer = await requireService('the redis-server program', () => redisServerInstalled());

describe('@socket.io/redis-emitter interop', { skip: !redisUp && 'Redis is not running', timeout: 30_000 }, () => {
  const prefix = uniquePrefix();
  let nodes: TestGateway[] = [];
  let redis: Redis;
  before(async () => {
    nodes = await Promise.all([
      startGateway({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix }),
      startGateway({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix }),
    ]);
    redis = new Redis(SHARED_REDIS_URL);
  });
  after(async () => {
    redis?.disconnect();
    await Promise.all(nodes.map((node) => node.close()));
  });

  it('reaches every socket of a user, on every node, with no HTTP call', async () => {
    const sockets = [await nodes[0]!.connectUser('64user123'), await nodes[1]!.connectUser('64user123', { transports: ['polling'] })];
    const other = await nodes[1]!.connectUser('someone-else');
    const otherGot = collect(other, 'notification');
    const arrivals = Promise.all(sockets.map((socket) => nextEvent(socket, 'notification')));
    new Emitter(redis, { key: prefix }).of('/v1/shared').to('user:64user123').emit('notification', { title: 'from a backend', n: 1 });
    assert.deepEqual(await arrivals, [
      { title: 'from a backend', n: 1 },
      { title: 'from a backend', n: 1 },
    ]);
    const marker = nextEvent(other, 'marker');
    await nodes[0]!.request('POST', '/emit/someone-else/marker', {});
    await marker;
    assert.deepEqual(otherGot, []);
  });
});

const PASSWORD = 'redis-secret-0123456789';

describe('a gateway whose Redis never answers', { timeout: 30_000 }, () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  /** Gateways not closed yet: a failed test leaves none behind, reconnecting forever and keeping the process alive. */
  const open = new Set<TestGateway>();
  const start = async (env: Record<string, string>): Promise<TestGateway> => {
    const node = await startGateway({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, CLUSTER_TIMEOUT_MS: '200', ...env });
    open.add(node);
    return node;
  };
  /** Closes `node` and checks that nothing was left to reject. */
  const closeCleanly = async (node: TestGateway): Promise<void> => {
    open.delete(node);
    await node.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(rejections, []);
  };
  before(() => process.on('unhandledRejection', onRejection));
  after(async () => {
    process.off('unhandledRejection', onRejection);
    await Promise.all([...open].map((node) => node.close()));
  });

  it('starts, serves its own sockets, reports the bus down, and closes cleanly (streams off: live delivery)', async () => {
    rejections.length = 0;
    const node = await start({ HISTORY_SIZE: '0' });
    const socket = await node.connectUser('solo');
    const arrival = nextEvent(socket, 'hi');
    assert.deepEqual((await node.request('POST', '/emit/solo/hi', { a: 1 })).body, { success: true, message: 'SUCCESS', sockets: 1, partial: true });
    assert.deepEqual(await arrival, { a: 1 });
    assert.equal((await node.request('GET', '/readyz')).status, 503);
    await closeCleanly(node);
  });

  it('with streams on, starts, refuses emits to users (503 STREAMS_UNAVAILABLE) and user sockets, still sends scraper tasks, and closes cleanly', async () => {
    rejections.length = 0;
    const node = await start({});
    // A user socket is not admitted while its stream cannot be read: its transport is closed, which a
    // stock client (reconnection on) answers by trying again.
    const turnedAway = connect(`${node.url}/v1/shared`, {
      auth: { token: await node.token('solo') },
      forceNew: true,
      reconnection: false,
      transports: ['websocket'],
    });
    const outcome = await new Promise<string>((resolve) => {
      turnedAway.once('connect', () => resolve('connected'));
      turnedAway.once('connect_error', (error) => resolve(`connect_error ${error.message}`));
      turnedAway.once('disconnect', (reason) => resolve(reason));
    });
    turnedAway.disconnect();
    assert.equal(outcome, 'transport close');

    const reply = await node.request('POST', '/emit/solo/hi', { a: 1 });
    assert.equal(reply.status, 503, JSON.stringify(reply.body));
    assert.equal(reply.body.code, 'STREAMS_UNAVAILABLE');
    assert.equal(reply.headers.get('retry-after'), '1');
    // Scraper tasks are not kept in any stream: one to a scraper on this node still goes.
    const worker = await node.connectScraper();
    const task = nextEvent(worker, 'scrape_task');
    assertSent((await node.request('POST', '/lead-finder/scrape_task', { socketId: worker.id, payload: { k: 1 } })).body, 1, []);
    assert.deepEqual(await task, { k: 1 });
    const ready = await node.request('GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.checks.streams.ok, false);
    await closeCleanly(node);
  });
});

describe('Redis faults', { skip: !redisServer && 'redis-server is not installed', timeout: 60_000 }, () => {
  let redis: PrivateRedis;
  let a: TestGateway;
  let b: TestGateway;
  let late: TestGateway | undefined;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => void rejections.push(reason);

  before(async () => {
    process.on('unhandledRejection', onRejection);
    redis = await startPrivateRedis(PASSWORD);
    // Streams off: these nodes show what the bus does while Redis is away (streams on: the last test).
    const env = { REDIS_URL: redis.url, CLUSTER_TIMEOUT_MS: '500', RATE_LIMIT_MAX: '1000', HISTORY_SIZE: '0' };
    [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
  });
  after(async () => {
    process.off('unhandledRejection', onRejection);
    await Promise.all([a, b, late].filter((node) => node !== undefined).map((node) => node.close()));
    await redis?.stop();
  });

  it('keeps serving local sockets while Redis is down, says so on /readyz, and resumes cross-node delivery after Redis returns', async () => {
    const aliceA = await a.connectUser('alice');
    const aliceB = await b.connectUser('alice');
    const workerB = await b.connectScraper();
    const workerA = await a.connectScraper();
    const gotB = collect(aliceB, 'news');

    // Up: both nodes get it.
    let arrivals: Promise<unknown[]> = Promise.all([nextEvent(aliceA, 'news'), nextEvent(aliceB, 'news')]);
    assert.deepEqual((await a.request('POST', '/emit/alice/news', { n: 1 })).body, { success: true, message: 'SUCCESS', sockets: 2 });
    await arrivals;

    await redis.stop();
    for (const node of [a, b]) {
      await eventually(async () => (await node.request('GET', '/readyz')).status === 503, 5000, 'every node to see Redis gone');
      const ready = await node.request('GET', '/readyz');
      assert.equal(ready.body.ready, false);
      assert.equal(ready.body.checks.bus.ok, false);
      assert.match(ready.body.checks.bus.detail, /unreachable/);
      assert.ok(!JSON.stringify(ready.body).includes(PASSWORD), 'the Redis password is never shown');
      assert.equal((await node.request('GET', '/healthz')).status, 200);
    }

    // Down: the local socket still gets it, and the reply says other nodes could not be asked.
    const local = nextEvent(aliceA, 'news');
    const reply = await a.request('POST', '/emit/alice/news', { n: 2 });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { success: true, message: 'SUCCESS', sockets: 1, partial: true });
    assert.deepEqual(await local, { n: 2 });
    // A worker on this node is found; one on another node cannot be looked up: 503, not a false 404.
    assert.equal((await a.request('POST', '/lead-finder/task', { socketId: workerA.id, payload: {} })).status, 200);
    const remote = await a.request('POST', '/lead-finder/task', { socketId: workerB.id, payload: {} });
    assert.equal(remote.status, 503);
    assert.equal(remote.body.code, 'SERVICE_UNAVAILABLE');

    // A burst while down leaves nothing queued: no offline queue, no pending cross-node request.
    const burst = await Promise.all(Array.from({ length: 200 }, (_, n) => a.request('POST', '/emit/alice/burst', { n })));
    assert.ok(burst.every((r) => r.status === 200 && r.body.partial === true));
    for (const node of [a, b]) {
      const clients = (node.gateway.bus as unknown as { clients: { offlineQueue: { length: number } }[] }).clients;
      assert.equal(clients[0]!.offlineQueue.length, 0, 'the publishing connection queues nothing');
      assert.ok(clients[1]!.offlineQueue.length <= 10, 'the subscribing connection holds only its subscriptions');
    }

    // A node started while Redis is down starts anyway, serving its own sockets.
    late = await startGateway({ REDIS_URL: redis.url, CLUSTER_TIMEOUT_MS: '500', HISTORY_SIZE: '0' });
    const aliceLate = await late.connectUser('alice');
    assert.equal((await late.request('GET', '/readyz')).status, 503);

    await redis.start();
    for (const node of [a, b, late])
      await eventually(async () => (await node.request('GET', '/readyz')).status === 200, 15_000, 'nodes to reconnect by themselves');
    // The subscriptions are back once a cross-node emit reaches every node.
    await eventually(
      async () => {
        const r = await b.request('POST', '/emit/alice/probe', {});
        return r.body.sockets === 3 && r.body.partial === undefined;
      },
      10_000,
      'cross-node delivery to resume',
    );
    arrivals = Promise.all([nextEvent(aliceA, 'news'), nextEvent(aliceB, 'news'), nextEvent(aliceLate, 'news')]);
    assert.deepEqual((await a.request('POST', '/emit/alice/news', { n: 3 })).body, { success: true, message: 'SUCCESS', sockets: 3 });
    assert.deepEqual(await arrivals, [{ n: 3 }, { n: 3 }, { n: 3 }]);
    assert.deepEqual(gotB, [{ n: 1 }, { n: 3 }], 'the node cut off missed only what was sent while Redis was down');
    const found = await a.request('POST', '/lead-finder/task', { socketId: workerB.id, payload: {} });
    assert.equal(found.status, 200);
    assert.deepEqual(rejections, [], 'no unhandled promise rejection');
  });

  it('answers emits within bounded time while Redis is frozen (connected but silent), counting limits locally', async () => {
    const env = { REDIS_URL: redis.url, CLUSTER_TIMEOUT_MS: '300', RATE_LIMIT_MAX: '5', INTERNAL_API_KEY: 'frozen-key', HISTORY_SIZE: '0' };
    const node = await startGateway(env);
    const alice = await node.connectUser('alice');
    try {
      redis.pause();
      const arrival = nextEvent(alice, 'news');
      const reply = await node.request('POST', '/emit/alice/news', { frozen: true }, { 'x-api-key': 'frozen-key' });
      // Not a timing assertion on speed: a hang would end the test at its timeout instead.
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.sockets, 1);
      assert.equal(reply.body.partial, true, 'the other nodes could not be asked');
      assert.deepEqual(await arrival, { frozen: true });
      // A worker not on this node: the others were asked but did not answer, so it may have been sent.
      const unconfirmed = await node.request('POST', '/lead-finder/scrape_task', { socketId: 'elsewhere', payload: {} }, { 'x-api-key': 'frozen-key' });
      assert.equal(unconfirmed.status, 504);
      assert.equal(unconfirmed.body.code, 'DELIVERY_UNCONFIRMED');
    } finally {
      redis.resume();
      await node.close();
    }
  });

  it('falls back to per-node rate limits while Redis is down instead of failing or letting everything through', async () => {
    const env = { REDIS_URL: redis.url, CLUSTER_TIMEOUT_MS: '500', RATE_LIMIT_MAX: '2', INTERNAL_API_KEY: 'other-key-for-limits', HISTORY_SIZE: '0' };
    const node = await startGateway(env);
    try {
      const call = () => node.request('POST', '/emit/x/y', {}, { 'x-api-key': 'other-key-for-limits' });
      assert.deepEqual([(await call()).status, (await call()).status, (await call()).status], [200, 200, 429]);
      await redis.stop();
      await eventually(async () => (await node.request('GET', '/readyz')).status === 503, 5000, 'Redis to be seen gone');
      assert.deepEqual([(await call()).status, (await call()).status, (await call()).status], [200, 200, 429]);
    } finally {
      await node.close();
      await redis.start();
    }
  });

  describe("with streams on (the users' streams in the same Redis)", () => {
    let c: TestGateway;
    let d: TestGateway;
    before(async () => {
      // A cluster of its own beside a and b, which run with streams off.
      const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), CLUSTER_TIMEOUT_MS: '500' };
      [c, d] = await Promise.all([startGateway(env), startGateway(env)]);
    });
    after(async () => {
      await Promise.all([c, d].filter((node) => node !== undefined).map((node) => node.close()));
    });

    const assertRefused = (reply: Reply): void => {
      assert.equal(reply.status, 503, JSON.stringify(reply.body));
      assert.equal(reply.body.code, 'STREAMS_UNAVAILABLE');
      assert.equal(reply.headers.get('retry-after'), '1');
      assert.ok(!JSON.stringify(reply.body).includes(PASSWORD), 'the Redis password is never shown');
    };

    it('refuses an emit to users while Redis is frozen (503 STREAMS_UNAVAILABLE), and does not deliver it once Redis thaws', async () => {
      const [onC, onD] = [await c.connectUser('frank'), await d.connectUser('frank')];
      const got = [collect(onC, 'news'), collect(onD, 'news')];
      let arrivals: Promise<unknown> = Promise.all([nextEvent(onC, 'news'), nextEvent(onD, 'news')]);
      assertSent((await c.request('POST', '/emit/frank/news', { n: 1 })).body, 2, ['frank']);
      await arrivals;
      // Connected but silent: refused once CLUSTER_TIMEOUT_MS has passed. Not a timing assertion:
      // a hang would end the test at its timeout instead.
      redis.pause();
      try {
        assertRefused(await d.request('POST', '/emit/frank/news', { n: 'refused' }));
      } finally {
        redis.resume();
      }
      arrivals = Promise.all([nextEvent(onC, 'news'), nextEvent(onD, 'news')]);
      // Just thawed, a loaded Redis may still run this one past its deadline: refused again, and
      // again not recorded. Whatever was refused must never arrive.
      let next = await c.request('POST', '/emit/frank/news', { n: 2 });
      for (let attempt = 0; next.status === 503 && attempt < 20; attempt++) {
        assertRefused(next);
        await new Promise((resolve) => setTimeout(resolve, 100));
        next = await c.request('POST', '/emit/frank/news', { n: 2 });
      }
      assertSent(next.body, 2, ['frank']);
      await arrivals;
      assert.deepEqual(got, [
        [{ n: 1 }, { n: 2 }],
        [{ n: 1 }, { n: 2 }],
      ]);
      assert.match(next.body.positions.frank, /:2$/, 'the refused events took no place in the stream');
    });

    it('refuses emits to users while Redis is down (503 STREAMS_UNAVAILABLE, nothing sent), turns user sockets away, and takes both again once it is back', async () => {
      const aliceC = await c.connectUser('alice');
      const aliceD = await d.connectUser('alice', { transports: ['polling'] });
      const got = [collect(aliceC, 'news'), collect(aliceD, 'news')];
      let arrivals: Promise<unknown> = Promise.all([nextEvent(aliceC, 'news'), nextEvent(aliceD, 'news')]);
      assertSent((await c.request('POST', '/emit/alice/news', { n: 1 })).body, 2, ['alice']);
      await arrivals;

      await redis.stop();
      for (const node of [c, d]) {
        await eventually(async () => (await node.request('GET', '/readyz')).status === 503, 5000, 'every node to see Redis gone');
        assert.equal((await node.request('GET', '/readyz')).body.checks.streams.ok, false);
      }
      // Refused at once, on every emit route to users.
      assertRefused(await c.request('POST', '/emit/alice/news', { n: 'down' }));
      assertRefused(await d.request('POST', '/emit/news', { userIds: ['alice', 'bob'], data: { n: 'down' } }));
      // A stock client connecting meanwhile is turned away, tries again by itself, and gets in once Redis is back.
      const newcomer = c.connectUser('alice', { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });

      await redis.start();
      // Back means ready too: a node whose subscribing connection is still reconnecting (ioredis backs
      // off up to 2 s) hears no broadcast, and the others, counting subscribers, do not wait for it.
      for (const node of [c, d]) {
        await eventually(async () => (await node.request('POST', '/emit/probe/news', {})).status === 200, 15_000, 'emits to be taken again');
        await eventually(async () => (await node.request('GET', '/readyz')).status === 200, 15_000, 'every node to be ready again');
      }
      const late = await newcomer;
      // Redis came back empty (no persistence): the streams were wiped, and the sockets connected
      // before are told so at their next event, whose position the gap names as the newest, and
      // which they receive after it.
      const gaps = Promise.all([nextEvent(aliceC, 'stream_gap'), nextEvent(aliceD, 'stream_gap')]);
      const first = nextEvent(late, 'news');
      const back = await d.request('POST', '/emit/alice/news', { n: 2 });
      assertSent(back.body, 3, ['alice']);
      for (const gap of (await gaps) as { reason: string; newest: string }[]) assert.deepEqual([gap.reason, gap.newest], ['epoch', back.body.positions.alice]);
      assert.deepEqual(await first, { n: 2 });
      // The sockets told of the gap receive the event after it.
      await eventually(() => got.every((events) => events.length === 2), 5000, 'the event after the gap');
      arrivals = Promise.all([aliceC, aliceD, late].map((socket) => nextEvent(socket, 'news')));
      assertSent((await c.request('POST', '/emit/alice/news', { n: 3 })).body, 3, ['alice']);
      assert.deepEqual(await arrivals, [{ n: 3 }, { n: 3 }, { n: 3 }]);
      assert.deepEqual(got, [
        [{ n: 1 }, { n: 2 }, { n: 3 }],
        [{ n: 1 }, { n: 2 }, { n: 3 }],
      ]);
    });
  });
});

describe('a gateway closed while Redis does not answer', { skip: !redisServer && 'redis-server is not installed', timeout: 30_000 }, () => {
  it('ends without an unhandled rejection (a process exits 1 on one)', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown): void => void rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    const redis = await startPrivateRedis();
    try {
      const node = await startGateway({ REDIS_URL: redis.url, CLUSTER_TIMEOUT_MS: '500' });
      const subscriber = (node.gateway.bus as unknown as { clients: { status: string }[] }).clients[1]!;
      // Frozen, then gone: closing unsubscribes each namespace's adapter, and Redis never answers.
      redis.pause();
      await node.close();
      await redis.stop();
      await eventually(() => subscriber.status === 'end', 5000, 'the subscribing connection to end');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(rejections.map(String), []);
    } finally {
      process.off('unhandledRejection', onRejection);
      await redis.stop();
    }
  });
});
