/**
 * Presence across a Redis cluster of real gateways: in-process nodes joined by Redis, a node run as a
 * child process and killed with SIGKILL, and a private redis-server that goes away and comes back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'socket.io-client';
import { Redis } from 'ioredis';
import { spawnGateway } from './support/gateway-process.js';
import { connectUserAt, eventually, gatewayEnv, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, redisServerInstalled, startPrivateRedis, uniquePrefix, type PrivateRedis } from './support/redis.js';
import { requireService } from './support/services.js';
import { deliveries, startReceiver, verifyWebhook, type Receiver } from './support/webhooks.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());
const redisServer = await requireService('the redis-server program', () => redisServerInstalled());

const SECRET = 'webhook-secret-0123456789abcdef0123';

/** Deletes every key of a test prefix from the shared Redis. */
async function dropKeys(prefix: string): Promise<void> {
  const redis = new Redis(SHARED_REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

const presenceOf = async (node: TestGateway, userId: string) => (await node.request('GET', `/users/${userId}/presence`)).body;

describe('presence in a Redis cluster', { skip: !redisUp && 'Redis is not running', timeout: 120_000 }, () => {
  const prefix = uniquePrefix();
  let receiver: Receiver;
  let nodes: TestGateway[] = [];
  before(async () => {
    receiver = await startReceiver();
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: SECRET, WEBHOOK_OFFLINE_GRACE_MS: '1500' };
    nodes = await Promise.all([startGateway(env), startGateway(env), startGateway(env)]);
  });
  after(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await receiver.close();
    await dropKeys(prefix);
  });

  it('is right on every node while a user’s sockets move between nodes, and tells which nodes hold them', async () => {
    const [a, b, c] = nodes as [TestGateway, TestGateway, TestGateway];
    const onA = await a.connectUser('ivy');
    await eventually(async () => (await presenceOf(c, 'ivy')).sockets === 1, 5000, 'c to see ivy on a');
    const since = (await presenceOf(c, 'ivy')).since;
    const onB = await b.connectUser('ivy', { transports: ['polling'] });
    for (const node of nodes) await eventually(async () => (await presenceOf(node, 'ivy')).sockets === 2, 5000, 'every node to see 2 sockets');
    const holding = await c.gateway.presence.directory.nodesHolding(['ivy', 'nobody']);
    assert.notEqual(holding, 'unknown');
    assert.deepEqual(
      [...(holding as Map<string, string[]>).entries()].sort(),
      [
        [a.gateway.presence.directory.nodeId, ['ivy']],
        [b.gateway.presence.directory.nodeId, ['ivy']],
      ].sort(),
    );
    onA.disconnect();
    await eventually(async () => (await presenceOf(c, 'ivy')).sockets === 1, 5000, 'the socket on a to leave');
    assert.deepEqual(await presenceOf(a, 'ivy'), { success: true, message: 'SUCCESS', online: true, sockets: 1, since });
    const batch = await c.request('POST', '/presence', { userIds: ['ivy', 'nobody'] });
    assert.deepEqual(batch.body.online, ['ivy']);
    onB.disconnect();
    await eventually(async () => (await presenceOf(a, 'ivy')).online === false, 5000, 'ivy to be offline');
    const stats = (await b.request('GET', '/stats')).body;
    assert.equal(stats.presence, 'redis');
  });

  it('sends each webhook once per cluster, and nothing for a reload onto another node within the grace delay', async () => {
    const [a, b, c] = nodes as [TestGateway, TestGateway, TestGateway];
    // Two nodes at once: one user.online.
    const [onA, onB] = await Promise.all([a.connectUser('jo'), b.connectUser('jo')]);
    await eventually(() => deliveries(receiver, 'user.online', 'jo').length > 0, 10_000, 'user.online');
    // A reload: both tabs close, one comes back on a third node; kim leaves for good at the same moment.
    const kim = await c.connectUser('kim');
    await eventually(() => deliveries(receiver, 'user.online', 'kim').length > 0, 10_000, "kim's user.online");
    onA!.disconnect();
    onB!.disconnect();
    kim.disconnect();
    const back = await c.connectUser('jo');
    await eventually(() => deliveries(receiver, 'user.offline', 'kim').length > 0, 15_000, "kim's user.offline");
    await eventually(() => nodes.every((node) => node.gateway.presence.webhooks.pending() === 0), 10_000, 'every queue to drain');
    assert.equal(deliveries(receiver, 'user.online', 'jo').length, 1, 'one user.online for the cluster');
    assert.equal(deliveries(receiver, 'user.offline', 'jo').length, 0, 'no offline for a reload');
    assert.equal(deliveries(receiver, 'user.offline', 'kim').length, 1, 'one user.offline for the cluster');
    back.disconnect();
    await eventually(() => deliveries(receiver, 'user.offline', 'jo').length > 0, 15_000, "jo's user.offline");
    await eventually(() => nodes.every((node) => node.gateway.presence.webhooks.pending() === 0), 10_000, 'every queue to drain');
    assert.equal(deliveries(receiver, 'user.offline', 'jo').length, 1);
    assert.ok(receiver.received.every(({ headers, raw }) => verifyWebhook(SECRET, headers, raw)));
    // Scrapers: the node holding the socket reports it.
    const scraper = await b.connectScraper();
    const id = scraper.id!;
    scraper.disconnect();
    await eventually(() => deliveries(receiver, 'scraper.disconnected', id).length > 0, 10_000, 'scraper.disconnected');
    await eventually(() => nodes.every((node) => node.gateway.presence.webhooks.pending() === 0), 10_000, 'every queue to drain');
    assert.equal(deliveries(receiver, 'scraper.connected', id).length, 1);
    assert.equal(deliveries(receiver, 'scraper.disconnected', id).length, 1);
  });

  it('disconnects a user’s sockets on every node, and a scraper socket on another node', async () => {
    const [a, b, c] = nodes as [TestGateway, TestGateway, TestGateway];
    const sockets = [await a.connectUser('lea'), await b.connectUser('lea'), await c.connectUser('lea', { transports: ['polling'] })];
    const notices = sockets.map((socket) => nextEvent(socket, 'logged_out'));
    const reasons = sockets.map((socket) => new Promise((resolve) => socket.once('disconnect', resolve)));
    assert.deepEqual((await b.request('POST', '/users/lea/disconnect', { event: 'logged_out', data: { by: 'admin' } })).body, {
      success: true,
      message: 'SUCCESS',
      sockets: 3,
    });
    assert.deepEqual(await Promise.all(notices), Array(3).fill({ by: 'admin' }));
    assert.deepEqual(await Promise.all(reasons), Array(3).fill('io server disconnect'));
    await eventually(async () => (await presenceOf(a, 'lea')).online === false, 5000, 'lea to be offline');
    const scraper = await c.connectScraper();
    const gone = new Promise((resolve) => scraper.once('disconnect', resolve));
    assert.equal((await a.request('POST', `/lead-finder/${scraper.id}/disconnect`, {})).body.sockets, 1);
    assert.equal(await gone, 'io server disconnect');
    assert.equal((await a.request('POST', `/lead-finder/${scraper.id}/disconnect`, {})).status, 404);
  });
});

