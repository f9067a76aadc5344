/**
 * How `WORKERS=n` spreads connections over the workers and keeps each Socket.IO session on its worker.
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
 * Only Engine.IO needs stickiness, and sticky made REST calls pay for it twice: the primary keeps
 * every connection whose first request has a body (every POST) and relays its bytes and the answer
 * over IPC, and its worker closes every connection after one response. So here a connection whose
 * first request is not for the engine's path skips sticky: the primary hands the connection itself
 * to a worker, in turn (or to the worker a session id in the request names, as sticky would), and a
 * worker keeps such connections alive where no request of another worker's session can follow on
 * them (`keepsAlive`, below). Engine.IO connections go through sticky as before.
 *
 * This is the one place that relies on sticky's internals: that it hands connections out with
 * `worker.send({ type: 'sticky:connection' | 'sticky:http-chunk-start', data: <first bytes> })`
 * and that its worker takes a connection sent as `sticky:connection` whatever its first request,
 * that workers report sessions with `{ type: 'sticky:connection' | 'sticky:disconnection' }`, that
 * it reads `worker.clientsCount` from the one 'data' listener it leaves on each connection, that it
 * finds a session id with SESSION_ID, and that its setupWorker adds one 'request' listener, which
 * sets `Connection: close`. Where the last two listeners are not found, sticky keeps doing its
 * part alone (REST calls slower, nothing wrong). The WORKERS tests (a burst, long-polling sessions,
 * REST calls on kept-alive connections answered while the primary is stopped) fail if an upgrade
 * changes them; internals/node-net.ts says how a connection is handed over whole.
 */
import type { Worker } from 'node:cluster';
import type { IncomingHttpHeaders, IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setupWorker } from '@socket.io/sticky';
import type { Server } from 'socket.io';
import { closeUndelivered, stopReading } from '../internals/node-net.js';

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

/**
 * Whether the first bytes of a connection begin a request outside the engine's path, which needs no
 * stickiness; undefined while they do not hold the whole request line (sticky decides then).
 */
function beginsRestCall(data: Buffer): boolean | undefined {
  const lineEnd = data.indexOf('\r\n');
  if (lineEnd === -1) return undefined;
  const line = data.toString('latin1', 0, lineEnd);
  const target = line.slice(line.indexOf(' ') + 1);
  return !target.startsWith(ENGINE_PATH);
}

/** The load balancing of the primary; create it right after sticky's `setupMaster(server)`. */
export interface Balancer {
  /** Counts `worker`'s load from now on; until `ready()`, the worker gets no connection. */
  track(worker: Worker): { ready(): void };
}

