import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { io as connect } from 'socket.io-client';
import { JWT_SECRET, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';

/** Connects to /v1/shared with `auth` and resolves with the connect_error, or rejects on connect. */
function refusal(url: string, auth: Record<string, unknown>): Promise<Error & { data?: { code?: string } }> {
  const socket = connect(`${url}/v1/shared`, { auth, forceNew: true, reconnection: false, transports: ['websocket'] });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.disconnect();
      reject(new Error('connected, but should have been refused'));
    });
    socket.once('connect_error', (error) => {
      socket.disconnect();
      resolve(error as Error & { data?: { code?: string } });
    });
  });
}

const sign = (claims: Record<string, unknown>, key: Uint8Array | import('node:crypto').KeyObject, alg = 'HS256') =>
  new SignJWT(claims).setProtectedHeader({ alg }).sign(key);
const secret = new TextEncoder().encode(JWT_SECRET);
const inOneHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('/v1/shared with HS256 tokens', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('puts every socket of user X in room user:X', async () => {
    const socket = await gw.connectUser('64user123abc');
    const nsp = gw.gateway.io.of('/v1/shared');
    await eventually(() => nsp.adapter.rooms.get('user:64user123abc')?.has(socket.id!) === true, 2000, 'room join');
  });

  it('refuses a missing token, saying how to authenticate', async () => {
    const error = await refusal(gw.url, {});
    assert.match(error.message, /Authentication required/);
    assert.equal(error.data?.code, 'TOKEN_MISSING');
  });

  it('refuses a forged token (wrong secret)', async () => {
    const forged = await sign({ sub: 'mallory', exp: inOneHour() }, new TextEncoder().encode('not-the-secret-at-all-0123456789'));
    const error = await refusal(gw.url, { token: forged });
    assert.match(error.message, /Invalid token: bad signature/);
    assert.equal(error.data?.code, 'TOKEN_INVALID');
  });

  it('refuses an expired token, saying it expired', async () => {
    const expired = await sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 10 }, secret);
    const error = await refusal(gw.url, { token: expired });
    assert.match(error.message, /Token expired/);
    assert.equal(error.data?.code, 'TOKEN_EXPIRED');
  });

  it('refuses a token without exp or without sub, and garbage', async () => {
    assert.match((await refusal(gw.url, { token: await sign({ sub: 'alice' }, secret) })).message, /"exp" claim/);
    assert.match((await refusal(gw.url, { token: await sign({ exp: inOneHour() }, secret) })).message, /"sub" claim/);
    assert.match((await refusal(gw.url, { token: 'not.a.jwt' })).message, /not a well-formed JWT/);
    assert.match((await refusal(gw.url, { token: { $ne: 1 } })).message, /Authentication required/);
  });

  it('refuses an unsigned (alg: none) token', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'alice', exp: inOneHour() })).toString('base64url');
    const error = await refusal(gw.url, { token: `${header}.${body}.` });
    assert.equal(error.data?.code, 'TOKEN_INVALID');
  });

  it('refuses clients on the main namespace, which needs no credentials', async () => {
    const socket = connect(`${gw.url}/`, { forceNew: true, reconnection: false, transports: ['websocket'] });
    const error = await new Promise<Error & { data?: { code?: string } }>((resolve, reject) => {
      socket.once('connect', () => reject(new Error('connected to /')));
      socket.once('connect_error', resolve);
    });
    socket.disconnect();
    assert.equal(error.data?.code, 'NAMESPACE_FORBIDDEN');
    assert.match(error.message, /Connect to \/v1\/shared/);
    assert.equal(gw.gateway.io.of('/').sockets.size, 0);
  });

  it('leaves nothing behind after a refusal: no socket, no room, no open connection', async () => {
    await eventually(() => gw.gateway.io.engine.clientsCount === 0 || gw.gateway.io.of('/v1/shared').sockets.size > 0, 3000);
    const before = gw.gateway.io.of('/v1/shared').sockets.size;
    const beforeClients = gw.gateway.io.engine.clientsCount;
    // A client that ignores the refusal and keeps its transport open is closed by the server.
    const socket = connect(`${gw.url}/v1/shared`, { auth: { token: 'bad' }, forceNew: true, reconnection: false, transports: ['websocket'] });
    await new Promise((resolve) => socket.once('connect_error', resolve));
    await eventually(() => gw.gateway.io.engine.clientsCount === beforeClients, 3000, 'engine connection to close');
    assert.equal(gw.gateway.io.of('/v1/shared').sockets.size, before);
    assert.equal([...gw.gateway.io.of('/v1/shared').adapter.rooms.keys()].filter((room) => room === 'user:bad').length, 0);
    socket.disconnect();
  });
});

describe('/v1/shared with issuer and audience', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ JWT_ISSUER: 'https://auth.example', JWT_AUDIENCE: 'general-socket' });
  });
  after(() => gw.close());

  it('accepts a token with the configured iss and aud, refuses others', async () => {
    const good = await gw.token('alice', { issuer: 'https://auth.example', audience: 'general-socket' });
    const socket = connect(`${gw.url}/v1/shared`, { auth: { token: good }, forceNew: true, reconnection: false, transports: ['websocket'] });
    await new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(undefined));
      socket.once('connect_error', reject);
    });
    socket.disconnect();
    assert.match((await refusal(gw.url, { token: await gw.token('alice', { issuer: 'https://evil.example', audience: 'general-socket' }) })).message, /"iss" claim/);
    assert.match((await refusal(gw.url, { token: await gw.token('alice', { issuer: 'https://auth.example' }) })).message, /"aud" claim/);
  });
});

for (const [alg, options] of [
  ['RS256', { type: 'rsa', modulusLength: 2048 }],
  ['ES256', { type: 'ec', namedCurve: 'P-256' }],
] as const) {
  describe(`/v1/shared with ${alg} tokens (JWT_PUBLIC_KEY)`, () => {
    const { publicKey, privateKey } =
      options.type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: options.modulusLength }) : generateKeyPairSync('ec', { namedCurve: options.namedCurve });
    let gw: TestGateway;
    before(async () => {
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      // Escaped newlines, as an env file would carry them.
      gw = await startGateway({ JWT_SECRET: '', JWT_PUBLIC_KEY: pem.replace(/\n/g, '\\n') });
    });
    after(() => gw.close());

    it('accepts a token signed with the private key and delivers to it', async () => {
      const token = await sign({ sub: 'dana', exp: inOneHour() }, privateKey, alg);
      const socket = connect(`${gw.url}/v1/shared`, { auth: { token }, forceNew: true, reconnection: false, transports: ['websocket'] });
      await new Promise((resolve, reject) => {
        socket.once('connect', () => resolve(undefined));
        socket.once('connect_error', reject);
      });
      const arrival = nextEvent(socket, 'hello');
      await gw.request('POST', '/emit/dana/hello', { ok: true });
      assert.deepEqual(await arrival, { ok: true });
      socket.disconnect();
    });

    it('refuses an HS256 token signed with the public key as a secret (algorithm confusion)', async () => {
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const token = await sign({ sub: 'dana', exp: inOneHour() }, new TextEncoder().encode(pem));
      const error = await refusal(gw.url, { token });
      assert.equal(error.data?.code, 'TOKEN_INVALID');
    });
  });
}
