/**
 * Workload 1, unicast: `POST /emit/:userId/:event` round-robin over N
 * connected users at the maximum rate, then at half that rate, evenly paced,
 * for publish→receive latency. HTTP-only targets (fastify-hello) run the
 * first phase only and give the cost of the HTTP layer.
 */
import type { SwarmPool } from '../client/swarm-pool.js';
import { preciseNow } from '../client/light-socket.js';
import { watchInterference } from '../lib/interference.js';
import { runPacedLoad } from '../lib/paced-load.js';
import { PauseMonitor, worstPauses, type PauseFigures } from '../lib/pauses.js';
import { percentile } from '../lib/stats.js';
import type { ServerProcess } from '../lib/server-process.js';
import type { Target } from '../targets.js';
import { burst, settle } from './burst.js';
import {
  connectUsers,
  deliveryFailure,
  fmt,
  measureRuns,
  ownCpuUs,
  payload,
  QUIET_PCT,
  saturationNote,
  reproduce,
  userIds,
  withServer,
  type Workload,
  type WorkloadContext,
  type WorkloadOutcome,
  unpinnedNotes,
} from './workload.js';

/** Figures of the half-rate phase: publish→receive latency and the pauses of every process on its path. */
type LatencyFigures = {
  e2eP50: number;
  e2eP99: number;
  /** Pauses during the phase (pauses.ts): the server's. */
  serverLoopP99: number;
  serverLoopMax: number;
  serverGcCount: number;
  /** Full (mark-compact) collections of the server: their concurrent marking shares its pinned core. */
  serverGcMajor: number;
  serverGcMax: number;
  serverRunQueueMs: number;
  /**
   * KiB the server allocated on its V8 heap per request of the phase (pauses.ts): its garbage per
   * request, which sets how often it collects. NaN for a WORKERS tree, whose primary only hands
   * connections on.
   */
  serverAllocKiB: number;
  /** The harness process: paced HTTP requests, their timestamps. */
  harnessLoopP99: number;
  harnessLoopMax: number;
  harnessGcMax: number;
  harnessRunQueueMs: number;
  /** The swarm workers (the worst of them): the sockets that receive and time the events. */
  swarmLoopP99: number;
  swarmLoopMax: number;
  swarmGcMax: number;
  swarmRunQueueMs: number;
  /** The worst load-generator process, harness or swarm worker. */
  loadLoopP99: number;
  loadLoopMax: number;
  loadGcMax: number;
  /** Requests that waited 1 ms or more for a free keep-alive connection of the paced loader, and the longest wait. */
  waitedForConnection: number;
  connectionWaitMaxMs: number;
  /** Load-generator CPU (harness and swarm workers) during the phase, in % of one core. */
  halfLoadBusy: number;
  /** CPU other processes on the machine used during the phase, in % of one core (interference.ts). */
  othersPct: number;
  /** How long the phase took, in ms. */
  halfMs: number;
};

const NO_LATENCY: LatencyFigures = {
  e2eP50: Number.NaN,
  e2eP99: Number.NaN,
  serverLoopP99: Number.NaN,
  serverLoopMax: Number.NaN,
  serverGcCount: Number.NaN,
  serverGcMajor: Number.NaN,
  serverGcMax: Number.NaN,
  serverRunQueueMs: Number.NaN,
  serverAllocKiB: Number.NaN,
  harnessLoopP99: Number.NaN,
  harnessLoopMax: Number.NaN,
  harnessGcMax: Number.NaN,
  harnessRunQueueMs: Number.NaN,
  swarmLoopP99: Number.NaN,
  swarmLoopMax: Number.NaN,
  swarmGcMax: Number.NaN,
  swarmRunQueueMs: Number.NaN,
  loadLoopP99: Number.NaN,
  loadLoopMax: Number.NaN,
  loadGcMax: Number.NaN,
  waitedForConnection: Number.NaN,
  connectionWaitMaxMs: Number.NaN,
  halfLoadBusy: Number.NaN,
  othersPct: Number.NaN,
  halfMs: Number.NaN,
};

