/**
 * Disconnecting sockets on every node: all of one user's, or one scraper socket, optionally after a
 * last event that says why. Each node closes its own (one `DisconnectMessage` asks the others) and
 * answers how many; the report reads like an emit's (`partial`, `unconfirmed`).
 *
 * A socket is closed with its connection (`disconnect(true)`): the event, when there is one, is
 * written first, then the client sees "io server disconnect", after which a stock socket.io-client
 * does not reconnect by itself.
 */
import type { ClusterChannel } from '../cluster/channel.js';
import { DisconnectMessage, type WireDisconnect } from '../cluster/messages.js';
import { type NamespaceNames, userRoom } from '../namespaces.js';
import type { GatewayServer, GatewaySocket } from '../socket-server.js';

/** A last event before the disconnect. */
export interface Notice {
  readonly event: string;
  readonly data: unknown;
}

/** How many sockets were closed, on every node that answered (`partial` and `unconfirmed` as in an emit's report). */
export interface DisconnectReport {
  readonly sockets: number;
  readonly partial?: true;
  readonly unconfirmed?: true;
}

/** Closes sockets cluster-wide. */
export interface Disconnector {
  /** Every socket of `userId`, on every node. */
  user(userId: string, notice?: Notice): Promise<DisconnectReport>;
  /** The scraper socket `socketId`, wherever it is. */
  scraper(socketId: string, notice?: Notice): Promise<DisconnectReport>;
}

export function createDisconnector(io: GatewayServer, cluster: ClusterChannel, names: NamespaceNames): Disconnector {
  const users = io.of(names.users);
  const scrapers = io.of(names.scrapers);

  const close = (sockets: GatewaySocket[], wire: WireDisconnect): number => {
    for (const socket of sockets) {
      if (wire.event !== undefined) socket.emit(wire.event, wire.data ?? null);
      socket.disconnect(true);
    }
    return sockets.length;
  };

  const here = (wire: WireDisconnect): number => {
    if (wire.to === 'scraper') {
      const socket = scrapers.sockets.get(wire.socketId);
      return socket === undefined ? 0 : close([socket], wire);
    }
    const ids = users.adapter.rooms.get(userRoom(wire.userId));
    if (ids === undefined) return 0;
    // Copied first: each disconnect leaves the room being read.
    const sockets = [...ids].map((id) => users.sockets.get(id)).filter((socket): socket is GatewaySocket => socket !== undefined);
    return close(sockets, wire);
  };

  cluster.handle(DisconnectMessage, here);

  const everywhere = async (wire: WireDisconnect): Promise<DisconnectReport> => {
    let sockets = here(wire);
    // A scraper socket found here is nowhere else.
    if (!cluster.distributed || (wire.to === 'scraper' && sockets > 0)) return { sockets };
    const reply = await cluster.ask(DisconnectMessage, wire);
    for (const answer of reply.answers) sockets += answer;
    if (reply.complete) return { sockets };
    return reply.unconfirmed ? { sockets, partial: true, unconfirmed: true } : { sockets, partial: true };
  };

  return {
    user: (userId, notice) => everywhere({ to: 'user', userId, ...notice }),
    scraper: (socketId, notice) => everywhere({ to: 'scraper', socketId, ...notice }),
  };
}
