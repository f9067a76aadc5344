/**
 * `WORKERS=n`: every core of one machine. The primary process owns the port and hands each
 * connection to a worker: an Engine.IO one with @socket.io/sticky, which keeps every request of a
 * session (long-polling needs several) on the worker that holds it; a REST call's to the workers in
 * turn, kept alive (balancing.ts). Workers are joined by the workers bus
 * (ipc.ts), or by Redis when `REDIS_URL` is set. A worker that dies is replaced; SIGTERM drains
 * every worker and the primary exits 0.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { Duplex } from 'node:stream';
import type { Server as SocketServer } from 'socket.io';
import { setupMaster } from '@socket.io/sticky';
import type { Config } from '../config.js';
import { startRequestTimeouts } from '../internals/node-http.js';
import { createBalancer, setupWorkerBalancing } from './balancing.js';
import type { ClusterBus } from './bus.js';
import { createWorkersBus, servePrimary } from './ipc.js';
import { drainToPrimary } from './ipc-turns.js';

/** What a worker needs of the gateway it runs (gateway.ts's `Gateway` is one). */
export interface WorkerGateway {
  readonly app: FastifyInstance;
  // biome-ignore lint/suspicious/noExplicitAny: sticky needs the server, whatever events it is typed with
  readonly io: SocketServer<any, any, any, any>;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * Builds the gateway of one worker, joined to its siblings by `bus` (undefined: the configured one,
 * Redis). Passed in by main.ts, so that this module stays below the gateway it runs.
 */
export type GatewayFactory = (bus: ClusterBus | undefined) => Promise<WorkerGateway>;

/** Messages between the primary and its workers (besides the adapter's and sticky's own). */
type Control = { readonly gs: 'ready' } | { readonly gs: 'shutdown' };

/** How many workers `WORKERS` asks for on this machine. */
export function workerCount(config: Pick<Config, 'workers'>): number {
  return config.workers === 0 ? availableParallelism() : config.workers;
}

/**
 * How the primary's HTTP server bounds slow clients and answers their errors (http/connection-timeouts.ts,
 * passed in by main.ts like the gateway factory).
 */
export interface PrimaryHttp {
  readonly options: ServerOptions;
  readonly onClientError: (error: Error, socket: Duplex) => void;
}

/**
 * What the primary serves its workers without Redis besides the adapter and the rate limits: the
 * presence directory (presence/workers.ts), passed in by main.ts like the gateway factory.
 */
export type PrimaryService = (log: { error(object: object, message: string): void }) => void;

/** Runs this process's part of a `WORKERS=n` gateway: the primary, or one worker. */
export function runCluster(
  config: Config,
  createGateway: GatewayFactory,
  primaryHttp: PrimaryHttp,
  primaryServices: readonly PrimaryService[] = [],
): Promise<void> {
  return cluster.isWorker ? runWorker(config, createGateway) : runPrimary(config, primaryHttp, primaryServices);
}

async function runPrimary(config: Config, primaryHttp: PrimaryHttp, primaryServices: readonly PrimaryService[]): Promise<void> {
  const log = pino({ level: config.logLevel, base: { pid: process.pid, role: 'primary' } });
  const count = workerCount(config);
  if (config.generatedSecrets.length > 0) {
    log.warn({ generated: config.generatedSecrets }, `development mode: using generated ${config.generatedSecrets.join(', ')} from DATA_DIR/dev-secrets.json`);
  }
  // sticky passes the first bytes of each connection as a Buffer, which needs advanced serialization.
  cluster.setupPrimary({ serialization: 'advanced' });
  if (config.redisUrl === '') {
    servePrimary();
    for (const serve of primaryServices) serve(log);
  }
  const server = createServer(primaryHttp.options);
  server.on('clientError', primaryHttp.onClientError);
  setupMaster(server, { loadBalancingMethod: 'least-connection' });
  const balancer = createBalancer(server);

  let stopping = false;
  const deaths: number[] = [];
  let firstReady: () => void = () => undefined;
  const allReady = new Promise<void>((resolve) => (firstReady = resolve));
  let ready = 0;

  const fork = (): void => {
    const worker = cluster.fork();
    // sticky hands new sessions to the least loaded worker; a worker not yet ready gets none.
    const load = balancer.track(worker);
    worker.on('message', (message: Control) => {
      if (message?.gs !== 'ready') return;
      // A worker still loading its code when the shutdown was sent missed it: ask again.
      if (stopping) return void worker.send({ gs: 'shutdown' } satisfies Control, () => undefined);
      load.ready();
      log.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker ready');
      if (++ready === count) firstReady();
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    // Back off when workers keep dying, so a crash loop does not spin the machine.
    const now = Date.now();
    deaths.push(now);
    while (deaths.length > 0 && deaths[0]! < now - 30_000) deaths.shift();
    const delay = Math.min(100 * 2 ** (deaths.length - 1), 5000);
    log.error({ worker: worker.id, code, signal, restartInMs: delay }, 'worker died; starting a replacement');
    setTimeout(() => stopping || fork(), delay);
  });

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining every worker');
    server.close();
    const live = (): Worker[] => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
    for (const worker of live()) worker.send({ gs: 'shutdown' } satisfies Control, () => undefined);
    const timer = setTimeout(() => {
      const stuck = live();
      log.error({ timeoutMs: config.shutdownTimeoutMs, workerPids: stuck.map((worker) => worker.process.pid) }, 'workers did not stop in time; killing them');
      for (const worker of stuck) worker.process.kill('SIGKILL');
      process.exit(1);
    }, config.shutdownTimeoutMs + 1000);
    // A worker that ran out of time exits 1 on its own (and says what it waited for): so does the tree.
    let drained = true;
    const check = (): void => {
      if (live().length > 0) return;
      clearTimeout(timer);
      if (drained) log.info('stopped');
      else log.error('stopped; a worker did not drain in time');
      process.exit(drained ? 0 : 1);
    };
    cluster.on('exit', (_worker, code, signal) => {
      if (code !== 0 || signal !== null) drained = false;
      check();
    });
    check();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (let i = 0; i < count; i++) fork();
  await allReady;
  if (stopping) return;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const address = server.address() as { address: string; port: number };
  log.info(
    { address: address.address, port: address.port, workers: count, env: config.nodeEnv },
    `general-socket listening on ${address.address}:${address.port} with ${count} workers`,
  );
}

async function runWorker(config: Config, createGateway: GatewayFactory): Promise<void> {
  // Listen for the primary's shutdown before building: a SIGTERM during start-up must not be lost.
  let stopReason: string | undefined;
  let stopNow: ((reason: string) => void) | undefined;
  // Set once the gateway is built: what a shutdown that ran out of time was still waiting for.
  let stuck: (() => void) | undefined;
  const stop = (reason: string): void => {
    if (stopReason !== undefined) return;
    stopReason = reason;
    setTimeout(() => {
      stuck?.();
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    stopNow?.(reason);
  };
  process.on('message', (message: Control) => message?.gs === 'shutdown' && stop('primary asked'));
  // An orphaned worker (its primary gone) has nobody to hand it connections.
  process.on('disconnect', () => stop('primary gone'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const gateway = await createGateway(config.redisUrl === '' ? createWorkersBus(config.clusterTimeoutMs) : undefined);
  // The worker never listens: the primary hands it connections (sticky's, and REST calls'), so
  // start the timeouts that listening starts.
  setupWorkerBalancing(gateway.io, cluster.worker!.id);
  startRequestTimeouts(gateway.server);
  // A server that never listened closes at once, in-flight requests or not; so wait for them here,
  // after the gateway's own preClose has closed the sockets (and with them the long-polling requests).
  const requests = countRequests(gateway.server);
  let stage = 'closing its sockets';
  gateway.app.addHook('preClose', async () => {
    stage = 'waiting for the requests in flight';
    await requests.drained();
    stage = 'closing its stores and bus';
  });
  await gateway.app.ready();
  const log = gateway.app.log;
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled promise rejection'));

  stuck = () =>
    log.error(
      { timeoutMs: config.shutdownTimeoutMs, stage, requestsInFlight: requests.inFlight(), engineClients: gateway.io.engine.clientsCount },
      'worker did not stop in time; exiting',
    );
  stopNow = (reason: string): void => {
    log.info({ reason }, 'worker shutting down');
    gateway
      .close()
      .then(() => {
        stage = 'sending its last messages to the primary';
        return drainToPrimary();
      })
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'worker shutdown failed');
          process.exit(1);
        },
      );
  };
  if (stopReason !== undefined) return stopNow(stopReason);
  process.send!({ gs: 'ready' } satisfies Control);
}

/**
 * Tracks the HTTP requests `server` is answering: `drained()` resolves once none is left, and
 * `inFlight()` names them (method and path, without the query) for a shutdown that ran out of time.
 */
function countRequests(server: Server): { drained(): Promise<void>; inFlight(): string[] } {
  const open = new Set<IncomingMessage>();
  let waiting: (() => void)[] = [];
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    open.add(request);
    // 'close' comes after the response is sent, or when its connection dies first.
    response.once('close', () => {
      open.delete(request);
      if (open.size > 0) return;
      for (const resolve of waiting) resolve();
      waiting = [];
    });
  });
  return {
    drained: () => (open.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    inFlight: () => [...open].slice(0, 20).map((request) => `${request.method} ${request.url?.split('?')[0]}`),
  };
}
