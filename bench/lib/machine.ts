import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { REPO_ROOT } from './server-process.js';

/** Facts about the run that a reader needs to compare figures. */
export interface MachineInfo {
  date: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  commit: string;
  /** Soft limit on open files for this process and its children. */
  fdLimit: number;
  /** Server core and load-generator core, or undefined when not pinned. */
  pinning: { server: number; load: number } | undefined;
}

function run(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Soft and hard RLIMIT_NOFILE of this process, from /proc (Node has no getrlimit). */
export function fdLimits(): { soft: number; hard: number } {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '')
      .split(/\s{2,}/)
      .slice(1, 3)
      .map((v) => (v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v)));
    if (soft && hard) return { soft, hard };
  } catch {
    // Not Linux: assume a common default and let the workloads clamp to it.
  }
  return { soft: 1024, hard: 1024 };
}

/** True when taskset exists and there are at least two cores to split. */
export function canPin(): boolean {
  return availableParallelism() >= 2 && run('taskset', ['-p', String(process.pid)]) !== undefined;
}

/** Gathers machine facts; `pinning` is whatever the harness decided. */
export function machineInfo(pinning: MachineInfo['pinning']): MachineInfo {
  const head = run('git', ['rev-parse', '--short=12', 'HEAD']) ?? 'unknown';
  // Only tracked changes count: untracked files of other work are not part of what ran.
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no']);
  return {
    date: new Date().toISOString(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    // cpus(), not availableParallelism(): the latter shrinks to 1 inside a pinned process.
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    commit: dirty ? `${head} (with uncommitted changes)` : head,
    fdLimit: fdLimits().soft,
    pinning,
  };
}
