import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { errorCodes } from 'fastify';
import { SignJWT, generateKeyPair } from 'jose';
import { io as connectSocket } from 'socket.io-client';
import { errorRegistry, httpErrorTable, socketErrorRegistry, socketErrorTable } from '../src/errors.js';
import { toGatewayError } from '../src/http/error-handler.js';
import { API_KEY, SCRAPER_KEY, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { openRaw } from './support/raw-socket.js';

/** A token signed with a key of its own (RS256), as an identity provider behind a JWKS signs. */
async function rs256Token(userId: string): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  return new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject(userId).setIssuedAt().setExpirationTime('1h').sign(privateKey);
}

/** Every failure must have the seed's shape plus a stable code. */
function assertError(reply: { status: number; body: any }, status: number, code: string, message?: RegExp): void {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.equal(reply.body.success, false);
  assert.equal(reply.body.errno, status);
  assert.equal(reply.body.code, code);
  assert.equal(typeof reply.body.message, 'string');
  if (message) assert.match(reply.body.message, message);
}

describe('errors and bad input', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ BODY_LIMIT_BYTES: '1024' });
  });
  after(() => gw.close());

  it('answers unknown routes with 404 NOT_FOUND', async () => {
    assertError(await gw.request('GET', '/nope'), 404, 'NOT_FOUND', /No route GET \/nope/);
    assertError(await gw.request('POST', '/emit'), 404, 'NOT_FOUND');
  });

  it('answers a wrong method with 405 and an Allow header', async () => {
    const reply = await gw.request('GET', '/emit/alice/notification');
    assertError(reply, 405, 'METHOD_NOT_ALLOWED', /use POST/);
    assert.equal(reply.headers.get('allow'), 'POST');
    assertError(await gw.request('DELETE', '/lead-finder/scrape_task'), 405, 'METHOD_NOT_ALLOWED');
    assertError(await gw.request('POST', '/healthz', {}), 405, 'METHOD_NOT_ALLOWED', /use GET, HEAD/);
  });

  it('answers malformed JSON with 400 INVALID_JSON, saying where', async () => {
    assertError(await gw.request('POST', '/emit/alice/notification', '{"title": '), 400, 'INVALID_JSON', /not valid JSON: .+/);
  });

  it('answers a body over BODY_LIMIT_BYTES with 413', async () => {
    const reply = await gw.request('POST', '/emit/alice/notification', { blob: 'x'.repeat(2000) });
    assertError(reply, 413, 'PAYLOAD_TOO_LARGE', /1024 bytes \(BODY_LIMIT_BYTES\)/);
  });

  it('answers a non-JSON body with 415', async () => {
    const empty = await fetch(`${gw.url}/emit/alice/notification`, { method: 'POST', headers: { 'x-api-key': 'test-api-key-0123456789' } });
    assert.equal(empty.status, 200, 'no body at all is an empty payload');
    const text = await fetch(`${gw.url}/emit/alice/notification`, {
      method: 'POST',
      headers: { 'x-api-key': 'test-api-key-0123456789', 'content-type': 'text/plain' },
      body: 'hello',
    });
    assertError({ status: text.status, body: await text.json() }, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  const badRequests: [string, string, string, unknown, RegExp][] = [
    ['reserved event name', 'POST', '/emit/alice/connect', {}, /params\.emitTo .*reserves/],
    ["the gateway's own disconnect notice", 'POST', '/emit/alice/disconnect_reason', {}, /params\.emitTo .*reserves/],
    ['reserved event name (disconnect)', 'POST', '/emit/disconnect', { userIds: ['a'], data: 1 }, /params\.emitTo/],
    ['reserved event name (newListener)', 'POST', '/lead-finder/newListener', { socketId: 's', payload: 1 }, /params\.event/],
    ['overlong event name', 'POST', `/emit/alice/${'e'.repeat(101)}`, {}, /params\.emitTo .*1 to 100 characters/],
    ['event name with a control character', 'POST', '/emit/alice/a%01b', {}, /params\.emitTo/],
    ['overlong user id', 'POST', `/emit/${'u'.repeat(129)}/notification`, {}, /params\.userId .*1 to 128/],
    ['user id with whitespace', 'POST', '/emit/a%20b/notification', {}, /params\.userId/],
    ['missing userIds', 'POST', '/emit/notification', { data: 1 }, /body\.userIds is required/],
    ['missing data', 'POST', '/emit/notification', { userIds: ['a'] }, /body\.data is required/],
    ['empty userIds array', 'POST', '/emit/notification', { userIds: [], data: 1 }, /body\.userIds must be a user id or a non-empty array/],
    ['empty userIds string', 'POST', '/emit/notification', { userIds: '', data: 1 }, /body\.userIds/],
    ['numeric user ids', 'POST', '/emit/notification', { userIds: [1, 2], data: 1 }, /body\.userIds/],
    ['an operator object as user ids', 'POST', '/emit/notification', { userIds: { $ne: 1 }, data: 1 }, /body\.userIds/],
    ['an operator object inside user ids', 'POST', '/emit/notification', { userIds: ['a', { $ne: 1 }], data: 1 }, /body\.userIds/],
    ['a body that is not an object', 'POST', '/emit/notification', ['a'], /body must be object/],
    ['missing socketId', 'POST', '/lead-finder/scrape_task', { payload: {} }, /body\.socketId is required/],
    ['empty socketId', 'POST', '/lead-finder/scrape_task', { socketId: '', payload: {} }, /body\.socketId must be a string of 1 to 128/],
    ['numeric socketId', 'POST', '/lead-finder/scrape_task', { socketId: 7, payload: {} }, /body\.socketId/],
    ['an operator object as socketId', 'POST', '/lead-finder/scrape_task', { socketId: { $ne: 1 }, payload: {} }, /body\.socketId/],
    ['missing payload', 'POST', '/lead-finder/scrape_task', { socketId: 'abc' }, /body\.payload is required/],
  ];
  for (const [what, method, path, body, message] of badRequests) {
    it(`answers ${what} with 400 VALIDATION_ERROR naming the field`, async () => {
      assertError(await gw.request(method, path, body), 400, 'VALIDATION_ERROR', message);
    });
  }

  it('answers HEAD on a route that emits with 405, so a HEAD never sends events', async () => {
    const reply = await gw.request('HEAD', '/conversations/prospect/emit/message/64msg');
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.get('allow'), 'GET');
    assert.equal((await gw.request('HEAD', '/healthz')).status, 200, 'HEAD on a probe is fine');
  });

  it('refuses __proto__ and constructor.prototype keys without polluting anything, and keeps serving', async () => {
    assertError(await gw.request('POST', '/emit/alice/x', '{"__proto__": {"polluted": true}}'), 400, 'VALIDATION_ERROR', /__proto__/);
    assertError(await gw.request('POST', '/emit/x', '{"userIds": ["a"], "data": {"constructor": {"prototype": {"polluted": true}}}}'), 400, 'VALIDATION_ERROR');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);

    const socket = await gw.connectUser('alice');
    const arrival = nextEvent(socket, 'after');
    const reply = await gw.request('POST', '/emit/alice/after', { constructor: 'a plain key is fine', ok: true });
    assert.equal(reply.status, 200);
    assert.deepEqual(await arrival, { constructor: 'a plain key is fine', ok: true });
  });
});

