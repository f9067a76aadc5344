/**
 * How `WORKERS=n` spreads new Socket.IO sessions and keeps each on its worker.
 *
 * @socket.io/sticky's least-connection method hands each new session to the worker with the lowest
 * `worker.clientsCount`, but raises that figure only when the worker reports a finished Engine.IO
 * handshake. Connections that arrive together (a reconnect storm after a restart) all see the same
 * figures and all land on one worker. Here a worker's load is counted as sticky hands connections
 * out: the primary counts a handshake the moment it sends one to a worker, and the worker reports
 * when it has settled (a session opened, or the request ended without one).
 *
 * sticky also learns which worker holds a session from that same report, so the client's next
 * request (sent as soon as the handshake's answer arrives) can reach the primary first and be
 * balanced like a new session, onto a worker that does not know it ("Session ID unknown"). So each
 * worker puts its id in the session ids it makes, and a request for a session sticky does not know
 * yet goes to the worker its id names.
 *
 * This is the one place that relies on sticky's internals: that it hands connections out with
 * `worker.send({ type: 'sticky:connection' | 'sticky:http-chunk-start', data: <first bytes> })`,
 * that workers report sessions with `{ type: 'sticky:connection' | 'sticky:disconnection' }`, that
 * it reads `worker.clientsCount` from the 'data' listener it adds to each connection, and that it
 * finds a session id with SESSION_ID. The WORKERS tests (a burst, long-polling sessions) fail if an
 * upgrade changes them.
 */
import type { Worker } from 'node:cluster';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server } from 'socket.io';

/** Socket.IO's default path, which the gateway keeps. */
const ENGINE_PATH = '/socket.io/';

/** How sticky finds a session id in a request's head (its own expression). */
const SESSION_ID = /sid=([\w-]{20})/;

/** The first characters of a session id name its worker (base 36), the rest stay random. */
const WORKER_TAG_LENGTH = 4;

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

/** The head of a request whose first bytes are `data`. */
function headOf(data: Buffer): string {
  const end = data.indexOf('\r\n\r\n');
  return data.subarray(0, end === -1 ? data.length : end).toString('latin1');
}

/** Whether a message sticky sends to a worker hands it a connection that begins with a handshake. */
function isHandedOutHandshake(message: unknown): boolean {
  const { type, data } = (message ?? {}) as { type?: unknown; data?: unknown };
  if ((type !== 'sticky:connection' && type !== 'sticky:http-chunk-start') || !Buffer.isBuffer(data)) return false;
  const [method, url] = headOf(data).split('\r\n', 1)[0]!.split(' ');
  return isHandshake(method, url);
}

/** The worker a session id names, if the request's head carries one. */
function workerOfSession(data: Buffer): number | undefined {
  const sid = SESSION_ID.exec(headOf(data))?.[1];
  return sid === undefined ? undefined : Number.parseInt(sid.slice(0, WORKER_TAG_LENGTH), 36);
}

/** The load balancing of the primary; create it right after sticky's `setupMaster(server)`. */
export interface Balancer {
  /** Counts `worker`'s load from now on; until `ready()`, the worker gets no connection. */
  track(worker: Worker): { ready(): void };
}

export function createBalancer(server: HttpServer): Balancer {
  /** While sticky places a request for a session it may not know yet: the worker its id names. */
  let named: number | undefined;
  server.on('connection', (socket) => {
    // sticky's own 'connection' listener came first and added its 'data' listener: a prepended one
    // runs just before it, an appended one just after.
    socket.prependListener('data', (chunk: Buffer) => {
      named = workerOfSession(chunk);
    });
    socket.on('data', () => {
      named = undefined;
    });
  });

  return {
    track(worker) {
      let ready = false;
      let sessions = 0;
      /** When each unsettled handshake was handed out, oldest first. */
      const handedOut: number[] = [];

      Object.defineProperty(worker, 'clientsCount', {
        configurable: true,
        get: () => {
          if (!ready) return Number.POSITIVE_INFINITY;
          // sticky only balances a session id it does not know: send it where the session is.
          if (named !== undefined) return named === worker.id ? -1 : Number.POSITIVE_INFINITY;
          const horizon = Date.now() - FORGET_AFTER_MS;
          while (handedOut.length > 0 && handedOut[0]! < horizon) handedOut.shift();
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
    },
  };
}

/**
 * In a worker (`workerId` is its cluster id), after sticky's setupWorker, so that sticky's "session
 * opened" reaches the primary before "settled": names this worker in every session id it makes, and
 * tells the primary when each handshake request it was handed has settled.
 */
export function reportHandshakes(io: Server, workerId: number): void {
  const tag = workerId.toString(36).padStart(WORKER_TAG_LENGTH, '0').slice(-WORKER_TAG_LENGTH);
  const generateId = io.engine.generateId.bind(io.engine);
  // 20 characters still, as sticky expects; the random part keeps 16 of them (96 bits).
  io.engine.generateId = async (request) => tag + String(await generateId(request)).slice(WORKER_TAG_LENGTH);

  type Closable = { once(event: 'close', listener: () => void): unknown; off(event: 'close', listener: () => void): unknown };
  /** Handshakes not settled yet, with the `close` listener that settles them if nothing else does. */
  const pending = new WeakMap<IncomingMessage, { readonly closed: Closable; readonly onClose: () => void }>();
  const settle = (request: IncomingMessage): void => {
    const handshake = pending.get(request);
    if (handshake === undefined) return;
    pending.delete(request);
    // The listener holds the request: left on a websocket's TCP socket, it would keep it as long as the connection.
    handshake.closed.off('close', handshake.onClose);
    process.send?.(SETTLED, undefined, {}, () => undefined);
  };
  const watch = (request: IncomingMessage, closed: Closable): void => {
    if (!isHandshake(request.method, request.url)) return;
    const onClose = (): void => settle(request);
    pending.set(request, { closed, onClose });
    closed.once('close', onClose);
  };
  io.httpServer.on('request', (request: IncomingMessage, response) => watch(request, response));
  // A websocket handshake keeps its connection: it settles when the session opens, or when refused.
  io.httpServer.on('upgrade', (request: IncomingMessage, socket) => watch(request, socket));
  io.engine.on('connection', (socket: { request: IncomingMessage }) => settle(socket.request));
}
