/**
 * Attacks on the REST API that the gateway withstands, kept here so that a later change cannot
 * reopen them: key bypasses, rate-limit bypass paths, path traversal, prototype pollution, oversize
 * input, SQL injection through ids, and control characters in ids and event names. Requests go
 * through Fastify's inject() where HTTP framing does not matter, and over TCP where it does (inject
 * and fetch normalise `..` in paths before the gateway could see it).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../src/config.js';
import { createGateway, type Gateway } from '../src/gateway.js';
import { API_KEY, collect, gatewayEnv, nextEvent, startGateway, type TestGateway } from './support/gateway.js';

/** A gateway that is built but does not listen: requests go through inject(). */
async function injected(env: Record<string, string> = {}): Promise<Gateway> {
  const gateway = await createGateway(loadConfig(gatewayEnv(env)));
  await gateway.app.ready();
  return gateway;
}

/** inject() with the API key unless `headers` replaces it; the body parsed as JSON. */
async function call(
  gateway: Gateway,
  options: Omit<InjectOptions, 'headers'> & { url: string; headers?: Record<string, string | string[] | undefined> },
): Promise<{ status: number; body: any; response: LightMyRequestResponse }> {
  // A header given as undefined is left out (no key at all).
  const headers = Object.fromEntries(Object.entries({ 'x-api-key': API_KEY, ...options.headers }).filter(([, value]) => value !== undefined));
  const response = await gateway.app.inject({ method: 'GET', ...options, headers });
  let body: unknown;
  try {
    body = response.json();
  } catch {
    body = response.body;
  }
  return { status: response.statusCode, body, response };
}

/** The seed's error shape with a stable code. */
function assertRefused(reply: { status: number; body: any }, status: number, code: string, message?: RegExp): void {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.deepEqual(Object.keys(reply.body).sort(), ['code', 'errno', 'message', 'success']);
  assert.equal(reply.body.success, false);
  assert.equal(reply.body.errno, status);
  assert.equal(reply.body.code, code);
  if (message) assert.match(reply.body.message, message);
}

/** A request sent with its path exactly as written (no `..` resolution), and its answer. */
function rawRequest(url: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('API key bypasses', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await injected({ INTERNAL_API_KEY: `${API_KEY},second-key-0123456789` });
  });
  after(() => gateway.close());

  const routes: [string, string, unknown][] = [
    ['POST', '/emit/alice/notification', {}],
    ['POST', '/emit/notification', { userIds: ['a'], data: 1 }],
    ['POST', '/lead-finder/scrape_task', { socketId: 's', payload: 1 }],
    ['GET', '/stats', undefined],
    ['GET', '/conversations/prospect/emit/message/m1', undefined],
    ['POST', '/console/token', { userId: 'victim' }],
  ];

  it('refuses a missing, empty, wrong-case, partial, doubled or listed key on every keyed route', async () => {
    const attempts: [string, Record<string, string | string[] | undefined>][] = [
      ['no header', { 'x-api-key': undefined }],
      ['an empty header', { 'x-api-key': '' }],
      ['the key in upper case', { 'x-api-key': API_KEY.toUpperCase() }],
      ['a prefix of the key', { 'x-api-key': API_KEY.slice(0, -1) }],
      ['the key with a suffix', { 'x-api-key': `${API_KEY}0` }],
      ['two keys joined, as a duplicated header arrives', { 'x-api-key': `${API_KEY}, ${API_KEY}` }],
      ['two valid keys in one header', { 'x-api-key': `${API_KEY},second-key-0123456789` }],
      ['the header twice', { 'x-api-key': [API_KEY, API_KEY] }],
      ['the key as a Bearer token', { 'x-api-key': undefined, authorization: `Bearer ${API_KEY}` }],
      ['the key as a cookie', { 'x-api-key': undefined, cookie: `x-api-key=${API_KEY}` }],
      ['the key under another header name', { 'x-api-key': undefined, 'x-api_key': API_KEY, apikey: API_KEY }],
    ];
    for (const [method, url, payload] of routes) {
      for (const [what, headers] of attempts) {
        const reply = await call(gateway, { method: method as 'GET', url, headers, ...(payload !== undefined && { payload: payload as object }) });
        assertRefused(reply, 401, 'UNAUTHORIZED');
        assert.ok(reply.status === 401, `${what} on ${method} ${url}`);
      }
    }
  });

  it('reads the header name in any case, as HTTP says, and the value exactly', async () => {
    assert.equal((await call(gateway, { method: 'POST', url: '/emit/alice/n', headers: { 'X-API-KEY': API_KEY }, payload: {} })).status, 200);
  });

  it('takes a Bearer token on GET /metrics only', async () => {
    const metrics = await call(gateway, { url: '/metrics', headers: { 'x-api-key': undefined, authorization: `Bearer ${API_KEY}` } });
    assert.equal(metrics.status, 200);
    const wrong = await call(gateway, { url: '/metrics', headers: { 'x-api-key': undefined, authorization: `Bearer ${API_KEY}x` } });
    assertRefused(wrong, 401, 'UNAUTHORIZED');
    const basic = await call(gateway, {
      url: '/metrics',
      headers: { 'x-api-key': undefined, authorization: `Basic ${Buffer.from(`x:${API_KEY}`).toString('base64')}` },
    });
    assertRefused(basic, 401, 'UNAUTHORIZED');
  });

  it('answers a wrong method or an unknown route the same way with or without a key (nothing to probe)', async () => {
    for (const headers of [{}, { 'x-api-key': undefined }]) {
      assert.equal((await call(gateway, { method: 'GET', url: '/emit/alice/n', headers })).status, 405);
      assert.equal((await call(gateway, { method: 'GET', url: '/admin', headers })).status, 404);
    }
  });
});

