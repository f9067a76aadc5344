/**
 * Other people's work on the same machine (a compiler, a test suite) takes CPU from the server or
 * the load generator and skews a figure without failing anything. The watcher samples every
 * process once a second and adds up the CPU of those that are not part of the benchmark: not
 * started from this repository (their working directory is elsewhere), and not the PostgreSQL or
 * Redis servers the workloads use. Linux only; elsewhere it reports nothing.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { REPO_ROOT } from './server-process.js';

const TICKS_PER_SECOND = 100;
/** The services the workloads use; PostgreSQL backends retitle themselves `postgres: 15/main: ...`. */
const SERVICES = /^(\S*\/)?(postgres|redis-server)\b/;

interface Sample {
  at: number;
  ticks: Map<number, number>;
}

function isOurs(pid: number): boolean {
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    if (cwd === REPO_ROOT.replace(/\/$/, '') || cwd.startsWith(REPO_ROOT)) return true;
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return SERVICES.test(command);
  } catch {
    // Gone, or not ours to read (a kernel thread): either way no one else's CPU we can see.
    return true;
  }
}

function sample(): Sample {
  const ticks = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return { at: performance.now(), ticks };
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]));
    } catch {
      // The process exited between readdir and read.
    }
  }
  return { at: performance.now(), ticks };
}

/** Watches the machine until stopped; `stop()` gives other processes' CPU in % of one core, averaged. */
export function watchInterference(): { stop(): { averagePct: number; peakPct: number; who: string[] } } {
  let last = sample();
  let otherTicks = 0;
  let peak = 0;
  const who = new Map<string, number>();
  const mine = new Map<number, boolean>();
  const tick = (): void => {
    const next = sample();
    let interval = 0;
    for (const [pid, ticks] of next.ticks) {
      const delta = ticks - (last.ticks.get(pid) ?? ticks);
      if (delta <= 0) continue;
      let ours = mine.get(pid);
      if (ours === undefined) {
        ours = isOurs(pid);
        mine.set(pid, ours);
      }
      if (ours) continue;
      interval += delta;
      try {
        const name = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim().slice(0, 80);
        who.set(name, (who.get(name) ?? 0) + delta);
      } catch {
        // Exited meanwhile.
      }
    }
    const seconds = (next.at - last.at) / 1000;
    if (seconds > 0) peak = Math.max(peak, (interval / TICKS_PER_SECOND / seconds) * 100);
    otherTicks += interval;
    last = next;
  };
  const started = performance.now();
  const timer = setInterval(tick, 1000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      tick();
      const seconds = (performance.now() - started) / 1000;
      const top = [...who]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([name]) => name);
      return { averagePct: seconds > 0 ? (otherTicks / TICKS_PER_SECOND / seconds) * 100 : 0, peakPct: peak, who: top };
    },
  };
}

/**
 * Waits until other processes have used less than `quietPct` % of a core for `quietSeconds` in a
 * row, or `maxSeconds` passed; resolves with the seconds waited. Starting a run in a quiet spell
 * wastes fewer attempts than measuring and repeating.
 */
export async function waitForQuiet(quietPct: number, quietSeconds = 3, maxSeconds = 180): Promise<number> {
  const started = performance.now();
  let quiet = 0;
  while ((performance.now() - started) / 1000 < maxSeconds) {
    const watch = watchInterference();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    quiet = watch.stop().averagePct < quietPct ? quiet + 1 : 0;
    if (quiet >= quietSeconds) break;
  }
  return (performance.now() - started) / 1000;
}
