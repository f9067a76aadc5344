/**
 * The cluster bus conformance suite: the same behaviour, whichever bus joins the nodes. The embedded
 * bus is one node; the Redis bus runs three real gateways in this process against the shared Redis
 * (a prefix of their own keeps them apart from other suites). Clients are spread across the nodes
 * and REST calls go to every node in turn.
 */
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_KEY, assertSent, collect, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

const implementations = [
  { name: 'embedded', nodes: 1, env: () => ({}) },
  { name: 'redis', nodes: 3, env: () => ({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: uniquePrefix() }), skip: !redisUp && 'Redis is not running' },
] as { name: string; nodes: number; env: () => Record<string, string>; skip?: string | false }[];

/** What the shared store keeps under the nodes' prefix (nothing for the embedded bus). */
async function storedKeys(env: Record<string, string>): Promise<string[]> {
  if (!env.REDIS_URL) return [];
  const redis = new Redis(env.REDIS_URL);
  try {
    return await redis.keys(`${env.REDIS_PREFIX}*`);
  } finally {
    redis.disconnect();
  }
}

/** Starts `count` gateways sharing one bus configuration. */
async function startNodes(count: number, env: Record<string, string>): Promise<TestGateway[]> {
  const shared = { DATA_DIR: mkdtempSync(join(tmpdir(), 'gs-bus-')), ...env };
  return Promise.all(Array.from({ length: count }, () => startGateway(shared)));
}

