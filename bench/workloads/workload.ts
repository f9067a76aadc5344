import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SwarmPool } from '../client/swarm-pool.js';
import type { BenchOptions } from '../lib/options.js';
import type { ProbeStats } from '../lib/probe.js';
import { freePort, REPO_ROOT, ServerProcess } from '../lib/server-process.js';
import { waitForQuiet, watchInterference } from '../lib/interference.js';
import { median } from '../lib/stats.js';
import type { Target } from '../targets.js';

/** What every workload gets from the harness. */
export interface WorkloadContext {
  options: BenchOptions;
  /** Selected targets that can run here; each workload filters by capability. */
  targets: Target[];
  /** Core for servers under test, undefined when not pinned. */
  serverCpu: number | undefined;
  /** Most sockets one process may hold here, after room for its other descriptors. */
  maxSocketsPerProcess: number;
  log(line: string): void;
}

export interface Table {
  columns: string[];
  rows: string[][];
}

/** A workload's section of the report. */
export interface WorkloadOutcome {
  name: string;
  title: string;
  /** What is measured and how, in a sentence or two. */
  method: string;
  tables: Table[];
  notes: string[];
  /** Anything that makes the run invalid: lost or extra deliveries, HTTP errors, refused connects. */
  failures: string[];
  /** Command that reproduces the section's figures. */
  reproduce: string;
  /** Headline medians by subject (target) and figure, for the goals table. */
  figures?: Record<string, Record<string, number>>;
}

export interface Workload {
  name: string;
  title: string;
  run(ctx: WorkloadContext): Promise<WorkloadOutcome>;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The user ids a workload connects, stable across targets so routes and maps see the same keys. */
export function userIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `bench-user-${i}`);
}

/** A notification shaped like the seed's example, stamped with the send time for latency; `pad` characters longer when asked. */
export function payload(n: number, sentAt: number, pad = 0): string {
  return `{${pad > 0 ? `"pad":"${'x'.repeat(pad)}",` : ''}"title":"New Lead","message":"You have a new lead from John Doe","type":"lead_assigned","data":{"lead_id":"64lead${n}","lead_name":"John Doe"},"sentAt":${sentAt}}`;
}

/** Formats a number for a table cell with the given decimals; "–" for NaN. */
export function fmt(value: number, decimals = 0): string {
  if (!Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Compares delivered with expected; returns a failure message or undefined. */
export function deliveryFailure(what: string, delivered: number, expected: number): string | undefined {
  if (delivered === expected) return undefined;
  return delivered < expected
    ? `${what}: lost ${expected - delivered} of ${expected} deliveries`
    : `${what}: ${delivered - expected} deliveries more than the ${expected} expected`;
}

/** Connects one socket per user id, throwing when any fails: a partial swarm would skew every figure. */
export async function connectUsers(ctx: WorkloadContext, target: Target, url: string, ids: string[]): Promise<{ pool: SwarmPool; ms: number }> {
  const sockets = target.sockets!;
  const { pool, connect } = await SwarmPool.open({
    url,
    namespace: sockets.namespace,
    auths: ids.map((id) => sockets.auth(id)),
    perWorker: Math.min(10_000, ctx.maxSocketsPerProcess),
    concurrency: 64,
    timeoutMs: 15_000,
  });
  if (connect.failed > 0) {
    await pool.close();
    throw new Error(`${target.name}: ${connect.failed} of ${ids.length} sockets failed to connect (${connect.errors.join('; ')})`);
  }
  return { pool, ms: connect.ms };
}

/** Reproduce command for one workload with the sizes that matter to it. */
export function reproduce(ctx: WorkloadContext, workload: string, used: Target[], sizeFlags: string[]): string {
  const targets = used.map((t) => t.name).join(',');
  const flags = sizeFlags.join(' ');
  return `npm run bench -- --only ${workload} --targets ${targets} --runs ${ctx.options.runs}${flags ? ` ${flags}` : ''}`;
}

/** Starts a fresh server for one run, pinned if the harness pins, and always stops it. */
export async function withServer<T>(
  ctx: WorkloadContext,
  target: Target,
  fn: (server: ServerProcess) => Promise<T>,
  extraEnv: Record<string, string> = {},
): Promise<T> {
  const server = await startServer(ctx, target, extraEnv);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/**
 * Starts one server process of `target` on the server core (on every core when it is unpinned:
 * WORKERS=2 needs two). A target that keeps local state gets
 * a DATA_DIR of its own, removed when the server stops, so no run sees another's files.
 */
export async function startServer(ctx: WorkloadContext, target: Target, extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
  const dataDir = target.freshDataDir && extraEnv.DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), `bench-${target.name}-`)) : undefined;
  const env = { ...target.env, ...(dataDir && { DATA_DIR: dataDir }), ...extraEnv };
  const cleanup = (): void => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const server = await ServerProcess.start({
      name: target.name,
      script: target.script,
      env,
      port: await freePort(),
      cpu: target.unpinned ? undefined : ctx.serverCpu,
      readyTimeoutMs: 30_000,
      profileKind: ctx.options.profileKind,
    });
    server.onStopped(cleanup);
    return server;
  } catch (error) {
    cleanup();
    throw error;
  }
}

