/**
 * Workload: targeted routing (CLUSTER_ROUTING=targeted) as the cluster grows. 2, 4 and 8 gateway
 * nodes joined through the Redis at 127.0.0.1:6379 (a `REDIS_PREFIX` of their own per run). The
 * addressed users all hold a socket on node B; every further node holds as many sockets of other
 * users and receives no REST traffic. `POST /emit/:userId/:event` goes to node A, first for the
 * users on node B (each delivery crosses to B alone), then for users nobody holds (offline: no
 * cross-node message at all). The aim: the cost of an emit does not grow with the number of nodes.
 *
 * Redis commands per emit come from `INFO commandstats` (every command's `calls`) over each measured
 * phase, divided by the requests answered: they include the stream appends, the directory read, the
 * node-to-node PUBLISHes, and the nodes' presence heartbeats meanwhile (a few per second per node);
 * Redis counts the commands a Lua script runs too, so one EVALSHA shows as several.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_URL, redisUnavailable } from '../lib/redis.js';
import { SwarmPool } from '../client/swarm-pool.js';
import { preciseNow } from '../client/light-socket.js';
import type { ServerProcess } from '../lib/server-process.js';
import type { Target } from '../targets.js';
import { burst } from './burst.js';
import {
  connectUsers,
  fmt,
  measureRuns,
  payload,
  reproduce,
  sleep,
  startServer,
  userIds,
  type Workload,
  type WorkloadContext,
  type WorkloadOutcome,
} from './workload.js';

const NODE_COUNTS = [2, 4, 8] as const;

interface Layout {
  name: string;
  nodes: number;
}

/** Commands Redis has run so far, all kinds together, from `INFO commandstats`. */
async function redisCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(match[1]);
  return calls;
}

async function measureLayout(ctx: WorkloadContext, gateway: Target, layout: Layout, redis: Redis, failures: string[]): Promise<Record<string, number>> {
  const count = ctx.options.sizes.unicastUsers;
  const addressed = userIds(count);
  const offline = addressed.map((id) => `${id}-offline`);
  const env = { REDIS_URL, REDIS_PREFIX: `gs-bench-${randomBytes(4).toString('hex')}`, CLUSTER_ROUTING: 'targeted' };
  const servers: ServerProcess[] = [];
  const pools: SwarmPool[] = [];
  try {
    for (let n = 0; n < layout.nodes; n++) servers.push(await startServer(ctx, gateway, env));
    // A node routes by the directory one lease (PRESENCE_LEASE_MS, 5 s) after it connected to Redis;
    // before, it asks every node.
    const targetedFrom = Date.now() + 5000 + 500;
    // Node B holds the addressed users; node A and every further node as many others (no REST traffic to them).
    for (const [n, server] of servers.entries()) {
      const ids = n === 1 ? addressed : addressed.map((id) => `${id}-on-${n}`);
      pools.push((await connectUsers(ctx, gateway, server.url, ids)).pool);
    }
    const pool = SwarmPool.combine(pools);
    await sleep(Math.max(0, targetedFrom - Date.now()));
    const phase = async (label: string, users: readonly string[], delivering: boolean): Promise<Record<string, number>> => {
      let before = Number.NaN;
      const figures = await burst(
        {
          label: `${layout.name} ${label}`,
          url: servers[0]!.url,
          servers,
          headers: gateway.headers,
          connections: ctx.options.sizes.httpConnections,
          amount: ctx.options.sizes.clusterRequests,
          request: (i, event) => ({ path: gateway.unicastPath!(users[i % users.length]!, event), body: payload(i, preciseNow()) }),
          event: `bench_routing_${label}`,
          warmupEvent: `bench_routing_${label}_warmup`,
          ...(delivering && { pool }),
          deliveriesPerRequest: delivering ? 1 : 0,
          beforeMeasuring: async () => {
            before = await redisCalls(redis);
          },
        },
        failures,
      );
      // Less the INFO call that reads the figure after.
      const calls = (await redisCalls(redis)) - before - 1;
      return {
        [`${label}Rps`]: figures.rps,
        [`${label}P99`]: figures.httpP99,
        [`${label}CpuUs`]: figures.cpuUsPerRequest,
        [`${label}RedisCalls`]: calls / Math.max(1, figures.ok),
        [`${label}Delivered`]: figures.delivered,
        [`${label}Expected`]: figures.expected,
      };
    };
    return { ...(await phase('remote', addressed, true)), ...(await phase('offline', offline, false)) };
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await Promise.all(servers.map((s) => s.stop()));
  }
}