export function createBalancer(server: HttpServer): Balancer {
  /** While sticky places a request for a session it may not know yet: the worker its id names. */
  let named: number | undefined;
  /** The ready workers, which REST connections go to in turn. */
  const serving: Worker[] = [];
  let turn = 0;

  /** The worker a connection beginning with `data` goes to, if it is a REST call and one is ready. */
  const restWorker = (data: Buffer): Worker | undefined => {
    if (serving.length === 0 || beginsRestCall(data) !== true) return undefined;
    // A request naming a session goes to its worker, as sticky would send it (a way to reach one worker).
    const byName = workerOfSession(data);
    const chosen = byName === undefined ? undefined : serving.find((worker) => worker.id === byName);
    if (chosen?.isConnected()) return chosen;
    // A worker that just died is listed until its 'exit' event, a moment after its channel closed.
    for (let tries = 0; tries < serving.length; tries++) {
      turn = (turn + 1) % serving.length;
      if (serving[turn]!.isConnected()) return serving[turn];
    }
    return undefined;
  };

  server.on('connection', (socket: Socket) => {
    // sticky's own 'connection' listener came first and left one 'data' listener: its own, which
    // runs from here on only for the connections that need it.
    const listeners = socket.listeners('data');
    if (listeners.length !== 1) return;
    const sticky = listeners[0] as (chunk: Buffer) => void;
    socket.removeListener('data', sticky);
    let first = true;
    socket.on('data', (chunk: Buffer) => {
      if (!first) return sticky.call(socket, chunk);
      first = false;
      const worker = restWorker(chunk);
      // sticky's worker takes it as any connection sticky hands over: the first bytes come along.
      if (worker) return void worker.send({ type: 'sticky:connection', data: chunk }, socket, (error) => error && socket.destroy());
      named = workerOfSession(chunk);
      try {
        sticky.call(socket, chunk);
      } finally {
        named = undefined;
      }
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
        // What follows the first bytes (a body sent after the head, the next request) waits in the
        // kernel for the worker, instead of being read and dropped by the primary on the way.
        if ((message as { type?: unknown } | undefined)?.type === 'sticky:connection') stopReading(rest[0]);
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
      // 'exit', not 'disconnect': Node holds the disconnect back while a connection sent is unacknowledged.
      worker.once('exit', () => {
        const index = serving.indexOf(worker);
        if (index !== -1) serving.splice(index, 1);
        closeUndelivered(worker.process);
      });

      return {
        ready() {
          ready = true;
          if (worker.isConnected() && !serving.includes(worker)) serving.push(worker);
        },
      };
    },
  };
}

/**
 * Whether a connection may carry another request after this one's answer. An Engine.IO request's
 * connection was placed by its session, and the next request on it may be another session's: closed,
 * as sticky closes every one. A REST call's connection was placed by nobody, and stays open unless
 * the caller is a browser. A browser sends any request to an origin on any of its open connections
 * to it, so a long-polling request of a session on another worker could follow a REST call or a page
 * (/docs, the console) on its connection; server-side clients (Node's fetch and http, curl, other
 * languages' clients) keep their REST calls apart from socket.io-client, which in Node opens a
 * connection per long-polling request. Browsers are told by what every one of them sends and those
 * clients do not: a `Mozilla/` user agent, and `Sec-Fetch-Site` or `Origin` (Node's fetch sends
 * `Sec-Fetch-Mode` and `User-Agent: node`, neither of these). A proxy that pools its connections to
 * the gateway is caught by `misplaced`, below.
 */
function keepsAlive(url: string, headers: IncomingHttpHeaders): boolean {
  if (url.startsWith(ENGINE_PATH)) return false;
  return headers['sec-fetch-site'] === undefined && headers.origin === undefined && headers['user-agent']?.includes('Mozilla/') !== true;
}

/**
 * In a worker (`workerId` is its cluster id): sticky's setupWorker, with `Connection: close` set
 * where `keepsAlive` says rather than on every answer; session ids that name this worker; and word
 * to the primary when each handshake request it was handed has settled (after sticky's own
 * listeners, so that sticky's "session opened" reaches the primary before "settled").
 */
export function setupWorkerBalancing(io: Server, workerId: number): void {
  const server = io.httpServer;
  const before = new Set(server.listeners('request'));
  setupWorker(io);
  const added = server.listeners('request').filter((listener) => !before.has(listener));

  const tag = workerId.toString(36).padStart(WORKER_TAG_LENGTH, '0').slice(-WORKER_TAG_LENGTH);
  const generateId = io.engine.generateId.bind(io.engine);
  // 20 characters still, as sticky expects; the random part keeps 16 of them (96 bits).
  io.engine.generateId = async (request) => tag + String(await generateId(request)).slice(WORKER_TAG_LENGTH);

  /** Connections kept alive after an answer: the primary placed them as REST calls, not by session. */
  const kept = new WeakSet<Duplex>();
  /**
   * Whether an Engine.IO request came on a kept connection and names a session of another worker
   * (a proxy that pools its connections sent it there, or a browser that was not told apart): it is
   * then cut without an answer, which browsers and proxies such as nginx retry (a GET, at least) on
   * a fresh connection, which the primary places by session; other clients reconnect, as after a
   * "Session ID unknown" answer.
   */
  const misplaced = (socket: Duplex, url: string | undefined): boolean => {
    if (!kept.has(socket)) return false;
    const sid = SESSION_ID.exec(url ?? '')?.[1];
    return sid !== undefined && !sid.startsWith(tag);
  };
  if (added.length === 1) {
    server.removeListener('request', added[0] as (...args: unknown[]) => void);
    server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
      const url = request.url ?? '';
      if (keepsAlive(url, request.headers)) return void kept.add(request.socket);
      response.setHeader('Connection', 'close');
      if (misplaced(request.socket, url)) request.socket.destroy();
    });
    server.prependListener('upgrade', (request: IncomingMessage, socket: Duplex) => {
      if (misplaced(socket, request.url)) socket.destroy();
    });
  }

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
    // A handshake on a kept connection was not handed out as one: the primary does not count it.
    if (!isHandshake(request.method, request.url) || kept.has(request.socket)) return;
    const onClose = (): void => settle(request);
    pending.set(request, { closed, onClose });
    closed.once('close', onClose);
  };
  server.on('request', (request: IncomingMessage, response) => watch(request, response));
  // A websocket handshake keeps its connection: it settles when the session opens, or when refused.
  server.on('upgrade', (request: IncomingMessage, socket) => watch(request, socket));
  io.engine.on('connection', (socket: { request: IncomingMessage }) => settle(socket.request));
}
