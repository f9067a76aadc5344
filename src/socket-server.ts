/**
 * The gateway's Socket.IO server, typed with its generics: what clients send (a fresh token), what
 * it sends them (any event the REST API names, with any JSON payload), what gateway nodes send each
 * other (cluster/messages.ts), and what a namespace's middleware learns about a socket (`socket.data`).
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { ClusterEvents } from './cluster/messages.js';

/** The acknowledgement of a `token_refresh`. */
export type RefreshAnswer = { readonly ok: true; readonly expiresAt: string } | { readonly ok: false; readonly code: string; readonly message: string };

/** Events the gateway listens for from clients: a user socket's fresh token. */
export interface ClientEvents {
  token_refresh: (payload: unknown, ack?: (answer: RefreshAnswer) => void) => void;
}

/**
 * Events the gateway sends clients: whatever a REST call names, with its payload, and for a user
 * socket with streams on, the event's position in the user's stream as the last argument.
 */
export interface ServerEvents {
  [event: string]: (data: unknown, position?: string) => void;
}

/** What a namespace's middleware learned about a socket, kept in `socket.data`. */
export interface SocketData {
  /** /v1/shared: the user the token names (its `sub`). */
  userId?: string;
  /** /v1/shared: the token the socket holds now (the handshake's, or a refreshed one) and its expiry schedule. */
  token?: SocketToken;
  /** /v1/lead-finder: the id of the scraper key the socket presented (never the key). */
  scraperKeyId?: string;
}

/** What a user socket's token says that matters after the handshake (times in seconds since 1970). */
export interface SocketToken {
  readonly exp: number;
  readonly iat?: number;
  readonly jti?: string;
  /** The second the expiry wheel next looks at this socket (token-expiry.ts). */
  due: number;
  /** Whether `token_expiring` was sent for this token. */
  warned: boolean;
}

export type GatewayServer = Server<ClientEvents, ServerEvents, ClusterEvents, SocketData>;
export type GatewayNamespace = Namespace<ClientEvents, ServerEvents, ClusterEvents, SocketData>;
export type GatewaySocket = Socket<ClientEvents, ServerEvents, ClusterEvents, SocketData>;
