import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type Socket } from 'socket.io-client';
import { CLIENT_PACKET_MAX_DEPTH, MAX_REFUSED_PER_CONNECTION } from '../src/socket-limits.js';
import { collect, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { nestedArrays, openPolling, openRaw } from './support/raw-socket.js';

type ConnectError = Error & { data?: { code?: string } };

/** Connects a socket.io-client to `namespace`; resolves with the socket or the connect_error. */
function attempt(url: string, namespace: string, auth: Record<string, unknown>, extraHeaders: Record<string, string> = {}): Promise<Socket | ConnectError> {
  const socket = connect(url + namespace, { auth, extraHeaders, forceNew: true, reconnection: false, transports: ['websocket'] });
  return new Promise((resolve) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => {
      socket.disconnect();
      resolve(error as ConnectError);
    });
  });
}

const isError = (value: Socket | ConnectError): value is ConnectError => value instanceof Error;

describe('what a Socket.IO client may send', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('accepts small messages only, and says so in the handshake', async () => {
    const raw = await openRaw(gw.url);
    assert.equal(raw.maxPayload, 16 * 1024);
    // A 990 KB CONNECT to an unknown namespace was answered with its name echoed back.
    raw.send(`0/${'x'.repeat(20_000)},{}`);
    assert.equal(await raw.closed, 1009, 'closed as too large');
    assert.equal(raw.packets.length, 0, 'nothing echoed');
  });

  it('closes a connection that keeps sending CONNECTs to unknown namespaces', async () => {
    const raw = await openRaw(gw.url);
    for (let i = 0; i < 50; i++) raw.send(`0/unknown-${i},{}`);
    await raw.closed;
    const refusals = raw.packets.filter((packet) => packet.startsWith('4/unknown-'));
    assert.match(refusals[0]!, /Invalid namespace/);
    assert.ok(
      refusals.length >= MAX_REFUSED_PER_CONNECTION && refusals.length <= MAX_REFUSED_PER_CONNECTION + 1,
      `refused up to the bound, then closed (${refusals.length} answers)`,
    );
  });

  it('tells the sockets of such a connection why it is closed', async () => {
    const raw = await openRaw(gw.url);
    raw.send(`0/v1/shared,${JSON.stringify({ token: await gw.token('prober') })}`);
    await raw.received((packet) => packet.startsWith('0/v1/shared,'));
    for (let i = 0; i < MAX_REFUSED_PER_CONNECTION + 1; i++) raw.send(`0/unknown-${i},{}`);
    const [reason] = await raw.received((packet) => packet.startsWith('2/v1/shared,["disconnect_reason"'));
    assert.match(reason!, /TOO_MANY_REFUSED.*refused CONNECTs/);
    await raw.received((packet) => packet === '1/v1/shared,');
    await raw.closed;
  });

  it('disconnects a user who keeps sending events nobody listens to, saying why', async () => {
    const socket = await gw.connectUser('chatty');
    const reason = nextEvent(socket, 'disconnect_reason');
    const disconnected = new Promise((resolve) => socket.once('disconnect', resolve));
    for (let i = 0; i < MAX_REFUSED_PER_CONNECTION + 1; i++) socket.emit('typing', { i });
    const { code, message } = (await reason) as { code: string; message: string };
    assert.equal(code, 'TOO_MANY_REFUSED');
    assert.match(message, /events nobody listens to/);
    assert.equal(await disconnected, 'io server disconnect', 'a stock client does not reconnect by itself');
    await eventually(() => gw.gateway.io.of('/v1/shared').sockets.size === 0, 3000, 'socket to leave');
  });

  it('lets a user send a few stray events and stay connected', async () => {
    const socket = await gw.connectUser('polite');
    for (let i = 0; i < MAX_REFUSED_PER_CONNECTION; i++) socket.emit('typing', { i });
    const arrival = nextEvent(socket, 'still-there');
    assert.equal((await gw.request('POST', '/emit/polite/still-there', { ok: true })).body.sockets, 1);
    assert.deepEqual(await arrival, { ok: true });
    assert.equal(socket.connected, true);
  });

  it(`closes a connection whose packet nests deeper than ${CLIENT_PACKET_MAX_DEPTH} levels, and keeps serving others`, async () => {
    const bystander = await gw.connectUser('bystander');
    const raw = await openRaw(gw.url);
    raw.send(`0/v1/shared,${JSON.stringify({ token: await gw.token('deep') })}`);
    await raw.received((packet) => packet.startsWith('0/v1/shared,'));
    raw.send(`2/v1/shared,["x",${nestedArrays(5000)}]`);
    await raw.closed;
    const arrival = nextEvent(bystander, 'after');
    assert.equal((await gw.request('POST', '/emit/bystander/after', { ok: true })).body.sockets, 1);
    assert.deepEqual(await arrival, { ok: true });
  });

  it('refuses an acknowledgement the gateway never asked for', async () => {
    const raw = await openRaw(gw.url);
    raw.send(`0/v1/shared,${JSON.stringify({ token: await gw.token('acker') })}`);
    await raw.received((packet) => packet.startsWith('0/v1/shared,'));
    raw.send('3/v1/shared,0[{"forged":true}]');
    await raw.closed;
  });

  it('gives one socket per namespace to racing CONNECTs on one connection', async () => {
    // One long-polling request carries all eight CONNECTs: the server reads them together.
    const polling = await openPolling(gw.url);
    const connectPacket = `0/v1/shared,${JSON.stringify({ token: await gw.token('racer') })}`;
    assert.equal(await polling.post(Array<string>(8).fill(connectPacket)), 200);
    const answers: string[] = [];
    while (answers.filter((packet) => packet.startsWith('0/v1/shared,') || packet.startsWith('4/v1/shared,')).length < 8)
      answers.push(...(await polling.poll()));
    assert.equal(answers.filter((packet) => packet.startsWith('0/v1/shared,')).length, 1, 'one CONNECT accepted');
    const refused = answers.filter((packet) => packet.startsWith('4/v1/shared,'));
    assert.equal(refused.length, 7);
    assert.match(refused[0]!, /NAMESPACE_ALREADY_JOINED/);
    assert.equal(gw.gateway.io.of('/v1/shared').adapter.rooms.get('user:racer')?.size, 1);

    // Each emit goes down the connection once, and /stats counts one socket.
    assert.equal((await gw.request('POST', '/emit/racer/ping', { n: 1 })).body.sockets, 1);
    assert.equal((await gw.request('POST', '/emit/racer/marker', {})).body.sockets, 1);
    const delivered: string[] = [];
    while (!delivered.some((packet) => packet.startsWith('2/v1/shared,["marker"'))) delivered.push(...(await polling.poll()));
    assert.equal(delivered.filter((packet) => packet.startsWith('2/v1/shared,["ping"')).length, 1);
    assert.equal((await gw.request('GET', '/stats')).body.sockets['/v1/shared'], gw.gateway.io.of('/v1/shared').sockets.size);
    await polling.post(['1/v1/shared,']);
  });

  it('lets a connection join a namespace again once its socket there is gone', async () => {
    const raw = await openRaw(gw.url);
    const connectPacket = `0/v1/shared,${JSON.stringify({ token: await gw.token('rejoiner') })}`;
    raw.send(connectPacket);
    await raw.received((packet) => packet.startsWith('0/v1/shared,'));
    raw.send('1/v1/shared,');
    await eventually(() => gw.gateway.io.of('/v1/shared').adapter.rooms.get('user:rejoiner') === undefined, 3000, 'socket to leave');
    raw.send(connectPacket);
    await raw.received((packet) => packet.startsWith('0/v1/shared,'), 2);
    raw.close();
  });
});

