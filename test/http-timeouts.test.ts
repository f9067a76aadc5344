/**
 * Slow clients cannot hold connections: a body that trickles, headers that never end and an idle
 * kept-alive connection are each closed past their bound, with the gateway's error shape; long-polling
 * and websocket clients, whose requests are complete at once, stay connected past those bounds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { io as connect, type Socket } from 'socket.io-client';
import { mintToken } from '../src/auth/tokens.js';
import { builtMain } from './support/dist.js';
import { API_KEY, JWT_SECRET, eventually, gatewayEnv, nextEvent, startGateway, type TestGateway } from './support/gateway.js';

/** Bounds short enough for a test; every wait below is a few of them. */
const TIMEOUTS = { REQUEST_TIMEOUT_MS: '600', HEADERS_TIMEOUT_MS: '300', KEEP_ALIVE_TIMEOUT_MS: '300' };

/**
 * Opens a raw TCP connection, writes `head`, then writes `drip` every 50 ms while the connection is
 * open; resolves with everything the server sent once it closed the connection.
 */
function slowClient(port: number, head: string, drip: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let received = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      socket.write(head);
      if (drip !== undefined) timer = setInterval(() => socket.writable && socket.write(drip), 50);
    });
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset after the answer still counts as closed by the server.
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.on('close', () => {
      clearInterval(timer);
      resolve(received);
    });
  });
}

/** The status and JSON body of a raw HTTP answer. */
function parse(raw: string): { status: number; body: any } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  return { status, body: body === '' ? undefined : JSON.parse(body) };
}

function assertTimedOut(raw: string): void {
  const { status, body } = parse(raw);
  assert.equal(status, 408, raw);
  assert.equal(body.success, false);
  assert.equal(body.errno, 408);
  assert.equal(body.code, 'REQUEST_TIMEOUT');
  assert.match(body.message, /HEADERS_TIMEOUT_MS \(300 ms\).*REQUEST_TIMEOUT_MS \(600 ms\)/);
}

describe('request, headers and keep-alive timeouts', () => {
  let gw: TestGateway;
  let port: number;
  before(async () => {
    gw = await startGateway(TIMEOUTS);
    port = Number(new URL(gw.url).port);
  });
  after(() => gw.close());

  it('closes an unauthenticated connection that trickles a body, with 408 REQUEST_TIMEOUT', { timeout: 20_000 }, async () => {
    const head = 'POST /healthz HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"a":"';
    assertTimedOut(await slowClient(port, head, 'x'));
  });

  it('closes an authenticated connection that trickles a body, the same way', { timeout: 20_000 }, async () => {
    const head = `POST /emit/alice/n HTTP/1.1\r\nHost: gateway\r\nx-api-key: ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"a":"`;
    assertTimedOut(await slowClient(port, head, 'x'));
  });

  it('closes a connection whose headers never end', { timeout: 20_000 }, async () => {
    assertTimedOut(await slowClient(port, 'GET /healthz HTTP/1.1\r\nHost: gateway\r\n', 'X-Slow: 1\r\n'));
  });

  it('closes a connection that never sends a byte', { timeout: 20_000 }, async () => {
    // Nothing was asked, so there is nothing to answer: the connection is just closed.
    const raw = await slowClient(port, '', undefined);
    assert.ok(raw === '' || raw.startsWith('HTTP/1.1 408'), raw);
  });

  it('closes an idle kept-alive connection after its answer', { timeout: 20_000 }, async () => {
    const raw = await slowClient(port, 'GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n', undefined);
    assert.equal(parse(raw).status, 200, raw);
    assert.match(raw, /keep-alive/i, 'the connection was kept alive, then closed when idle');
  });

  it('keeps a long-polling client connected while its GET is held past the request timeout', { timeout: 20_000 }, async () => {
    await assertPollingHolds(gw.url, (path, body) => gw.request('POST', path, body));
  });

  it('keeps an idle websocket client connected past every timeout', { timeout: 20_000 }, async () => {
    const socket = await gw.connectUser('websocket-user');
    const reasons: string[] = [];
    socket.on('disconnect', (reason) => reasons.push(reason));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const arrival = nextEvent(socket, 'late');
    assert.equal((await gw.request('POST', '/emit/websocket-user/late', { n: 2 })).body.sockets, 1);
    assert.deepEqual(await arrival, { n: 2 });
    assert.deepEqual(reasons, []);
  });
});

/**
 * A long-polling client's GET waits for data (up to pingInterval, 25 s): several request timeouts
 * pass while it is held, and an event sent after them still arrives through it.
 */
async function assertPollingHolds(url: string, post: (path: string, body: unknown) => Promise<{ body: any }>): Promise<void> {
  const token = await mintToken(JWT_SECRET, 'poller');
  const socket: Socket = connect(`${url}/v1/shared`, { auth: { token }, forceNew: true, reconnection: false, transports: ['polling'] });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const reasons: string[] = [];
    socket.on('disconnect', (reason) => reasons.push(reason));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const arrival = nextEvent(socket, 'late');
    assert.equal((await post('/emit/poller/late', { n: 1 })).body.sockets, 1);
    assert.deepEqual(await arrival, { n: 1 });
    assert.deepEqual(reasons, [], 'never disconnected');
    assert.equal(socket.io.engine.transport.name, 'polling');
  } finally {
    socket.disconnect();
  }
}

describe('the same bounds with WORKERS=2', { timeout: 90_000 }, () => {
  // The primary relays connections it does not parse, and the workers' servers never listen: both
  // need the bounds set on their own.
  let primary: ChildProcess;
  let port = 0;
  const pids: number[] = [];
  before(async () => {
    primary = spawn(process.execPath, [builtMain()], {
      cwd: new URL('..', import.meta.url),
      env: gatewayEnv({ PATH: process.env.PATH ?? '', WORKERS: '2', LOG_LEVEL: 'info', ...TIMEOUTS }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    primary.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { port?: number; workerPid?: number })) {
        if (line.port !== undefined) port = line.port;
        if (line.workerPid !== undefined) pids.push(line.workerPid);
      }
    });
    await eventually(() => port !== 0, 60_000, 'the primary to listen');
  });
  after(() => {
    if (primary.exitCode === null) primary.kill('SIGKILL');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('closes a trickling body, unending headers and a silent connection with 408', { timeout: 20_000 }, async () => {
    const [body, headers, silent] = await Promise.all([
      slowClient(port, 'POST /healthz HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"a":"', 'x'),
      slowClient(port, 'GET /healthz HTTP/1.1\r\nHost: gateway\r\n', 'X-Slow: 1\r\n'),
      slowClient(port, '', undefined),
    ]);
    assertTimedOut(body);
    assertTimedOut(headers);
    assert.ok(silent === '' || silent.startsWith('HTTP/1.1 408'), silent);
  });

  it('keeps a long-polling client connected on its worker', { timeout: 20_000 }, async () => {
    const url = `http://127.0.0.1:${port}`;
    await assertPollingHolds(url, async (path, body) => {
      const response = await fetch(url + path, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { body: await response.json() };
    });
  });
});
