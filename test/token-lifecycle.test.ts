/**
 * A user token holds for the life of its socket: the socket is warned (`token_expiring`) before the
 * token expires, may send a fresh token (`token_refresh`, acknowledged) and stays, or is told why
 * (`disconnect_reason` TOKEN_EXPIRED) and disconnected. Stock socket.io-clients, short-lived tokens.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'socket.io-client';
import { collect, eventually, startGateway, type TestGateway } from './support/gateway.js';

type Warning = { expiresAt: string; secondsLeft: number };
type Reason = { code: string; message: string };
type RefreshAnswer = { ok: true; expiresAt: string } | { ok: false; code: string; message: string };

/** Connects `userId` with a token of `ttlSeconds` and records what the gateway tells it. */
// A token with more life left than the warning time when it connects (5 s against 2 here): one already
// inside it is warned at once, as it connects, which can be before collect() below listens on a busy machine.
async function connectFor(gw: TestGateway, userId: string, ttlSeconds: number) {
  const token = await gw.token(userId, { ttlSeconds });
  const socket = await gw.connectUser(userId, { auth: { token } });
  const warnings = collect(socket, 'token_expiring') as Warning[];
  const reasons = collect(socket, 'disconnect_reason') as Reason[];
  const disconnects: string[] = [];
  socket.on('disconnect', (reason) => disconnects.push(reason));
  return { socket, token, warnings, reasons, disconnects };
}

const refresh = (socket: Socket, payload: unknown): Promise<RefreshAnswer> => socket.timeout(10_000).emitWithAck('token_refresh', payload);

describe('a token that expires on a connected socket', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ TOKEN_EXPIRY_WARNING_SECONDS: '2' });
  });
  after(() => gw.close());

  it('warns the socket, then tells it why and disconnects it', async () => {
    const alice = await connectFor(gw, 'expiring-alice', 5);
    await eventually(() => alice.warnings.length > 0, 10_000, 'token_expiring');
    const [warning] = alice.warnings;
    const exp = JSON.parse(Buffer.from(alice.token.split('.')[1]!, 'base64url').toString()).exp as number;
    assert.equal(warning!.expiresAt, new Date(exp * 1000).toISOString(), 'the warning names the token’s exp');
    assert.ok(warning!.secondsLeft >= 0 && warning!.secondsLeft <= 2, `secondsLeft ${warning!.secondsLeft} is within the warning time`);
    assert.ok(alice.socket.connected, 'still connected when warned');

    await eventually(() => alice.disconnects.length > 0, 10_000, 'the disconnect');
    assert.equal(alice.reasons.length, 1);
    assert.equal(alice.reasons[0]!.code, 'TOKEN_EXPIRED');
    assert.match(alice.reasons[0]!.message, /^Token expired/);
    assert.deepEqual(alice.disconnects, ['io server disconnect'], 'a stock client does not reconnect by itself');
    assert.ok(Date.now() / 1000 >= exp, 'not before the token expired');
  });

  it('keeps a socket that sends a fresh token, which misses no event, while one that does not is disconnected', async () => {
    const refreshed = await connectFor(gw, 'refreshing-bob', 5);
    const lapsed = await connectFor(gw, 'lapsing-carol', 5);
    const received = collect(refreshed.socket, 'notification');

    await eventually(() => refreshed.warnings.length > 0, 10_000, 'token_expiring');
    assert.equal((await gw.request('POST', '/emit/refreshing-bob/notification', { n: 1 })).body.sockets, 1);
    const answer = await refresh(refreshed.socket, { token: await gw.token('refreshing-bob', { ttlSeconds: 3600 }) });
    assert.equal(answer.ok, true, JSON.stringify(answer));
    assert.ok(answer.ok && Date.parse(answer.expiresAt) > Date.now() + 3000_000, 'the acknowledgement names the new expiry');
    assert.equal((await gw.request('POST', '/emit/refreshing-bob/notification', { n: 2 })).body.sockets, 1);

    // The socket that did not refresh shows the first token's time is up.
    await eventually(() => lapsed.reasons.length > 0, 10_000, 'the lapsed socket’s disconnect_reason');
    assert.equal(lapsed.reasons[0]!.code, 'TOKEN_EXPIRED');
    assert.ok(refreshed.socket.connected, 'the refreshed socket stays');
    assert.deepEqual(refreshed.reasons, []);
    assert.equal((await gw.request('POST', '/emit/refreshing-bob/notification', { n: 3 })).body.sockets, 1);
    await eventually(() => received.length === 3, 5000, 'three notifications');
    assert.deepEqual(received, [{ n: 1 }, { n: 2 }, { n: 3 }], 'before, during and after the refresh, in order');
  });

  it('refuses a fresh token that is not good, in the acknowledgement, and keeps the old one', async () => {
    const dave = await connectFor(gw, 'refusing-dave', 3600);
    const expired = await gw.token('refusing-dave', { ttlSeconds: -60 });
    const cases: [unknown, string][] = [
      [{ token: await gw.token('someone-else') }, 'TOKEN_USER_MISMATCH'],
      [{ token: expired }, 'TOKEN_EXPIRED'],
      [{ token: 'not-a-jwt' }, 'TOKEN_INVALID'],
      [{}, 'TOKEN_MISSING'],
      ['a bare string', 'TOKEN_MISSING'],
    ];
    for (const [payload, code] of cases) {
      const answer = await refresh(dave.socket, payload);
      assert.equal(answer.ok, false, JSON.stringify(payload));
      assert.equal(!answer.ok && answer.code, code, JSON.stringify(answer));
      assert.ok(!answer.ok && answer.message.length > 0);
    }
    assert.ok(dave.socket.connected, 'a refused refresh leaves the socket as it was');
    assert.equal((await gw.request('POST', '/emit/refusing-dave/ping', {})).body.sockets, 1);
  });

  it('takes a refresh without an acknowledgement too, and cannot be imitated by a backend', async () => {
    const erin = await connectFor(gw, 'silent-erin', 3);
    erin.socket.emit('token_refresh', { token: await gw.token('silent-erin', { ttlSeconds: 3600 }) });
    const lapsed = await connectFor(gw, 'lapsing-frank', 3);
    await eventually(() => lapsed.reasons.length > 0, 10_000, 'the lapsed socket’s disconnect_reason');
    assert.ok(erin.socket.connected, 'refreshed without an acknowledgement');
    for (const event of ['token_expiring', 'token_refresh']) {
      const reply = await gw.request('POST', `/emit/silent-erin/${event}`, {});
      assert.equal(reply.status, 400, `${event} is reserved: ${JSON.stringify(reply.body)}`);
    }
  });
});

describe('TOKEN_EXPIRY_WARNING_SECONDS=0', () => {
  it('sends no warning, and still disconnects at expiry', async () => {
    const gw = await startGateway({ TOKEN_EXPIRY_WARNING_SECONDS: '0' });
    try {
      const grace = await connectFor(gw, 'unwarned-grace', 2);
      await eventually(() => grace.reasons.length > 0, 10_000, 'disconnect_reason');
      assert.equal(grace.reasons[0]!.code, 'TOKEN_EXPIRED');
      assert.deepEqual(grace.warnings, []);
    } finally {
      await gw.close();
    }
  });
});
