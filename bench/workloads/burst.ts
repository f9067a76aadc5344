/**
 * The maximum-rate phase that unicast, conversation and cluster share: an unmeasured warm-up, then
 * a fixed number of requests as fast as the server answers (autocannon), then the deliveries
 * counted at the clients against what the 2xx answers promised.
 */
import type { SwarmPool } from '../client/swarm-pool.js';
import { runHttpLoad } from '../lib/http-load.js';
import type { ServerProcess } from '../lib/server-process.js';
import { preciseNow } from '../client/light-socket.js';
import { cpuUs, deliveryFailure, ownCpuUs, profileServers, sleep } from './workload.js';

export interface BurstOptions {
  /** Prefix of failure messages. */
  label: string;
  /** Where requests go. */
  url: string;
  /** Every server process whose CPU time the phase costs (all nodes of a cluster). */
  servers: readonly ServerProcess[];
  headers: Record<string, string>;
  method?: 'GET' | 'POST';
  connections: number;
  /** Measured requests. */
  amount: number;
  /** Request number i → path, body and headers of its own; `event` is the event name the request should produce. */
  request(i: number, event: string): { path: string; body: string; headers?: Record<string, string> };
  /** Name of the event the measured requests produce, and the one warm-up requests produce. */
  event: string;
  warmupEvent: string;
  /** Sockets that count deliveries; none for HTTP-only targets. */
  pool?: SwarmPool;
  /** Deliveries each 2xx answer stands for (the sockets reached per request). */
  deliveriesPerRequest: number;
  /** When true, every connected socket must receive every measured request's event exactly once. */
  everySocketGetsAll?: boolean;
  /** Called just before the measured phase starts, e.g. to read a dependency's counters. */
  beforeMeasuring?(): Promise<void>;
  /** Folder for profiles of the measured phase (`--cpu-prof` or `--alloc-prof`), one per server. */
  profileDir?: string | undefined;
}

export interface BurstFigures {
  [key: string]: number;
  ok: number;
  rps: number;
  httpP50: number;
  httpP99: number;
  elapsedMs: number;
  deliveriesPerSec: number;
  /** Server CPU (all servers) per delivery, or per request for HTTP-only targets. */
  cpuUsPerDelivery: number;
  cpuUsPerRequest: number;
  /** Load-generator CPU (HTTP driver plus swarm workers) in % of one core. */
  loadBusy: number;
  delivered: number;
  expected: number;
}

/** Waits until the swarm heard `expected` events (or a bound passed), then lets stragglers and duplicates show. */
export async function settle(pool: SwarmPool, event: string, expected: number): Promise<void> {
  await pool.waitFor(event, expected, 15_000 + expected / 10);
  await sleep(200);
}

/** User+system CPU µs of each server so far. */
async function serverCpuUs(servers: readonly ServerProcess[]): Promise<number[]> {
  return Promise.all(servers.map(async (server) => cpuUs({ cpuUserUs: 0, cpuSystemUs: 0 }, await server.stats())));
}

/** Runs one warm-up and one measured maximum-rate phase; problems go to `failures`. */
export async function burst(options: BurstOptions, failures: string[]): Promise<BurstFigures> {
  const fail = (message: string | undefined): void => {
    if (message) failures.push(`${options.label}: ${message}`);
  };
  const load = (amount: number, event: string, maxMs: number) =>
    runHttpLoad({
      baseUrl: options.url,
      headers: options.headers,
      ...(options.method && { method: options.method }),
      connections: options.connections,
      amount,
      request: (i) => options.request(i, event),
      maxMs,
    });

  // Unmeasured warm-up, so JIT compilation and first-touch allocation do not land in one target's figures more than another's.
  const warmup = await load(Math.max(options.connections, Math.min(5000, Math.round(options.amount / 10))), options.warmupEvent, 60_000);
  if (warmup.non2xx || warmup.errors) fail(`warm-up: ${warmup.non2xx} non-2xx, ${warmup.errors} errors`);
  if (options.pool) {
    await settle(options.pool, options.warmupEvent, warmup.ok * options.deliveriesPerRequest);
    await options.pool.reset();
  }

  await options.beforeMeasuring?.();
  const stopProfiles = await profileServers(options.profileDir, options.servers, options.label);
  const cpuBefore = await serverCpuUs(options.servers);
  const harnessCpu = process.cpuUsage();
  const started = preciseNow();
  const result = await load(options.amount, options.event, 120_000);
  await stopProfiles();
  if (result.non2xx || result.errors || result.stopped)
    fail(`max rate: ${result.non2xx} non-2xx, ${result.errors} errors${result.stopped ? ', stopped by time bound' : ''}`);
  const loadCpu = ownCpuUs(harnessCpu);
  const expected = result.ok * options.deliveriesPerRequest;
  const figures: BurstFigures = {
    ok: result.ok,
    rps: result.rps,
    httpP50: result.p50Ms,
    httpP99: result.p99Ms,
    elapsedMs: result.elapsedMs,
    deliveriesPerSec: Number.NaN,
    cpuUsPerDelivery: Number.NaN,
    cpuUsPerRequest: Number.NaN,
    loadBusy: loadCpu / 10 / result.elapsedMs,
    delivered: expected,
    expected,
  };
  const serverCpu = async (): Promise<number> => {
    const after = await serverCpuUs(options.servers);
    return after.reduce((sum, us, i) => sum + us - cpuBefore[i]!, 0);
  };
  if (!options.pool) {
    figures.cpuUsPerRequest = (await serverCpu()) / Math.max(1, result.ok);
    figures.cpuUsPerDelivery = figures.cpuUsPerRequest;
    return figures;
  }

  await settle(options.pool, options.event, expected);
  const heard = await options.pool.report();
  const cpu = await serverCpu();
  figures.delivered = heard.counts[options.event] ?? 0;
  figures.loadBusy = (loadCpu + heard.cpuUs) / 10 / result.elapsedMs;
  fail(deliveryFailure('max rate', figures.delivered, expected));
  if (options.everySocketGetsAll && (heard.perSocketMin !== result.ok || heard.perSocketMax !== result.ok)) {
    fail(`a socket got ${heard.perSocketMin === result.ok ? heard.perSocketMax : heard.perSocketMin} of the ${result.ok} events every socket should get`);
  }
  fail(heard.unexpectedCloses > 0 ? `${heard.unexpectedCloses} sockets dropped` : undefined);
  figures.deliveriesPerSec = (figures.delivered / ((heard.lastAt[options.event] ?? Number.NaN) - started)) * 1000;
  figures.cpuUsPerDelivery = cpu / Math.max(1, figures.delivered);
  figures.cpuUsPerRequest = cpu / Math.max(1, result.ok);
  return figures;
}
