/**
 * Proves the light client against real servers before any figure relies on
 * it: a real socket.io 4.8 server (the seed-style baseline) and the raw-ws
 * baseline, plus socket.io-client against raw-ws to show that its framing is
 * genuine Socket.IO. Covers connect, refused connect, unicast to a user with
 * two sockets, multi-user emit, publish→receive timestamps, and heartbeats
 * (pings every 300 ms for longer than ping interval + timeout).
 *
 * Run alone: node --import tsx bench/client/self-check.ts
 */
import { io as ioClient } from 'socket.io-client';
import { postJson } from '../lib/http-call.js';
import { freePort, ServerProcess } from '../lib/server-process.js';
import { TARGETS, type Target } from '../targets.js';
import { preciseNow } from './light-socket.js';
import { SwarmPool } from './swarm-pool.js';

const USERS = 10;
const SOCKETS_PER_USER = 2;

function check(failures: string[], ok: boolean, what: string): void {
  if (!ok) failures.push(what);
}

async function checkTarget(target: Target): Promise<string[]> {
  const failures: string[] = [];
  const server = await ServerProcess.start({
    name: target.name,
    script: target.script,
    env: { ...target.env, PING_INTERVAL_MS: '300', PING_TIMEOUT_MS: '300' },
    port: await freePort(),
    cpu: undefined,
    readyTimeoutMs: 20_000,
  });
  const sockets = target.sockets!;
  const userIds = Array.from({ length: USERS }, (_, i) => `check-user-${i}`);
  const auths = userIds.flatMap((id) => Array.from({ length: SOCKETS_PER_USER }, () => sockets.auth(id)));
  // The last socket carries no identity and must be refused.
  auths.push({});
  const { pool, connect } = await SwarmPool.open({ url: server.url, namespace: sockets.namespace, auths, perWorker: 8, concurrency: 8, timeoutMs: 5000 });
  try {
    check(failures, connect.connected === USERS * SOCKETS_PER_USER, `connected ${connect.connected}, expected ${USERS * SOCKETS_PER_USER}`);
    check(
      failures,
      connect.failed === 1 && connect.errors.some((e) => e.includes('connect refused')),
      `refused connect not reported: ${JSON.stringify(connect)}`,
    );

    const sentAt = preciseNow();
    const uni = await postJson(server.url, target.unicastPath!('check-user-3', 'check_unicast'), { hello: 'one', sentAt }, target.headers);
    check(failures, uni.status === 200, `unicast answered ${uni.status} ${uni.body}`);
    const gotUni = await pool.waitFor('check_unicast', SOCKETS_PER_USER, 3000);
    const fan = target.fanout!('check_multi', userIds, { hello: 'all', sentAt: preciseNow() });
    const multi = await postJson(server.url, fan.path, fan.body, target.headers);
    check(failures, multi.status === 200, `multi answered ${multi.status} ${multi.body}`);
    const gotMulti = await pool.waitFor('check_multi', USERS * SOCKETS_PER_USER, 3000);
    // Outlive several heartbeats: a client that ignored pings would be dropped by now.
    await new Promise((r) => setTimeout(r, 1500));
    const report = await pool.report();
    check(
      failures,
      gotUni === SOCKETS_PER_USER && report.counts.check_unicast === SOCKETS_PER_USER,
      `unicast deliveries ${report.counts.check_unicast}, expected ${SOCKETS_PER_USER}`,
    );
    check(
      failures,
      gotMulti === USERS * SOCKETS_PER_USER && report.counts.check_multi === USERS * SOCKETS_PER_USER,
      `multi deliveries ${report.counts.check_multi}, expected ${USERS * SOCKETS_PER_USER}`,
    );
    check(
      failures,
      report.latencies.length === SOCKETS_PER_USER * (USERS + 1) && report.latencies.every((l) => l >= 0 && l < 3000),
      `latency samples wrong: ${report.latencies.length}`,
    );
    check(
      failures,
      report.connected === USERS * SOCKETS_PER_USER && report.unexpectedCloses === 0,
      `after heartbeats: ${report.connected} connected, ${report.unexpectedCloses} dropped`,
    );
  } finally {
    await pool.close();
    await server.stop();
  }
  return failures;
}

/** socket.io-client must accept raw-ws as a socket.io server, or raw-ws would not be a fair baseline. */
async function checkRawWsWithRealClient(): Promise<string[]> {
  const target = TARGETS.find((t) => t.name === 'raw-ws')!;
  const server = await ServerProcess.start({ name: 'raw-ws', script: target.script, env: {}, port: await freePort(), cpu: undefined, readyTimeoutMs: 20_000 });
  const client = ioClient(`${server.url}/v1/shared`, { transports: ['websocket'], auth: { userId: 'real-client' }, reconnection: false, timeout: 5000 });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('connect_error', reject);
    });
    const got = new Promise<unknown>((resolve) => client.once('real_event', resolve));
    await postJson(server.url, '/emit/real-client/real_event', { n: 42 });
    const data = await Promise.race([got, new Promise((r) => setTimeout(() => r('timeout'), 3000))]);
    return JSON.stringify(data) === '{"n":42}' ? [] : [`socket.io-client received ${JSON.stringify(data)} from raw-ws`];
  } catch (error) {
    return [`socket.io-client could not use raw-ws: ${String(error)}`];
  } finally {
    client.close();
    await server.stop();
  }
}

/** Runs every check; returns failure messages (empty when the client is sound). */
export async function selfCheck(log: (line: string) => void = console.log): Promise<string[]> {
  const failures: string[] = [];
  for (const name of ['seed-style', 'raw-ws']) {
    const found = await checkTarget(TARGETS.find((t) => t.name === name)!);
    log(`self-check ${name}: ${found.length === 0 ? 'ok' : found.join('; ')}`);
    failures.push(...found.map((f) => `${name}: ${f}`));
  }
  const real = await checkRawWsWithRealClient();
  log(`self-check socket.io-client vs raw-ws: ${real.length === 0 ? 'ok' : real.join('; ')}`);
  failures.push(...real);
  return failures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const failures = await selfCheck();
  process.exitCode = failures.length === 0 ? 0 : 1;
}
