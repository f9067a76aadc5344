/**
 * A deploy as users live it: the gateway gets SIGTERM, a new one starts on the same port, and stock
 * socket.io-clients (reconnection on, as they come) find their way back with no application code.
 * (test/workers.test.ts checks that a WORKERS=n drain ends connections the same way.)
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { mintToken } from '../src/auth/tokens.js';
import { API_KEY, JWT_SECRET, assertSent, gatewayEnv, nextEvent } from './support/gateway.js';
import { freePort } from './support/redis.js';

const root = new URL('..', import.meta.url).pathname;

/** Starts `src/main.ts` with `env`; resolves once it logs that it listens. */
function start(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('general-socket listening on')) resolve(child);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${output}`)));
  });
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

const connected = (socket: Socket): Promise<void> => new Promise((resolve) => socket.once('connect', () => resolve()));

describe('a restart (SIGTERM, then a gateway starts again on the same port)', () => {
  const children: ChildProcess[] = [];
  const clients: Socket[] = [];
  after(() => {
    for (const client of clients) client.disconnect();
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('stock clients (websocket, long-polling, polling upgraded to websocket) come back by themselves and receive events', async () => {
    // A port that was free a moment ago, so that both gateways can be told to use it.
    const port = await freePort();
    // One environment for both gateways: the same keys and data folder, as a deploy keeps them.
    const env = gatewayEnv({ PORT: String(port), LOG_LEVEL: 'info', DATA_DIR: mkdtempSync(join(tmpdir(), 'gs-restart-')) });
    children.push(await start(env));
    const url = `http://127.0.0.1:${port}/v1/shared`;
    const token = await mintToken(JWT_SECRET, 'returning');
    // Stock options: reconnection is on by default, and nothing below reconnects a client by hand.
    const transportSets: ('polling' | 'websocket')[][] = [['websocket'], ['polling'], ['polling', 'websocket']];
    for (const transports of transportSets) clients.push(connect(url, { auth: { token }, forceNew: true, transports }));
    await Promise.all(clients.map(connected));
    const firstIds = clients.map((client) => client.id);

    const reasons = Promise.all(clients.map((client) => new Promise<string>((resolve) => client.once('disconnect', resolve))));
    children[0]!.kill('SIGTERM');
    assert.equal(await exited(children[0]!), 0);
    // The reason decides whether a client comes back: after "io server disconnect" it never does. A
    // long-polling client whose pending poll is cut mid-request reports "transport error" instead of
    // "transport close"; socket.io-client's Manager reconnects after either, while "io server
    // disconnect" destroys the socket instead.
    for (const reason of await reasons) assert.match(reason, /^transport (close|error)$/, `a client was told "${reason}", after which it would not reconnect`);

    const back = Promise.all(clients.map(connected));
    children.push(await start(env));
    await back;
    assert.ok(clients.every((client, n) => client.connected && client.id !== firstIds[n]));
    const arrivals = Promise.all(clients.map((client) => nextEvent(client, 'welcome_back')));
    const reply = await fetch(`http://127.0.0.1:${port}/emit/returning/welcome_back`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ ok: true }),
    });
    assertSent(await reply.json(), 3, ['returning']);
    assert.deepEqual(await arrivals, [{ ok: true }, { ok: true }, { ok: true }]);
  });
});
