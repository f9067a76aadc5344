/**
 * The gateway's Socket.IO server, typed with its generics: what clients send (nothing the gateway
 * listens to), what it sends them (any event the REST API names, with any JSON payload), what
 * gateway nodes send each other (cluster/messages.ts), and what a namespace's middleware learns
 * about a socket (`socket.data`).
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { ClusterEvents } from './cluster/messages.js';

/** Events the gateway listens for from clients: none. */
export type ClientEvents = Record<never, never>;

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
  /** /v1/lead-finder: the id of the scraper key the socket presented (never the key). */
  scraperKeyId?: string;
}

export type GatewayServer = Server<ClientEvents, ServerEvents, ClusterEvents, SocketData>;
export type GatewayNamespace = Namespace<ClientEvents, ServerEvents, ClusterEvents, SocketData>;
export type GatewaySocket = Socket<ClientEvents, ServerEvents, ClusterEvents, SocketData>;
