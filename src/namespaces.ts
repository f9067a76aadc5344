/**
 * The Socket.IO namespaces and who may join them.
 *
 * - `/v1/shared`: browsers and apps of users, authenticated by a JWT (`auth: { token }`), which holds
 *   for the life of the socket (token-expiry.ts). Every socket of user X joins room `user:X`. That
 *   room name is a public contract: a service using `@socket.io/redis-emitter` reaches a user with
 *   `.of('/v1/shared').to('user:<id>')`.
 * - `/v1/lead-finder` (LEAD_FINDER_NAMESPACE): lead-finder scrapers, authenticated by a shared key
 *   (`auth: { token: <key> }`).
 * - the control namespace, `/` unless the lead-finder scrapers have it: server-side messages between
 *   gateway nodes only; it refuses every client.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { KeySet } from './auth/keys.js';
import { TokenError, type TokenVerifier } from './auth/tokens.js';
import { socketErrorRegistry, socketRefusal as refusal } from './errors.js';
import { compactRooms } from './internals/socket-io.js';
import { socketLifecycle } from './socket-lifecycle.js';
import { socketToken } from './token-expiry.js';
import type { GatewayNamespace, GatewayServer, GatewaySocket } from './socket-server.js';
import type { StreamCursors } from './stream-cursors.js';

/** Namespace of user sockets. */
export const USERS_NAMESPACE = '/v1/shared';
/** Namespace of lead-finder scraper sockets, unless LEAD_FINDER_NAMESPACE says otherwise. */
export const SCRAPERS_NAMESPACE = '/v1/lead-finder';

/** Where the gateway's namespaces are. */
export interface NamespaceNames {
  readonly users: string;
  readonly scrapers: string;
  /** Carries the gateway nodes' own messages; refuses every client. */
  readonly control: string;
}

/**
 * The namespaces for a lead-finder namespace. Control stays on `/`, where nodes of earlier versions
 * look for it, unless seed-style scrapers need `/`: then it moves to a namespace of its own.
 */
export function namespaceNames(scrapers: string = SCRAPERS_NAMESPACE): NamespaceNames {
  return { users: USERS_NAMESPACE, scrapers, control: scrapers === '/' ? '/general-socket-control' : '/' };
}

/** Prefix of the room every socket of a user joins (public contract, see above). */
export const USER_ROOM_PREFIX = 'user:';

/** The room every socket of a user joins. */
export function userRoom(userId: string): string {
  return USER_ROOM_PREFIX + userId;
}

/**
 * A refused handshake must leave nothing behind: once the refusal packet is written, the transport
 * is closed unless the same connection carries another namespace. Connections are counted as their
 * sockets join and leave, so a refusal costs O(1) however many sockets are connected.
 */
function transportGuard(io: GatewayServer): { closeIfAlone(socket: GatewaySocket): void } {
  const accepted = new WeakMap<GatewaySocket['conn'], number>();
  // Every namespace counts, those created later too (the admin UI's, for one).
  const lifecycle = socketLifecycle(io);
  lifecycle.onConnect((socket) => accepted.set(socket.conn, (accepted.get(socket.conn) ?? 0) + 1));
  lifecycle.onDisconnect((socket) => accepted.set(socket.conn, (accepted.get(socket.conn) ?? 1) - 1));
  return {
    closeIfAlone(socket) {
      setImmediate(() => {
        if ((accepted.get(socket.conn) ?? 0) === 0) socket.conn.close();
      });
    },
  };
}

/** Sets up the namespaces on `io`. */
export function setupNamespaces(
  io: GatewayServer,
  deps: {
    verifyToken: TokenVerifier;
    scraperKeys: KeySet;
    log: FastifyBaseLogger;
    onRefused?: (namespace: string, reason: string) => void;
    names?: NamespaceNames;
    /** With streams on: where each user socket stands in its user's stream. */
    cursors?: StreamCursors;
  },
): void {
  const names = deps.names ?? namespaceNames();
  const { closeIfAlone } = transportGuard(io);
  // The control namespace carries only messages between gateway nodes; a client there would hold a
  // connection without any credentials.
  io.of(names.control).use((socket, next) => {
    deps.onRefused?.(names.control, 'NAMESPACE_FORBIDDEN');
    next(
      refusal(
        'NAMESPACE_FORBIDDEN',
        `${socketErrorRegistry.NAMESPACE_FORBIDDEN.message}. Connect to ${USERS_NAMESPACE} (users) or ${names.scrapers} (scrapers)`,
      ),
    );
    closeIfAlone(socket);
  });

  const users: GatewayNamespace = io.of(USERS_NAMESPACE);
  users.use((socket, next) => {
    deps.verifyToken(socket.handshake.auth?.token).then(
      (verified) => {
        const { userId } = verified;
        socket.data.userId = userId;
        // The token holds for the life of the socket (token-expiry.ts).
        socket.data.token = socketToken(verified);
        if (deps.cursors === undefined) return next();
        // Where the socket starts in its user's stream, settled before it connects (stream-cursors.ts).
        deps.cursors.prepare(socket, userId).then(
          () => next(),
          (error: unknown) => {
            // Not a refusal: a stock client does not retry after one. A closed transport it retries, and resumes then.
            deps.log.warn({ err: error, namespace: USERS_NAMESPACE }, 'user stream unreadable at connect; closing the transport so the client retries');
            socket.conn.close();
            next(new Error('user stream unreadable'));
          },
        );
      },
      (error: unknown) => {
        const refused = error instanceof TokenError ? refusal(error.code, error.message) : refusal('TOKEN_INVALID');
        deps.log.info({ namespace: USERS_NAMESPACE, reason: refused.data.code }, 'socket refused');
        deps.onRefused?.(USERS_NAMESPACE, refused.data.code);
        next(refused);
        closeIfAlone(socket);
      },
    );
  });
  users.on('connection', (socket) => {
    const { userId } = socket.data;
    if (userId === undefined) return void socket.disconnect(true);
    void socket.join(userRoom(userId));
    // The adapter's Sets for it are now complete: most hold one or two members for life.
    compactRooms(socket);
    deps.cursors?.attach(socket);
  });

  const scrapers: GatewayNamespace = io.of(names.scrapers);
  scrapers.use((socket, next) => {
    const presented: unknown = socket.handshake.auth?.token;
    const keyId = deps.scraperKeys.match(presented);
    if (keyId === undefined) {
      const missing = presented === undefined || presented === '';
      deps.log.info({ namespace: names.scrapers, reason: missing ? 'KEY_MISSING' : 'KEY_INVALID' }, 'socket refused');
      deps.onRefused?.(names.scrapers, missing ? 'KEY_MISSING' : 'KEY_INVALID');
      next(refusal(missing ? 'KEY_MISSING' : 'KEY_INVALID'));
      closeIfAlone(socket);
      return;
    }
    socket.data.scraperKeyId = keyId;
    next();
  });
}
