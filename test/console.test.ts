import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { io as connect } from 'socket.io-client';
import { nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { statusOf } from './support/http.js';

describe('the console outside production', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('serves its page with a strict CSP, its scripts and the Socket.IO client, all from the gateway', async () => {
    const page = await fetch(`${gw.url}/console`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const html = await page.text();
    assert.match(html, /data-listen="true"/, 'the listen panel is offered');
    for (const link of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)) {
      const url = new URL(link, `${gw.url}/console`);
      assert.equal(url.origin, gw.url, `${link} is served by the gateway`);
      assert.equal(await statusOf(url), 200, `${link} loads`);
    }
    const main = await (await fetch(`${gw.url}/console/js/main.js`)).text();
    assert.match(main, /import .*from '\.\/session\.js'/, 'compiled from console/main.ts');
    const client = await fetch(`${gw.url}/console/vendor/socket.io.esm.min.js`);
    assert.equal(client.status, 200);
    assert.match(client.headers.get('content-type') ?? '', /javascript/);
    assert.match(await client.text(), /Socket\.IO v4/, 'the socket.io-client bundle');
    assert.equal(await statusOf(`${gw.url}/console/js/nothing.js`), 404);
    assert.equal(await statusOf(`${gw.url}/console/`, { redirect: 'manual' }), 302);
  });

  it('mints a short-lived token, with the API key only, that connects as the user', async () => {
    assert.equal((await gw.request('POST', '/console/token', { userId: 'watcher' }, { 'x-api-key': '' })).status, 401);
    const reply = await gw.request('POST', '/console/token', { userId: 'watcher', ttlSeconds: 60 });
    assert.equal(reply.status, 200);
    const { token, expiresAt } = reply.body;
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, 'watcher');
    assert.ok(claims.exp - claims.iat === 60, 'lives as long as asked');
    assert.ok(Math.abs(Date.parse(expiresAt) / 1000 - claims.exp) <= 1);

    const socket = connect(`${gw.url}/v1/shared`, { auth: { token }, forceNew: true, reconnection: false, transports: ['websocket'] });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const arrival = nextEvent(socket as never, 'hello');
      assert.equal((await gw.request('POST', '/emit/watcher/hello', { n: 1 })).body.sockets, 1);
      assert.deepEqual(await arrival, { n: 1 });
    } finally {
      socket.disconnect();
    }
  });

  it('refuses bad token requests, naming the field', async () => {
    const long = await gw.request('POST', '/console/token', { userId: 'watcher', ttlSeconds: 86400 });
    assert.equal(long.status, 400);
    assert.match(long.body.message, /body\.ttlSeconds must be a whole number of seconds from 10 to 3600/);
    const missing = await gw.request('POST', '/console/token', {});
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /body\.userId is required/);
  });
});

describe('the console in production', () => {
  it('offers no listen panel and mints no token', async () => {
    const gw = await startGateway({ NODE_ENV: 'production' });
    try {
      assert.match(await (await fetch(`${gw.url}/console`)).text(), /data-listen="false"/);
      const reply = await gw.request('POST', '/console/token', { userId: 'victim' });
      assert.equal(reply.status, 403);
      assert.match(reply.body.message, /only outside production/);
    } finally {
      await gw.close();
    }
  });
});

describe('the console with JWT_PUBLIC_KEY', () => {
  it('explains that it has no key to sign tokens with', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const gw = await startGateway({ JWT_SECRET: '', JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    try {
      const reply = await gw.request('POST', '/console/token', { userId: 'someone' });
      assert.equal(reply.status, 403);
      assert.match(reply.body.message, /JWT_PUBLIC_KEY/);
    } finally {
      await gw.close();
    }
  });
});
