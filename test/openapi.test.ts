/**
 * The API description against the route table (src/api) and against what the gateway really does:
 * every operation of the table is documented and served, and the error statuses each documents are
 * exactly those the gateway answers when each of them is provoked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { InjectOptions } from 'fastify';
import { Redis } from 'ioredis';
import { operations, type Operation } from '../src/api/operations.js';
import { ROUTES } from '../src/api/routes.js';
import { loadConfig } from '../src/config.js';
import { errorRegistry, type ErrorCode } from '../src/errors.js';
import { createGateway, type Gateway } from '../src/gateway.js';
import { API_KEY, gatewayEnv, startGateway, type TestGateway } from './support/gateway.js';
import { statusOf } from './support/http.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

type Doc = { openapi: string; paths: Record<string, Record<string, any>>; servers: { url: string }[]; security: unknown };

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

async function validate(document: unknown): Promise<void> {
  const result = await new Validator().validate(document as Parameters<Validator['validate']>[0]);
  assert.equal(result.valid, true, `not a valid OpenAPI document: ${JSON.stringify(result.errors, null, 2)}`);
}

const OPERATIONS = Object.values(operations) as Operation[];
const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');
const documented = (doc: Doc) =>
  Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
const documentedErrors = (doc: Doc, op: Operation) =>
  Object.keys(doc.paths[openApiPath(op.url)]![op.method.toLowerCase()].responses)
    .map(Number)
    .filter((status) => status !== 200)
    .sort((a, b) => a - b);

/** Builds a gateway (not listening) with the test keys; `env` adds or overrides variables. */
const build = (env: Record<string, string> = {}): Promise<Gateway> => createGateway(loadConfig(gatewayEnv(env)));

/** A request, as Fastify's `inject()` takes it. */
interface Call {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly payload?: string;
  readonly remoteAddress?: string;
}

/** The operation's example request: parameters and body from the examples its schema shows (`segments` replaces parameters). */
function example(op: Operation, segment?: (name: string) => string): Call {
  const params = (op.schema.params as { properties?: Record<string, { examples: string[] }> } | undefined)?.properties ?? {};
  const url = op.url.replace(/:(\w+)/g, (_, name: string) => segment?.(name) ?? encodeURIComponent(params[name]!.examples[0]!));
  const body = op.schema.body === undefined ? undefined : JSON.stringify((op.schema.body as { examples: unknown[] }).examples[0]);
  return {
    method: op.method,
    url,
    headers: { 'x-api-key': API_KEY, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { payload: body }),
  };
}

/** What a provocation got: the status, and the body when it is JSON. */
interface Answer {
  readonly status: number;
  readonly body: any;
}

async function inject(gateway: Gateway, call: Call): Promise<Answer> {
  const response = await gateway.app.inject(call as InjectOptions);
  const json = response.headers['content-type']?.toString().startsWith('application/json');
  return { status: response.statusCode, body: json ? response.json() : response.body };
}

/** Ways to get an error out of any route; each applies to every operation it can be written for. */
const PROVOCATIONS: { readonly what: string; call(op: Operation): Call | undefined }[] = [
  // 200, or 404 from the operations that look something up (nothing is connected or stored).
  { what: 'the example request', call: (op) => example(op) },
  { what: 'no API key', call: (op) => ({ ...example(op), headers: { ...example(op).headers, 'x-api-key': '' } }) },
  { what: 'an address outside ALLOWED_IPS', call: (op) => ({ ...example(op), remoteAddress: '192.0.2.1' }) },
  { what: 'an API key in the query string', call: (op) => ({ ...example(op), url: `${example(op).url}?apiKey=${API_KEY}` }) },
  { what: 'parameters their schemas refuse', call: (op) => (op.url.includes(':') ? example(op, () => 'a%01b') : undefined) },
  { what: 'a malformed escape in the URL', call: (op) => (op.url.includes(':') ? example(op, () => 'a%ZZ') : undefined) },
  { what: 'a parameter over 1024 characters', call: (op) => (op.url.includes(':') ? example(op, () => 'x'.repeat(1025)) : undefined) },
  {
    what: 'a body that is not JSON',
    call: (op) => ({ ...example(op), headers: { ...example(op).headers, 'content-type': 'application/json' }, payload: '{"a": ' }),
  },
  {
    what: 'a body over BODY_LIMIT_BYTES',
    call: (op) => ({
      ...example(op),
      headers: { ...example(op).headers, 'content-type': 'application/json' },
      payload: JSON.stringify({ blob: 'x'.repeat(2000) }),
    }),
  },
  {
    what: 'a body that is not application/json',
    call: (op) => ({ ...example(op), headers: { ...example(op).headers, 'content-type': 'text/plain' }, payload: 'hello' }),
  },
];

