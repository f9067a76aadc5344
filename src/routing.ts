/**
 * Which other gateway nodes a send asks (CLUSTER_ROUTING). The emitter delivers to this node's
 * sockets itself and hands the rest here.
 *
 * - broadcast: one `DeliverMessage` (and one `DeliverEachMessage` beside it for fan-outs) to every
 *   other node through the adapter; every node answers, so the cost grows with the number of nodes.
 * - targeted: the user directory says which nodes hold the addressed users (and which node holds a
 *   scraper socket); each of those nodes, other than this one, is sent only its own users' part, in
 *   one message per kind per send, and only their answers are awaited. An offline user, or one held
 *   only here, costs no cross-node message. While the directory cannot be read (Redis unreachable),
 *   a send falls back to broadcast.
 *
 * Races. The directory is read after the events were appended to their users' streams (the emitter
 * records first). A socket that connects on a node the read did not list, so too late to be asked,
 * still gets the event when streams are on: its cursor reads the stream at attach (stream-cursors.ts)
 * and, its directory entry being written at that same moment, that read comes after the append in
 * all but one case: the entry is written slower than the whole append-then-read of another node. Then
 * the socket gets the event with the user's next event (a later position makes its cursor read the
 * stream) or when it reconnects (it resumes from its offset). The same holds when one node alone
 * was cut off from Redis, for the moment between its finding Redis again and its registering what
 * it holds anew (the other nodes did not lose Redis, so they do not wait a lease). With streams off
 * (HISTORY_SIZE=0) nothing replays: an event reaches the sockets that are in their user's room when
 * their node handles it, which is Socket.IO's own guarantee for a broadcast.
 */
import type { Answers, ClusterChannel } from './cluster/channel.js';
import { DeliverEachMessage, DeliverMessage, type WireDelivery, type WireFanout } from './cluster/messages.js';
import type { PresenceDirectory } from './presence/directory.js';

/** A delivery or fan-out for the other nodes, with the index of the item it counts for. */
export interface Routed<Wire> {
  readonly wire: Wire;
  readonly item: number;
}

/** What the other nodes reached. */
export interface Reached {
  /** Sockets per item, added up over the nodes that answered. */
  readonly counts: ReadonlyMap<number, number>;
  /** Every node asked answered. */
  readonly complete: boolean;
  /** With `complete` false: some node asked may have delivered without saying so. */
  readonly unconfirmed: boolean;
}

/** Asks the other nodes to deliver what this node cannot. */
export interface Routing {
  deliver(deliveries: readonly Routed<WireDelivery>[], fanouts: readonly Routed<WireFanout>[]): Promise<Reached>;
}

/** The directory questions routing asks. */
export type RoutingDirectory = Pick<PresenceDirectory, 'nodesHolding' | 'nodeHoldingScraper' | 'settled'>;

const none: Answers<readonly number[]> = { answers: [], complete: true, unconfirmed: false };

/** One node's part of a send. */
interface Part {
  readonly deliveries: WireDelivery[];
  readonly items: number[];
  readonly fanouts: WireFanout[];
  readonly fanoutItems: number[];
}

/** Adds up the answers of one message: `items[i]` is the item of its i-th delivery. */
function tally(into: { counts: Map<number, number>; complete: boolean; unconfirmed: boolean }, items: readonly number[], reply: Answers<readonly number[]>) {
  into.complete &&= reply.complete;
  into.unconfirmed ||= !reply.complete && reply.unconfirmed;
  for (const answer of reply.answers) {
    // A node that answered with another number of counts may have delivered: say so rather than guess.
    if (answer.length !== items.length) {
      into.complete = false;
      into.unconfirmed = true;
      continue;
    }
    for (const [i, sockets] of answer.entries()) {
      const item = items[i] as number;
      into.counts.set(item, (into.counts.get(item) ?? 0) + sockets);
    }
  }
}

