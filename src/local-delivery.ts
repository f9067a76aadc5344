/**
 * Delivery to this node's own sockets: the emitter's last step, and what a node does when another
 * node's emitter asks it (cluster/messages.ts). It only writes: what to send, to whom and at which
 * stream position is settled by the emitter (emitter.ts).
 */
import type { FanoutRecipient, WireDelivery, WireFanout } from './cluster/messages.js';
import { encodeEvent, sendEncoded, type EncodedEvent } from './internals/socket-io.js';
import { userRoom, type NamespaceNames } from './namespaces.js';
import type { GatewayServer, GatewaySocket } from './socket-server.js';
import type { StreamCursors } from './stream-cursors.js';
import { parsePosition, type Position } from './streams/streams.js';

/** What one recipient is sent, with its JSON when the caller serialized it already (for the stream). */
export interface Payload {
  readonly data: unknown;
  readonly json: string;
}

/** Sends to this node's sockets; each returns how many sockets it sent to. */
export interface LocalDelivery {
  /** An event to every socket of `userIds`; `at[i]` is its position in user i's stream, `json` the event's data as JSON. */
  toUsers(userIds: readonly string[], event: string, data: unknown, at?: readonly (Position | undefined)[], json?: string): number;
  /**
   * An event to every socket of each recipient, who gets `{ ...common, ...fields }`, or `payloads[i]`
   * when the caller built it already; `at[i]` is its position in recipient i's stream.
   */
  toEach(event: string, common: unknown, recipients: readonly FanoutRecipient[], at?: readonly (Position | undefined)[], payloads?: readonly Payload[]): number;
  /** A delivery as it crosses the cluster (positions as strings). */
  deliver(delivery: WireDelivery): number;
  /** A fan-out as it crosses the cluster. */
  deliverEach(fanout: WireFanout): number;
}

/** Delivery to `io`'s local sockets; user sockets with a cursor (streams on) get their events through it. */
export function createLocalDelivery(io: GatewayServer, names: NamespaceNames, cursors: StreamCursors | undefined): LocalDelivery {
  const users = io.of(names.users);
  const scrapers = io.of(names.scrapers);

  /**
   * Sends a live event to this node's sockets in `rooms` (user rooms, undefined where a user has none
   * here), each socket once, and returns how many that is. The event is encoded once for all of them,
   * its WebSocket frame too, when the first socket is found. Socket.IO's broadcast builds one frame as
   * well, but then writes it through Engine.IO and `ws` socket by socket, which cost as much again
   * (BENCHMARKS.md, issue 15).
   */
  const live = (rooms: readonly (ReadonlySet<string> | undefined)[], event: string, data: unknown): number => {
    let encoded: EncodedEvent | undefined;
    // A socket is in one user's room, unless something else put it in more (a redis-emitter socketsJoin).
    const seen = rooms.length > 1 ? new Set<string>() : undefined;
    let sockets = 0;
    for (const room of rooms) {
      for (const id of room ?? []) {
        if (seen !== undefined) {
          if (seen.has(id)) continue;
          seen.add(id);
        }
        sockets++;
        const socket = users.sockets.get(id);
        if (socket === undefined) continue;
        encoded ??= encodeEvent(users.name, JSON.stringify([event, data]));
        if (!sendEncoded(socket, encoded)) socket.emit(event, data);
      }
    }
    return sockets;
  };

  /** This node's sockets of a user, or undefined when it has none here. */
  const roomOf = (userId: string): ReadonlySet<string> | undefined => users.adapter.rooms.get(userRoom(userId));

  /**
   * One user's event to this node's sockets in that user's room (`room`), through their cursors when it has a
   * position. A socket that something else put in the room (a redis-emitter socketsJoin) follows its
   * own user's stream, or none: it gets the event live, without a position, at once or, when `foreign`
   * is given, once the caller has seen every room (toUsers). Returns the sockets it sent to.
   */
  const toUser = (
    userId: string,
    room: ReadonlySet<string> | undefined,
    event: string,
    data: unknown,
    at: Position | undefined,
    json?: string,
    foreign?: Map<string, GatewaySocket>,
  ): number => {
    if (room === undefined || room.size === 0) return 0;
    if (at === undefined || cursors === undefined) return live([room], event, data);
    let sockets = 0;
    for (const id of room) {
      const socket = users.sockets.get(id);
      if (socket === undefined || cursors.offer(socket, userId, at, event, data, json)) sockets++;
      else if (foreign !== undefined) foreign.set(id, socket);
      else {
        socket.emit(event, data);
        sockets++;
      }
    }
    return sockets;
  };

  const toUsers: LocalDelivery['toUsers'] = (userIds, event, data, at, json) => {
    if (at === undefined) return live(userIds.map(roomOf), event, data);
    // As live() does, a socket in several of the rooms gets the event once: from its own user's stream
    // when that user is a recipient too, else live.
    const foreign = userIds.length > 1 ? new Map<string, GatewaySocket>() : undefined;
    let sockets = 0;
    for (let i = 0; i < userIds.length; i++) {
      const userId = userIds[i] as string;
      sockets += toUser(userId, roomOf(userId), event, data, at[i], json, foreign);
    }
    if (foreign === undefined || foreign.size === 0) return sockets;
    const recipients = new Set(userIds);
    for (const socket of foreign.values()) {
      if (socket.data.userId !== undefined && recipients.has(socket.data.userId)) continue;
      socket.emit(event, data);
      sockets++;
    }
    return sockets;
  };

  const toEach: LocalDelivery['toEach'] = (event, common, recipients, at, payloads) => {
    let sockets = 0;
    for (let i = 0; i < recipients.length; i++) {
      const { userId, fields } = recipients[i] as FanoutRecipient;
      const room = roomOf(userId);
      // Nobody's payload is built for a user with no socket here.
      if (room === undefined) continue;
      const payload = payloads?.[i];
      sockets += toUser(userId, room, event, payload?.data ?? { ...(common as object), ...fields }, at?.[i], payload?.json);
    }
    return sockets;
  };

  return {
    toUsers,
    toEach,
    deliver(delivery) {
      if (delivery.to === 'scraper') {
        if (!scrapers.sockets.has(delivery.socketId)) return 0;
        scrapers.local.to(delivery.socketId).emit(delivery.event, delivery.data);
        return 1;
      }
      return toUsers(delivery.userIds, delivery.event, delivery.data, delivery.positions?.map(parsePosition));
    },
    deliverEach: ({ event, common, recipients }) =>
      toEach(
        event,
        common,
        recipients,
        recipients.map((recipient) => parsePosition(recipient.position)),
      ),
  };
}
