/**
 * Recovery with stock socket.io-clients: a client that loses its connection, or reconnects to a
 * restarted gateway or to another node, receives every event addressed to its user that it missed,
 * in order, exactly once, before newer ones; `auth.since` replays after a stored position; a position
 * the stream no longer holds gets the gap event.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type Socket } from 'socket.io-client';
import { JWT_SECRET, eventually, startGateway, type TestGateway } from './support/gateway.js';
import { Redis } from 'ioredis';
import { mintToken } from '../src/auth/tokens.js';
import { SHARED_REDIS_URL, pingRedis, startPrivateRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

/** Every `event` a socket receives, with the position it came with. */
function record(socket: Socket, event: string): { data: unknown; position: unknown }[] {
  const seen: { data: unknown; position: unknown }[] = [];
  socket.on(event, (data: unknown, position: unknown) => seen.push({ data, position }));
  return seen;
}

async function userSocket(gw: TestGateway, userId: string, auth: Record<string, unknown> = {}): Promise<Socket> {
  const socket = connect(`${gw.url}/v1/shared`, {
    auth: { token: await mintToken(JWT_SECRET, userId), ...auth },
    forceNew: true,
    transports: ['websocket'],
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
  });
  await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
  return socket;
}

describe('recovery', () => {
  const gateways: TestGateway[] = [];
  const sockets: Socket[] = [];
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    for (const gw of gateways) await gw.close();
  });

  it('a client whose transport drops receives what was emitted meanwhile, in order, once, and is recovered', async () => {
    const gw = await startGateway();
    gateways.push(gw);
    const socket = await userSocket(gw, 'u1');
    sockets.push(socket);
    const seen = record(socket, 'n');
    const first = await gw.request('POST', '/emit/u1/n', { i: 0 });
    assert.equal(first.status, 200);
    await eventually(() => seen.length === 1, 5000, 'first event');
    assert.equal(seen[0]?.position, first.body.positions.u1);

    // The server side closes the connection: the client reconnects by itself.
    const reconnected = new Promise<void>((resolve) => socket.io.once('reconnect', () => resolve()));
    for (const s of gw.gateway.io.of('/v1/shared').sockets.values()) s.conn.close();
    for (let i = 1; i <= 20; i++) assert.equal((await gw.request('POST', '/emit/u1/n', { i })).status, 200);
    await reconnected;
    await eventually(() => seen.length >= 21, 5000, 'replay');
    for (let i = 21; i <= 25; i++) assert.equal((await gw.request('POST', '/emit/u1/n', { i })).status, 200);
    await eventually(() => seen.length >= 26, 5000, 'live after replay');
    assert.deepEqual(
      seen.map((e) => (e.data as { i: number }).i),
      Array.from({ length: 26 }, (_, i) => i),
    );
    assert.equal(socket.recovered, true);
  });

  it('since replays after a position, with live events going on, without a gap or a duplicate', async () => {
    const gw = await startGateway({ HISTORY_SIZE: '1000' });
    gateways.push(gw);
    const positions: string[] = [];
    for (let i = 0; i < 50; i++) positions.push((await gw.request('POST', '/emit/u2/n', { i })).body.positions.u2);
    const live = (async () => {
      for (let i = 50; i < 100; i++) await gw.request('POST', '/emit/u2/n', { i });
    })();
    const socket = connect(`${gw.url}/v1/shared`, {
      auth: { token: await mintToken(JWT_SECRET, 'u2'), since: positions[9] },
      forceNew: true,
      transports: ['websocket'],
    });
    sockets.push(socket);
    const seen = record(socket, 'n');
    await live;
    await eventually(() => seen.length >= 90, 5000, 'replay and live');
    assert.deepEqual(
      seen.map((e) => (e.data as { i: number }).i),
      Array.from({ length: 90 }, (_, i) => i + 10),
    );
  });

  it('a position older than what is kept gets the gap event, then what is still kept, then live events', async () => {
    const gw = await startGateway({ HISTORY_SIZE: '5' });
    gateways.push(gw);
    const first = (await gw.request('POST', '/emit/u3/n', { i: 0 })).body.positions.u3;
    for (let i = 1; i < 10; i++) await gw.request('POST', '/emit/u3/n', { i });
    const socket = connect(`${gw.url}/v1/shared`, {
      auth: { token: await mintToken(JWT_SECRET, 'u3'), since: first },
      forceNew: true,
      transports: ['websocket'],
    });
    sockets.push(socket);
    const gaps = record(socket, 'stream_gap');
    const seen = record(socket, 'n');
    await eventually(() => gaps.length === 1, 5000, 'gap');
    const gap = gaps[0]?.data as Record<string, unknown>;
    assert.equal(gap.reason, 'trimmed');
    assert.equal(gap.requested, first);
    // What is still kept (the last 5) follows the gap event, then live events.
    await eventually(() => seen.length === 5, 5000, 'what is kept');
    assert.equal(gap.oldest, seen[0]?.position);
    assert.equal(gap.newest, seen[4]?.position);
    // The gap event's own position is the one just before the oldest kept.
    assert.equal(gaps[0]?.position, `${(gap.oldest as string).split(':')[0]}:${Number((gap.oldest as string).split(':')[1]) - 1}`);
    await gw.request('POST', '/emit/u3/n', { i: 10 });
    await eventually(() => seen.length === 6, 5000, 'live');
    assert.deepEqual(
      seen.map((e) => (e.data as { i: number }).i),
      [5, 6, 7, 8, 9, 10],
    );
  });
});

