/**
 * What a Socket.IO client may send, and what happens when it sends more.
 *
 * Clients of this gateway only ever send a namespace CONNECT (with their token) and, on /v1/shared,
 * a fresh token (`token_refresh`, token-expiry.ts); the admin UI sends a few small commands. So the gateway accepts small messages (`SOCKET_MAX_MESSAGE_BYTES`), parses
 * no packet nested deeper than `CLIENT_PACKET_MAX_DEPTH`, accepts no acknowledgement (it never asks
 * a client for one), allows one socket per namespace per connection, limits handshakes per address
 * (`SOCKET_HANDSHAKES_PER_MINUTE`), and closes a connection that keeps sending what it refuses.
 */
import type { ServerOptions } from 'socket.io';
import type { FastifyBaseLogger } from 'fastify';
import { DISCONNECT_REASON_EVENT } from './api/common.js';
import { AddressWindow, clientAddressOf } from './auth/address-limit.js';
import type { Config } from './config.js';
import { socketErrorRegistry, socketRefusal as refusal, type SocketErrorCode } from './errors.js';
import { addAnyListener, guardedParser, isConnecting, namespacesOf } from './internals/socket-io.js';
import { nestsDeeperThan } from './json-limits.js';
import { socketLifecycle } from './socket-lifecycle.js';
import type { GatewayNamespace, GatewayServer, GatewaySocket } from './socket-server.js';

/**
 * Deepest nesting of arrays and objects a client packet may have (the event's own array counts).
 * Past it nothing parses or relays the packet: Socket.IO's encoder and the cluster adapter's
 * serialisation recurse, and the admin UI relays every client event through them.
 */
export const CLIENT_PACKET_MAX_DEPTH = 32;

/** Refused packets (CONNECTs answered with an error, events nobody listens to) a connection may send before it is closed. */
export const MAX_REFUSED_PER_CONNECTION = 10;

/** Codes of the refusals and disconnections decided here (`err.data.code`, or the reason event's `code`). */
export type SocketLimitCode = Extract<SocketErrorCode, 'HANDSHAKE_RATE_LIMITED' | 'NAMESPACE_ALREADY_JOINED' | 'TOO_MANY_REFUSED'>;

type Connection = GatewaySocket['conn'];

/**
 * The checks in front of Socket.IO's parser. A decoder error is caught by Socket.IO, which closes
 * the connection; an error thrown later, from an event listener, would end the process.
 */
const packetChecks = {
  data(data: unknown): void {
    // ACK (3) and BINARY_ACK (6): answers to acknowledgements the gateway never asks for.
    if (typeof data === 'string' && (data.startsWith('3') || data.startsWith('6')))
      throw new Error('Client sent an acknowledgement the gateway never asked for');
  },
  json(text: string): void {
    if (nestsDeeperThan(text, CLIENT_PACKET_MAX_DEPTH)) throw new Error(`Client packet nested deeper than ${CLIENT_PACKET_MAX_DEPTH} levels`);
  },
};

/** What the gateway keeps about one Engine.IO connection (one for each idle socket: kept small). */
interface ConnectionState {
  refused: number;
  closing: boolean;
  /**
   * The sockets of this connection that are connected or still in a namespace's middlewares, at
   * most one per namespace. An array replaced on each change (`concat` sizes it exactly, where a
   * spread or a push would leave room for 16): most connections hold one socket.
   */
  sockets: readonly GatewaySocket[];
}

/** Whether a socket still counts for its connection: connected, or on its way in. */
const live = (socket: GatewaySocket): boolean => socket.connected || isConnecting(socket);

/** The limits of one gateway: options for its Socket.IO server, and the rules to attach once it exists. */
export interface SocketLimits {
  /** Spread into `new Server(...)`. */
  readonly serverOptions: Partial<ServerOptions>;
  /** Applies the per-connection rules to every namespace, present and future; call before any namespace middleware. */
  attach(io: GatewayServer, hooks: { log: FastifyBaseLogger; onRefused?: (namespace: string, reason: string) => void }): void;
}

