/**
 * The one place that sends events to sockets. Routes describe who gets what as `Delivery` values;
 * the emitter sends them: it appends them to the users' streams, hands them to this node's sockets
 * (local-delivery.ts) and asks the other nodes to do the same (routing.ts), and reports what was
 * reached. Delivery reports, acknowledgements, idempotency and cluster routing grow here, behind this
 * small interface.
 */
import type { ClusterChannel } from './cluster/channel.js';
import { DeliverEachMessage, DeliverMessage, type FanoutRecipient, type WireDelivery, type WireFanout } from './cluster/messages.js';
import { errorRegistry, fail } from './errors.js';
import { namespaceNames, type NamespaceNames } from './namespaces.js';
import { createRouting, type Routed, type Routing } from './routing.js';
import { createLocalDelivery, type Payload } from './local-delivery.js';
import type { GatewayServer } from './socket-server.js';
import type { StreamCursors } from './stream-cursors.js';
import { StreamsUnavailableError, formatPosition, payloadJson, type Append, type Appended, type UserStreams } from './streams/streams.js';

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

/** What sending one delivery reached. */
export interface ItemReport {
  /** Sockets the event was sent to, on every node that answered. */
  readonly sockets: number;
  /** With streams on: each user's position of the event in their stream (a user listed twice: the later one). */
  readonly positions?: Readonly<Record<string, string>>;
}

