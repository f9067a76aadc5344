/**
 * `JWT_JWKS_URL`: user tokens verified with the keys an identity provider publishes, fetched once and
 * cached, and rotated without a restart. The provider is a local HTTP server that rotates its key.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { io } from 'socket.io-client';
import { eventually, startGateway, type TestGateway } from './support/gateway.js';

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwk: Record<string, unknown>;
}

async function signingKey(kid: string, alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const tokenFor = (key: SigningKey, userId: string): Promise<string> =>
  new SignJWT({})
    .setProtectedHeader({ alg: key.jwk.alg as string, kid: key.kid })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(key.privateKey);

/** The identity provider: serves the keys it holds now, and counts the fetches. */
class Provider {
  keys: SigningKey[] = [];
  fetches = 0;
  private readonly server: Server = createServer((_request, response) => {
    this.fetches++;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys.map((key) => key.jwk) }));
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The connect_error code `token` gets on `/v1/shared`, or 'connected'. */
function handshake(url: string, token: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = io(`${url}/v1/shared`, { auth: { token }, forceNew: true, reconnection: false, transports: ['websocket'] });
    socket.once('connect', () => {
      socket.disconnect();
      resolve('connected');
    });
    socket.once('connect_error', (error: Error & { data?: { code: string } }) => {
      socket.disconnect();
      resolve(error.data?.code ?? error.message);
    });
  });
}

describe('JWT_JWKS_URL', () => {
  const provider = new Provider();
  let first: SigningKey;
  let second: SigningKey;
  let gw: TestGateway;
  before(async () => {
    [first, second] = await Promise.all([signingKey('key-2025-01', 'RS256'), signingKey('key-2025-02', 'ES256')]);
    provider.keys = [first];
    const url = await provider.listen();
    gw = await startGateway({ JWT_SECRET: '', JWT_JWKS_URL: url, JWT_JWKS_COOLDOWN_MS: '0' });
  });
  after(async () => {
    await gw.close();
    await provider.close();
  });

  it('accepts tokens signed with a published key, fetching the set once', async () => {
    for (const user of ['jwks-a', 'jwks-b', 'jwks-c']) assert.equal(await handshake(gw.url, await tokenFor(first, user)), 'connected');
    assert.equal(provider.fetches, 1, 'the set is cached');
  });

  it('refuses tokens it cannot verify: another signer, or an HS256 token', async () => {
    const stranger = await signingKey('key-2025-01', 'RS256');
    assert.equal(await handshake(gw.url, await tokenFor(stranger, 'jwks-mallory')), 'TOKEN_INVALID', 'same kid, other key: bad signature');
    assert.equal(await handshake(gw.url, await gw.token('jwks-mallory')), 'TOKEN_INVALID', 'a shared-secret token is not accepted');
  });

  it('picks up a rotated key without a restart', async () => {
    assert.equal(await handshake(gw.url, await tokenFor(second, 'jwks-rotated')), 'TOKEN_INVALID', 'not published yet');
    provider.keys = [first, second];
    assert.equal(await handshake(gw.url, await tokenFor(second, 'jwks-rotated')), 'connected', 'a token with the new kid fetches the set again');
    // And a refresh over a connected socket takes the new key too.
    const socket = await gw.connectUser('jwks-rotated', { auth: { token: await tokenFor(first, 'jwks-rotated') } });
    const answer = await socket.timeout(10_000).emitWithAck('token_refresh', { token: await tokenFor(second, 'jwks-rotated') });
    assert.equal(answer.ok, true, JSON.stringify(answer));
  });

  it('leaves the console nothing to sign tokens with: POST /console/token answers 403', async () => {
    const reply = await gw.request('POST', '/console/token', { userId: 'jwks-console' });
    assert.equal(reply.status, 403);
    assert.match(reply.body.message, /JWT_JWKS_URL/);
  });

  it('stops accepting a key the provider removed, once the cached set is older than JWT_JWKS_MAX_AGE_MS', async () => {
    provider.keys = [first, second];
    const short = await startGateway({ JWT_SECRET: '', JWT_JWKS_URL: gw.gateway.config.jwtJwksUrl, JWT_JWKS_MAX_AGE_MS: '1000' });
    try {
      const old = await tokenFor(first, 'jwks-retired');
      assert.equal(await handshake(short.url, old), 'connected');
      provider.keys = [second];
      await eventually(async () => (await handshake(short.url, old)) === 'TOKEN_INVALID', 15_000, 'the removed key refused');
      assert.equal(await handshake(short.url, await tokenFor(second, 'jwks-retired')), 'connected');
    } finally {
      await short.close();
    }
  });
});