/** Numeric figures of one run: what the medians are taken over. */
export type Figures = { [key: string]: number };

/** The figures of every valid run, by subject, and the failures of all runs. */
export class RunResults<F extends Figures> {
  constructor(
    private readonly byName: Map<string, F[]>,
    readonly failures: string[],
    private readonly runs: number,
    /** Report notes on runs that other processes on the machine disturbed. */
    readonly disturbances: string[] = [],
  ) {}

  /** Median of one figure over the valid runs of `name`; NaN when there are none. */
  median(name: string, key: keyof F & string): number {
    return median((this.byName.get(name) ?? []).map((f) => f[key]!));
  }

  /** The figures of each valid run of `name`, in the order they ran. */
  each(name: string): readonly F[] {
    return this.byName.get(name) ?? [];
  }

  /** Sum of one figure over the valid runs of `name`. */
  sum(name: string, key: keyof F & string): number {
    return (this.byName.get(name) ?? []).reduce((n, f) => n + f[key]!, 0);
  }

  /** "valid/total" runs, for the table's last column. */
  ok(name: string): string {
    return `${this.byName.get(name)?.length ?? 0}/${this.runs}`;
  }
}

/** Other processes may use this much of a core, on average over a run, before the run is repeated. */
export const QUIET_PCT = 15;
/** Attempts per run before a disturbed one is kept (and said so in the report). */
const ATTEMPTS = 3;

/**
 * The run loop every workload shares: `runs` rounds, each measuring every subject once on a fresh
 * server, interleaved so machine drift spreads over all of them. A run that adds a failure (lost
 * delivery, HTTP error, dropped socket) or throws is left out of the medians. Each run starts once
 * other processes on the machine have been quiet for a few seconds (at most 3 minutes' wait); a run
 * during which they used more than QUIET_PCT % of a core anyway is measured again (up to ATTEMPTS
 * times); one still disturbed is kept and named in `disturbances`. `--quick` does neither.
 * `windowPct` names, from a run's figures, other processes' CPU during the window that matters
 * most to them (unicast's latency phase: a few seconds of a run that a whole-run average dilutes);
 * the run counts as disturbed when either the run or that window passed QUIET_PCT.
 */
export async function measureRuns<S extends { name: string }, F extends Figures>(
  ctx: WorkloadContext,
  workload: string,
  subjects: readonly S[],
  measure: (subject: S, failures: string[]) => Promise<F>,
  windowPct?: (figures: F) => number,
): Promise<RunResults<F>> {
  const { runs } = ctx.options;
  const failures: string[] = [];
  const disturbances: string[] = [];
  const results = new Map<string, F[]>(subjects.map((s) => [s.name, []]));
  for (let run = 1; run <= runs; run++) {
    for (const subject of subjects) {
      for (let attempt = 1; ; attempt++) {
        // A quick run times nothing (CI runs it beside other tests): no waiting, no repeating.
        if (!ctx.options.quick && !ctx.options.noWait) {
          const waited = await waitForQuiet(QUIET_PCT);
          if (waited > 4) ctx.log(`${workload}: waited ${waited.toFixed(0)} s for other processes to quiet down`);
        }
        ctx.log(`${workload}: ${subject.name} run ${run}/${runs}${attempt > 1 ? ` (attempt ${attempt})` : ''}`);
        const attemptFailures: string[] = [];
        const watch = watchInterference();
        let figures: F | undefined;
        try {
          figures = await measure(subject, attemptFailures);
        } catch (error) {
          attemptFailures.push(`${subject.name}: ${error instanceof Error ? error.message : String(error)}`);
        }
        const other = watch.stop();
        const inWindow = figures && windowPct ? windowPct(figures) : Number.NaN;
        const windowDisturbed = inWindow > QUIET_PCT;
        const disturbed = !ctx.options.quick && (other.averagePct > QUIET_PCT || windowDisturbed);
        const how = `${other.averagePct.toFixed(0)}% of a core on average${windowDisturbed ? `, ${inWindow.toFixed(0)}% in its most sensitive phase` : ''}`;
        if (disturbed) ctx.log(`${workload}: ${subject.name} run ${run}: other processes used ${how} (${other.who.join('; ')})`);
        if (disturbed && attempt < ATTEMPTS && !ctx.options.noWait) continue;
        if (disturbed)
          disturbances.push(
            `${subject.name} run ${run} was measured while other processes used ${how} (after ${ctx.options.noWait ? '1 attempt: --no-wait' : `${ATTEMPTS} attempts`}).`,
          );
        failures.push(...attemptFailures);
        if (attemptFailures.length === 0 && figures) results.get(subject.name)!.push(figures);
        break;
      }
    }
  }
  return new RunResults(results, failures, runs, disturbances);
}

