/**
 * The Redis bus: @socket.io/redis-adapter (classic Pub/Sub, the format @socket.io/redis-emitter
 * publishes) over two ioredis connections, plus the Redis rate-limit store.
 *
 * Redis going away must never hurt local service, so the connections are set up to fail fast and
 * hold nothing: the publishing connection has no offline queue (a publish while Redis is down fails
 * at once and is dropped, counted in the log) and does not replay unanswered commands after a
 * reconnect; the subscribing connection only ever queues its few SUBSCRIBE commands and
 * re-subscribes by itself after a reconnect.
 *
 * Beside the adapter's channels, each node subscribes (on the same subscribing connection) to a
 * channel of its own, `<prefix>:node:<nodeId>`, where the others send it questions and it receives
 * its answers: one PUBLISH each way, whatever the number of nodes. PUBLISH answers how many
 * subscribers received the message, so a node that is gone is known at once instead of awaited.
 */
import type { FastifyBaseLogger } from 'fastify';
import { Redis, type RedisOptions } from 'ioredis';
import { createAdapter } from '@socket.io/redis-adapter';
import { RedisStore } from '../internals/rate-limit.js';
import { redactUrl } from '../secrets.js';
import { randomBytes } from 'node:crypto';
import type { ClusterBus, NodeLink } from './bus.js';

/** Builds the Redis bus and waits (at most `timeoutMs`) for its first connection. */
export async function createRedisBus(options: {
  url: string;
  /** Channel and key prefix (the adapter's and the emitter's `key`). */
  prefix: string;
  timeoutMs: number;
  log: FastifyBaseLogger;
}): Promise<ClusterBus & { readonly clients: readonly Redis[] }> {
  const { url, prefix, timeoutMs, log } = options;
  const where = redactUrl(url);
  const common: RedisOptions = {
    connectionName: 'general-socket',
    // Reconnect for ever, at most every 2 s: a node must find Redis again by itself.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    connectTimeout: Math.max(timeoutMs, 1000),
  };
  // commandTimeout: a Redis that accepted the connection but stopped answering (paused, partitioned
  // without a reset) must fail commands, so that rate limits fall back to local counting instead of
  // every emit waiting for an answer that never comes.
  const pub = new Redis(url, {
    ...common,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    commandTimeout: Math.max(timeoutMs, 100),
  });
  const sub = new Redis(url, { ...common, maxRetriesPerRequest: null });

  let dropped = 0;
  const publish = pub.publish.bind(pub);
  // The adapter publishes without handling failures; while Redis is down that would be an
  // unhandled rejection per broadcast. Failed publishes are dropped (local sockets still get theirs).
  pub.publish = ((channel: string | Buffer, message: string | Buffer) => {
    const sent = publish(channel, message);
    sent.catch(() => dropped++);
    return sent;
  }) as typeof pub.publish;
  // Nor does it handle its (un)subscribe commands: closing a node while Redis is gone or slow to
  // answer would leave an unhandled rejection per namespace, which ends a process with exit 1.
  for (const method of ['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe'] as const) {
    const command = sub[method].bind(sub) as (...args: unknown[]) => Promise<unknown>;
    (sub as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      const sent = command(...args);
      sent.catch(() => undefined);
      return sent;
    };
  }

  const nodeId = randomBytes(8).toString('hex');
  const nodeChannel = (id: string): string => `${prefix}:node:${id}`;
  const own = nodeChannel(nodeId);
  const linkListeners: ((message: unknown) => void)[] = [];
  void sub.subscribe(own);
  sub.on('message', (channel: string, text: string) => {
    if (channel !== own) return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return log.warn({ channel }, 'an unreadable message arrived on this node’s channel; dropped');
    }
    for (const listener of linkListeners) listener(message);
  });
  // JSON rather than the adapter's msgpack: what crosses is what the REST API accepted, JSON already.
  const link: NodeLink = {
    send: (to, message) =>
      publish(nodeChannel(to), JSON.stringify(message)).then(
        (receivers) => receivers > 0,
        () => {
          dropped++;
          return false;
        },
      ),
    onMessage: (listener) => void linkListeners.push(listener),
  };

  const reachable = (): boolean => pub.status === 'ready' && sub.status === 'ready';
  let up = false;
  let lastError = '';
  const watch = (): void => {
    if (reachable() && !up) {
      up = true;
      log.info({ redis: where }, 'cluster bus connected to Redis');
    } else if (!reachable() && up) {
      up = false;
      log.warn({ redis: where, reason: lastError || undefined }, 'cluster bus lost Redis: serving local sockets only, reconnecting');
    }
    if (up && dropped > 0) {
      log.warn({ dropped }, 'cross-node messages dropped while Redis was unreachable');
      dropped = 0;
    }
  };
  for (const client of [pub, sub]) {
    // ioredis reports every failed reconnect as an error event; without a listener it prints them.
    client.on('error', (error: Error) => {
      lastError = error.message;
    });
    for (const event of ['ready', 'close', 'end', 'reconnecting']) client.on(event, watch);
  }

  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      log.warn({ redis: where, timeoutMs }, 'Redis is not reachable yet; serving local sockets and retrying in the background');
      resolve();
    }, timeoutMs);
    const ready = (): void => {
      if (!reachable()) return;
      clearTimeout(timer);
      resolve();
    };
    pub.on('ready', ready);
    sub.on('ready', ready);
  });

  return {
    kind: 'redis',
    adapter: createAdapter(pub, sub, { key: prefix, requestsTimeout: timeoutMs }),
    distributed: true,
    timeoutMs,
    nodeId,
    link,
    reachable,
    async check() {
      if (!reachable()) return { ok: false, detail: `Redis at ${where} is unreachable (${pub.status}${lastError ? `: ${lastError}` : ''})` };
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          pub.ping(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no PING answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return { ok: true, detail: `Redis at ${where}` };
      } catch (error) {
        return { ok: false, detail: `Redis at ${where}: ${(error as Error).message}` };
      } finally {
        clearTimeout(timer);
      }
    },
    rateLimitStore: (limits) => new RedisStore(limits.continueExceeding, limits.exponentialBackoff, pub, `${prefix}:rate-limit:`),
    clients: [pub, sub],
    redis: pub,
    async close() {
      // No QUIT: it would wait for a Redis that may be gone; nothing pending is worth keeping.
      pub.disconnect();
      sub.disconnect();
    },
  };
}
