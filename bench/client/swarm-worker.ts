/**
 * Child-process host for one Swarm, driven over the IPC channel by SwarmPool.
 * Sockets live in child processes because one process may hold no more
 * descriptors than `ulimit -n`, and so that a busy swarm does not delay the
 * HTTP load driver that runs in the harness.
 */
import { PauseMonitor } from '../lib/pauses.js';
import { Swarm } from './swarm.js';
import type { SwarmRequest, SwarmResponse } from './swarm-protocol.js';

const swarm = new Swarm();
const pauses = new PauseMonitor();

async function handle(request: SwarmRequest): Promise<unknown> {
  switch (request.op) {
    case 'connect':
      return swarm.connect(request.options);
    case 'count':
      return swarm.count(request.event);
    case 'reset':
      swarm.reset();
      return null;
    case 'report':
      return swarm.report();
    case 'pauses':
      if (request.stop) return pauses.stop();
      pauses.start();
      return null;
    case 'close':
      swarm.close();
      return null;
  }
}

function reply(response: SwarmResponse): void {
  process.send?.(response);
}

process.on('message', (message: SwarmRequest) => {
  handle(message).then(
    (result) => reply({ id: message.id, ok: true, result }),
    (error: unknown) => reply({ id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});

// Orphaned workers must not outlive a crashed harness.
process.on('disconnect', () => {
  swarm.close();
  process.exit(0);
});
