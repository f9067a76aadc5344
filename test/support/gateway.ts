/** Starts real gateways on port 0 and real Socket.IO clients against them. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connect, type Socket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { mintToken } from '../../src/auth/tokens.js';

export const API_KEY = 'test-api-key-0123456789';
export const JWT_SECRET = 'test-jwt-secret-0123456789abcdef';
export const SCRAPER_KEY = 'test-scraper-key-0123456789';

/** What a test may change of a Socket.IO client's options. */
type ClientOptions = Partial<ManagerOptions & SocketOptions>;

/** A running gateway plus shortcuts to talk to it. */
export interface TestGateway {
  readonly gateway: Gateway;
  readonly url: string;
  /** A token for `userId` signed with the test secret. */
  token(userId: string, options?: Parameters<typeof mintToken>[2]): Promise<string>;
  /** Connects a user socket and waits until it is connected. */
  connectUser(userId: string, options?: ClientOptions): Promise<Socket>;
  /** Connects a lead-finder scraper socket and waits until it is connected. */
  connectScraper(key?: string): Promise<Socket>;
  /** Sends a REST request with the API key (unless `headers` overrides it) and parses the reply. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  close(): Promise<void>;
}

/** A parsed REST reply. */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

/**
 * The environment of a test gateway: the test keys, a free port on loopback, no rate limit, no logs
 * and a fresh DATA_DIR; `env` adds or overrides variables (also for gateways run as child processes).
 */
export function gatewayEnv(env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    INTERNAL_API_KEY: API_KEY,
    JWT_SECRET,
    SCRAPER_API_KEY: SCRAPER_KEY,
    RATE_LIMIT_MAX: '0',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'gs-test-')),
    ...env,
  };
}

/** Starts a gateway with the test keys; `env` adds or overrides variables. */
export async function startGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const config = loadConfig(gatewayEnv(env));
  const gateway = await createGateway(config);
  const { port } = await gateway.listen();
  const url = `http://127.0.0.1:${port}`;
  const sockets: Socket[] = [];

  return {
    gateway,
    url,
    token: (userId, options) => mintToken(JWT_SECRET, userId, options),
    connectUser: (userId, options) => connectUserAt(url, userId, sockets, options),
    connectScraper: (key = SCRAPER_KEY) => openSocket(`${url}/v1/lead-finder`, { token: key }, sockets),
    async request(method, path, body, headers = {}) {
      const response = await fetch(url + path, {
        method,
        headers: { 'x-api-key': API_KEY, ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
        ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
    },
    async close() {
      for (const socket of sockets) socket.disconnect();
      // Letting the server see the disconnects first avoids engine.io's 30 s close timer for
      // polling transports, which would keep the test process alive.
      await eventually(() => gateway.io.engine.clientsCount === 0, 2000).catch(() => undefined);
      await gateway.close();
    },
  };
}

/**
 * Opens a client socket on `url` (a namespace's URL) with `auth`, websocket only and without
 * reconnection unless `options` says otherwise, and resolves once it is connected; rejects with the
 * connect_error. The socket goes into `sockets` at once, so that the caller closes it whatever happens.
 */
function openSocket(url: string, auth: Record<string, unknown>, sockets: Socket[], options: ClientOptions = {}): Promise<Socket> {
  const socket = connect(url, { auth, forceNew: true, reconnection: false, transports: ['websocket'], ...options });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/**
 * Connects a user socket to the gateway at `url` (in this process or a child one) with a token for
 * `userId` signed with the test secret, as `openSocket` does; `sockets` collects it for closing.
 */
export async function connectUserAt(url: string, userId: string, sockets: Socket[], options: ClientOptions = {}): Promise<Socket> {
  return openSocket(`${url}/v1/shared`, { token: await mintToken(JWT_SECRET, userId) }, sockets, options);
}

/** Connects once to `namespace` with `auth`; resolves true once connected, false on connect_error. */
export function admits(url: string, namespace: string, auth: Record<string, unknown>): Promise<boolean> {
  const socket = connect(`${url}${namespace}`, { auth, forceNew: true, reconnection: false, transports: ['websocket'] });
  return new Promise((resolve) => {
    socket.once('connect', () => {
      socket.disconnect();
      resolve(true);
    });
    socket.once('connect_error', () => {
      socket.disconnect();
      resolve(false);
    });
  });
}

/** Resolves with the payloads of the next `count` events named `event` on `socket`. */
export function nextEvents(socket: Socket, event: string, count = 1): Promise<unknown[]> {
  return new Promise((resolve) => {
    const received: unknown[] = [];
    const listener = (payload: unknown): void => {
      received.push(payload);
      if (received.length === count) {
        socket.off(event, listener);
        resolve(received);
      }
    };
    socket.on(event, listener);
  });
}

/** Resolves with the first event's payload. */
export async function nextEvent(socket: Socket, event: string): Promise<unknown> {
  const [payload] = await nextEvents(socket, event, 1);
  return payload;
}

/**
 * Collects every `event` a socket receives, so a test can assert that something did NOT arrive:
 * it sends a later marker event through the same path and checks the collection once the marker
 * arrived (events to one socket arrive in order).
 */
export function collect(socket: Socket, event: string): unknown[] {
  const received: unknown[] = [];
  socket.on(event, (payload: unknown) => received.push(payload));
  return received;
}

/**
 * Asserts a successful emit reply: `sockets` as given, nothing else but, with streams on (the
 * default), a position for each user in `users`.
 */
export function assertSent(body: any, sockets: number, users?: readonly string[], extra: Record<string, unknown> = {}): void {
  const { positions, ...rest } = body as { positions?: Record<string, string> };
  assert.deepEqual(rest, { success: true, message: 'SUCCESS', sockets, ...extra });
  if (users === undefined) return;
  assert.deepEqual(Object.keys(positions ?? {}).sort(), [...users].sort(), 'a position for each user');
  for (const position of Object.values(positions ?? {})) assert.match(position, /^[0-9a-z]+:[1-9][0-9]*$/);
}

/** Waits for a condition that becomes true asynchronously, failing after `timeoutMs`. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Sends a POST whose body is still arriving when `signal()` is called (100 ms after it starts; the
 * body ends 300 ms later), as a process under test gets SIGTERM with a request in flight.
 */
export function postDuringSignal(port: number, path: string, apiKey: string, signal: () => void): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'x-api-key': apiKey, 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.write('{"part":');
    setTimeout(() => {
      signal();
      setTimeout(() => req.end('1}'), 300);
    }, 100);
  });
}
