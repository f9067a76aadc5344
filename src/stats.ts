/** Live figures: connected users and sockets per namespace, on this node or the whole cluster. */
import type { Figures } from './api/stats.js';
import type { ClusterChannel } from './cluster/channel.js';
import { FiguresMessage, type NodeFigures } from './cluster/messages.js';
import { USER_ROOM_PREFIX, USERS_NAMESPACE, namespaceNames, type NamespaceNames } from './namespaces.js';
import type { GatewayServer } from './socket-server.js';

/** Users with at least one socket on this node: a user's room exists exactly while they have one. */
export function countUsersHere(io: GatewayServer): number {
  let online = 0;
  for (const room of io.of(USERS_NAMESPACE).adapter.rooms.keys()) if (room.startsWith(USER_ROOM_PREFIX)) online++;
  return online;
}

/** Counts what is connected to this node. */
function countHere(io: GatewayServer, names: NamespaceNames): NodeFigures {
  return {
    users: countUsersHere(io),
    sockets: { [names.users]: io.of(names.users).sockets.size, [names.scrapers]: io.of(names.scrapers).sockets.size },
  };
}

/**
 * Returns a function that gathers the figures of every node that answers within the bus's timeout.
 * A user connected to two nodes counts on both: deduplicating would mean shipping every user id.
 */
export function createFigures(io: GatewayServer, cluster: ClusterChannel, names: NamespaceNames = namespaceNames()): () => Promise<Figures> {
  cluster.handle(FiguresMessage, () => countHere(io, names));
  return async () => {
    const here = countHere(io, names);
    const answers = await cluster.ask(FiguresMessage, null);
    const nodes = [here, ...answers.answers];
    const sockets: Record<string, number> = {};
    for (const node of nodes) for (const [nsp, count] of Object.entries(node.sockets)) sockets[nsp] = (sockets[nsp] ?? 0) + count;
    const figures: Figures = {
      success: true,
      message: 'SUCCESS',
      nodes: nodes.length,
      users: nodes.reduce((sum, node) => sum + node.users, 0),
      sockets,
    };
    return answers.complete ? figures : { ...figures, partial: true };
  };
}
