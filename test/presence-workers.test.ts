/**
 * Presence with WORKERS=2 and no Redis, as a real process tree: the primary holds the directory, so
 * any worker answers for both, each transition is sent once, and a killed worker's users leave.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { io as connect, type Socket } from 'socket.io-client';
import { mintToken } from '../src/auth/tokens.js';
import { builtMain } from './support/dist.js';
import { API_KEY, JWT_SECRET, eventually, gatewayEnv } from './support/gateway.js';
import { onWorkerOf } from './support/http.js';
import { deliveries, startReceiver, verifyWebhook, type Receiver } from './support/webhooks.js';

const SECRET = 'webhook-secret-0123456789abcdef0123';

describe('presence with WORKERS=2', { timeout: 120_000 }, () => {
  let primary: ChildProcess;
  let receiver: Receiver;
  let url = '';
  const lines: { msg: string; port?: number; worker?: number; workerPid?: number }[] = [];
  const sockets: Socket[] = [];

  const request = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(url + path, {
      method,
      headers: { 'x-api-key': API_KEY, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  /** A polling socket (each of its requests must reach its worker), with the worker tag its session id carries. */
  const connectUser = async (userId: string): Promise<Socket> => {
    const socket = connect(`${url}/v1/shared`, {
      auth: { token: await mintToken(JWT_SECRET, userId) },
      forceNew: true,
      reconnection: false,
      transports: ['polling'],
    });
    sockets.push(socket);
    await new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(undefined));
      socket.once('connect_error', reject);
    });
    return socket;
  };

  before(async () => {
    receiver = await startReceiver();
    primary = spawn(process.execPath, [builtMain()], {
      env: gatewayEnv({
        PATH: process.env.PATH ?? '',
        WORKERS: '2',
        LOG_LEVEL: 'info',
        WEBHOOK_URLS: receiver.url,
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_OFFLINE_GRACE_MS: '300',
      }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    primary.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const complete = buffered.split('\n');
      buffered = complete.pop()!;
      for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line));
    });
    await eventually(() => lines.some((line) => line.port !== undefined), 30_000, 'the primary to listen');
    url = `http://127.0.0.1:${lines.find((line) => line.port !== undefined)!.port}`;
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    if (primary.exitCode === null) primary.kill('SIGKILL');
    for (const { workerPid } of lines) {
      try {
        if (workerPid !== undefined) process.kill(workerPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await receiver.close();
  });

  it('answers for both workers from either, and sends each transition once', async () => {
    // Enough sockets that both workers hold some of rae's (new sessions go to the least loaded worker).
    const rae = await Promise.all([1, 2, 3, 4].map(() => connectUser('rae')));
    const workersHolding = new Set(rae.map((socket) => socket.io.engine.id.slice(0, 4)));
    assert.equal(workersHolding.size, 2, 'rae has sockets on both workers');
    // Each worker answers: a new connection whose request names a session goes to that session's worker.
    // A worker tells the primary of a socket after it connected (one message between processes), so the
    // count may lag the last connect on a busy machine: it must reach 4 on each.
    for (const socket of rae) {
      const counted = async () => {
        const reply = await onWorkerOf(url, socket.io.engine.id, '/users/rae/presence', { headers: { 'x-api-key': API_KEY } });
        return JSON.parse(reply.body).sockets as number;
      };
      await eventually(async () => (await counted()) === 4, 10_000, `the worker of ${socket.io.engine.id} to count rae's 4 sockets`);
    }
    assert.equal((await request('GET', '/stats')).body.presence, 'workers');
    await eventually(() => deliveries(receiver, 'user.online', 'rae').length === 1, 10_000, 'user.online');
    for (const socket of rae) socket.disconnect();
    await eventually(() => deliveries(receiver, 'user.offline', 'rae').length === 1, 10_000, 'user.offline');
    assert.equal(deliveries(receiver, 'user.online', 'rae').length, 1);
    assert.ok(receiver.received.every(({ headers, raw }) => verifyWebhook(SECRET, headers, raw)));
  });

  it('forgets the users of a worker that dies', async () => {
    const sam = await connectUser('sam');
    await eventually(async () => (await request('GET', '/users/sam/presence')).body.sockets === 1, 10_000, 'sam to be listed');
    // A session id begins with its worker's id in base 36 (cluster/balancing.ts); the primary logs each worker's pid.
    const workerId = Number.parseInt(sam.io.engine.id.slice(0, 4), 36);
    const pid = lines.find((line) => line.msg === 'worker ready' && line.worker === workerId)?.workerPid;
    assert.ok(pid !== undefined, `the worker ${workerId} holding sam has logged its pid`);
    process.kill(pid, 'SIGKILL');
    // A call on a kept-alive connection to the killed worker fails with it: the next one goes to the other.
    const unlisted = async (): Promise<boolean> => (await request('GET', '/users/sam/presence')).body.online === false;
    await eventually(() => unlisted().catch(() => false), 10_000, 'sam to be unlisted');
    await eventually(() => deliveries(receiver, 'user.offline', 'sam').length === 1, 10_000, "sam's user.offline from the other worker");
  });
});
