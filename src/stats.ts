/** Live figures: connected users and sockets per namespace, on this node or the whole cluster. */
import type { Server } from 'socket.io';
import type { Figures } from './api/stats.js';
import { askOthers, embeddedBus, type ClusterBus } from './cluster/bus.js';
import { USER_ROOM_PREFIX, USERS_NAMESPACE, WORKERS_NAMESPACE } from './namespaces.js';

/** Server-side event by which one node asks the others for their figures. */
const FIGURES = 'general-socket:figures';

/** What one node counts. */
interface NodeFigures {
  readonly users: number;
  readonly sockets: Readonly<Record<string, number>>;
}

/** Users with at least one socket on this node: a user's room exists exactly while they have one. */
export function countUsersHere(io: Server): number {
  let online = 0;
  for (const room of io.of(USERS_NAMESPACE).adapter.rooms.keys()) if (room.startsWith(USER_ROOM_PREFIX)) online++;
  return online;
}

/** Counts what is connected to this node. */
function countHere(io: Server): NodeFigures {
  return {
    users: countUsersHere(io),
    sockets: { [USERS_NAMESPACE]: io.of(USERS_NAMESPACE).sockets.size, [WORKERS_NAMESPACE]: io.of(WORKERS_NAMESPACE).sockets.size },
  };
}

const isNodeFigures = (value: unknown): value is NodeFigures =>
  typeof value === 'object' && value !== null && typeof (value as NodeFigures).users === 'number' && typeof (value as NodeFigures).sockets === 'object';

/**
 * Returns a function that gathers the figures of every node that answers within the bus's timeout.
 * A user connected to two nodes counts on both: deduplicating would mean shipping every user id.
 */
export function createFigures(io: Server, bus: ClusterBus = embeddedBus()): () => Promise<Figures> {
  const control = io.of('/');
  if (bus.distributed) control.on(FIGURES, (answer: (figures: NodeFigures) => void) => answer(countHere(io)));
  return async () => {
    const here = countHere(io);
    const answers = await askOthers(control, bus, FIGURES);
    const nodes = [here, ...answers.responses.filter(isNodeFigures)];
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
