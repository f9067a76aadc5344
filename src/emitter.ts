/**
 * The one place that sends events to sockets. Routes describe who gets what as `Delivery` values;
 * the emitter sends them. Delivery reports, acknowledgements, idempotency and cluster routing grow
 * here, behind this small interface.
 */
import type { Server } from 'socket.io';
import { USERS_NAMESPACE, WORKERS_NAMESPACE, userRoom } from './namespaces.js';

/** Who a delivery goes to: every socket of some users, or one worker socket. */
export type Audience =
  | { readonly kind: 'users'; readonly userIds: readonly string[] }
  | { readonly kind: 'worker'; readonly socketId: string };

/** One event, one payload, one audience. */
export interface Delivery {
  readonly audience: Audience;
  readonly event: string;
  readonly data: unknown;
}

/** What sending reached. */
export interface DeliveryReport {
  /** Sockets the event was sent to. */
  readonly sockets: number;
}

/** Audience: every socket of these users (duplicates count once). */
export function toUsers(userIds: string | readonly string[]): Audience {
  return { kind: 'users', userIds: [...new Set(typeof userIds === 'string' ? [userIds] : userIds)] };
}

/** Audience: one socket of the lead-finder namespace. */
export function toWorker(socketId: string): Audience {
  return { kind: 'worker', socketId };
}

/** Sends deliveries to sockets. */
export interface Emitter {
  /** Sends each delivery; the report adds up the sockets reached. */
  send(deliveries: readonly Delivery[]): Promise<DeliveryReport>;
}

/** An emitter over a Socket.IO server (its adapter decides whether that spans a cluster). */
export function createEmitter(io: Server): Emitter {
  const users = io.of(USERS_NAMESPACE);
  const workers = io.of(WORKERS_NAMESPACE);

  const sendOne = ({ audience, event, data }: Delivery): number => {
    if (audience.kind === 'worker') {
      if (!workers.sockets.has(audience.socketId)) return 0;
      workers.to(audience.socketId).emit(event, data);
      return 1;
    }
    const rooms = audience.userIds.map(userRoom);
    // A socket belongs to exactly one user, so the room sizes add up without double counting.
    let sockets = 0;
    for (const room of rooms) sockets += users.adapter.rooms.get(room)?.size ?? 0;
    // One emit to all rooms: Socket.IO encodes the packet once and sends it once per socket. It is
    // sent even when no socket is local, since a cluster adapter may find them on other nodes.
    users.to(rooms).emit(event, data);
    return sockets;
  };

  return {
    async send(deliveries) {
      let sockets = 0;
      for (const delivery of deliveries) sockets += sendOne(delivery);
      return { sockets };
    },
  };
}
