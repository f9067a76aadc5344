/**
 * The one place that watches sockets come and go. Every socket any namespace accepts, and its
 * disconnect, is observed here once; what follows sockets (the metrics, the transport guard of
 * namespaces.ts; presence and webhooks next) subscribes instead of listening to namespaces itself,
 * so all of them see the same sockets, those of namespaces created later (the admin UI's) included.
 */
import type { DisconnectReason } from 'socket.io';
import { namespacesOf } from './internals/socket-io.js';
import type { GatewayNamespace, GatewayServer, GatewaySocket } from './socket-server.js';

/** Subscriptions to the sockets of one server; listeners run in the order they subscribed. */
export interface SocketLifecycle {
  /** `listener` runs for every socket accepted from now on, once its namespace's middleware let it in. */
  onConnect(listener: (socket: GatewaySocket) => void): void;
  /** `listener` runs for every socket that disconnects from now on, with Socket.IO's reason. */
  onDisconnect(listener: (socket: GatewaySocket, reason: DisconnectReason) => void): void;
}

const lifecycles = new WeakMap<GatewayServer, SocketLifecycle>();

/** The lifecycle of `io`'s sockets: the same one whoever asks, so sockets are watched once. */
export function socketLifecycle(io: GatewayServer): SocketLifecycle {
  let lifecycle = lifecycles.get(io);
  if (lifecycle) return lifecycle;
  const connects: ((socket: GatewaySocket) => void)[] = [];
  const disconnects: ((socket: GatewaySocket, reason: DisconnectReason) => void)[] = [];
  // One listener for every socket (`this`), so that an idle socket holds no closure of its own; `on`
  // rather than `once`, which would wrap it in one: a socket disconnects once.
  function disconnected(this: GatewaySocket, reason: DisconnectReason): void {
    for (const listener of disconnects) listener(this, reason);
  }
  const watch = (nsp: GatewayNamespace): void => {
    nsp.on('connection', (socket) => {
      for (const listener of connects) listener(socket);
      socket.on('disconnect', disconnected);
    });
  };
  for (const nsp of namespacesOf(io)) watch(nsp);
  io.on('new_namespace', watch);
  lifecycle = {
    onConnect: (listener) => void connects.push(listener),
    onDisconnect: (listener) => void disconnects.push(listener),
  };
  lifecycles.set(io, lifecycle);
  return lifecycle;
}
