/**
 * The workers bus: the worker processes of one `WORKERS=n` gateway without Redis, joined through
 * Node's IPC by @socket.io/cluster-adapter (the primary relays). Rate limits are counted once, in
 * the primary, so n workers do not allow n times the limit.
 */
import cluster from 'node:cluster';
import { createAdapter, setupPrimary } from '@socket.io/cluster-adapter';
import type { FastifyRateLimitStore } from '@fastify/rate-limit';
import { ADAPTER_ANSWER_TIMEOUT_MS, adapterClosed, adapterOf } from '../internals/cluster-adapter.js';
import { LocalStore, routeOf, type StoreRules } from '../internals/rate-limit.js';
import type { ClusterBus, LinkMessage, NodeLink } from './bus.js';
import { guardPrimaryChannel } from './ipc-guard.js';
import { sendToPrimary, sendToWorker, unpackTurns } from './ipc-turns.js';

/** A rate-limit question from a worker to the primary, and its answer. */
interface RateLimitAsk {
  readonly gs: 'rate-limit';
  readonly id: number;
  readonly key: string;
  readonly timeWindow: number;
  readonly max: number;
  readonly rules: StoreRules;
}
interface RateLimitAnswer {
  readonly gs: 'rate-limit';
  readonly id: number;
  readonly current: number;
  readonly ttl: number;
}

/**
 * Tells the surviving workers at once that a worker is gone, in the adapter's own words (the
 * message a closing adapter sends), so they stop waiting for its answers without waiting for its
 * heartbeats to time out.
 */
function announceDeaths(): void {
  const adapters = new Map<number, Map<string, string>>(); // worker id => adapter uid => namespace
  cluster.on('message', (worker, message: unknown) => {
    const adapter = adapterOf(message);
    if (!adapter) return;
    let known = adapters.get(worker.id);
    if (!known) {
      known = new Map();
      adapters.set(worker.id, known);
    }
    known.set(adapter.uid, adapter.nsp);
  });
  cluster.on('exit', (dead) => {
    const known = adapters.get(dead.id);
    adapters.delete(dead.id);
    if (!known) return;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (!worker?.isConnected()) continue;
      for (const [uid, nsp] of known) worker.send(adapterClosed(uid, nsp), () => undefined);
    }
  });
}

/** A link message on its way through the primary: to worker `to` (its cluster id), or delivered. */
interface Relayed {
  readonly gs: 'node';
  readonly to?: string;
  readonly message: LinkMessage;
}

/**
 * Relays link messages to the one worker they name. A question to a worker that is gone is answered
 * here at once (`gone`: the asker counts it as not asked), rather than left to time out.
 */
function relayLinks(): void {
  cluster.on('message', (worker, relayed: Relayed) => {
    if (relayed?.gs !== 'node' || typeof relayed.to !== 'string') return;
    const target = cluster.workers?.[relayed.to];
    if (target?.isConnected()) return sendToWorker(target, { gs: 'node', message: relayed.message } satisfies Relayed);
    const { message } = relayed;
    if (message?.kind === 'ask' && worker.isConnected()) sendToWorker(worker, { gs: 'node', message: { kind: 'gone', id: message.id } } satisfies Relayed);
  });
}

/** In a worker: the link to its siblings, through the primary; node ids are cluster worker ids. */
function workerLink(): NodeLink {
  const listeners: ((message: unknown) => void)[] = [];
  process.on('message', (relayed: Relayed) => {
    if (relayed?.gs === 'node' && relayed.to === undefined) for (const listener of listeners) listener(relayed.message);
  });
  return {
    send: (to, message) =>
      new Promise((resolve) => {
        if (!process.connected) return resolve(false);
        sendToPrimary({ gs: 'node', to, message } satisfies Relayed, (error) => resolve(error === undefined));
      }),
    onMessage: (listener) => void listeners.push(listener),
  };
}

