/**
 * The cluster bus: what joins gateway processes into one gateway. It supplies the Socket.IO adapter
 * that carries broadcasts between nodes, says whether the other nodes can be reached, and offers a
 * rate-limit store every node shares. The messages nodes send each other travel on it (channel.ts).
 * Three implementations sit behind this interface:
 *
 * - embedded (this file): one process is the whole gateway; Socket.IO's in-memory adapter.
 * - redis (redis.ts): any number of processes on any number of machines, joined through Redis.
 * - workers (ipc.ts): the worker processes of one `WORKERS=n` gateway, joined through Node's IPC.
 *
 * test/bus.test.ts runs one conformance suite against every implementation it can start in-process.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { ServerOptions } from 'socket.io';
import type { Config } from '../config.js';
import type { StoreFactory } from '../internals/rate-limit.js';
import type { ProbeResult } from '../readiness.js';

/**
 * What travels on a node link: a question to one node, its answer, or word that the node asked is
 * not there (channel.ts gives them meaning).
 */
export type LinkMessage =
  | { readonly kind: 'ask'; readonly from: string; readonly id: number; readonly envelope: unknown }
  | { readonly kind: 'reply'; readonly id: number; readonly reply: unknown }
  | { readonly kind: 'gone'; readonly id: number };

/**
 * Reaches one node by its id, where the adapter's server-side emit reaches all of them: what lets an
 * emit ask only the nodes that hold its users.
 */
export interface NodeLink {
  /**
   * Sends `message` to node `nodeId`. Resolves false when it surely did not arrive (the bus is
   * unreachable, or no node by that id listens); true when it went out. Never rejects.
   */
  send(nodeId: string, message: LinkMessage): Promise<boolean>;
  /** Calls `listener` with every message sent to this node, unread (other nodes may run other versions). */
  onMessage(listener: (message: unknown) => void): void;
}

/** Joins this gateway process to its peers (or stands alone). */
export interface ClusterBus {
  readonly kind: 'embedded' | 'redis' | 'workers';
  /** Socket.IO adapter for every namespace; undefined keeps the in-memory one. */
  readonly adapter: ServerOptions['adapter'] | undefined;
  /** Whether other gateway nodes may hold sockets, so deliveries must ask them. */
  readonly distributed: boolean;
  /**
   * How long a request waits for the other nodes' answers: the bus's adapter then calls back with
   * the answers it got. Each bus knows its adapter (the WORKERS one has a fixed timeout of its own).
   */
  readonly timeoutMs: number;
  /** This node's id among its peers: the one the presence directory lists for it. */
  readonly nodeId: string;
  /** Reaches one node at a time; absent standalone (there is no other node). */
  readonly link?: NodeLink;
  /** Whether the other nodes can be reached right now (cheap: no round trip). */
  reachable(): boolean;
  /** Readiness: can the other nodes be reached? */
  check(): Promise<ProbeResult>;
  /** The rate-limit store every node shares; undefined keeps a per-process store. */
  readonly rateLimitStore: StoreFactory | undefined;
  /**
   * The Redis bus's command connection (no offline queue: a command while Redis is away fails at
   * once), for the services that keep cluster-wide state in the same Redis (the presence directory).
   */
  readonly redis?: Redis;
  /** Releases connections; the adapters must be closed first. */
  close(): Promise<void>;
}

/** The standalone bus: this process is the whole gateway. */
export function embeddedBus(): ClusterBus {
  return {
    kind: 'embedded',
    adapter: undefined,
    nodeId: 'local',
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