describe('the same access rule for /readyz details, /stats and /metrics', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await injected({ ALLOWED_IPS: '10.0.0.0/8' });
  });
  after(() => gateway.close());

  it('shows /readyz details only to a key holder inside ALLOWED_IPS', async () => {
    const outside = await call(gateway, { url: '/readyz', remoteAddress: '203.0.113.5' });
    assert.equal(outside.status, 200);
    assert.deepEqual(
      outside.body,
      { ready: true, checks: { bus: { ok: true }, database: { ok: true }, streams: { ok: true } } },
      'a key from outside the list sees no details',
    );
    assertRefused(await call(gateway, { url: '/stats', remoteAddress: '203.0.113.5' }), 403, 'FORBIDDEN');
    assertRefused(await call(gateway, { url: '/metrics', remoteAddress: '203.0.113.5' }), 403, 'FORBIDDEN');

    const inside = await call(gateway, { url: '/readyz', remoteAddress: '10.1.2.3' });
    assert.equal(inside.body.checks.bus.detail, 'standalone');
    const noKey = await call(gateway, { url: '/readyz', remoteAddress: '10.1.2.3', headers: { 'x-api-key': undefined } });
    assert.equal(noKey.body.checks.bus.detail, undefined);
  });

  it('ignores X-Forwarded-For without TRUST_PROXY, for the details too', async () => {
    const spoofed = await call(gateway, { url: '/readyz', remoteAddress: '203.0.113.5', headers: { 'x-forwarded-for': '10.1.2.3' } });
    assert.equal(spoofed.body.checks.bus.detail, undefined);
    assertRefused(await call(gateway, { url: '/stats', remoteAddress: '203.0.113.5', headers: { 'x-forwarded-for': '10.1.2.3' } }), 403, 'FORBIDDEN');
  });
});