export function createSocketLimits(config: Pick<Config, 'socketMaxMessageBytes' | 'socketHandshakesPerMinute' | 'trustProxy'>): SocketLimits {
  const handshakes = new AddressWindow(60_000);
  const addressOf = clientAddressOf(config.trustProxy);
  const perMinute = config.socketHandshakesPerMinute;
  /** Handshakes over the limit: accepted, so that their CONNECT can be refused with a code a client can read. */
  const overLimit = new WeakSet<object>();
  /** Their connections (the request itself is let go once the handshake is done: handshake-request.ts). */
  const overLimitConnections = new WeakSet<Connection>();

  const serverOptions: Partial<ServerOptions> = {
    maxHttpBufferSize: config.socketMaxMessageBytes,
    parser: guardedParser(packetChecks),
    ...(perMinute > 0 && {
      allowRequest(request, callback) {
        const count = handshakes.hit(addressOf(request));
        // Far past the limit, refuse before any session exists: a flood costs nothing more.
        if (count > 2 * perMinute) return callback(`Too many connections from this address: retry in ${handshakes.secondsLeft()} s`, false);
        if (count > perMinute) overLimit.add(request);
        callback(null, true);
      },
    }),
  };

  function attach(io: GatewayServer, hooks: Parameters<SocketLimits['attach']>[1]): void {
    const connections = new WeakMap<Connection, ConnectionState>();

    // Synchronous: Engine.IO drops every packet that arrives on a closing connection, including
    // those already read in the same chunk as the one that crossed the bound.
    const close = (conn: Connection, state: ConnectionState, reason: string): void => {
      if (state.closing) return;
      state.closing = true;
      hooks.log.info({ refused: state.refused, reason }, 'socket connection closed: it kept sending what the gateway refuses');
      const connected = state.sockets.filter((socket) => socket.connected);
      const [first] = connected;
      if (!first) return void conn.close();
      const code: SocketLimitCode = 'TOO_MANY_REFUSED';
      const message = `${socketErrorRegistry[code].message}: more than ${MAX_REFUSED_PER_CONNECTION} (${reason})`;
      for (const socket of connected) socket.emit(DISCONNECT_REASON_EVENT, { code, message });
      first.disconnect(true);
    };
    const strike = (conn: Connection, reason: string): void => {
      const state = connections.get(conn);
      if (state && ++state.refused > MAX_REFUSED_PER_CONNECTION) close(conn, state, reason);
    };

    // Every CONNECT_ERROR (Socket.IO packet type 4) the gateway sends: an unknown namespace, bad
    // credentials, a duplicate or rate-limited CONNECT, whichever middleware refused it. One
    // function for every connection (`this`), so that a connection holds no closure of its own.
    function onPacketCreate(this: Connection, packet: { type: string; data?: unknown }): void {
      if (packet.type === 'message' && typeof packet.data === 'string' && packet.data.startsWith('4')) strike(this, 'refused CONNECTs');
    }
    io.engine.on('connection', (conn: Connection) => {
      if (overLimit.has(conn.request)) overLimitConnections.add(conn);
      connections.set(conn, { refused: 0, closing: false, sockets: [] });
      conn.on('packetCreate', onPacketCreate);
    });

    const guard = (nsp: GatewayNamespace): void => {
      nsp.use((socket, next) => {
        const state = connections.get(socket.conn);
        if (overLimitConnections.has(socket.conn)) {
          hooks.onRefused?.(nsp.name, 'HANDSHAKE_RATE_LIMITED');
          next(
            refusal(
              'HANDSHAKE_RATE_LIMITED',
              `${socketErrorRegistry.HANDSHAKE_RATE_LIMITED.message}: at most ${perMinute} per minute; retry in ${handshakes.secondsLeft()} s`,
            ),
          );
          // Every CONNECT of this connection would be refused: nothing keeps it open.
          setImmediate(() => socket.conn.close());
          return;
        }
        if (state?.sockets.some((earlier) => earlier.nsp === nsp && earlier !== socket && live(earlier))) {
          hooks.onRefused?.(nsp.name, 'NAMESPACE_ALREADY_JOINED');
          return next(
            refusal(
              'NAMESPACE_ALREADY_JOINED',
              `${socketErrorRegistry.NAMESPACE_ALREADY_JOINED.message}: this connection already has a socket on ${nsp.name} (or is opening one)`,
            ),
          );
        }
        if (state) state.sockets = state.sockets.filter((other) => other.nsp !== nsp && live(other)).concat([socket]);
        next();
      });
    };
    for (const nsp of namespacesOf(io)) guard(nsp);
    io.on('new_namespace', guard);

    // Clients send the gateway nothing it listens to but the admin UI's commands. One function for
    // every socket (`this`), as above.
    function onAnyEvent(this: GatewaySocket, event: string): void {
      if (this.listenerCount(event as never) === 0) strike(this.conn, 'events nobody listens to');
    }
    const lifecycle = socketLifecycle(io);
    lifecycle.onConnect((socket) => addAnyListener(socket, onAnyEvent));
    lifecycle.onDisconnect((socket) => {
      const state = connections.get(socket.conn);
      if (state) state.sockets = state.sockets.filter((other) => other !== socket);
    });
  }

  return { serverOptions, attach };
}
