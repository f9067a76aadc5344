/**
 * Revocation: `POST /users/:userId/revoke-tokens` (every token of a user issued before now) and
 * `POST /tokens/revoke` (one token by its jti) disconnect the sockets holding such tokens at once,
 * on every node of a Redis cluster, and such tokens are refused at handshakes and refreshes from then
 * on, after a restart too. Real gateways, real Redis, stock socket.io-clients.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import { createClient } from '../src/client/index.js';
import { cli } from './support/cli.js';
import { API_KEY, JWT_SECRET, collect, eventually, startGateway, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

/** Seconds since 1970, `ago` seconds back: tokens "issued before" a revocation made now. */
const secondsAgo = (ago: number): number => Math.floor(Date.now() / 1000) - ago;

/** Connects with `token`; resolves with the socket and what the gateway tells it. */
async function connectWith(gw: TestGateway, userId: string, token: string) {
  const socket = await gw.connectUser(userId, { auth: { token } });
  const reasons = collect(socket, 'disconnect_reason') as { code: string; message: string }[];
  return { socket, reasons };
}

/** The code of the connect_error `token` gets, or 'connected'. */
function handshake(url: string, token: string): Promise<string> {
  return import('socket.io-client').then(
    ({ io }) =>
      new Promise((resolve) => {
        const socket: Socket = io(`${url}/v1/shared`, { auth: { token }, forceNew: true, reconnection: false, transports: ['websocket'] });
        socket.once('connect', () => {
          socket.disconnect();
          resolve('connected');
        });
        socket.once('connect_error', (error: Error & { data?: { code: string } }) => {
          socket.disconnect();
          resolve(error.data?.code ?? error.message);
        });
      }),
  );
}

/** A token without `iat`, which no revocation can tell apart from an old one. */
const tokenWithoutIat = (userId: string): Promise<string> =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));

