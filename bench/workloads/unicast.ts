/**
 * Workload 1, unicast: `POST /emit/:userId/:event` round-robin over N
 * connected users at the maximum rate, then at half that rate, evenly paced,
 * for publish→receive latency. HTTP-only targets (fastify-hello) run the
 * first phase only and give the cost of the HTTP layer.
 */
import type { SwarmPool } from '../client/swarm-pool.js';
import { preciseNow } from '../client/light-socket.js';
import { runHttpLoad } from '../lib/http-load.js';
import { runPacedLoad } from '../lib/paced-load.js';
import { median, percentile } from '../lib/stats.js';
import type { ServerProcess } from '../lib/server-process.js';
import type { Target } from '../targets.js';
import { connectUsers, cpuUs, deliveryFailure, fmt, ownCpuUs, payload, saturationNote, reproduce, sleep, userIds, withServer, type Workload, type WorkloadContext, type WorkloadOutcome } from './workload.js';

interface UnicastFigures {
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
}

const WARMUP_EVENT = 'bench_warmup';
const MAX_EVENT = 'bench_unicast';
const LATENCY_EVENT = 'bench_latency';

/** Waits until the swarm heard `expected` events (or a bound passed), then lets stragglers and duplicates show. */
async function settle(pool: SwarmPool, event: string, expected: number): Promise<void> {
  await pool.waitFor(event, expected, 15_000 + expected / 10);
  await sleep(200);
}

async function measureOnce(ctx: WorkloadContext, target: Target, server: ServerProcess, pool: SwarmPool | undefined, failures: string[]): Promise<UnicastFigures> {
  const { unicastUsers, unicastRequests, httpConnections, latencySeconds } = ctx.options.sizes;
  const users = userIds(unicastUsers);
  const pathFor = (i: number, event: string): string => target.unicastPath!(users[i % users.length]!, event);
  const fail = (message: string | undefined): void => {
    if (message) failures.push(`${target.name}: ${message}`);
  };

  // Unmeasured warm-up, so JIT compilation and first-touch allocation do not land in one target's figures more than another's.
  const warmup = await runHttpLoad({
    baseUrl: server.url,
    headers: target.headers,
    connections: httpConnections,
    amount: Math.max(httpConnections, Math.min(5000, Math.round(unicastRequests / 10))),
    request: (i) => ({ path: pathFor(i, WARMUP_EVENT), body: payload(i, preciseNow()) }),
    maxMs: 60_000,
  });
  if (pool) {
    await settle(pool, WARMUP_EVENT, warmup.ok);
    await pool.reset();
  }

  const before = await server.stats();
  const harnessCpu = process.cpuUsage();
  const started = preciseNow();
  const load = await runHttpLoad({
    baseUrl: server.url,
    headers: target.headers,
    connections: httpConnections,
    amount: unicastRequests,
    request: (i) => ({ path: pathFor(i, MAX_EVENT), body: payload(i, preciseNow()) }),
    maxMs: 120_000,
  });
  if (load.non2xx || load.errors || load.stopped) fail(`max rate: ${load.non2xx} non-2xx, ${load.errors} errors${load.stopped ? ', stopped by time bound' : ''}`);

  const loadCpu = ownCpuUs(harnessCpu);
  const figures: UnicastFigures = { rps: load.rps, httpP50: load.p50Ms, httpP99: load.p99Ms, deliveriesPerSec: Number.NaN, cpuUsPerMessage: Number.NaN, loadBusy: loadCpu / 10 / load.elapsedMs, halfRate: Number.NaN, e2eP50: Number.NaN, e2eP99: Number.NaN, delivered: load.ok, expected: load.ok };
  if (!pool) {
    figures.cpuUsPerMessage = cpuUs(before, await server.stats()) / Math.max(1, load.ok);
    return figures;
  }

  await settle(pool, MAX_EVENT, load.ok);
  const heard = await pool.report();
  const after = await server.stats();
  figures.delivered = heard.counts[MAX_EVENT] ?? 0;
  figures.loadBusy = (loadCpu + heard.cpuUs) / 10 / load.elapsedMs;
  fail(deliveryFailure('max rate', figures.delivered, load.ok));
  fail(heard.unexpectedCloses > 0 ? `${heard.unexpectedCloses} sockets dropped` : undefined);
  figures.deliveriesPerSec = (figures.delivered / ((heard.lastAt[MAX_EVENT] ?? Number.NaN) - started)) * 1000;
  figures.cpuUsPerMessage = cpuUs(before, after) / Math.max(1, figures.delivered);

  await pool.reset();
  figures.halfRate = load.rps / 2;
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
  if (paced.non2xx || paced.errors || paced.stopped) fail(`half rate: ${paced.non2xx} non-2xx, ${paced.errors} errors${paced.stopped ? ', stopped by time bound' : ''}`);
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
    const { sizes, runs } = ctx.options;
    const targets = ctx.targets.filter((t) => t.unicastPath);
    const failures: string[] = [];
    const results = new Map<string, UnicastFigures[]>(targets.map((t) => [t.name, []]));
    // Targets interleave within each run so that machine drift spreads over all of them.
    for (let run = 1; run <= runs; run++) {
      for (const target of targets) {
        ctx.log(`unicast: ${target.name} run ${run}/${runs}`);
        const before = failures.length;
        try {
          const figures = await runTarget(ctx, target, failures);
          if (failures.length === before) results.get(target.name)!.push(figures);
        } catch (error) {
          failures.push(`${target.name}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
    const m = (name: string, key: keyof UnicastFigures): number => median((results.get(name) ?? []).map((f) => f[key]));
    const sum = (name: string, key: keyof UnicastFigures): number => (results.get(name) ?? []).reduce((n, f) => n + f[key], 0);
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
      t.sockets ? `${fmt(sum(t.name, 'delivered'))} / ${fmt(sum(t.name, 'expected'))}` : 'n/a',
      `${results.get(t.name)!.length}/${runs}`,
    ]);
    return {
      name: 'unicast',
      title: 'Unicast',
      method: `${fmt(sizes.unicastRequests)} × \`POST /emit/:userId/:event\` round-robin over ${fmt(sizes.unicastUsers)} connected users, ${sizes.httpConnections} keep-alive connections (autocannon), as fast as the server answers; then the same at half that rate, evenly paced, for ${sizes.latencySeconds} s, timing each event from the moment its request was issued to its arrival at the client. CPU is the server's user+system time per delivered message (per request for HTTP-only targets).`,
      tables: [
        {
          columns: ['target', 'req/s', 'HTTP p50 ms', 'HTTP p99 ms', 'deliveries/s', 'server CPU µs/msg', 'load-gen CPU busy', 'half rate req/s', 'pub→recv p50 ms', 'pub→recv p99 ms', 'delivered / expected (all runs)', 'runs ok'],
          rows,
        },
      ],
      notes: saturationNote(new Map(targets.map((t) => [t.name, m(t.name, 'loadBusy')]))),
      failures,
      reproduce: reproduce(ctx, 'unicast', targets, [`--unicast-users ${sizes.unicastUsers}`, `--unicast-requests ${sizes.unicastRequests}`, `--connections ${sizes.httpConnections}`, `--latency-seconds ${sizes.latencySeconds}`]),
    };
  },
};
