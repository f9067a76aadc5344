/**
 * The directory of a `WORKERS=n` gateway without Redis: the primary process holds it (memory.ts),
 * each worker a node, so that every transition is decided in one place without a lease (the primary
 * learns of a worker's death at once, from `exit`). Workers tell the primary what they hold over IPC,
 * ask it the presence questions, and receive the transitions it reports to them: each goes to the
 * worker whose change made it (or any live one when that worker is gone), which sends the webhook
 * through its own queue and counts it in its own /metrics. Which worker holds which user, the one
 * question of every emit, each worker answers from its own copy (placements.ts), which the primary
 * keeps up to date.
 */
import cluster, { type Worker } from 'node:cluster';
import type { FastifyBaseLogger } from 'fastify';
import { notify, type PresenceDirectory, type Transition, type UserPresence } from './directory.js';
import { MemoryPresence } from './memory.js';
import { Placements } from './placements.js';
import { sendToPrimary, sendToWorker, unpackTurns } from '../cluster/ipc-turns.js';

type Hold =
  | { readonly gs: 'presence-hold'; readonly userId: string; readonly sockets: number }
  | { readonly gs: 'presence-hold'; readonly socketId: string; readonly held: boolean };
interface Ask {
  readonly gs: 'presence-ask';
  readonly id: number;
  readonly userIds: readonly string[];
  readonly scraperId?: string;
}
interface Answer {
  readonly gs: 'presence-answer';
  readonly id: number;
  readonly users: readonly [number, number | null][];
  readonly online: number;
  /** With `scraperId` asked: the node holding it, or null. */
  readonly scraper?: string | null;
}
interface Report {
  readonly gs: 'presence-transition';
  readonly transition: Transition;
}
/** From the primary to every worker: what changes their copies of the placements. */
type Placed =
  | { readonly gs: 'presence-placed'; readonly userId: string; readonly nodeId: string; readonly held: boolean }
  | { readonly gs: 'presence-node-gone'; readonly nodeId: string }
  | { readonly gs: 'presence-placements'; readonly byNode: readonly [string, string[]][] };
/** From a new worker: send me every placement. */
interface Sync {
  readonly gs: 'presence-sync';
}

const isString = (value: unknown): value is string => typeof value === 'string';

/** A message as received: anything, until read. */
type Received = { readonly [field: string]: unknown } | undefined;

/** In the primary: holds the directory of every worker. */
export function servePresencePrimary(options: { graceMs: number; log: { error(object: object, message: string): void } }): void {
  unpackTurns();
  const state = new MemoryPresence(options.graceMs, (error) => options.log.error({ err: error }, 'presence: a listener threw'));
  const live = (): Worker[] => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker?.isConnected() === true);
  const others = (nodeId: string): Worker[] => live().filter((worker) => String(worker.id) !== nodeId);
  state.onTransition((transition, nodeId) => {
    const workers = live();
    const target = workers.find((worker) => String(worker.id) === nodeId) ?? workers[0];
    // With no worker left there is nobody to send it: the gateway is stopping.
    if (target) sendToWorker(target, { gs: 'presence-transition', transition } satisfies Report);
  });
  cluster.on('message', (worker, message: Received) => {
    const nodeId = String(worker.id);
    if (message?.gs === 'presence-hold') {
      if (isString(message.userId) && Number.isSafeInteger(message.sockets)) {
        const { userId } = message;
        const held = (message.sockets as number) > 0;
        const changed = state.holds(nodeId, userId) !== held;
        state.holdUser(nodeId, userId, message.sockets as number);
        if (changed) for (const other of others(nodeId)) sendToWorker(other, { gs: 'presence-placed', userId, nodeId, held } satisfies Placed);
      } else if (isString(message.socketId) && typeof message.held === 'boolean') state.holdScraper(nodeId, message.socketId, message.held);
    } else if (message?.gs === 'presence-sync') {
      sendToWorker(worker, { gs: 'presence-placements', byNode: [...state.placements()] } satisfies Placed);
    } else if (message?.gs === 'presence-ask' && Array.isArray(message.userIds) && message.userIds.every(isString)) {
      const userIds = message.userIds as string[];
      const users = userIds.map((userId): [number, number | null] => {
        const { sockets, since } = state.user(userId);
        return [sockets, since ?? null];
      });
      const scraper = isString(message.scraperId) ? { scraper: state.scraperNode(message.scraperId) ?? null } : {};
      const answer: Answer = {
        gs: 'presence-answer',
        id: Number(message.id),
        users,
        online: state.online(),
        ...scraper,
      };
      if (worker.isConnected()) sendToWorker(worker, answer);
    }
  });
  cluster.on('exit', (worker) => {
    const nodeId = String(worker.id);
    state.dropNode(nodeId);
    for (const other of others(nodeId)) sendToWorker(other, { gs: 'presence-node-gone', nodeId } satisfies Placed);
  });
}