describe('rate-limit bypass paths', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await injected({ RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000' });
  });
  after(() => gateway.close());

  it('counts every spelling of an emit route against one budget, and routes no other spelling', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await call(gateway, { method: 'POST', url: '/emit/alice/n', payload: {} })).status, 200);
    const attempts: [string, number][] = [
      ['/emit/alice/n', 429],
      ['/emit/%61lice/%6E', 429], // percent-encoded: the same route and parameters
      ['/emit/alice/n?again=1', 429],
      ['/emit/n', 429], // another emit route: one budget across them
      ['/emit/alice/n/', 404], // trailing slash: not a route, so nothing is emitted
      ['//emit/alice/n', 404],
      ['/EMIT/alice/n', 404], // routes are case-sensitive
      ['/Emit/alice/n', 404],
    ];
    for (const [url, status] of attempts) {
      const reply = await call(gateway, { method: 'POST', url, payload: url === '/emit/n' ? { userIds: ['alice'], data: 1 } : {} });
      assert.equal(reply.status, status, `${url}: ${JSON.stringify(reply.body)}`);
    }
    const spoofed = await call(gateway, {
      method: 'POST',
      url: '/emit/alice/n',
      payload: {},
      headers: { 'x-forwarded-for': '198.51.100.1', 'x-real-ip': '198.51.100.2' },
      remoteAddress: '127.0.0.2',
    });
    assertRefused(spoofed, 429, 'RATE_LIMITED', /at most 2 per 1 minute/);
  });
});

describe('path traversal', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ ADMIN_UI: 'true', ADMIN_UI_PASSWORD: 'admin-password-for-tests' });
  });
  after(() => gw.close());

  it('serves no file outside what it means to serve, whatever the dots and encodings', async () => {
    const paths = [
      '/console/../../package.json',
      '/console/..%2f..%2fpackage.json',
      '/console/js/..%2f..%2f..%2fpackage.json',
      '/console/js/%2e%2e%2f%2e%2e%2fpackage.json',
      '/console/vendor/..%2f..%2f..%2fpackage.json',
      '/docs/static/..%2f..%2f..%2f..%2fpackage.json',
      '/docs/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/admin-ui/..%2f..%2f..%2f..%2f..%2fpackage.json',
      '/admin-ui/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/admin-ui/....//....//package.json',
      '/emit/..%2f..%2f..%2fetc%2fpasswd/x',
      '/../../../../etc/passwd',
    ];
    for (const path of paths) {
      const { status, text } = await rawRequest(gw.url, 'GET', path, { 'x-api-key': API_KEY });
      assert.ok(status >= 400 && status < 500, `${path}: ${status}`);
      assert.ok(!/"name":\s*"general-socket"|root:x:0:0|"dependencies"/.test(text), `${path} leaked a file: ${text.slice(0, 200)}`);
    }
  });

  it('treats an id made of dots and slashes as an opaque name, never as a path', async () => {
    const socket = await gw.connectUser('../../etc/passwd');
    const arrival = nextEvent(socket, 'n');
    const reply = await gw.request('POST', '/emit/..%2F..%2Fetc%2Fpasswd/n', { ok: 1 });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.sockets, 1, 'the user whose id it is, nobody else');
    assert.deepEqual(await arrival, { ok: 1 });
  });
});