describe('revoking a user’s tokens (standalone)', () => {
  let gw: TestGateway;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gs-revocation-'));
    gw = await startGateway({ DATA_DIR: dataDir });
  });
  after(() => gw.close());

  it('disconnects the user’s sockets at once, with a reason, and leaves other users alone', async () => {
    const old = await gw.token('revoked-alice', { issuedAt: secondsAgo(10) });
    const phone = await connectWith(gw, 'revoked-alice', old);
    const laptop = await connectWith(gw, 'revoked-alice', await gw.token('revoked-alice', { issuedAt: secondsAgo(5) }));
    const bob = await connectWith(gw, 'bystander-bob', await gw.token('bystander-bob', { issuedAt: secondsAgo(10) }));

    const reply = await gw.request('POST', '/users/revoked-alice/revoke-tokens');
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.sockets, 2);
    assert.ok(Date.parse(reply.body.revokedAt) <= Date.now() && Date.parse(reply.body.revokedAt) > Date.now() - 5000, reply.body.revokedAt);
    await eventually(() => !phone.socket.connected && !laptop.socket.connected, 5000, 'both sockets disconnected');
    for (const { reasons } of [phone, laptop])
      assert.deepEqual(
        reasons.map((r) => r.code),
        ['TOKEN_REVOKED'],
      );
    assert.ok(bob.socket.connected, 'another user keeps his socket');

    assert.equal(await handshake(gw.url, old), 'TOKEN_REVOKED', 'the old token is refused at the handshake');
    assert.equal(await handshake(gw.url, await tokenWithoutIat('revoked-alice')), 'TOKEN_REVOKED', 'a token without iat counts as old');
    assert.equal(await handshake(gw.url, await tokenWithoutIat('bystander-bob')), 'connected', 'without a revocation, a token without iat is fine');
    assert.equal(await handshake(gw.url, await gw.token('revoked-alice')), 'connected', 'a token issued from now on is accepted');
  });

  it('refuses a revoked token at a refresh', async () => {
    const fresh = await connectWith(gw, 'refresh-carol', await gw.token('refresh-carol', { issuedAt: secondsAgo(1) }));
    const stale = await gw.token('refresh-carol', { issuedAt: secondsAgo(30) });
    // Revoked before the socket connected... of a token issued even earlier than the socket's.
    await gw.request('POST', '/users/refresh-carol/revoke-tokens');
    await eventually(() => !fresh.socket.connected, 5000, 'the socket with a token issued before now is disconnected');
    const socket = await gw.connectUser('refresh-carol', { auth: { token: await gw.token('refresh-carol') } });
    const answer = await socket.timeout(10_000).emitWithAck('token_refresh', { token: stale });
    assert.deepEqual([answer.ok, answer.code], [false, 'TOKEN_REVOKED']);
    assert.ok(socket.connected, 'a refused refresh keeps the socket on its current token');
  });

  it('revokes one token by its jti, and only that one', async () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const stolen = await gw.token('jti-dave', { jti: 'stolen-token-1' });
    const thief = await connectWith(gw, 'jti-dave', stolen);
    const owner = await connectWith(gw, 'jti-dave', await gw.token('jti-dave', { jti: 'good-token-2' }));
    const reply = await gw.request('POST', '/tokens/revoke', { jti: 'stolen-token-1', exp });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.sockets, 1);
    assert.equal(Date.parse(reply.body.keptUntil), exp * 1000, 'kept until the token’s own exp');
    await eventually(() => !thief.socket.connected, 5000, 'the stolen token’s socket disconnected');
    assert.deepEqual(
      thief.reasons.map((r) => r.code),
      ['TOKEN_REVOKED'],
    );
    assert.ok(owner.socket.connected, 'the user’s other token is not revoked');
    assert.equal(await handshake(gw.url, stolen), 'TOKEN_REVOKED');
  });

  it('refuses bad revocations with 400, naming the field', async () => {
    const cases: [unknown, RegExp][] = [
      [{ jti: '', exp: 1 }, /body\.jti/],
      [{ jti: 'x'.repeat(257), exp: 1 }, /body\.jti/],
      [{ jti: 'a', exp: 1.5 }, /body\.exp/],
      [{ jti: 'a' }, /exp/],
    ];
    for (const [body, message] of cases) {
      const reply = await gw.request('POST', '/tokens/revoke', body);
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.match(reply.body.message, message);
    }
    assert.equal((await gw.request('POST', '/users/a%20b/revoke-tokens')).status, 400);
  });

  it('survives a restart: the revocations are kept in DATA_DIR', async () => {
    const old = await gw.token('restart-erin', { issuedAt: secondsAgo(10) });
    const jtiExp = Math.floor(Date.now() / 1000) + 3600;
    const byJti = await gw.token('restart-frank', { jti: 'frank-1' });
    assert.equal((await gw.request('POST', '/users/restart-erin/revoke-tokens')).status, 200);
    assert.equal((await gw.request('POST', '/tokens/revoke', { jti: 'frank-1', exp: jtiExp })).status, 200);
    await gw.close();
    gw = await startGateway({ DATA_DIR: dataDir });
    assert.equal(await handshake(gw.url, old), 'TOKEN_REVOKED');
    assert.equal(await handshake(gw.url, byJti), 'TOKEN_REVOKED');
    assert.equal(await handshake(gw.url, await gw.token('restart-erin')), 'connected');
  });

  it('keeps a jti no longer than TOKEN_REVOCATION_TTL_SECONDS, nor than its token', async () => {
    const short = await startGateway({ TOKEN_REVOCATION_TTL_SECONDS: '60' });
    try {
      const far = await short.request('POST', '/tokens/revoke', { jti: 'far-future', exp: secondsAgo(-86_400) });
      assert.equal(far.status, 200);
      assert.ok(Date.parse(far.body.keptUntil) <= Date.now() + 61_000, `kept until ${far.body.keptUntil}: the TTL bounds it`);
      const past = await short.request('POST', '/tokens/revoke', { jti: 'long-gone', exp: secondsAgo(10) });
      assert.equal(past.status, 200);
      assert.ok(Date.parse(past.body.keptUntil) < Date.now(), 'a token expired already needs no keeping');
    } finally {
      await short.close();
    }
  });
});

