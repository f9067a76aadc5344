/**
 * Workload 3, idle density: N connected, silent sockets. Memory per
 * connection is the server's growth from its own idle state (after a forced
 * GC on both sides) divided by N, so startup cost does not dilute it.
 */
import type { Target } from '../targets.js';
import {
  connectUsers,
  fmt,
  measureRuns,
  reproduce,
  sleep,
  userIds,
  withServer,
  type Workload,
  type WorkloadContext,
  type WorkloadOutcome,
  unpinnedNotes,
  workerSocketNotes,
  workerSockets,
} from './workload.js';

type IdleFigures = {
  rssPerConn: number;
  heapPerConn: number;
  externalPerConn: number;
  connectPerSec: number;
  connected: number;
  expected: number;
  fewestPerWorker: number;
  mostPerWorker: number;
};

async function runTarget(ctx: WorkloadContext, target: Target, sockets: number, failures: string[]): Promise<IdleFigures> {
  const settleMs = ctx.options.quick ? 300 : 2000;
  return withServer(ctx, target, async (server) => {
    await sleep(settleMs);
    const before = await server.stats(true);
    const { pool, ms } = await connectUsers(ctx, target, server.url, userIds(sockets));
    try {
      await sleep(settleMs);
      const after = await server.stats(true);
      const heard = await pool.report();
      if (heard.connected !== sockets || heard.unexpectedCloses > 0)
        failures.push(`${target.name}: ${heard.connected} of ${sockets} sockets still connected, ${heard.unexpectedCloses} dropped`);
      return {
        rssPerConn: (after.rss - before.rss) / sockets,
        heapPerConn: (after.heapUsed - before.heapUsed) / sockets,
        externalPerConn: (after.external - before.external) / sockets,
        connectPerSec: (sockets / ms) * 1000,
        connected: heard.connected,
        expected: sockets,
        ...workerSockets(after),
      };
    } finally {
      await pool.close();
    }
  });
}

export const idle: Workload = {
  name: 'idle',
  title: 'Idle density',
  async run(ctx: WorkloadContext): Promise<WorkloadOutcome> {
    const { sizes } = ctx.options;
    const targets = ctx.targets.filter((t) => t.sockets);
    const sockets = Math.min(sizes.idleSockets, ctx.maxSocketsPerProcess);
    const results = await measureRuns(ctx, 'idle', targets, (target, failures) => runTarget(ctx, target, sockets, failures));
    const m = (name: string, key: keyof IdleFigures & string): number => results.median(name, key);
    const limit = m('raw-ws', 'rssPerConn');
    const kb = (bytes: number): string => fmt(bytes / 1024, 1);
    const rows = targets.map((t) => [
      t.name,
      fmt(sockets),
      kb(m(t.name, 'rssPerConn')),
      Number.isFinite(limit) ? `${fmt(m(t.name, 'rssPerConn') / limit, 2)}×` : '–',
      kb(m(t.name, 'heapPerConn')),
      kb(m(t.name, 'externalPerConn')),
      fmt(m(t.name, 'connectPerSec')),
      `${fmt(m(t.name, 'connected'))} / ${fmt(sockets)}`,
      results.ok(t.name),
    ]);
    const notes = [
      'RSS includes memory the allocator has not returned to the OS; heap is V8 `heapUsed` after two forced GCs; external counts Buffers held outside the heap.',
      ...unpinnedNotes(targets, (name) => m(name, 'rssPerConn'), 'RSS per connection'),
      ...workerSocketNotes(targets, sockets, (name, key) => m(name, key)),
      ...(sockets < sizes.idleSockets
        ? [
            `Clamped from ${fmt(sizes.idleSockets)} to ${fmt(sockets)} sockets: \`ulimit -n\` here is ${fmt(ctx.maxSocketsPerProcess + 200)} and a server needs a descriptor per socket plus a few of its own. Raise the hard limit (\`ulimit -Hn\`, as root) to measure the full count; per-connection figures barely move at this size.`,
          ]
        : []),
    ];
    return {
      name: 'idle',
      title: 'Idle density',
      method: `${fmt(sockets)} sockets connect (64 handshakes in flight) and stay silent; the server's RSS and heap are read after a forced GC before the first connect and again once all are connected (summed over its processes, each collected, for a WORKERS gateway).`,
      tables: [
        {
          columns: ['target', 'sockets', 'RSS KiB/conn', 'RSS vs raw-ws', 'heap KiB/conn', 'external KiB/conn', 'connects/s', 'connected (median)', 'runs ok'],
          rows,
        },
      ],
      notes: [...notes, ...results.disturbances],
      failures: results.failures,
      figures: Object.fromEntries(targets.map((t) => [t.name, { rssPerConn: m(t.name, 'rssPerConn'), heapPerConn: m(t.name, 'heapPerConn') }])),
      reproduce: reproduce(ctx, 'idle', targets, [`--idle-sockets ${sizes.idleSockets}`]),
    };
  },
};
