/**
 * Workload 1, unicast: `POST /emit/:userId/:event` round-robin over N
 * connected users at the maximum rate, then at half that rate, evenly paced,
 * for publish→receive latency. HTTP-only targets (fastify-hello) run the
 * first phase only and give the cost of the HTTP layer.
 */
import type { SwarmPool } from '../client/swarm-pool.js';
import { preciseNow } from '../client/light-socket.js';
import { runPacedLoad } from '../lib/paced-load.js';
import { percentile } from '../lib/stats.js';
import type { ServerProcess } from '../lib/server-process.js';
import type { Target } from '../targets.js';
import { burst, settle } from './burst.js';
import {
  connectUsers,
  deliveryFailure,
  fmt,
  measureRuns,
  payload,
  saturationNote,
  reproduce,
  userIds,
  withServer,
  type Workload,
  type WorkloadContext,
  type WorkloadOutcome,
  unpinnedNotes,
} from './workload.js';

type UnicastFigures = {
  rps: number;
  httpP50: number;
  httpP99: number;
  deliveriesPerSec: number;
  cpuUsPerMessage: number;
  /** Load-generator CPU during the max-rate phase, in % of one core. */
  loadBusy: number;
  halfRate: number;
  e2eP50: number;
  e2eP99: number;
  delivered: number;
  expected: number;
};

const WARMUP_EVENT = 'bench_warmup';
const MAX_EVENT = 'bench_unicast';
const LATENCY_EVENT = 'bench_latency';

async function measureOnce(
  ctx: WorkloadContext,
  target: Target,
  server: ServerProcess,
  pool: SwarmPool | undefined,
  failures: string[],
): Promise<UnicastFigures> {
  const { unicastUsers, unicastRequests, httpConnections, latencySeconds } = ctx.options.sizes;
  const users = userIds(unicastUsers);
  const pathFor = (i: number, event: string): string => target.unicastPath!(users[i % users.length]!, event);
  const fail = (message: string | undefined): void => {
    if (message) failures.push(`${target.name}: ${message}`);
  };
  const max = await burst(
    {
      label: target.name,
      url: server.url,
      servers: [server],
      headers: target.headers,
      connections: httpConnections,
      amount: unicastRequests,
      request: (i, event) => ({ path: pathFor(i, event), body: payload(i, preciseNow()) }),
      event: MAX_EVENT,
      warmupEvent: WARMUP_EVENT,
      ...(pool && { pool }),
      cpuProf: ctx.options.cpuProf,
      deliveriesPerRequest: 1,
    },
    failures,
  );
  const figures: UnicastFigures = {
    rps: max.rps,
    httpP50: max.httpP50,
    httpP99: max.httpP99,
    deliveriesPerSec: max.deliveriesPerSec,
    cpuUsPerMessage: max.cpuUsPerDelivery,
    loadBusy: max.loadBusy,
    halfRate: Number.NaN,
    e2eP50: Number.NaN,
    e2eP99: Number.NaN,
    delivered: max.delivered,
    expected: max.expected,
  };
  if (!pool) return figures;

  await pool.reset();
  figures.halfRate = max.rps / 2;
  const amount = Math.max(50, Math.round(figures.halfRate * latencySeconds));
  const paced = await runPacedLoad({
    baseUrl: server.url,
    headers: target.headers,
    rate: figures.halfRate,
    amount,
    connections: Math.max(httpConnections, 64),
    request: (i) => ({ path: pathFor(i, LATENCY_EVENT), body: payload(i, preciseNow()) }),
    maxMs: (latencySeconds + 60) * 1000,
  });
  if (paced.non2xx || paced.errors || paced.stopped)
    fail(`half rate: ${paced.non2xx} non-2xx, ${paced.errors} errors${paced.stopped ? ', stopped by time bound' : ''}`);
  await settle(pool, LATENCY_EVENT, paced.ok);
  const timed = await pool.report();
  fail(deliveryFailure('half rate', timed.counts[LATENCY_EVENT] ?? 0, paced.ok));
  figures.e2eP50 = percentile(timed.latencies, 50);
  figures.e2eP99 = percentile(timed.latencies, 99);
  figures.expected += paced.ok;
  figures.delivered += timed.counts[LATENCY_EVENT] ?? 0;
  return figures;
}

async function runTarget(ctx: WorkloadContext, target: Target, failures: string[]): Promise<UnicastFigures> {
  return withServer(ctx, target, async (server) => {
    const pool = target.sockets ? (await connectUsers(ctx, target, server.url, userIds(ctx.options.sizes.unicastUsers))).pool : undefined;
    try {
      return await measureOnce(ctx, target, server, pool, failures);
    } finally {
      await pool?.close();
    }
  });
}

export const unicast: Workload = {
  name: 'unicast',
  title: 'Unicast',
  async run(ctx: WorkloadContext): Promise<WorkloadOutcome> {
    const { sizes } = ctx.options;
    const targets = ctx.targets.filter((t) => t.unicastPath);
    const results = await measureRuns(ctx, 'unicast', targets, (target, failures) => runTarget(ctx, target, failures));
    const m = (name: string, key: keyof UnicastFigures & string): number => results.median(name, key);
    const rows = targets.map((t) => [
      t.name,
      fmt(m(t.name, 'rps')),
      fmt(m(t.name, 'httpP50'), 2),
      fmt(m(t.name, 'httpP99'), 2),
      fmt(m(t.name, 'deliveriesPerSec')),
      fmt(m(t.name, 'cpuUsPerMessage'), 1),
      `${fmt(m(t.name, 'loadBusy'))}%`,
      fmt(m(t.name, 'halfRate')),
      fmt(m(t.name, 'e2eP50'), 2),
      fmt(m(t.name, 'e2eP99'), 2),
      t.sockets ? `${fmt(results.sum(t.name, 'delivered'))} / ${fmt(results.sum(t.name, 'expected'))}` : 'n/a',
      results.ok(t.name),
    ]);
    return {
      name: 'unicast',
      title: 'Unicast',
      method: `${fmt(sizes.unicastRequests)} × \`POST /emit/:userId/:event\` round-robin over ${fmt(sizes.unicastUsers)} connected users, ${sizes.httpConnections} keep-alive connections (autocannon), as fast as the server answers; then the same at half that rate, evenly paced, for ${sizes.latencySeconds} s, timing each event from the moment its request was issued to its arrival at the client. CPU is the server's user+system time per delivered message (per request for HTTP-only targets).`,
      tables: [
        {
          columns: [
            'target',
            'req/s',
            'HTTP p50 ms',
            'HTTP p99 ms',
            'deliveries/s',
            'server CPU µs/msg',
            'load-gen CPU busy',
            'half rate req/s',
            'pub→recv p50 ms',
            'pub→recv p99 ms',
            'delivered / expected (all runs)',
            'runs ok',
          ],
          rows,
        },
      ],
      notes: [
        ...saturationNote(new Map(targets.map((t) => [t.name, m(t.name, 'loadBusy')]))),
        ...unpinnedNotes(targets, (name) => m(name, 'rps'), 'Req/s'),
        ...results.disturbances,
      ],
      failures: results.failures,
      figures: Object.fromEntries(targets.map((t) => [t.name, { rps: m(t.name, 'rps'), e2eP99: m(t.name, 'e2eP99') }])),
      reproduce: reproduce(ctx, 'unicast', targets, [
        `--unicast-users ${sizes.unicastUsers}`,
        `--unicast-requests ${sizes.unicastRequests}`,
        `--connections ${sizes.httpConnections}`,
        `--latency-seconds ${sizes.latencySeconds}`,
      ]),
    };
  },
};
