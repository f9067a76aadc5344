/**
 * What a server keeps per idle connection, object kind by object kind: heap snapshots of a target
 * at 0 and at N connected light sockets, their difference aggregated by constructor (objects),
 * function (closures) or V8 kind (strings, arrays, contexts...), divided by N. The idle workload
 * says how much; this says whose.
 *
 *   node --import tsx bench/heap-per-connection.ts --targets gateway,seed-style --sockets 2000
 *   node --import tsx bench/heap-per-connection.ts --targets gateway --env MALLOC_ARENA_MAX=2
 *
 * Options: --targets (names in targets.ts), --sockets (default 2000), --top (rows, default 20),
 * --env KEY=VALUE (repeatable; the server's environment only), --keep DIR (keep the snapshots),
 * --retainers (name each kind with what holds it), --memory-map (no snapshots: where the RSS grew,
 * by kind of mapping in /proc/<pid>/smaps: malloc's arenas, V8's pages, files), --stock-client
 * (socket.io-client sockets, long-polling then websocket, instead of light ones).
 * Snapshots are taken by the server itself on SIGUSR2 (`--heapsnapshot-signal` in its NODE_OPTIONS),
 * so nothing is added to the server's code; writing one forces a full GC first, and only reachable
 * objects are in it. Not pinned, one run: the kinds and counts are exact, the RSS line is indicative.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { selectTargets, type Target } from './targets.js';
import { parseOptions } from './lib/options.js';
import { io as connectStock, type Socket } from 'socket.io-client';
import { connectUsers, fmt, sleep, startServer, userIds, type WorkloadContext } from './workloads/workload.js';
import type { ServerProcess } from './lib/server-process.js';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Count and self size of the reachable objects of each kind. */
type Census = Map<string, { count: number; bytes: number }>;

const NAMELESS_TYPES = new Set(['string', 'concatenated string', 'sliced string', 'number', 'bigint', 'heap number']);

/**
 * Reads a `.heapsnapshot` and adds up its objects by kind; closures are named with their script.
 * With `retainers`, the kind also names what holds each object: the kind and edge of its first
 * retainer (`Object <- Socket.handshake`).
 */
