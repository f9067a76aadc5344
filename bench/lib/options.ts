import { parseArgs } from 'node:util';

/** Everything a run can be told from the command line. */
export interface BenchOptions {
  only: string[];
  targets: string[];
  quick: boolean;
  runs: number;
  pin: boolean;
  selfCheck: boolean;
  /** Measure at once, without waiting for a quiet machine or repeating disturbed runs (disturbances are still named). */
  noWait: boolean;
  /** Folder for profiles of every server's max-rate phases, or undefined. */
  profileDir: string | undefined;
  /** What those profiles record: CPU time (`.cpuprofile`) or, with `--alloc-prof`, allocations (`.heapprofile`). */
  profileKind: ProfileKind;
  out: string;
  /** Exact argv after `harness.ts`, for the report's reproduce lines. */
  argv: string[];
  sizes: Sizes;
}

export type ProfileKind = 'cpu' | 'alloc';

export interface Sizes {
  unicastUsers: number;
  unicastRequests: number;
  httpConnections: number;
  latencySeconds: number;
  /** Requests/s of the latency phase; 0 (the default): half of each target's own maximum rate. A fixed rate compares two trees' tails at the same load. */
  latencyRate: number;
  fanoutSockets: number;
  fanoutRounds: number;
  /** Characters added to the fan-out's payload (a `pad` field): 0 sends the standard notification of about 170 bytes. */
  fanoutPad: number;
  /**
   * Fan-out rounds before the measured ones, not counted: 1 warms the JIT up; 100 or more fills every
   * user's history to HISTORY_SIZE (100 by default), as on a gateway that has run for a while.
   */
  fanoutWarmup: number;
  idleSockets: number;
  conversationRequests: number;
  clusterRequests: number;
}

const FULL: Sizes = {
  unicastUsers: 1000,
  unicastRequests: 50_000,
  httpConnections: 50,
  // Long enough to hold the full collections V8 makes at half rate (every few seconds to every 20 s
  // or more, by target): in a 5 s window the p99 depended on whether one fell inside it
  // (BENCHMARKS.md, "The latency tail").
  latencySeconds: 20,
  latencyRate: 0,
  fanoutSockets: 10_000,
  fanoutRounds: 5,
  fanoutPad: 0,
  fanoutWarmup: 1,
  idleSockets: 20_000,
  conversationRequests: 20_000,
  clusterRequests: 20_000,
};
// Tiny on purpose: CI only checks that the harness still works, it times nothing.
const QUICK: Sizes = {
  unicastUsers: 20,
  unicastRequests: 400,
  httpConnections: 8,
  latencySeconds: 1,
  latencyRate: 0,
  fanoutSockets: 200,
  fanoutRounds: 2,
  fanoutPad: 0,
  fanoutWarmup: 1,
  idleSockets: 300,
  conversationRequests: 300,
  clusterRequests: 300,
};

const SIZE_FLAGS: Record<string, keyof Sizes> = {
  'unicast-users': 'unicastUsers',
  'unicast-requests': 'unicastRequests',
  connections: 'httpConnections',
  'latency-seconds': 'latencySeconds',
  'latency-rate': 'latencyRate',
  'fanout-sockets': 'fanoutSockets',
  'fanout-rounds': 'fanoutRounds',
  'fanout-pad': 'fanoutPad',
  'fanout-warmup': 'fanoutWarmup',
  'idle-sockets': 'idleSockets',
  'conversation-requests': 'conversationRequests',
  'cluster-requests': 'clusterRequests',
};

export const USAGE = `Usage: npm run bench -- [options]

  --only <w1,w2>          workloads to run (default: all): unicast, fanout, idle, conversation, cluster, routing, batch
  --targets <t1,t2>       servers to run (default: all but opt-in ones): raw-ws, fastify-hello, seed-style, gateway-live, gateway, gateway-workers2
  --quick                 tiny sizes, one run, a few seconds; writes bench/out/BENCHMARKS.quick.md
  --runs <n>              runs per figure; the report shows medians (default 3, quick 1)
  --out <file>            report path (default BENCHMARKS.md)
  --no-pin                do not pin server and load generator to separate cores
  --skip-self-check       do not verify the light client before measuring
  --no-wait               measure at once on a busy machine: no waiting for quiet, no repeats (A/B by CPU per message)
  --cpu-prof <dir>        CPU-profile each server during every max-rate phase (slows it), .cpuprofile files in <dir>
                          (summarise one with: node --import tsx bench/profile-summary.ts <file>)
  --alloc-prof <dir>      the same phases, profiling allocations instead (V8's sampling heap profiler, counting what
                          was already collected too), .heapprofile files in <dir>; profile-summary reads them too
${Object.entries(SIZE_FLAGS)
  .map(([flag, key]) => `  --${flag} <n>`.padEnd(26) + `default ${FULL[key]} (quick ${QUICK[key]})`)
  .join('\n')}
`;

/** The integer value of flag `--<flag>`, at least `min`; throws naming the flag otherwise. */
export function integerFlag(flag: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} needs ${min === 1 ? 'a positive integer' : `an integer of at least ${min}`}, got ${value}`);
  return n;
}

/** Parses argv; throws with a message on bad input, returns undefined for --help. */
export function parseOptions(argv: string[]): BenchOptions | undefined {
  const sizeOptions = Object.fromEntries(Object.keys(SIZE_FLAGS).map((flag) => [flag, { type: 'string' as const }]));
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      only: { type: 'string' },
      targets: { type: 'string' },
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      out: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'skip-self-check': { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      'alloc-prof': { type: 'string' },
      help: { type: 'boolean', default: false },
      ...sizeOptions,
    },
  });
  if (values.help) return undefined;
  if (values['cpu-prof'] !== undefined && values['alloc-prof'] !== undefined) throw new Error('--cpu-prof and --alloc-prof: one profile at a time');
  const quick = values.quick === true;
  const sizes: Sizes = { ...(quick ? QUICK : FULL) };
  for (const [flag, key] of Object.entries(SIZE_FLAGS)) {
    const raw = (values as Record<string, unknown>)[flag];
    if (typeof raw === 'string') sizes[key] = integerFlag(flag, raw);
  }
  const list = (raw: unknown): string[] =>
    typeof raw === 'string'
      ? raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  return {
    only: list(values.only),
    targets: list(values.targets),
    quick,
    runs: typeof values.runs === 'string' ? integerFlag('runs', values.runs) : quick ? 1 : 3,
    pin: values['no-pin'] !== true,
    selfCheck: values['skip-self-check'] !== true,
    noWait: values['no-wait'] === true,
    profileDir: values['cpu-prof'] ?? values['alloc-prof'],
    profileKind: values['alloc-prof'] === undefined ? 'cpu' : 'alloc',
    out: typeof values.out === 'string' ? values.out : quick ? 'bench/out/BENCHMARKS.quick.md' : 'BENCHMARKS.md',
    argv,
    sizes,
  };
}
