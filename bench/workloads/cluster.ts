/**
 * Workload 5, cluster: two gateway nodes joined through the Redis at 127.0.0.1:6379 (a
 * `REDIS_PREFIX` of their own per run, so nothing else on that Redis hears them), with the users
 * spread over both: user i connects to node A when i is even, to node B when odd. Unicast
 * `POST /emit/:userId/:event` goes to node A, either only for the users on node B (every delivery
 * crosses Redis) or round-robin over all users (half local, half remote), against one standalone
 * node holding every user.
 *
 * Placement: with two cores, the three processes that matter cannot each have one. Both nodes run
 * on the server core, like the single node, so the comparison is at equal gateway CPU; the harness
 * and its light clients keep the other core; Redis is the machine's shared server and is not
 * pinned. Redis's own CPU is read from `INFO cpu` and reported per delivery.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { Redis } from 'ioredis';
import { REDIS_URL, redisUnavailable } from '../lib/redis.js';
import { SwarmPool } from '../client/swarm-pool.js';
import { preciseNow } from '../client/light-socket.js';
import type { ServerProcess } from '../lib/server-process.js';
import type { Target } from '../targets.js';
import { burst, type BurstFigures } from './burst.js';
import {
  connectUsers,
  fmt,
  measureRuns,
  payload,
  reproduce,
  saturationNote,
  startServer,
  userIds,
  type Workload,
  type WorkloadContext,
  type WorkloadOutcome,
} from './workload.js';

interface Layout {
  name: 'single' | 'cross' | 'spread';
  title: string;
  /** Whether two nodes share the users through Redis. */
  cluster: boolean;
  /** Which users the requests to node A address. */
  addressed(users: readonly string[]): string[];
}

const LAYOUTS: readonly Layout[] = [
  { name: 'single', title: 'single node (standalone, every user on it)', cluster: false, addressed: (users) => [...users] },
  {
    name: 'cross',
    title: 'two nodes + Redis: every request for a user on the other node',
    cluster: true,
    addressed: (users) => users.filter((_, i) => i % 2 === 1),
  },
  { name: 'spread', title: 'two nodes + Redis: round-robin over all users (half local)', cluster: true, addressed: (users) => [...users] },
];

/** Redis's own CPU time so far, in µs, from `INFO cpu`. */
async function redisCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1e6;
}

async function measureLayout(ctx: WorkloadContext, gateway: Target, layout: Layout, redis: Redis | undefined, failures: string[]): Promise<BurstFigures> {
  const users = userIds(ctx.options.sizes.unicastUsers);
  const env: Record<string, string> = layout.cluster ? { REDIS_URL, REDIS_PREFIX: `gs-bench-${randomBytes(4).toString('hex')}` } : {};
  const servers: ServerProcess[] = [];
  const pools: SwarmPool[] = [];
  try {
    servers.push(await startServer(ctx, gateway, env));
    if (layout.cluster) servers.push(await startServer(ctx, gateway, env));
    // User i on node i mod (number of nodes).
    for (const [n, server] of servers.entries()) {
      pools.push(
        (
          await connectUsers(
            ctx,
            gateway,
            server.url,
            users.filter((_, i) => i % servers.length === n),
          )
        ).pool,
      );
    }
    const pool = SwarmPool.combine(pools);
    const addressed = layout.addressed(users);
    let redisBefore = Number.NaN;
    const figures = await burst(
      {
        label: layout.name,
        url: servers[0]!.url,
        servers,
        headers: gateway.headers,
        connections: ctx.options.sizes.httpConnections,
        amount: ctx.options.sizes.clusterRequests,
        request: (i, event) => ({ path: gateway.unicastPath!(addressed[i % addressed.length]!, event), body: payload(i, preciseNow()) }),
        event: 'bench_cluster',
        warmupEvent: 'bench_cluster_warmup',
        pool,
        profileDir: ctx.options.profileDir,
        deliveriesPerRequest: 1,
        beforeMeasuring: async () => {
          if (redis && layout.cluster) redisBefore = await redisCpuUs(redis);
        },
      },
      failures,
    );
    const redisUs = redis && layout.cluster ? (await redisCpuUs(redis)) - redisBefore : Number.NaN;
    return { ...figures, redisCpuUsPerDelivery: redisUs / Math.max(1, figures.delivered) };
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await Promise.all(servers.map((s) => s.stop()));
  }
}