/** A gateway as a child process (so that it can be killed with SIGKILL); resolves once it listens. */
describe('a node killed with SIGKILL', { skip: !redisUp && 'Redis is not running', timeout: 120_000 }, () => {
  const prefix = uniquePrefix();
  const LEASE_MS = 2000;
  let receiver: Receiver;
  let survivor: TestGateway;
  let doomed: ChildProcess | undefined;
  const sockets: Socket[] = [];
  before(async () => {
    receiver = await startReceiver();
    const env = {
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_PREFIX: prefix,
      PRESENCE_LEASE_MS: String(LEASE_MS),
      WEBHOOK_URLS: receiver.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_OFFLINE_GRACE_MS: '500',
    };
    survivor = await startGateway(env);
    const spawned = await spawnGateway(gatewayEnv(env));
    doomed = spawned.child;
    for (const user of ['max', 'ned']) await connectUserAt(spawned.url, user, sockets);
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    if (doomed?.exitCode === null) doomed.kill('SIGKILL');
    await survivor?.close();
    await receiver?.close();
    await dropKeys(prefix);
  });

  it('stops being listed within PRESENCE_LEASE_MS, and its users go offline once, sent by a surviving node', async () => {
    await eventually(async () => (await presenceOf(survivor, 'max')).sockets === 1, 10_000, 'the survivor to see max on the doomed node');
    await survivor.connectUser('ned');
    await eventually(async () => (await presenceOf(survivor, 'ned')).sockets === 2, 10_000, 'ned on both nodes');
    await eventually(() => deliveries(receiver, 'user.online', 'max').length === 1, 10_000, "max's user.online");
    const exited = new Promise((resolve) => doomed!.once('exit', resolve));
    doomed!.kill('SIGKILL');
    await exited;
    // The lease bounds it; the test allows twice that for a loaded machine (no timing is asserted beyond the bound).
    await eventually(async () => (await presenceOf(survivor, 'max')).online === false, 2 * LEASE_MS + 2000, 'max to be unlisted after the lease');
    assert.equal((await presenceOf(survivor, 'ned')).sockets, 1, 'ned stays online on the survivor');
    await eventually(() => deliveries(receiver, 'user.offline', 'max').length === 1, 15_000, "max's user.offline from the survivor");
    await eventually(() => survivor.gateway.presence.webhooks.pending() === 0, 10_000, 'the queue to drain');
    assert.equal(deliveries(receiver, 'user.offline', 'ned').length, 0, 'ned never went offline');
    assert.equal(deliveries(receiver, 'user.offline', 'max').length, 1);
  });
});

