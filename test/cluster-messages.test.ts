/**
 * The messages gateway nodes send each other, between two real gateways and a third node on the
 * same Redis that speaks the protocol by hand: a bare Socket.IO server with the Redis adapter, as a
 * gateway of another version would be. It sends raw envelopes to the gateways, and answers theirs
 * as told, so both sides of a version mismatch are seen from outside.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { API_KEY, assertSent, collect, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

/** The server-side event every message travels on: a contract between versions, so written out here. */
const MESSAGE_EVENT = 'general-socket:message';

type Reply = (reply: unknown) => void;

describe('cluster messages between nodes of different versions', { skip: !redisUp && 'Redis is not running', timeout: 60_000 }, () => {
  const prefix = uniquePrefix();
  let a: TestGateway;
  let b: TestGateway;
  let redis: Redis[] = [];
  let other: Server;
  /** How the hand-written node answers the gateways' messages; by default as a gateway with nobody connected. */
  let answer: (envelope: { type: string }, reply: Reply) => void;
  /** A deliver message's answer is a count per delivery (version 2). */
  const asCurrentNode = (envelope: { type: string }, reply: Reply): void =>
    reply({ ok: true, answer: envelope.type === 'figures' ? { users: 0, sockets: {} } : (envelope as unknown as { body: unknown[] }).body.map(() => 0) });

  /** Sends `envelope` from the hand-written node and resolves with the gateways' replies. */
  const sendRaw = (envelope: unknown): Promise<unknown[]> =>
    new Promise((resolve, reject) => {
      other.of('/').serverSideEmit(MESSAGE_EVENT, envelope, (error: Error | null, replies: unknown[]) => (error ? reject(error) : resolve(replies)));
    });

  const metrics = async (gw: TestGateway): Promise<string> => (await fetch(`${gw.url}/metrics`, { headers: { 'x-api-key': API_KEY } })).text();

  before(async () => {
    // Broadcast: the hand-written node is not in the user directory (as a node of a version before
    // it), so only asking every node reaches it; README says to upgrade such a cluster this way.
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, CLUSTER_TIMEOUT_MS: '3000', CLUSTER_ROUTING: 'broadcast' };
    [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
    const pub = new Redis(SHARED_REDIS_URL);
    redis = [pub, pub.duplicate()];
    other = new Server({ adapter: createAdapter(redis[0], redis[1], { key: prefix, requestsTimeout: 3000 }) });
    answer = asCurrentNode;
    other.of('/').on(MESSAGE_EVENT, (envelope: { type: string }, reply: Reply) => answer(envelope, reply));
    // Nodes count each other from Redis's subscriber lists: wait until this one counts both gateways.
    await eventually(async () => (await sendRaw({ type: 'figures', version: 1, body: null })).length === 2, 10_000, 'the hand-written node to join');
    assert.deepEqual(await sendRaw({ type: 'figures', version: 1, body: null }), [
      { ok: true, answer: { users: 0, sockets: { '/v1/shared': 0, '/v1/lead-finder': 0 } } },
      { ok: true, answer: { users: 0, sockets: { '/v1/shared': 0, '/v1/lead-finder': 0 } } },
    ]);
  });
  after(async () => {
    // Not other.close(): a server without an HTTP server has no engine to close.
    await other?.of('/').adapter.close();
    for (const client of redis) client.disconnect();
    await Promise.all([a, b].filter(Boolean).map((gw) => gw.close()));
  });

  it('acts on a message of its version and type, as documented on the wire', async () => {
    const alice = await a.connectUser('alice');
    const arrival = nextEvent(alice, 'hello');
    const replies = await sendRaw({
      type: 'deliver',
      version: 2,
      body: [
        { to: 'users', userIds: ['alice'], event: 'hello', data: { from: 'another node' } },
        { to: 'users', userIds: ['nobody'], event: 'hello', data: {} },
      ],
    });
    assert.deepEqual(
      replies.sort((x, y) => (x as { answer: number[] }).answer[0]! - (y as { answer: number[] }).answer[0]!),
      [
        { ok: true, answer: [0, 0] },
        { ok: true, answer: [1, 0] },
      ],
    );
    assert.deepEqual(await arrival, { from: 'another node' });
    alice.disconnect();
  });

  it('refuses what it cannot read, with an answer and a count, and acts on none of it', async () => {
    const bob = await a.connectUser('bob');
    const got = collect(bob, 'stolen');
    const deliver = [{ to: 'users', userIds: ['bob'], event: 'stolen', data: 1 }];
    const refusals: [unknown, string][] = [
      [{ type: 'deliver', version: 3, body: deliver }, 'newer-version'],
      // Version 1 answered one count for all deliveries; its sender could not read today's answer.
      [{ type: 'deliver', version: 1, body: deliver }, 'older-version'],
      [{ type: 'no-such-message', version: 1, body: { userId: 'bob' } }, 'unknown-type'],
      [{ type: 'deliver', version: 2, body: [{ to: 'everyone', event: 'stolen', data: 1 }] }, 'invalid-body'],
      [{ type: 'deliver', version: 0, body: deliver }, 'malformed'],
      // The delivery tuple of the gateway before messages had versions.
      [[['users', ['user:bob'], 'stolen', 1]], 'malformed'],
      ['deliver', 'malformed'],
    ];
    for (const [envelope, reason] of refusals) {
      assert.deepEqual(
        await sendRaw(envelope),
        [
          { ok: false, refused: reason },
          { ok: false, refused: reason },
        ],
        JSON.stringify(envelope),
      );
    }
    // Nothing was delivered: a marker sent after them arrives, and nothing before it.
    const marker = nextEvent(bob, 'marker');
    await a.request('POST', '/emit/bob/marker', {});
    await marker;
    assert.deepEqual(got, []);

    for (const gw of [a, b]) {
      const text = await metrics(gw);
      assert.match(text, /^general_socket_cluster_messages_refused_total\{type="deliver",reason="newer-version"\} 1$/m);
      assert.match(text, /^general_socket_cluster_messages_refused_total\{type="deliver",reason="older-version"\} 1$/m);
      assert.match(text, /^general_socket_cluster_messages_refused_total\{type="unknown",reason="unknown-type"\} 1$/m);
      assert.match(text, /^general_socket_cluster_messages_refused_total\{type="deliver",reason="invalid-body"\} 1$/m);
      assert.match(text, /^general_socket_cluster_messages_refused_total\{type="deliver",reason="malformed"\} 1$/m);
      assert.match(text, /^general_socket_cluster_messages_refused_total\{type="unknown",reason="malformed"\} 2$/m);
    }
    // A sender that asks for no answer is refused the same way, without crashing anything.
    other.of('/').serverSideEmit(MESSAGE_EVENT, { type: 'deliver', version: 9, body: deliver });
    assert.equal((await a.request('GET', '/readyz')).status, 200);
    bob.disconnect();
  });

  it('counts only answers it can read: a node that refuses makes the report partial, and nothing is counted twice', async () => {
    const carol = [await a.connectUser('carol'), await b.connectUser('carol')];
    try {
      // A node of a newer version that no longer reads this one's messages: it did nothing.
      answer = (_envelope, reply) => reply({ ok: false, refused: 'older-version' });
      const arrivals = Promise.all(carol.map((socket) => nextEvent(socket, 'news')));
      assertSent((await a.request('POST', '/emit/carol/news', { n: 1 })).body, 2, ['carol'], { partial: true });
      await arrivals;
      // The refusing node may hold the scraper, but did not send it anything: safe to retry.
      const refused = await a.request('POST', '/lead-finder/task', { socketId: 'on-the-other-node', payload: {} });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.code, 'SERVICE_UNAVAILABLE');
      const stats = await b.request('GET', '/stats');
      assert.equal(stats.body.nodes, 2);
      assert.equal(stats.body.partial, true);
    } finally {
      answer = asCurrentNode;
    }
  });

  it('does not trust an answer it cannot read: the report is partial, and the delivery unconfirmed', async () => {
    const dave = [await a.connectUser('dave'), await b.connectUser('dave')];
    // What a node of another version might answer: an object of another shape, a bare number as the
    // gateway answered before messages had versions, a count that cannot be one.
    // A bare count per message is what version 1 answered.
    for (const unreadable of [{ ok: true, answer: { sockets: 5 } }, 5, { ok: true, answer: [-1] }, { ok: true, answer: 1 }, { ok: true, answer: [1, 1] }]) {
      try {
        answer = (_envelope, reply) => reply(unreadable);
        const arrivals = Promise.all(dave.map((socket) => nextEvent(socket, 'news')));
        assertSent((await b.request('POST', '/emit/dave/news', {})).body, 2, ['dave'], { partial: true, unconfirmed: true });
        await arrivals;
        // It may have sent the task to a scraper it holds: a retry could deliver it twice.
        const unconfirmed = await b.request('POST', '/lead-finder/task', { socketId: 'on-the-other-node', payload: {} });
        assert.equal(unconfirmed.status, 504);
        assert.equal(unconfirmed.body.code, 'DELIVERY_UNCONFIRMED');
        const stats = await a.request('GET', '/stats');
        assert.equal(stats.body.nodes, 2);
        assert.equal(stats.body.partial, true);
      } finally {
        answer = asCurrentNode;
      }
    }
    // Answered like a current node again: complete.
    assertSent((await a.request('POST', '/emit/dave/news', {})).body, 2, ['dave']);
  });
});