describe('prototype pollution', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('refuses __proto__ and constructor.prototype at any depth, in every body, and pollutes nothing', async () => {
    const bodies: [string, string][] = [
      ['/emit/alice/x', '{"a": {"b": [{"__proto__": {"polluted": 1}}]}}'],
      ['/emit/x', '{"userIds": ["alice"], "data": {"x": {"constructor": {"prototype": {"polluted": 1}}}}}'],
      ['/emit/x', '{"__proto__": {"userIds": ["alice"], "data": 1}, "userIds": ["alice"], "data": 1}'],
      ['/lead-finder/x', '{"socketId": "s", "payload": {"__proto__": {"polluted": 1}}}'],
      ['/console/token', '{"userId": "u", "__proto__": {"ttlSeconds": 999999}}'],
    ];
    for (const [path, body] of bodies) {
      assertRefused(await gw.request('POST', path, body), 400, 'VALIDATION_ERROR', /__proto__|constructor/);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('keeps ids and query names such as __proto__ inert', async () => {
    const socket = await gw.connectUser('__proto__');
    const got = collect(socket, 'n');
    const arrival = nextEvent(socket, 'marker');
    assert.equal((await gw.request('POST', '/emit/n', { userIds: ['__proto__', 'constructor', 'hasOwnProperty', '__proto__'], data: 1 })).body.sockets, 1);
    assert.equal((await gw.request('GET', '/healthz?__proto__[polluted]=1&constructor[prototype][polluted]=1')).status, 200);
    for (const id of ['__proto__', 'constructor', 'toString']) {
      assertRefused(await gw.request('GET', `/conversations/prospect/emit/message/${id}`), 404, 'NOT_FOUND');
      assertRefused(await gw.request('GET', `/conversations/${id}/emit/message/m1`), 404, 'NOT_FOUND');
    }
    await gw.request('POST', '/emit/__proto__/marker', {});
    await arrival;
    assert.deepEqual(got, [1], 'one event: the id listed twice counts once');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('oversize input', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ BODY_LIMIT_BYTES: '1024' });
  });
  after(() => gw.close());

  it('refuses a body declared larger than BODY_LIMIT_BYTES before reading it', async () => {
    const { status, text } = await rawExchange(
      gw.url,
      `POST /emit/alice/n HTTP/1.1\r\nHost: g\r\nx-api-key: ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n{}`,
    );
    assert.equal(status, 413, text);
    assert.match(text, /"code":"PAYLOAD_TOO_LARGE"/);
  });

  it('refuses a chunked body that grows past BODY_LIMIT_BYTES', async () => {
    const chunk = `{"a":"${'x'.repeat(2000)}"}`;
    const { status, text } = await rawExchange(
      gw.url,
      `POST /emit/alice/n HTTP/1.1\r\nHost: g\r\nx-api-key: ${API_KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    assert.equal(status, 413, text);
  });

  it('answers headers over 16 KiB with 431 in the gateway shape', async () => {
    const { status, text } = await rawExchange(gw.url, `GET /healthz HTTP/1.1\r\nHost: g\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.equal(status, 431, text);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
    assert.deepEqual(body, {
      success: false,
      errno: 431,
      message: 'The request headers are larger than the server accepts (16 KiB)',
      code: 'HEADERS_TOO_LARGE',
    });
  });

  it('answers a request that is not HTTP with 400 in the gateway shape', async () => {
    const { status, text } = await rawExchange(gw.url, 'HELLO / SMTP\r\n\r\n');
    assert.equal(status, 400, text);
    assert.match(text, /"code":"VALIDATION_ERROR"/);
  });

  it('refuses overlong ids and event names, and more ids than EMIT_MAX_USER_IDS', async () => {
    assertRefused(await gw.request('POST', `/emit/${'u'.repeat(129)}/n`, {}), 400, 'VALIDATION_ERROR', /params\.userId/);
    assertRefused(await gw.request('POST', `/emit/u/${'e'.repeat(101)}`, {}), 400, 'VALIDATION_ERROR', /params\.emitTo/);
    assertRefused(await gw.request('GET', `/conversations/prospect/emit/message/${'m'.repeat(129)}`), 400, 'VALIDATION_ERROR', /params\.messageID/);
    const many = await startGateway({ EMIT_MAX_USER_IDS: '3' });
    try {
      assertRefused(await many.request('POST', '/emit/n', { userIds: ['a', 'b', 'c', 'd'], data: 1 }), 400, 'VALIDATION_ERROR', /3/);
    } finally {
      await many.close();
    }
  });
});

/** Writes `raw` on a new TCP connection and resolves with the status and everything answered. */
function rawExchange(url: string, raw: string): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(port), hostname);
    let text = '';
    socket.on('connect', () => socket.write(raw));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? undefined : reject(error)));
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), text }));
  });
}