describe('SOCKET_MAX_MESSAGE_BYTES', () => {
  it('sets the largest message a client may send', async () => {
    const gw = await startGateway({ SOCKET_MAX_MESSAGE_BYTES: '65536' });
    try {
      const raw = await openRaw(gw.url);
      assert.equal(raw.maxPayload, 65536);
      // A 40 KB token (too large for the default) reaches the token check and is refused there.
      raw.send(`0/v1/shared,${JSON.stringify({ token: 'x'.repeat(40_000) })}`);
      const [refused] = await raw.received((packet) => packet.startsWith('4/v1/shared,'));
      assert.match(refused!, /TOKEN_INVALID/);
      raw.close();
    } finally {
      await gw.close();
    }
  });
});

describe('SOCKET_HANDSHAKES_PER_MINUTE', () => {
  it('refuses connections past the limit per address with HANDSHAKE_RATE_LIMITED, then refuses the handshake', async () => {
    const gw = await startGateway({ SOCKET_HANDSHAKES_PER_MINUTE: '3' });
    try {
      const token = await gw.token('often');
      const results = [];
      for (let i = 0; i < 7; i++) results.push(await attempt(gw.url, '/v1/shared', { token }));
      const [first, second, third, fourth, , , seventh] = results;
      for (const allowed of [first, second, third]) assert.ok(allowed && !isError(allowed), 'the first three connect');
      assert.ok(fourth && isError(fourth));
      assert.equal(fourth.data?.code, 'HANDSHAKE_RATE_LIMITED');
      assert.match(fourth.message, /at most 3 per minute; retry in \d+ s/);
      assert.ok(seventh && isError(seventh) && seventh.data === undefined, 'past twice the limit, no session is opened at all');
      for (const socket of results) if (!isError(socket!)) socket!.disconnect();
      await eventually(() => gw.gateway.io.engine.clientsCount === 0, 3000, 'refused connections to close');
    } finally {
      await gw.close();
    }
  });

  it('counts each client behind a trusted proxy by its own address', async () => {
    const gw = await startGateway({ SOCKET_HANDSHAKES_PER_MINUTE: '1', TRUST_PROXY: '127.0.0.1' });
    try {
      const token = await gw.token('proxied');
      const first = await attempt(gw.url, '/v1/shared', { token }, { 'x-forwarded-for': '203.0.113.1' });
      const other = await attempt(gw.url, '/v1/shared', { token }, { 'x-forwarded-for': '203.0.113.2' });
      const again = await attempt(gw.url, '/v1/shared', { token }, { 'x-forwarded-for': '203.0.113.1' });
      assert.ok(!isError(first) && !isError(other), 'two clients, one connection each');
      assert.ok(isError(again) && again.data?.code === 'HANDSHAKE_RATE_LIMITED');
      // One host usually holds a whole IPv6 /64: its addresses share one budget.
      const v6 = await attempt(gw.url, '/v1/shared', { token }, { 'x-forwarded-for': '2001:db8:0:1::1' });
      const sameNetwork = await attempt(gw.url, '/v1/shared', { token }, { 'x-forwarded-for': '2001:db8:0:1:ffff::2' });
      assert.ok(!isError(v6));
      assert.ok(isError(sameNetwork) && sameNetwork.data?.code === 'HANDSHAKE_RATE_LIMITED');
      for (const socket of [first, other, v6]) (socket as Socket).disconnect();
    } finally {
      await gw.close();
    }
  });

  it('does not let a client choose its address without TRUST_PROXY', async () => {
    const gw = await startGateway({ SOCKET_HANDSHAKES_PER_MINUTE: '1' });
    try {
      const token = await gw.token('spoofer');
      const first = await attempt(gw.url, '/v1/shared', { token }, { 'x-forwarded-for': '203.0.113.1' });
      const second = await attempt(gw.url, '/v1/shared', { token }, { 'x-forwarded-for': '203.0.113.2' });
      assert.ok(!isError(first));
      assert.ok(isError(second) && second.data?.code === 'HANDSHAKE_RATE_LIMITED');
      first.disconnect();
    } finally {
      await gw.close();
    }
  });
});

describe('refusals that already held', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('closes a connection that sends an event to a namespace it has not joined', async () => {
    const raw = await openRaw(gw.url);
    raw.send('2/v1/shared,["hello"]');
    await raw.closed;
  });

  it('closes a connection that sends a malformed packet', async () => {
    const raw = await openRaw(gw.url);
    raw.send(`0/v1/shared,${JSON.stringify({ token: await gw.token('garbler') })}`);
    await raw.received((packet) => packet.startsWith('0/v1/shared,'));
    raw.send('2/v1/shared,["unterminated"');
    await raw.closed;
    assert.equal(gw.gateway.io.of('/v1/shared').adapter.rooms.get('user:garbler'), undefined);
  });

  it('relays nothing a client sends back to clients', async () => {
    const socket = await gw.connectUser('listener');
    const received = collect(socket, 'echo');
    socket.emit('echo', 'from the client');
    const marker = nextEvent(socket, 'marker');
    await gw.request('POST', '/emit/listener/marker', {});
    await marker;
    assert.deepEqual(received, [], 'the gateway relays nothing a client sends');
  });
});
