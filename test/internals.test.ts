/**
 * The private parts of libraries the gateway relies on, each used in one place (src/internals/).
 * These tests fail loudly when an upgrade changes one of them, instead of a gateway that quietly
 * stops counting sockets, sharing rate limits or noticing dead workers.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import rateLimit, { type FastifyRateLimitOptions, type FastifyRateLimitStore } from '@fastify/rate-limit';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { servePrimary } from '../src/cluster/ipc.js';
import { adapterOf } from '../src/internals/cluster-adapter.js';
import { LocalStore, RedisStore, routeOf, rulesOf } from '../src/internals/rate-limit.js';
import { namespacesOf } from '../src/internals/socket-io.js';
import { eventually } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

describe('socket.io internals', () => {
  it('namespacesOf sees every namespace: the main one, static ones, and those a dynamic namespace creates on demand', async () => {
    const server = createServer();
    const io = new Server(server);
    io.of('/static');
    io.of(/^\/room-\d+$/);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}/room-7`, { forceNew: true, transports: ['websocket'] });
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
      const names = [...namespacesOf(io)].map((nsp) => nsp.name).sort();
      assert.deepEqual(names, ['/', '/room-7', '/static']);
      assert.equal([...namespacesOf(io)].find((nsp) => nsp.name === '/room-7')?.sockets.size, 1, 'the namespaces are the live ones');
    } finally {
      socket.disconnect();
      await io.close();
    }
  });
});

/** Counts `times` requests in `store` and resolves with what each returned. */
async function count(store: FastifyRateLimitStore, key: string, times: number, timeWindow = 60_000, max = 2): Promise<{ current: number; ttl: number }[]> {
  const results: { current: number; ttl: number }[] = [];
  for (let n = 0; n < times; n++) {
    results.push(await new Promise((resolve, reject) => store.incr(key, (error, result) => (error ? reject(error) : resolve({ ...result! })), timeWindow, max)));
  }
  return results;
}

describe('@fastify/rate-limit internals', () => {
  it('hands a custom store its counting rules, and each limited route its own options with the route', async () => {
    const app = Fastify({ exposeHeadRoutes: false });
    const seen: { settings?: unknown; routes: unknown[] } = { routes: [] };
    class Recording extends (LocalStore as new (continueExceeding?: boolean, exponentialBackoff?: boolean) => FastifyRateLimitStore) {
      constructor(settings: FastifyRateLimitOptions) {
        super();
        seen.settings = settings;
      }
      override child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
        seen.routes.push(routeOptions);
        return this;
      }
    }
    await app.register(rateLimit, { global: false, continueExceeding: true, store: Recording });
    app.get('/limited', { config: { rateLimit: { max: 3, timeWindow: 1000 } } }, async () => 'ok');
    await app.ready();
    assert.deepEqual(rulesOf(seen.settings), { continueExceeding: true, exponentialBackoff: false });
    assert.equal(seen.routes.length, 1);
    const route = routeOf(seen.routes[0] as Parameters<FastifyRateLimitStore['child']>[0]);
    assert.deepEqual(route, { rules: { continueExceeding: true, exponentialBackoff: false }, prefix: 'GET/limited-' });
    await app.close();
  });

  it('LocalStore counts in memory within the window', async () => {
    const results = await count(new LocalStore(false, false), 'key:a', 3);
    assert.deepEqual(
      results.map((result) => result.current),
      [1, 2, 3],
    );
    for (const { ttl } of results) assert.ok(ttl > 0 && ttl <= 60_000, `ttl ${ttl} is within the window`);
  });

  it('RedisStore counts in Redis under its prefix, and a route\'s child under the prefix routeOf names', { skip: !redisUp && 'Redis is not running' }, async () => {
    const redis = new Redis(SHARED_REDIS_URL);
    const prefix = `${uniquePrefix()}:rate-limit:`;
    try {
      const store = new RedisStore(false, false, redis, prefix);
      assert.deepEqual(
        (await count(store, 'key:a', 2)).map((result) => result.current),
        [1, 2],
      );
      const routeOptions = { routeInfo: { method: 'POST', url: '/emit/:emitTo' }, continueExceeding: false, exponentialBackoff: false } as unknown as Parameters<FastifyRateLimitStore['child']>[0];
      await count(store.child(routeOptions), 'key:a', 1);
      assert.deepEqual((await redis.keys(`${prefix}*`)).sort(), [`${prefix}${routeOf(routeOptions).prefix}key:a`, `${prefix}key:a`]);
      assert.equal(Number(await redis.get(`${prefix}key:a`)), 2);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

describe('@socket.io/cluster-adapter internals', { timeout: 60_000 }, () => {
  const workers: Worker[] = [];
  after(() => {
    for (const worker of workers) worker.process.kill('SIGKILL');
  });

  it('the primary recognises each worker\'s adapter, and its "adapter closed" message makes the survivors forget a dead worker at once', async () => {
    // The gateway's primary: the adapter's relay, and the announcement of dead workers.
    servePrimary();
    cluster.setupPrimary({ exec: new URL('./support/cluster-adapter-worker.ts', import.meta.url).pathname, execArgv: ['--import', 'tsx'], silent: false });
    const adapters = new Map<number, { uid: string; nsp: string }>();
    const answers = new Map<number, ((servers: number) => void)[]>();
    cluster.on('message', (worker, message: { servers?: number }) => {
      const adapter = adapterOf(message);
      if (adapter) adapters.set(worker.id, adapter);
      if (typeof message?.servers === 'number') answers.get(worker.id)?.shift()?.(message.servers);
    });
    const servers = (worker: Worker): Promise<number> =>
      new Promise((resolve) => {
        answers.set(worker.id, [...(answers.get(worker.id) ?? []), resolve]);
        worker.send({ ask: 'servers' });
      });

    workers.push(cluster.fork(), cluster.fork());
    const [survivor, victim] = workers as [Worker, Worker];
    await eventually(() => adapters.size === 2, 30_000, 'both workers\' adapters to speak');
    for (const adapter of adapters.values()) assert.deepEqual(adapter.nsp, '/');
    assert.notEqual(adapters.get(survivor.id)!.uid, adapters.get(victim.id)!.uid);
    await eventually(async () => (await servers(survivor)) === 2, 30_000, 'the workers to count each other');

    const exited = new Promise((resolve) => victim.once('exit', resolve));
    victim.process.kill('SIGKILL');
    await exited;
    // Without the announcement the survivor would count the dead worker until its heartbeats time out (10 s).
    assert.equal(await servers(survivor), 1);
  });
});
