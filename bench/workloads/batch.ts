/**
 * Workload 6, batch and idempotency keys (issue 12), gateway only (no baseline has either):
 *
 * - 100 different payloads as one `POST /emit/batch` against as 100 single `POST /emit/:userId/:event`
 *   calls: deliveries/s, each delivery one event to one user's one socket, with a payload of its own;
 * - unicast with an `Idempotency-Key` (a new one per call, so every call claims the key and stores its
 *   answer) against without: what the guarantee costs per call.
 *
 * Each phase is a burst (burst.ts) on the same server, with an event name of its own.
 */
import { preciseNow } from '../client/light-socket.js';
import type { SwarmPool } from '../client/swarm-pool.js';
import type { ServerProcess } from '../lib/server-process.js';
import type { Target } from '../targets.js';
import { burst, type BurstFigures } from './burst.js';
import {
  connectUsers,
  fmt,
  measureRuns,
  payload,
  reproduce,
  userIds,
  withServer,
  type Workload,
  type WorkloadContext,
  type WorkloadOutcome,
} from './workload.js';

/** Items per batch: the issue's "100 different payloads". */
const BATCH_ITEMS = 100;

const PHASES = ['single', 'batch', 'keyed'] as const;
type Phase = (typeof PHASES)[number];

const LABELS: Record<Phase, string> = {
  single: `${BATCH_ITEMS} single calls`,
  batch: `1 batch of ${BATCH_ITEMS}`,
  keyed: 'single calls with Idempotency-Key',
};

type BatchFigures = { [K in `${Phase}${'Rps' | 'Deliveries' | 'P50' | 'P99' | 'Cpu' | 'Delivered' | 'Expected'}`]: number };

async function measureOnce(ctx: WorkloadContext, target: Target, server: ServerProcess, pool: SwarmPool, failures: string[]): Promise<BatchFigures> {
  const { unicastUsers, unicastRequests, httpConnections } = ctx.options.sizes;
  const users = userIds(unicastUsers);
  const user = (i: number): string => users[i % users.length]!;
  const common = { label: target.name, url: server.url, servers: [server], headers: target.headers, pool, profileDir: ctx.options.profileDir };
  const runs: Record<Phase, BurstFigures> = {
    single: await burst(
      {
        ...common,
        connections: httpConnections,
        amount: unicastRequests,
        request: (i, event) => ({ path: target.unicastPath!(user(i), event), body: payload(i, preciseNow()) }),
        event: 'bench_single',
        warmupEvent: 'bench_single_warmup',
        deliveriesPerRequest: 1,
      },
      failures,
    ),
    batch: await burst(
      {
        ...common,
        // As many deliveries as the single calls, in calls of 100; fewer calls, so fewer connections keep it busy.
        connections: Math.max(1, Math.min(httpConnections, Math.ceil(unicastRequests / BATCH_ITEMS / 4))),
        amount: Math.max(1, Math.round(unicastRequests / BATCH_ITEMS)),
        request: (i, event) => {
          const sentAt = preciseNow();
          const items = Array.from({ length: BATCH_ITEMS }, (_, k) => {
            const n = i * BATCH_ITEMS + k;
            return `{"userId":${JSON.stringify(user(n))},"event":${JSON.stringify(event)},"data":${payload(n, sentAt)}}`;
          });
          return { path: target.batchPath!, body: `{"items":[${items.join(',')}]}` };
        },
        event: 'bench_batch',
        warmupEvent: 'bench_batch_warmup',
        deliveriesPerRequest: BATCH_ITEMS,
      },
      failures,
    ),
    keyed: await burst(
      {
        ...common,
        connections: httpConnections,
        amount: unicastRequests,
        request: (i, event) => ({
          path: target.unicastPath!(user(i), event),
          body: payload(i, preciseNow()),
          // A key per call and per phase: every call is a first call, which claims the key and stores its answer.
          headers: { 'idempotency-key': `bench-${event}-${i}-${server.url}` },
        }),
        event: 'bench_keyed',
        warmupEvent: 'bench_keyed_warmup',
        deliveriesPerRequest: 1,
      },
      failures,
    ),
  };
  return Object.fromEntries(
    PHASES.flatMap((phase) => {
      const r = runs[phase];
      return [
        [`${phase}Rps`, r.rps],
        [`${phase}Deliveries`, r.deliveriesPerSec],
        [`${phase}P50`, r.httpP50],
        [`${phase}P99`, r.httpP99],
        [`${phase}Cpu`, r.cpuUsPerDelivery],
        [`${phase}Delivered`, r.delivered],
        [`${phase}Expected`, r.expected],
      ];
    }),
  ) as BatchFigures;
}

