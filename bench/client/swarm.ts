import { LightSocket, type SocketSink } from './light-socket.js';

/** What a swarm heard since its last reset; plain data so it crosses IPC. */
export interface SwarmReport {
  sockets: number;
  connected: number;
  /** Socket closes seen after a successful connect: each one is a failure of the run. */
  unexpectedCloses: number;
  counts: Record<string, number>;
  firstAt: Record<string, number>;
  lastAt: Record<string, number>;
  /** Fewest and most events any one socket received since the last reset. */
  perSocketMin: number;
  perSocketMax: number;
  /** Publish→receive delays in ms, for events whose payload carried `sentAt`. */
  latencies: number[];
  /** CPU time this process spent from the last reset to (within 1 ms of) the last event, to show whether the receiving side was saturated. */
  cpuUs: number;
}

export interface SwarmConnectOptions {
  url: string;
  namespace: string;
  /** One entry per socket; socket i connects with auths[i]. */
  auths: Record<string, unknown>[];
  /** Handshakes in flight at once: a thundering herd would measure the listen backlog, not the server. */
  concurrency: number;
  timeoutMs: number;
}

export interface SwarmConnectResult {
  connected: number;
  failed: number;
  /** A few distinct error messages, enough to diagnose without flooding IPC. */
  errors: string[];
  ms: number;
}

/** Latency samples kept per reset; beyond this the report would dwarf the measurement. */
const MAX_LATENCY_SAMPLES = 1_000_000;

/** Many light sockets in one process, with tallies shared through one sink. */
export class Swarm implements SocketSink {
  private sockets: LightSocket[] = [];
  private counts = new Map<string, number>();
  private firstAt = new Map<string, number>();
  private lastAt = new Map<string, number>();
  private latencies: number[] = [];
  private baseline = new Uint32Array(0);
  private unexpectedCloses = 0;
  private closing = false;
  private cpuAtReset = process.cpuUsage();
  private cpuAtLastEvent = this.cpuAtReset;
  private cpuSampledAt = 0;

  onEvent(_socket: LightSocket, event: string, sentAt: number, receivedAt: number): void {
    const count = this.counts.get(event);
    if (count === undefined) {
      this.counts.set(event, 1);
      this.firstAt.set(event, receivedAt);
    } else {
      this.counts.set(event, count + 1);
    }
    this.lastAt.set(event, receivedAt);
    // getrusage per event would cost more than the event; once a millisecond is precise enough.
    if (receivedAt - this.cpuSampledAt >= 1) {
      this.cpuSampledAt = receivedAt;
      this.cpuAtLastEvent = process.cpuUsage();
    }
    if (!Number.isNaN(sentAt) && this.latencies.length < MAX_LATENCY_SAMPLES) {
      this.latencies.push(receivedAt - sentAt);
    }
  }

  onClose(): void {
    if (!this.closing) this.unexpectedCloses++;
  }

  /** Opens every socket with bounded concurrency; failures are counted, not thrown. */
  async connect(options: SwarmConnectOptions): Promise<SwarmConnectResult> {
    const started = performance.now();
    const errors = new Set<string>();
    let next = 0;
    let connected = 0;
    let failed = 0;
    const lane = async (): Promise<void> => {
      while (next < options.auths.length) {
        const index = this.sockets.length;
        const auth = options.auths[next++] ?? {};
        const socket = new LightSocket(index, { url: options.url, namespace: options.namespace, auth, connectTimeoutMs: options.timeoutMs }, this);
        this.sockets.push(socket);
        try {
          await socket.connect(options.timeoutMs);
          connected++;
        } catch (error) {
          failed++;
          if (errors.size < 5) errors.add(error instanceof Error ? error.message : String(error));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, lane));
    this.reset();
    return { connected, failed, errors: [...errors], ms: performance.now() - started };
  }

  /** Number of events named `event` received since the last reset. */
  count(event: string): number {
    return this.counts.get(event) ?? 0;
  }

  /** Forgets tallies so the next phase starts from zero. */
  reset(): void {
    this.counts.clear();
    this.firstAt.clear();
    this.lastAt.clear();
    this.latencies = [];
    this.baseline = Uint32Array.from(this.sockets, (s) => s.received);
    this.cpuAtReset = process.cpuUsage();
    this.cpuAtLastEvent = this.cpuAtReset;
    this.cpuSampledAt = 0;
  }

  /** Summarises what was heard since the last reset. */
  report(): SwarmReport {
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    let connected = 0;
    const cpu = process.cpuUsage(this.cpuAtReset);
    if (this.counts.size > 0) {
      cpu.user = this.cpuAtLastEvent.user - this.cpuAtReset.user;
      cpu.system = this.cpuAtLastEvent.system - this.cpuAtReset.system;
    }
    for (const socket of this.sockets) {
      if (socket.connected) connected++;
      const got = socket.received - (this.baseline[socket.index] ?? 0);
      if (got < min) min = got;
      if (got > max) max = got;
    }
    return {
      sockets: this.sockets.length,
      connected,
      unexpectedCloses: this.unexpectedCloses,
      counts: Object.fromEntries(this.counts),
      firstAt: Object.fromEntries(this.firstAt),
      lastAt: Object.fromEntries(this.lastAt),
      perSocketMin: this.sockets.length === 0 ? 0 : min,
      perSocketMax: max,
      latencies: this.latencies,
      cpuUs: cpu.user + cpu.system,
    };
  }

  /** Drops every connection abruptly; closes after this are expected. */
  close(): void {
    this.closing = true;
    for (const socket of this.sockets) socket.close();
    this.sockets = [];
  }
}
