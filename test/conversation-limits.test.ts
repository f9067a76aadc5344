/**
 * A conversation event costs N payloads of N users' documents: CONVERSATION_MAX_USERS and
 * EMIT_MAX_BYTES bound what one request may send, standalone and on a Redis cluster, where one
 * oversized publish used to make Redis drop every node's subscription while the caller heard 200.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { ImportBatch, UserDocument } from '../src/store/store.js';
import { assertSent, collect, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

/** `count` users u0, u1, ... with a document of about 160 bytes each. */
const users = (count: number): UserDocument[] =>
  Array.from({ length: count }, (_, n) => ({ _id: `u${n}`, name: `User ${n}`, email: `u${n}@example.com`, bio: 'b'.repeat(100) }));
const ids = (count: number): string[] => Array.from({ length: count }, (_, n) => `u${n}`);

describe('a conversation too large to send', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ CONVERSATION_MAX_USERS: '50', EMIT_MAX_BYTES: '65536' });
    const batch: ImportBatch = {
      users: users(60),
      conversationprospects: [
        { _id: 'crowd', users: ids(51) },
        { _id: 'heavy', users: ids(50) },
        { _id: 'fits', users: ids(10) },
      ],
      communications: [
        { _id: 'short', type: 'OUTGOING', sent_by: 'u0', conversation_id: ['heavy'], data: 'Hi all' },
        { _id: 'long', type: 'OUTGOING', sent_by: 'u0', conversation_id: ['heavy'], data: 'x'.repeat(2000) },
      ],
    };
    await gw.gateway.store.importDocuments(batch);
  });
  after(() => gw.close());

  it('refuses, before sending anything, a conversation with more users than CONVERSATION_MAX_USERS or payloads past EMIT_MAX_BYTES', async () => {
    const first = await gw.connectUser('u0');
    const second = await gw.connectUser('u1');
    const got = [collect(first, 'prospect_add_conversation'), collect(second, 'prospect_add_conversation'), collect(first, 'prospect_message')];

    const crowd = await gw.request('GET', '/conversations/prospect/emit/conversation/crowd/new');
    assert.equal(crowd.status, 413);
    assert.equal(crowd.body.code, 'EMIT_TOO_LARGE');
    assert.equal(crowd.body.message, 'Conversation "crowd" has 51 users; a conversation is sent to at most 50 (CONVERSATION_MAX_USERS)');

    // 50 users, each receiving the 50 users' documents: about 400 KB in all.
    const heavy = await gw.request('GET', '/conversations/prospect/emit/conversation/heavy/new');
    assert.equal(heavy.status, 413);
    assert.equal(heavy.body.code, 'EMIT_TOO_LARGE');
    assert.match(
      heavy.body.message,
      /^Conversation "heavy" would send \d{6} bytes \(50 payloads\); one request may send at most 65536 bytes \(EMIT_MAX_BYTES\)$/,
    );

    // A message costs one small payload per participant; a long one, 50 times 2 KB.
    assert.equal((await gw.request('GET', '/conversations/prospect/emit/message/short')).status, 200);
    const long = await gw.request('GET', '/conversations/prospect/emit/message/long');
    assert.equal(long.status, 413);
    assert.match(long.body.message, /^Message "long" would send \d+ bytes \(50 payloads\); one request may send at most 65536 bytes \(EMIT_MAX_BYTES\)$/);

    const fits = await gw.request('GET', '/conversations/prospect/emit/conversation/fits/new');
    assertSent(fits.body, 2, ids(10));
    // The refused events were not kept in the streams either: u0's holds the short message, then this.
    assert.match(fits.body.positions.u0, /:2$/);
    const markers = Promise.all([nextEvent(first, 'marker'), nextEvent(second, 'marker')]);
    await gw.request('POST', '/emit/notification', { userIds: ['u0', 'u1'], data: null });
    await gw.request('POST', '/emit/marker', { userIds: ['u0', 'u1'], data: {} });
    await markers;
    // Only the conversation that fits and the short message arrived.
    assert.deepEqual(
      got.map((events) => events.map((payload) => (payload as { _id: string })._id)),
      [['fits'], ['fits'], ['short']],
    );
  });
});

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

describe('a large conversation on a Redis cluster', { skip: !redisUp && 'Redis is not running', timeout: 60_000 }, () => {
  const prefix = uniquePrefix();
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    // The users bound raised, so that the bytes bound is what stands between Redis and 40 MB.
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, CONVERSATION_MAX_USERS: '1000' };
    [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
    await a.gateway.store.importDocuments({
      users: users(500),
      conversationprospects: [
        { _id: 'all-hands', users: ids(500) },
        // u10 to u59: nobody another test connects; u<n> has n unread messages.
        { _id: 'team', users: ids(60).slice(10), unread_count: Object.fromEntries(ids(60).map((id, n) => [id, n])) },
      ],
    });
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('refuses what would be a 40 MB publish (past Redis pub/sub limits) and the bus keeps carrying events', async () => {
    const remote = await b.connectUser('u1');
    const got = collect(remote, 'prospect_add_conversation');
    const reply = await a.request('GET', '/conversations/prospect/emit/conversation/all-hands/new');
    assert.equal(reply.status, 413, JSON.stringify(reply.body));
    assert.equal(reply.body.code, 'EMIT_TOO_LARGE');
    assert.match(
      reply.body.message,
      /^Conversation "all-hands" would send \d{8} bytes \(500 payloads\); one request may send at most 4194304 bytes \(EMIT_MAX_BYTES\)$/,
    );
    const marker = nextEvent(remote, 'marker');
    assertSent((await a.request('POST', '/emit/u1/marker', {})).body, 1, ['u1']);
    await marker;
    assert.deepEqual(got, []);
    assert.equal((await a.request('GET', '/readyz')).status, 200);
    assert.equal((await b.request('GET', '/readyz')).status, 200);
  });
  it("sends what all recipients share across Redis once, beside each one's own fields", async () => {
    // 50 users, each receiving the 50 users' documents (about 8 KB) and their own unread count.
    const remote = await Promise.all([b.connectUser('u14'), b.connectUser('u15')]);
    const local = await a.connectUser('u16');
    const arrivals = Promise.all([...remote, local].map((socket) => nextEvent(socket, 'prospect_add_conversation')));
    const listener = new Redis(SHARED_REDIS_URL);
    let published = 0;
    listener.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => {
      published += message.length;
    });
    try {
      await listener.psubscribe(`${prefix}*`);
      const reply = await a.request('GET', '/conversations/prospect/emit/conversation/team/existing');
      assertSent(reply.body, 3, ids(60).slice(10));
      const received = (await arrivals) as { _id: string; users: unknown[]; unread_count: number }[];
      assert.deepEqual(
        received.map((payload) => [payload._id, payload.users.length, payload.unread_count]),
        [
          ['team', 50, 14],
          ['team', 50, 15],
          ['team', 50, 16],
        ],
      );
      const common = Buffer.byteLength(JSON.stringify(received[0]!.users));
      // 50 payloads would be 50 times that; once, plus 50 ids and counts, is well under twice.
      assert.ok(published > common && published < 2 * common, `published ${published} bytes for ${common} bytes of users`);
    } finally {
      listener.disconnect();
    }
  });
});
