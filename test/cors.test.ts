/**
 * CORS on the Socket.IO long-polling endpoint, as a browser sees it: the preflight a cross-origin
 * `withCredentials` client sends, and the handshake after it. Credentials (a load balancer's
 * stickiness cookie) are allowed only for listed origins, never with `*`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../src/config.js';
import { gatewayEnv, startGateway, type TestGateway } from './support/gateway.js';

const APP = 'https://app.example.com';
const POLLING = '/socket.io/?EIO=4&transport=polling';

/** The preflight a browser sends before a cross-origin POST with a JSON-ish content type. */
async function preflight(gw: TestGateway, origin: string): Promise<Response> {
  const response = await fetch(gw.url + POLLING, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  await response.arrayBuffer();
  return response;
}

/** The polling handshake (a GET) a browser sends from `origin`. */
async function handshake(gw: TestGateway, origin: string): Promise<Response> {
  const response = await fetch(gw.url + POLLING, { headers: { origin, cookie: 'SERVERID=gs1' } });
  await response.arrayBuffer();
  return response;
}

describe('CORS with CORS_CREDENTIALS=true and listed origins', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ CORS_ORIGINS: `${APP}, http://localhost:3000`, CORS_CREDENTIALS: 'true' });
  });
  after(() => gw.close());

  it('allows a listed origin to send credentials, in the preflight and in the handshake', async () => {
    const allowed = await preflight(gw, APP);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), APP, 'the origin itself, never *');
    assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
    assert.match(allowed.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(allowed.headers.get('vary') ?? '', /Origin/i, 'caches keep answers per origin');

    const opened = await handshake(gw, 'http://localhost:3000');
    assert.equal(opened.status, 200);
    assert.equal(opened.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    assert.equal(opened.headers.get('access-control-allow-credentials'), 'true');
  });

  it('gives an unlisted origin no Access-Control-Allow-Origin, so its browser refuses the answer', async () => {
    for (const response of [await preflight(gw, 'https://evil.example'), await handshake(gw, 'https://evil.example')]) {
      assert.equal(response.headers.get('access-control-allow-origin'), null);
    }
  });
});

describe('CORS by default (CORS_ORIGINS=*)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('allows any origin without credentials', async () => {
    const response = await preflight(gw, 'https://anywhere.example');
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.equal(response.headers.get('access-control-allow-credentials'), null, 'a browser then sends no cookie');
  });
});

describe('CORS configuration', () => {
  it('refuses CORS_CREDENTIALS=true with CORS_ORIGINS=*', () => {
    assert.throws(
      () => loadConfig(gatewayEnv({ CORS_CREDENTIALS: 'true' })),
      (error: unknown) => error instanceof ConfigError && /CORS_CREDENTIALS=true needs CORS_ORIGINS to list the origins/.test(error.message),
    );
    assert.throws(() => loadConfig(gatewayEnv({ CORS_ORIGINS: `${APP},*`, CORS_CREDENTIALS: 'true' })), /CORS_CREDENTIALS/);
  });

  it('refuses an entry that no browser would send as its origin', () => {
    for (const entry of [`${APP}/`, 'app.example.com', `${APP}/path`, 'https://app.example.com:443']) {
      assert.throws(
        () => loadConfig(gatewayEnv({ CORS_ORIGINS: entry })),
        new RegExp(`CORS_ORIGINS entry "${entry.replace(/[.*/]/g, '\\$&')}" is not an origin`),
        entry,
      );
    }
    assert.deepEqual(loadConfig(gatewayEnv({ CORS_ORIGINS: `${APP}, http://localhost:3000` })).corsOrigins, [APP, 'http://localhost:3000']);
  });
});