describe('recovery with streams in Redis', { skip: !redisUp && 'Redis is not running', timeout: 60_000 }, () => {
  const gateways: TestGateway[] = [];
  const sockets: Socket[] = [];
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    for (const gw of gateways) await gw.close();
  });

  it('a stream wiped since the position (another epoch) gets the gap event with reason epoch', async () => {
    const prefix = uniquePrefix();
    const gw = await startGateway({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix });
    gateways.push(gw);
    const before = (await gw.request('POST', '/emit/wiped/n', { i: 0 })).body.positions.wiped;
    const redis = new Redis(SHARED_REDIS_URL);
    try {
      assert.equal(await redis.del(`${prefix}:stream:{wiped}`, `${prefix}:stream-meta:{wiped}`), 2, 'the stream lived in Redis');
    } finally {
      redis.disconnect();
    }
    const after = (await gw.request('POST', '/emit/wiped/n', { i: 1 })).body.positions.wiped;
    const socket = connect(`${gw.url}/v1/shared`, {
      auth: { token: await mintToken(JWT_SECRET, 'wiped'), since: before },
      forceNew: true,
      transports: ['websocket'],
    });
    sockets.push(socket);
    // Listening before the connection is made: the gap event comes right after it.
    const gaps = record(socket, 'stream_gap');
    const seen = record(socket, 'n');
    await eventually(() => gaps.length === 1, 5000, 'gap');
    assert.deepEqual(gaps[0]?.data, { reason: 'epoch', requested: before, oldest: after, newest: after });
    await gw.request('POST', '/emit/wiped/n', { i: 2 });
    await eventually(() => seen.length === 2, 5000, 'what the new stream keeps, then live');
    assert.deepEqual(
      seen.map((e) => e.data),
      [{ i: 1 }, { i: 2 }],
    );
  });

  it('while Redis is away emits answer 503 and send nothing; the client retries, and a Redis restarted empty is a gap, not a silent loss', async () => {
    const redis = await startPrivateRedis();
    const gw = await startGateway({ REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), CLUSTER_TIMEOUT_MS: '500' });
    gateways.push(gw);
    try {
      const socket = await userSocket(gw, 'outage');
      sockets.push(socket);
      const seen = record(socket, 'n');
      const gaps = record(socket, 'stream_gap');
      assert.equal((await gw.request('POST', '/emit/outage/n', { i: 0 })).status, 200);
      await eventually(() => seen.length === 1, 5000, 'the first event');

      await redis.stop();
      const refused = await gw.request('POST', '/emit/outage/n', { i: 1 });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.code, 'STREAMS_UNAVAILABLE');
      assert.equal(refused.headers.get('retry-after'), '1');
      // The connection drops while the store is away: reconnects cannot settle where to resume, so the
      // client keeps retrying instead of being refused for good.
      const dropped = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
      for (const s of gw.gateway.io.of('/v1/shared').sockets.values()) s.conn.close();
      await dropped;
      await eventually(() => socket.io.engine !== undefined && !socket.connected, 2000, 'a failed reconnect');

      await redis.start();
      await eventually(() => socket.connected, 20_000, 'the client to reconnect once Redis is back');
      await eventually(() => gaps.length === 1, 5000, 'the gap event');
      assert.equal((gaps[0]?.data as { reason?: string } | undefined)?.reason, 'epoch');
      assert.equal((await gw.request('POST', '/emit/outage/n', { i: 2 })).status, 200);
      await eventually(() => seen.length === 2, 5000, 'live after the gap');
      assert.deepEqual(
        seen.map((e) => e.data),
        [{ i: 0 }, { i: 2 }],
        'the refused event was never sent',
      );
    } finally {
      await redis.stop();
    }
  });
});