type UnicastFigures = {
  rps: number;
  httpP50: number;
  httpP99: number;
  deliveriesPerSec: number;
  cpuUsPerMessage: number;
  /** Load-generator CPU during the max-rate phase, in % of one core. */
  loadBusy: number;
  halfRate: number;
  delivered: number;
  expected: number;
} & LatencyFigures;

/** Pause figures of one half-rate phase, as LatencyFigures fields. */
function pauseFigures(server: PauseFigures, harness: PauseFigures, swarm: PauseFigures): Partial<LatencyFigures> {
  const load = worstPauses([harness, swarm]);
  return {
    serverLoopP99: server.loopP99Ms,
    serverLoopMax: server.loopMaxMs,
    serverGcCount: server.gcCount,
    serverGcMajor: server.gcMajorCount,
    serverGcMax: server.gcMaxMs,
    serverRunQueueMs: server.runQueueWaitMs,
    harnessLoopP99: harness.loopP99Ms,
    harnessLoopMax: harness.loopMaxMs,
    harnessGcMax: harness.gcMaxMs,
    harnessRunQueueMs: harness.runQueueWaitMs,
    swarmLoopP99: swarm.loopP99Ms,
    swarmLoopMax: swarm.loopMaxMs,
    swarmGcMax: swarm.gcMaxMs,
    swarmRunQueueMs: swarm.runQueueWaitMs,
    loadLoopP99: load.loopP99Ms,
    loadLoopMax: load.loopMaxMs,
    loadGcMax: load.gcMaxMs,
  };
}

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
  const { unicastUsers, unicastRequests, httpConnections, latencySeconds, latencyRate } = ctx.options.sizes;
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
      profileDir: ctx.options.profileDir,
      deliveriesPerRequest: 1,
    },
    failures,
  );
  const maxFigures = {
    rps: max.rps,
    httpP50: max.httpP50,
    httpP99: max.httpP99,
    deliveriesPerSec: max.deliveriesPerSec,
    cpuUsPerMessage: max.cpuUsPerDelivery,
    loadBusy: max.loadBusy,
    halfRate: latencyRate > 0 ? latencyRate : max.rps / 2,
    delivered: max.delivered,
    expected: max.expected,
  };
  if (!pool) return { ...maxFigures, halfRate: Number.NaN, ...NO_LATENCY };

  const latency = await latencyPhase({
    server,
    pool,
    headers: target.headers,
    rate: maxFigures.halfRate,
    amount: Math.max(50, Math.round(maxFigures.halfRate * latencySeconds)),
    connections: Math.max(httpConnections, 64),
    path: (i) => pathFor(i, LATENCY_EVENT),
    maxMs: (latencySeconds + 60) * 1000,
    fail,
  });
  return {
    ...maxFigures,
    ...latency.figures,
    ...(target.unpinned && { serverAllocKiB: Number.NaN }),
    delivered: maxFigures.delivered + latency.delivered,
    expected: maxFigures.expected + latency.expected,
  };
}

interface LatencyPhaseOptions {
  server: ServerProcess;
  pool: SwarmPool;
  headers: Record<string, string>;
  rate: number;
  amount: number;
  connections: number;
  path(i: number): string;
  maxMs: number;
  fail(message: string | undefined): void;
}

