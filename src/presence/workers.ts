/**
 * The directory of a `WORKERS=n` gateway without Redis: the primary process holds it (memory.ts),
 * each worker a node, so that every transition is decided in one place without a lease (the primary
 * learns of a worker's death at once, from `exit`). Workers tell the primary what they hold over IPC,
 * ask it the presence questions, and receive the transitions it reports to them: each goes to the
 * worker whose change made it (or any live one when that worker is gone), which sends the webhook
 * through its own queue and counts it in its own /metrics.
 */
import cluster from 'node:cluster';
import type { FastifyBaseLogger } from 'fastify';
import type { PresenceDirectory, Transition, UserPresence } from './directory.js';
import { MemoryPresence } from './memory.js';

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
  readonly nodes: readonly [string, string[]][];
  readonly online: number;
  /** With `scraperId` asked: the node holding it, or null. */
  readonly scraper?: string | null;
}
interface Report {
  readonly gs: 'presence-transition';
  readonly transition: Transition;
}

const isString = (value: unknown): value is string => typeof value === 'string';

/** A message as received: anything, until read. */
type Received = { readonly [field: string]: unknown } | undefined;

/** In the primary: holds the directory of every worker. */
export function servePresencePrimary(options: { graceMs: number; log: { error(object: object, message: string): void } }): void {
  const state = new MemoryPresence(options.graceMs, (error) => options.log.error({ err: error }, 'presence: a listener threw'));
  state.onTransition((transition, nodeId) => {
    const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker?.isConnected());
    const target = workers.find((worker) => String(worker!.id) === nodeId) ?? workers[0];
    // With no worker left there is nobody to send it: the gateway is stopping.
    target?.send({ gs: 'presence-transition', transition } satisfies Report, () => undefined);
  });
  cluster.on('message', (worker, message: Received) => {
    const nodeId = String(worker.id);
    if (message?.gs === 'presence-hold') {
      if (isString(message.userId) && Number.isSafeInteger(message.sockets)) state.holdUser(nodeId, message.userId, message.sockets as number);
      else if (isString(message.socketId) && typeof message.held === 'boolean') state.holdScraper(nodeId, message.socketId, message.held);
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
        nodes: [...state.nodesHolding(userIds)],
        online: state.online(),
        ...scraper,
      };
      if (worker.isConnected()) worker.send(answer, () => undefined);
    }
  });
  cluster.on('exit', (worker) => state.dropNode(String(worker.id)));
}

/** In a worker: the directory the primary holds. */
export function workersDirectory(options: { timeoutMs: number; log: FastifyBaseLogger }): PresenceDirectory {
  const pending = new Map<number, (answer: Answer | undefined) => void>();
  const listeners: ((transition: Transition) => void)[] = [];
  let nextId = 0;
  const onMessage = (message: Received): void => {
    if (message?.gs === 'presence-answer') pending.get(Number(message.id))?.(message as unknown as Answer);
    else if (message?.gs === 'presence-transition' && message.transition !== undefined) {
      const { transition } = message as unknown as Report;
      for (const listener of listeners) {
        try {
          listener(transition);
        } catch (error) {
          options.log.error({ err: error }, 'presence: a listener threw');
        }
      }
    }
  };
  process.on('message', onMessage);

  const send = (message: Hold | Ask): boolean => {
    try {
      if (!process.connected) return false;
      process.send!(message, undefined, {}, () => undefined);
      return true;
    } catch {
      return false;
    }
  };
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
      if (!send({ gs: 'presence-ask', id, userIds, ...(scraperId !== undefined && { scraperId }) })) settle(undefined);
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
    async nodesHolding(userIds) {
      const answer = await ask(userIds);
      return answer === undefined ? 'unknown' : new Map(answer.nodes);
    },
    // The primary holds the directory and learns each worker's holdings as they change: nothing to re-register.
    settled: () => true,
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
