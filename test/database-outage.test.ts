/**
 * PostgreSQL going away and coming back, with the gateway running as a real process (`src/main.ts`)
 * against a private PostgreSQL server in a temp folder (the shared one on 5432 stays untouched).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Socket as TcpSocket } from 'node:net';
import { io as connect, type Socket } from 'socket.io-client';
import { mintToken } from '../src/auth/tokens.js';
import { openPostgresStore } from '../src/store/postgres.js';
import type { ImportBatch } from '../src/store/store.js';
import { builtMain } from './support/dist.js';
import { API_KEY, JWT_SECRET, eventually, gatewayEnv, nextEvent, startGateway } from './support/gateway.js';
import { privatePostgresAvailable, runSql, startPrivatePostgres, type PrivatePostgres } from './support/postgres.js';

const PASSWORD = 'pg-pass-never-logged';
const TIMEOUT_MS = 1000;

const fixture: ImportBatch = {
  users: [{ _id: 'u1', name: 'Alice', password: 'x' }],
  contacts: [{ _id: 'c1', name: 'John Doe' }],
  conversationprospects: [{ _id: 'conv1', users: ['u1'], contact_id: 'c1', unread_count: { u1: 1 } }],
  communications: [{ _id: 'm1', type: 'INCOMING', data: 'Hi', sent_by: 'c1', conversation_id: ['conv1'] }],
};

async function seed(url: string): Promise<void> {
  const store = await openPostgresStore({ url, timeoutMs: 5000, poolSize: 1, log: { warn: () => undefined } });
  await store.importDocuments(fixture);
  await store.close();
}

/** The gateway as its own process, and what it logged. */
interface GatewayProcess {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; ms: number }>;
  connectUser(userId: string): Promise<Socket>;
  stop(): Promise<number | null>;
}

