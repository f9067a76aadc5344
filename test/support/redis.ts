/** Redis for tests: a probe of the shared server, and private servers that fault tests may kill. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer } from 'node:net';
import { eventually } from './gateway.js';

/** The shared Redis the test suites use (never stopped by a test). */
export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

/** A Redis prefix of its own, so suites running at the same time on the shared Redis stay apart. */
export function uniquePrefix(): string {
  return `gs-test-${randomBytes(4).toString('hex')}`;
}

/** Resolves when a Redis answers PING on `port`; rejects within `timeoutMs` otherwise. */
export function pingRedis(port = 6379, timeoutMs = 1000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (error?: Error): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`no answer from 127.0.0.1:${port} within ${timeoutMs} ms`)));
    socket.once('error', (error) => done(error));
    socket.once('connect', () => socket.write('PING\r\n'));
    // A server with a password answers NOAUTH: it is up all the same.
    socket.once('data', (data) => (/^(\+PONG|-NOAUTH)/.test(data.toString()) ? done() : done(new Error(`unexpected answer ${data.toString().trim()}`))));
  });
}

/** Resolves when the `redis-server` program can be started. */
export function redisServerInstalled(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-server --version exited ${code}`))));
  });
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A private redis-server on its own port, which a test may stop and start again. */
export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  /** Kills the server (SIGKILL: as abrupt as a crash) and waits until it is gone. */
  stop(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered, as in a partition. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
}

/** Starts a redis-server on a free port, without persistence, with `password` when given. */
export async function startPrivateRedis(password?: string): Promise<PrivateRedis> {
  const port = await freePort();
  const auth = password === undefined ? [] : ['--requirepass', password];
  let child: ChildProcess | undefined;
  const redis: PrivateRedis = {
    port,
    url: `redis://${password === undefined ? '' : `:${password}@`}127.0.0.1:${port}`,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...auth], { stdio: 'ignore' });
      child.once('error', () => undefined);
      await eventually(
        () =>
          pingRedis(port, 200).then(
            () => true,
            () => false,
          ),
        5000,
        `redis-server on port ${port}`,
      );
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGCONT');
      running.kill('SIGKILL');
      await exited;
    },
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
  };
  await redis.start();
  return redis;
}