/** In the primary: relays adapter and link messages between workers and counts rate limits for them. */
export function servePrimary(): void {
  setupPrimary();
  unpackTurns();
  announceDeaths();
  relayLinks();
  const stores = new Map<string, FastifyRateLimitStore>();
  cluster.on('message', (worker, message: RateLimitAsk) => {
    if (message?.gs !== 'rate-limit') return;
    const { continueExceeding = false, exponentialBackoff = false } = message.rules;
    const rulesKey = `${continueExceeding}/${exponentialBackoff}`;
    let store = stores.get(rulesKey);
    if (!store) {
      store = new LocalStore(continueExceeding, exponentialBackoff);
      stores.set(rulesKey, store);
    }
    store.incr(
      message.key,
      (error, result) => {
        if (error || !result || !worker.isConnected()) return;
        sendToWorker(worker, { gs: 'rate-limit', id: message.id, current: result.current, ttl: result.ttl } satisfies RateLimitAnswer);
      },
      message.timeWindow,
      message.max,
    );
  });
}

/** Pending questions to the primary, answered by id (bounded: each one times out). */
const pending = new Map<number, (answer: RateLimitAnswer | undefined) => void>();
let nextId = 0;
let listening = false;

function askPrimary(ask: Omit<RateLimitAsk, 'gs' | 'id'>, timeoutMs: number): Promise<RateLimitAnswer | undefined> {
  if (!listening) {
    listening = true;
    process.on('message', (message: RateLimitAnswer) => {
      if (message?.gs === 'rate-limit') pending.get(message.id)?.(message);
    });
  }
  return new Promise((resolve) => {
    const id = nextId++;
    const timer = setTimeout(() => settle(undefined), timeoutMs);
    const settle = (answer: RateLimitAnswer | undefined): void => {
      clearTimeout(timer);
      pending.delete(id);
      resolve(answer);
    };
    pending.set(id, settle);
    if (!process.connected) return settle(undefined);
    sendToPrimary({ gs: 'rate-limit', id, ...ask } satisfies RateLimitAsk, (error) => error && settle(undefined));
  });
}

/** A rate-limit store whose counts live in the primary process. */
class PrimaryStore implements FastifyRateLimitStore {
  constructor(
    private readonly rules: StoreRules,
    private readonly timeoutMs: number,
    private readonly prefix = '',
  ) {}

  incr(key: string, callback: Parameters<FastifyRateLimitStore['incr']>[1], timeWindow: number, max: number): void {
    askPrimary({ key: this.prefix + key, timeWindow, max, rules: this.rules }, this.timeoutMs).then((answer) =>
      answer ? callback(null, { current: answer.current, ttl: answer.ttl }) : callback(new Error('the primary process did not answer')),
    );
  }

  child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
    // Only the counting rules cross to the primary (the route options hold functions).
    const { rules, prefix } = routeOf(routeOptions);
    return new PrimaryStore(rules, this.timeoutMs, prefix);
  }
}

/** In a worker: the bus to its sibling workers, through the primary. */
export function createWorkersBus(timeoutMs: number): ClusterBus {
  guardPrimaryChannel();
  unpackTurns();
  return {
    kind: 'workers',
    // The adapter's default heartbeats (every 5 s, a node silent for 10 s counts as gone). A shorter
    // timeout would drop a busy but live worker from the node list on a loaded machine, and the next
    // emit would expect one answer fewer, report complete and skip that worker's sockets without
    // `partial`. Dead workers need no heartbeat: announceDeaths tells the others at once.
    adapter: createAdapter(),
    distributed: true,
    // The presence directory of WORKERS (presence/workers.ts) names each worker by the same id.
    nodeId: String(cluster.worker?.id ?? process.pid),
    link: workerLink(),
    // The adapter waits for answers for a fixed time of its own, whatever CLUSTER_TIMEOUT_MS says.
    timeoutMs: Math.max(timeoutMs, ADAPTER_ANSWER_TIMEOUT_MS),
    reachable: () => process.connected,
    check: async () => (process.connected ? { ok: true, detail: 'worker process (WORKERS)' } : { ok: false, detail: 'lost the primary process' }),
    rateLimitStore: (rules) => new PrimaryStore(rules, timeoutMs),
    close: async () => undefined,
  };
}