/** The half-rate phase: evenly paced requests, each event timed from its request's issue to its arrival, with every process's pauses recorded. */
async function latencyPhase(options: LatencyPhaseOptions): Promise<{ figures: LatencyFigures; delivered: number; expected: number }> {
  const { server, pool, fail } = options;
  await pool.reset();
  // Every process a latency passes through records its pauses for exactly the paced phase.
  const harnessPauses = new PauseMonitor();
  await Promise.all([server.startPauses(), pool.startPauses()]);
  harnessPauses.start();
  const others = watchInterference();
  const harnessCpu = process.cpuUsage();
  const paced = await runPacedLoad({
    baseUrl: server.url,
    headers: options.headers,
    rate: options.rate,
    amount: options.amount,
    connections: options.connections,
    request: (i) => ({ path: options.path(i), body: payload(i, preciseNow()) }),
    maxMs: options.maxMs,
  });
  const harnessCpuUs = ownCpuUs(harnessCpu);
  const harness = harnessPauses.stop();
  const othersPct = others.stop().averagePct;
  const [serverPauses, swarmPauses] = await Promise.all([server.stopPauses(), pool.stopPauses()]);
  if (paced.non2xx || paced.errors || paced.stopped)
    fail(`half rate: ${paced.non2xx} non-2xx, ${paced.errors} errors${paced.stopped ? ', stopped by time bound' : ''}`);
  await settle(pool, LATENCY_EVENT, paced.ok);
  const timed = await pool.report();
  const delivered = timed.counts[LATENCY_EVENT] ?? 0;
  fail(deliveryFailure('half rate', delivered, paced.ok));
  return {
    figures: {
      ...NO_LATENCY,
      ...pauseFigures(serverPauses, harness, worstPauses(swarmPauses)),
      e2eP50: percentile(timed.latencies, 50),
      e2eP99: percentile(timed.latencies, 99),
      serverAllocKiB: serverPauses.allocatedBytes / 1024 / Math.max(1, paced.ok),
      waitedForConnection: paced.waitedForConnection ?? 0,
      connectionWaitMaxMs: paced.connectionWaitMaxMs ?? 0,
      halfLoadBusy: (harnessCpuUs + timed.cpuUs) / 10 / paced.elapsedMs,
      othersPct,
      halfMs: paced.elapsedMs,
    },
    delivered,
    expected: paced.ok,
  };
}

/**
 * A note on one target's publish→receive tail, run by run. An event that reaches a process while
 * its event loop is stalled waits for the stall's end, and the loop-delay monitor's samples are
 * such waits, so a process whose loop-delay p99 is at least the publish→receive p99 makes that
 * tail on its own: the tail is that process's. Failing that, a p99 no longer than one process's
 * longest stall is put down to that stall. A p99 longer than both is queueing: in the load generator
 * when at least 1% of the requests waited for one of its keep-alive connections (each held by a
 * request the server has not answered: a stall, or a backlog it works off), else along the path
 * (kernel, sockets, a backlog after a stall). The server's full collections are counted: their
 * concurrent marking runs on the server's one pinned core, beside its event loop. Time spent
 * waiting for the CPU (run-queue wait) is other processes' doing, or the harness's and its workers'
 * on their shared core: the note gives it with each side's longest stall, GC pause and CPU, and how
 * busy the rest of the machine was.
 */
