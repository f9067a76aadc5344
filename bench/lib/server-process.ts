import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ProfileKind } from './options.js';
import type { PauseFigures } from './pauses.js';
import type { ProbeStats } from './probe.js';

const PROBE = fileURLToPath(new URL('./probe.ts', import.meta.url));
/** Repository root: servers run from here so `src/main.ts` and `bench/...` resolve. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServerStartOptions {
  name: string;
  /** Entry script relative to the repository root, run with the tsx loader. */
  script: string;
  env: Record<string, string>;
  port: number;
  /** Core to pin the server to with taskset, or undefined to leave it free. */
  cpu: number | undefined;
  readyTimeoutMs: number;
  /** What startProfile() records. */
  profileKind?: ProfileKind;
}

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function httpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** The program a process runs, from /proc; undefined once it has exited. */
function executable(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** The probe's answer to a 'profile' or 'pauses' request. */
interface ProbeAnswer {
  probe?: string;
  id?: number;
  error?: string;
  pauses?: PauseFigures;
}

/** A server under test in its own (optionally pinned) process, with the probe preloaded. */
export class ServerProcess {
  private nextProbeId = 1;
  private output = '';
  private readonly afterStop: (() => void)[] = [];

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly profileKind: ProfileKind,
  ) {
    const keep = (chunk: Buffer): void => {
      // Only the tail matters for a failure message; the rest would grow without bound.
      this.output = (this.output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Spawns the server and resolves once it answers HTTP; throws with its output otherwise. */
  static async start(options: ServerStartOptions): Promise<ServerProcess> {
    const node = [process.execPath, '--expose-gc', '--import', 'tsx', '--import', PROBE, options.script];
    const command = options.cpu === undefined ? node : ['taskset', '-c', String(options.cpu), ...node];
    const child = spawn(command[0]!, command.slice(1), {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env, PORT: String(options.port) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const server = new ServerProcess(options.name, options.port, child, options.profileKind ?? 'cpu');
    const deadline = performance.now() + options.readyTimeoutMs;
    while (performance.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (await httpAnswers(options.port)) return server;
      await new Promise((r) => setTimeout(r, 100));
    }
    const output = server.output;
    await server.stop();
    throw new Error(`${options.name} did not start on port ${options.port}:\n${output}`);
  }

  /**
   * Reads the server's own memory and CPU figures, summed over its processes (a WORKERS primary and
   * its workers); `gc` collects garbage first in each. Rejects when the probe did not cover every
   * Node process of the tree /proc shows, so a figure never silently leaves one out. Other programs
   * in the tree are not the server's: tsx's loader starts an esbuild service when it compiles.
   */
  async stats(gc = false): Promise<ProbeStats> {
    const stats = await this.probeStats(gc);
    const covered = stats.processes.map((p) => p.pid).sort((a, b) => a - b);
    const tree = this.serverProcesses()?.sort((a, b) => a - b);
    if (tree && covered.join() !== tree.join())
      throw new Error(`${this.name}: the probe covered processes ${covered.join(', ')}, /proc shows ${tree.join(', ')}`);
    return stats;
  }

  private probeStats(gc: boolean): Promise<ProbeStats> {
    const id = this.nextProbeId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new Error(`${this.name} probe did not answer`));
      }, 10_000);
      const onMessage = (message: { probe?: string; id?: number; stats?: ProbeStats; error?: string }): void => {
        if (message.probe !== 'stats' || message.id !== id) return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        if (message.stats) resolve(message.stats);
        else reject(new Error(`${this.name} probe: ${message.error ?? 'no figures'}`));
      };
      this.child.on('message', onMessage);
      this.child.send({ probe: 'stats', id, gc });
    });
  }

  /**
   * The server's pid and every descendant's that runs Node (a WORKERS primary's workers), from the
   * parent pids in /proc (not every kernel has `task/<tid>/children`); undefined without /proc.
   */
  serverProcesses(): number[] | undefined {
    const children = new Map<number, number[]>();
    let entries: string[] = [];
    try {
      entries = readdirSync('/proc');
    } catch {
      // Not Linux: unknown.
      return undefined;
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // The parent pid is the second field after the parenthesised command name.
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
      } catch {
        // Exited between readdir and read.
      }
    }
    const tree = [this.pid];
    for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
    const node = realpathSync(process.execPath);
    return tree.filter((pid) => executable(pid) === node);
  }

  /** Starts the server's profiler, CPU or allocations (see probe.ts). */
  async startProfile(): Promise<void> {
    await this.ask({ probe: 'profile', kind: this.profileKind });
  }

  /** Stops the profiler and writes the profile to `stem` plus `.cpuprofile` or `.heapprofile`. */
  async stopProfile(stem: string): Promise<void> {
    await this.ask({ probe: 'profile', kind: this.profileKind, file: `${stem}.${this.profileKind === 'alloc' ? 'heapprofile' : 'cpuprofile'}` });
  }

  /** Starts recording the server's event-loop delay and GC pauses (see pauses.ts). */
  async startPauses(): Promise<void> {
    await this.ask({ probe: 'pauses' });
  }

  /** Ends the recording started by startPauses() and returns what it saw. */
  async stopPauses(): Promise<PauseFigures> {
    const answer = await this.ask({ probe: 'pauses', stop: true });
    if (!answer.pauses) throw new Error(`${this.name} probe sent no pause figures`);
    return answer.pauses;
  }

  private ask(request: { probe: 'profile'; kind: ProfileKind; file?: string } | { probe: 'pauses'; stop?: boolean }): Promise<ProbeAnswer> {
    const id = this.nextProbeId++;
    return new Promise((resolve, reject) => {
      const onMessage = (message: ProbeAnswer): void => {
        if (message.probe !== request.probe || message.id !== id) return;
        this.child.off('message', onMessage);
        if (message.error) reject(new Error(`${this.name} ${request.probe}: ${message.error}`));
        else resolve(message);
      };
      this.child.on('message', onMessage);
      this.child.send({ ...request, id });
    });
  }

  /** CPU time of the server's processes from /proc in ms, independent of the server's event loop; a cross-check of stats(). */
  procCpuMs(): number {
    let ticks = 0;
    for (const pid of this.serverProcesses() ?? [this.pid]) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return (ticks * 1000) / 100;
  }

  /** Last lines the server printed, for failure messages. */
  get recentOutput(): string {
    return this.output;
  }

  /** Runs `fn` once the process has exited through stop(), e.g. to remove its data folder. */
  onStopped(fn: () => void): void {
    this.afterStop.push(fn);
  }

  /** SIGTERM, then SIGKILL if the server lingers. */
  async stop(): Promise<void> {
    await this.terminate();
    for (const fn of this.afterStop.splice(0)) fn();
  }

  private async terminate(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
