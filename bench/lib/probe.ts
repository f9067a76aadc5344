/**
 * Preloaded into every server under test (`node --import tsx --import
 * bench/lib/probe.ts <entry>`), so memory and CPU are read the same way for
 * baselines and for the gateway without the gateway exposing anything.
 * Answers `{ probe: 'stats', gc }` on the IPC channel with process figures,
 * `{ probe: 'profile' }` by starting or stopping the CPU profiler, and
 * `{ probe: 'pauses' }` by starting or ending a window of event-loop delay
 * and GC pause recording (see pauses.ts).
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { PauseMonitor } from './pauses.js';

/** What a server reports about itself. */
export interface ProbeStats {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Total V8 heap including code and maps, from v8.getHeapStatistics(). */
  totalHeapSize: number;
  cpuUserUs: number;
  cpuSystemUs: number;
}

interface ProbeRequest {
  probe: 'stats';
  id: number;
  gc?: boolean;
}

/** Starts the V8 CPU profiler, or stops it and writes the profile to `file`. */
interface ProfileRequest {
  probe: 'profile';
  id: number;
  file?: string;
}

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

/** Profiles only the measured phase (unlike `node --cpu-prof`, which includes start-up and connects). */
function profile(message: ProfileRequest): void {
  const answer = (error?: Error | null): void => void process.send?.({ probe: 'profile', id: message.id, error: error?.message });
  if (message.file === undefined) {
    session = new Session();
    session.connect();
    session.post('Profiler.enable', () => session!.post('Profiler.setSamplingInterval', { interval: 100 }, () => session!.post('Profiler.start', answer)));
    return;
  }
  const file = message.file;
  session?.post('Profiler.stop', (error, result) => {
    if (!error) writeFileSync(file, JSON.stringify(result.profile));
    session?.disconnect();
    session = undefined;
    answer(error);
  });
}

if (process.send) {
  process.on('message', (message: unknown) => {
    if (isProfileRequest(message)) return profile(message);
    if (isPausesRequest(message)) return recordPauses(message);
    if (!isProbeRequest(message)) return;
    const collect = (globalThis as { gc?: () => void }).gc;
    if (message.gc && collect) {
      // Twice: the first pass may only promote what the second can free.
      collect();
      collect();
    }
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    const stats: ProbeStats = {
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      external: memory.external,
      arrayBuffers: memory.arrayBuffers,
      totalHeapSize: getHeapStatistics().total_heap_size,
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
    };
    process.send?.({ probe: 'stats', id: message.id, stats });
  });
  // The channel must not keep a server alive that wants to exit on its own.
  process.channel?.unref();
  // A server whose harness died should not linger holding thousands of sockets.
  process.on('disconnect', () => process.exit(0));
}