describe('revoking from the SDK and the command line', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('the SDK revokes a user’s tokens and a jti', async () => {
    const client = createClient({ baseUrl: gw.url, apiKey: API_KEY });
    const socket = await connectWith(gw, 'sdk-alice', await gw.token('sdk-alice', { issuedAt: secondsAgo(10), jti: 'sdk-1' }));
    const byJti = await client.revokeToken('sdk-1', secondsAgo(-600));
    assert.equal(byJti.sockets, 1);
    await eventually(() => !socket.socket.connected, 5000, 'disconnected');
    const byUser = await client.revokeUserTokens('sdk-alice');
    assert.equal(byUser.sockets, 0);
    assert.match(byUser.revokedAt, /^\d{4}-\d\d-\d\dT/);
    await assert.rejects(client.revokeToken('sdk-1', 1.5), /exp must be/);
  });

  it('general-socket revoke user|token', async () => {
    const env = { GENERAL_SOCKET_URL: gw.url, INTERNAL_API_KEY: API_KEY };
    const socket = await connectWith(gw, 'cli-bob', await gw.token('cli-bob', { issuedAt: secondsAgo(10) }));
    const user = await cli(['revoke', 'user', 'cli-bob'], env);
    assert.equal(user.code, 0, user.stderr);
    assert.match(user.stdout, /Revoked the tokens of user cli-bob issued before .*; disconnected 1 socket\./);
    await eventually(() => !socket.socket.connected, 5000, 'disconnected');
    const token = await cli(['revoke', 'token', 'cli-jti', '--exp', String(secondsAgo(-60)), '--json'], env);
    assert.equal(token.code, 0, token.stderr);
    assert.equal(JSON.parse(token.stdout).sockets, 0);
    const usage = await cli(['revoke', 'token', 'cli-jti'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--exp must be/);
  });
});

describe('revoking in a Redis cluster', { skip: !redisUp && 'Redis is not running' }, () => {
  let prefix: string;
  let nodes: TestGateway[] = [];
  const start = async (): Promise<TestGateway[]> => {
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix };
    nodes = [await startGateway(env), await startGateway(env)];
    return nodes;
  };
  before(async () => {
    prefix = uniquePrefix();
    await start();
  });
  after(() => Promise.all(nodes.map((node) => node.close())));

  it('disconnects the user’s sockets on every node at once, and every node refuses the old token', async () => {
    const [a, b] = nodes as [TestGateway, TestGateway];
    const old = await a.token('cluster-alice', { issuedAt: secondsAgo(10) });
    const onA = await connectWith(a, 'cluster-alice', old);
    const onB = await connectWith(b, 'cluster-alice', old);
    const reply = await a.request('POST', '/users/cluster-alice/revoke-tokens');
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.sockets, 2, 'one socket on each node');
    assert.equal(reply.body.partial, undefined);
    await eventually(() => !onA.socket.connected && !onB.socket.connected, 5000, 'both nodes disconnected their socket');
    assert.deepEqual(
      [...onA.reasons, ...onB.reasons].map((r) => r.code),
      ['TOKEN_REVOKED', 'TOKEN_REVOKED'],
    );
    assert.equal(await handshake(b.url, old), 'TOKEN_REVOKED', 'the other node refuses it too');
    assert.equal(await handshake(b.url, await b.token('cluster-alice')), 'connected');
  });

  it('revokes a jti through one node on a socket of another', async () => {
    const [a, b] = nodes as [TestGateway, TestGateway];
    const token = await a.token('cluster-bob', { jti: 'cluster-bob-1' });
    const onA = await connectWith(a, 'cluster-bob', token);
    const reply = await b.request('POST', '/tokens/revoke', { jti: 'cluster-bob-1', exp: Math.floor(Date.now() / 1000) + 600 });
    assert.equal(reply.body.sockets, 1);
    await eventually(() => !onA.socket.connected, 5000, 'the socket on the other node disconnected');
    assert.equal(await handshake(a.url, token), 'TOKEN_REVOKED');
  });

  it('survives a restart of every node: the revocations are kept in Redis', async () => {
    const old = await nodes[0]!.token('cluster-carol', { issuedAt: secondsAgo(10) });
    assert.equal((await nodes[1]!.request('POST', '/users/cluster-carol/revoke-tokens')).status, 200);
    await Promise.all(nodes.map((node) => node.close()));
    const [a, b] = await start();
    assert.equal(await handshake(a!.url, old), 'TOKEN_REVOKED');
    assert.equal(await handshake(b!.url, old), 'TOKEN_REVOKED');
  });
});
