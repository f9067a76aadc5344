/**
 * What a connection keeps of the HTTP request that opened it. Engine.IO keeps that request for the
 * life of the connection (`conn.request`; for a websocket, its upgrade response too, as it keeps the
 * request that moved a long-polling session to a websocket), with its raw headers, stream state and
 * listeners: some 700 bytes of each idle socket. Once the handshake is done the gateway keeps a
 * small stand-in instead, with what is read after it: what Socket.IO copies into the `handshake` of
 * each socket the connection opens (headers, url, query, whether TLS), and the peer's address
 * (auth/address-limit.ts reads it, with `X-Forwarded-For`).
 *
 * The stand-in keeps no credentials (Cookie, Authorization, a token in the query...) nor the WebSocket
 * handshake's nonce: nothing reads them after the handshake, and the admin UI shows every socket's
 * handshake (admin-ui.ts). Sockets then share its headers and query rather than each holding a copy
 * without them, and the values many connections repeat (a browser's User-Agent...) are kept once.
 *
 * What else a connection would keep of its handshake goes too: the stand-in response of a websocket
 * upgrade, and the listener Engine.IO leaves on the websocket from before its transport took over
 * (internals/socket-io.ts): with the listener lists copied to their length, 1.1 KiB more of each
 * idle connection (BENCHMARKS.md). Once a connection and its sockets are settled, their listener
 * tables are compacted and `ws` lets go of each message's mask (internals/node-events.ts,
 * compactConnection): 1.1 KiB more.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { compactListeners } from './internals/node-events.js';
import { compactConnection, compactSocket, type UpgradeResponse, upgradeResponse } from './internals/socket-io.js';
import { socketLifecycle } from './socket-lifecycle.js';
import type { GatewayServer, GatewaySocket } from './socket-server.js';

type Connection = GatewaySocket['conn'];

/** Names of request headers, auth fields and query parameters that carry credentials. */
const SECRET_NAME = /^(cookie|authorization|proxy-authorization)$|token|secret|pass|key|session|auth/i;

/** Request headers that mean nothing once the handshake is done: the WebSocket handshake's nonce. */
const HANDSHAKE_ONLY = new Set(['sec-websocket-key']);

/** Whether a header, auth field or query parameter is dropped once the handshake is done. */
const dropped = (name: string): boolean => SECRET_NAME.test(name) || HANDSHAKE_ONLY.has(name);

/** `fields` without those that carry credentials (or the handshake's nonce); `fields` itself when none does. */
export function withoutSecrets<T extends object>(fields: T): T {
  return Object.keys(fields).some(dropped) ? kept(fields, (value) => value) : fields;
}

/** `url` without the query parameters that carry credentials; `url` itself when none does. */
export function urlWithoutSecrets(url: string): string {
  const [path = '', query] = url.split('?', 2);
  if (query === undefined) return url;
  const params = new URLSearchParams(query);
  const secret = [...new Set(params.keys())].filter((name) => SECRET_NAME.test(name));
  if (secret.length === 0) return url;
  for (const name of secret) params.delete(name);
  return `${path}?${params.toString()}`;
}

/** Past this many distinct values, the shared ones start over (values longer than SHARED_LENGTH are never shared). */
const SHARED_MAX = 4096;
const SHARED_LENGTH = 512;

/**
 * One copy of each value that many connections repeat: a browser's User-Agent and Accept-Language,
 * the Host, `websocket`, the handshake's URL, the address of a NAT many clients come from. Bounded:
 * values that are all different (a URL with a session id) cost a lookup, never more memory.
 */
function sharedValues(): (value: string) => string {
  const values = new Map<string, string>();
  return (value) => {
    const known = values.get(value);
    if (known !== undefined) return known;
    if (value.length > SHARED_LENGTH) return value;
    if (values.size >= SHARED_MAX) values.clear();
    values.set(value, value);
    return value;
  };
}

/** A copy of `fields` without those `dropped` names, each string value through `share`. */
function kept<T extends object>(fields: T, share: (value: string) => string): T {
  const copy: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (!dropped(name)) copy[name] = typeof value === 'string' ? share(value) : value;
  }
  return copy as T;
}

/** The stand-in: the fields of IncomingMessage that Socket.IO's handshake and the gateway read. */
function standIn(request: IncomingMessage & { _query?: Record<string, string> }, share: (value: string) => string): IncomingMessage {
  const address = request.socket?.remoteAddress;
  const peer = { remoteAddress: address === undefined ? undefined : share(address), encrypted: (request.socket as TLSSocket | undefined)?.encrypted === true };
  const stand = {
    headers: kept(request.headers, share),
    url: share(urlWithoutSecrets(request.url ?? '')),
    method: request.method,
    _query: kept(request._query ?? {}, share),
    socket: peer,
    connection: peer,
  };
  return stand as unknown as IncomingMessage;
}

/**
 * Replaces the request of every connection `io` accepts by its stand-in, once its handshake is done,
 * and makes the response of every websocket upgrade (a new connection's, or a long-polling
 * session's move to a websocket, which is how a stock client connects) let go of its request.
 */
export function releaseHandshakeRequests(io: GatewayServer): void {
  /** Upgrade responses by request, until their headers are written. */
  const responses = new WeakMap<IncomingMessage, UpgradeResponse>();
  // The first middleware (createGateway adds it before any other): upgradeResponse needs that.
  io.engine.use((request: IncomingMessage, response: object, next: () => void) => {
    const upgrade = upgradeResponse(response);
    if (upgrade) responses.set(request, upgrade);
    next();
  });
  // Once the response's headers are written (the 101 of an upgrade), its middlewares are done with it.
  io.engine.on('headers', (_headers: unknown, request: IncomingMessage) => {
    responses.get(request)?.release();
    responses.delete(request);
  });
  const share = sharedValues();
  // Socket.IO stamps each socket's handshake with the time as text (`new Date().toString()`, 80 bytes):
  // the sockets that connect in the same second keep one copy.
  socketLifecycle(io).onConnect((socket) => {
    socket.handshake.time = share(socket.handshake.time);
    compactListeners(socket);
    compactSocket(socket);
  });
  io.engine.on('connection', (conn: Connection) => {
    // After every other listener of this event (those added later too, as the cluster's handshake
    // report is): each still sees the real request. No CONNECT can arrive before this runs: the
    // client sends one only once it has read the open packet.
    queueMicrotask(() => {
      conn.request = standIn(conn.request, share);
      compactConnection(conn);
    });
  });
}