export const cluster: Workload = {
  name: 'cluster',
  title: 'Cluster',
  async run(ctx: WorkloadContext): Promise<WorkloadOutcome> {
    const { sizes } = ctx.options;
    const gateway = ctx.targets.find((t) => t.name === 'gateway');
    const placement =
      ctx.serverCpu === undefined
        ? 'Not pinned: every process runs where the kernel puts it.'
        : `Placement on this ${cpus().length}-core machine: both gateway nodes (and the single node) on core ${ctx.serverCpu}, so each layout has one core of gateway CPU; the harness and its light clients on the other core; Redis, the machine's shared server, not pinned (it runs on whichever core is free). No process has a core of its own in the two-node layouts: the nodes take turns on one core, which is what makes the comparison one of cost per message rather than of added hardware.`;
    const method = `${fmt(sizes.unicastUsers)} users with one socket each. Two nodes: user i connects to node A when i is even, to node B when odd, both with \`REDIS_URL=${REDIS_URL}\` and a \`REDIS_PREFIX\` of their own per run. ${fmt(sizes.clusterRequests)} × \`POST /emit/:userId/:event\` to node A, ${sizes.httpConnections} keep-alive connections (autocannon), as fast as it answers. A cluster node answers after the other node confirmed its deliveries (the reply counts sockets on every node), so each request costs a Redis round trip. ${placement}`;
    const base = {
      name: 'cluster',
      title: 'Cluster',
      method,
      reproduce: reproduce(ctx, 'cluster', gateway ? [gateway] : [], [
        `--unicast-users ${sizes.unicastUsers}`,
        `--cluster-requests ${sizes.clusterRequests}`,
        `--connections ${sizes.httpConnections}`,
      ]),
    };
    if (!gateway) return { ...base, tables: [], notes: ['Not measured: only the `gateway` target has a cluster mode, and it was not selected.'], failures: [] };

    const problem = await redisUnavailable();
    const layouts = problem ? LAYOUTS.filter((l) => !l.cluster) : LAYOUTS;
    const redis = problem ? undefined : new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    redis?.on('error', () => undefined);
    try {
      const results = await measureRuns(ctx, 'cluster', layouts, (layout, failures) => measureLayout(ctx, gateway, layout, redis, failures));
      const m = (name: string, key: string): number => results.median(name, key);
      const single = m('single', 'rps');
      const rows = layouts.map((l) => [
        l.title,
        fmt(m(l.name, 'rps')),
        Number.isFinite(single) ? `${fmt((m(l.name, 'rps') / single) * 100)}%` : '–',
        fmt(m(l.name, 'httpP50'), 2),
        fmt(m(l.name, 'httpP99'), 2),
        fmt(m(l.name, 'deliveriesPerSec')),
        fmt(m(l.name, 'cpuUsPerDelivery'), 1),
        l.cluster ? fmt(m(l.name, 'redisCpuUsPerDelivery'), 1) : '–',
        `${fmt(m(l.name, 'loadBusy'))}%`,
        `${fmt(results.sum(l.name, 'delivered'))} / ${fmt(results.sum(l.name, 'expected'))}`,
        results.ok(l.name),
      ]);
      const notes = [
        ...(problem ? [`Two-node layouts not measured: ${problem}.`] : []),
        'Gateway CPU adds up both nodes. Redis CPU comes from `INFO cpu` of the shared Redis over the measured phase, so anything else using that Redis meanwhile would show in it.',
        ...saturationNote(new Map(layouts.map((l) => [l.title, m(l.name, 'loadBusy')]))),
      ];
      return {
        ...base,
        tables: [
          {
            columns: [
              'layout',
              'req/s',
              'vs single node',
              'HTTP p50 ms',
              'HTTP p99 ms',
              'deliveries/s',
              'gateway CPU µs/msg (all nodes)',
              'Redis CPU µs/msg',
              'load-gen CPU busy',
              'delivered / expected (all runs)',
              'runs ok',
            ],
            rows,
          },
        ],
        notes: [...notes, ...results.disturbances],
        failures: results.failures,
        figures: Object.fromEntries(layouts.map((l) => [l.name, { rps: m(l.name, 'rps') }])),
      };
    } finally {
      redis?.disconnect();
    }
  },
};
