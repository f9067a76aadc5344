/**
 * The servers the workloads run against. Each workload picks the targets
 * that have the capabilities it needs (`http`, `fanout`, `sockets`).
 *
 * The General Socket gateway is the `gateway` entry at the bottom, run by
 * default since `GATEWAY_VERIFIED`; the conversation and cluster workloads
 * run it alone (no baseline has those features).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { signHs256 } from './client/jwt.js';
import { REPO_ROOT } from './lib/server-process.js';

export interface Target {
  name: string;
  /** One line for the report. */
  title: string;
  /** Entry script relative to the repository root; run as `node --import tsx <script>`. */
  script: string;
  /** Extra environment; PORT is added by the harness. */
  env: Record<string, string>;
  /** Keeps local state: each server process gets an empty DATA_DIR of its own, removed after it stops. */
  freshDataDir?: boolean;
  /** Why the target cannot run here, or null when it can. */
  unavailable(): string | null;
  /** Excluded unless named in --targets. */
  optIn: boolean;
  /** Headers for every REST call (API keys). */
  headers: Record<string, string>;
  /** POST path delivering the body to every socket of one user. */
  unicastPath?(userId: string, event: string): string;
  /** One POST that delivers `data` to every socket of `userIds`. */
  fanout?(event: string, userIds: string[], data: unknown): { path: string; body: unknown };
  /** POST path of a batch (`{ items: [{ userId, event, data }] }`, one result per item); the gateway only. */
  batchPath?: string;
  /** Present when clients can connect: which namespace, with which auth. */
  sockets?: { namespace: string; auth(userId: string): Record<string, unknown> };
  /**
   * Present when the server runs on every core rather than the server core (WORKERS=2 needs two,
   * so it shares the load generator's): the note under each table it appears in, and the target
   * its figures are set against there (what the extra core buys).
   */
  unpinned?: { note: string; versus: string };
}

const enc = encodeURIComponent;
const always = (): null => null;

const rawWs: Target = {
  name: 'raw-ws',
  title: 'Baseline (a): raw `ws`, one pre-built frame per socket',
  script: 'bench/baselines/raw-ws.ts',
  env: {},
  unavailable: always,
  optIn: false,
  headers: {},
  unicastPath: (userId, event) => `/emit/${enc(userId)}/${enc(event)}`,
  // Broadcast to every connected socket: the workload connects exactly the sockets it names.
  fanout: (event, _userIds, data) => ({ path: `/broadcast/${enc(event)}`, body: data }),
  sockets: { namespace: '/v1/shared', auth: (userId) => ({ userId }) },
};

const fastifyHello: Target = {
  name: 'fastify-hello',
  title: 'Baseline (b): Fastify hello-world POST, no delivery',
  script: 'bench/baselines/fastify-hello.ts',
  env: {},
  unavailable: always,
  optIn: false,
  headers: {},
  unicastPath: (userId, event) => `/emit/${enc(userId)}/${enc(event)}`,
};

const seedStyle: Target = {
  name: 'seed-style',
  title: 'Baseline (c): Express + socket.io, Map of socket ids, one emit per socket',
  script: 'bench/baselines/seed-style.ts',
  env: {},
  unavailable: always,
  optIn: false,
  headers: {},
  unicastPath: (userId, event) => `/emit/${enc(userId)}/${enc(event)}`,
  fanout: (event, userIds, data) => ({ path: `/emit/${enc(event)}`, body: { userIds, data } }),
  sockets: { namespace: '/v1/shared', auth: (userId) => ({ userId }) },
};

/** Same routes and client auth as seed-style: only the server differs. */
const socketioBare: Target = {
  ...seedStyle,
  name: 'socketio-bare',
  title: 'Baseline (d): Fastify + stock Socket.IO, a room per user, one broadcast per emit, nothing else',
  script: 'bench/baselines/socketio-bare.ts',
};

// --- General Socket gateway -------------------------------------------------
/** Verified: full and --quick runs pass against the real src/main.ts. */
const GATEWAY_VERIFIED = true;
const JWT_SECRET = 'bench-secret-not-for-production-0123456789';
const INTERNAL_API_KEY = 'bench-internal-api-key';