/** Routing over `cluster`; targeted when asked, the bus can reach single nodes and a directory is given. */
export function createRouting(cluster: ClusterChannel, options: { mode: 'targeted' | 'broadcast'; directory?: RoutingDirectory }): Routing {
  const { directory } = options;

  const broadcast = async (deliveries: readonly Routed<WireDelivery>[], fanouts: readonly Routed<WireFanout>[]): Promise<Reached> => {
    const reached = { counts: new Map<number, number>(), complete: true, unconfirmed: false };
    const asked = [
      {
        items: deliveries.map((d) => d.item),
        reply:
          deliveries.length === 0
            ? none
            : cluster.ask(
                DeliverMessage,
                deliveries.map((d) => d.wire),
              ),
      },
      {
        items: fanouts.map((f) => f.item),
        reply:
          fanouts.length === 0
            ? none
            : cluster.ask(
                DeliverEachMessage,
                fanouts.map((f) => f.wire),
              ),
      },
    ];
    for (const { items, reply } of asked) tally(reached, items, await reply);
    return reached;
  };

  if (options.mode === 'broadcast' || directory === undefined || !cluster.targeted) return { deliver: broadcast };

  /** Each node's part of a send, or undefined when the directory cannot say. */
  const plan = async (deliveries: readonly Routed<WireDelivery>[], fanouts: readonly Routed<WireFanout>[]): Promise<Map<string, Part> | undefined> => {
    if (!directory.settled()) return undefined;
    const userIds = new Set<string>();
    const scrapers: Routed<WireDelivery & { to: 'scraper' }>[] = [];
    for (const routed of deliveries) {
      if (routed.wire.to === 'users') for (const userId of routed.wire.userIds) userIds.add(userId);
      else scrapers.push(routed as Routed<WireDelivery & { to: 'scraper' }>);
    }
    for (const { wire } of fanouts) for (const { userId } of wire.recipients) userIds.add(userId);
    const [holding, scraperNodes] = await Promise.all([
      userIds.size === 0 ? new Map<string, readonly string[]>() : directory.nodesHolding([...userIds]),
      Promise.all(scrapers.map(({ wire }) => directory.nodeHoldingScraper(wire.socketId))),
    ]);
    if (holding === 'unknown' || scraperNodes.includes('unknown')) return undefined;
    // The nodes of each user, this one left out: it has delivered already.
    const nodesOf = new Map<string, string[]>();
    for (const [nodeId, held] of holding) {
      if (nodeId === cluster.nodeId) continue;
      for (const userId of held) {
        const nodes = nodesOf.get(userId);
        if (nodes) nodes.push(nodeId);
        else nodesOf.set(userId, [nodeId]);
      }
    }
    const parts = new Map<string, Part>();
    const partOf = (nodeId: string): Part => {
      let part = parts.get(nodeId);
      if (part === undefined) {
        part = { deliveries: [], items: [], fanouts: [], fanoutItems: [] };
        parts.set(nodeId, part);
      }
      return part;
    };
    for (const { wire, item } of deliveries) {
      if (wire.to !== 'users') continue;
      // Each node's users of this delivery, with their positions beside them.
      const mine = new Map<string, { userIds: string[]; positions: string[] }>();
      wire.userIds.forEach((userId, i) => {
        for (const nodeId of nodesOf.get(userId) ?? []) {
          let share = mine.get(nodeId);
          if (share === undefined) {
            share = { userIds: [], positions: [] };
            mine.set(nodeId, share);
          }
          share.userIds.push(userId);
          if (wire.positions !== undefined) share.positions.push(wire.positions[i] as string);
        }
      });
      for (const [nodeId, { userIds: ids, positions }] of mine) {
        const part = partOf(nodeId);
        part.deliveries.push({ ...wire, userIds: ids, ...(wire.positions !== undefined && { positions }) });
        part.items.push(item);
      }
    }
    scrapers.forEach(({ wire, item }, i) => {
      const nodeId = scraperNodes[i];
      if (nodeId === undefined || nodeId === cluster.nodeId) return;
      const part = partOf(nodeId);
      part.deliveries.push(wire);
      part.items.push(item);
    });
    for (const { wire, item } of fanouts) {
      const mine = new Map<string, WireFanout['recipients'][number][]>();
      for (const recipient of wire.recipients) {
        for (const nodeId of nodesOf.get(recipient.userId) ?? []) {
          const share = mine.get(nodeId);
          if (share) share.push(recipient);
          else mine.set(nodeId, [recipient]);
        }
      }
      for (const [nodeId, recipients] of mine) {
        const part = partOf(nodeId);
        part.fanouts.push({ ...wire, recipients });
        part.fanoutItems.push(item);
      }
    }
    return parts;
  };

  return {
    async deliver(deliveries, fanouts) {
      const parts = await plan(deliveries, fanouts);
      if (parts === undefined) return broadcast(deliveries, fanouts);
      const reached = { counts: new Map<number, number>(), complete: true, unconfirmed: false };
      const asked: { items: readonly number[]; reply: Promise<Answers<readonly number[]>> }[] = [];
      for (const [nodeId, part] of parts) {
        if (part.deliveries.length > 0) asked.push({ items: part.items, reply: cluster.askNode(nodeId, DeliverMessage, part.deliveries) });
        if (part.fanouts.length > 0) asked.push({ items: part.fanoutItems, reply: cluster.askNode(nodeId, DeliverEachMessage, part.fanouts) });
      }
      for (const { items, reply } of asked) tally(reached, items, await reply);
      return reached;
    },
  };
}
