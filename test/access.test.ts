import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createIpAllowlist } from '../src/auth/ip-allowlist.js';
import { createKeySet } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import { API_KEY, startGateway, type TestGateway } from './support/gateway.js';

describe('API keys', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ INTERNAL_API_KEY: `${API_KEY},next-key-after-rotation` });
  });
  after(() => gw.close());

  it('answers 401 to a missing or wrong key, on every emit route', async () => {
    for (const [method, path, body] of [
      ['POST', '/emit/alice/notification', {}],
      ['POST', '/emit/notification', { userIds: ['a'], data: 1 }],
      ['POST', '/lead-finder/scrape_task', { socketId: 's', payload: 1 }],
    ] as const) {
      const missing = await gw.request(method, path, body, { 'x-api-key': '' });
      assert.equal(missing.status, 401);
      assert.deepEqual(missing.body, { success: false, errno: 401, message: 'Missing x-api-key header', code: 'UNAUTHORIZED' });
      const wrong = await gw.request(method, path, body, { 'x-api-key': `${API_KEY}x` });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.message, 'Invalid API key in x-api-key header');
    }
  });

  it('accepts every configured key, so keys can be rotated', async () => {
    for (const key of [API_KEY, 'next-key-after-rotation']) {
      const reply = await gw.request('POST', '/emit/alice/notification', {}, { 'x-api-key': key });
      assert.equal(reply.status, 200);
    }
  });

  it('lets the probes through without a key', async () => {
    const health = await gw.request('GET', '/healthz', undefined, { 'x-api-key': '' });
    assert.deepEqual([health.status, health.body], [200, { status: 'ok' }]);
    const ready = await gw.request('GET', '/readyz', undefined, { 'x-api-key': '' });
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { ready: true, checks: { bus: { ok: true }, database: { ok: true }, streams: { ok: true } } }, 'no details without a key');
    const detailed = await gw.request('GET', '/readyz');
    assert.equal(detailed.body.checks.bus.detail, 'standalone', 'details with the key');
  });

  it('matches keys exactly (no prefix, no case folding)', () => {
    const keys = createKeySet(['Secret-1', 'other']);
    assert.ok(keys.match('Secret-1'));
    assert.notEqual(keys.match('Secret-1'), keys.match('other'));
    for (const guess of ['secret-1', 'Secret-', 'Secret-12', '', undefined, ['Secret-1'], 42]) assert.equal(keys.match(guess), undefined);
  });
});

describe('ALLOWED_IPS', () => {
  it('parses IPs and CIDRs of both families, and matches IPv4-mapped IPv6 callers', () => {
    const allowed = createIpAllowlist(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '::1']);
    for (const ip of ['10.1.2.3', '::ffff:10.200.0.1', '192.168.1.7', '2001:db8::42', '::1']) assert.equal(allowed(ip), true, ip);
    for (const ip of ['11.0.0.1', '192.168.1.8', '2001:db9::1', '::2', 'garbage']) assert.equal(allowed(ip), false, ip);
    assert.throws(() => createIpAllowlist(['10.0.0.0/40']), /"10\.0\.0\.0\/40" is not an IP address or CIDR/);
    assert.throws(() => createIpAllowlist(['example.com']), /example\.com/);
  });

  it('answers 403 to callers outside the list, before checking the key', async () => {
    const gw = await startGateway({ ALLOWED_IPS: '10.0.0.0/8' });
    try {
      const reply = await gw.request('POST', '/emit/alice/notification', {}, { 'x-api-key': '' });
      assert.equal(reply.status, 403);
      assert.equal(reply.body.code, 'FORBIDDEN');
      assert.match(reply.body.message, /127\.0\.0\.1 is not in ALLOWED_IPS/);
      assert.equal((await gw.request('GET', '/healthz')).status, 200, 'probes stay open');
    } finally {
      await gw.close();
    }
  });

  it('lets IPv4 and IPv6 callers in when listed, on a dual-stack listener', async () => {
    const gw = await startGateway({ HOST: '::', ALLOWED_IPS: '127.0.0.0/8' });
    try {
      const port = new URL(gw.url).port;
      assert.equal((await gw.request('POST', '/emit/alice/notification', {})).status, 200, 'IPv4 caller seen as ::ffff:127.0.0.1');
      const v6 = await fetch(`http://[::1]:${port}/emit/alice/notification`, { method: 'POST', headers: { 'x-api-key': API_KEY } });
      assert.equal(v6.status, 403, '::1 is not in the list');
    } finally {
      await gw.close();
    }
  });

  it('with TRUST_PROXY set to the proxy addresses, takes the address the proxy appended, not one a caller made up', async () => {
    // The test client plays the load balancer at 127.0.0.1, which appends the address it saw.
    const gw = await startGateway({ ALLOWED_IPS: '203.0.113.9', TRUST_PROXY: '127.0.0.1/32, 10.0.0.0/8' });
    try {
      assert.equal((await gw.request('POST', '/emit/a/b', {}, { 'x-forwarded-for': '203.0.113.9' })).status, 200);
      assert.equal(
        (await gw.request('POST', '/emit/a/b', {}, { 'x-forwarded-for': '198.51.100.1, 203.0.113.9, 10.1.1.1' })).status,
        200,
        'inner proxies are skipped',
      );
      const spoofed = await gw.request('POST', '/emit/a/b', {}, { 'x-forwarded-for': '203.0.113.9, 198.51.100.7' });
      assert.equal(spoofed.status, 403, 'a caller-supplied address in front of the real one is ignored');
      assert.match(spoofed.body.message, /198\.51\.100\.7/);
    } finally {
      await gw.close();
    }
    assert.throws(() => loadConfig({ TRUST_PROXY: 'lb.internal', INTERNAL_API_KEY: 'k', JWT_SECRET: 's', SCRAPER_API_KEY: 'w' }), /"lb\.internal"/);
  });

  it('uses X-Forwarded-For only when TRUST_PROXY is on', async () => {
    const trusting = await startGateway({ ALLOWED_IPS: '203.0.113.9', TRUST_PROXY: 'true' });
    const plain = await startGateway({ ALLOWED_IPS: '203.0.113.9' });
    try {
      const headers = { 'x-forwarded-for': '203.0.113.9' };
      assert.equal((await trusting.request('POST', '/emit/a/b', {}, headers)).status, 200);
      assert.equal((await trusting.request('POST', '/emit/a/b', {})).status, 403);
      assert.equal((await plain.request('POST', '/emit/a/b', {}, headers)).status, 403, 'a caller cannot claim an address');
    } finally {
      await Promise.all([trusting.close(), plain.close()]);
    }
  });
});
