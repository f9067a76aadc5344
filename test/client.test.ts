import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket as NetSocket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { ROUTES } from '../src/api/routes.js';
import { createClient, GeneralSocketError, type ClientOptions, type GeneralSocketClient, type RetryInfo } from '../src/client/index.js';
import { API_KEY, assertSent, collect, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

/** Asserts that `promise` rejects with a GeneralSocketError matching `expected`, and returns it. */
async function rejection(
  promise: Promise<unknown>,
  expected: Partial<Pick<GeneralSocketError, 'code' | 'status' | 'errno' | 'attempts'>>,
): Promise<GeneralSocketError> {
  const error = await promise.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof GeneralSocketError, `expected a GeneralSocketError, got ${String(error)}`);
  for (const [key, value] of Object.entries(expected)) assert.equal(error[key as keyof GeneralSocketError], value, `error.${key}`);
  return error;
}

describe('SDK against a real gateway', () => {
  let gw: TestGateway;
  let client: GeneralSocketClient;
  before(async () => {
    gw = await startGateway();
    client = createClient({ baseUrl: gw.url, apiKey: API_KEY });
  });
  after(() => gw.close());

  it('emitToUser delivers the payload to every socket of that user only', async () => {
    const [tab, phone, bob] = await Promise.all([gw.connectUser('alice'), gw.connectUser('alice'), gw.connectUser('bob')]);
    const bobGot = collect(bob, 'notification');
    const payload = { title: 'New Lead Assigned', type: 'lead_assigned', data: { lead_id: '64lead' } };
    const arrivals = Promise.all([nextEvent(tab, 'notification'), nextEvent(phone, 'notification')]);

    const result = await client.emitToUser('alice', 'notification', payload);
    assertSent(result, 2, ['alice']);
    assert.deepEqual(await arrivals, [payload, payload]);
    const marker = nextEvent(bob, 'marker');
    await client.emitToUser('bob', 'marker', null);
    await marker;
    assert.deepEqual(bobGot, []);
  });

  it('encodes ids and event names that are not URL-safe', async () => {
    const socket = await gw.connectUser('team/a#1?x=é');
    const arrival = nextEvent(socket, 'new lead: 50%');
    const result = await client.emitToUser('team/a#1?x=é', 'new lead: 50%', 'text payload');
    assert.equal(result.sockets, 1);
    assert.equal(await arrival, 'text payload');
  });

  it('emitToUsers accepts an array (repeats delivered once) or one id', async () => {
    const [u1, u2] = await Promise.all([gw.connectUser('u1'), gw.connectUser('u2')]);
    const data = { title: 'Scheduled Maintenance', priority: 'high' };
    const arrivals = Promise.all([nextEvent(u1, 'system_announcement'), nextEvent(u2, 'system_announcement')]);
    assertSent(await client.emitToUsers(['u1', 'u2', 'u1'], 'system_announcement', data), 2, ['u1', 'u2']);
    assert.deepEqual(await arrivals, [data, data]);

    const single = nextEvent(u2, 'broadcast');
    assert.equal((await client.emitToUsers('u2', 'broadcast', { message: 'System update' })).sockets, 1);
    assert.deepEqual(await single, { message: 'System update' });
  });

  it('emitToScraper reaches one scraper socket, and fails with NOT_FOUND once it is gone', async () => {
    const worker = await gw.connectScraper();
    const task = { task_id: 'task_001', keyword: 'plumber near me', max_results: 50 };
    const arrival = nextEvent(worker, 'scrape_task');
    assertSent(await client.emitToScraper(worker.id!, 'scrape_task', task), 1, []);
    assert.deepEqual(await arrival, task);

    const id = worker.id!;
    worker.disconnect();
    await eventually(() => !gw.gateway.io.of('/v1/lead-finder').sockets.has(id), 5000, 'the gateway to see the disconnect');
    const error = await rejection(client.emitToScraper(id, 'scrape_task', task), { code: 'NOT_FOUND', status: 404, errno: 404, attempts: 1 });
    assert.match(error.message, /No scraper socket/);
  });

  it('emitMessage and emitConversation fan stored documents out to the participants', async () => {
    await gw.gateway.store.importDocuments({
      users: [
        { _id: 'sdk-u1', name: 'Ann' },
        { _id: 'sdk-u2', name: 'Ben' },
      ],
      contacts: [{ _id: 'sdk-c1', name: 'John Doe', phone: '+1 212 555 0101' }],
      conversationprospects: [{ _id: 'sdk-cv1', contact_id: 'sdk-c1', users: ['sdk-u1', 'sdk-u2'], unread_count: { 'sdk-u2': 2 } }],
      communications: [
        { _id: 'sdk-m1', type: 'INCOMING', data: 'Hello', sent_by: 'sdk-c1', conversation_id: ['sdk-cv1'], createdAt: '2025-10-13T10:30:00.000Z' },
      ],
    });
    const [ann, ben] = await Promise.all([gw.connectUser('sdk-u1'), gw.connectUser('sdk-u2')]);

    const messages = Promise.all([nextEvent(ann, 'prospect_message'), nextEvent(ben, 'prospect_message')]);
    assertSent(await client.emitMessage('prospect', 'sdk-m1'), 2);
    for (const payload of (await messages) as Record<string, unknown>[]) {
      assert.equal(payload.data, 'Hello');
      assert.equal(payload.is_sender, false, 'an incoming message was sent by the contact');
      assert.equal((payload.sent_by as Record<string, unknown>).name, 'John Doe');
    }

    const conversations = Promise.all([nextEvent(ann, 'prospect_add_conversation'), nextEvent(ben, 'prospect_add_conversation')]);
    assertSent(await client.emitConversation('prospect', 'sdk-cv1', 'new'), 2);
    const [forAnn, forBen] = (await conversations) as Record<string, unknown>[];
    assert.deepEqual([forAnn!.unread_count, forBen!.unread_count], [0, 2]);
    assert.deepEqual([forAnn!.title, forAnn!.isNew], ['John Doe', true]);
  });

  it('emitMessage and emitConversation fail with NOT_FOUND for a document the gateway cannot find', async () => {
    await rejection(client.emitMessage('prospect', '64abc123def456789'), { code: 'NOT_FOUND', status: 404, errno: 404 });
    await rejection(client.emitConversation('prospect', '64conv123', true), { code: 'NOT_FOUND', status: 404, errno: 404 });
  });

  it('a wrong or missing API key is a 401 UNAUTHORIZED with the gateway message, not retried', async () => {
    const retries: RetryInfo[] = [];
    const wrong = createClient({ baseUrl: gw.url, apiKey: 'not-the-key', retry: { onRetry: (info) => retries.push(info) } });
    const error = await rejection(wrong.emitToUser('alice', 'notification', {}), { code: 'UNAUTHORIZED', status: 401, errno: 401, attempts: 1 });
    assert.equal(error.message, 'Invalid API key in x-api-key header');
    assert.equal(error.name, 'GeneralSocketError');
    assert.deepEqual(retries, []);
    await rejection(createClient({ baseUrl: gw.url }).stats(), { code: 'UNAUTHORIZED', status: 401 });
  });

  it('a refused input is a 400 VALIDATION_ERROR naming the field', async () => {
    const error = await rejection(client.emitToUser('alice', 'connect', {}), { code: 'VALIDATION_ERROR', status: 400 });
    assert.match(error.message, /^params\.emitTo /);
  });

  it('refuses, without sending, what cannot be sent: empty ids, dot segments, non-JSON payloads', async () => {
    await rejection(client.emitToUser('', 'notification', {}), { code: 'INVALID_ARGUMENT', status: 0, attempts: 0 });
    await rejection(client.emitToUser('..', 'stats', {}), { code: 'INVALID_ARGUMENT' });
    await rejection(client.emitToUsers([], 'x', {}), { code: 'INVALID_ARGUMENT' });
    await rejection(client.emitToUser('alice', 'x', { big: 10n }), { code: 'INVALID_ARGUMENT' });
    // @ts-expect-error -- isNew is 'new', 'existing' or a boolean
    await rejection(client.emitConversation('prospect', 'c1', 'maybe'), { code: 'INVALID_ARGUMENT' });
  });

  it('presence and disconnect: who is online, and closing their sockets', async () => {
    const fresh = await startGateway();
    try {
      const freshClient = createClient({ baseUrl: fresh.url, apiKey: API_KEY });
      const [tab, scraper] = await Promise.all([fresh.connectUser('pia'), fresh.connectScraper()]);
      const presence = await freshClient.userPresence('pia');
      assert.equal(presence.online, true);
      assert.equal(presence.sockets, 1);
      assert.deepEqual((await freshClient.usersPresence(['pia', 'quinn'])).online, ['pia']);
      const notice = nextEvent(tab, 'bye');
      assert.equal((await freshClient.disconnectUser('pia', { event: 'bye', data: { why: 'ban' } })).sockets, 1);
      assert.deepEqual(await notice, { why: 'ban' });
      const scraperId = scraper.id!;
      assert.equal((await freshClient.disconnectScraper(scraperId)).sockets, 1);
      await assert.rejects(freshClient.disconnectScraper(scraperId), { name: 'GeneralSocketError', code: 'NOT_FOUND' });
      await assert.rejects(freshClient.usersPresence([]), { code: 'INVALID_ARGUMENT' });
      await assert.rejects(freshClient.disconnectUser('pia', { data: 1 } as never), { code: 'INVALID_ARGUMENT' });
    } finally {
      await fresh.close();
    }
  });

  it('health, readiness and stats read the probes and the live counts', async () => {
    assert.deepEqual(await client.health(), { status: 'ok' });
    assert.deepEqual(await client.readiness(), {
      ready: true,
      checks: { bus: { ok: true, detail: 'standalone' }, database: { ok: true }, streams: { ok: true } },
    });
    const fresh = await startGateway();
    try {
      const freshClient = createClient({ baseUrl: `${fresh.url}/`, apiKey: API_KEY });
      await Promise.all([fresh.connectUser('a'), fresh.connectUser('a'), fresh.connectScraper()]);
      assert.deepEqual(await freshClient.stats(), {
        success: true,
        message: 'SUCCESS',
        nodes: 1,
        users: 1,
        sockets: { '/v1/shared': 2, '/v1/lead-finder': 1 },
        online: 1,
        presence: 'memory',
      });
    } finally {
      await fresh.close();
    }
  });

  it('checks its options when it is created, and reports every mistake as a GeneralSocketError', () => {
    const mistakes: [unknown, RegExp][] = [
      [{}, /baseUrl must be an http/],
      [undefined, /needs an options object/],
      [null, /needs an options object/],
      [{ baseUrl: 'localhost:4000' }, /baseUrl must be an http/],
      [{ baseUrl: 'http://x', timeoutMs: 0 }, /timeoutMs/],
      [{ baseUrl: 'http://x', timeoutMs: '5000' }, /timeoutMs/],
      [{ baseUrl: 'http://x', retry: { retries: -1 } }, /retry\.retries/],
      [{ baseUrl: 'http://x', retry: 3 }, /retry must be an object/],
      [{ baseUrl: 'http://x', retry: { onRetry: 'log' } }, /retry\.onRetry must be a function/],
      [{ baseUrl: 'http://x', apiKey: 42 }, /apiKey must be a string/],
      [{ baseUrl: 'http://x', fetch: 'fetch' }, /fetch option/],
    ];
    for (const [options, message] of mistakes) {
      assert.throws(
        () => createClient(options as ClientOptions),
        (error: unknown) => error instanceof GeneralSocketError && error.code === 'INVALID_ARGUMENT' && error.status === 0 && message.test(error.message),
        JSON.stringify(options) ?? String(options),
      );
    }
  });

  it('offers a method, named after its operationId, for every operation of the route table but those marked sdk: false', () => {
    const offered = Object.entries(ROUTES)
      .filter(([, route]) => !('sdk' in route && route.sdk === false))
      .map(([id]) => id);
    assert.ok(offered.length >= 8, `the route table offers ${offered.length} operations to the SDK`);
    for (const id of offered) assert.equal(typeof (client as unknown as Record<string, unknown>)[id], 'function', `the SDK has no method ${id}`);
    assert.deepEqual(Object.keys(client).sort(), offered.sort(), 'and no method that calls no operation');
  });
});