/**
 * With `--cpu-prof <dir>` (or `--alloc-prof <dir>`), starts the CPU (or allocation) profiler in every
 * server and returns what stops it and writes one `<label>-<i>-<time>.cpuprofile` (`.heapprofile`)
 * per server into `dir`; without, does nothing.
 */
export async function profileServers(dir: string | undefined, servers: readonly ServerProcess[], label: string): Promise<() => Promise<void>> {
  if (!dir) return async () => undefined;
  await Promise.all(servers.map((s) => s.startProfile()));
  return async () => {
    const folder = resolve(REPO_ROOT, dir);
    mkdirSync(folder, { recursive: true });
    const stamp = Date.now();
    await Promise.all(servers.map((s, i) => s.stopProfile(join(folder, `${label.replace(/[^\w.-]+/g, '_')}-${i}-${stamp}`))));
  };
}

/** Server CPU time in µs between two probe readings. */
export function cpuUs(before: { cpuUserUs: number; cpuSystemUs: number }, after: { cpuUserUs: number; cpuSystemUs: number }): number {
  return after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs;
}

/** CPU µs this (harness) process used since `since`. */
export function ownCpuUs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

/**
 * The note of each unpinned target (WORKERS=2) in `targets`, with what its `figure` comes to
 * against the target it is set against, e.g. "req/s: 1.40× gateway's".
 */
export function unpinnedNotes(targets: readonly Target[], figure: (name: string) => number, what: string): string[] {
  return targets.flatMap((t) => {
    if (!t.unpinned) return [];
    const { note, versus } = t.unpinned;
    const ratio = targets.some((v) => v.name === versus) ? figure(t.name) / figure(versus) : Number.NaN;
    return [Number.isFinite(ratio) ? `${note} ${what}: ${fmt(ratio, 2)}× ${versus}'s.` : note];
  });
}

/** How a WORKERS primary placed the sockets: the fewest and the most TCP connections one worker held (NaN outside a cluster). */
export function workerSockets(stats: ProbeStats): { fewestPerWorker: number; mostPerWorker: number } {
  const workers = stats.processes.slice(1).map((p) => p.tcpSockets);
  if (workers.length === 0) return { fewestPerWorker: Number.NaN, mostPerWorker: Number.NaN };
  return { fewestPerWorker: Math.min(...workers), mostPerWorker: Math.max(...workers) };
}

/** For each unpinned target, how its primary spread `sockets` over the workers (medians of workerSockets()). */
export function workerSocketNotes(
  targets: readonly Target[],
  sockets: number,
  figure: (name: string, key: 'fewestPerWorker' | 'mostPerWorker') => number,
): string[] {
  return targets.flatMap((t) => {
    if (!t.unpinned) return [];
    const fewest = figure(t.name, 'fewestPerWorker');
    const most = figure(t.name, 'mostPerWorker');
    if (!Number.isFinite(fewest)) return [];
    return [
      `${t.name}: of the ${fmt(sockets)} sockets, the workers held between ${fmt(fewest)} and ${fmt(most)} each (open TCP connections per worker process, \`process.getActiveResourcesInfo()\`, median over runs).`,
    ];
  });
}

/** A note for targets whose load generator was nearly saturated, or nothing. */
export function saturationNote(busy: Map<string, number>): string[] {
  const hot = [...busy].filter(([, pct]) => pct >= 90);
  if (hot.length === 0) return [];
  return [
    `The load-generator core was ≥ 90 % busy for ${hot.map(([name, pct]) => `${name} (${pct.toFixed(0)} %)`).join(', ')}: that figure may be the client's limit, not the server's.`,
  ];
}
