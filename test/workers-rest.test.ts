/**
 * REST calls to a WORKERS=2 gateway, as a real process tree: a worker serves them on a kept-alive
 * connection of its own (the primary hands the connection over and relays nothing), REST connections
 * are spread over both workers, and Engine.IO keeps its sticky sessions: long-polling clients work on
 * both workers, and no request of a session reaches another worker on a kept-alive connection.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'socket.io-client';
import { exited, spawnGateway, type GatewayProcess } from './support/gateway-process.js';
import { API_KEY, assertSent, collect, connectUserAt, eventually, gatewayEnv, nextEvent } from './support/gateway.js';

/** An answer read from a raw connection: its head as sent, and its body. */
interface RawAnswer {
  readonly head: string;
  readonly body: string;
}

/** One TCP connection on which requests are written by hand, one at a time, as a kept-alive client does. */
function rawConnection(port: number): { send(request: string): Promise<RawAnswer | 'closed'>; close(): void } {
  const socket = tcpConnect(port, '127.0.0.1');
  let buffered = Buffer.alloc(0);
  let closed = false;
  let wake = (): void => undefined;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake();
  });
  socket.on('close', () => {
    closed = true;
    wake();
  });
  socket.on('error', () => undefined);
  return {
    async send(request) {
      socket.write(request);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end !== -1) {
          const head = buffered.subarray(0, end).toString('latin1');
          const length = Number(/^content-length: *(\d+)/im.exec(head)?.[1] ?? 0);
          if (buffered.length >= end + 4 + length) {
            const body = buffered.subarray(end + 4, end + 4 + length).toString();
            buffered = buffered.subarray(end + 4 + length);
            return { head, body };
          }
        }
        if (closed) return 'closed';
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    close: () => socket.destroy(),
  };
}

/** The `Connection` header of an answer's head. */
const connectionOf = (answer: RawAnswer | 'closed'): string | undefined =>
  answer === 'closed' ? 'the connection closed without an answer' : /^connection: *(.+)$/im.exec(answer.head)?.[1]?.trim().toLowerCase();