function whoseTail(name: string, runs: readonly UnicastFigures[]): string[] {
  const timed = runs.filter((r) => Number.isFinite(r.e2eP99) && Number.isFinite(r.loadLoopMax) && Number.isFinite(r.serverLoopMax));
  if (timed.length === 0) return [];
  const ms = (value: number): string => fmt(value, value < 10 ? 1 : 0);
  const share = (waitMs: number, r: UnicastFigures): string => `${fmt((waitMs / r.halfMs) * 100)} %`;
  // Requests of the phase that waited for one of the paced loader's connections, in %.
  const queuedShare = (r: UnicastFigures): number => (r.waitedForConnection / ((r.halfRate * r.halfMs) / 1000)) * 100;
  const verdict = (r: UnicastFigures): string => {
    const pick = (load: boolean, server: boolean, how: string): string | undefined => {
      if (load && server) return `both sides' (${how})`;
      if (load) return `**the load generator's** (${how})`;
      if (server) return `**the server's** (${how})`;
      return undefined;
    };
    const found =
      pick(r.loadLoopP99 >= r.e2eP99, r.serverLoopP99 >= r.e2eP99, 'by loop-delay p99') ??
      pick(r.loadLoopMax >= r.e2eP99, r.serverLoopMax >= r.e2eP99, 'by longest stall') ??
      (queuedShare(r) >= 1
        ? 'longer than any stall: requests waited in the load generator for a keep-alive connection, every one held by a request the server had not answered'
        : 'longer than any stall: queueing along the path');
    return r.othersPct > QUIET_PCT ? `${found}, while other processes used ${fmt(r.othersPct)} % of a core` : found;
  };
  const described = timed.map(
    (r, i) =>
      `run ${i + 1}: p99 ${ms(r.e2eP99)} ms → ${verdict(r)}. ` +
      `Load generator: loop p99 ${ms(r.loadLoopP99)} / max ${ms(r.loadLoopMax)} ms (${r.harnessLoopMax >= r.swarmLoopMax ? 'harness' : 'swarm worker'}), ` +
      `GC max ${ms(r.loadGcMax)} ms, ${fmt(r.halfLoadBusy)} % busy, waited for the CPU ${share(Math.max(r.harnessRunQueueMs, r.swarmRunQueueMs), r)} of the phase; ` +
      `server: loop p99 ${ms(r.serverLoopP99)} / max ${ms(r.serverLoopMax)} ms, GC max ${ms(r.serverGcMax)} ms, ` +
      `${fmt(r.serverGcMajor)} full collection${r.serverGcMajor === 1 ? '' : 's'}, waited ${share(r.serverRunQueueMs, r)}` +
      (Number.isFinite(r.serverAllocKiB) ? `, allocated ${fmt(r.serverAllocKiB, 1)} KiB per request` : '') +
      (r.waitedForConnection > 0
        ? `; ${fmt(r.waitedForConnection)} requests (${fmt(queuedShare(r), 1)} %) waited for a connection, up to ${ms(r.connectionWaitMaxMs)} ms`
        : ''),
  );
  return [`Whose tail is **${name}**'s pub→recv p99 (half-rate phase, valid runs in order): ${described.join('; ')}.`];
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
    // A tail measured while other processes took the CPU is theirs: such a run is measured again.
    const results = await measureRuns(
      ctx,
      'unicast',
      targets,
      (target, failures) => runTarget(ctx, target, failures),
      (figures) => figures.othersPct,
    );
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
      `${fmt(m(t.name, 'serverLoopP99'), 1)} / ${fmt(m(t.name, 'serverLoopMax'), 1)}`,
      fmt(m(t.name, 'serverGcMax'), 1),
      fmt(m(t.name, 'serverAllocKiB'), 1),
      `${fmt(m(t.name, 'loadLoopP99'), 1)} / ${fmt(m(t.name, 'loadLoopMax'), 1)}`,
      fmt(m(t.name, 'loadGcMax'), 1),
      t.sockets ? `${fmt(results.sum(t.name, 'delivered'))} / ${fmt(results.sum(t.name, 'expected'))}` : 'n/a',
      results.ok(t.name),
    ]);
    return {
      name: 'unicast',
      title: 'Unicast',
      method: `${fmt(sizes.unicastRequests)} × \`POST /emit/:userId/:event\` round-robin over ${fmt(sizes.unicastUsers)} connected users, ${sizes.httpConnections} keep-alive connections (autocannon), as fast as the server answers; then the same ${sizes.latencyRate > 0 ? `at ${fmt(sizes.latencyRate)} req/s for every target` : 'at half that rate'}, evenly paced, for ${sizes.latencySeconds} s, timing each event from the moment its request was issued to its arrival at the client. CPU is the server's user+system time per delivered message (per request for HTTP-only targets).`,
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
            'server loop p99 / max ms',
            'server GC max ms',
            'server alloc KiB/req',
            'load-gen loop p99 / max ms',
            'load-gen GC max ms',
            'delivered / expected (all runs)',
            'runs ok',
          ],
          rows,
        },
      ],
      notes: [
        ...saturationNote(new Map(targets.map((t) => [t.name, m(t.name, 'loadBusy')]))),
        ...unpinnedNotes(targets, (name) => m(name, 'rps'), 'Req/s'),
        ...targets.flatMap((t) => whoseTail(t.name, results.each(t.name))),
        ...results.disturbances,
      ],
      failures: results.failures,
      figures: Object.fromEntries(
        targets.map((t) => [t.name, { rps: m(t.name, 'rps'), e2eP99: m(t.name, 'e2eP99'), cpuUsPerMessage: m(t.name, 'cpuUsPerMessage') }]),
      ),
      reproduce: reproduce(ctx, 'unicast', targets, [
        `--unicast-users ${sizes.unicastUsers}`,
        `--unicast-requests ${sizes.unicastRequests}`,
        `--connections ${sizes.httpConnections}`,
        `--latency-seconds ${sizes.latencySeconds}`,
        ...(sizes.latencyRate > 0 ? [`--latency-rate ${sizes.latencyRate}`] : []),
      ]),
    };
  },
};
