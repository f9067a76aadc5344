/**
 * The aims of issues 5, 11 and 15, computed from the medians the workloads report. They are what the gateway
 * aims at, not tests: the report shows each as measured against its goal, met or not.
 */
import type { WorkloadOutcome } from '../workloads/workload.js';

/** Looks up one median a workload reported (NaN when it did not). */
type FigureOf = (workload: string, subject: string, key: string) => number;

interface Goal {
  goal: string;
  /** Measured value shown in the table, or NaN when the figures are missing. */
  value(figure: FigureOf): number;
  /** How the value is shown, e.g. "84%" or "1.3×". */
  show(value: number): string;
  target: string;
  met(value: number): boolean;
}

const pct = (v: number): string => `${Math.round(v * 100)}%`;
const times = (v: number): string => `${v.toFixed(2)}×`;

/** A bound on a ratio: at least or at most so many times. */
type Bound = { readonly atLeast: number } | { readonly atMost: number };

/** A goal on what `subject` measured of `key` in `workload`, over what `base` measured of it. */
const ratio = (goal: string, workload: string, key: string, subject: string, base: string, bound: Bound): Goal => ({
  goal,
  value: (f) => f(workload, subject, key) / f(workload, base, key),
  show: times,
  target: 'atLeast' in bound ? `≥ ${bound.atLeast}×` : `≤ ${bound.atMost}×`,
  met: (v) => ('atLeast' in bound ? v >= bound.atLeast : v <= bound.atMost),
});

/** The aims, for the gateway as it ships and for it with streams off (HISTORY_SIZE=0, an option users choose). */
const aimsFor = (subject: string, label: string): Goal[] => [
  ratio(`Unicast req/s vs raw-ws (a), ${label}`, 'unicast', 'rps', subject, 'raw-ws', { atLeast: 0.8 }),
  ratio(`Unicast req/s vs seed-style (c), ${label}`, 'unicast', 'rps', subject, 'seed-style', { atLeast: 3 }),
  ratio(`Fan-out deliveries/s vs raw-ws (a), ${label}`, 'fanout', 'deliveriesPerSec', subject, 'raw-ws', { atLeast: 0.75 }),
  ratio(`Idle RSS per connection vs raw-ws (a), ${label}`, 'idle', 'rssPerConn', subject, 'raw-ws', { atMost: 1.5 }),
  {
    goal: `Publish→receive p99 at half the maximum rate, ${label}`,
    value: (f) => f('unicast', subject, 'e2eP99'),
    show: (v) => `${v.toFixed(2)} ms`,
    target: '≤ 5 ms',
    met: (v) => v <= 5,
  },
];

/**
 * Issue 15's floor: the gateway at least as lean as stock Socket.IO at its leanest (baseline (d),
 * socketio-bare), on which it is built; a run that shows one of these unmet shows a regression of ours.
 */
const leanAsSocketIo = (subject: string, label: string): Goal[] => [
  ratio(`Unicast req/s vs stock Socket.IO (d), ${label}`, 'unicast', 'rps', subject, 'socketio-bare', { atLeast: 1 }),
  ratio(`Fan-out deliveries/s vs stock Socket.IO (d), ${label}`, 'fanout', 'deliveriesPerSec', subject, 'socketio-bare', { atLeast: 1 }),
  ratio(`Idle RSS per connection vs stock Socket.IO (d), ${label}`, 'idle', 'rssPerConn', subject, 'socketio-bare', { atMost: 1 }),
];

/**
 * Issue 15's aims (issue 5's, with raw ws as the yardstick of unicast) and its floor, and issue 11's
 * bound on what streams cost.
 */
const GOALS: readonly Goal[] = [
  ...aimsFor('gateway', 'gateway (streams on, the default)'),
  ...aimsFor('gateway-live', 'gateway with streams off'),
  ...leanAsSocketIo('gateway', 'gateway (streams on, the default)'),
  ...leanAsSocketIo('gateway-live', 'gateway with streams off'),
  {
    goal: 'Unicast req/s with streams on vs off (issue 11: streams cost at most 30%)',
    value: (f) => f('unicast', 'gateway', 'rps') / f('unicast', 'gateway-live', 'rps'),
    show: pct,
    target: '≥ 70%',
    met: (v) => v >= 0.7,
  },
];

function figureOf(outcomes: readonly WorkloadOutcome[]): FigureOf {
  return (workload, subject, key) => outcomes.find((o) => o.name === workload)?.figures?.[subject]?.[key] ?? Number.NaN;
}

/** The goals table as Markdown rows (header included); empty when the gateway was not measured. */
export function goalRows(outcomes: readonly WorkloadOutcome[]): string[] {
  const figure = figureOf(outcomes);
  const rows = GOALS.map((g) => ({ g, v: g.value(figure) })).filter(({ v }) => Number.isFinite(v));
  if (rows.length === 0) return [];
  return [
    '| goal | measured | target | met |',
    '| --- | --- | --- | --- |',
    ...rows.map(({ g, v }) => `| ${g.goal} | ${g.show(v)} | ${g.target} | ${g.met(v) ? 'yes' : '**no**'} |`),
  ];
}

/** A figure set side by side for raw ws, stock Socket.IO and the gateway (see floorRows). */
interface Floor {
  what: string;
  workload: string;
  key: string;
  show(value: number): string;
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
const count = (value: number): string => Math.round(value).toLocaleString('en-US');

const SUBJECTS = ['raw-ws', 'socketio-bare', 'gateway-live', 'gateway'];

const FLOORS: readonly Floor[] = [
  { what: 'Unicast req/s', workload: 'unicast', key: 'rps', show: count },
  { what: 'Unicast server CPU µs per message', workload: 'unicast', key: 'cpuUsPerMessage', show: (v) => v.toFixed(1) },
  { what: 'Fan-out deliveries/s', workload: 'fanout', key: 'deliveriesPerSec', show: count },
  { what: 'Idle RSS per connection', workload: 'idle', key: 'rssPerConn', show: kib },
];

/**
 * Where the distance from raw ws goes: each figure for raw ws (a), for stock Socket.IO at its leanest
 * (d, socketio-bare) and for the gateway, with stock Socket.IO set against raw ws and the gateway set
 * against stock Socket.IO. What (d) loses to raw ws is Socket.IO's and Fastify's; what the gateway
 * loses (or wins) against (d) is its own. Empty unless (d) was measured.
 */
export function floorRows(outcomes: readonly WorkloadOutcome[]): string[] {
  const figure = figureOf(outcomes);
  const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) ? times(a / b) : '–');
  const shown = (floor: Floor, value: number): string => (Number.isFinite(value) ? floor.show(value) : '–');
  const rows = FLOORS.filter((f) => Number.isFinite(figure(f.workload, 'socketio-bare', f.key))).map((f) => {
    const [raw, bare, live, gateway] = SUBJECTS.map((subject) => figure(f.workload, subject, f.key)) as [number, number, number, number];
    return `| ${f.what} | ${shown(f, raw)} | ${shown(f, bare)} (${ratio(bare, raw)}) | ${shown(f, live)} (${ratio(live, bare)}) | ${shown(f, gateway)} (${ratio(gateway, bare)}) |`;
  });
  if (rows.length === 0) return [];
  return ['| figure | raw-ws (a) | socketio-bare (d), × raw-ws | gateway streams off, × (d) | gateway, × (d) |', '| --- | --- | --- | --- | --- |', ...rows];
}
