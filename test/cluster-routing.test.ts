/**
 * Targeted routing in a Redis cluster of real in-process gateways (CLUSTER_ROUTING): an emit goes
 * only to the nodes that hold its users, counted by each node's
 * `general_socket_cluster_messages_total` in /metrics, with exact socket counts; sockets moving
 * between nodes while events flow get every event once (streams on); an unreadable directory and
 * CLUSTER_ROUTING=broadcast ask every node.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { io as connect, type Socket } from 'socket.io-client';
import { API_KEY, assertSent, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

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

/** What a node's /metrics says of `type` messages, sent and received. */
async function traffic(node: TestGateway, type = 'deliver'): Promise<{ sent: number; received: number }> {
  const text = await (await fetch(`${node.url}/metrics`, { headers: { 'x-api-key': API_KEY } })).text();
  const read = (direction: string): number => {
    const match = text.match(new RegExp(`^general_socket_cluster_messages_total\\{type="${type}",direction="${direction}"\\} (\\d+)$`, 'm'));
    return match ? Number(match[1]) : 0;
  };
  return { sent: read('sent'), received: read('received') };
}

/** Every node's traffic, in order. */
const trafficOf = (nodes: readonly TestGateway[], type = 'deliver') => Promise.all(nodes.map((node) => traffic(node, type)));

/** Waits until every node's presence sees `sockets` sockets of `userId`, so the directory lists them. */
async function listed(nodes: readonly TestGateway[], userId: string, sockets: number): Promise<void> {
  for (const node of nodes)
    await eventually(
      async () => (await node.request('GET', `/users/${userId}/presence`)).body.sockets === sockets,
      5000,
      `${sockets} sockets of ${userId} in the directory`,
    );
}

