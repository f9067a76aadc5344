import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PauseFigures } from '../lib/pauses.js';
import type { SwarmConnectResult, SwarmReport } from './swarm.js';
import type { SwarmRequest, SwarmResponse } from './swarm-protocol.js';

const WORKER = fileURLToPath(new URL('./swarm-worker.ts', import.meta.url));

/** Distributive Omit, so each variant of the request union keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface SwarmPoolOptions {
  url: string;
  namespace: string;
  /** One auth payload per socket. */
  auths: Record<string, unknown>[];
  /** Sockets per child process; keep it well under `ulimit -n`. */
  perWorker: number;
  concurrency: number;
  timeoutMs: number;
}

class WorkerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: SwarmResponse) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(message.error));
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`swarm worker exited with ${code}`));
      this.pending.clear();
    });
  }

  call<T>(request: WithoutId<SwarmRequest>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...request, id } as SwarmRequest);
    });
  }
}

/** Light sockets spread over child processes, queried and merged as one swarm. */
export class SwarmPool {
  private constructor(private readonly workers: WorkerHandle[]) {}

  /** Forks enough workers for `auths.length` sockets and connects them all. */
  static async open(options: SwarmPoolOptions): Promise<{ pool: SwarmPool; connect: SwarmConnectResult }> {
    const count = Math.max(1, Math.ceil(options.auths.length / options.perWorker));
    const workers = Array.from(
      { length: count },
      () => new WorkerHandle(fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })),
    );
    const pool = new SwarmPool(workers);
    const share = Math.ceil(options.auths.length / count);
    const results = await Promise.all(
      workers.map((worker, i) =>
        worker.call<SwarmConnectResult>({
          op: 'connect',
          options: {
            url: options.url,
            namespace: options.namespace,
            auths: options.auths.slice(i * share, (i + 1) * share),
            concurrency: Math.max(1, Math.floor(options.concurrency / count)),
            timeoutMs: options.timeoutMs,
          },
        }),
      ),
    );
    const connect: SwarmConnectResult = {
      connected: results.reduce((n, r) => n + r.connected, 0),
      failed: results.reduce((n, r) => n + r.failed, 0),
      errors: [...new Set(results.flatMap((r) => r.errors))].slice(0, 5),
      ms: Math.max(...results.map((r) => r.ms)),
    };
    return { pool, connect };
  }

  /** One pool over the workers of several, e.g. sockets connected to different servers; closing it closes them all. */
  static combine(pools: readonly SwarmPool[]): SwarmPool {
    return new SwarmPool(pools.flatMap((p) => p.workers));
  }

  /** Total events named `event` across all workers since the last reset. */
  async count(event: string): Promise<number> {
    const counts = await Promise.all(this.workers.map((w) => w.call<number>({ op: 'count', event })));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Polls until `expected` events arrived or `timeoutMs` passed; returns the last total seen. */
  async waitFor(event: string, expected: number, timeoutMs: number, pollMs = 10): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const total = await this.count(event);
      if (total >= expected || performance.now() >= deadline) return total;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  async reset(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ op: 'reset' })));
  }

  /** Starts recording event-loop delay and GC pauses in every worker. */
  async startPauses(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ op: 'pauses', stop: false })));
  }

  /** Ends the recording started by startPauses(); one entry per worker. */
  stopPauses(): Promise<PauseFigures[]> {
    return Promise.all(this.workers.map((w) => w.call<PauseFigures>({ op: 'pauses', stop: true })));
  }

  /** Merges the reports of every worker. */
  async report(): Promise<SwarmReport> {
    const parts = await Promise.all(this.workers.map((w) => w.call<SwarmReport>({ op: 'report' })));
    const merged: SwarmReport = {
      sockets: 0,
      connected: 0,
      unexpectedCloses: 0,
      counts: {},
      firstAt: {},
      lastAt: {},
      perSocketMin: Number.POSITIVE_INFINITY,
      perSocketMax: 0,
      latencies: [],
      cpuUs: 0,
    };
    for (const part of parts) {
      merged.sockets += part.sockets;
      merged.connected += part.connected;
      merged.unexpectedCloses += part.unexpectedCloses;
      merged.cpuUs += part.cpuUs;
      for (const [event, n] of Object.entries(part.counts)) merged.counts[event] = (merged.counts[event] ?? 0) + n;
      for (const [event, t] of Object.entries(part.firstAt)) merged.firstAt[event] = Math.min(merged.firstAt[event] ?? t, t);
      for (const [event, t] of Object.entries(part.lastAt)) merged.lastAt[event] = Math.max(merged.lastAt[event] ?? t, t);
      if (part.sockets > 0) merged.perSocketMin = Math.min(merged.perSocketMin, part.perSocketMin);
      merged.perSocketMax = Math.max(merged.perSocketMax, part.perSocketMax);
      for (const l of part.latencies) merged.latencies.push(l);
    }
    if (merged.sockets === 0) merged.perSocketMin = 0;
    return merged;
  }

  /** Closes every socket, then lets the workers exit. */
  async close(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.call({ op: 'close' })));
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            const kill = setTimeout(() => w.child.kill('SIGKILL'), 5000);
            w.child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.child.disconnect();
          }),
      ),
    );
  }
}