describe('SQL injection through ids (SQLite)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
    await gw.gateway.store.importDocuments({
      users: [{ _id: 'u1', name: 'Alice' }],
      contacts: [{ _id: 'c1', name: 'John' }],
      conversationprospects: [{ _id: 'conv-1', contact_id: 'c1', users: ['u1'] }],
      communications: [{ _id: 'msg-1', type: 'INCOMING', data: 'Hi', sent_by: 'c1', conversation_id: ['conv-1'], createdAt: '2025-10-13T10:30:00.000Z' }],
    });
  });
  after(() => gw.close());

  it('finds nothing with an injected id, changes nothing, and keeps serving the real documents', async () => {
    const injected = [
      "x'OR'1'='1",
      "msg-1'--",
      'msg-1"--',
      "');DROP/**/TABLE/**/communications;--",
      '1);DELETE/**/FROM/**/users;--',
      '"]\'),("msg-1',
      '%',
      '*',
      '["msg-1"]',
      'msg-1\\',
    ];
    for (const id of injected) {
      const path = encodeURIComponent(id);
      assertRefused(await gw.request('GET', `/conversations/prospect/emit/message/${path}`), 404, 'NOT_FOUND');
      assertRefused(await gw.request('GET', `/conversations/prospect/emit/conversation/${path}/new`), 404, 'NOT_FOUND');
    }
    for (const id of ["x' OR '1'='1", '1; DROP TABLE users']) {
      assertRefused(await gw.request('GET', `/conversations/prospect/emit/message/${encodeURIComponent(id)}`), 400, 'VALIDATION_ERROR', /params\.messageID/);
    }
    assertRefused(
      await gw.request('GET', `/conversations/${encodeURIComponent("prospect'--")}/emit/message/msg-1`),
      400,
      'VALIDATION_ERROR',
      /params\.channel/,
    );

    const socket = await gw.connectUser('u1');
    const arrival = nextEvent(socket, 'prospect_message');
    assert.equal((await gw.request('GET', '/conversations/prospect/emit/message/msg-1')).body.sockets, 1);
    assert.equal(((await arrival) as { data: string }).data, 'Hi');
    assert.equal((await gw.gateway.store.find('users', ['u1'])).size, 1, 'the users table is intact');
  });
});

describe('control characters in ids and event names', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await injected();
  });
  after(() => gateway.close());

  // C0 (U+0000-U+001F), DEL and C1 (U+0080-U+009F): invisible in logs and consoles, and some terminals act on them.
  const controls = ['\u0001', '\u001b', '\u007f', '\u0080', '\u0085', '\u009b', '\u009f'];

  it('refuses them in user ids, event names, socket ids and document ids with 400 naming the field', async () => {
    for (const c of controls) {
      const e = encodeURIComponent(c);
      assertRefused(await call(gateway, { method: 'POST', url: `/emit/a${e}b/n`, payload: {} }), 400, 'VALIDATION_ERROR', /params\.userId/);
      assertRefused(await call(gateway, { method: 'POST', url: `/emit/alice/ev${e}`, payload: {} }), 400, 'VALIDATION_ERROR', /params\.emitTo/);
      assertRefused(
        await call(gateway, { method: 'POST', url: `/emit/ev${e}`, payload: { userIds: ['a'], data: 1 } }),
        400,
        'VALIDATION_ERROR',
        /params\.emitTo/,
      );
      assertRefused(
        await call(gateway, { method: 'POST', url: '/emit/n', payload: { userIds: ['a', `b${c}`], data: 1 } }),
        400,
        'VALIDATION_ERROR',
        /body\.userIds/,
      );
      assertRefused(
        await call(gateway, { method: 'POST', url: '/lead-finder/task', payload: { socketId: `s${c}`, payload: 1 } }),
        400,
        'VALIDATION_ERROR',
        /body\.socketId/,
      );
      assertRefused(await call(gateway, { url: `/conversations/prospect/emit/message/m${e}` }), 400, 'VALIDATION_ERROR', /params\.messageID/);
    }
  });

  it('accepts the printable characters just past them', async () => {
    for (const id of ['caf\u00e9', 'a\u00a1b', '\u00ff', 'user-\u4e2d\u6587', 'emoji-\u{1f600}']) {
      assert.equal((await call(gateway, { method: 'POST', url: `/emit/${encodeURIComponent(id)}/${encodeURIComponent(id)}`, payload: {} })).status, 200, id);
    }
  });
});