describe('targeted routing in a Redis cluster', { skip: !redisUp && 'Redis is not running', timeout: 120_000 }, () => {
  const prefix = uniquePrefix();
  let nodes: TestGateway[] = [];
  before(async () => {
    // The shortest lease: a node asks every node for one lease after it connects to Redis.
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, PRESENCE_LEASE_MS: '1000' };
    nodes = await Promise.all([startGateway(env), startGateway(env), startGateway(env)]);
    await eventually(() => nodes.every((node) => node.gateway.presence.directory.settled()), 10_000, 'every node to route by the directory');
  });
  after(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await dropKeys(prefix);
  });

  it('sends an emit to the one node holding the user, and nothing for an offline user or one held here', async () => {
    const [a, b] = nodes as [TestGateway, TestGateway, TestGateway];
    const onB = await b.connectUser('routed-b');
    const onA = await a.connectUser('routed-a');
    await listed(nodes, 'routed-b', 1);
    await listed(nodes, 'routed-a', 1);

    let before = await trafficOf(nodes);
    const arrived = nextEvent(onB, 'note');
    const sent = await a.request('POST', '/emit/routed-b/note', { n: 1 });
    assertSent(sent.body, 1, ['routed-b']);
    assert.deepEqual(await arrived, { n: 1 });
    let after = await trafficOf(nodes);
    assert.equal(after[0]!.sent - before[0]!.sent, 1, 'a sent one message');
    assert.equal(after[1]!.received - before[1]!.received, 1, 'b received it');
    assert.equal(after[2]!.received - before[2]!.received, 0, 'c received nothing');

    before = after;
    assertSent((await a.request('POST', '/emit/nobody-at-all/note', { n: 2 })).body, 0, ['nobody-at-all']);
    const here = nextEvent(onA, 'note');
    assertSent((await a.request('POST', '/emit/routed-a/note', { n: 3 })).body, 1, ['routed-a']);
    assert.deepEqual(await here, { n: 3 });
    after = await trafficOf(nodes);
    assert.deepEqual(after, before, 'no cross-node message for an offline user, nor for a user held only by the sending node');
  });

  it('counts sockets exactly over several users on several nodes, asking each holding node once', async () => {
    const [a, b, c] = nodes as [TestGateway, TestGateway, TestGateway];
    const sockets: Socket[] = [
      await a.connectUser('many-1'),
      await b.connectUser('many-1'),
      await b.connectUser('many-1', { transports: ['polling'] }),
      await b.connectUser('many-2'),
      await c.connectUser('many-3'),
    ];
    await listed(nodes, 'many-1', 3);
    await listed(nodes, 'many-2', 1);
    await listed(nodes, 'many-3', 1);
    const before = await trafficOf(nodes);
    const arrivals = Promise.all(sockets.map((socket) => nextEvent(socket, 'many')));
    const sent = await a.request('POST', '/emit/many', { userIds: ['many-1', 'many-2', 'many-3', 'many-offline'], data: { all: true } });
    assertSent(sent.body, 5, ['many-1', 'many-2', 'many-3', 'many-offline']);
    assert.deepEqual(await arrivals, Array(5).fill({ all: true }));
    const after = await trafficOf(nodes);
    assert.deepEqual(
      after.map((t, i) => [t.sent - before[i]!.sent, t.received - before[i]!.received]),
      [
        [2, 0],
        [0, 1],
        [0, 1],
      ],
      'a asked b and c once each',
    );
    // A batch of several items is still one message per holding node.
    const batch = await a.request('POST', '/emit/batch', {
      items: [
        { userIds: ['many-2'], event: 'b1', data: {} },
        { userIds: ['many-2', 'many-3'], event: 'b2', data: {} },
      ],
    });
    assert.equal(batch.status, 200, JSON.stringify(batch.body));
    assert.deepEqual(
      batch.body.results.map((result: { sockets: number }) => result.sockets),
      [1, 2],
    );
    const afterBatch = await trafficOf(nodes);
    assert.deepEqual(
      afterBatch.map((t, i) => t.received - after[i]!.received),
      [0, 1, 1],
    );
  });

  it('sends a lead-finder event to the node holding the scraper socket only', async () => {
    const [a, b] = nodes as [TestGateway, TestGateway, TestGateway];
    const scraper = await b.connectScraper();
    await eventually(
      async () => (await a.gateway.presence.directory.nodeHoldingScraper(scraper.id!)) === b.gateway.presence.directory.nodeId,
      5000,
      'the scraper in the directory',
    );
    const before = await trafficOf(nodes);
    const task = nextEvent(scraper, 'scrape_task');
    const sent = await a.request('POST', '/lead-finder/scrape_task', { socketId: scraper.id, payload: { url: 'https://example.com' } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.deepEqual(await task, { url: 'https://example.com' });
    const after = await trafficOf(nodes);
    assert.deepEqual(
      after.map((t, i) => t.received - before[i]!.received),
      [0, 1, 0],
    );
    assert.equal((await a.request('POST', '/lead-finder/scrape_task', { socketId: 'no-such-scraper-socket', payload: {} })).status, 404);
    assert.deepEqual(await trafficOf(nodes), after, 'no message for a scraper socket nobody holds');
  });

  it('gives a socket moving between nodes every event once, in order, while emits go on (streams on)', async () => {
    const [a, b, c] = nodes as [TestGateway, TestGateway, TestGateway];
    const total = 60;
    const got: number[] = [];
    let last: string | undefined;
    let socket: Socket | undefined;
    // As a client that moves does: leave, then connect elsewhere resuming after the last event it got.
    const join = async (node: TestGateway): Promise<void> => {
      socket?.disconnect();
      const auth = { token: await node.token('mover'), ...(last !== undefined && { since: last }) };
      socket = connect(`${node.url}/v1/shared`, { auth, forceNew: true, reconnection: false, transports: ['websocket'] });
      // Listening before the connection: what the stream replays may arrive with the connect packet.
      socket.on('tick', (data: { n: number }, position: string) => {
        got.push(data.n);
        last = position;
      });
      await new Promise<void>((resolve, reject) => socket!.once('connect', () => resolve()).once('connect_error', reject));
    };
    await join(b);
    const emitting = (async () => {
      for (let n = 1; n <= total; n++) assert.equal((await a.request('POST', '/emit/mover/tick', { n })).status, 200);
    })();
    // Hop b -> c -> a -> b while the events flow: each hop resumes after the last event received.
    for (const node of [c, a, b]) {
      const seen = got.length;
      await eventually(() => got.length > seen, 10_000, 'an event on the current node');
      await join(node);
    }
    await emitting;
    await eventually(() => got.length >= total, 10_000, `every event (got ${got.length}: ${got.join(',')})`);
    assert.deepEqual(
      got,
      Array.from({ length: total }, (_, i) => i + 1),
    );
    socket?.disconnect();
  });

  it('asks every node while the directory cannot be read', async () => {
    const [a, b] = nodes as [TestGateway, TestGateway, TestGateway];
    const onB = await b.connectUser('fallback');
    await listed(nodes, 'fallback', 1);
    const { directory } = a.gateway.presence;
    const nodesHolding = directory.nodesHolding;
    // What the Redis directory answers while Redis cannot be read; the bus itself still works here.
    directory.nodesHolding = async () => 'unknown';
    try {
      const before = await trafficOf(nodes);
      const arrived = nextEvent(onB, 'fb');
      assertSent((await a.request('POST', '/emit/fallback/fb', { ok: 1 })).body, 1, ['fallback']);
      await arrived;
      const after = await trafficOf(nodes);
      assert.deepEqual(
        after.map((t, i) => t.received - before[i]!.received),
        [0, 1, 1],
        'b and c were both asked',
      );
    } finally {
      directory.nodesHolding = nodesHolding;
    }
  });
});

describe('CLUSTER_ROUTING=broadcast', { skip: !redisUp && 'Redis is not running', timeout: 60_000 }, () => {
  const prefix = uniquePrefix();
  let nodes: TestGateway[] = [];
  before(async () => {
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, CLUSTER_ROUTING: 'broadcast' };
    nodes = await Promise.all([startGateway(env), startGateway(env), startGateway(env)]);
  });
  after(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await dropKeys(prefix);
  });

  it('asks every other node, even for an offline user', async () => {
    const [a, b] = nodes as [TestGateway, TestGateway, TestGateway];
    const onB = await b.connectUser('bc');
    await listed(nodes, 'bc', 1);
    const before = await trafficOf(nodes);
    const arrived = nextEvent(onB, 'x');
    assertSent((await a.request('POST', '/emit/bc/x', {})).body, 1, ['bc']);
    await arrived;
    assertSent((await a.request('POST', '/emit/bc-offline/x', {})).body, 0, ['bc-offline']);
    const after = await trafficOf(nodes);
    assert.deepEqual(
      after.map((t, i) => [t.sent - before[i]!.sent, t.received - before[i]!.received]),
      [
        [2, 0],
        [0, 2],
        [0, 2],
      ],
    );
  });
});
