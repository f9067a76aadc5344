/**
 * Scoped API keys (`API_KEYS`): a key reaches only the route groups it holds (403 with a code naming
 * the missing scope), sends only the events its patterns allow, and counts against its own rate
 * limit; `INTERNAL_API_KEY` still does everything. Fastify's inject against real gateways.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { operations, type Operation } from '../src/api/operations.js';
import { SCOPE_CODES, SCOPE_NAMES, type Scope } from '../src/auth/scopes.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createGateway, type Gateway } from '../src/gateway.js';
import { API_KEY, gatewayEnv } from './support/gateway.js';

const OPERATIONS = (Object.values(operations) as Operation[]).filter((op) => op.access !== 'public');

/** The key of the test key for `name`. */
const keyOf = (name: string): string => `scoped-key-${name}-0123456789`;

/** One key per scope, holding only it. */
const SINGLE_SCOPE_KEYS = SCOPE_NAMES.map((scope) => ({ id: `only-${scope}`, key: keyOf(scope), scopes: [scope] }));

const API_KEYS = [
  ...SINGLE_SCOPE_KEYS,
  { id: 'notifier', key: keyOf('notifier'), scopes: ['emit'], events: ['notification*', 'alert'] },
  { id: 'chat-backend', key: keyOf('chat'), scopes: ['conversations'], events: ['prospect_message'] },
  { id: 'everything', key: keyOf('everything'), scopes: ['*'] },
  { id: 'throttled', key: keyOf('throttled'), scopes: ['emit'], rateLimit: { max: 2, windowMs: 60_000 } },
];

/** The operation's example request (its schema's examples), with `key` as the API key. */
function example(op: Operation, key: string): InjectOptions {
  const params = (op.schema.params as { properties?: Record<string, { examples: string[] }> } | undefined)?.properties ?? {};
  const url = op.url.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(params[name]!.examples[0]!));
  const body = op.schema.body === undefined ? undefined : JSON.stringify((op.schema.body as { examples: unknown[] }).examples[0]);
  return {
    method: op.method,
    url,
    headers: { 'x-api-key': key, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { payload: body }),
  };
}

