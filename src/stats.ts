/** Live figures of this node: connected users and sockets per namespace. */
import type { Server } from 'socket.io';
import type { Figures } from './api/stats.js';
import { USER_ROOM_PREFIX, USERS_NAMESPACE, WORKERS_NAMESPACE } from './namespaces.js';

/** Counts what is connected to this node. */
export function localFigures(io: Server): Figures {
  const users = io.of(USERS_NAMESPACE);
  let online = 0;
  // A user's room exists exactly while that user has a socket here.
  for (const room of users.adapter.rooms.keys()) if (room.startsWith(USER_ROOM_PREFIX)) online++;
  return {
    success: true,
    message: 'SUCCESS',
    nodes: 1,
    users: online,
    sockets: { [USERS_NAMESPACE]: users.sockets.size, [WORKERS_NAMESPACE]: io.of(WORKERS_NAMESPACE).sockets.size },
  };
}
