/**
 * The one place that sends events to sockets. Routes describe who gets what as `Delivery` values;
 * the emitter sends them. Delivery reports, acknowledgements, idempotency and cluster routing grow
 * here, behind this small interface.
 */
import type { ClusterChannel } from './cluster/channel.js';
import { DeliverMessage, type WireDelivery } from './cluster/messages.js';
import { USERS_NAMESPACE, WORKERS_NAMESPACE, userRoom } from './namespaces.js';
import type { GatewayServer } from './socket-server.js';

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
  /** Sockets the event was sent to, on every node that answered. */
  readonly sockets: number;
  /** True when some gateway node could not be asked or did not answer in time (cluster only). */
  readonly partial?: true;
  /** With `partial`: the other nodes were asked, so they may have delivered without confirming it. */
  readonly unconfirmed?: true;
}

/** Audience: every socket of these users (duplicates count once). */
export function toUsers(userIds: string | readonly string[]): Audience {
  return { kind: 'users', userIds: typeof userIds === 'string' ? [userIds] : [...new Set(userIds)] };
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

/**
 * An emitter over a Socket.IO server. With a distributed bus, each node delivers only to its own
 * sockets: this node to its local ones, and one `DeliverMessage` per `send` asks every other node
 * to do the same and answer how many sockets it reached. A socket lives on exactly one node, so
 * each gets the event once, and the report counts sockets on every node, at the cost of one round
 * trip bounded by the bus's timeout. A worker socket found locally costs no round trip at all.
 */
export function createEmitter(io: GatewayServer, cluster: ClusterChannel): Emitter {
  const users = io.of(USERS_NAMESPACE);
  const workers = io.of(WORKERS_NAMESPACE);

  const deliverHere = (delivery: WireDelivery): number => {
    if (delivery.to === 'worker') {
      if (!workers.sockets.has(delivery.socketId)) return 0;
      workers.local.to(delivery.socketId).emit(delivery.event, delivery.data);
      return 1;
    }
    const rooms = delivery.userIds.map(userRoom);
    // A socket belongs to exactly one user, so the room sizes add up without double counting.
    let sockets = 0;
    for (const room of rooms) sockets += users.adapter.rooms.get(room)?.size ?? 0;
    // One emit to all rooms: Socket.IO encodes the packet once and sends it once per socket.
    if (sockets > 0) users.local.to(rooms).emit(delivery.event, delivery.data);
    return sockets;
  };

  cluster.handle(DeliverMessage, (batch) => {
    let sockets = 0;
    for (const delivery of batch) sockets += deliverHere(delivery);
    return sockets;
  });

  return {
    async send(deliveries) {
      let sockets = 0;
      const elsewhere: WireDelivery[] = [];
      for (const { audience, event, data } of deliveries) {
        const wire: WireDelivery =
          audience.kind === 'worker' ? { to: 'worker', socketId: audience.socketId, event, data } : { to: 'users', userIds: audience.userIds, event, data };
        const here = deliverHere(wire);
        sockets += here;
        // Any node may hold sockets of a user; a worker socket found here is nowhere else.
        if (cluster.distributed && (wire.to === 'users' || here === 0)) elsewhere.push(wire);
      }
      if (elsewhere.length === 0) return { sockets };
      const answers = await cluster.ask(DeliverMessage, elsewhere);
      for (const answer of answers.answers) sockets += answer;
      if (answers.complete) return { sockets };
      return answers.unconfirmed ? { sockets, partial: true, unconfirmed: true } : { sockets, partial: true };
    },
  };
}