export const batch: Workload = {
  name: 'batch',
  title: 'Batch and idempotency keys',
  async run(ctx: WorkloadContext): Promise<WorkloadOutcome> {
    const { sizes } = ctx.options;
    const targets = ctx.targets.filter((t) => t.batchPath && t.unicastPath && t.sockets);
    const results = await measureRuns(ctx, 'batch', targets, (target, failures) =>
      withServer(ctx, target, async (server) => {
        const { pool } = await connectUsers(ctx, target, server.url, userIds(sizes.unicastUsers));
        try {
          return await measureOnce(ctx, target, server, pool, failures);
        } finally {
          await pool.close();
        }
      }),
    );
    const rows = targets.flatMap((t) => {
      const m = (key: keyof BatchFigures): number => results.median(t.name, key);
      return PHASES.map((phase) => [
        `${t.name}: ${LABELS[phase]}`,
        fmt(m(`${phase}Rps`)),
        fmt(m(`${phase}Deliveries`)),
        fmt(m(`${phase}P50`), 2),
        fmt(m(`${phase}P99`), 2),
        fmt(m(`${phase}Cpu`), 1),
        `${fmt(results.sum(t.name, `${phase}Delivered`))} / ${fmt(results.sum(t.name, `${phase}Expected`))}`,
        results.ok(t.name),
      ]);
    });
    const ratio = (t: Target, a: keyof BatchFigures, b: keyof BatchFigures): number => results.median(t.name, a) / results.median(t.name, b);
    return {
      name: 'batch',
      title: 'Batch and idempotency keys',
      method:
        `${fmt(sizes.unicastRequests)} deliveries, each a payload of its own to one of ${fmt(sizes.unicastUsers)} connected users (one socket each): ` +
        `as ${fmt(sizes.unicastRequests)} single \`POST /emit/:userId/:event\` calls (${sizes.httpConnections} keep-alive connections), ` +
        `as ${fmt(Math.round(sizes.unicastRequests / BATCH_ITEMS))} \`POST /emit/batch\` calls of ${BATCH_ITEMS} items, ` +
        'and as single calls each with an `Idempotency-Key` of its own (every call claims its key and stores its answer in `DATA_DIR/idempotency.sqlite`). ' +
        'req/s counts HTTP calls; deliveries/s counts events received by the clients; CPU is the server’s per delivery.',
      tables: [
        {
          columns: [
            'target: how',
            'req/s',
            'deliveries/s',
            'HTTP p50 ms',
            'HTTP p99 ms',
            'server CPU µs/delivery',
            'delivered / expected (all runs)',
            'runs ok',
          ],
          rows,
        },
      ],
      notes: [
        ...targets.map(
          (t) =>
            `${t.name}: a batch delivers ${fmt(ratio(t, 'batchDeliveries', 'singleDeliveries'), 1)}× the deliveries/s of single calls; ` +
            `an Idempotency-Key keeps ${fmt(ratio(t, 'keyedRps', 'singleRps') * 100)}% of unicast req/s.`,
        ),
        ...results.disturbances,
      ],
      failures: results.failures,
      figures: Object.fromEntries(
        targets.map((t) => [
          t.name,
          {
            batchDeliveries: results.median(t.name, 'batchDeliveries'),
            singleDeliveries: results.median(t.name, 'singleDeliveries'),
            keyedRps: results.median(t.name, 'keyedRps'),
          },
        ]),
      ),
      reproduce: reproduce(ctx, 'batch', targets, [
        `--unicast-users ${sizes.unicastUsers}`,
        `--unicast-requests ${sizes.unicastRequests}`,
        `--connections ${sizes.httpConnections}`,
      ]),
    };
  },
};
