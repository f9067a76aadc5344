import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nextEvent, startGateway, type TestGateway } from './support/gateway.js';

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
    const text = await fetch(`${gw.url}/emit/alice/notification`, { method: 'POST', headers: { 'x-api-key': 'test-api-key-0123456789', 'content-type': 'text/plain' }, body: 'hello' });
    assertError({ status: text.status, body: await text.json() }, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  const badRequests: [string, string, string, unknown, RegExp][] = [
    ['reserved event name', 'POST', '/emit/alice/connect', {}, /params\.emitTo .*reserves/],
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
