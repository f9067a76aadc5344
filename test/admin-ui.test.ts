import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { io as connect } from 'socket.io-client';
import { ConfigError, loadConfig } from '../src/config.js';
import { namespacesOf } from '../src/internals/socket-io.js';
import { startGateway, type TestGateway } from './support/gateway.js';
import { statusOf } from './support/http.js';

/** Connects to the admin namespace; resolves true when let in, false when refused. */
function adminLogin(url: string, auth: Record<string, string>): Promise<boolean> {
  const socket = connect(`${url}/admin`, { auth, forceNew: true, reconnection: false, transports: ['websocket'] });
  return new Promise((resolve) => {
    socket.once('connect', () => {
      socket.disconnect();
      resolve(true);
    });
    socket.once('connect_error', () => {
      socket.disconnect();
      resolve(false);
    });
  });
}

describe('ADMIN_UI=true', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ ADMIN_UI: 'true', ADMIN_UI_USERNAME: 'ops', ADMIN_UI_PASSWORD: 'correct horse battery staple' });
  });
  after(() => gw.close());

  it('lets the admin UI in with the configured credentials only', async () => {
    assert.equal(await adminLogin(gw.url, { username: 'ops', password: 'correct horse battery staple' }), true);
    assert.equal(await adminLogin(gw.url, { username: 'ops', password: 'wrong' }), false);
    assert.equal(await adminLogin(gw.url, { username: 'admin', password: 'correct horse battery staple' }), false);
    assert.equal(await adminLogin(gw.url, {}), false);
  });

  it('serves the admin UI from the gateway at /admin-ui/', async () => {
    const page = await fetch(`${gw.url}/admin-ui/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /Socket\.IO Admin UI/);
    const script = /<script src="(js\/app\.[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, 'the page loads its app script');
    assert.equal(await statusOf(`${gw.url}/admin-ui/${script}`), 200);
    assert.equal(await statusOf(`${gw.url}/admin-ui`, { redirect: 'manual' }), 302);
  });
});

describe('ADMIN_UI_PASSWORD', () => {
  it('may be a bcrypt hash', async () => {
    const gw = await startGateway({ ADMIN_UI: 'true', ADMIN_UI_PASSWORD: bcrypt.hashSync('s3cret', 4) });
    try {
      assert.equal(await adminLogin(gw.url, { username: 'admin', password: 's3cret' }), true);
      assert.equal(await adminLogin(gw.url, { username: 'admin', password: bcrypt.hashSync('s3cret', 4) }), false, 'the hash itself is not the password');
    } finally {
      await gw.close();
    }
  });

  it('is required with ADMIN_UI=true', () => {
    assert.throws(
      () => loadConfig({ ADMIN_UI: 'true', INTERNAL_API_KEY: 'k', JWT_SECRET: 's', SCRAPER_API_KEY: 'w' }),
      (error: unknown) => error instanceof ConfigError && /ADMIN_UI=true needs ADMIN_UI_PASSWORD/.test(error.message),
    );
  });

  it('is not needed, and nothing is instrumented, without ADMIN_UI', async () => {
    const gw = await startGateway();
    try {
      assert.ok(![...namespacesOf(gw.gateway.io)].some((nsp) => nsp.name === '/admin'));
      assert.equal(await statusOf(`${gw.url}/admin-ui/`), 404);
    } finally {
      await gw.close();
    }
  });
});
