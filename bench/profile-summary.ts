/**
 * Summarises a `.cpuprofile` (from `npm run bench -- --cpu-prof <dir>`): the functions with the
 * most self time, and self time per package, as shares of the busy (non-idle) time, so a profile
 * can be read without a browser.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
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

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, inclusive: { type: 'boolean', default: false } },
});
if (positionals.length !== 1) {
  console.error('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top N] [--inclusive]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
const keyOf = ({ functionName, url, lineNumber }: ProfileNode['callFrame']): string => {
  const file = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench)\//, '$1/');
  return `${functionName || '(anonymous)'}  ${file}${url ? `:${lineNumber + 1}` : ''}`;
};
const underProbe = (id: number): boolean => {
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) if (byId.get(at)!.callFrame.url.endsWith('/bench/lib/probe.ts')) return true;
  return false;
};
// Inclusive: each sample counts once for every function on its stack (once only, however often it recurs).
const inclusive = new Map<string, number>();
const self = new Map<string, number>();
const packages = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]!);
  if (!node) continue;
  // The probe's own call that stops the profiler: its one sample spans the wait for the stop, not work.
  if (underProbe(node.id)) continue;
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const { functionName, url } = node.callFrame;
  const key = keyOf(node.callFrame);
  self.set(key, (self.get(key) ?? 0) + dt);
  if (values.inclusive) {
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parentOf.get(id)) {
      const frame = byId.get(id)!.callFrame;
      if (frame.functionName === '(root)') continue;
      const k = keyOf(frame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
  const pkg = packageOf(url, functionName);
  packages.set(pkg, (packages.get(pkg) ?? 0) + dt);
}
const top = Number(values.top);
const idle = packages.get('(idle)') ?? 0;
packages.delete('(idle)');
self.delete('(idle)  ');
const busy = total - idle;
const share = (us: number): string => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
console.log(
  `${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (${((busy / total) * 100).toFixed(0)}%); shares below are of busy time\n\nself time by package:`,
);
for (const [pkg, us] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${share(us)}  ${pkg}`);
console.log('\nself time by function:');
for (const [fn, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${share(us)}  ${fn}`);
if (values.inclusive) {
  console.log('\ntotal time by function (itself and what it calls):');
  for (const [fn, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${share(us)}  ${fn}`);
}
