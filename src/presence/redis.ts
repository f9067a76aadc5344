/**
 * The directory in Redis, for a cluster. Every change is one Lua script, so each transition is
 * decided atomically, once for the whole cluster, and reported to the node whose script made it.
 *
 * Keys, under `<REDIS_PREFIX>:presence:` (the scripts are in redis-scripts.ts)
 * - `nodes`                 sorted set: node id -> end of its lease (ms, Redis's clock)
 * - `user:<id>`             hash: `n:<node>` -> sockets there; `since` (online since); `off` (last socket gone at)
 * - `node:<node>:users`     set: users the node holds (so a dead node's can be released)
 * - `node:<node>:scrapers`  set: scraper sockets the node holds
 * - `scrapers`              hash: scraper socket id -> node id
 * - `leaving`               sorted set: user -> when their grace delay ends
 * - `online`                users online (changed only by the two transitions)
 *
 * Costs: a socket's connect or disconnect is one EVALSHA touching the user's hash (O(nodes holding
 * that user)); a user's second socket on a node is an HSET and SADD inside it. Each node renews its
 * lease every third of PRESENCE_LEASE_MS and sweeps (dead nodes, ended grace delays) in batches.
 * Readers count only nodes whose lease holds, so a killed node stops counting when its lease ends,
 * before any sweep. A node that could not write (Redis unreachable), or whose lease ended, registers
 * everything it holds again (absolute counts, so repeating is harmless) once Redis answers.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { groupByNode, notify, type Holdings, type PresenceDirectory, type Transition, type UserPresence } from './directory.js';
import { SCRIPTS, type Row, type Scripts } from './redis-scripts.js';

/** Most users or scrapers one sweep script releases, and one READ reads: each script blocks Redis while it runs. */
const BATCH = 500;

