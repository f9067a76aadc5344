/**
 * Preloaded into every server under test (`node --import tsx --import
 * bench/lib/probe.ts <entry>`), so memory and CPU are read the same way for
 * baselines and for the gateway without the gateway exposing anything.
 * Answers `{ probe: 'stats', gc }` on the IPC channel with process figures,
 * `{ probe: 'profile' }` by starting or stopping the CPU profiler, and
 * `{ probe: 'pauses' }` by starting or ending a window of event-loop delay
 * and GC pause recording (see pauses.ts).
 *
 * A `WORKERS=n` gateway is a tree: the primary the harness started, and the
 * workers it forks with `node:cluster`, which inherit the primary's
 * `--import` flags and so load this probe too. There the primary answers
 * with the sum over itself and every worker, asking each worker over the
 * cluster channel (the gateway's own handlers there ignore messages without
 * their `gs`, `type` or `source` field); a worker answers only its primary,
 * and leaves its channel and its shutdown to the gateway.
 */
import cluster from 'node:cluster';
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { PauseMonitor } from './pauses.js';

/** What one process reports about itself. */
export interface ProcessStats {
  pid: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Total V8 heap including code and maps, from v8.getHeapStatistics(). */
  totalHeapSize: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Open TCP handles (connections, not listeners): where a WORKERS primary placed the sockets. */
  tcpSockets: number;
}

/** What a server reports: every figure summed over its processes, and each process's own. */
export interface ProbeStats extends Omit<ProcessStats, 'pid'> {
  /** The process the harness started first, then its cluster workers. */
  processes: ProcessStats[];
}

/** How long the primary waits for a worker's figures before the harness hears of the failure. */
const WORKER_ANSWER_MS = 5000;

interface ProbeRequest {
  probe: 'stats';
  id: number;
  gc?: boolean;
}

/**
 * Starts the V8 CPU profiler (`kind` 'cpu') or the sampling heap profiler ('alloc'), or stops it
 * and writes the profile to `file`; in a WORKERS tree, every process's (a worker's to `file` with
 * `.worker<id>` before its extension).
 */
interface ProfileRequest {
  probe: 'profile';
  id: number;
  kind: 'cpu' | 'alloc';
  file?: string;
}

/**
 * One allocation sample per this many bytes on average: fine enough to rank the sites that make a
 * request's few tens of KiB, coarse enough not to slow the server much more than the CPU profiler.
 */
const ALLOC_SAMPLING_BYTES = 4096;

/** Starts a pause window, or (`stop`) ends it and answers with its figures. */
interface PausesRequest {
  probe: 'pauses';
  id: number;
  stop?: boolean;
}

function isProbeRequest(message: unknown): message is ProbeRequest {
  return typeof message === 'object' && message !== null && (message as { probe?: unknown }).probe === 'stats';
}

function isProfileRequest(message: unknown): message is ProfileRequest {
  return typeof message === 'object' && message !== null && (message as { probe?: unknown }).probe === 'profile';
}

function isPausesRequest(message: unknown): message is PausesRequest {
  return typeof message === 'object' && message !== null && (message as { probe?: unknown }).probe === 'pauses';
}

let session: Session | undefined;
const pauses = new PauseMonitor();

function recordPauses(message: PausesRequest): void {
  if (!message.stop) {
    pauses.start();
    process.send?.({ probe: 'pauses', id: message.id });
    return;
  }
  process.send?.({ probe: 'pauses', id: message.id, pauses: pauses.stop() });
}

/**
 * Profiles only the measured phase (unlike `node --cpu-prof`, which includes start-up and connects).
 * An allocation profile holds every sampled allocation with its stack, objects already collected
 * included, so short-lived garbage (most of a request's) is counted where it was made.
 */
function profile({ kind, file }: Pick<ProfileRequest, 'kind' | 'file'>, done: (error?: string) => void): void {
  const answer = (error?: Error | null): void => done(error?.message);
  const alloc = kind === 'alloc';
  if (file === undefined) {
    session = new Session();
    session.connect();
    if (alloc) {
      const sampling = { samplingInterval: ALLOC_SAMPLING_BYTES, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
      session.post('HeapProfiler.enable', () => session!.post('HeapProfiler.startSampling', sampling, answer));
    } else {
      session.post('Profiler.enable', () => session!.post('Profiler.setSamplingInterval', { interval: 100 }, () => session!.post('Profiler.start', answer)));
    }
    return;
  }
  const stopped = (error: Error | null, result: { profile: object }): void => {
    if (!error) writeFileSync(file, JSON.stringify(result.profile));
    session?.disconnect();
    session = undefined;
    answer(error);
  };
  if (alloc) session?.post('HeapProfiler.stopSampling', stopped);
  else session?.post('Profiler.stop', stopped);
}

/** This process's figures; `gc` collects garbage first. */
function ownStats(gc: boolean): ProcessStats {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) {
    // Twice: the first pass may only promote what the second can free.
    collect();
    collect();
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    pid: process.pid,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    totalHeapSize: getHeapStatistics().total_heap_size,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    tcpSockets: process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length,
  };
}