describe('a node that loses Redis', { skip: !redisServer && 'redis-server is not installed', timeout: 120_000 }, () => {
  let redis: PrivateRedis;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    redis = await startPrivateRedis();
    const env = { REDIS_URL: redis.url, CLUSTER_TIMEOUT_MS: '500', PRESENCE_LEASE_MS: '1500' };
    [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
  });
  after(async () => {
    await Promise.all([a, b].filter((node) => node !== undefined).map((node) => node.close()));
    await redis?.stop();
  });

  it('answers 503 while the directory cannot be read, and registers what it holds again once Redis is back', async () => {
    await a.connectUser('olga');
    const second = await a.connectUser('olga');
    await b.connectScraper();
    await eventually(async () => (await presenceOf(b, 'olga')).sockets === 2, 5000, 'b to see olga');
    // Redis loses everything it held (no persistence): only re-registering brings olga back.
    await redis.stop();
    await eventually(async () => (await b.request('GET', '/users/olga/presence')).status === 503, 10_000, 'b to see the directory gone');
    const down = await b.request('GET', '/users/olga/presence');
    assert.equal(down.body.code, 'SERVICE_UNAVAILABLE');
    assert.equal(down.headers.get('retry-after'), '1');
    assert.equal((await b.request('POST', '/presence', { userIds: ['olga'] })).status, 503);
    // Meanwhile a socket leaves: a write that cannot reach Redis.
    second.disconnect();
    await eventually(() => a.gateway.io.of('/v1/shared').sockets.size === 1, 5000, 'a to see the socket leave');
    await redis.start();
    await eventually(async () => (await b.request('GET', '/users/olga/presence')).body.sockets === 1, 20_000, 'a to register olga again');
    assert.equal((await b.request('GET', '/stats')).body.online, 1);
  });
});