/** Builds the Redis directory of this node; `holdings` tells what the node holds, for re-registering. */
export function redisDirectory(options: {
  client: Redis;
  /** The bus's id of this node, so that the nodes listed here are the ones its link reaches. */
  nodeId: string;
  /** REDIS_PREFIX. */
  prefix: string;
  leaseMs: number;
  graceMs: number;
  log: FastifyBaseLogger;
  holdings: () => Holdings;
}): PresenceDirectory {
  const { client, nodeId, leaseMs, graceMs, log, holdings } = options;
  const p = `${options.prefix}:presence:`;
  const keys = {
    nodes: `${p}nodes`,
    leaving: `${p}leaving`,
    online: `${p}online`,
    scrapers: `${p}scrapers`,
    users: `${p}node:${nodeId}:users`,
    nodeScrapers: `${p}node:${nodeId}:scrapers`,
    user: (userId: string) => `${p}user:${userId}`,
  };
  for (const [name, numberOfKeys, lua] of SCRIPTS) if (!(name in client)) client.defineCommand(name, { numberOfKeys, lua });
  const redis = client as unknown as Scripts;

  const listeners: ((transition: Transition) => void)[] = [];
  const emit = (transition: Transition): void => notify(listeners, transition, (error) => log.error({ err: error }, 'a presence listener threw'));
  /** Something this node holds may be missing from Redis or wrong there: register everything again. */
  let dirty = true;
  let closed = false;
  const up = (): boolean => client.status === 'ready';

  /** Reads what a script answered: flat triples of transition kind, id, and a time. */
  const report = (flat: readonly string[]): void => {
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const [kind, id, value] = [flat[i], flat[i + 1]!, flat[i + 2]!];
      if (kind === 'user.online') emit({ kind, userId: id, at: Number(value) });
      else if (kind === 'user.offline') emit({ kind, userId: id, at: Date.now(), since: value === '' ? undefined : Number(value) });
      else if (kind === 'scraper.connected' || kind === 'scraper.disconnected') emit({ kind, socketId: id, at: Number(value) });
      else if (kind === 'leaving') sweepAt(Number(value));
    }
  };

  const failed = (error: unknown): void => {
    if (!dirty && !closed) log.warn({ err: error }, 'presence: a directory write failed; this node registers what it holds again once Redis answers');
    dirty = true;
  };

  /** Writes sent and not answered yet: closing waits for them (each is bounded by the command timeout). */
  const inFlight = new Set<Promise<void>>();
  const track = (write: Promise<void>): Promise<void> => {
    inFlight.add(write);
    void write.finally(() => inFlight.delete(write));
    return write;
  };

  const holdUser = (userId: string, sockets: number): Promise<void> => {
    if (closed) return Promise.resolve();
    if (!up()) {
      dirty = true;
      return Promise.resolve();
    }
    return track(
      redis.gsPresenceHoldUser(keys.user(userId), keys.nodes, keys.users, keys.leaving, keys.online, nodeId, userId, sockets, graceMs).then(report, failed),
    );
  };
  const holdScraper = (socketId: string, held: boolean): Promise<void> => {
    if (closed) return Promise.resolve();
    if (!up()) {
      dirty = true;
      return Promise.resolve();
    }
    return track(redis.gsPresenceHoldScraper(keys.scrapers, keys.nodeScrapers, nodeId, socketId, held ? '1' : '0').then(report, failed));
  };

  /** Registers everything this node holds, absolutely, and releases what Redis lists that it no longer holds. */
  const register = async (): Promise<void> => {
    dirty = false;
    const [listedUsers, listedScrapers] = await Promise.all([client.smembers(keys.users), client.smembers(keys.nodeScrapers)]);
    const held = holdings();
    const writes: Promise<void>[] = [];
    const flush = async (): Promise<void> => {
      if (writes.length < BATCH) return;
      await Promise.all(writes.splice(0));
    };
    for (const [userId, sockets] of held.users) {
      writes.push(holdUser(userId, sockets));
      await flush();
    }
    for (const userId of listedUsers) {
      if (!holdings().users.has(userId)) writes.push(holdUser(userId, 0));
      await flush();
    }
    for (const socketId of held.scrapers) writes.push(holdScraper(socketId, true));
    for (const socketId of listedScrapers) if (!holdings().scrapers.has(socketId)) writes.push(holdScraper(socketId, false));
    await Promise.all(writes);
    log.info({ node: nodeId, users: held.users.size, scrapers: held.scrapers.size }, 'presence: registered what this node holds');
  };

  let sweeping = false;
  const sweep = async (): Promise<void> => {
    if (sweeping || !up()) return;
    sweeping = true;
    try {
      // Bounded per call: the next heartbeat goes on where this one stopped.
      for (let round = 0; round < 20; round++) {
        const flat = await redis.gsPresenceSweep(keys.nodes, keys.leaving, keys.online, keys.scrapers, p, graceMs, BATCH);
        const more = flat.pop() === '1';
        report(flat);
        if (!more) break;
      }
    } finally {
      sweeping = false;
    }
  };

  // One timer for the earliest grace delay to end on this node; the heartbeat's sweep covers the rest.
  let nextSweep: { at: number; timer: NodeJS.Timeout } | undefined;
  function sweepAt(at: number): void {
    if (closed || (nextSweep !== undefined && nextSweep.at <= at)) return;
    clearTimeout(nextSweep?.timer);
    const timer = setTimeout(
      () => {
        nextSweep = undefined;
        sweep().catch((error: unknown) => log.warn({ err: error }, 'presence: sweep failed'));
      },
      // Redis's clock decided `at`; a few ms more absorb the difference with this one.
      Math.max(0, at - Date.now()) + 20,
    );
    timer.unref();
    nextSweep = { at, timer };
  }

  /**
   * From when `nodesHolding` can be trusted again (undefined: not before a heartbeat succeeds). After
   * this node (re)connects, the others that lost Redis with it (a restart, maybe an empty one)
   * register what they hold when they reconnect, which is within a few seconds of it (they retry at
   * least every 2 s) or at their next heartbeat: one lease covers both.
   */
  let settledAt: number | undefined;
  client.on('close', () => {
    settledAt = undefined;
  });

  let beating = false;
  const heartbeat = async (): Promise<void> => {
    if (beating || closed || !up()) return;
    beating = true;
    try {
      const alive = await redis.gsPresenceHeartbeat(keys.nodes, nodeId, leaseMs);
      if (alive !== 1 && !dirty)
        log.warn({ node: nodeId }, 'presence: this node was not renewing its lease (cut off from Redis, or blocked); registering again');
      if (alive !== 1 || dirty) await register();
      settledAt ??= Date.now() + leaseMs;
      await sweep();
    } catch (error) {
      failed(error);
    } finally {
      beating = false;
    }
  };
  const timer = setInterval(() => void heartbeat(), Math.max(100, Math.floor(leaseMs / 3)));
  timer.unref();
  client.on('ready', () => void heartbeat());
  void heartbeat();

  const read = async (userIds: readonly string[]): Promise<Row[] | undefined> => {
    if (!up()) return undefined;
    try {
      const rows: Row[] = [];
      for (let i = 0; i < userIds.length; i += BATCH) rows.push(...(await redis.gsPresenceRead(keys.nodes, p, ...userIds.slice(i, i + BATCH))));
      return rows;
    } catch (error) {
      log.warn({ err: error }, 'presence: reading the directory failed');
      return undefined;
    }
  };

  return {
    kind: 'redis',
    nodeId,
    holdUser: (userId, sockets) => holdUser(userId, sockets),
    holdScraper: (socketId, held) => void holdScraper(socketId, held),
    async users(userIds) {
      const rows = await read(userIds);
      if (rows === undefined) return undefined;
      const presence = new Map<string, UserPresence>();
      rows.forEach(([sockets, since], index) => {
        const count = Number(sockets);
        presence.set(userIds[index]!, { sockets: count, since: count > 0 && since !== '' ? Number(since) : undefined });
      });
      return presence;
    },
    async nodesHolding(userIds) {
      const rows = await read(userIds);
      if (rows === undefined) return 'unknown';
      return groupByNode(userIds, (_userId, index) => rows[index]![2]);
    },
    settled: () => up() && settledAt !== undefined && Date.now() >= settledAt,
    async nodeHoldingScraper(socketId) {
      if (!up()) return 'unknown';
      try {
        return (await redis.gsPresenceReadScraper(keys.nodes, keys.scrapers, socketId)) ?? undefined;
      } catch (error) {
        log.warn({ err: error }, 'presence: reading the directory failed');
        return 'unknown';
      }
    },
    async online() {
      if (!up()) return undefined;
      try {
        return Math.max(0, Number((await client.get(keys.online)) ?? 0));
      } catch {
        return undefined;
      }
    },
    onTransition: (listener) => void listeners.push(listener),
    async close() {
      // The sockets' disconnects (the gateway closed them first) are written before the lease ends.
      await Promise.all(inFlight);
      closed = true;
      clearInterval(timer);
      clearTimeout(nextSweep?.timer);
      // End the lease now: the other nodes release what this one held at their next sweep.
      if (up()) await client.zadd(keys.nodes, 0, nodeId).catch(() => undefined);
    },
  };
}
