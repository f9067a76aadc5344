/**
 * How `WORKERS=n` spreads new Socket.IO sessions. @socket.io/sticky's least-connection method hands
 * each new session to the worker with the lowest `worker.clientsCount`, but raises that figure only
 * when the worker reports a finished Engine.IO handshake. Connections that arrive together (a
 * reconnect storm after a restart) all see the same figures and all land on one worker. Here a
 * worker's load is counted as sticky hands connections out: the primary counts a handshake the
 * moment it sends one to a worker, and the worker reports when it has settled (a session opened, or
 * the request ended without one).
 *
 * This is the one place that relies on sticky's internals: that it hands connections out with
 * `worker.send({ type: 'sticky:connection' | 'sticky:http-chunk-start', data: <first bytes> })`,
 * that workers report sessions with `{ type: 'sticky:connection' | 'sticky:disconnection' }`, and
 * that it reads `worker.clientsCount`. The burst test in test/workers.test.ts fails if an upgrade
 * changes them.
 */
import type { Worker } from 'node:cluster';
import type { IncomingMessage } from 'node:http';
import type { Server } from 'socket.io';

/** Socket.IO's default path, which the gateway keeps. */
const ENGINE_PATH = '/socket.io/';

/** A worker's message: a handshake it was handed has settled, with or without a session. */
const SETTLED = { gs: 'handshake-settled' } as const;

/**
 * A handshake not settled by then is forgotten: its connection died on the way to the worker
 * (sticky drops a handle closed in transit without a word).
 */
const FORGET_AFTER_MS = 10_000;

/** Whether a request opens an Engine.IO session: a GET to the engine's path without a session id. */
function isHandshake(method: string | undefined, url: string | undefined): boolean {
  if (method !== 'GET' || url === undefined || !url.startsWith(ENGINE_PATH)) return false;
  const query = url.indexOf('?');
  return query === -1 || !new URLSearchParams(url.slice(query + 1)).has('sid');
}

/** Whether a message sticky sends to a worker hands it a connection that begins with a handshake. */
function isHandedOutHandshake(message: unknown): boolean {
  const { type, data } = (message ?? {}) as { type?: unknown; data?: unknown };
  if ((type !== 'sticky:connection' && type !== 'sticky:http-chunk-start') || !Buffer.isBuffer(data)) return false;
  const end = data.indexOf('\r\n');
  const [method, url] = data
    .subarray(0, end === -1 ? data.length : end)
    .toString('latin1')
    .split(' ');
  return isHandshake(method, url);
}

/**
 * In the primary: makes `worker`'s load, as sticky reads it, the sessions it holds plus the
 * handshakes handed to it that have not settled yet. Until `ready()`, the worker gets no connection.
 */
export function balanceByHandout(worker: Worker): { ready(): void } {
  let ready = false;
  let sessions = 0;
  /** When each unsettled handshake was handed out, oldest first. */
  const handedOut: number[] = [];
  const forgetStale = (): void => {
    const horizon = Date.now() - FORGET_AFTER_MS;
    while (handedOut.length > 0 && handedOut[0]! < horizon) handedOut.shift();
  };

  Object.defineProperty(worker, 'clientsCount', {
    configurable: true,
    get: () => {
      if (!ready) return Number.POSITIVE_INFINITY;
      forgetStale();
      return sessions + handedOut.length;
    },
    // sticky's own count, raised after each handshake, is replaced by the one above.
    set: () => undefined,
  });

  const send = worker.send.bind(worker) as (...args: unknown[]) => boolean;
  worker.send = ((message: unknown, ...rest: unknown[]) => {
    if (isHandedOutHandshake(message)) {
      const at = Date.now();
      handedOut.push(at);
      // sticky passes a callback last; an error means the connection never reached the worker.
      const callback = rest.at(-1);
      if (typeof callback === 'function') {
        rest[rest.length - 1] = (error: Error | null) => {
          const index = handedOut.indexOf(at);
          if (error && index !== -1) handedOut.splice(index, 1);
          (callback as (error: Error | null) => void)(error);
        };
      }
    }
    return send(message, ...rest);
  }) as Worker['send'];

  worker.on('message', (message: { type?: unknown; gs?: unknown } | undefined) => {
    if (message?.type === 'sticky:connection') sessions++;
    else if (message?.type === 'sticky:disconnection') sessions = Math.max(0, sessions - 1);
    else if (message?.gs === SETTLED.gs) handedOut.shift();
  });

  return {
    ready() {
      ready = true;
    },
  };
}

/**
 * In a worker, after sticky's setupWorker (so that sticky's "session opened" reaches the primary
 * before "settled"): tells the primary when each handshake request it was handed has settled.
 */
export function reportHandshakes(io: Server): void {
  const pending = new WeakSet<IncomingMessage>();
  const settle = (request: IncomingMessage): void => {
    if (pending.delete(request)) process.send?.(SETTLED, undefined, {}, () => undefined);
  };
  const watch = (request: IncomingMessage, closed: { once(event: 'close', listener: () => void): unknown }): void => {
    if (!isHandshake(request.method, request.url)) return;
    pending.add(request);
    closed.once('close', () => settle(request));
  };
  io.httpServer.on('request', (request: IncomingMessage, response) => watch(request, response));
  // A websocket handshake keeps its connection: it settles when the session opens, or when refused.
  io.httpServer.on('upgrade', (request: IncomingMessage, socket) => watch(request, socket));
  io.engine.on('connection', (socket: { request: IncomingMessage }) => settle(socket.request));
}