describe('REST calls with WORKERS=2', { timeout: 90_000 }, () => {
  let gateway: GatewayProcess;
  let port = 0;
  const sockets: Socket[] = [];
  const agents: Agent[] = [];

  /** An HTTP client that keeps one connection alive for all its calls. */
  const keptAlive = (): ((method: string, path: string, body?: string) => Promise<{ status: number; connection?: string; reused: boolean; body: string }>) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    return (method, path, body) =>
      new Promise((resolve, reject) => {
        const call = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method,
            path,
            agent,
            headers: { 'x-api-key': API_KEY, ...(body !== undefined && { 'content-type': 'application/json' }) },
          },
          (response) => {
            let text = '';
            response.on('data', (chunk: Buffer) => (text += chunk.toString()));
            response.on('end', () => resolve({ status: response.statusCode!, connection: response.headers.connection, reused: call.reusedSocket, body: text }));
          },
        );
        // A call the primary would have to relay hangs while it is stopped.
        call.setTimeout(5000, () => call.destroy(new Error(`no answer to ${method} ${path} in 5 s`)));
        call.on('error', reject);
        call.end(body);
      });
  };
  // Polling only: every packet is an HTTP request that must reach the worker holding the session.
  const connectUser = (userId: string): Promise<Socket> => connectUserAt(gateway.url, userId, sockets, { transports: ['polling'] });
  /** A bare Engine.IO session (no namespace), opened on a new connection: sticky places it. */
  const openSession = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const call = httpRequest({ host: '127.0.0.1', port, path: '/socket.io/?EIO=4&transport=polling', agent: false }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve((JSON.parse(text.slice(1)) as { sid: string }).sid));
      });
      call.on('error', reject);
      call.end();
    });
  const headOf = (path: string, headers: Record<string, string> = {}): string =>
    `GET ${path} HTTP/1.1\r\nHost: gateway\r\n${Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')}\r\n`;
  /** A long-polling POST of one noop packet to session `sid`: answered `ok` by the worker that holds it. */
  const noop = (sid: string): string =>
    `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: gateway\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 1\r\n\r\n6`;

  before(async () => {
    gateway = await spawnGateway(gatewayEnv({ WORKERS: '2' }));
    port = gateway.port;
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    for (const agent of agents) agent.destroy();
    gateway.child.kill('SIGTERM');
    await exited(gateway.child);
  });

  it('spreads REST connections over both workers, each keeping its connection', async () => {
    // One socket, on one of the workers: a worker's /metrics then says which of the two answered.
    await connectUser('spread');
    const counts: number[][] = [];
    for (let n = 0; n < 4; n++) {
      const call = keptAlive();
      const seen: number[] = [];
      for (let m = 0; m < 2; m++) {
        const answer = await call('GET', '/metrics');
        assert.equal(answer.reused, m > 0, 'one connection per client');
        seen.push(Number(/^general_socket_sockets\{namespace="\/v1\/shared"\} (\d+)$/m.exec(answer.body)![1]));
      }
      counts.push(seen);
    }
    for (const [first, second] of counts) assert.equal(first, second, `a connection stays with its worker (counts seen: ${JSON.stringify(counts)})`);
    assert.deepEqual(new Set(counts.map(([count]) => count)), new Set([0, 1]), `both workers answered (counts seen: ${JSON.stringify(counts)})`);
  });

  it('answers REST calls on a kept-alive connection from a worker, also while the primary is stopped', async () => {
    const call = keptAlive();
    // A first request with a body: the one sticky kept in the primary, relaying its bytes and answers.
    const first = await call('POST', '/nowhere', '{"a":1}');
    assert.deepEqual([first.status, first.connection], [404, 'keep-alive']);
    // The connection is the worker's: the primary neither relays its requests nor is needed for them
    // (a POST whose body the worker reads: no such route, as an emit would ask the other worker through the primary).
    gateway.child.kill('SIGSTOP');
    try {
      const answers = [await call('GET', '/healthz'), await call('POST', '/nowhere', '{"a":1}'), await call('GET', '/healthz')];
      assert.deepEqual(
        answers.map((answer) => [answer.status, answer.connection, answer.reused]),
        [
          [200, 'keep-alive', true],
          [404, 'keep-alive', true],
          [200, 'keep-alive', true],
        ],
      );
    } finally {
      gateway.child.kill('SIGCONT');
    }
  });

  it('keeps long-polling sessions on both workers, and emits over one kept-alive connection reach them all', async () => {
    const users: Socket[] = [];
    while (users.length < 10 && new Set(users.map((socket) => socket.io.engine.id.slice(0, 4))).size < 2) users.push(await connectUser('rest-user'));
    assert.equal(new Set(users.map((socket) => socket.io.engine.id.slice(0, 4))).size, 2, 'sockets on both workers');
    const got = users.map((socket) => collect(socket, 'ping'));
    const call = keptAlive();
    // A worker learns of a socket on the other one a message after it connected (presence/placements.ts),
    // so an emit at once may count it too late (it still gets the event, from its stream). Asked on
    // the connection the emits use, the worker that answers them has heard of every socket.
    await eventually(
      async () => (JSON.parse((await call('GET', '/users/rest-user/presence')).body) as { sockets: number }).sockets === users.length,
      10_000,
      'both workers to list their sockets',
    );
    for (let n = 0; n < 4; n++) {
      const arrivals = Promise.all(users.map((socket) => nextEvent(socket, 'ping')));
      const answer = await call('POST', '/emit/rest-user/ping', JSON.stringify({ n }));
      assert.deepEqual([answer.status, answer.connection, answer.reused], [200, 'keep-alive', true]);
      assertSent(JSON.parse(answer.body), users.length, ['rest-user']);
      await arrivals;
    }
    for (const received of got) assert.deepEqual(received, [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]);
    assert.ok(users.every((socket) => socket.connected && socket.io.engine.transport.name === 'polling'));
  });

  it("closes the connections of Engine.IO requests and of browsers' REST calls, not those of server-side clients", async () => {
    const answers: Record<string, string | undefined> = {};
    const cases: [string, string, Record<string, string>][] = [
      ['a long-polling handshake', '/socket.io/?EIO=4&transport=polling', {}],
      [
        'a browser (user agent)',
        '/healthz',
        { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36' },
      ],
      ['a browser (Sec-Fetch-Site)', '/healthz', { 'Sec-Fetch-Site': 'same-origin' }],
      ['a browser (Origin)', '/healthz', { Origin: 'https://app.example.com' }],
      ["Node's fetch", '/healthz', { 'User-Agent': 'node', 'Sec-Fetch-Mode': 'cors' }],
      ['curl', '/healthz', { 'User-Agent': 'curl/8.5.0' }],
    ];
    for (const [who, path, headers] of cases) {
      const connection = rawConnection(port);
      try {
        answers[who] = connectionOf(await connection.send(headOf(path, headers)));
      } finally {
        connection.close();
      }
    }
    assert.deepEqual(answers, {
      'a long-polling handshake': 'close',
      'a browser (user agent)': 'close',
      'a browser (Sec-Fetch-Site)': 'close',
      'a browser (Origin)': 'close',
      "Node's fetch": 'keep-alive',
      curl: 'keep-alive',
    });
  });

  it("cuts, unanswered, a long-polling request that follows a REST call on its connection and belongs to the other worker's session", async () => {
    // A bare session on each worker (a session id names its worker).
    const sessions = new Map<string, string>();
    for (let n = 0; n < 10 && sessions.size < 2; n++) {
      const sid = await openSession();
      sessions.set(sid.slice(0, 4), sid);
    }
    assert.equal(sessions.size, 2, 'a session on each worker');
    const [mine, other] = [...sessions.values()] as [string, string];
    // The first request of a connection names a session in a header: the primary hands it to that session's worker.
    const same = rawConnection(port);
    const elsewhere = rawConnection(port);
    const upgrade = rawConnection(port);
    try {
      for (const connection of [same, elsewhere, upgrade])
        assert.equal(connectionOf(await connection.send(headOf('/healthz', { 'X-Session': `sid=${mine}` }))), 'keep-alive');
      // Its own session's request is served (and its connection closed, as every Engine.IO one)...
      const served = await same.send(noop(mine));
      assert.ok(served !== 'closed' && served.body === 'ok' && connectionOf(served) === 'close', JSON.stringify(served));
      // ...the other's is cut without an answer (a browser or proxy retries it on a new connection),
      assert.equal(await elsewhere.send(noop(other)), 'closed');
      // as is its upgrade to a websocket,
      const websocket = headOf(`/socket.io/?EIO=4&transport=websocket&sid=${other}`, {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      });
      assert.equal(await upgrade.send(websocket), 'closed');
    } finally {
      same.close();
      elsewhere.close();
      upgrade.close();
    }
    // ...which the primary places by session: it is served there, the session untouched.
    const retried = rawConnection(port);
    try {
      const answer = await retried.send(noop(other));
      assert.ok(answer !== 'closed' && answer.body === 'ok', JSON.stringify(answer));
    } finally {
      retried.close();
    }
  });

  it('stops on SIGTERM with kept-alive connections open', async () => {
    const call = keptAlive();
    assert.equal((await call('GET', '/healthz')).connection, 'keep-alive');
    gateway.child.kill('SIGTERM');
    const started = Date.now();
    await exited(gateway.child);
    assert.equal(gateway.child.exitCode, 0, gateway.output());
    // An idle kept-alive connection does not hold the drain up to its keep-alive timeout.
    assert.ok(Date.now() - started < 10_000, `stopped in ${Date.now() - started} ms`);
  });
});
