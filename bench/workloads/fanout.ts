/**
 * Workload 2, fan-out: one request that reaches N sockets (one per user),
 * repeated for a few rounds; deliveries/s runs from just before the request
 * to the last socket's receipt. raw-ws broadcasts the same frame to the
 * same sockets, which is the figure the others are held against.
 */
import { preciseNow } from '../client/light-socket.js';
import { postJson } from '../lib/http-call.js';
import { median } from '../lib/stats.js';
import type { Target } from '../targets.js';
import {
  connectUsers,
  cpuUs,
  deliveryFailure,
  fmt,
  measureRuns,
  payload,
  profileServers,
  saturationNote,
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

type FanoutFigures = {
  sockets: number;
  deliveriesPerSec: number;
  lastDeliveryMs: number;
  httpMs: number;
  cpuUsPerDelivery: number;
  /** Load-generator CPU over the delivery window, in % of one core. */
  loadBusy: number;
  delivered: number;
  expected: number;
  fewestPerWorker: number;
  mostPerWorker: number;
};

const EVENT = 'bench_fanout';

async function runTarget(ctx: WorkloadContext, target: Target, sockets: number, failures: string[]): Promise<FanoutFigures> {
  const rounds = ctx.options.sizes.fanoutRounds;
  const users = userIds(sockets);
  return withServer(ctx, target, async (server) => {
    const { pool } = await connectUsers(ctx, target, server.url, users);
    try {
      const durations: number[] = [];
      const httpMs: number[] = [];
      const busy: number[] = [];
      let delivered = 0;
      let before = await server.stats();
      let stopProfile = async (): Promise<void> => undefined;
      // Rounds before 0 warm the JIT up (and, many of them, fill the users' histories) and are not counted.
      for (let round = -ctx.options.sizes.fanoutWarmup; round < rounds; round++) {
        if (round === 0) {
          before = await server.stats();
          stopProfile = await profileServers(ctx.options.profileDir, [server], `fanout-${target.name}`);
        }
        await pool.reset();
        const started = preciseNow();
        const request = target.fanout!(EVENT, users, JSON.parse(payload(round, started, ctx.options.sizes.fanoutPad)) as unknown);
        const answer = await postJson(server.url, request.path, request.body, target.headers, 60_000);
        if (answer.status !== 200) failures.push(`${target.name}: fan-out answered ${answer.status} ${answer.body.slice(0, 200)}`);
        await pool.waitFor(EVENT, sockets, 30_000 + sockets);
        await sleep(100);
        const heard = await pool.report();
        const got = heard.counts[EVENT] ?? 0;
        const label = round < 0 ? 'warm-up round' : `round ${round + 1}`;
        const problem =
          deliveryFailure(label, got, sockets) ??
          (heard.perSocketMin !== 1 || heard.perSocketMax !== 1
            ? `${label}: a socket got ${heard.perSocketMin === 1 ? heard.perSocketMax : heard.perSocketMin} copies`
            : undefined);
        if (problem) failures.push(`${target.name}: ${problem}`);
        if (round < 0) continue;
        delivered += got;
        const duration = (heard.lastAt[EVENT] ?? Number.NaN) - started;
        durations.push(duration);
        // Only the receiving side: the harness sends a single request per round.
        busy.push(heard.cpuUs / 10 / duration);
        httpMs.push(answer.ms);
      }
      const after = await server.stats();
      await stopProfile();
      const totalMs = durations.reduce((a, b) => a + b, 0);
      return {
        sockets,
        deliveriesPerSec: (delivered / totalMs) * 1000,
        lastDeliveryMs: median(durations),
        httpMs: median(httpMs),
        cpuUsPerDelivery: cpuUs(before, after) / Math.max(1, delivered),
        loadBusy: median(busy),
        delivered,
        expected: sockets * rounds,
        ...workerSockets(before),
      };
    } finally {
      await pool.close();
    }
  });
}

export const fanout: Workload = {
  name: 'fanout',
  title: 'Fan-out',
  async run(ctx: WorkloadContext): Promise<WorkloadOutcome> {
    const { sizes } = ctx.options;
    const targets = ctx.targets.filter((t) => t.fanout && t.sockets);
    const sockets = Math.min(sizes.fanoutSockets, ctx.maxSocketsPerProcess);
    const results = await measureRuns(ctx, 'fanout', targets, (target, failures) => runTarget(ctx, target, sockets, failures));
    const m = (name: string, key: keyof FanoutFigures & string): number => results.median(name, key);
    const limit = m('raw-ws', 'deliveriesPerSec');
    const rows = targets.map((t) => [
      t.name,
      fmt(sockets),
      fmt(m(t.name, 'deliveriesPerSec')),
      Number.isFinite(limit) ? `${fmt((m(t.name, 'deliveriesPerSec') / limit) * 100)}%` : '–',
      fmt(m(t.name, 'lastDeliveryMs'), 1),
      fmt(m(t.name, 'httpMs'), 1),
      fmt(m(t.name, 'cpuUsPerDelivery'), 2),
      `${fmt(m(t.name, 'loadBusy'))}%`,
      `${fmt(results.sum(t.name, 'delivered'))} / ${fmt(results.sum(t.name, 'expected'))}`,
      results.ok(t.name),
    ]);
    const notes = [
      ...saturationNote(new Map(targets.map((t) => [t.name, m(t.name, 'loadBusy')]))),
      ...unpinnedNotes(targets, (name) => m(name, 'deliveriesPerSec'), 'Deliveries/s'),
      ...workerSocketNotes(targets, sockets, (name, key) => m(name, key)),
    ];
    if (sockets < sizes.fanoutSockets)
      notes.push(`Clamped from ${fmt(sizes.fanoutSockets)} to ${fmt(sockets)} sockets: \`ulimit -n\` allows no more per process here.`);
    return {
      name: 'fanout',
      title: 'Fan-out',
      method: `${fmt(sockets)} sockets, one per user; each of ${sizes.fanoutRounds} rounds is one request reaching all of them (\`POST /emit/:event\` with every user id; raw-ws broadcasts the same frame to the same sockets). Deliveries/s counts from just before the request to the last socket's receipt; every socket must receive each round exactly once.${sizes.fanoutWarmup > 1 ? ` ${fmt(sizes.fanoutWarmup)} rounds before them, not counted, filled each user's history (\`--fanout-warmup\`).` : ''}${sizes.fanoutPad > 0 ? ` The payload carries ${fmt(sizes.fanoutPad)} characters more than the standard notification (\`--fanout-pad\`).` : ''}`,
      tables: [
        {
          columns: [
            'target',
            'sockets',
            'deliveries/s',
            'vs raw-ws',
            'last delivery ms',
            'HTTP response ms',
            'server CPU µs/delivery',
            'load-gen CPU busy',
            'delivered / expected (all runs)',
            'runs ok',
          ],
          rows,
        },
      ],
      notes: [...notes, ...results.disturbances],
      failures: results.failures,
      figures: Object.fromEntries(targets.map((t) => [t.name, { deliveriesPerSec: m(t.name, 'deliveriesPerSec') }])),
      reproduce: reproduce(ctx, 'fanout', targets, [
        `--fanout-sockets ${sizes.fanoutSockets}`,
        `--fanout-rounds ${sizes.fanoutRounds}`,
        ...(sizes.fanoutPad > 0 ? [`--fanout-pad ${sizes.fanoutPad}`] : []),
        ...(sizes.fanoutWarmup > 1 ? [`--fanout-warmup ${sizes.fanoutWarmup}`] : []),
      ]),
    };
  },
};
