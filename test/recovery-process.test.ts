/**
 * Recovery across what ends a process: a standalone gateway stopped (SIGTERM) or killed (SIGKILL)
 * and started again on the same DATA_DIR, and a node of a Redis cluster killed while its clients
 * reconnect to another (through a TCP balancer, as behind a load balancer). Stock socket.io-clients
 * on every transport must end with every event whose REST call answered 200, in order, exactly once.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { mintToken } from '../src/auth/tokens.js';
import { startBalancer, type Balancer } from './support/balancer.js';
import { exited, spawnGateway } from './support/gateway-process.js';
import { API_KEY, JWT_SECRET, eventually, gatewayEnv } from './support/gateway.js';
import { SHARED_REDIS_URL, freePort, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());
/** Emits `{ k }` to `userId` through `port`; resolves with the position when it answered 200. */
async function emit(port: number, userId: string, k: number): Promise<string | undefined> {
  const response = await fetch(`http://127.0.0.1:${port}/emit/${userId}/n`, {
    method: 'POST',
    headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ k }),
  }).catch(() => undefined);
  if (response?.status !== 200) return undefined;
  return ((await response.json()) as { positions: Record<string, string> }).positions[userId];
}

/** A stock client of `userId` (reconnection on, quick retries) that records every `n` event. */
async function client(url: string, userId: string, transports: ('polling' | 'websocket')[]) {
  const socket: Socket = connect(`${url}/v1/shared`, {
    auth: { token: await mintToken(JWT_SECRET, userId) },
    forceNew: true,
    transports,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
  });
  const received: string[] = [];
  socket.on('n', (_data: unknown, position: string) => received.push(position));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, received, transports: transports.join('+') };
}

const TRANSPORTS: ('polling' | 'websocket')[][] = [['websocket'], ['polling'], ['polling', 'websocket']];

describe('recovery across a restart of a standalone gateway', { timeout: 120_000 }, () => {
  const children: ChildProcess[] = [];
  const sockets: Socket[] = [];
  after(() => {
    for (const socket of sockets) socket.disconnect();
    for (const child of children) child.kill('SIGKILL');
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${signal}: every event answered 200 before the stop, and after the restart, arrives once and in order on every transport`, async () => {
      const port = await freePort();
      const env = gatewayEnv({ PORT: String(port), DATA_DIR: mkdtempSync(join(tmpdir(), 'gs-recovery-')) });
      const first = (await spawnGateway(env)).child;
      children.push(first);
      const url = `http://127.0.0.1:${port}`;
      const clients = await Promise.all(TRANSPORTS.map((transports) => client(url, 'r', transports)));
      sockets.push(...clients.map((c) => c.socket));

      const acknowledged: string[] = [];
      // A burst whose last events are still on their way (or in a polling client's buffer) at the stop.
      for (let k = 0; k < 40; k++) {
        const position = await emit(port, 'r', k);
        assert.ok(position, `emit ${k} answered 200`);
        acknowledged.push(position);
      }
      first.kill(signal);
      await exited(first);
      const second = (await spawnGateway(env)).child;
      children.push(second);
      for (let k = 40; k < 50; k++) {
        const position = await emit(port, 'r', k);
        assert.ok(position, `emit ${k} answered 200`);
        acknowledged.push(position);
      }
      await eventually(() => clients.every((c) => c.received.length >= acknowledged.length), 30_000, 'every client to catch up');
      for (const c of clients) {
        assert.deepEqual(c.received, acknowledged, `${c.transports}: every event once, in order`);
        assert.equal(c.socket.recovered, true, `${c.transports}: recovered`);
      }
      second.kill('SIGTERM');
      await exited(second);
    });
  }
});

describe('recovery when the node holding a client is killed and it reconnects to another', {
  skip: !redisUp && 'Redis is not running',
  timeout: 120_000,
}, () => {
  const children: ChildProcess[] = [];
  const sockets: Socket[] = [];
  let balancer: Balancer | undefined;
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await balancer?.close();
    for (const child of children) child.kill('SIGKILL');
  });

  it('SIGKILL of the node: the client resumes on the survivor with every event answered 200, once and in order, while emits go on', async () => {
    const prefix = uniquePrefix();
    const [portA, portB] = [await freePort(), await freePort()];
    const common = { REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, CLUSTER_TIMEOUT_MS: '1000' };
    const a = (await spawnGateway(gatewayEnv({ ...common, PORT: String(portA) }))).child;
    const b = (await spawnGateway(gatewayEnv({ ...common, PORT: String(portB) }))).child;
    children.push(a, b);
    // New connections go to B while it lives: the clients start there.
    balancer = await startBalancer(() => (b.exitCode === null && b.signalCode === null ? portB : portA));
    // Websocket only: long-polling behind a balancer needs sticky sessions, which this one does not do.
    const c = await client(`http://127.0.0.1:${balancer.port}`, 'moving', ['websocket']);
    sockets.push(c.socket);

    const acknowledged: string[] = [];
    let k = 0;
    let stop = false;
    const emitting = (async () => {
      while (!stop) {
        const position = await emit(portA, 'moving', k++);
        if (position !== undefined) acknowledged.push(position);
      }
    })();
    try {
      await eventually(() => c.received.length >= 20, 10_000, 'events before the kill');
      b.kill('SIGKILL');
      await exited(b);
      const atKill = acknowledged.length;
      await eventually(() => c.received.length >= atKill + 20, 30_000, 'events after the reconnect');
    } finally {
      stop = true;
      await emitting;
    }
    await eventually(() => c.received.length >= acknowledged.length, 10_000, 'the last events');
    assert.deepEqual(c.received, acknowledged, 'every event answered 200, once, in order');
    assert.equal(c.socket.recovered, true);
  });
});
