/**
 * Summarises a profile of `npm run bench -- --cpu-prof <dir>` (`.cpuprofile`: time) or
 * `--alloc-prof <dir>` (`.heapprofile`: bytes allocated): the functions with the largest self share,
 * and the share per package, so a profile can be read without a browser. Time shares are of the
 * busy (non-idle) time; byte shares are of all bytes allocated.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile | file.heapprofile> [--top 30] [--inclusive]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}
interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
}

/** What was measured at one place: its stack (innermost first) and how much (µs or bytes). */
interface Weighed {
  stack: CallFrame[];
  weight: number;
}

/** `node_modules/<pkg>` (scoped too), `src/...`, `node:` internals, or the V8 pseudo-frames. */
function packageOf(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)';
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inModules) return inModules[1]!;
  if (url.startsWith('node:')) return 'node (internal)';
  const local = /\/(src|bench)\/(.*)$/.exec(url);
  return local ? `${local[1]}/${local[2]!.split('/')[0]}` : url;
}

/** The probe's own call that stops the profiler spans the wait for the stop, not work. */
const isProbe = (stack: readonly CallFrame[]): boolean => stack.some((frame) => frame.url.endsWith('/bench/lib/probe.ts'));

function cpuSamples(profile: CpuProfile): Weighed[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const out: Weighed[] = [];
  profile.samples.forEach((id, i) => {
    const stack: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) stack.push(byId.get(at)!.callFrame);
    if (stack.length > 0) out.push({ stack, weight: profile.timeDeltas[i] ?? 0 });
  });
  return out;
}

function heapSamples(profile: HeapProfile): Weighed[] {
  const out: Weighed[] = [];
  const walk = (node: HeapNode, above: CallFrame[]): void => {
    const stack = [node.callFrame, ...above];
    if (node.selfSize > 0) out.push({ stack, weight: node.selfSize });
    for (const child of node.children) walk(child, stack);
  };
  walk(profile.head, []);
  return out;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, inclusive: { type: 'boolean', default: false } },
});
if (positionals.length !== 1) {
  console.error('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile | file.heapprofile> [--top N] [--inclusive]');
  process.exit(2);
}
const parsed = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as CpuProfile | HeapProfile;
const bytes = 'head' in parsed;
const weighed = (bytes ? heapSamples(parsed) : cpuSamples(parsed)).filter((w) => !isProbe(w.stack));

const keyOf = ({ functionName, url, lineNumber }: CallFrame): string => {
  const file = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench)\//, '$1/');
  return `${functionName || '(anonymous)'}  ${file}${url ? `:${lineNumber + 1}` : ''}`;
};
// Inclusive: each sample counts once for every function on its stack (once only, however often it recurs).
const inclusive = new Map<string, number>();
const self = new Map<string, number>();
const packages = new Map<string, number>();
const add = (map: Map<string, number>, key: string, weight: number): void => void map.set(key, (map.get(key) ?? 0) + weight);
let total = 0;
for (const { stack, weight } of weighed) {
  const top = stack[0]!;
  total += weight;
  add(self, keyOf(top), weight);
  add(packages, packageOf(top.url, top.functionName), weight);
  if (!values.inclusive) continue;
  const seen = new Set<string>();
  for (const frame of stack) {
    if (frame.functionName === '(root)') continue;
    const key = keyOf(frame);
    if (seen.has(key)) continue;
    seen.add(key);
    add(inclusive, key, weight);
  }
}
const top = Number(values.top);
const idle = packages.get('(idle)') ?? 0;
packages.delete('(idle)');
self.delete('(idle)  ');
const busy = total - idle;
const share = (weight: number): string => `${((weight / busy) * 100).toFixed(1).padStart(5)}%`;
const what = bytes ? 'bytes allocated' : 'self time';
console.log(
  bytes
    ? `${(total / 1024 / 1024).toFixed(1)} MiB allocated (sampled); shares below are of that`
    : `${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (${((busy / total) * 100).toFixed(0)}%); shares below are of busy time`,
);
console.log(`\n${what} by package:`);
for (const [pkg, weight] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${share(weight)}  ${pkg}`);
console.log(`\n${what} by function:`);
for (const [fn, weight] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${share(weight)}  ${fn}`);
if (values.inclusive) {
  console.log(`\n${bytes ? 'bytes allocated' : 'total time'} by function (itself and what it calls):`);
  for (const [fn, weight] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${share(weight)}  ${fn}`);
}