export const routing: Workload = {
  name: 'routing',
  title: 'Targeted routing',
  async run(ctx: WorkloadContext): Promise<WorkloadOutcome> {
    const { sizes } = ctx.options;
    const gateway = ctx.targets.find((t) => t.name === 'gateway');
    const method = `${NODE_COUNTS.join(', ')} gateway nodes with \`REDIS_URL=${REDIS_URL}\`, \`CLUSTER_ROUTING=targeted\` and a \`REDIS_PREFIX\` of their own per run; ${fmt(sizes.unicastUsers)} users with one socket each on node B, and as many other users on every other node (node A included). ${fmt(sizes.clusterRequests)} × \`POST /emit/:userId/:event\` to node A, ${sizes.httpConnections} keep-alive connections, as fast as it answers: first to the users on node B, then to as many users nobody holds (offline). Only node A receives REST calls. Every node runs on the server core${ctx.serverCpu === undefined ? ' (here: not pinned)' : ` (${ctx.serverCpu})`}, so more nodes mean more processes sharing the same gateway CPU. Redis commands per emit: every command Redis ran during the measured phase (\`INFO commandstats\`), stream appends and presence heartbeats included, and the commands inside Lua scripts counted one by one, over the requests answered.`;
    const base = {
      name: 'routing',
      title: 'Targeted routing',
      method,
      reproduce: reproduce(ctx, 'routing', gateway ? [gateway] : [], [
        `--unicast-users ${sizes.unicastUsers}`,
        `--cluster-requests ${sizes.clusterRequests}`,
        `--connections ${sizes.httpConnections}`,
      ]),
    };
    if (!gateway) return { ...base, tables: [], notes: ['Not measured: only the `gateway` target has a cluster mode, and it was not selected.'], failures: [] };
    const problem = await redisUnavailable();
    if (problem) return { ...base, tables: [], notes: [`Not measured: ${problem}.`], failures: [] };

    const layouts: Layout[] = NODE_COUNTS.map((nodes) => ({ name: `${nodes} nodes`, nodes }));
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    try {
      const results = await measureRuns(ctx, 'routing', layouts, (layout, failures) => measureLayout(ctx, gateway, layout, redis, failures));
      const m = (name: string, key: string): number => results.median(name, key);
      const first = layouts[0]!.name;
      const rows = layouts.flatMap((l) =>
        (['remote', 'offline'] as const).map((label) => [
          `${l.name}: ${label === 'remote' ? 'users on node B' : 'offline users'}`,
          fmt(m(l.name, `${label}Rps`)),
          `${fmt((m(l.name, `${label}Rps`) / m(first, `${label}Rps`)) * 100)}%`,
          fmt(m(l.name, `${label}P99`), 2),
          fmt(m(l.name, `${label}CpuUs`), 1),
          fmt(m(l.name, `${label}RedisCalls`), 1),
          label === 'remote' ? `${fmt(results.sum(l.name, 'remoteDelivered'))} / ${fmt(results.sum(l.name, 'remoteExpected'))}` : '– (none by design)',
          results.ok(l.name),
        ]),
      );
      return {
        ...base,
        tables: [
          {
            columns: [
              'layout',
              'req/s',
              `vs ${first}`,
              'HTTP p99 ms',
              'gateway CPU µs/request (all nodes)',
              'Redis commands/emit',
              'delivered / expected (all runs)',
              'runs ok',
            ],
            rows,
          },
        ],
        notes: ['Redis commands are those of the shared Redis during the phase: anything else using it meanwhile would show in them.', ...results.disturbances],
        failures: results.failures,
        figures: Object.fromEntries(layouts.map((l) => [l.name, { remoteRps: m(l.name, 'remoteRps'), offlineRps: m(l.name, 'offlineRps') }])),
      };
    } finally {
      redis.disconnect();
    }
  },
};
