import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { io as connect } from 'socket.io-client';
import { ConfigError, loadConfig } from '../src/config.js';
import { ADMIN_SIGN_INS_PER_MINUTE } from '../src/admin-ui.js';
import { namespacesOf } from '../src/internals/socket-io.js';
import { admits, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { statusOf } from './support/http.js';
import { nestedArrays, openRaw } from './support/raw-socket.js';

/** Connects to the admin namespace; resolves with the connect_error, or undefined when let in. */
function adminRefusal(url: string, auth: Record<string, unknown>): Promise<(Error & { data?: { code?: string } }) | undefined> {
  const socket = connect(`${url}/admin`, { auth, forceNew: true, reconnection: false, transports: ['websocket'] });
  return new Promise((resolve) => {
    socket.once('connect', () => {
      socket.disconnect();
      resolve(undefined);
    });
    socket.once('connect_error', (error) => {
      socket.disconnect();
      resolve(error);
    });
  });
}

/** Whether the admin namespace lets in a socket presenting `auth`. */
const adminLogin = (url: string, auth: Record<string, string>): Promise<boolean> => admits(url, '/admin', auth);

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

describe('ADMIN_UI=true under attack', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ ADMIN_UI: 'true', ADMIN_UI_USERNAME: 'ops', ADMIN_UI_PASSWORD: 'correct horse battery staple' });
  });
  after(() => gw.close());

  it('survives a user event nested 5,000 levels deep, which the admin UI would relay', async () => {
    const bystander = await gw.connectUser('bystander');
    const raw = await openRaw(gw.url);
    raw.send(`0/v1/shared,${JSON.stringify({ token: await gw.token('mallory') })}`);
    await raw.received((packet) => packet.startsWith('0/v1/shared,'));
    raw.send(`2/v1/shared,["deep",${nestedArrays(5000)}]`);
    await raw.closed;
    const arrival = nextEvent(bystander, 'still-up');
    assert.equal((await gw.request('POST', '/emit/bystander/still-up', { ok: true })).body.sockets, 1);
    assert.deepEqual(await arrival, { ok: true });
  });

  it('refuses a password that is not a string, saying so, without an unhandled rejection', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown): void => void rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const error = await adminRefusal(gw.url, { username: 'ops', password: { $ne: '' } });
      assert.equal(error?.data?.code, 'ADMIN_CREDENTIALS_INVALID');
      assert.match(error!.message, /username and password must be strings/);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(rejections, []);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('hands the UI a session id it can sign in with instead of the password', async () => {
    const socket = connect(`${gw.url}/admin`, {
      auth: { username: 'ops', password: 'correct horse battery staple' },
      forceNew: true,
      reconnection: false,
      transports: ['websocket'],
    });
    const sessionId = (await nextEvent(socket, 'session')) as string;
    socket.disconnect();
    assert.match(sessionId, /^[0-9a-f]{16,}$/);
    assert.equal(await adminLogin(gw.url, { sessionId }), true);
    assert.equal(await adminLogin(gw.url, { sessionId: 'f'.repeat(32) }), false);
  });

  it('shows the admin UI no Cookie, Authorization or token of any client', async () => {
    const token = await gw.token('watched');
    const user = connect(`${gw.url}/v1/shared`, {
      auth: { token },
      query: { token, room: 'lobby' },
      extraHeaders: { cookie: 'session=s3cr3t', authorization: `Bearer ${token}`, 'x-trace': 'kept' },
      forceNew: true,
      reconnection: false,
      transports: ['websocket'],
    });
    await new Promise<void>((resolve) => user.once('connect', () => resolve()));
    const admin = connect(`${gw.url}/admin`, {
      auth: { username: 'ops', password: 'correct horse battery staple' },
      forceNew: true,
      reconnection: false,
      transports: ['websocket'],
    });
    const sockets = (await nextEvent(admin, 'all_sockets')) as {
      id: string;
      handshake: { headers: Record<string, string>; query: Record<string, string>; url: string };
    }[];
    const shown = sockets.find((socket) => socket.id === user.id);
    assert.ok(shown, 'the admin UI lists the user socket');
    assert.equal(shown.handshake.headers['x-trace'], 'kept');
    assert.equal(shown.handshake.query.room, 'lobby');
    const everything = JSON.stringify(sockets);
    for (const secret of ['s3cr3t', token, 'correct horse']) assert.equal(everything.includes(secret), false, `the admin UI sees ${secret.slice(0, 12)}...`);
    user.disconnect();
    admin.disconnect();
  });
});

describe('ADMIN_UI sign-in throttling', () => {
  it(`refuses more than ${ADMIN_SIGN_INS_PER_MINUTE} sign-in attempts a minute from one address, even with the right password`, async () => {
    const gw = await startGateway({ ADMIN_UI: 'true', ADMIN_UI_USERNAME: 'ops', ADMIN_UI_PASSWORD: bcrypt.hashSync('right', 4) });
    try {
      for (let i = 0; i < ADMIN_SIGN_INS_PER_MINUTE; i++) {
        assert.equal((await adminRefusal(gw.url, { username: 'ops', password: `guess-${i}` }))?.message, 'invalid credentials');
      }
      const throttled = await adminRefusal(gw.url, { username: 'ops', password: 'right' });
      assert.equal(throttled?.data?.code, 'ADMIN_SIGN_IN_THROTTLED');
      assert.match(throttled!.message, /Too many sign-in attempts from [\d.:a-f]+: at most 10 per minute; retry in \d+ s/);
      await eventually(() => gw.gateway.io.engine.clientsCount === 0, 3000, 'refused connections to close');
    } finally {
      await gw.close();
    }
  });
});
