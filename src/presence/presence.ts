/**
 * Presence on one gateway node: follows this node's sockets (socket-lifecycle.ts) into the directory
 * of the cluster, answers who is online, sends the webhooks of the transitions the directory reports
 * to this node, and disconnects sockets cluster-wide (disconnect.ts).
 *
 * Which directory: Redis when the cluster bus is Redis; the primary process with `WORKERS` and no
 * Redis; this process's memory standalone.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ClusterBus } from '../cluster/bus.js';
import type { ClusterChannel } from '../cluster/channel.js';
import type { Config } from '../config.js';
import type { NamespaceNames } from '../namespaces.js';
import { socketLifecycle } from '../socket-lifecycle.js';
import type { GatewayServer, GatewaySocket } from '../socket-server.js';
import type { Holdings, PresenceDirectory, Transition, UserPresence } from './directory.js';
import { createDisconnector, type Disconnector } from './disconnect.js';
import { memoryDirectory } from './memory.js';
import { createWebhooks, type Webhooks } from './webhooks.js';
import { workersDirectory } from './workers.js';

/** Presence as the routes, the stats and the metrics see it. */
export interface Presence {
  readonly directory: PresenceDirectory;
  readonly webhooks: Webhooks;
  readonly disconnect: Disconnector;
  /** Presence of each user, cluster-wide; undefined when the directory cannot be read. */
  users(userIds: readonly string[]): Promise<ReadonlyMap<string, UserPresence> | undefined>;
  /** Calls `listener` for each transition this node reports (and sends as a webhook). */
  onTransition(listener: (transition: Transition) => void): void;
  close(): Promise<void>;
}

type PresenceConfig = Pick<
  Config,
  'presenceLeaseMs' | 'redisPrefix' | 'webhookUrls' | 'webhookSecret' | 'webhookOfflineGraceMs' | 'webhookTimeoutMs' | 'webhookRetryForMs' | 'webhookQueueSize'
>;

export async function createPresence(
  io: GatewayServer,
  deps: {
    config: PresenceConfig;
    bus: ClusterBus;
    cluster: ClusterChannel;
    names: NamespaceNames;
    log: FastifyBaseLogger;
    /** Called for a user socket once a shared directory (Redis) lists its user on this node. */
    onUserHeld?: (socket: GatewaySocket) => void;
  },
): Promise<Presence> {
  const { config, cluster, names, log } = deps;
  const users = new Map<string, number>();
  const scrapers = new Set<string>();
  const holdings: Holdings = { users, scrapers };
  const directory = await openDirectory(deps, () => holdings);
  const webhooks = createWebhooks({
    urls: config.webhookUrls,
    secret: config.webhookSecret,
    timeoutMs: config.webhookTimeoutMs,
    retryForMs: config.webhookRetryForMs,
    queueSize: config.webhookQueueSize,
    log,
  });
  directory.onTransition((transition) => webhooks.send(transition));

  const lifecycle = socketLifecycle(io);
  lifecycle.onConnect((socket) => {
    if (socket.nsp.name === names.users && socket.data.userId !== undefined) {
      const { userId } = socket.data;
      const sockets = (users.get(userId) ?? 0) + 1;
      users.set(userId, sockets);
      const held = directory.holdUser(userId, sockets);
      // Until the directory lists this node, emits elsewhere skip it: whoever wants to know learns when it does.
      if (directory.kind === 'redis' && deps.onUserHeld !== undefined) void held.then(() => deps.onUserHeld?.(socket));
    } else if (socket.nsp.name === names.scrapers) {
      scrapers.add(socket.id);
      directory.holdScraper(socket.id, true);
    }
  });
  lifecycle.onDisconnect((socket) => {
    if (socket.nsp.name === names.users && socket.data.userId !== undefined) {
      const { userId } = socket.data;
      const sockets = (users.get(userId) ?? 1) - 1;
      if (sockets > 0) users.set(userId, sockets);
      else users.delete(userId);
      directory.holdUser(userId, sockets);
    } else if (socket.nsp.name === names.scrapers && scrapers.delete(socket.id)) {
      directory.holdScraper(socket.id, false);
    }
  });

  return {
    directory,
    webhooks,
    disconnect: createDisconnector(io, cluster, names),
    users: (userIds) => directory.users(userIds),
    onTransition: (listener) => directory.onTransition(listener),
    async close() {
      await directory.close();
      await webhooks.close();
    },
  };
}

async function openDirectory(
  { config, bus, log }: { config: PresenceConfig; bus: ClusterBus; log: FastifyBaseLogger },
  holdings: () => Holdings,
): Promise<PresenceDirectory> {
  const onError = (error: unknown): void => log.error({ err: error }, 'presence: a listener threw');
  if (bus.kind === 'redis' && bus.redis !== undefined) {
    // Loaded only when used, like the Redis bus.
    const { redisDirectory } = await import('./redis.js');
    return redisDirectory({
      client: bus.redis,
      nodeId: bus.nodeId,
      prefix: config.redisPrefix,
      leaseMs: config.presenceLeaseMs,
      graceMs: config.webhookOfflineGraceMs,
      log,
      holdings,
    });
  }
  if (bus.kind === 'workers') return workersDirectory({ timeoutMs: bus.timeoutMs, log });
  return memoryDirectory({ graceMs: config.webhookOfflineGraceMs, onError });
}