/** In a worker: the directory the primary holds. */
export function workersDirectory(options: { timeoutMs: number; log: FastifyBaseLogger }): PresenceDirectory {
  const pending = new Map<number, (answer: Answer | undefined) => void>();
  const listeners: ((transition: Transition) => void)[] = [];
  let nextId = 0;
  const placements = new Placements();
  let synced = false;
  const onMessage = (message: Received): void => {
    if (message?.gs === 'presence-answer') pending.get(Number(message.id))?.(message as unknown as Answer);
    else if (message?.gs === 'presence-placed' && isString(message.userId) && isString(message.nodeId) && typeof message.held === 'boolean')
      placements.place(message.userId, message.nodeId, message.held);
    else if (message?.gs === 'presence-node-gone' && isString(message.nodeId)) placements.dropNode(message.nodeId);
    else if (message?.gs === 'presence-placements' && Array.isArray(message.byNode)) {
      placements.replace(message.byNode as [string, string[]][]);
      synced = true;
    } else if (message?.gs === 'presence-transition' && message.transition !== undefined) {
      notify(listeners, (message as unknown as Report).transition, (error) => options.log.error({ err: error }, 'presence: a listener threw'));
    }
  };
  unpackTurns();
  process.on('message', onMessage);

  const send = (message: Hold | Ask | Sync, failed?: () => void): boolean => {
    if (!process.connected) return false;
    sendToPrimary(message, failed && ((error) => error && failed()));
    return true;
  };
  // The copy starts with every placement the primary knows; the changes after it come in order.
  send({ gs: 'presence-sync' });
  const ask = (userIds: readonly string[], scraperId?: string): Promise<Answer | undefined> =>
    new Promise((resolve) => {
      const id = nextId++;
      const settle = (answer: Answer | undefined): void => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(answer);
      };
      const timer = setTimeout(() => settle(undefined), options.timeoutMs);
      pending.set(id, settle);
      const asked = { gs: 'presence-ask', id, userIds, ...(scraperId !== undefined && { scraperId }) } satisfies Ask;
      if (!send(asked, () => settle(undefined))) settle(undefined);
    });

  return {
    kind: 'workers',
    nodeId: String(cluster.worker?.id ?? process.pid),
    holdUser: async (userId, sockets) => void send({ gs: 'presence-hold', userId, sockets }),
    holdScraper: (socketId, held) => void send({ gs: 'presence-hold', socketId, held }),
    async users(userIds) {
      const answer = await ask(userIds);
      if (answer === undefined) return undefined;
      return new Map(
        userIds.map((userId, index): [string, UserPresence] => [userId, { sockets: answer.users[index]![0], since: answer.users[index]![1] ?? undefined }]),
      );
    },
    nodesHolding: async (userIds) => placements.nodesHolding(userIds),
    // Until the copy arrived, routing asks every worker. The primary learns each worker's holdings as
    // they change: nothing to re-register.
    settled: () => synced,
    async nodeHoldingScraper(socketId) {
      const answer = await ask([], socketId);
      return answer === undefined ? 'unknown' : (answer.scraper ?? undefined);
    },
    async online() {
      return (await ask([]))?.online;
    },
    onTransition: (listener) => void listeners.push(listener),
    async close() {
      process.off('message', onMessage);
    },
  };
}
