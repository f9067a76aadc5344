/**
 * The cluster bus: what joins gateway processes into one gateway. It supplies the Socket.IO adapter
 * that carries broadcasts between nodes, says whether the other nodes can be reached, and offers a
 * rate-limit store every node shares. Three implementations sit behind this interface:
 *
 * - embedded (this file): one process is the whole gateway; Socket.IO's in-memory adapter.
 * - redis (redis.ts): any number of processes on any number of machines, joined through Redis.
 * - workers (ipc.ts): the worker processes of one `WORKERS=n` gateway, joined through Node's IPC.
 *
 * test/bus.test.ts runs one conformance suite against every implementation it can start in-process.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Namespace, ServerOptions } from 'socket.io';
import type { Config } from '../config.js';
import type { SharedStoreFactory } from '../http/rate-limit.js';

/** What the readiness probe reports. */
export interface BusHealth {
  readonly ok: boolean;
  readonly detail?: string;
}

/** Joins this gateway process to its peers (or stands alone). */
export interface ClusterBus {
  readonly kind: 'embedded' | 'redis' | 'workers';
  /** Socket.IO adapter for every namespace; undefined keeps the in-memory one. */
  readonly adapter: ServerOptions['adapter'] | undefined;
  /** Whether other gateway nodes may hold sockets, so deliveries must ask them. */
  readonly distributed: boolean;
  /** How long a call waits for the other nodes' answers. */
  readonly timeoutMs: number;
  /** Whether the other nodes can be reached right now (cheap: no round trip). */
  reachable(): boolean;
  /** Readiness: can the other nodes be reached? */
  check(): Promise<BusHealth>;
  /** The rate-limit store every node shares; undefined keeps a per-process store. */
  readonly rateLimitStore: SharedStoreFactory | undefined;
  /** Releases connections; the adapters must be closed first. */
  close(): Promise<void>;
}

/** The standalone bus: this process is the whole gateway. */
export function embeddedBus(): ClusterBus {
  return {
    kind: 'embedded',
    adapter: undefined,
    distributed: false,
    timeoutMs: 0,
    reachable: () => true,
    check: async () => ({ ok: true, detail: 'standalone' }),
    rateLimitStore: undefined,
    close: async () => undefined,
  };
}

/** Builds the bus the configuration asks for: Redis when `REDIS_URL` is set, else standalone. */
export async function createBus(config: Pick<Config, 'redisUrl' | 'redisPrefix' | 'clusterTimeoutMs'>, log: FastifyBaseLogger): Promise<ClusterBus> {
  if (config.redisUrl === '') return embeddedBus();
  // Loaded only when used, so a standalone gateway never loads a Redis client.
  const { createRedisBus } = await import('./redis.js');
  return createRedisBus({ url: config.redisUrl, prefix: config.redisPrefix, timeoutMs: config.clusterTimeoutMs, log });
}

/** What the other nodes answered to one request. */
export interface Answers {
  readonly responses: readonly unknown[];
  /** False when some node could not be asked or did not answer in time. */
  readonly complete: boolean;
  /**
   * Whether the request went out. When it did but answers are missing, the other nodes may have
   * acted on it all the same: a caller must not assume that nothing happened.
   */
  readonly published: boolean;
}

/** @socket.io/cluster-adapter (the WORKERS bus) answers server-side requests after a fixed 5 s. */
const CLUSTER_ADAPTER_TIMEOUT_MS = 5000;

/**
 * Sends `event` with `args` to the same namespace on every other node and collects their answers,
 * within the bus's timeout. Never rejects and never waits longer than that: an unreachable bus
 * answers at once with no responses.
 */
export function askOthers(nsp: Namespace, bus: ClusterBus, event: string, ...args: unknown[]): Promise<Answers> {
  if (!bus.distributed) return Promise.resolve({ responses: [], complete: true, published: false });
  if (!bus.reachable()) return Promise.resolve({ responses: [], complete: false, published: false });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (answers: Answers): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answers);
    };
    // The adapters time out by themselves, with the answers they got; this guard only covers an
    // adapter that drops the request without calling back, as the Redis adapter does when Redis
    // fails, so it must not fire before the adapter's own timeout (which would discard answers).
    const adapterTimeoutMs = bus.kind === 'workers' ? Math.max(bus.timeoutMs, CLUSTER_ADAPTER_TIMEOUT_MS) : bus.timeoutMs;
    const timer = setTimeout(() => settle({ responses: [], complete: false, published: true }), adapterTimeoutMs + 250);
    try {
      nsp.serverSideEmit(event, ...args, (error: Error | null, responses: unknown[]) =>
        settle({ responses: responses ?? [], complete: error === null || error === undefined, published: true }),
      );
    } catch {
      settle({ responses: [], complete: false, published: false });
    }
  });
}