const gateway: Target = {
  name: 'gateway',
  title: 'General Socket gateway (src/main.ts)',
  script: 'src/main.ts',
  // LOG_LEVEL=warn: the baselines log nothing per request either. DATA_DIR (freshDataDir) keeps generated state out of the work tree.
  // EMIT_MAX_USER_IDS: --fanout-sockets may exceed the default cap of 10,000 ids per call.
  // SOCKET_HANDSHAKES_PER_MINUTE: every benchmark socket connects from one address.
  env: {
    NODE_ENV: 'development',
    JWT_SECRET,
    INTERNAL_API_KEY,
    RATE_LIMIT_MAX: '0',
    SOCKET_HANDSHAKES_PER_MINUTE: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    EMIT_MAX_USER_IDS: '100000',
  },
  freshDataDir: true,
  unavailable: () => (existsSync(join(REPO_ROOT, 'src/main.ts')) ? null : 'src/main.ts does not exist yet'),
  optIn: !GATEWAY_VERIFIED,
  headers: { 'x-api-key': INTERNAL_API_KEY },
  unicastPath: (userId, event) => `/emit/${enc(userId)}/${enc(event)}`,
  fanout: (event, userIds, data) => ({ path: `/emit/${enc(event)}`, body: { userIds, data } }),
  batchPath: '/emit/batch',
  sockets: {
    namespace: '/v1/shared',
    auth: (userId) => {
      const now = Math.floor(Date.now() / 1000);
      return { token: signHs256({ sub: userId, iat: now, exp: now + 3600 }, JWT_SECRET) };
    },
  },
};

/** The gateway with streams off: events are live only, as before issue 11, so the cost of keeping them shows beside it. */
const gatewayLive: Target = {
  ...gateway,
  name: 'gateway-live',
  title: 'General Socket gateway with streams off (HISTORY_SIZE=0: live only, no recovery)',
  env: { ...gateway.env, HISTORY_SIZE: '0' },
};

/**
 * The gateway on both cores: `WORKERS=2`, a primary that owns the port and hands each connection to
 * one of two workers (Socket.IO ones with @socket.io/sticky), the workers joined by the cluster adapter through the
 * primary. Its figures are the sum over the three processes (bench/lib/probe.ts). Not in the batch
 * workload, which compares call shapes on one gateway; what a second core buys shows in unicast.
 */
const { batchPath: _oneGatewayOnly, ...gatewayBase } = gateway;
const gatewayWorkers2: Target = {
  ...gatewayBase,
  name: 'gateway-workers2',
  title: 'General Socket gateway with WORKERS=2 (a primary and 2 workers), on both cores',
  env: { ...gateway.env, WORKERS: '2' },
  unpinned: {
    note: 'gateway-workers2 is the gateway with `WORKERS=2`: a primary and 2 worker processes, not pinned, so it runs on both cores and shares core 1 with the load generator (every other server has core 0 to itself); its memory and CPU are summed over the 3 processes, each read after its own forced GC where the table says so.',
    versus: 'gateway',
  },
};

/** Every known target, in report order: baselines first, the gateway last. */
export const TARGETS: readonly Target[] = [rawWs, fastifyHello, seedStyle, socketioBare, gatewayLive, gateway, gatewayWorkers2];

/** Targets named in `only` (all non-opt-in ones when empty) that can run here; the rest with reasons. */
export function selectTargets(only: string[]): { run: Target[]; skipped: { name: string; reason: string }[] } {
  const run: Target[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const name of only) {
    if (!TARGETS.some((t) => t.name === name)) throw new Error(`unknown target ${name}; known: ${TARGETS.map((t) => t.name).join(', ')}`);
  }
  for (const target of TARGETS) {
    if (only.length > 0 && !only.includes(target.name)) continue;
    if (only.length === 0 && target.optIn) {
      skipped.push({ name: target.name, reason: `opt-in until verified: add --targets ${TARGETS.map((t) => t.name).join(',')}` });
      continue;
    }
    const reason = target.unavailable();
    if (reason) skipped.push({ name: target.name, reason });
    else run.push(target);
  }
  return { run, skipped };
}