/** Error statuses each operation answered, and what provoked each. */
class Provoked {
  readonly statuses = new Map<string, Map<number, string>>(OPERATIONS.map((op) => [op.operationId, new Map()]));

  record(op: Operation, what: string, answer: Answer): void {
    if (answer.status < 400) return;
    const context = `${op.operationId} (${op.method} ${op.url}) answered ${answer.status} to ${what}: ${JSON.stringify(answer.body)}`;
    // A status documented with a body of the operation's own besides the error shape (/readyz's 503 when a dependency does not answer).
    const ownBody = (op.schema.response as Record<number, { anyOf?: unknown[] }>)[answer.status]?.anyOf !== undefined && answer.body?.success !== false;
    if (ownBody) return void this.statuses.get(op.operationId)!.set(answer.status, what);
    assert.equal(answer.body?.success, false, context);
    assert.equal(answer.body.errno, answer.status, context);
    assert.equal(errorRegistry[answer.body.code as ErrorCode]?.status, answer.status, `${context}: the code must be a registry code of that status`);
    this.statuses.get(op.operationId)!.set(answer.status, what);
  }
}

describe('GET /openapi.json', () => {
  let gw: TestGateway;
  let doc: Doc;
  before(async () => {
    gw = await startGateway();
    const reply = await gw.request('GET', '/openapi.json', undefined, { 'x-api-key': '' });
    assert.equal(reply.status, 200, 'the description is public');
    doc = reply.body;
  });
  after(() => gw.close());

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    await validate(doc);
  });

  it('documents exactly the operations of the route table, each served under its own method only (no 405 helpers)', () => {
    const table = Object.values(ROUTES).map(({ method, url }) => `${method} ${openApiPath(url)}`);
    assert.deepEqual(documented(doc).sort(), table.sort());
    const ids = Object.values(doc.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
    assert.deepEqual(ids.sort(), Object.keys(ROUTES).sort(), 'operationIds are the names of the route table (and the SDK methods)');
    for (const { method, url } of Object.values(ROUTES)) assert.ok(gw.gateway.app.hasRoute({ method, url }), `${method} ${url} is served`);
  });

  it('asks for the API key everywhere but the probes', () => {
    assert.deepEqual(doc.security, [{ apiKey: [] }]);
    assert.deepEqual(doc.paths['/healthz']!.get.security, []);
    assert.deepEqual(doc.paths['/readyz']!.get.security, []);
    assert.equal(doc.paths['/emit/{emitTo}']!.post.security, undefined, 'inherits the key requirement');
    assert.deepEqual(doc.paths['/metrics']!.get.security, [{ apiKey: [] }, { bearer: [] }]);
  });

  it("shows the seed's examples", () => {
    const toUser = doc.paths['/emit/{userId}/{emitTo}']!.post;
    assert.equal(toUser.requestBody.content['application/json'].example.title, 'New Lead');
    const pathParameters = (op: any) => op.parameters.filter((p: any) => p.in === 'path');
    assert.deepEqual(
      pathParameters(toUser).map((p: any) => [p.name, p.example]),
      [
        ['userId', '64user123abc'],
        ['emitTo', 'notification'],
      ],
    );
    const toUsers = doc.paths['/emit/{emitTo}']!.post.requestBody.content['application/json'];
    assert.deepEqual(toUsers.example.userIds, ['64user1', '64user2', '64user3']);
    const scraper = doc.paths['/lead-finder/{event}']!.post.requestBody.content['application/json'];
    assert.equal(scraper.example.payload.keyword, 'plumber near me');
    assert.deepEqual(doc.paths['/emit/{emitTo}']!.post.responses['200'].content['application/json'].example, { success: true, message: 'SUCCESS', sockets: 2 });
    const message = doc.paths['/conversations/{channel}/emit/message/{messageID}']!.get;
    assert.deepEqual(
      pathParameters(message).map((p: any) => [p.name, p.example]),
      [
        ['channel', 'prospect'],
        ['messageID', '64abc123def456789'],
      ],
    );
    const convo = doc.paths['/conversations/{channel}/emit/conversation/{convoID}/{isNew}']!.get;
    assert.deepEqual(
      pathParameters(convo).map((p: any) => p.example),
      ['prospect', '64conv123', 'new'],
    );
  });

  it('documents the Idempotency-Key header on every emit route, and the batch’s items as they must be', () => {
    for (const op of OPERATIONS) {
      const header = doc.paths[openApiPath(op.url)]![op.method.toLowerCase()].parameters?.find((p: any) => p.in === 'header' && p.name === 'idempotency-key');
      assert.equal(header !== undefined, op.emit, `${op.operationId}: ${op.emit ? 'documents' : 'does not document'} the header`);
      if (header) {
        assert.equal(header.required, false);
        assert.match(header.description, /Idempotent-Replayed: true/);
      }
    }
    const batch = doc.paths['/emit/batch']!.post.requestBody.content['application/json'].schema;
    const item = batch.properties.items.items;
    assert.deepEqual(
      item.anyOf.map((shape: any) => Object.keys(shape.properties)),
      [
        ['userId', 'event', 'data'],
        ['userIds', 'event', 'data'],
        ['socketId', 'event', 'data'],
      ],
    );
  });

  it('keeps the validation sentences (x-error) as schema extensions', () => {
    const param = doc.paths['/emit/{userId}/{emitTo}']!.post.parameters.find((p: any) => p.name === 'userId');
    assert.match(param.schema['x-error'], /without whitespace/);
  });

  it('documents `unconfirmed` beside `partial` in the emit answers', () => {
    const reply = doc.paths['/emit/{userId}/{emitTo}']!.post.responses['200'].content['application/json'].schema;
    assert.match(reply.properties.unconfirmed.description, /may have delivered/);
  });
});

