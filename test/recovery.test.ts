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
import { mintToken } from '../src/auth/tokens.js';

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

  it('a position older than what is kept gets the gap event, then live events', async () => {
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
    assert.equal(gaps[0]?.position, gap.newest);
    await gw.request('POST', '/emit/u3/n', { i: 10 });
    await eventually(() => seen.length === 1, 5000, 'live');
    assert.deepEqual(seen[0]?.data, { i: 10 });
  });
});