let nextWorkerAsk = 1;

/**
 * In a cluster primary: sends `request` (a `worker-…` probe message) to every live worker and
 * resolves with their answers (none outside a cluster); rejects when one does not answer in time.
 */
function askWorkers<Answer extends object>(request: { probe: string; [field: string]: unknown }): Promise<Answer[]> {
  const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker?.isConnected());
  return Promise.all(
    workers.map(
      (worker) =>
        new Promise<Answer>((resolve, reject) => {
          const id = nextWorkerAsk++;
          const done = (): void => {
            clearTimeout(timer);
            worker!.off('message', onMessage);
          };
          const timer = setTimeout(() => {
            done();
            reject(new Error(`worker ${worker!.process.pid} did not answer the probe`));
          }, WORKER_ANSWER_MS);
          const onMessage = (message: Answer & { probe?: unknown; id?: unknown }): void => {
            if (message?.probe !== request.probe || message.id !== id) return;
            done();
            resolve(message);
          };
          worker!.on('message', onMessage);
          worker!.send({ ...request, id, worker: worker!.id }, (error: Error | null) => {
            if (!error) return;
            done();
            reject(error);
          });
        }),
    ),
  );
}

/** In a cluster primary: every live worker's figures (none outside a cluster). */
async function workersStats(gc: boolean): Promise<ProcessStats[]> {
  const answers = await askWorkers<{ stats?: ProcessStats }>({ probe: 'worker-stats', gc });
  return answers.map((answer) => {
    if (!answer.stats) throw new Error('a worker answered the probe without figures');
    return answer.stats;
  });
}

/** In a cluster primary: the same profile request for every live worker, each to a file of its own. */
async function workersProfile(message: ProfileRequest): Promise<string | undefined> {
  const answers = await askWorkers<{ error?: string }>({ probe: 'worker-profile', kind: message.kind, file: message.file });
  return answers.find((answer) => answer.error !== undefined)?.error;
}

/** `file` with `.worker<id>` before its extension. */
function workerFile(file: string, worker: number): string {
  const dot = file.lastIndexOf('.');
  return dot > file.lastIndexOf('/') ? `${file.slice(0, dot)}.worker${worker}${file.slice(dot)}` : `${file}.worker${worker}`;
}

/** Sums every figure over `processes`. */
function summed(processes: ProcessStats[]): ProbeStats {
  const sum = (key: Exclude<keyof ProcessStats, 'pid'>): number => processes.reduce((n, p) => n + p[key], 0);
  return {
    rss: sum('rss'),
    heapUsed: sum('heapUsed'),
    heapTotal: sum('heapTotal'),
    external: sum('external'),
    arrayBuffers: sum('arrayBuffers'),
    totalHeapSize: sum('totalHeapSize'),
    cpuUserUs: sum('cpuUserUs'),
    cpuSystemUs: sum('cpuSystemUs'),
    tcpSockets: sum('tcpSockets'),
    processes,
  };
}

if (cluster.isWorker) {
  // A worker's channel is its primary's: only answer it. Unref and exit-on-disconnect stay the gateway's business.
  process.on('message', (message: { probe?: unknown; id?: unknown; gc?: unknown; worker?: unknown; kind?: unknown; file?: unknown }) => {
    if (message?.probe === 'worker-profile' && (message.kind === 'cpu' || message.kind === 'alloc') && typeof message.worker === 'number') {
      const file = typeof message.file === 'string' ? workerFile(message.file, message.worker) : undefined;
      return profile({ kind: message.kind, file }, (error) =>
        process.send?.({ probe: 'worker-profile', id: message.id, error }, undefined, {}, () => undefined),
      );
    }
    if (message?.probe !== 'worker-stats') return;
    const stats = ownStats(message.gc === true);
    process.send?.({ probe: 'worker-stats', id: message.id, stats }, undefined, {}, () => undefined);
  });
} else if (process.send) {
  process.on('message', (message: unknown) => {
    if (isProfileRequest(message))
      return profile(message, (error) =>
        workersProfile(message).then(
          (workerError) => process.send?.({ probe: 'profile', id: message.id, error: error ?? workerError }),
          (failure: Error) => process.send?.({ probe: 'profile', id: message.id, error: failure.message }),
        ),
      );
    if (isPausesRequest(message)) return recordPauses(message);
    if (!isProbeRequest(message)) return;
    const gc = message.gc === true;
    const own = ownStats(gc);
    workersStats(gc).then(
      (workers) => process.send?.({ probe: 'stats', id: message.id, stats: summed([own, ...workers]) }),
      (error: Error) => process.send?.({ probe: 'stats', id: message.id, error: error.message }),
    );
  });
  // The channel must not keep a server alive that wants to exit on its own.
  process.channel?.unref();
  // A server whose harness died should not linger holding thousands of sockets.
  process.on('disconnect', () => process.exit(0));
}
