/**
 * WORKERS=2 as a real process tree: the primary owns the port, two workers share the sockets.
 * Long-polling clients (several HTTP requests per session) must stay on their worker; events reach
 * sockets on either worker exactly once; a killed worker is replaced; SIGTERM drains everything.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { io as connect, type Socket } from 'socket.io-client';
import { mintToken } from '../src/auth/tokens.js';
import { builtMain } from './support/dist.js';
import { exited, spawnGateway } from './support/gateway-process.js';
import { API_KEY, JWT_SECRET, SCRAPER_KEY, assertSent, collect, eventually, gatewayEnv, nextEvent, postDuringSignal } from './support/gateway.js';
import { onWorkerOf } from './support/http.js';

interface LogLine {
  msg: string;
  port?: number;
  workerPid?: number;
  role?: string;
}

describe('WORKERS=2', { timeout: 90_000 }, () => {
  let primary: ChildProcess;
  const lines: LogLine[] = [];
  const sockets: Socket[] = [];
  let url = '';
  const pollers: Socket[] = [];

  const workerPids = (): number[] => lines.filter((line) => line.msg === 'worker ready').map((line) => line.workerPid!);
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const request = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(url + path, {
      method,
      headers: { 'x-api-key': API_KEY, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const open = (namespace: string, auth: Record<string, unknown>): Promise<Socket> => {
    // Polling only: every packet is a separate HTTP request that must reach the same worker.
    const socket = connect(url + namespace, { auth, forceNew: true, reconnection: false, transports: ['polling'] });
    sockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  };
  const connectUser = async (userId: string) => open('/v1/shared', { token: await mintToken(JWT_SECRET, userId) });

  before(async () => {
    primary = spawn(process.execPath, [builtMain()], {
      cwd: new URL('..', import.meta.url),
      env: gatewayEnv({ PATH: process.env.PATH ?? '', WORKERS: '2', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '5000' }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    primary.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const complete = buffered.split('\n');
      buffered = complete.pop()!;
      for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line) as LogLine);
    });
    await eventually(() => lines.some((line) => line.port !== undefined), 30_000, 'the primary to listen');
    url = `http://127.0.0.1:${lines.find((line) => line.port !== undefined)!.port}`;
  });

  after(async () => {
    for (const socket of sockets) socket.disconnect();
    if (primary.exitCode === null) primary.kill('SIGKILL');
    for (const pid of workerPids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('starts two workers behind one port and is ready', async () => {
    assert.equal(workerPids().length, 2);
    const ready = await request('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.bus.detail, 'worker process (WORKERS)');
  });

  it('spreads a burst of new connections over both workers, as in a reconnect storm after a restart', async () => {
    const token = await mintToken(JWT_SECRET, 'storm');
    // All at once, before any handshake is done: a worker's load must count what it was handed, not only finished handshakes.
    const storm = Array.from({ length: 20 }, (_, n) =>
      connect(url + '/v1/shared', { auth: { token }, forceNew: true, reconnection: false, transports: n % 2 === 0 ? ['websocket'] : ['polling'] }),
    );
    sockets.push(...storm);
    await Promise.all(
      storm.map(
        (socket) =>
          new Promise((resolve, reject) => {
            socket.once('connect', () => resolve(undefined));
            socket.once('connect_error', reject);
          }),
      ),
    );
    // Each socket's worker tells its own count: a new connection whose request names a session goes to the session's worker.
    const countOnWorkerOf = async (socket: Socket): Promise<number> => {
      const response = await onWorkerOf(url, socket.io.engine.id, '/metrics', { headers: { 'x-api-key': API_KEY } });
      const match = /^general_socket_sockets\{namespace="\/v1\/shared"\} (\d+)$/m.exec(response.body);
      return Number(match![1]);
    };
    const counts = await Promise.all(storm.map(countOnWorkerOf));
    // Two workers holding a and b sockets: a socket on the first reports a, one on the second b.
    assert.ok(Math.max(...counts) <= 12, `one worker holds ${Math.max(...counts)} of the 20 sockets (counts seen: ${counts.join(', ')})`);
    // A session id names its worker (so that sticky can place a request it has not learnt of yet):
    // the sockets naming one worker are exactly the ones that worker counts.
    const byWorker = new Map<string, number[]>();
    storm.forEach((socket, n) => {
      const tag = socket.io.engine.id.slice(0, 4);
      byWorker.set(tag, [...(byWorker.get(tag) ?? []), counts[n]!]);
    });
    assert.equal(byWorker.size, 2, `session ids name ${[...byWorker.keys()].join(', ')}`);
    for (const [tag, seen] of byWorker)
      assert.ok(
        seen.every((count) => count === seen.length),
        `worker ${tag}: ${seen.length} sockets name it, it counts ${seen.join(', ')}`,
      );
    for (const socket of storm) socket.disconnect();
    await eventually(async () => (await request('GET', '/stats')).body.sockets['/v1/shared'] === 0, 10_000, 'the storm to leave');
  });

  it('keeps long-polling sessions on their worker and delivers to sockets on both workers exactly once', async () => {
    // One after the other: sticky balances on connection counts, which the workers report as they come.
    for (let n = 0; n < 6; n++) pollers.push(await connectUser('poller'));
    const users = pollers;
    const got = users.map((socket) => collect(socket, 'notification'));
    for (let call = 0; call < 4; call++) {
      const arrivals = Promise.all(users.map((socket) => nextEvent(socket, 'notification')));
      const reply = await request('POST', '/emit/poller/notification', { call });
      assertSent(reply.body, 6, ['poller']);
      await arrivals;
    }
    const markers = Promise.all(users.map((socket) => nextEvent(socket, 'marker')));
    await request('POST', '/emit/poller/marker', {});
    await markers;
    for (const received of got) assert.deepEqual(received, [{ call: 0 }, { call: 1 }, { call: 2 }, { call: 3 }]);
    assert.ok(users.every((socket) => socket.connected && socket.io.engine.transport.name === 'polling'));
  });

  it('shares idempotency keys between its workers: a repeat handled by the other worker replays, nothing sent twice', async () => {
    // Sockets until two of them live on different workers (a session id names its worker).
    const byWorker = new Map<string, Socket>();
    for (let n = 0; n < 10 && byWorker.size < 2; n++) {
      const socket = await connectUser('idem-workers');
      byWorker.set(socket.io.engine.id.slice(0, 4), socket);
    }
    assert.equal(byWorker.size, 2, 'a socket on each worker');
    const got = [...byWorker.values()].map((socket) => collect(socket, 'once'));
    // A connection of its own per call, whose head names a session: sticky hands it to that session's worker.
    const viaWorkerOf = (socket: Socket) =>
      new Promise<{ status: number; replayed: string | undefined; body: string }>((resolve, reject) => {
        const target = new URL('/emit/idem-workers/once', url);
        const call = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            path: target.pathname,
            method: 'POST',
            agent: false,
            headers: {
              'x-api-key': API_KEY,
              'content-type': 'application/json',
              'idempotency-key': 'across-workers',
              'x-session': `sid=${socket.io.engine.id}`,
            },
          },
          (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString()));
            response.on('end', () => resolve({ status: response.statusCode!, replayed: response.headers['idempotent-replayed'] as string | undefined, body }));
          },
        );
        call.on('error', reject);
        call.end('{"n":1}');
      });
    const [first, second] = [...byWorker.values()];
    const one = await viaWorkerOf(first!);
    const other = await viaWorkerOf(second!);
    assert.deepEqual([one.status, one.replayed, other.status, other.replayed], [200, undefined, 200, 'true']);
    assert.equal(other.body, one.body);
    const markers = Promise.all([...byWorker.values()].map((socket) => nextEvent(socket, 'marker')));
    await request('POST', '/emit/idem-workers/marker', {});
    await markers;
    assert.deepEqual(got, [[{ n: 1 }], [{ n: 1 }]]);
  });

  it('still counts a worker that was too busy to say anything for a few seconds', async () => {
    // A new connection whose request names a session goes to that session's worker: reach each poller's worker.
    const emitVia = (socket: Socket) =>
      onWorkerOf(url, socket.io.engine.id, '/emit/poller/busy', {
        method: 'POST',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        body: '{}',
      }).then((response) => JSON.parse(response.body) as unknown);
    // Both workers publish now, so neither has been silent when one of them stops.
    for (const socket of pollers) await emitVia(socket);
    const [busy] = workerPids();
    process.kill(busy!, 'SIGSTOP');
    let replies: Promise<unknown>[];
    try {
      // Silent for longer than a 3 s heartbeat timeout, well within the adapter's default 10 s; then
      // emits, and the busy worker wakes up to answer: a worker that dropped it would not ask it.
      await new Promise((resolve) => setTimeout(resolve, 4500));
      replies = pollers.map((socket) => emitVia(socket));
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      process.kill(busy!, 'SIGCONT');
    }
    const answered = (await Promise.all(replies)) as { positions: { poller: string } }[];
    for (const reply of answered) assertSent(reply, 6, ['poller']);
    // Sent at once through both workers, into the one stream they share: each event its own position.
    assert.equal(new Set(answered.map((reply) => reply.positions.poller)).size, answered.length);
    assert.ok(pollers.every((socket) => socket.connected));
  });

  it('finds a lead-finder worker socket on either worker', async () => {
    const scrapers = await Promise.all([open('/v1/lead-finder', { token: SCRAPER_KEY }), open('/v1/lead-finder', { token: SCRAPER_KEY })]);
    for (const scraper of scrapers) {
      const arrival = nextEvent(scraper, 'scrape_task');
      const reply = await request('POST', '/lead-finder/scrape_task', { socketId: scraper.id, payload: { keyword: 'plumber' } });
      assert.equal(reply.status, 200);
      assert.deepEqual(await arrival, { keyword: 'plumber' });
    }
    assert.equal((await request('POST', '/lead-finder/scrape_task', { socketId: 'no-such-socket', payload: {} })).status, 404);
  });

  it('replaces a worker that dies, and keeps serving', async () => {
    const [victim, survivor] = workerPids();
    process.kill(victim!, 'SIGKILL');
    await eventually(() => workerPids().length === 3, 20_000, 'a replacement worker');
    assert.ok(lines.some((line) => line.msg === 'worker died; starting a replacement'));
    assert.ok(alive(survivor!));
    // The pollers were spread over both workers: those of the dead one are gone, the others stay.
    await eventually(() => pollers.some((socket) => !socket.connected), 10_000, "the dead worker's sockets to drop");
    assert.ok(
      pollers.some((socket) => socket.connected),
      'sockets on the surviving worker stay connected',
    );
    const fresh = await Promise.all(Array.from({ length: 4 }, () => connectUser('after-crash')));
    const arrivals = Promise.all(fresh.map((socket) => nextEvent(socket, 'hello')));
    const reply = await request('POST', '/emit/after-crash/hello', { ok: true });
    assertSent(reply.body, 4, ['after-crash']);
    await arrivals;
  });

  it('drains every worker on SIGTERM, finishing the request in flight, and exits 0', async () => {
    const pids = workerPids().filter(alive);
    assert.equal(pids.length, 2);
    // A stock client (reconnection on): the drain must leave it trying to come back, as after a restart.
    const stock = connect(url + '/v1/shared', { auth: { token: await mintToken(JWT_SECRET, 'stock') }, forceNew: true });
    sockets.push(stock);
    await new Promise((resolve) => stock.once('connect', () => resolve(undefined)));
    const reason = new Promise<string>((resolve) => stock.once('disconnect', resolve));
    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    const { port } = new URL(url);
    // A request whose body is still arriving when the signal comes: a worker must wait for it.
    const inFlight = postDuringSignal(Number(port), '/emit/poller/late', API_KEY, () => primary.kill('SIGTERM'));
    const reply = await inFlight;
    assert.equal(reply.status, 200, reply.body);
    assert.equal(await exited, 0);
    assert.ok(lines.some((line) => line.msg === 'stopped'));
    // "io server disconnect" would be final for a stock client; "transport close" makes it reconnect.
    assert.equal(await reason, 'transport close');
    assert.ok(stock.active, 'the client keeps trying to reconnect');
    await eventually(() => pids.every((pid) => !alive(pid)), 5000, 'every worker to exit');
  });
});

describe('WORKERS=2 stopped while starting', { timeout: 60_000 }, () => {
  /** Pids of `parent`'s child processes, read from /proc. */
  const children = (parent: number): number[] =>
    readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        try {
          // The fields after the command name's closing parenthesis: state, then ppid.
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
        } catch {
          return false;
        }
      })
      .map(Number);

  it('stops workers that were not ready yet and exits 0 without waiting out the timeout', async (t) => {
    const primary = spawn(process.execPath, [builtMain()], {
      cwd: new URL('..', import.meta.url),
      // Longer than this test may take: a missed shutdown would show as exit 1 after it.
      env: gatewayEnv({ PATH: process.env.PATH ?? '', WORKERS: '2', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '40000' }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    primary.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    t.after(() => {
      for (const pid of children(primary.pid!)) process.kill(pid, 'SIGKILL');
      if (primary.exitCode === null) primary.kill('SIGKILL');
    });
    // The primary installs its signal handlers before it forks: once a worker exists, SIGTERM is handled.
    await eventually(() => children(primary.pid!).length > 0, 30_000, 'the primary to fork a worker');
    assert.ok(!output.includes('"worker ready"'), 'the signal must come while the workers are starting');
    primary.kill('SIGTERM');
    assert.equal(await exited, 0, output);
    assert.ok(!output.includes('did not stop in time'), output);
  });
});

describe('WORKERS=2 whose drain runs out of time', { timeout: 60_000 }, () => {
  it('exits 1, and the worker says what it was still waiting for', async (t) => {
    const gateway = await spawnGateway(gatewayEnv({ WORKERS: '2', SHUTDOWN_TIMEOUT_MS: '1500' }));
    t.after(() => void (gateway.child.exitCode === null && gateway.child.kill('SIGKILL')));
    // One kept-alive connection: the first request hands it to a worker, which then reads the next itself.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const call = (method: string, path: string, headers: Record<string, string> = {}) =>
      httpRequest({ host: '127.0.0.1', port: gateway.port, method, path, agent, headers: { 'x-api-key': API_KEY, ...headers } });
    await new Promise<void>((resolve, reject) => {
      call('GET', '/healthz')
        .on('response', (response) => response.resume().on('end', resolve))
        .on('error', reject)
        .end();
    });
    // A body that never ends. `Expect: 100-continue` makes the worker say when it has the request.
    const stalled = call('POST', '/emit/never/finished?why=test', { 'content-type': 'application/json', 'content-length': '100', expect: '100-continue' });
    stalled.on('error', () => undefined);
    await new Promise((resolve) => stalled.once('continue', resolve));
    stalled.write('{"part":');
    gateway.child.kill('SIGTERM');
    await exited(gateway.child);
    assert.equal(gateway.child.exitCode, 1, gateway.output());
    const stuck = gateway
      .output()
      .split('\n')
      .filter((line) => line.includes('worker did not stop in time'))
      .map((line) => JSON.parse(line) as { stage: string; requestsInFlight: string[] });
    assert.deepEqual(
      stuck.map(({ stage, requestsInFlight }) => [stage, requestsInFlight]),
      [['waiting for the requests in flight', ['POST /emit/never/finished']]],
      gateway.output(),
    );
    assert.match(gateway.output(), /stopped; a worker did not drain in time/);
  });
});