/** What sending reached. */
export interface DeliveryReport {
  /** Sockets the events were sent to, on every node that answered. */
  readonly sockets: number;
  /** True when some gateway node could not be asked or did not answer in time (cluster only). */
  readonly partial?: true;
  /** With `partial`: the other nodes were asked, so they may have delivered without confirming it. */
  readonly unconfirmed?: true;
  /** One report per delivery, in the order given. */
  readonly items: readonly ItemReport[];
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

/** Each delivery's payloads with streams on: one for all its users, one per recipient of a `toEach`; none for a scraper. */
function payloadsOf({ audience, data }: Delivery): readonly Payload[] | undefined {
  if (audience.kind === 'users') return [{ data, json: payloadJson(data) }];
  if (audience.kind === 'scraper') return undefined;
  return audience.recipients.map(({ fields }) => {
    const own = { ...(data as object), ...fields };
    return { data: own, json: payloadJson(own) };
  });
}

/**
 * A promise that settles at the end of this turn of the event loop (setImmediate), one for every
 * caller of the turn. Sends that append nothing wait for it, so that what a turn's requests write
 * (WebSocket frames, then HTTP replies) is written in a row, as the streams' group commit does for
 * sends that append: a gateway that wrote each request's frames and reply as it read the request
 * spent 1.8 times the CPU per message at full load (BENCHMARKS.md, issue 15).
 */
function turnBarrier(): () => Promise<void> {
  let turn: Promise<void> | undefined;
  const end = (resolve: () => void): void => {
    turn = undefined;
    resolve();
  };
  return () => {
    turn ??= new Promise<void>((resolve) => setImmediate(end, resolve));
    return turn;
  };
}

/** Sends deliveries to sockets. */
export interface Emitter {
  /**
   * Sends each delivery; the report adds up the sockets reached and has one item per delivery. With
   * streams, every event addressed to a user is durably appended to that user's stream first; when
   * that fails, nothing is sent and this rejects with a 503 error.
   */
  send(deliveries: readonly Delivery[]): Promise<DeliveryReport>;
}

/** What an emitter is built on besides the Socket.IO server and the cluster channel. */
export interface EmitterOptions {
  readonly names?: NamespaceNames;
  /** Per-user streams and this node's cursors over them; absent when streams are off (HISTORY_SIZE=0). */
  readonly streams?: { readonly store: UserStreams; readonly cursors: StreamCursors };
  /** Which other nodes a send asks (routing.ts); every other node when absent. */
  readonly routing?: Routing;
}

/**
 * An emitter over a Socket.IO server. With a distributed bus, each node delivers only to its own
 * sockets: this node to its local ones, and the routing (routing.ts) asks the other nodes that may
 * hold the rest (one `DeliverMessage` per node per `send`, with one `DeliverEachMessage` beside it
 * for fan-outs) to do the same and answer how many sockets each delivery reached. A socket lives on
 * exactly one node, so each gets the event once, and the report counts sockets on every node asked,
 * at the cost of one round trip bounded by the bus's timeout. A scraper socket found locally costs no
 * round trip at all.
 *
 * With streams, positions travel beside user ids, and each node hands an event to its sockets'
 * cursors (stream-cursors.ts), which keep every socket in stream order whatever order nodes deliver in.
 */
export function createEmitter(io: GatewayServer, cluster: ClusterChannel, options: EmitterOptions = {}): Emitter {
  const names = options.names ?? namespaceNames();
  const here = createLocalDelivery(io, names, options.streams?.cursors);
  const routing = options.routing ?? createRouting(cluster, { mode: 'broadcast' });
  const endOfTurn = turnBarrier();

  cluster.handle(DeliverMessage, (batch) => batch.map(here.deliver));
  cluster.handle(DeliverEachMessage, (fanouts) => fanouts.map(here.deliverEach));

  /**
   * Appends every user-addressed event to `store`, its user's stream; positions per delivery, aligned
   * with its users or recipients. `payloads[i]` are delivery i's (payloadsOf).
   */
  const record = async (
    store: UserStreams,
    deliveries: readonly Delivery[],
    payloads: readonly (readonly Payload[] | undefined)[],
  ): Promise<(readonly Appended[] | undefined)[] | undefined> => {
    const appends: Append[] = [];
    for (let item = 0; item < deliveries.length; item++) {
      const { audience, event } = deliveries[item] as Delivery;
      const own = payloads[item] ?? [];
      if (audience.kind === 'users') {
        const { data, json } = own[0] as Payload;
        for (const userId of audience.userIds) appends.push({ userId, event, data, json });
      }
      if (audience.kind === 'each')
        audience.recipients.forEach(({ userId }, i) => {
          const { data, json } = own[i] as Payload;
          appends.push({ userId, event, data, json });
        });
    }
    if (appends.length === 0) return undefined;
    let appended: readonly Appended[];
    try {
      appended = await store.append(appends);
    } catch (error) {
      if (!(error instanceof StreamsUnavailableError)) throw error;
      throw fail('STREAMS_UNAVAILABLE', `${errorRegistry.STREAMS_UNAVAILABLE.message} (${error.message})`, { 'retry-after': '1' });
    }
    let next = 0;
    return deliveries.map(({ audience }) => {
      const count = audience.kind === 'users' ? audience.userIds.length : audience.kind === 'each' ? audience.recipients.length : 0;
      if (count === 0) return undefined;
      next += count;
      return appended.slice(next - count, next);
    });
  };

  return {
    async send(deliveries) {
      const store = options.streams?.store;
      const payloads = store === undefined ? undefined : deliveries.map(payloadsOf);
      const appended = store === undefined ? undefined : await record(store, deliveries, payloads as (readonly Payload[] | undefined)[]);
      // Appends settle at the end of the turn already (their group commit).
      if (appended === undefined) await endOfTurn();
      const counts: number[] = [];
      // Position strings, for the report and the other nodes; this node's sockets take the appended values.
      const positions: (readonly string[] | undefined)[] = [];
      const elsewhere: Routed<WireDelivery>[] = [];
      const fanouts: Routed<WireFanout>[] = [];
      for (let item = 0; item < deliveries.length; item++) {
        const { audience, event, data } = deliveries[item] as Delivery;
        const at = appended?.[item];
        const formatted = at?.map(formatPosition);
        positions.push(formatted);
        if (audience.kind === 'each') {
          counts.push(here.toEach(event, data, audience.recipients, at, at && payloads?.[item]));
          if (!cluster.distributed) continue;
          const recipients =
            formatted === undefined ? audience.recipients : audience.recipients.map((recipient, i) => ({ ...recipient, position: formatted[i] as string }));
          fanouts.push({ wire: { event, common: data as WireFanout['common'], recipients }, item });
        } else if (audience.kind === 'users') {
          counts.push(here.toUsers(audience.userIds, event, data, at, at && payloads?.[item]?.[0]?.json));
          // Any node may hold sockets of a user.
          if (cluster.distributed)
            elsewhere.push({ wire: { to: 'users', userIds: audience.userIds, event, data, ...(formatted && { positions: formatted }) }, item });
        } else {
          const wire: WireDelivery = { to: 'scraper', socketId: audience.socketId, event, data };
          const found = here.deliver(wire);
          counts.push(found);
          // A scraper socket found here is nowhere else.
          if (cluster.distributed && found === 0) elsewhere.push({ wire, item });
        }
      }
      let complete = true;
      let unconfirmed = false;
      if (elsewhere.length > 0 || fanouts.length > 0) {
        const reached = await routing.deliver(elsewhere, fanouts);
        for (const [item, sockets] of reached.counts) counts[item] = (counts[item] as number) + sockets;
        ({ complete, unconfirmed } = reached);
      }
      let sockets = 0;
      const items: ItemReport[] = deliveries.map(({ audience }, item) => {
        sockets += counts[item] as number;
        const at = positions[item];
        if (at === undefined) return { sockets: counts[item] as number };
        const ids = audience.kind === 'users' ? audience.userIds : audience.kind === 'each' ? audience.recipients.map((r) => r.userId) : [];
        return { sockets: counts[item] as number, positions: Object.fromEntries(ids.map((id, i) => [id, at[i] as string])) };
      });
      if (complete) return { sockets, items };
      return unconfirmed ? { sockets, partial: true, unconfirmed: true, items } : { sockets, partial: true, items };
    },
  };
}