/** A plain HTTP server on loopback whose answers a test scripts; it counts the requests it got. */
async function scriptedServer(answer: (request: IncomingMessage, response: ServerResponse, index: number) => void) {
  const requests: { method: string; url: string; apiKey: string | undefined; idempotencyKey: string | undefined }[] = [];
  const server = createHttpServer((request, response) => {
    requests.push({
      method: request.method!,
      url: request.url!,
      apiKey: request.headers['x-api-key'] as string | undefined,
      idempotencyKey: request.headers['idempotency-key'] as string | undefined,
    });
    request.resume();
    request.on('end', () => answer(request, response, requests.length - 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function reply(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json', ...headers });
  response.end(typeof body === 'string' ? body : JSON.stringify(body));
}

const SUCCESS = { success: true, message: 'SUCCESS', sockets: 1 };
const fast = { minDelayMs: 10, maxDelayMs: 50 };

describe('SDK timeouts, aborts and retries', () => {
  it('gives up with TIMEOUT on a server that accepts but never answers, without retrying', async () => {
    const connections: NetSocket[] = [];
    const silent: NetServer = createNetServer((socket) => connections.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const client = createClient({ baseUrl: url, apiKey: API_KEY, timeoutMs: 300, retry: fast });
      const started = Date.now();
      const error = await rejection(client.emitToUser('alice', 'notification', {}), { code: 'TIMEOUT', status: 0, attempts: 1 });
      assert.ok(Date.now() - started >= 290, 'waited for the timeout');
      assert.match(error.message, /within 300 ms/);
      assert.equal(connections.length, 1, 'a timed-out emit is not sent again');
      // A per-call timeout overrides the client's.
      await rejection(client.health({ timeoutMs: 100 }), { code: 'TIMEOUT' });
    } finally {
      for (const socket of connections) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("stops at once, with ABORTED, when the caller's signal aborts", async () => {
    const hanging = await scriptedServer(() => undefined);
    try {
      const client = createClient({ baseUrl: hanging.url, timeoutMs: 10_000 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('shutting down')), 100);
      const error = await rejection(client.health({ signal: controller.signal }), { code: 'ABORTED' });
      assert.match(error.message, /shutting down/);
      await rejection(client.health({ signal: AbortSignal.abort() }), { code: 'ABORTED', attempts: 0 });
    } finally {
      await hanging.close();
    }
  });

  it('retries 502, 503 and 504 with backoff, then succeeds', async () => {
    const server = await scriptedServer((_request, response, index) => {
      if (index === 0) reply(response, 503, { success: false, errno: 503, message: 'closing', code: 'SERVICE_UNAVAILABLE' });
      else if (index === 1) reply(response, 502, '<html>Bad Gateway</html>');
      else if (index === 2) reply(response, 504, '<html>Gateway Timeout</html>');
      else reply(response, 200, SUCCESS);
    });
    try {
      const retries: RetryInfo[] = [];
      const client = createClient({ baseUrl: server.url, apiKey: API_KEY, retry: { retries: 3, ...fast, onRetry: (info) => retries.push(info) } });
      assert.deepEqual(await client.emitToUser('alice', 'notification', { a: 1 }), SUCCESS);
      assert.deepEqual(
        retries.map((r) => [r.attempt, r.status]),
        [
          [1, 503],
          [2, 502],
          [3, 504],
        ],
      );
      assert.ok(
        retries.every((r) => r.delayMs >= 0 && r.delayMs <= fast.maxDelayMs),
        'waits stay within maxDelayMs',
      );
      assert.equal(server.requests.length, 4);
      assert.ok(server.requests.every((r) => r.method === 'POST' && r.url === '/emit/alice/notification' && r.apiKey === API_KEY));
    } finally {
      await server.close();
    }
  });

  it('does not retry a DELIVERY_UNCONFIRMED 504: the event may have been delivered', async () => {
    const server = await scriptedServer((_request, response) =>
      reply(response, 504, { success: false, errno: 504, message: 'not every node answered', code: 'DELIVERY_UNCONFIRMED' }),
    );
    try {
      const client = createClient({ baseUrl: server.url, apiKey: API_KEY, retry: { retries: 3, ...fast } });
      await rejection(client.emitToScraper('xyz', 'scrape_task', {}), { code: 'DELIVERY_UNCONFIRMED', status: 504, attempts: 1 });
      assert.equal(server.requests.length, 1);
    } finally {
      await server.close();
    }
  });

  it('readiness resolves with the checks when not ready, and rejects while the gateway shuts down', async () => {
    const server = await scriptedServer((_request, response, index) =>
      index === 0
        ? reply(response, 503, { ready: false, checks: { bus: { ok: false } } })
        : reply(
            response,
            503,
            { success: false, errno: 503, message: 'The gateway is shutting down; retry', code: 'SERVICE_UNAVAILABLE' },
            { 'retry-after': '1' },
          ),
    );
    try {
      const client = createClient({ baseUrl: server.url, retry: fast });
      assert.deepEqual(await client.readiness(), { ready: false, checks: { bus: { ok: false } } });
      await rejection(client.readiness(), { code: 'SERVICE_UNAVAILABLE', status: 503, attempts: 1 });
    } finally {
      await server.close();
    }
  });

  it('reports the last failure once the retries are used up; a proxy page becomes HTTP_ERROR', async () => {
    const server = await scriptedServer((_request, response) => reply(response, 502, '<html><body>502 Bad Gateway</body></html>'));
    try {
      const client = createClient({ baseUrl: server.url, retry: { retries: 2, ...fast } });
      const error = await rejection(client.health(), { code: 'HTTP_ERROR', status: 502, attempts: 3 });
      assert.match(error.message, /502 Bad Gateway/);
      assert.equal(server.requests.length, 3);
    } finally {
      await server.close();
    }
  });

  it('does not retry other failures: 500, 429 (whose Retry-After it reports) or with retry: false', async () => {
    const server = await scriptedServer((request, response) => {
      if (request.url === '/stats') reply(response, 429, { success: false, errno: 429, message: 'Too many', code: 'RATE_LIMITED' }, { 'retry-after': '7' });
      else if (request.url === '/healthz') reply(response, 503, { success: false, errno: 503, message: 'closing', code: 'SERVICE_UNAVAILABLE' });
      else reply(response, 500, { success: false, errno: 500, message: 'Internal server error', code: 'INTERNAL_SERVER_ERROR' });
    });
    try {
      const client = createClient({ baseUrl: server.url, retry: { retries: 3, ...fast } });
      await rejection(client.emitToUser('a', 'b', {}), { code: 'INTERNAL_SERVER_ERROR', status: 500, attempts: 1 });
      const limited = await rejection(client.stats(), { code: 'RATE_LIMITED', status: 429, attempts: 1 });
      assert.equal(limited.retryAfterSeconds, 7);
      await rejection(createClient({ baseUrl: server.url, retry: false }).health(), { code: 'SERVICE_UNAVAILABLE', attempts: 1 });
      assert.equal(server.requests.length, 3);
    } finally {
      await server.close();
    }
  });

  it('sends the conversation calls as GETs to the routes the gateway defines', async () => {
    const server = await scriptedServer((_request, response) => reply(response, 200, SUCCESS));
    try {
      const client = createClient({ baseUrl: `${server.url}/socket/`, apiKey: API_KEY });
      await client.emitMessage('prospect', '64msg 1');
      await client.emitConversation('prospect', '64conv123', 'new');
      await client.emitConversation('prospect', '64conv123', false);
      assert.deepEqual(
        server.requests.map((r) => `${r.method} ${r.url}`),
        [
          'GET /socket/conversations/prospect/emit/message/64msg%201',
          'GET /socket/conversations/prospect/emit/conversation/64conv123/new',
          'GET /socket/conversations/prospect/emit/conversation/64conv123/existing',
        ],
      );
    } finally {
      await server.close();
    }
  });

  it('retries across a gateway restart on the same port, and the retried emit succeeds', async () => {
    const first = await startGateway();
    const port = new URL(first.url).port;
    await first.close();
    const retries: RetryInfo[] = [];
    const client = createClient({
      baseUrl: first.url,
      apiKey: API_KEY,
      retry: { retries: 20, minDelayMs: 50, maxDelayMs: 300, onRetry: (info) => retries.push(info) },
    });
    // The gateway is down: the call fails to connect and keeps retrying while the next one starts.
    const pending = client.emitToUsers(['alice'], 'notification', { title: 'after restart' });
    await eventually(() => retries.length >= 1, 5000, 'a first retry');
    const second = await startGateway({ PORT: port });
    try {
      // Only the new gateway can have answered: the old one was closed before the call began.
      assertSent(await pending, 0, ['alice']);
      assert.ok(
        retries.every((r) => r.status === 0 && /ECONNREFUSED/.test(r.reason)),
        'retried after connection failures',
      );
      // And the same client goes on working against it.
      const socket = await second.connectUser('alice');
      const arrival = nextEvent(socket, 'notification');
      assert.equal((await client.emitToUser('alice', 'notification', { n: 2 })).sockets, 1);
      assert.deepEqual(await arrival, { n: 2 });
    } finally {
      await second.close();
    }
  });

  it('fails with NETWORK_ERROR after its retries when nothing listens', async () => {
    const gone = await startGateway();
    await gone.close();
    const retries: RetryInfo[] = [];
    const client = createClient({ baseUrl: gone.url, retry: { retries: 2, ...fast, onRetry: (info) => retries.push(info) } });
    const error = await rejection(client.health(), { code: 'NETWORK_ERROR', status: 0, attempts: 3 });
    assert.match(error.message, new RegExp(`Cannot reach ${gone.url}: .*ECONNREFUSED`));
    assert.equal(retries.length, 2);
  });
});

describe('SDK against a cluster node that does not answer', { skip: !redisUp && 'Redis is not running' }, () => {
  it('says unconfirmed when other nodes were asked but did not all answer: they may have delivered', async () => {
    const prefix = uniquePrefix();
    // Broadcast: the frozen peer is not in the user directory, which targeted routing would ask.
    const gw = await startGateway({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, CLUSTER_TIMEOUT_MS: '500', CLUSTER_ROUTING: 'broadcast' });
    // Subscribed to the nodes' request channel, it counts as a node and never answers: a frozen peer.
    const frozenPeer = new Redis(SHARED_REDIS_URL);
    try {
      const client = createClient({ baseUrl: gw.url, apiKey: API_KEY });
      const socket = await gw.connectUser('alice');
      const arrival = nextEvent(socket, 'notification');
      assertSent(await client.emitToUser('alice', 'notification', { n: 1 }), 1, ['alice']);
      await arrival;
      await frozenPeer.subscribe(`${prefix}-request#/#`);
      const result = await client.emitToUser('alice', 'notification', { n: 2 });
      assertSent(result, 1, ['alice'], { partial: true, unconfirmed: true });
      // The type says so too: a caller can tell "asked, may have delivered" from "could not ask".
      const unconfirmed: true | undefined = result.unconfirmed;
      assert.equal(unconfirmed, true);
    } finally {
      frozenPeer.disconnect();
      await gw.close();
    }
  });
});

/**
 * A load balancer in front of a real gateway that forwards every request, but for the first one
 * answers the client `spoil` instead of the gateway's answer (a 503 page after the gateway did emit,
 * or nothing in time): the cases where a client cannot know whether its emit went out.
 */
async function flakyBalancer(target: string, spoil: 'answer 503' | 'answer late') {
  let forwarded = 0;
  const server = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const index = forwarded++;
      const headers: Record<string, string> = {};
      for (const name of ['x-api-key', 'content-type', 'idempotency-key']) if (request.headers[name]) headers[name] = request.headers[name] as string;
      const upstream = await fetch(target + request.url!, { method: request.method!, headers, ...(chunks.length > 0 && { body: Buffer.concat(chunks) }) });
      const body = await upstream.text();
      if (index === 0 && spoil === 'answer 503') return reply(response, 503, '<html>503 Service Unavailable (upstream timed out)</html>');
      if (index === 0 && spoil === 'answer late') return void setTimeout(() => response.destroy(), 2000);
      const replayed = upstream.headers.get('idempotent-replayed');
      response.writeHead(upstream.status, { 'content-type': 'application/json', ...(replayed && { 'idempotent-replayed': replayed }) });
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    forwarded: () => forwarded,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('SDK idempotency keys', () => {
  it('sends a new Idempotency-Key with every emit, the same one with each of its retries, and none with the other calls', async () => {
    const server = await scriptedServer((_request, response, index) =>
      index === 0 ? reply(response, 503, { success: false, errno: 503, message: 'closing', code: 'SERVICE_UNAVAILABLE' }) : reply(response, 200, SUCCESS),
    );
    try {
      const client = createClient({ baseUrl: server.url, apiKey: API_KEY, retry: fast });
      await client.emitToUser('alice', 'notification', {});
      await client.emitToUser('alice', 'notification', {});
      await client.emitMessage('prospect', 'm1');
      await client.emitBatch([{ userId: 'alice', event: 'e', data: null }]).catch(() => undefined);
      await client.health();
      const keys = server.requests.map((r) => r.idempotencyKey);
      assert.match(keys[0]!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random UUID');
      assert.equal(keys[1], keys[0], 'the retry of the first call sends its key again');
      assert.equal(new Set(keys.slice(1, 5)).size, 4, 'each logical call has its own');
      assert.equal(keys[5], undefined, 'health is no emit');
      await client.emitToUsers(['a'], 'e', null, { idempotencyKey: 'order-42-shipped' });
      assert.equal(server.requests.at(-1)!.idempotencyKey, 'order-42-shipped', "the caller's own key");
      for (const bad of ['', 'x'.repeat(256), 'é', 42]) {
        await rejection(client.emitToUser('a', 'e', null, { idempotencyKey: bad as string }), { code: 'INVALID_ARGUMENT' });
      }
    } finally {
      await server.close();
    }
  });

  it('retries a 409 IDEMPOTENCY_KEY_IN_USE: an earlier attempt still runs, the retry gets its answer', async () => {
    const server = await scriptedServer((_request, response, index) =>
      index === 0
        ? reply(response, 409, { success: false, errno: 409, message: 'still running', code: 'IDEMPOTENCY_KEY_IN_USE' })
        : reply(response, 200, SUCCESS),
    );
    try {
      const client = createClient({ baseUrl: server.url, apiKey: API_KEY, retry: fast });
      assert.deepEqual(await client.emitToUser('alice', 'notification', {}), SUCCESS);
      assert.equal(server.requests.length, 2);
    } finally {
      await server.close();
    }
  });

  describe('against a real gateway behind a balancer', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startGateway();
    });
    after(() => gw.close());

    it('retries after a 503 do not duplicate: the retry answers what the gateway answered the first time', async () => {
      const balancer = await flakyBalancer(gw.url, 'answer 503');
      try {
        const socket = await gw.connectUser('sdk-503');
        const got = collect(socket, 'notification');
        const retries: RetryInfo[] = [];
        const client = createClient({ baseUrl: balancer.url, apiKey: API_KEY, retry: { ...fast, onRetry: (info) => retries.push(info) } });
        const result = await client.emitToUser('sdk-503', 'notification', { n: 1 });
        assert.equal(result.sockets, 1);
        assert.deepEqual(
          retries.map((r) => r.status),
          [503],
        );
        assert.equal(balancer.forwarded(), 2, 'the gateway got the call twice');
        const marker = nextEvent(socket, 'marker');
        await client.emitToUser('sdk-503', 'marker', null);
        await marker;
        assert.deepEqual(got, [{ n: 1 }], 'and delivered it once');
      } finally {
        await balancer.close();
      }
    });

    it('a timed-out emit carries its key; repeating the call with it delivers nothing more', async () => {
      const balancer = await flakyBalancer(gw.url, 'answer late');
      try {
        const socket = await gw.connectUser('sdk-late');
        const got = collect(socket, 'notification');
        const client = createClient({ baseUrl: balancer.url, apiKey: API_KEY, timeoutMs: 500, retry: fast });
        const error = await rejection(client.emitToUser('sdk-late', 'notification', { n: 1 }), { code: 'TIMEOUT' });
        assert.match(error.message, /repeat it with the same idempotencyKey/);
        assert.ok(error.idempotencyKey);
        const repeat = await client.emitToUser('sdk-late', 'notification', { n: 1 }, { idempotencyKey: error.idempotencyKey! });
        assert.equal(repeat.sockets, 1);
        const marker = nextEvent(socket, 'marker');
        await client.emitToUser('sdk-late', 'marker', null);
        await marker;
        assert.deepEqual(got, [{ n: 1 }]);
      } finally {
        await balancer.close();
      }
    });

    it('emitBatch answers one result per item; emitToUsers sends an event named "batch" as a batch of one', async () => {
      const client = createClient({ baseUrl: gw.url, apiKey: API_KEY });
      const socket = await gw.connectUser('sdk-batch');
      const arrivals = new Promise<unknown[]>((resolve) => {
        const got: unknown[] = [];
        socket.onAny((event: string, data: unknown) => {
          got.push([event, data]);
          if (got.length === 3) resolve(got);
        });
      });
      const result = await client.emitBatch([
        { userId: 'sdk-batch', event: 'one', data: 1 },
        { userIds: ['sdk-batch'], event: 'connect', data: 2 },
        { socketId: 'gone', event: 'task', data: undefined },
        { userIds: ['sdk-batch', 'nobody'], event: 'two', data: 2 },
      ]);
      assert.deepEqual(
        result.results.map((r) => (r.success ? r.sockets : r.code)),
        [1, 'VALIDATION_ERROR', 'NOT_FOUND', 1],
      );
      const named = await client.emitToUsers('sdk-batch', 'batch', { n: 3 });
      assert.deepEqual([named.success, named.sockets], [true, 1]);
      assert.deepEqual(await arrivals, [
        ['one', 1],
        ['two', 2],
        ['batch', { n: 3 }],
      ]);
      await rejection(client.emitBatch([]), { code: 'INVALID_ARGUMENT' });
      await rejection(
        client
          .emitToUsers('sdk-batch', 'batch', 1, { idempotencyKey: 'batch-of-one' })
          .then(() => client.emitToUsers('sdk-batch', 'batch', 2, { idempotencyKey: 'batch-of-one' })),
        {
          code: 'IDEMPOTENCY_KEY_REUSED',
          status: 422,
        },
      );
    });
  });
});
