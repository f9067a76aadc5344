/**
 * `npm run bench`: runs the workloads against the targets and writes
 * BENCHMARKS.md (or bench/out/BENCHMARKS.quick.md with --quick).
 *
 * Process layout: the harness re-executes itself once under a raised
 * `ulimit -n` and, on two or more cores, pinned to core 1 with taskset; the
 * light-client workers it forks inherit that core, and every server under
 * test is started on core 0. See bench/README.md.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selfCheck } from './client/self-check.js';
import { canPin, fdLimits, machineInfo } from './lib/machine.js';
import { parseOptions, USAGE, type BenchOptions } from './lib/options.js';
import { renderReport } from './lib/report.js';
import { REPO_ROOT } from './lib/server-process.js';
import { selectTargets } from './targets.js';
import { fanout } from './workloads/fanout.js';
import { idle } from './workloads/idle.js';
import { batch } from './workloads/batch.js';
import { cluster } from './workloads/cluster.js';
import { routing } from './workloads/routing.js';
import { conversation } from './workloads/conversation.js';
import { unicast } from './workloads/unicast.js';
import type { Workload, WorkloadOutcome } from './workloads/workload.js';

/** Every workload in report order. */
const WORKLOADS: readonly Workload[] = [unicast, fanout, idle, conversation, cluster, routing, batch];

const SERVER_CORE = 0;
const LOAD_CORE = 1;
/** Descriptors a process keeps for itself besides its sockets: stdio, epoll, listeners, IPC, files. */
const FD_RESERVE = 200;
const CHILD_MARK = 'BENCH_HARNESS_CHILD';

/**
 * Re-runs this script with the soft fd limit raised to the hard one and
 * pinned to the load core; resolves with the child's exit code.
 */
function reexec(pin: boolean): Promise<number> {
  const self = fileURLToPath(import.meta.url);
  const node = [process.execPath, '--import', 'tsx', self, ...process.argv.slice(2)];
  const command = pin ? ['taskset', '-c', String(LOAD_CORE), ...node] : node;
  // sh because Node cannot call setrlimit; a soft limit below the hard one is raised on the way.
  const child = spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...command], {
    stdio: 'inherit',
    env: { ...process.env, [CHILD_MARK]: pin ? 'pinned' : 'free' },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((done) => child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0))));
}

async function main(options: BenchOptions): Promise<number> {
  const pinned = process.env[CHILD_MARK] === 'pinned';
  const log = (line: string): void => console.log(`[bench] ${line}`);
  const unknown = options.only.filter((name) => !WORKLOADS.some((w) => w.name === name));
  if (unknown.length > 0) throw new Error(`unknown workload ${unknown.join(', ')}; known: ${WORKLOADS.map((w) => w.name).join(', ')}`);
  const workloads = WORKLOADS.filter((w) => options.only.length === 0 || options.only.includes(w.name));
  const { run: targets, skipped } = selectTargets(options.targets);
  for (const s of skipped) log(`target ${s.name} not run: ${s.reason}`);

  const machine = machineInfo(pinned ? { server: SERVER_CORE, load: LOAD_CORE } : undefined);
  log(
    `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, commit ${machine.commit}, ulimit -n ${machine.fdLimit}, ${pinned ? 'pinned' : 'not pinned'}`,
  );

  if (options.selfCheck) {
    const failures = await selfCheck((line) => log(line));
    if (failures.length > 0) {
      log('the light client failed its self-check; no figure would be trustworthy');
      return 1;
    }
  }

  const ctx = { options, targets, serverCpu: pinned ? SERVER_CORE : undefined, maxSocketsPerProcess: fdLimits().soft - FD_RESERVE, log };
  const outcomes: WorkloadOutcome[] = [];
  for (const workload of workloads) {
    log(`workload ${workload.name}`);
    outcomes.push(await workload.run(ctx));
  }

  const report = renderReport(machine, options, outcomes, skipped);
  const out = resolve(REPO_ROOT, options.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, report);
  console.log(`\n${report}`);
  log(`wrote ${out}`);
  const failures = outcomes.flatMap((o) => o.failures);
  if (failures.length > 0) log(`${failures.length} failure(s): the run is not valid`);
  return failures.length > 0 ? 1 : 0;
}

let options: BenchOptions | undefined;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  process.exit(2);
}
if (!options) {
  console.log(USAGE);
} else if (process.env[CHILD_MARK] === undefined) {
  process.exitCode = await reexec(options.pin && canPin());
} else {
  process.exitCode = await main(options).catch((error: unknown) => {
    console.error('[bench] aborted:', error);
    return 1;
  });
}