/** Sends raw bytes to a gateway and resolves with everything it answered before closing the connection. */
function rawHttp(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(port), hostname, () => socket.end(bytes));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(answer) : reject(error)));
    socket.on('close', () => resolve(answer));
  });
}

/** The status and JSON body of a raw HTTP answer. */
function parseRaw(answer: string): { status: number; body: any } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), body: JSON.parse(body) };
}

describe('errors raised before any route is chosen', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it("answers a malformed URL escape in the error shape, not Fastify's own body", async () => {
    for (const path of ['/emit/%E0%A4%A/x', '/emit/u1/%ZZ', '/no/such/route/%ZZ']) {
      assertError(await gw.request('POST', path, {}), 400, 'VALIDATION_ERROR', /URL is malformed/);
    }
  });

  it('answers a path parameter over 1024 characters in the error shape', async () => {
    assertError(await gw.request('POST', `/emit/${'u'.repeat(1025)}/notification`, {}), 400, 'VALIDATION_ERROR', /longer than 1024 characters/);
    assertError(await gw.request('GET', `/conversations/prospect/emit/message/${'m'.repeat(5000)}`), 400, 'VALIDATION_ERROR', /longer than 1024/);
  });

  it("answers what Node's HTTP parser refuses in the error shape: a malformed request, headers over 16 KiB", async () => {
    const malformed = parseRaw(await rawHttp(gw.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n'));
    assertError(malformed, 400, 'VALIDATION_ERROR', /not valid HTTP/);
    const huge = parseRaw(await rawHttp(gw.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`));
    assertError(huge, 431, 'HEADERS_TOO_LARGE');
    assert.equal((await gw.request('GET', '/healthz')).status, 200, 'and keeps serving');
  });
});

describe('the status of an error Fastify or a plugin raises', () => {
  it('keeps its client status with the code written for it, never a 500', () => {
    const explicit: Record<number, string> = {
      400: 'VALIDATION_ERROR',
      401: 'UNAUTHORIZED',
      403: 'FORBIDDEN',
      404: 'NOT_FOUND',
      405: 'METHOD_NOT_ALLOWED',
      408: 'REQUEST_TIMEOUT',
      413: 'PAYLOAD_TOO_LARGE',
      415: 'UNSUPPORTED_MEDIA_TYPE',
      429: 'RATE_LIMITED',
      431: 'HEADERS_TOO_LARGE',
    };
    for (const [status, code] of Object.entries(explicit)) {
      const converted = toGatewayError(Object.assign(new Error('from a plugin'), { statusCode: Number(status) }));
      assert.deepEqual([converted.status, converted.code], [Number(status), code], `status ${status}`);
    }
    // Every 4xx Fastify itself can raise; 414 (a path parameter over maxParamLength) is a 400 for the API.
    for (const [name, FastifyError] of Object.entries(errorCodes)) {
      const error = new (FastifyError as new (...args: string[]) => Error & { statusCode: number })('a', 'b', 'c');
      if (error.statusCode < 400 || error.statusCode >= 500) continue;
      const converted = toGatewayError(error);
      assert.equal(converted.status, error.statusCode === 414 ? 400 : error.statusCode, name);
      assert.equal(errorRegistry[converted.code].status, converted.status, `${name} gets a registry code of its status`);
    }
    assert.equal(toGatewayError(new Error('a bug')).code, 'INTERNAL_SERVER_ERROR');
  });
});

describe('the rate limit message', () => {
  it('names the window and the time left, each for what it is', async () => {
    const gw = await startGateway({ RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW_MS: '90000' });
    try {
      await gw.request('POST', '/emit/alice/n', {});
      const refused = await gw.request('POST', '/emit/alice/n', {});
      assertError(refused, 429, 'RATE_LIMITED', /^Too many emit requests: at most 1 per 90 seconds for this API key; retry in (\d+) s$/);
      const left = Number(/retry in (\d+) s/.exec(refused.body.message)![1]);
      assert.ok(left >= 1 && left <= 90, `${left} s left`);
      assert.equal(refused.headers.get('retry-after'), String(left), 'the message and Retry-After agree');
    } finally {
      await gw.close();
    }
  });
});

describe('the error registry', () => {
  it("is what README's error tables say (npm run -s cli -- errors --markdown prints them)", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(httpErrorTable()), 'README\'s REST error table is out of date: paste the first table of "npm run -s cli -- errors --markdown"');
    assert.ok(readme.includes(socketErrorTable()), 'README\'s Socket.IO table is out of date: paste the second table of "npm run -s cli -- errors --markdown"');
  });

  it('holds every code a refused Socket.IO client gets, with its message', async () => {
    const gw = await startGateway();
    const limited = await startGateway({ SOCKET_HANDSHAKES_PER_MINUTE: '1' });
    // A key set nobody serves: its tokens cannot be checked.
    const unverifiable = await startGateway({ JWT_SECRET: '', JWT_JWKS_URL: 'http://127.0.0.1:9/jwks.json' });
    /** Connects with `auth` and resolves with the connect_error. */
    const refusal = (namespace: string, auth: Record<string, unknown>, url = gw.url) =>
      new Promise<Error & { data: { code: string } }>((resolve, reject) => {
        const socket = connectSocket(url + namespace, { auth, forceNew: true, reconnection: false, transports: ['websocket'] });
        socket.once('connect', () => reject(new Error(`connected to ${namespace}, but should have been refused`)));
        socket.once('connect_error', (error) => {
          socket.disconnect();
          resolve(error as Error & { data: { code: string } });
        });
      });
    /** Two CONNECTs to one namespace on one connection: the second is refused. */
    const secondConnect = async () => {
      const raw = await openRaw(gw.url);
      const connect = `0/v1/shared,${JSON.stringify({ token: await gw.token('twice') })}`;
      raw.send(connect);
      raw.send(connect);
      const [refused] = await raw.received((packet) => packet.startsWith('4/v1/shared,'));
      raw.close();
      const { message, data } = JSON.parse(refused!.slice('4/v1/shared,'.length)) as { message: string; data: { code: string } };
      return Object.assign(new Error(message), { data });
    };
    /** A socket whose connection keeps sending events nobody listens to is told why it is disconnected. */
    const refusedTooOften = async () => {
      const socket = await gw.connectUser('chatty');
      const reason = new Promise<{ code: string; message: string }>((resolve) => socket.once('disconnect_reason', resolve));
      for (let i = 0; i < 11; i++) socket.emit('typing', { i });
      const { code, message } = await reason;
      return Object.assign(new Error(message), { data: { code } });
    };
    /** A token issued before its user's tokens were revoked. */
    const revoked = async () => {
      const token = await gw.token('revoked-user', { issuedAt: Math.floor(Date.now() / 1000) - 10 });
      assert.equal((await gw.request('POST', '/users/revoked-user/revoke-tokens')).status, 200);
      return refusal('/v1/shared', { token });
    };
    /** A refresh with another user's token is refused in its acknowledgement. */
    const otherUser = async () => {
      const socket = await gw.connectUser('refresher');
      const answer = (await socket.emitWithAck('token_refresh', { token: await gw.token('someone-else') })) as { code: string; message: string };
      return Object.assign(new Error(answer.message), { data: { code: answer.code } });
    };
    try {
      const expired = await gw.token('alice', { ttlSeconds: -60 });
      const refusals = {
        TOKEN_MISSING: await refusal('/v1/shared', {}),
        TOKEN_EXPIRED: await refusal('/v1/shared', { token: expired }),
        TOKEN_INVALID: await refusal('/v1/shared', { token: 'not-a-jwt' }),
        TOKEN_REVOKED: await revoked(),
        TOKEN_USER_MISMATCH: await otherUser(),
        TOKEN_UNVERIFIABLE: await refusal('/v1/shared', { token: await rs256Token('alice') }, unverifiable.url),
        KEY_MISSING: await refusal('/v1/lead-finder', {}),
        KEY_INVALID: await refusal('/v1/lead-finder', { token: `${SCRAPER_KEY}-wrong` }),
        NAMESPACE_FORBIDDEN: await refusal('/', { token: API_KEY }),
        NAMESPACE_ALREADY_JOINED: await secondConnect(),
        TOO_MANY_REFUSED: await refusedTooOften(),
        // One connection per minute: the first is refused for its missing token, the second for the limit.
        HANDSHAKE_RATE_LIMITED: await refusal('/v1/shared', {}, limited.url).then(() => refusal('/v1/shared', {}, limited.url)),
      };
      assert.deepEqual(Object.keys(refusals).sort(), Object.keys(socketErrorRegistry).sort(), 'each registry code is provoked once');
      for (const [code, error] of Object.entries(refusals)) {
        assert.equal(error.data.code, code);
        assert.ok(
          error.message.startsWith(socketErrorRegistry[code as keyof typeof socketErrorRegistry].message.split(':')[0]!),
          `${code}: "${error.message}" starts as the registry says`,
        );
      }
      assert.equal(refusals.KEY_INVALID.message, socketErrorRegistry.KEY_INVALID.message);
      assert.equal(refusals.KEY_MISSING.message, socketErrorRegistry.KEY_MISSING.message);
    } finally {
      await Promise.all([gw.close(), limited.close(), unverifiable.close()]);
    }
  });
});