for (const impl of implementations) {
  describe(`cluster bus conformance: ${impl.name}`, { skip: impl.skip, timeout: 60_000 }, () => {
    let nodes: TestGateway[] = [];
    before(async () => {
      nodes = await startNodes(impl.nodes, impl.env());
    });
    after(async () => {
      await Promise.all(nodes.map((node) => node.close()));
    });

    it(`reports the bus as ${impl.name} and ready`, async () => {
      for (const node of nodes) {
        assert.equal(node.gateway.bus.kind, impl.name);
        const reply = await node.request('GET', '/readyz');
        assert.equal(reply.status, 200);
        assert.equal(reply.body.checks.bus.ok, true);
      }
    });

    it('delivers a user emit exactly once to every socket of the user on every node, whichever node is called, and counts them all', async () => {
      // Two sockets of alice per node (one on long-polling), one of bob on the first node.
      const alice = await Promise.all(nodes.flatMap((node) => [node.connectUser('alice'), node.connectUser('alice', { transports: ['polling'] })]));
      const bob = await nodes[0]!.connectUser('bob');
      const got = alice.map((socket) => collect(socket, 'notification'));
      const bobGot = collect(bob, 'notification');

      for (const [index, node] of nodes.entries()) {
        const arrivals = Promise.all(alice.map((socket) => nextEvent(socket, 'notification')));
        const reply = await node.request('POST', '/emit/alice/notification', { call: index });
        assert.equal(reply.status, 200);
        assertSent(reply.body, alice.length, ['alice']);
        assert.deepEqual(
          await arrivals,
          alice.map(() => ({ call: index })),
        );
      }
      // A marker sent after everything else arrives after it: then nothing more can come.
      const markers = Promise.all([...alice, bob].map((socket) => nextEvent(socket, 'marker')));
      await nodes.at(-1)!.request('POST', '/emit/marker', { userIds: ['alice', 'bob'], data: 1 });
      await markers;
      for (const received of got)
        assert.deepEqual(
          received,
          nodes.map((_, index) => ({ call: index })),
        );
      assert.deepEqual(bobGot, []);
    });

    it('delivers a multi-user emit to users on different nodes, once per socket even when an id repeats', async () => {
      const u1 = await nodes[0]!.connectUser('u1');
      const u2 = await nodes.at(-1)!.connectUser('u2');
      const u1Got = collect(u1, 'announcement');
      const arrivals = Promise.all([nextEvent(u1, 'announcement'), nextEvent(u2, 'announcement')]);
      const reply = await nodes[Math.floor(nodes.length / 2)]!.request('POST', '/emit/announcement', { userIds: ['u1', 'u2', 'u1', 'nobody'], data: { x: 1 } });
      // Every user has a stream, offline ones too: they get the event when they come back.
      assertSent(reply.body, 2, ['u1', 'u2', 'nobody']);
      assert.deepEqual(await arrivals, [{ x: 1 }, { x: 1 }]);
      const marker = nextEvent(u1, 'marker');
      await nodes[0]!.request('POST', '/emit/u1/marker', {});
      await marker;
      assert.equal(u1Got.length, 1);
    });

    it('answers sockets: 0 for a user with no socket on any node', async () => {
      for (const node of nodes) {
        const reply = await node.request('POST', '/emit/offline-user/notification', {});
        assertSent(reply.body, 0, ['offline-user']);
      }
    });

    it('finds a lead-finder scraper on whichever node holds it, and answers 404 on every node once it is gone', async () => {
      const holder = nodes.at(-1)!;
      const worker = await holder.connectScraper();
      const id = worker.id!;
      const got = collect(worker, 'scrape_task');
      for (const [index, node] of nodes.entries()) {
        const arrival = nextEvent(worker, 'scrape_task');
        const reply = await node.request('POST', '/lead-finder/scrape_task', { socketId: id, payload: { task: index } });
        assert.equal(reply.status, 200);
        // Scraper tasks are not kept in any stream: no positions.
        assertSent(reply.body, 1, []);
        assert.deepEqual(await arrival, { task: index });
      }
      worker.disconnect();
      await eventually(() => !holder.gateway.io.of('/v1/lead-finder').sockets.has(id), 5000, 'the holder to see the disconnect');
      for (const node of nodes) {
        const reply = await node.request('POST', '/lead-finder/scrape_task', { socketId: id, payload: {} });
        assert.equal(reply.status, 404);
        assert.equal(reply.body.code, 'NOT_FOUND');
      }
      assert.equal(got.length, nodes.length, 'each call reached the worker exactly once');
    });

    it("fans a conversation message out to participants on different nodes, with each one's own fields", async () => {
      // The nodes share one embedded database (one DATA_DIR), as nodes share one PostgreSQL in production.
      await nodes[0]!.gateway.store.importDocuments({
        users: [
          { _id: 'p1', name: 'Pat' },
          { _id: 'p2', name: 'Sam' },
        ],
        contacts: [{ _id: 'k1', name: 'John Doe' }],
        conversationprospects: [{ _id: 'cv1', contact_id: 'k1', users: ['p1', 'p2'], unread_count: { p2: 4 } }],
        communications: [{ _id: 'm1', type: 'OUTGOING', data: 'Hi', sent_by: 'p1', conversation_id: ['cv1'], createdAt: '2025-10-13T10:30:00.000Z' }],
      });
      const p1 = await nodes[0]!.connectUser('p1');
      const p2 = await nodes.at(-1)!.connectUser('p2');
      for (const node of nodes) {
        const arrivals = Promise.all([nextEvent(p1, 'prospect_message'), nextEvent(p2, 'prospect_message')]);
        const reply = await node.request('GET', '/conversations/prospect/emit/message/m1');
        assertSent(reply.body, 2, ['p1', 'p2']);
        const [toSender, toOther] = (await arrivals) as { is_sender: boolean; conversation_id: string }[];
        assert.deepEqual([toSender!.is_sender, toOther!.is_sender], [true, false]);
        assert.equal(toOther!.conversation_id, 'cv1');
      }
      const conversations = Promise.all([nextEvent(p1, 'prospect_add_conversation'), nextEvent(p2, 'prospect_add_conversation')]);
      await nodes[0]!.request('GET', '/conversations/prospect/emit/conversation/cv1/new');
      const counts = ((await conversations) as { unread_count: number }[]).map((c) => c.unread_count);
      assert.deepEqual(counts, [0, 4]);
    });
  });

  describe(`cluster bus conformance: ${impl.name} rate limits`, { skip: impl.skip, timeout: 60_000 }, () => {
    let nodes: TestGateway[] = [];
    const env: Record<string, string> = { ...impl.env(), RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW_MS: '60000' };
    before(async () => {
      nodes = await startNodes(impl.nodes, env);
    });
    after(async () => {
      await Promise.all(nodes.map((node) => node.close()));
    });

    it('counts one limit across all nodes, not one per node', async () => {
      const statuses: number[] = [];
      for (let call = 0; call < 6; call++) {
        const node = nodes[call % nodes.length]!;
        statuses.push((await node.request('POST', '/emit/someone/ping', {})).status);
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
      const keys = await storedKeys(env);
      if (env.REDIS_URL)
        assert.ok(
          keys.some((key) => key.includes('rate-limit')),
          'the counts live in Redis',
        );
      for (const key of keys) assert.ok(!key.includes(API_KEY), `no API key in a shared store key (${key})`);
    });
  });
}