describe('scoped API keys', () => {
  let gateway: Gateway;
  const call = async (options: InjectOptions) => {
    const response = await gateway.app.inject(options);
    // /metrics answers in Prometheus's text format.
    const json = response.headers['content-type']?.toString().startsWith('application/json');
    return { status: response.statusCode, body: (json ? response.json() : {}) as { code?: string; message?: string; sockets?: number } };
  };
  before(async () => {
    gateway = await createGateway(loadConfig(gatewayEnv({ API_KEYS: JSON.stringify(API_KEYS) })));
  });
  after(() => gateway.close());

  it('every route names a scope, and every scope its 403 code', () => {
    for (const op of OPERATIONS) assert.ok(op.scope, `${op.operationId} names the scope a key needs`);
    for (const scope of SCOPE_NAMES) assert.match(SCOPE_CODES[scope], /^SCOPE_[A-Z_]+_REQUIRED$/);
  });

  it('a key reaches the routes of its scope, and each other route refuses it with 403 and the code of the scope it lacks', async () => {
    for (const op of OPERATIONS) {
      for (const scope of SCOPE_NAMES) {
        const answer = await call(example(op, keyOf(scope)));
        const where = `${op.operationId} with a key holding only "${scope}": ${JSON.stringify(answer.body)}`;
        if (scope === op.scope) {
          assert.ok(answer.status !== 401 && answer.status !== 403, where);
        } else {
          assert.equal(answer.status, 403, where);
          assert.equal(answer.body.code, SCOPE_CODES[op.scope as Scope], where);
          assert.match(answer.body.message!, new RegExp(`"only-${scope}" lacks the scope "${op.scope}"`), where);
        }
      }
    }
  });

  it('INTERNAL_API_KEY, and a key with every scope, reach every route', async () => {
    for (const key of [API_KEY, keyOf('everything')]) {
      for (const op of OPERATIONS) {
        const answer = await call(example(op, key));
        assert.ok(answer.status !== 401 && answer.status !== 403, `${op.operationId}: ${JSON.stringify(answer.body)}`);
      }
    }
  });

  it('a key limited to event patterns sends only matching events (403 EVENT_FORBIDDEN otherwise)', async () => {
    const emit = (event: string, key = keyOf('notifier')) =>
      call({ method: 'POST', url: `/emit/u1/${event}`, headers: { 'x-api-key': key, 'content-type': 'application/json' }, payload: '{}' });
    for (const event of ['notification', 'notification_new_lead', 'alert']) assert.equal((await emit(event)).status, 200, event);
    for (const event of ['alerts', 'chat_message', 'xnotification']) {
      const answer = await emit(event);
      assert.equal(answer.status, 403, event);
      assert.equal(answer.body.code, 'EVENT_FORBIDDEN');
      assert.match(answer.body.message!, /"notifier" may send only events matching "notification\*", "alert"/);
    }
    const toMany = await call({
      method: 'POST',
      url: '/emit/chat',
      headers: { 'x-api-key': keyOf('notifier'), 'content-type': 'application/json' },
      payload: JSON.stringify({ userIds: ['u1'], data: {} }),
    });
    assert.equal(toMany.body.code, 'EVENT_FORBIDDEN', 'POST /emit/:emitTo too');
    // The conversation routes' events are named after their channel.
    const chat = { 'x-api-key': keyOf('chat') };
    assert.equal((await call({ method: 'GET', url: '/conversations/prospect/emit/message/m1', headers: chat })).status, 404, 'prospect_message: allowed');
    const conversation = await call({ method: 'GET', url: '/conversations/prospect/emit/conversation/c1/new', headers: chat });
    assert.equal(conversation.body.code, 'EVENT_FORBIDDEN', 'prospect_add_conversation: not allowed');
  });

  it('a key with its own rate limit is limited to it, whatever RATE_LIMIT_MAX says (here 0: none)', async () => {
    const emit = (key: string) =>
      call({ method: 'POST', url: '/emit/u1/notification', headers: { 'x-api-key': key, 'content-type': 'application/json' }, payload: '{}' });
    assert.equal((await emit(keyOf('throttled'))).status, 200);
    assert.equal((await emit(keyOf('throttled'))).status, 200);
    const third = await emit(keyOf('throttled'));
    assert.equal(third.status, 429);
    assert.match(third.body.message!, /at most 2 per 1 minute for this API key/);
    for (let i = 0; i < 5; i++) assert.equal((await emit(API_KEY)).status, 200, 'other keys keep their own (no) limit');
  });

  it('/metrics follows the scopes (Bearer too) and counts calls per key id, never per key', async () => {
    const refused = await gateway.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${keyOf('emit')}` } });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().code, 'SCOPE_METRICS_REQUIRED');
    const scraped = await gateway.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${keyOf('metrics')}` } });
    assert.equal(scraped.statusCode, 200);
    assert.match(scraped.body, /general_socket_api_key_requests_total\{key="only-emit",outcome="SCOPE_METRICS_REQUIRED"\} [1-9]/);
    assert.match(scraped.body, /general_socket_api_key_requests_total\{key="notifier",outcome="EVENT_FORBIDDEN"\} [1-9]/);
    assert.match(scraped.body, /general_socket_api_key_requests_total\{key="notifier",outcome="SUCCESS"\} [1-9]/);
    assert.ok(!scraped.body.includes(keyOf('notifier')), 'no key in the metrics');
  });

  it('the OpenAPI document names each route’s scope code under 403', async () => {
    const doc = (await gateway.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const forbidden = doc.paths['/users/{userId}/revoke-tokens'].post.responses['403'].description as string;
    assert.match(forbidden, /SCOPE_TOKENS_REQUIRED/);
    assert.ok(!forbidden.includes('SCOPE_EMIT_REQUIRED'), 'only the scope of this route');
    assert.match(doc.paths['/emit/{emitTo}'].post.responses['403'].description, /EVENT_FORBIDDEN/);
  });
});

describe('API_KEYS, as configured', () => {
  const load = (keys: unknown) => loadConfig(gatewayEnv({ API_KEYS: typeof keys === 'string' ? keys : JSON.stringify(keys) }));
  const refuses = (keys: unknown, message: RegExp) =>
    assert.throws(
      () => load(keys),
      (error: unknown) => error instanceof ConfigError && message.test(error.message) && !error.message.includes('s3cret-never-shown'),
      String(message),
    );
  const good = { id: 'svc', key: 's3cret-never-shown-0123', scopes: ['emit'] };

  it('refuses what it cannot read, naming the entry and the field, never the key', () => {
    refuses('not json s3cret-never-shown', /API_KEYS must be a JSON array/);
    refuses([], /1 to 1000 keys/);
    refuses([{ ...good, id: 'has space' }], /API_KEYS\[0\]\.id/);
    refuses([{ ...good, scopes: ['emitt'] }], /API_KEYS\[0\] \("svc"\)\.scopes: "emitt" is not a scope/);
    refuses([{ ...good, scopes: [] }], /scopes must be a non-empty array/);
    refuses([{ ...good, events: [] }], /events must be 1 to 100 event-name patterns/);
    refuses([{ ...good, rateLimit: { max: 0, windowMs: 1000 } }], /rateLimit must be/);
    refuses([{ ...good, scope: ['emit'] }], /unknown field "scope"/);
    refuses([good, { ...good, key: 'another-key-0123456789' }], /two keys have the id "svc"/);
    refuses([good, { ...good, id: 'svc2' }], /"svc2" has the same key/);
  });

  it('counts as the API key in production: no INTERNAL_API_KEY needed, short keys refused', () => {
    const env = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), INTERNAL_API_KEY: '', API_KEYS: JSON.stringify([good]) };
    assert.equal(loadConfig(gatewayEnv(env)).apiKeys.length, 1);
    assert.throws(() => loadConfig(gatewayEnv({ ...env, API_KEYS: JSON.stringify([{ ...good, key: 'short' }]) })), /API_KEYS key must have at least 16/);
  });
});
