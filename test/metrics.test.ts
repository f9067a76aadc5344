import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { createMetrics } from '../src/metrics.js';
import type { ReadinessProbe } from '../src/readiness.js';
import { API_KEY, eventually, startGateway, type TestGateway } from './support/gateway.js';
import { statusOf } from './support/http.js';

/** The samples of a Prometheus text exposition, as `name{label="value",...}` (labels sorted) -> value. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    samples.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]));
  }
  return samples;
}

/** The key `parse` gives a sample. */
function key(name: string, labels: Record<string, string> = {}): string {
  return `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',')}}`;
}

async function scrape(gw: TestGateway, headers: Record<string, string> = { 'x-api-key': API_KEY }): Promise<Map<string, number>> {
  const response = await fetch(`${gw.url}/metrics`, { headers });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parse(await response.text());
}

/** Connects and resolves with the connect_error code (the handshake must be refused). */
function refused(url: string, auth: Record<string, unknown>): Promise<string | undefined> {
  const socket = connect(url, { auth, forceNew: true, reconnection: false, transports: ['websocket'] });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected, but should have been refused')));
    socket.once('connect_error', (error) => {
      socket.disconnect();
      resolve((error as Error & { data?: { code?: string } }).data?.code);
    });
  });
}

describe('GET /metrics', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('needs the API key, as x-api-key or as a bearer token (what Prometheus sends)', async () => {
    assert.equal(await statusOf(`${gw.url}/metrics`), 401);
    assert.equal(await statusOf(`${gw.url}/metrics`, { headers: { authorization: 'Bearer wrong' } }), 401);
    assert.equal(await statusOf(`${gw.url}/metrics`, { headers: { 'x-api-key': API_KEY } }), 200);
    assert.equal(await statusOf(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } }), 200);
  });

  it('after known traffic, the counters and gauges read the expected values', async () => {
    const [alice1] = await Promise.all([gw.connectUser('alice'), gw.connectUser('alice')]);
    const bob = await gw.connectUser('bob');
    const worker = await gw.connectScraper();
    assert.equal(await refused(`${gw.url}/v1/shared`, { token: 'not-a-jwt' }), 'TOKEN_INVALID');
    assert.equal(await refused(`${gw.url}/v1/lead-finder`, {}), 'KEY_MISSING');

    assert.equal((await gw.request('POST', '/emit/alice/notification', { title: 'New Lead' })).body.sockets, 2);
    assert.equal((await gw.request('POST', '/emit/system_announcement', { userIds: ['alice', 'bob'], data: {} })).body.sockets, 3);
    assert.equal((await gw.request('POST', '/emit/system_announcement', { userIds: [], data: {} })).status, 400);
    assert.equal((await gw.request('POST', '/emit/alice/notification', {}, { 'x-api-key': 'wrong' })).status, 401);
    assert.equal((await gw.request('POST', '/lead-finder/scrape_task', { socketId: worker.id, payload: {} })).body.sockets, 1);
    assert.equal((await gw.request('POST', '/lead-finder/scrape_task', { socketId: 'gone', payload: {} })).status, 404);
    bob.disconnect();
    await eventually(() => gw.gateway.io.of('/v1/shared').sockets.size === 2, 3000, 'bob to disconnect');
    assert.ok(alice1.connected);

    const m = await scrape(gw);
    const expect = (name: string, labels: Record<string, string>, value: number) => assert.equal(m.get(key(name, labels)), value, key(name, labels));
    expect('general_socket_sockets', { namespace: '/v1/shared' }, 2);
    expect('general_socket_sockets', { namespace: '/v1/lead-finder' }, 1);
    expect('general_socket_users', {}, 1);
    expect('general_socket_connections_total', { namespace: '/v1/shared' }, 3);
    expect('general_socket_connections_total', { namespace: '/v1/lead-finder' }, 1);
    expect('general_socket_connections_refused_total', { namespace: '/v1/shared', reason: 'TOKEN_INVALID' }, 1);
    expect('general_socket_connections_refused_total', { namespace: '/v1/lead-finder', reason: 'KEY_MISSING' }, 1);
    expect('general_socket_disconnections_total', { namespace: '/v1/shared', reason: 'client namespace disconnect' }, 1);
    expect('general_socket_emits_total', { route: 'POST /emit/:userId/:emitTo', outcome: 'SUCCESS' }, 1);
    expect('general_socket_emits_total', { route: 'POST /emit/:userId/:emitTo', outcome: 'UNAUTHORIZED' }, 1);
    expect('general_socket_emits_total', { route: 'POST /emit/:emitTo', outcome: 'SUCCESS' }, 1);
    expect('general_socket_emits_total', { route: 'POST /emit/:emitTo', outcome: 'VALIDATION_ERROR' }, 1);
    expect('general_socket_emits_total', { route: 'POST /lead-finder/:event', outcome: 'SUCCESS' }, 1);
    expect('general_socket_emits_total', { route: 'POST /lead-finder/:event', outcome: 'NOT_FOUND' }, 1);
    expect('general_socket_sockets_reached_total', {}, 2 + 3 + 1);
    expect('general_socket_deliveries_total', { audience: 'users' }, 2);
    expect('general_socket_deliveries_total', { audience: 'scraper' }, 2);
    expect('general_socket_http_request_duration_seconds_count', { method: 'POST', route: '/emit/:emitTo', status_code: '400' }, 1);
    expect('general_socket_http_request_duration_seconds_count', { method: 'POST', route: '/emit/:emitTo', status_code: '200' }, 1);
    expect('general_socket_http_request_duration_seconds_bucket', { method: 'POST', route: '/emit/:emitTo', status_code: '200', le: '+Inf' }, 1);
    assert.ok((m.get(key('nodejs_eventloop_lag_p99_seconds')) ?? -1) >= 0, 'event-loop delay is reported');
    expect('general_socket_dependency_up', { dependency: 'bus' }, 1);
    expect('general_socket_dependency_up', { dependency: 'database' }, 1);
    expect('general_socket_dependency_up', { dependency: 'streams' }, 1);
  });

  it('counts unknown URLs under one label, so that scanners cannot create series', async () => {
    await gw.request('GET', '/wp-admin/setup.php');
    await gw.request('GET', '/.env');
    const m = await scrape(gw);
    assert.equal(m.get(key('general_socket_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_code: '404' })), 2);
  });
});

describe('GET /metrics with METRICS_PUBLIC=true', () => {
  it('needs no key', async () => {
    const gw = await startGateway({ METRICS_PUBLIC: 'true' });
    try {
      assert.equal(await statusOf(`${gw.url}/metrics`), 200);
      assert.equal((await gw.request('GET', '/stats', undefined, { 'x-api-key': '' })).status, 401, 'the rest of the API still needs it');
    } finally {
      await gw.close();
    }
  });
});

describe('emit metrics under the rate limit', () => {
  it('counts refused calls as RATE_LIMITED', async () => {
    const gw = await startGateway({ RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW_MS: '60000' });
    try {
      assert.equal((await gw.request('POST', '/emit/u/e', {})).status, 200);
      assert.equal((await gw.request('POST', '/emit/u/e', {})).status, 429);
      const m = await scrape(gw);
      assert.equal(m.get(key('general_socket_emits_total', { route: 'POST /emit/:userId/:emitTo', outcome: 'SUCCESS' })), 1);
      assert.equal(m.get(key('general_socket_emits_total', { route: 'POST /emit/:userId/:emitTo', outcome: 'RATE_LIMITED' })), 1);
    } finally {
      await gw.close();
    }
  });
});

describe('dependency metrics', () => {
  it('follow every readiness probe, including one added later, with a failing or throwing probe at 0', async () => {
    const server = createServer();
    const io = new Server(server);
    let databaseUp = true;
    const probes: ReadinessProbe[] = [{ name: 'database', check: async () => ({ ok: databaseUp }) }];
    const metrics = createMetrics(io, probes);
    const read = async () => parse(await metrics.registry.metrics());

    assert.equal((await read()).get(key('general_socket_dependency_up', { dependency: 'database' })), 1);
    databaseUp = false;
    probes.push({
      name: 'bus',
      check: async () => {
        throw new Error('connection refused');
      },
    });
    const m = await read();
    assert.equal(m.get(key('general_socket_dependency_up', { dependency: 'database' })), 0);
    assert.equal(m.get(key('general_socket_dependency_up', { dependency: 'bus' })), 0);
    io.close();
  });
});
