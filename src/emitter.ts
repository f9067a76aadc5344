/**
 * The one place that sends events to sockets. Routes describe who gets what as `Delivery` values;
 * the emitter sends them. Delivery reports, acknowledgements, idempotency and cluster routing grow
 * here, behind this small interface.
 */
import type { Answers, ClusterChannel } from './cluster/channel.js';
import { DeliverEachMessage, DeliverMessage, type FanoutRecipient, type WireDelivery, type WireFanout } from './cluster/messages.js';
import { namespaceNames, userRoom, type NamespaceNames } from './namespaces.js';
import type { GatewayServer } from './socket-server.js';

/**
 * Who a delivery goes to: every socket of some users, one scraper socket, or every socket of each of
 * some users with fields of their own (see `toEach`).
 */
export type Audience =
  | { readonly kind: 'users'; readonly userIds: readonly string[] }
  | { readonly kind: 'scraper'; readonly socketId: string }
  | { readonly kind: 'each'; readonly recipients: readonly FanoutRecipient[] };

/** One event, one payload, one audience (with `toEach`, the payload is what every recipient's has in common). */
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
export function toScraper(socketId: string): Audience {
  return { kind: 'scraper', socketId };
}

/**
 * Audience: every socket of each recipient, who receives `{ ...data, ...fields }` (so `data` must be
 * an object). A user listed twice gets two events. Across the cluster `data` travels once, not once
 * per recipient.
 */
export function toEach(recipients: readonly FanoutRecipient[]): Audience {
  return { kind: 'each', recipients };
}

/** Sends deliveries to sockets. */
export interface Emitter {
  /** Sends each delivery; the report adds up the sockets reached. */
  send(deliveries: readonly Delivery[]): Promise<DeliveryReport>;
}

/**
 * An emitter over a Socket.IO server. With a distributed bus, each node delivers only to its own
 * sockets: this node to its local ones, and one `DeliverMessage` per `send` (with one
 * `DeliverEachMessage` beside it for fan-outs) asks every other node to do the same and answer how
 * many sockets it reached. A socket lives on exactly one node, so each gets the event once, and the
 * report counts sockets on every node, at the cost of one round trip bounded by the bus's timeout.
 * A scraper socket found locally costs no round trip at all.
 */
export function createEmitter(io: GatewayServer, cluster: ClusterChannel, names: NamespaceNames = namespaceNames()): Emitter {
  const users = io.of(names.users);
  const scrapers = io.of(names.scrapers);

  const deliverHere = (delivery: WireDelivery): number => {
    if (delivery.to === 'scraper') {
      if (!scrapers.sockets.has(delivery.socketId)) return 0;
      scrapers.local.to(delivery.socketId).emit(delivery.event, delivery.data);
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

  const deliverEachHere = ({ event, common, recipients }: WireFanout): number => {
    let sockets = 0;
    for (const { userId, fields } of recipients) {
      const room = userRoom(userId);
      const here = users.adapter.rooms.get(room)?.size ?? 0;
      if (here === 0) continue;
      users.local.to(room).emit(event, { ...common, ...fields });
      sockets += here;
    }
    return sockets;
  };

  cluster.handle(DeliverMessage, (batch) => {
    let sockets = 0;
    for (const delivery of batch) sockets += deliverHere(delivery);
    return sockets;
  });
  cluster.handle(DeliverEachMessage, (fanouts) => {
    let sockets = 0;
    for (const fanout of fanouts) sockets += deliverEachHere(fanout);
    return sockets;
  });

  const none: Answers<number> = { answers: [], complete: true, unconfirmed: false };

  return {
    async send(deliveries) {
      let sockets = 0;
      const elsewhere: WireDelivery[] = [];
      const fanouts: WireFanout[] = [];
      for (const { audience, event, data } of deliveries) {
        if (audience.kind === 'each') {
          const fanout: WireFanout = { event, common: data as WireFanout['common'], recipients: audience.recipients };
          sockets += deliverEachHere(fanout);
          if (cluster.distributed) fanouts.push(fanout);
          continue;
        }
        const wire: WireDelivery =
          audience.kind === 'scraper' ? { to: 'scraper', socketId: audience.socketId, event, data } : { to: 'users', userIds: audience.userIds, event, data };
        const here = deliverHere(wire);
        sockets += here;
        // Any node may hold sockets of a user; a scraper socket found here is nowhere else.
        if (cluster.distributed && (wire.to === 'users' || here === 0)) elsewhere.push(wire);
      }
      if (elsewhere.length === 0 && fanouts.length === 0) return { sockets };
      const replies = await Promise.all([
        elsewhere.length === 0 ? none : cluster.ask(DeliverMessage, elsewhere),
        fanouts.length === 0 ? none : cluster.ask(DeliverEachMessage, fanouts),
      ]);
      for (const reply of replies) for (const answer of reply.answers) sockets += answer;
      if (replies.every((reply) => reply.complete)) return { sockets };
      return replies.some((reply) => !reply.complete && reply.unconfirmed) ? { sockets, partial: true, unconfirmed: true } : { sockets, partial: true };
    },
  };
}
