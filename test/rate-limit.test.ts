import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API_KEY, startGateway, type TestGateway } from './support/gateway.js';

describe('rate limits on the emit routes', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000', INTERNAL_API_KEY: `${API_KEY},second-key` });
  });
  after(() => gw.close());

  it('answers 429 RATE_LIMITED with Retry-After and RateLimit headers once a key used its budget', async () => {
    const first = await gw.request('POST', '/emit/alice/n', {});
    assert.equal(first.headers.get('ratelimit-limit'), '3');
    assert.equal(first.headers.get('ratelimit-remaining'), '2');
    await gw.request('POST', '/emit/n', { userIds: 'alice', data: 1 });
    await gw.request('POST', '/lead-finder/n', { socketId: 'gone', payload: 1 });
    const refused = await gw.request('POST', '/emit/alice/n', {});
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'RATE_LIMITED');
    assert.equal(refused.body.errno, 429);
    assert.match(refused.body.message, /at most 3 per 1 minute/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.ok(refused.headers.get('ratelimit-reset'));
  });

  it('keeps a separate budget per API key, and leaves the probes alone', async () => {
    assert.equal((await gw.request('POST', '/emit/alice/n', {}, { 'x-api-key': 'second-key' })).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await gw.request('GET', '/healthz')).status, 200);
  });

  it('is off with RATE_LIMIT_MAX=0', async () => {
    const open = await startGateway({ RATE_LIMIT_MAX: '0' });
    try {
      for (let i = 0; i < 150; i++) assert.equal((await open.request('POST', '/emit/alice/n', {})).status, 200);
    } finally {
      await open.close();
    }
  });
});

describe('rate limits leave the figures alone', () => {
  it('does not count GET /stats against the emit budget', async () => {
    const gw = await startGateway({ RATE_LIMIT_MAX: '2' });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await gw.request('GET', '/stats')).status, 200);
      assert.equal((await gw.request('POST', '/emit/a/b', {})).status, 200);
    } finally {
      await gw.close();
    }
  });
});
