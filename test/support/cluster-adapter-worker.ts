/**
 * A node:cluster worker for test/internals.test.ts: a bare Socket.IO server joined to its sibling
 * workers by @socket.io/cluster-adapter, which says on request how many servers it counts.
 */
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/cluster-adapter';

const io = new Server({ adapter: createAdapter() });
process.on('message', (message: { ask?: string }) => {
  if (message?.ask !== 'servers') return;
  void Promise.resolve(io.of('/').adapter.serverCount()).then((servers) => process.send!({ servers }));
});
process.send!({ ready: true });
