import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { io as connect } from 'socket.io-client';
import { JWT_SECRET, admits, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';

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
    assert.match(
      (await refusal(gw.url, { token: await gw.token('alice', { issuer: 'https://evil.example', audience: 'general-socket' }) })).message,
      /"iss" claim/,
    );
    assert.match((await refusal(gw.url, { token: await gw.token('alice', { issuer: 'https://auth.example' }) })).message, /"aud" claim/);
  });
});

for (const [alg, options] of [
  ['RS256', { type: 'rsa', modulusLength: 2048 }],
  ['ES256', { type: 'ec', namedCurve: 'P-256' }],
] as const) {
  describe(`/v1/shared with ${alg} tokens (JWT_PUBLIC_KEY)`, () => {
    const { publicKey, privateKey } =
      options.type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: options.modulusLength })
        : generateKeyPairSync('ec', { namedCurve: options.namedCurve });
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

/** An HS256 JWT over a payload written as raw JSON text (for numbers JSON.stringify cannot write). */
function rawHs256(header: string, payload: string, key: string | Uint8Array = JWT_SECRET): string {
  const signingInput = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`;
}

/** Whether /v1/shared lets in a socket presenting `token`. */
const accepted = (url: string, token: string): Promise<boolean> => admits(url, '/v1/shared', { token });

describe('/v1/shared token claims the REST API relies on', () => {
  let gw: TestGateway;
  before(async () => {
    // Room for a 20,000-character sub in the CONNECT packet.
    gw = await startGateway({ SOCKET_MAX_MESSAGE_BYTES: '65536' });
  });
  after(() => gw.close());

  it('refuses a sub that is not an id the REST API can address', async () => {
    for (const sub of ['two words', 'nul\u0000byte', 'tab\there', 'x'.repeat(129), 'y'.repeat(20_000)]) {
      const error = await refusal(gw.url, { token: await sign({ sub, exp: inOneHour() }, secret) });
      assert.equal(error.data?.code, 'TOKEN_INVALID', JSON.stringify(sub.slice(0, 20)));
      assert.match(error.message, /the "sub" claim must be a user id of 1 to 128 characters without whitespace or control characters/);
    }
  });

  it('accepts a sub of 128 characters, counted as the REST API counts them', async () => {
    assert.equal(await accepted(gw.url, await sign({ sub: 'a'.repeat(128), exp: inOneHour() }, secret)), true);
    // 128 characters of 2 UTF-16 units each.
    assert.equal(await accepted(gw.url, await sign({ sub: '😀'.repeat(128), exp: inOneHour() }, secret)), true);
  });

  it('refuses an exp that is no date (a token that would never expire)', async () => {
    for (const exp of ['1e308', '1e400', '253402300800']) {
      const error = await refusal(gw.url, { token: rawHs256('{"alg":"HS256"}', `{"sub":"alice","exp":${exp}}`) });
      assert.equal(error.data?.code, 'TOKEN_INVALID', exp);
      assert.match(error.message, /the "exp" claim must be a date/);
    }
  });

  it('refuses an iat in the future, within a small clock tolerance', async () => {
    const now = Math.floor(Date.now() / 1000);
    const error = await refusal(gw.url, { token: await sign({ sub: 'alice', exp: now + 7200, iat: now + 3600 }, secret) });
    assert.equal(error.data?.code, 'TOKEN_INVALID');
    assert.match(error.message, /the "iat" claim is in the future/);
    assert.equal(await accepted(gw.url, await sign({ sub: 'alice', exp: now + 7200, iat: now + 30 }, secret)), true, 'a clock 30 s ahead is tolerated');
  });

  it('refuses tokens signed with another HMAC algorithm, or with their signature removed', async () => {
    const hs512 = await sign({ sub: 'alice', exp: inOneHour() }, secret, 'HS512');
    assert.match((await refusal(gw.url, { token: hs512 })).message, /algorithm this gateway does not accept/);
    const [header, payload] = (await sign({ sub: 'alice', exp: inOneHour() }, secret)).split('.');
    assert.equal((await refusal(gw.url, { token: `${header}.${payload}.` })).data?.code, 'TOKEN_INVALID');
    assert.equal((await refusal(gw.url, { token: `${header}.${payload}` })).data?.code, 'TOKEN_INVALID');
  });

  it('refuses alg none in any spelling, and an RS256 token where HS256 is configured', async () => {
    const body = Buffer.from(JSON.stringify({ sub: 'alice', exp: inOneHour() })).toString('base64url');
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
      assert.equal((await refusal(gw.url, { token: `${header}.${body}.` })).data?.code, 'TOKEN_INVALID', alg);
    }
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs256 = await sign({ sub: 'alice', exp: inOneHour() }, privateKey, 'RS256');
    assert.match((await refusal(gw.url, { token: rs256 })).message, /algorithm this gateway does not accept/);
  });
});

describe('/v1/shared with RS256 tokens: forged and expired', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ JWT_SECRET: '', JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
  });
  after(() => gw.close());

  it('refuses a token signed with another private key', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const error = await refusal(gw.url, { token: await sign({ sub: 'dana', exp: inOneHour() }, other, 'RS256') });
    assert.match(error.message, /bad signature/);
  });

  it('refuses an expired token, and an alg none token', async () => {
    assert.equal(
      (await refusal(gw.url, { token: await sign({ sub: 'dana', exp: Math.floor(Date.now() / 1000) - 10 }, privateKey, 'RS256') })).data?.code,
      'TOKEN_EXPIRED',
    );
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'dana', exp: inOneHour() })).toString('base64url');
    assert.equal((await refusal(gw.url, { token: `${header}.${body}.` })).data?.code, 'TOKEN_INVALID');
  });
});