async function spawnGateway(databaseUrl: string): Promise<GatewayProcess> {
  const root = new URL('..', import.meta.url).pathname;
  const child = spawn(process.execPath, [builtMain()], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: gatewayEnv({ PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', DATABASE_URL: databaseUrl, DATABASE_TIMEOUT_MS: String(TIMEOUT_MS) }),
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  let port = 0;
  await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${output}`);
      port = Number(/"port":(\d+)/.exec(output)?.[1] ?? 0);
      return port > 0;
    },
    20_000,
    'the gateway to listen',
  );
  const url = `http://127.0.0.1:${port}`;
  const sockets: Socket[] = [];
  return {
    child,
    url,
    output: () => output,
    async request(method, path, body) {
      const started = Date.now();
      const response = await fetch(url + path, {
        method,
        headers: { 'x-api-key': API_KEY, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
      return { status: response.status, body: await response.json(), ms: Date.now() - started };
    },
    async connectUser(userId) {
      const socket = connect(`${url}/v1/shared`, {
        auth: { token: await mintToken(JWT_SECRET, userId) },
        forceNew: true,
        reconnection: false,
        transports: ['websocket'],
      });
      sockets.push(socket);
      await new Promise((resolve, reject) => {
        socket.once('connect', () => resolve(undefined));
        socket.once('connect_error', reject);
      });
      return socket;
    },
    async stop() {
      for (const socket of sockets) socket.disconnect();
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      return exited;
    },
  };
}

const available = await privatePostgresAvailable();

describe('PostgreSQL stopped and restarted (private server)', { skip: !available && 'PostgreSQL binaries are not installed' }, () => {
  let pg: PrivatePostgres;
  let gateway: GatewayProcess;
  let alice: Socket;

  before(async () => {
    pg = await startPrivatePostgres();
    await runSql(pg.url(), 'CREATE DATABASE late');
    await seed(pg.url());
    gateway = await spawnGateway(pg.url(PASSWORD));
    alice = await gateway.connectUser('u1');
  });
  after(async () => {
    await gateway?.stop();
    pg?.destroy();
  });

  it('serves the conversation routes while PostgreSQL is up', async () => {
    const arrival = nextEvent(alice, 'prospect_add_conversation');
    const reply = await gateway.request('GET', '/conversations/prospect/emit/conversation/conv1/existing');
    assert.equal(reply.status, 200);
    assert.equal(((await arrival) as { title: string }).title, 'John Doe');
    assert.equal((await gateway.request('GET', '/readyz')).status, 200);
  });

  it('while it is down: 503 SERVICE_UNAVAILABLE without hanging, /emit works, /readyz says so', async () => {
    pg.stop();
    for (const path of [
      '/conversations/prospect/emit/message/m1',
      '/conversations/prospect/emit/conversation/conv1/new',
      '/conversations/prospect/emit/message/m1',
    ]) {
      const reply = await gateway.request('GET', path);
      assert.equal(reply.status, 503, JSON.stringify(reply.body));
      assert.equal(reply.body.code, 'SERVICE_UNAVAILABLE');
      assert.match(reply.body.message, /database is unavailable; retry later/);
      // Bounded by DATABASE_TIMEOUT_MS, with generous room for a busy machine: the call must not hang.
      assert.ok(reply.ms < TIMEOUT_MS + 4000, `answered after ${reply.ms} ms`);
    }
    const arrival = nextEvent(alice, 'notification');
    assert.equal((await gateway.request('POST', '/emit/u1/notification', { still: 'here' })).status, 200);
    assert.deepEqual(await arrival, { still: 'here' });

    const ready = await gateway.request('GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.ready, false);
    assert.equal(ready.body.checks.database.ok, false);
    assert.match(ready.body.checks.database.detail, /PostgreSQL is unavailable/);
    assert.equal(gateway.child.exitCode, null, 'the gateway is still running');
  });

  it('recovers by itself once PostgreSQL is back', async () => {
    pg.start();
    await eventually(async () => (await gateway.request('GET', '/readyz')).status === 200, 15_000, '/readyz to turn ready');
    const arrival = nextEvent(alice, 'prospect_message');
    const reply = await gateway.request('GET', '/conversations/prospect/emit/message/m1');
    assert.equal(reply.status, 200);
    assert.equal(((await arrival) as { data: string }).data, 'Hi');
  });

  it('starts while PostgreSQL is down, and migrates and serves once it is up', async () => {
    pg.stop();
    const late = await spawnGateway(pg.url(PASSWORD).replace(/\/postgres$/, '/late'));
    try {
      assert.equal((await late.request('POST', '/emit/u1/hello', {})).status, 200);
      assert.equal((await late.request('GET', '/conversations/prospect/emit/message/m1')).status, 503);
      assert.equal((await late.request('GET', '/readyz')).status, 503);
      pg.start();
      await eventually(async () => (await late.request('GET', '/readyz')).status === 200, 15_000, '/readyz to turn ready');
      const versions = await runSql(pg.url().replace(/\/postgres$/, '/late'), 'SELECT version FROM schema_migrations');
      assert.ok(versions.rowCount! >= 1, 'the late gateway migrated the schema itself');
      await seed(pg.url().replace(/\/postgres$/, '/late'));
      const socket = await late.connectUser('u1');
      const arrival = nextEvent(socket, 'prospect_message');
      assert.equal((await late.request('GET', '/conversations/prospect/emit/message/m1')).status, 200);
      await arrival;
      assert.match(late.output(), /PostgreSQL is unavailable at start/);
      assert.ok(!late.output().includes(PASSWORD), 'the log never shows the database password');
    } finally {
      assert.equal(await late.stop(), 0, 'clean shutdown');
    }
  });

  it('never crashed, never logged the password, and shuts down cleanly', async () => {
    assert.equal(gateway.child.exitCode, null);
    const output = gateway.output();
    assert.match(output, /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
    assert.ok(!output.includes(PASSWORD), 'the log never shows the database password');
    assert.equal(await gateway.stop(), 0);
  });
});

describe('a PostgreSQL address that accepts connections but never answers', () => {
  it('costs at most DATABASE_TIMEOUT_MS per call: 503, and /emit and /readyz keep answering', async () => {
    const held: TcpSocket[] = [];
    const blackHole = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as { port: number };
    const gw = await startGateway({ DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/test`, DATABASE_TIMEOUT_MS: String(TIMEOUT_MS) });
    try {
      const started = Date.now();
      const reply = await gw.request('GET', '/conversations/prospect/emit/message/m1');
      const ms = Date.now() - started;
      assert.equal(reply.status, 503);
      assert.match(reply.body.message, /timeout/i);
      assert.equal(reply.headers.get('retry-after'), '1');
      assert.ok(ms >= TIMEOUT_MS - 100 && ms < TIMEOUT_MS + 4000, `answered after ${ms} ms`);
      assert.equal((await gw.request('POST', '/emit/u1/hello', {})).status, 200);
      const ready = await gw.request('GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.checks.database.ok, false);
    } finally {
      await gw.close();
      for (const socket of held) socket.destroy();
      blackHole.close();
    }
  });
});