describe('the servers the document names', () => {
  it('never takes them from the Host header: a relative server by default, PUBLIC_URL when set', async () => {
    const relative = await build();
    const configured = await build({ PUBLIC_URL: 'https://socket.example.com/base/' });
    try {
      for (const path of ['/openapi.json', '/docs/json']) {
        const forged = await inject(relative, { method: 'GET', url: path, headers: { host: 'evil.example:666' } });
        assert.equal(forged.status, 200);
        assert.deepEqual(
          forged.body.servers.map((s: { url: string }) => s.url),
          ['/'],
          `${path} ignores a forged Host`,
        );
        assert.ok(!JSON.stringify(forged.body).includes('evil.example'), `${path} holds nothing of the forged Host`);
        const named = await inject(configured, { method: 'GET', url: path, headers: { host: 'evil.example:666' } });
        assert.deepEqual(
          named.body.servers.map((s: { url: string }) => s.url),
          ['https://socket.example.com/base'],
          `${path} names PUBLIC_URL`,
        );
      }
    } finally {
      await Promise.all([relative.close(), configured.close()]);
    }
    for (const bad of ['socket.example.com', 'ftp://socket.example.com', 'https://socket.example.com/?x=1']) {
      assert.throws(() => loadConfig(gatewayEnv({ PUBLIC_URL: bad })), /PUBLIC_URL must/, bad);
    }
  });
});

