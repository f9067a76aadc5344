/**
 * Workload 3, idle density: N connected, silent sockets. Memory per
 * connection is the server's growth from its own idle state (after a forced
 * GC on both sides) divided by N, so startup cost does not dilute it.
 */
import { median } from '../lib/stats.js';
import type { Target } from '../targets.js';
import { connectUsers, fmt, reproduce, sleep, userIds, withServer, type Workload, type WorkloadContext, type WorkloadOutcome } from './workload.js';

interface IdleFigures {
  rssPerConn: number;
  heapPerConn: number;
  externalPerConn: number;
  connectPerSec: number;
  connected: number;
  expected: number;
}

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
      if (heard.connected !== sockets || heard.unexpectedCloses > 0) failures.push(`${target.name}: ${heard.connected} of ${sockets} sockets still connected, ${heard.unexpectedCloses} dropped`);
      return {
        rssPerConn: (after.rss - before.rss) / sockets,
        heapPerConn: (after.heapUsed - before.heapUsed) / sockets,
        externalPerConn: (after.external - before.external) / sockets,
        connectPerSec: (sockets / ms) * 1000,
        connected: heard.connected,
        expected: sockets,
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
    const { sizes, runs } = ctx.options;
    const targets = ctx.targets.filter((t) => t.sockets);
    const sockets = Math.min(sizes.idleSockets, ctx.maxSocketsPerProcess);
    const failures: string[] = [];
    const results = new Map<string, IdleFigures[]>(targets.map((t) => [t.name, []]));
    for (let run = 1; run <= runs; run++) {
      for (const target of targets) {
        ctx.log(`idle: ${target.name} run ${run}/${runs}`);
        const before = failures.length;
        try {
          const figures = await runTarget(ctx, target, sockets, failures);
          if (failures.length === before) results.get(target.name)!.push(figures);
        } catch (error) {
          failures.push(`${target.name}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
    const m = (name: string, key: keyof IdleFigures): number => median((results.get(name) ?? []).map((f) => f[key]));
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
      `${results.get(t.name)!.length}/${runs}`,
    ]);
    const notes = [
      'RSS includes memory the allocator has not returned to the OS; heap is V8 `heapUsed` after two forced GCs; external counts Buffers held outside the heap.',
      ...(sockets < sizes.idleSockets ? [`Clamped from ${fmt(sizes.idleSockets)} to ${fmt(sockets)} sockets: \`ulimit -n\` here is ${fmt(ctx.maxSocketsPerProcess + 200)} and a server needs a descriptor per socket plus a few of its own. Raise the hard limit (\`ulimit -Hn\`, as root) to measure the full count; per-connection figures barely move at this size.`] : []),
    ];
    return {
      name: 'idle',
      title: 'Idle density',
      method: `${fmt(sockets)} sockets connect (64 handshakes in flight) and stay silent; the server's RSS and heap are read after a forced GC before the first connect and again once all are connected.`,
      tables: [
        {
          columns: ['target', 'sockets', 'RSS KiB/conn', 'RSS vs raw-ws', 'heap KiB/conn', 'external KiB/conn', 'connects/s', 'connected (median)', 'runs ok'],
          rows,
        },
      ],
      notes,
      failures,
      reproduce: reproduce(ctx, 'idle', targets, [`--idle-sockets ${sizes.idleSockets}`]),
    };
  },
};
