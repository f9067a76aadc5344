/**
 * `npm run bench:recovery`: the fault run of the per-user streams. Two gateway nodes joined by Redis
 * (child processes of dist/main.js, behind a small TCP balancer that sends each new connection to a
 * live node), a crowd of stock socket.io-clients, and a steady stream of REST emits to them through
 * both nodes. Mid-stream one node is killed with SIGKILL; its clients reconnect through the balancer to
 * the survivor. Every event whose REST call answered 200 is expected exactly once at its user's
 * client: the run counts what was lost, duplicated or out of order, and how long until every client
 * had caught up.
 *
 * Options: --users N (1000) --rate R emits/s (1000) --seconds S (10) --kill-at S (4) --redis URL.
 * Needs `npm run build` first, and Redis (127.0.0.1:6379 by default).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { mintToken } from '../src/auth/tokens.js';
import { startBalancer } from '../test/support/balancer.js';
import { freePort, REPO_ROOT } from './lib/server-process.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    'kill-at': { type: 'string', default: '4' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
  },
});
const USERS = Number(values.users);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const KILL_AT = Number(values['kill-at']);
const API_KEY = 'bench-api-key-0123456789abcdef';
const JWT_SECRET = 'bench-jwt-secret-0123456789abcdef';
const log = (line: string): void => console.log(`[recovery] ${line}`);

interface Node {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  alive: boolean;
}

async function startNode(name: string, prefix: string, dataDir: string): Promise<Node> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      INTERNAL_API_KEY: API_KEY,
      JWT_SECRET,
      SCRAPER_API_KEY: 'bench-scraper-key-0123456789',
      RATE_LIMIT_MAX: '0',
      SOCKET_HANDSHAKES_PER_MINUTE: '100000',
      REDIS_URL: values.redis as string,
      REDIS_PREFIX: prefix,
      DATA_DIR: dataDir,
      // Nothing is trimmed during the run: every event stays replayable.
      HISTORY_SIZE: '10000',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const node: Node = { name, port, child, alive: true };
  child.on('exit', () => {
    node.alive = false;
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return node;
    if (Date.now() > deadline || !node.alive) throw new Error(`${name} did not become ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Seen {
  readonly positions: Set<string>;
  duplicates: number;
  outOfOrder: number;
  lastSeq: number;
  lastEpoch: string;
}

async function main(): Promise<void> {
  const prefix = `gs-recovery-${process.pid}-${Date.now()}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'gs-recovery-'));
  const nodes = [await startNode('A', prefix, dataDir), await startNode('B', prefix, dataDir)];
  let next = 0;
  // Round robin over the live nodes: after the kill, every reconnect goes to the survivor.
  const lb = await startBalancer(() => {
    const live = nodes.filter((node) => node.alive);
    return live[next++ % Math.max(live.length, 1)]?.port;
  });
  log(`nodes A:${nodes[0]?.port} B:${nodes[1]?.port}, balancer :${lb.port}; ${USERS} users, ${RATE} emits/s for ${SECONDS} s, B killed at ${KILL_AT} s`);

  const seen = new Map<string, Seen>();
  const sockets: Socket[] = [];
  let reconnects = 0;
  let lastReconnectAt = 0;
  let recovered = 0;
  let gaps = 0;
  const connectErrors = new Map<string, number>();
  for (let u = 0; u < USERS; u++) {
    const userId = `user-${u}`;
    const record: Seen = { positions: new Set(), duplicates: 0, outOfOrder: 0, lastSeq: 0, lastEpoch: '' };
    seen.set(userId, record);
    const socket = io(`http://127.0.0.1:${lb.port}/v1/shared`, {
      auth: { token: await mintToken(JWT_SECRET, userId, { ttlSeconds: 3600 }) },
      transports: ['websocket'],
      forceNew: true,
      reconnectionDelay: 200,
      reconnectionDelayMax: 1000,
    });
    socket.on('n', (_data: unknown, position: string) => {
      if (record.positions.has(position)) record.duplicates++;
      record.positions.add(position);
      const [epoch, seq] = position.split(':') as [string, string];
      if (epoch === record.lastEpoch && Number(seq) <= record.lastSeq) record.outOfOrder++;
      record.lastEpoch = epoch;
      record.lastSeq = Number(seq);
    });
    socket.on('stream_gap', () => gaps++);
    socket.on('connect_error', (error: Error) => {
      connectErrors.set(error.message, (connectErrors.get(error.message) ?? 0) + 1);
    });
    socket.io.on('reconnect', () => {
      reconnects++;
      lastReconnectAt = Date.now();
    });
    socket.on('connect', () => {
      if (socket.recovered) recovered++;
    });
    sockets.push(socket);
  }
  const deadline = Date.now() + 60_000;
  while (sockets.some((s) => !s.connected)) {
    if (Date.now() > deadline) throw new Error('clients did not all connect');
    await new Promise((r) => setTimeout(r, 50));
  }
  log(`${USERS} clients connected`);

  const acknowledged = new Map<string, string[]>();
  let sent = 0;
  let refused = 0;
  let answered200 = 0;
  const total = RATE * SECONDS;
  const started = Date.now();
  let killedAt = 0;
  const inFlight = new Set<Promise<void>>();
  for (let k = 0; k < total; k++) {
    const due = started + (k * 1000) / RATE;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    if (killedAt === 0 && Date.now() - started >= KILL_AT * 1000) {
      nodes[1]?.child.kill('SIGKILL');
      killedAt = Date.now();
      log(`killed B (SIGKILL) after ${k} emits`);
    }
    const node = nodes[k % 2] as Node;
    // Each user in turn through both nodes: after the kill, every user's events go through the survivor.
    const userId = `user-${Math.floor(k / 2) % USERS}`;
    sent++;
    const call = fetch(`http://127.0.0.1:${node.port}/emit/${userId}/n`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ k }),
    }).then(
      async (response) => {
        const body = (await response.json()) as { positions?: Record<string, string> };
        if (response.status !== 200) return void refused++;
        answered200++;
        const position = body.positions?.[userId];
        if (position === undefined) throw new Error('a 200 without a position: are streams on?');
        const list = acknowledged.get(userId) ?? [];
        list.push(position);
        acknowledged.set(userId, list);
      },
      () => void refused++,
    );
    const tracked = call.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }
  await Promise.all(inFlight);
  const publishEnded = Date.now();
  log(`sent ${sent}: ${answered200} answered 200, ${refused} refused or failed (calls to the killed node)`);

  const missing = (): number => {
    let count = 0;
    for (const [userId, positions] of acknowledged) {
      const record = seen.get(userId) as Seen;
      for (const position of positions) if (!record.positions.has(position)) count++;
    }
    return count;
  };
  const waitUntil = Date.now() + 60_000;
  while (missing() > 0 && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 50));
  const caughtUp = Date.now();
  const lost = missing();
  let duplicates = 0;
  let outOfOrder = 0;
  for (const record of seen.values()) {
    duplicates += record.duplicates;
    outOfOrder += record.outOfOrder;
  }
  const connected = sockets.filter((s) => s.connected).length;
  log(
    `result: ${answered200} acknowledged, ${lost} lost, ${duplicates} duplicated, ${outOfOrder} out of order, ${gaps} gap events; ` +
      `${reconnects} reconnects (${recovered} recovered, the last ${((lastReconnectAt - killedAt) / 1000).toFixed(2)} s after the kill), ${connected}/${USERS} connected at the end; ` +
      `every client caught up ${((caughtUp - killedAt) / 1000).toFixed(2)} s after the kill (${((caughtUp - publishEnded) / 1000).toFixed(2)} s after the last emit)`,
  );
  if (connectErrors.size > 0) log(`connect errors: ${JSON.stringify(Object.fromEntries(connectErrors))}`);
  console.log(
    JSON.stringify({
      users: USERS,
      rate: RATE,
      seconds: SECONDS,
      acknowledged: answered200,
      refused,
      lost,
      duplicates,
      outOfOrder,
      gaps,
      reconnects,
      recovered,
      lastReconnectAfterKillMs: lastReconnectAt - killedAt,
      catchUpAfterKillMs: caughtUp - killedAt,
    }),
  );

  for (const socket of sockets) socket.disconnect();
  await lb.close();
  for (const node of nodes) if (node.alive) node.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dataDir, { recursive: true, force: true });
  process.exitCode = lost === 0 && duplicates === 0 && outOfOrder === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