describe('documented error statuses', { timeout: 120_000 }, () => {
  let doc: Doc;
  const provoked = new Provoked();
  before(async () => {
    const gateway = await build();
    try {
      doc = (await inject(gateway, { method: 'GET', url: '/openapi.json', headers: {} })).body;
    } finally {
      await gateway.close();
    }
  });

  it('are derived from the route table: the document lists each operation’s statuses', () => {
    for (const op of OPERATIONS) assert.deepEqual(documentedErrors(doc, op), op.errors, op.operationId);
    // The two that were missing: a body that is not JSON is 415, and every route answers 503 while the gateway shuts down.
    assert.ok(operations.emitToUser.errors.includes(415), 'a body that is not JSON is documented as 415');
    assert.ok(
      OPERATIONS.every((op) => op.errors.includes(503)),
      'every operation documents 503 (shutdown)',
    );
    // And what came since: every route refuses a key in the query string with 400.
    assert.ok(
      OPERATIONS.every((op) => op.errors.includes(400)),
      'every operation documents 400 (a key in the query string)',
    );
  });

  it('provoke: bad requests, missing keys, foreign addresses', async () => {
    const gateway = await build({ ALLOWED_IPS: '127.0.0.1', BODY_LIMIT_BYTES: '1024' });
    try {
      for (const op of OPERATIONS) {
        for (const { what, call } of PROVOCATIONS) {
          const request = call(op);
          if (request !== undefined) provoked.record(op, what, await inject(gateway, request));
        }
      }
    } finally {
      await gateway.close();
    }
  });

  it('provoke: the rate limit', async () => {
    const keys = OPERATIONS.map((op) => `limit-key-${op.operationId}-0123456789`);
    const gateway = await build({ RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW_MS: '3600000', INTERNAL_API_KEY: keys.join(',') });
    try {
      // One key per operation, so each operation meets its own exhausted budget.
      for (const [index, op] of OPERATIONS.entries()) {
        const call = { ...example(op), headers: { ...example(op).headers, 'x-api-key': keys[index]! } };
        await inject(gateway, call);
        provoked.record(op, 'a second call within RATE_LIMIT_MAX=1', await inject(gateway, call));
      }
    } finally {
      await gateway.close();
    }
  });

  it('provoke: a request that arrives while the gateway shuts down', async () => {
    const gateway = await build();
    let draining!: () => void;
    let release!: () => void;
    const drain = new Promise<void>((resolve) => (draining = resolve));
    // Holds the shutdown open after the gateway's own preClose, as a slow in-flight request would.
    gateway.app.addHook('preClose', () => {
      draining();
      return new Promise<void>((resolve) => (release = resolve));
    });
    const { port } = await gateway.listen();
    const closed = gateway.close();
    try {
      await drain;
      for (const op of OPERATIONS) {
        const { method, url, headers, payload } = example(op);
        const response = await fetch(`http://127.0.0.1:${port}${url}`, { method, headers, ...(payload !== undefined && { body: payload }) });
        const text = await response.text();
        assert.equal(response.headers.get('retry-after'), '1', op.operationId);
        provoked.record(op, 'a request during shutdown', { status: response.status, body: JSON.parse(text) });
      }
    } finally {
      release();
      await closed;
    }
  });

  it('provoke: stored documents too large or too deep to send', async () => {
    // The example ids name documents the conversation routes refuse to send.
    const tooLarge = await build({ CONVERSATION_MAX_USERS: '1', EMIT_MAX_BYTES: '1024' });
    const tooDeep = await build({ JSON_MAX_DEPTH: '2' });
    try {
      await tooLarge.store.importDocuments({
        users: [{ _id: 'u1' }, { _id: 'u2' }],
        conversationprospects: [
          { _id: '64conv123', users: ['u1', 'u2'] },
          { _id: 'one-user', users: ['u1'] },
        ],
        communications: [{ _id: '64abc123def456789', type: 'OUTGOING', sent_by: 'u1', conversation_id: ['one-user'], data: 'x'.repeat(2000) }],
      });
      await tooDeep.store.importDocuments({
        users: [{ _id: 'u1' }],
        conversationprospects: [{ _id: '64conv123', users: ['u1'], notes: { a: { b: { c: 1 } } } }],
        communications: [{ _id: '64abc123def456789', type: 'OUTGOING', sent_by: 'u1', conversation_id: ['64conv123'], data: { a: { b: { c: 1 } } } }],
      });
      for (const op of [operations.emitMessage, operations.emitConversation] as Operation[]) {
        provoked.record(op, 'documents over EMIT_MAX_BYTES or CONVERSATION_MAX_USERS', await inject(tooLarge, example(op)));
        provoked.record(op, 'a document deeper than JSON_MAX_DEPTH', await inject(tooDeep, example(op)));
      }
    } finally {
      await Promise.all([tooLarge.close(), tooDeep.close()]);
    }
  });

  it('provoke: the event history while HISTORY_SIZE=0', async () => {
    const gateway = await build({ HISTORY_SIZE: '0' });
    try {
      provoked.record(operations.history as Operation, 'HISTORY_SIZE=0', await inject(gateway, example(operations.history as Operation)));
    } finally {
      await gateway.close();
    }
  });

  it('provoke: a cluster node that does not answer in time', { skip: !redisUp && 'Redis is not running' }, async () => {
    const prefix = uniquePrefix();
    // Broadcast: the frozen peer is not in the user directory, which targeted routing would ask.
    const gateway = await build({ REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, CLUSTER_TIMEOUT_MS: '500', CLUSTER_ROUTING: 'broadcast' });
    // Subscribed to the nodes' request channel, it counts as a node, and never answers: a frozen peer.
    const frozenPeer = new Redis(SHARED_REDIS_URL);
    try {
      await frozenPeer.subscribe(`${prefix}-request#/#`);
      for (const op of OPERATIONS) provoked.record(op, 'a cluster node that does not answer', await inject(gateway, example(op)));
    } finally {
      frozenPeer.disconnect();
      await gateway.close();
    }
  });

  it('provoke: an Idempotency-Key used for another request', async () => {
    const gateway = await build();
    try {
      for (const op of OPERATIONS.filter((candidate) => candidate.emit)) {
        const first = { ...example(op), headers: { ...example(op).headers, 'idempotency-key': `reused-${op.operationId}` } };
        await inject(gateway, first);
        // Another request: other parameters, or for a route without any, another body.
        const other = op.url.includes(':')
          ? { ...first, url: example(op, (name) => (name === 'isNew' ? 'existing' : `other-${name}`)).url }
          : { ...first, payload: JSON.stringify({ items: [{ userId: 'someone-else', event: 'other', data: null }] }) };
        provoked.record(op, 'an Idempotency-Key used for another request', await inject(gateway, other));
      }
    } finally {
      await gateway.close();
    }
  });

  it('provoke: a repeat while the first call waits for a node that does not answer', { skip: !redisUp && 'Redis is not running' }, async () => {
    const prefix = uniquePrefix();
    // A repeat waits REQUEST_TIMEOUT_MS for the call that holds its key; the first one waits CLUSTER_TIMEOUT_MS for the frozen node.
    // Broadcast: the frozen peer below is not in the user directory, so targeted routing would not
    // ask it (once the first lease after start-up has passed), and nothing would wait.
    const gateway = await build({
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_PREFIX: prefix,
      CLUSTER_TIMEOUT_MS: '2000',
      REQUEST_TIMEOUT_MS: '100',
      HEADERS_TIMEOUT_MS: '100',
      CLUSTER_ROUTING: 'broadcast',
    });
    const frozenPeer = new Redis(SHARED_REDIS_URL);
    try {
      // The conversation routes' examples name documents, so that they reach the emit (and the frozen node).
      await gateway.store.importDocuments({
        users: [{ _id: 'u1' }],
        conversationprospects: [{ _id: '64conv123', users: ['u1'] }],
        communications: [{ _id: '64abc123def456789', type: 'OUTGOING', sent_by: 'u1', conversation_id: ['64conv123'], data: 'hi' }],
      });
      await frozenPeer.subscribe(`${prefix}-request#/#`);
      for (const op of OPERATIONS.filter((candidate) => candidate.emit)) {
        const call = { ...example(op), headers: { ...example(op).headers, 'idempotency-key': `running-${op.operationId}` } };
        // Whichever of the two claims the key first, the other one waits for it and gives up.
        const answers = await Promise.all([inject(gateway, call), inject(gateway, call)]);
        const conflict = answers.find((answer) => answer.status === 409);
        assert.ok(conflict, `${op.operationId}: one of the two answered 409 (${answers.map((a) => a.status).join(', ')})`);
        provoked.record(op, 'a repeat while the first call still runs', conflict);
      }
    } finally {
      frozenPeer.disconnect();
      await gateway.close();
    }
  });

  it('are exactly the statuses the gateway answered', { skip: !redisUp && 'Redis is not running (504 cannot be provoked)' }, () => {
    for (const op of OPERATIONS) {
      const answered = provoked.statuses.get(op.operationId)!;
      const missing = op.errors.filter((status) => !answered.has(status));
      const extra = [...answered.keys()].filter((status) => !op.errors.includes(status)).map((status) => `${status} (to ${answered.get(status)})`);
      assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${op.operationId}: documented ${op.errors.join(', ')}`);
    }
  });
});

describe('METRICS_PUBLIC=true', () => {
  it('documents and serves GET /metrics without the key', async () => {
    const gateway = await build({ METRICS_PUBLIC: 'true' });
    try {
      const doc: Doc = (await inject(gateway, { method: 'GET', url: '/openapi.json', headers: {} })).body;
      assert.deepEqual(doc.paths['/metrics']!.get.security, []);
      assert.deepEqual(Object.keys(doc.paths['/metrics']!.get.responses).sort(), ['200', '400', '503']);
      assert.equal((await inject(gateway, { method: 'GET', url: '/metrics', headers: {} })).status, 200);
    } finally {
      await gateway.close();
    }
  });
});

describe('GET /docs', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('serves Swagger UI with every asset from this gateway (no CDN)', async () => {
    const page = await fetch(`${gw.url}/docs/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    const links = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(links.length >= 3, 'the page loads scripts and styles');
    for (const link of links) {
      const url = new URL(link, `${gw.url}/docs/`);
      assert.equal(url.origin, gw.url, `${link} is served by the gateway`);
      assert.equal(await statusOf(url), 200, `${link} loads`);
    }
    const initializer = await (await fetch(`${gw.url}/docs/static/swagger-initializer.js`)).text();
    assert.match(initializer, /validatorUrl: null/, "Swagger UI does not send the document to swagger.io's online validator");
  });
});