function census(file: string, retainers: boolean): Census {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const { node_fields: nf, node_types: nt, edge_fields: ef, edge_types: et } = snap.snapshot.meta;
  const nodeTypes = nt[0];
  const edgeTypes = et[0];
  const N = nf.length;
  const E = ef.length;
  const [fType, fName, fSize, fEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f)) as [number, number, number];
  const { nodes, edges, strings } = snap;
  const firstEdge = new Uint32Array(nodes.length / N + 1);
  for (let i = 0, e = 0; i < nodes.length / N; i++) {
    firstEdge[i] = e;
    e += nodes[i * N + fEdges]! * E;
    firstEdge[i + 1] = e;
  }
  /** The node an edge named `name` of node `i` points to, or -1. */
  const follow = (i: number, name: string): number => {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += E) {
      const type = edgeTypes[edges[e + eType]!];
      if ((type === 'internal' || type === 'property') && strings[edges[e + eName]!] === name) return edges[e + eTo]! / N;
    }
    return -1;
  };
  /** `file:line` of a closure, through its SharedFunctionInfo and Script (best effort: snapshot layouts vary). */
  const whereIs = (i: number): string => {
    const shared = follow(i, 'shared');
    if (shared < 0) return '';
    let script = follow(shared, 'script');
    if (script < 0) script = follow(shared, 'script_or_debug_info');
    if (script < 0) return '';
    const name = follow(script, 'name');
    const url = name < 0 ? '' : strings[nodes[name * N + fName]!]!;
    return url
      .replace(/^file:\/\//, '')
      .replace(/^.*\/node_modules\//, '')
      .replace(/^.*\/(src|bench)\//, '$1/');
  };
  const kindOf = (i: number): string => {
    const type = nodeTypes[nodes[i * N + fType]!]!;
    const name = strings[nodes[i * N + fName]!]!;
    if (NAMELESS_TYPES.has(type)) return `(${type})`;
    if (type === 'closure') return `closure ${name || '(anonymous)'} ${whereIs(i)}`.trim();
    return `${type === 'object' ? '' : `${type} `}${name.length > 60 ? `${name.slice(0, 57)}...` : name}`;
  };
  const count = nodes.length / N;
  /** Per node, its first strong retainer's edge index + 1 (0: none). */
  const holder = new Uint32Array(retainers ? count : 0);
  const holderNode = new Uint32Array(retainers ? count : 0);
  if (retainers) {
    for (let i = 0; i < count; i++) {
      for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += E) {
        const type = edgeTypes[edges[e + eType]!];
        if (type === 'weak' || type === 'shortcut') continue;
        const to = edges[e + eTo]! / N;
        if (holder[to] === 0) {
          holder[to] = e + 1;
          holderNode[to] = i;
        }
      }
    }
  }
  const edgeName = (e: number): string => {
    const type = edgeTypes[edges[e + eType]!];
    const raw = edges[e + eName]!;
    if (type === 'element') return '[i]';
    return type === 'hidden' ? '[hidden]' : strings[raw]!;
  };
  const result: Census = new Map();
  for (let i = 0; i < count; i++) {
    let key = kindOf(i);
    if (retainers) key += holder[i] === 0 ? ' <- (none)' : ` <- ${kindOf(holderNode[i]!)}.${edgeName(holder[i]! - 1)}`;
    const entry = result.get(key);
    const size = nodes[i * N + fSize]!;
    if (entry) {
      entry.count++;
      entry.bytes += size;
    } else result.set(key, { count: 1, bytes: size });
  }
  return result;
}

/** Connected sockets, however they were made. */
interface Clients {
  connected(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Connects one socket per user: light sockets (bench/client/, websocket at once, as the idle
 * workload does), or with `stock`, socket.io-client ones as a browser connects, long-polling first
 * and then upgraded to a websocket (one at a time, in this process).
 */
async function connectClients(ctx: WorkloadContext, target: Target, url: string, count: number, stock: boolean): Promise<Clients> {
  if (!stock) {
    const { pool } = await connectUsers(ctx, target, url, userIds(count));
    return { connected: async () => (await pool.report()).connected, close: () => pool.close() };
  }
  const { namespace, auth } = target.sockets!;
  const sockets: Socket[] = [];
  for (const userId of userIds(count)) {
    const socket = connectStock(url + namespace, { auth: auth(userId), forceNew: true, reconnection: false });
    sockets.push(socket);
    await new Promise((resolve, reject) => socket.once('connect', () => resolve(undefined)).once('connect_error', reject));
    const { engine } = socket.io;
    if (engine.transport.name !== 'websocket') await new Promise((resolve) => engine.once('upgrade', resolve));
  }
  return {
    connected: async () => sockets.filter((s) => s.connected && s.io.engine.transport.name === 'websocket').length,
    async close() {
      for (const socket of sockets) socket.disconnect();
    },
  };
}

/** Sends SIGUSR2 and waits until the server has written the snapshot it starts. */
async function snapshot(server: ServerProcess, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(server.pid, 'SIGUSR2');
  for (;;) {
    await sleep(200);
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (file === undefined) continue;
    // The snapshot is written synchronously on the server's main thread: once it answers, the file is complete.
    await server.stats(false);
    return join(dir, file);
  }
}

/** Resident KiB of a process by kind of mapping, from /proc/<pid>/smaps. */
type MemoryMap = Map<string, number>;

/** glibc gives each thread's malloc arena a region of 64 MiB, aligned on it (HEAP_MAX_SIZE). */
const ARENA = 64 * 2 ** 20;

function memoryMap(pid: number): MemoryMap {
  const kinds: MemoryMap = new Map();
  let kind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (mapping) {
      const [, start = '0', , perms = '', path = ''] = mapping;
      if (path === '[heap]') kind = '[heap]: malloc, main arena';
      else if (path.startsWith('[')) kind = path;
      else if (path !== '') kind = 'files (code, data)';
      else if (perms.startsWith('rw') && Number.parseInt(start, 16) % ARENA === 0) kind = 'anonymous, 64 MiB-aligned: malloc, thread arenas';
      else kind = 'anonymous, other: V8 heap pages, large mallocs';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kinds.set(kind, (kinds.get(kind) ?? 0) + Number(rss[1]));
  }
  return kinds;
}

/** A workload context outside the harness: its default options, unpinned, logging to stdout. */
function standalone(): WorkloadContext {
  const options = parseOptions([]);
  if (!options) throw new Error('the harness refused its own defaults');
  return { options, targets: [], serverCpu: undefined, maxSocketsPerProcess: 10_000, log: (line) => console.log(line) };
}

/** Where the server's RSS grew per connection, without snapshots (writing one leaves memory behind). */
async function measureMemoryMap(target: Target, sockets: number, env: Record<string, string>, stock: boolean): Promise<void> {
  const ctx = standalone();
  const server = await startServer(ctx, target, env);
  try {
    await sleep(2000);
    const idle = await server.stats(true);
    const idleMap = memoryMap(server.pid);
    const clients = await connectClients(ctx, target, server.url, sockets, stock);
    try {
      await sleep(2000);
      const busy = await server.stats(true);
      const busyMap = memoryMap(server.pid);
      const perConn = (a: number, b: number): string => fmt((b - a) / sockets, 2);
      console.log(
        `\n## ${target.name}: ${fmt(sockets)} sockets${
          Object.keys(env).length
            ? ` (${Object.entries(env)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')})`
            : ''
        }\n`,
      );
      console.log('| figure | KiB/conn |');
      console.log('| --- | --- |');
      console.log(`| RSS | ${perConn(idle.rss / 1024, busy.rss / 1024)} |`);
      for (const kind of [...new Set([...idleMap.keys(), ...busyMap.keys()])].sort()) {
        const grown = (busyMap.get(kind) ?? 0) - (idleMap.get(kind) ?? 0);
        if (Math.abs(grown / sockets) >= 0.005) console.log(`| RSS in ${kind} | ${perConn(0, grown)} |`);
      }
      console.log(`| V8 heapTotal (committed) | ${perConn(idle.heapTotal / 1024, busy.heapTotal / 1024)} |`);
      console.log(`| V8 heapUsed | ${perConn(idle.heapUsed / 1024, busy.heapUsed / 1024)} |`);
      console.log(`| external (Buffers...) | ${perConn(idle.external / 1024, busy.external / 1024)} |`);
    } finally {
      await clients.close();
    }
  } finally {
    await server.stop();
  }
}

async function measure(
  target: Target,
  sockets: number,
  top: number,
  env: Record<string, string>,
  keep: string | undefined,
  retainers: boolean,
  stock: boolean,
): Promise<void> {
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'heap-per-connection-'));
  mkdirSync(dir, { recursive: true });
  const ctx = standalone();
  const server = await startServer(ctx, target, { ...env, NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}` });
  try {
    await sleep(2000);
    const idle = await server.stats(true);
    const empty = census(await snapshot(server, dir), retainers);
    const clients = await connectClients(ctx, target, server.url, sockets, stock);
    try {
      await sleep(2000);
      const busy = await server.stats(true);
      const connected = await clients.connected();
      const full = census(await snapshot(server, dir), retainers);
      const rows = [...new Set([...empty.keys(), ...full.keys()])]
        .map((key) => {
          const a = empty.get(key) ?? { count: 0, bytes: 0 };
          const b = full.get(key) ?? { count: 0, bytes: 0 };
          return { key, count: (b.count - a.count) / sockets, bytes: (b.bytes - a.bytes) / sockets };
        })
        .sort((x, y) => y.bytes - x.bytes);
      const total = rows.reduce((sum, r) => sum + r.bytes, 0);
      const per = (a: number, b: number): string => fmt((b - a) / sockets / 1024, 2);
      console.log(
        `\n## ${target.name}: ${fmt(connected)} of ${fmt(sockets)} sockets connected${
          Object.keys(env).length
            ? ` (${Object.entries(env)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')})`
            : ''
        }`,
      );
      console.log(
        `\nper connection: RSS ${per(idle.rss, busy.rss)} KiB, heapUsed ${per(idle.heapUsed, busy.heapUsed)} KiB, external ${per(idle.external, busy.external)} KiB; snapshot objects ${fmt(total / 1024, 2)} KiB\n`,
      );
      console.log('| object kind | objects/conn | bytes/conn |');
      console.log('| --- | --- | --- |');
      for (const r of rows.slice(0, top)) console.log(`| ${r.key.replaceAll('|', '\\|')} | ${fmt(r.count, 2)} | ${fmt(r.bytes)} |`);
      const rest = rows.slice(top).reduce((sum, r) => sum + r.bytes, 0);
      console.log(`| (the other ${fmt(rows.length - top)} kinds) | | ${fmt(rest)} |`);
    } finally {
      await clients.close();
    }
  } finally {
    await server.stop();
    if (keep === undefined) rmSync(dir, { recursive: true, force: true });
    else
      console.log(
        `\nsnapshots kept in ${dir}: ${readdirSync(dir)
          .map((f) => `${f} (${fmt(statSync(join(dir, f)).size / 2 ** 20)} MiB)`)
          .join(', ')}`,
      );
  }
}

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'gateway,seed-style' },
    sockets: { type: 'string', default: '2000' },
    top: { type: 'string', default: '20' },
    env: { type: 'string', multiple: true, default: [] },
    keep: { type: 'string' },
    retainers: { type: 'boolean', default: false },
    'memory-map': { type: 'boolean', default: false },
    'stock-client': { type: 'boolean', default: false },
  },
});
const env = Object.fromEntries(values.env.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
const { run, skipped } = selectTargets(values.targets.split(','));
for (const s of skipped) console.log(`${s.name} not run: ${s.reason}`);
for (const target of run) {
  if (values['memory-map']) await measureMemoryMap(target, Number(values.sockets), env, values['stock-client']);
  else await measure(target, Number(values.sockets), Number(values.top), env, values.keep, values.retainers, values['stock-client']);
}
