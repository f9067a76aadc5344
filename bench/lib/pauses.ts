/**
 * Pauses of one process over a window: how late its event loop ran (perf_hooks'
 * monitorEventLoopDelay) and how long V8's garbage collector stopped it ('gc' performance
 * entries). A publish→receive latency includes every pause of the server that relays the event,
 * of the harness that stamps and sends the request, and of the swarm worker that reads it, so
 * the latency phase records them in all three to tell whose a tail is.
 */
import { readFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram, type PerformanceEntry } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics } from 'node:v8';

/** What one process (or the worst of several) paused during a window; plain data so it crosses IPC. */
export interface PauseFigures {
  /** Event-loop delay beyond the sampling timer's due time, in ms. */
  loopP99Ms: number;
  loopMaxMs: number;
  gcCount: number;
  /** Collections that stop the whole heap (mark-compact), the ones that can last tens of ms. */
  gcMajorCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
  /**
   * Time the main thread was ready to run but waited for a CPU (Linux schedstat), in ms: a stall
   * that is not the process's own work but other processes taking its core. NaN where unreadable.
   */
  runQueueWaitMs: number;
  /**
   * Bytes the process allocated on the V8 heap during the window: what each collection found in
   * use before it ran, less what the one before left, summed. Unlike time, this hardly depends on
   * how busy the machine was, so it shows a change in garbage per request that throughput noise
   * hides.
   */
  allocatedBytes: number;
}

/** One collection as v8.GCProfiler reports it (the fields used here). */
export interface GcRecord {
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

/** Bytes allocated between `usedAtStart` and `usedAtEnd` with these collections in between. */
export function allocatedBetween(usedAtStart: number, collections: readonly GcRecord[], usedAtEnd: number): number {
  let allocated = 0;
  let used = usedAtStart;
  for (const { beforeGC, afterGC } of collections) {
    allocated += Math.max(0, beforeGC.heapStatistics.usedHeapSize - used);
    used = afterGC.heapStatistics.usedHeapSize;
  }
  return allocated + Math.max(0, usedAtEnd - used);
}

/** Run-queue wait of the calling thread so far, in ns (second field of schedstat); NaN off Linux. */
function runQueueWaitNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[1]);
  } catch {
    return Number.NaN;
  }
}

/**
 * Sampling period of the event-loop delay monitor. A stall is seen to within this much, and the
 * native timer behind it costs a few hundred wake-ups a second, cheap beside the thousands of
 * requests and events per second the latency phase moves.
 */
const RESOLUTION_MS = 5;

const NS_PER_MS = 1e6;

/** Records pauses from start() to stop(); one window at a time. */
export class PauseMonitor {
  private histogram: IntervalHistogram | undefined;
  private observer: PerformanceObserver | undefined;
  private gcCount = 0;
  private gcMajorCount = 0;
  private gcTotalMs = 0;
  private gcMaxMs = 0;
  private waitAtStartNs = Number.NaN;
  private gcProfiler: GCProfiler | undefined;
  private usedAtStart = 0;

  /** Starts a new window, discarding one still open. */
  start(): void {
    this.close();
    this.gcCount = 0;
    this.gcMajorCount = 0;
    this.gcTotalMs = 0;
    this.gcMaxMs = 0;
    this.waitAtStartNs = runQueueWaitNs();
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.onGc(entry);
    });
    this.observer.observe({ entryTypes: ['gc'] });
    this.gcProfiler = new GCProfiler();
    this.usedAtStart = getHeapStatistics().used_heap_size;
    this.gcProfiler.start();
  }

  /** Ends the window and returns what it saw; zeros when none was started. */
  stop(): PauseFigures {
    // Entries still buffered in the observer would otherwise be lost with it.
    for (const entry of this.observer?.takeRecords() ?? []) this.onGc(entry);
    const histogram = this.histogram;
    const collections = this.gcProfiler?.stop().statistics ?? [];
    const allocatedBytes = this.gcProfiler ? allocatedBetween(this.usedAtStart, collections, getHeapStatistics().used_heap_size) : 0;
    this.gcProfiler = undefined;
    const figures: PauseFigures = {
      // With no sample yet (a window shorter than RESOLUTION_MS) the histogram reports huge sentinels.
      loopP99Ms: histogram && histogram.count > 0 ? histogram.percentile(99) / NS_PER_MS : 0,
      loopMaxMs: histogram && histogram.count > 0 ? histogram.max / NS_PER_MS : 0,
      gcCount: this.gcCount,
      gcMajorCount: this.gcMajorCount,
      gcTotalMs: this.gcTotalMs,
      gcMaxMs: this.gcMaxMs,
      runQueueWaitMs: (runQueueWaitNs() - this.waitAtStartNs) / NS_PER_MS,
      allocatedBytes,
    };
    this.close();
    return figures;
  }

  private onGc(entry: PerformanceEntry): void {
    this.gcCount++;
    this.gcTotalMs += entry.duration;
    this.gcMaxMs = Math.max(this.gcMaxMs, entry.duration);
    // `detail.kind` (Node ≥ 16) says which collector ran; the types here predate it.
    if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.gcMajorCount++;
  }

  private close(): void {
    this.histogram?.disable();
    this.histogram = undefined;
    this.observer?.disconnect();
    this.observer = undefined;
    this.gcProfiler?.stop();
    this.gcProfiler = undefined;
  }
}

/** The worst of several processes' windows: highest delays and longest pause, GC counts and time added up. */
export function worstPauses(parts: readonly PauseFigures[]): PauseFigures {
  return {
    loopP99Ms: Math.max(0, ...parts.map((p) => p.loopP99Ms)),
    loopMaxMs: Math.max(0, ...parts.map((p) => p.loopMaxMs)),
    gcCount: parts.reduce((n, p) => n + p.gcCount, 0),
    gcMajorCount: parts.reduce((n, p) => n + p.gcMajorCount, 0),
    gcTotalMs: parts.reduce((n, p) => n + p.gcTotalMs, 0),
    gcMaxMs: Math.max(0, ...parts.map((p) => p.gcMaxMs)),
    runQueueWaitMs: Math.max(0, ...parts.map((p) => p.runQueueWaitMs)),
    allocatedBytes: parts.reduce((n, p) => n + p.allocatedBytes, 0),
  };
}
