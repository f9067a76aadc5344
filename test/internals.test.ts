/**
 * The private parts of libraries the gateway relies on, each used in one place (src/internals/).
 * These tests fail loudly when an upgrade changes one of them, instead of a gateway that quietly
 * stops counting sockets, sharing rate limits or noticing dead workers.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import cluster, { type Worker } from 'node:cluster';
import { createServer, type IncomingMessage, ServerResponse } from 'node:http';
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo, type Socket as TcpSocket } from 'node:net';
import Fastify from 'fastify';
import rateLimit, { type FastifyRateLimitOptions, type FastifyRateLimitStore } from '@fastify/rate-limit';
import { Redis } from 'ioredis';
import { Server, type Socket } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { servePrimary } from '../src/cluster/ipc.js';
import { adapterOf } from '../src/internals/cluster-adapter.js';
import { LocalStore, RedisStore, routeOf, rulesOf } from '../src/internals/rate-limit.js';
import { responseStarted, startRequestTimeouts } from '../src/internals/node-http.js';
import { messageFrame, writeFrame } from '../src/internals/engine-io.js';
import { compactListeners, settleOnce } from '../src/internals/node-events.js';
import { closeUndelivered, stopReading } from '../src/internals/node-net.js';
import { SingleEntryMap, SmallSet } from '../src/internals/small-collections.js';
import {
  addAnyListener,
  compactConnection,
  compactRooms,
  compactSocket,
  guardedParser,
  isConnecting,
  namespacesOf,
  sendEncodedEvent,
  setSession,
  upgradeResponse,
} from '../src/internals/socket-io.js';
import { eventually } from './support/gateway.js';
import { survivesGc } from './support/gc.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

describe('socket.io internals', () => {
  it('namespacesOf sees every namespace: the main one, static ones, and those a dynamic namespace creates on demand', async () => {
    const server = createServer();
    const io = new Server(server);
    io.of('/static');
    io.of(/^\/room-\d+$/);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}/room-7`, { forceNew: true, transports: ['websocket'] });
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
      const names = [...namespacesOf(io)].map((nsp) => nsp.name).sort();
      assert.deepEqual(names, ['/', '/room-7', '/static']);
      assert.equal([...namespacesOf(io)].find((nsp) => nsp.name === '/room-7')?.sockets.size, 1, 'the namespaces are the live ones');
    } finally {
      socket.disconnect();
      await io.close();
    }
  });
});

describe('socket.io internals: the session id of a CONNECT packet', () => {
  it('setSession gives a stock client the session id it sends back on reconnect, with the offset of the last event, and marks it recovered', async () => {
    const server = createServer();
    const io = new Server(server);
    const handshakes: Record<string, unknown>[] = [];
    io.of('/resumable').use((socket, next) => {
      const auth = socket.handshake.auth as Record<string, unknown>;
      handshakes.push(auth);
      setSession(socket, 'session-1', auth.pid === 'session-1');
      next();
    });
    io.of('/resumable').on('connection', (socket) => socket.emit('news', { n: 1 }, 'offset-7'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}/resumable`, {
      auth: { token: 't' },
      forceNew: true,
      transports: ['websocket'],
      reconnectionDelay: 50,
    });
    try {
      await new Promise<void>((resolve) => client.once('news', () => resolve()));
      assert.equal(client.recovered, false);
      const reconnected = new Promise<void>((resolve) => client.io.once('reconnect', () => resolve()));
      for (const socket of io.of('/resumable').sockets.values()) socket.conn.close();
      await reconnected;
      await eventually(() => client.connected && handshakes.length === 2, 3000, 'the reconnect');
      assert.deepEqual(handshakes[1], { pid: 'session-1', offset: 'offset-7', token: 't' });
      assert.equal(client.recovered, true);
    } finally {
      client.disconnect();
      await io.close();
    }
  });
});

describe('socket.io internals: a packet encoded once', () => {
  it('sendEncodedEvent delivers the event as emit would, in order with emits, over websocket and long-polling; it declines while outgoing listeners watch', async () => {
    const server = createServer();
    const io = new Server(server);
    const received: unknown[][] = [];
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const [nsp, transports] of [
      ['/encoded', ['websocket']],
      ['/', ['polling']],
    ] as const) {
      const connected = new Promise<Socket>((resolve) => io.of(nsp).once('connection', resolve));
      const client = connect(`${url}${nsp}`, { forceNew: true, transports: [...transports] });
      try {
        const socket = await connected;
        const news = new Promise<void>((resolve) => {
          client.on('news', (...args: unknown[]) => {
            received.push(args);
            if (received.length % 3 === 0) resolve();
          });
        });
        assert.equal(sendEncodedEvent(socket, '["news",{"n":1,"text":"\\u00e9 \\"quoted\\""},"pos-1"]'), true);
        socket.emit('news', { n: 2 }, 'pos-2');
        assert.equal(sendEncodedEvent(socket, '["news",null,"pos-3"]'), true);
        await news;
        assert.deepEqual(received.splice(0), [
          [{ n: 1, text: 'é "quoted"' }, 'pos-1'],
          [{ n: 2 }, 'pos-2'],
          [null, 'pos-3'],
        ]);
        socket.onAnyOutgoing(() => undefined);
        assert.equal(sendEncodedEvent(socket, '["news",{"n":4},"pos-4"]'), false, 'the caller must emit, so that the listener sees it');
      } finally {
        client.disconnect();
      }
    }
    await io.close();
  });
});

describe('engine.io internals: a frame written past Engine.IO', () => {
  it('writeFrame writes a message frame of any length to an idle websocket connection, and declines where Engine.IO has something queued or speaks long-polling', async () => {
    const server = createServer();
    const io = new Server(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/frames`;
    const connected = new Promise<Socket>((resolve) => io.of('/frames').once('connection', resolve));
    const client = connect(url, { forceNew: true, transports: ['websocket'] });
    const received: unknown[] = [];
    let arrived = (): void => undefined;
    client.on('text', (text: unknown) => {
      received.push(text);
      arrived();
    });
    // A frame the client cannot read closes its connection: that fails the test rather than leaving it waiting.
    let dropped = (_reason: string): void => undefined;
    client.on('disconnect', (reason) => dropped(reason));
    const receive = (count: number): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        arrived = () => received.length >= count && resolve();
        dropped = (reason) => reject(new Error(`the client was disconnected (${reason}) after ${received.length} of ${count} events`));
        arrived();
      });
    try {
      const socket = await connected;
      // Each header size (7-bit, 16-bit and 64-bit lengths) at and past its bound, in bytes of the frame's payload.
      const prefix = messageFrame('2/frames,["text",""]').length - 2;
      const texts = [0, 125, 126, 127, 65_535, 65_536, 70_000].map((n) => 'x'.repeat(Math.max(0, n - prefix)));
      texts.push('é€😀'.repeat(40), '"quoted" \\ and \n'.repeat(9000));
      for (const text of texts) assert.equal(writeFrame(socket.conn, messageFrame(`2/frames,${JSON.stringify(['text', text])}`)), true);
      await receive(texts.length);
      assert.deepEqual(received.splice(0), texts);

      // The first emit is with `ws`, Engine.IO waits for its callback, so the second one queues: the frame waits its turn.
      socket.emit('text', 'queued 1');
      socket.emit('text', 'queued 2');
      assert.equal(writeFrame(socket.conn, messageFrame('2/frames,["text","direct"]')), false, 'Engine.IO holds a packet: nothing may overtake it');
      assert.equal(sendEncodedEvent(socket, '["text","after"]'), true);
      await receive(3);
      assert.deepEqual(received.splice(0), ['queued 1', 'queued 2', 'after']);
    } finally {
      client.disconnect();
    }

    const polled = new Promise<Socket>((resolve) => io.of('/frames').once('connection', resolve));
    const pollingClient = connect(url, { forceNew: true, transports: ['polling'] });
    try {
      const socket = await polled;
      assert.equal(writeFrame(socket.conn, messageFrame('2/frames,["text","x"]')), false, 'long-polling has no frames');
    } finally {
      pollingClient.disconnect();
      await io.close();
    }
  });
});

describe('socket.io internals: pending sockets and the parser', () => {
  it('isConnecting tells a socket in its middlewares from one connected or refused', async () => {
    const server = createServer();
    const io = new Server(server);
    const seen: Record<string, boolean[]> = {};
    io.of('/checked').use((socket, next) => {
      const name = String(socket.handshake.auth.name);
      seen[name] = [isConnecting(socket)];
      // Looked at again once Socket.IO acted on the decision (it does so on the next tick).
      setImmediate(() => seen[name]!.push(isConnecting(socket)));
      next(name === 'refused' ? new Error('no') : undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/checked`;
    const sockets = ['accepted', 'refused'].map((name) => connect(url, { auth: { name }, forceNew: true, reconnection: false, transports: ['websocket'] }));
    try {
      await Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once('connect', () => resolve(undefined)).once('connect_error', resolve))));
      await eventually(() => seen.accepted?.length === 2 && seen.refused?.length === 2, 3000, 'second looks');
      assert.deepEqual(seen, { accepted: [true, false], refused: [true, false] });
    } finally {
      for (const socket of sockets) socket.disconnect();
      await io.close();
    }
  });

  it('guardedParser shows each raw message and the JSON text of each packet before parsing, and a throw closes that connection; addAnyListener is onAny', async () => {
    const server = createServer();
    const raw: unknown[] = [];
    const texts: string[] = [];
    const parser = guardedParser({
      data: (data) => void raw.push(data),
      json(text) {
        texts.push(text);
        if (text.includes('refuse-me')) throw new Error('refused');
      },
    });
    const io = new Server(server, { parser });
    const received: unknown[] = [];
    io.of('/p').on('connection', (socket) => addAnyListener(socket, (...args) => received.push(args)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/p`;
    const client = connect(url, { auth: { a: 1 }, forceNew: true, reconnection: false, transports: ['websocket'] });
    try {
      await new Promise((resolve) => client.once('connect', () => resolve(undefined)));
      client.emit('ok', { n: 1 });
      await eventually(() => received.length === 1, 3000, 'the accepted event');
      assert.deepEqual(received, [['ok', { n: 1 }]]);
      assert.ok(texts.includes('{"a":1}'), 'the CONNECT payload');
      assert.ok(texts.includes('["ok",{"n":1}]'), "the event's JSON, exactly");
      assert.ok(raw.includes('2/p,["ok",{"n":1}]'), 'the raw message');
      // The private lists the guard and addAnyListener copy to their length (what they save is measured
      // by bench/heap-per-connection.ts): renamed, the copies would silently save nothing.
      const [socket] = io.of('/p').sockets.values();
      assert.equal((socket as unknown as { _anyListeners: unknown[] })._anyListeners.length, 1);
      const decoder = (socket!.client as unknown as { decoder: { _callbacks: Record<string, unknown[]> } }).decoder;
      assert.equal(decoder._callbacks.$decoded?.length, 1, "the Client's one decoded listener");
      const closed = new Promise((resolve) => client.once('disconnect', resolve));
      client.emit('refuse-me');
      assert.equal(await closed, 'transport close');
      assert.equal(received.length, 1, 'the refused packet reached no listener');
    } finally {
      client.disconnect();
      await io.close();
    }
  });
});

/** Counts `times` requests in `store` and resolves with what each returned. */
async function count(store: FastifyRateLimitStore, key: string, times: number, timeWindow = 60_000, max = 2): Promise<{ current: number; ttl: number }[]> {
  const results: { current: number; ttl: number }[] = [];
  for (let n = 0; n < times; n++) {
    results.push(
      await new Promise((resolve, reject) => store.incr(key, (error, result) => (error ? reject(error) : resolve({ ...result! })), timeWindow, max)),
    );
  }
  return results;
}

/** Starts `server` and returns a function that connects a new websocket client to it. */
async function websocketClients(server: import('node:http').Server): Promise<() => Promise<ReturnType<typeof connect>>> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return async () => {
    const socket = connect(url, { forceNew: true, reconnection: false, transports: ['websocket'] });
    await new Promise((resolve) => socket.once('connect', () => resolve(undefined)));
    return socket;
  };
}

describe('engine.io internals: what a websocket connection keeps of its upgrade', () => {
  it('its stand-in response and request last as long as the connection, until upgradeResponse releases them', async () => {
    const server = createServer();
    const io = new Server(server);
    const upgrades = new Map<IncomingMessage, ReturnType<typeof upgradeResponse>>();
    const responses: WeakRef<object>[] = [];
    let release = false;
    io.engine.use((request: IncomingMessage, response: object, next: () => void) => {
      responses.push(new WeakRef(response));
      upgrades.set(request, upgradeResponse(response));
      next();
    });
    io.engine.on('headers', (_headers: unknown, request: IncomingMessage) => {
      if (release) upgrades.get(request)!.release();
    });
    const requests: WeakRef<IncomingMessage>[] = [];
    io.engine.on('connection', (conn: { request: IncomingMessage | null }) => {
      requests.push(new WeakRef(conn.request!));
      // Socket.IO's own reference, which the gateway replaces (handshake-request.ts).
      conn.request = null;
      upgrades.clear();
    });
    const open = await websocketClients(server);
    const kept = await open();
    release = true;
    const released = await open();
    try {
      assert.equal(await survivesGc(responses[0]!), true, "Engine.IO's close listener keeps the response of an open connection");
      assert.equal(await survivesGc(requests[0]!), true, 'and through it the request');
      assert.equal(await survivesGc(responses[1]!), false, 'once released, nothing keeps the response');
      assert.equal(await survivesGc(requests[1]!), false, 'nor the request');
      // The connection works as before, and closes as before.
      const echoed = new Promise((resolve) => released.once('pong-test', resolve));
      io.emit('pong-test', 1);
      assert.equal(await echoed, 1);
    } finally {
      kept.disconnect();
      released.disconnect();
      await io.close();
    }
  });

  it("upgradeResponse leaves a real response (long-polling) alone, and never takes off another of the socket's close listeners", () => {
    assert.equal(upgradeResponse(new ServerResponse({ method: 'GET' } as IncomingMessage)), undefined);
    assert.equal(upgradeResponse({}), undefined);
    const socket = new EventEmitter();
    const response = { req: {}, socket };
    socket.once('close', () => undefined);
    upgradeResponse(response)!.release();
    assert.equal(response.req, undefined, 'the request is let go');
    assert.equal(socket.listenerCount('close'), 1, "someone else's listener stays");
  });

  it("leaves the websocket its onUpgradeError listener beside the transport's, which compactConnection takes off, as it compacts what a connection keeps; errors still reach the transport", async () => {
    const server = createServer();
    const io = new Server(server);
    const conns: (import('node:events').EventEmitter & {
      transport: import('node:events').EventEmitter & { socket: import('node:events').EventEmitter };
      cleanupFn: unknown[];
    })[] = [];
    let compact = false;
    const tables = (i: number): object[] => {
      const ws = conns[i]!.transport.socket as unknown as { _socket: object; _receiver: object };
      return [conns[i]!, conns[i]!.transport, ws, ws._socket, ws._receiver].map((emitter) => (emitter as { _events: object })._events);
    };
    const tablesAtConnection: object[][] = [];
    io.engine.on('connection', (conn: (typeof conns)[number]) => {
      conns.push(conn);
      tablesAtConnection.push(tables(conns.length - 1));
      if (compact) compactConnection(conn);
    });
    const closes: string[] = [];
    io.on('connection', (socket) => {
      socket.conn.on('close', (reason: string) => void closes.push(reason));
      socket.on('echo', (text: string, ack: (text: string) => void) => ack(text));
    });
    const open = await websocketClients(server);
    const errorListeners = (i: number) => conns[i]!.transport.socket.listeners('error').map((listener) => listener.name);
    const kept = await open();
    compact = true;
    const compacted = await open();
    try {
      assert.ok(errorListeners(0).includes('onUpgradeError'), "Engine.IO's leftover, by the name compactConnection looks for");
      assert.ok(errorListeners(0).length > 1, "beside the transport's own");
      assert.ok(!errorListeners(1).includes('onUpgradeError'));
      assert.equal(errorListeners(1).length, errorListeners(0).length - 1, "the transport's listener stays");
      assert.equal(conns[1]!.cleanupFn.length, conns[0]!.cleanupFn.length, 'the cleanups, all of them');
      // What `once` registered on the connection, its transport and its ws socket (settleOnce).
      const onceWrappers = (i: number) =>
        [conns[i]!, conns[i]!.transport, conns[i]!.transport.socket].flatMap((emitter) =>
          ['close', 'error'].flatMap((event) => emitter.rawListeners(event).filter((listener) => listener.name === 'bound onceWrapper')),
        ).length;
      assert.equal(onceWrappers(0), 4, "Engine.IO's close and error listeners, by what settleOnce looks for");
      assert.equal(onceWrappers(1), 0, 'each in the place of its wrapper');
      // The listener tables of the connection, its transport, ws socket, TCP socket and frame reader (node-events.ts).
      const [engineTable, transportTable, wsTable, tcpTable, readerTable] = tablesAtConnection[0]!;
      for (const plainTable of [engineTable, transportTable, wsTable])
        assert.equal(Object.getPrototypeOf(plainTable), null, "a plain emitter's table has no prototype");
      for (const streamTable of [tcpTable, readerTable]) assert.equal(Object.getPrototypeOf(streamTable), Object.prototype, "a stream's is an object literal");
      assert.deepEqual(tables(0), tablesAtConnection[0], 'left alone without compactConnection');
      tables(1).forEach((table, k) => {
        const before = tablesAtConnection[1]![k]!;
        assert.notEqual(table, before, 'a new table');
        assert.deepEqual(Reflect.ownKeys(table), Reflect.ownKeys(before), 'of the same events');
        assert.equal(Object.getPrototypeOf(table) === Object.prototype, k > 2, 'over a prototype that finds what the old one found');
      });
      const news = new Promise((resolve) => compacted.once('news', resolve));
      io.emit('news', 'after compaction');
      assert.equal(await news, 'after compaction', 'the connection works as before');
      // Each client sent its CONNECT and more: ws's frame reader keeps the last one's mask, unless told.
      const echoes = [kept, compacted].map((client) => client.emitWithAck('echo', 'é'.repeat(300)));
      assert.deepEqual(await Promise.all(echoes), ['é'.repeat(300), 'é'.repeat(300)], 'messages arrive whole');
      const masks = [0, 1].map((i) => (conns[i]!.transport.socket as unknown as { _receiver: { _mask?: Uint8Array } })._receiver._mask);
      assert.ok(masks[0] instanceof Uint8Array && masks[0].buffer.byteLength > 4, 'a view of the chunk it was read in');
      assert.equal(masks[1], undefined, 'let go once the message is out');
      // An error on the websocket is the transport's to handle: the connection closes, the process stays.
      conns[1]!.transport.socket.emit('error', new Error('broken frame'));
      await eventually(() => closes.includes('transport error'), 3000, 'the transport error');
      await eventually(() => !compacted.connected, 3000, 'the client sees its connection closed');
      assert.equal(io.engine.clientsCount, 1, 'the closed connection counted off once, the other still open');
      kept.disconnect();
      await eventually(() => io.engine.clientsCount === 0, 3000, 'the other connection counted off');
    } finally {
      kept.disconnect();
      compacted.disconnect();
      await io.close();
    }
  });
});

describe("Node's EventEmitter internals", () => {
  it('registers a once listener as a bound onceWrapper that names it; settleOnce puts the listener in its place', () => {
    const emitter = new EventEmitter();
    const calls: string[] = [];
    const first = () => void calls.push('first');
    const second = () => void calls.push('second');
    emitter.once('close', first);
    const [wrapper] = emitter.rawListeners('close') as ((...args: unknown[]) => void)[];
    assert.equal(wrapper!.name, 'bound onceWrapper', 'what settleOnce recognises');
    assert.equal((wrapper as unknown as { listener: unknown }).listener, first);
    settleOnce(emitter, 'close');
    assert.deepEqual(emitter.rawListeners('close'), [first], 'one listener: the table holds it alone');
    emitter.once('close', second);
    emitter.on('close', () => void calls.push('third'));
    settleOnce(emitter, 'close');
    assert.equal(emitter.rawListeners('close')[1], second, 'several: the list holds them');
    emitter.emit('close');
    assert.deepEqual(calls, ['first', 'second', 'third'], 'in order');
    emitter.removeListener('close', first);
    emitter.removeListener('close', second);
    assert.equal(emitter.listenerCount('close'), 1, 'taken off by the listener itself');
    settleOnce(emitter, 'missing');
    settleOnce({}, 'close');
  });

  it('keeps listeners in a prototype-less _events; compactListeners moves them to a table that behaves the same', () => {
    const emitter = new EventEmitter();
    const calls: string[] = [];
    const gone = () => void calls.push('gone');
    emitter.on('data', (n: number) => void calls.push(`data ${n}`));
    emitter.on('gone', gone);
    emitter.once('close', () => void calls.push('close'));
    emitter.on(Symbol.for('kind'), () => void calls.push('symbol'));
    const own = emitter as unknown as { _events: object };
    assert.equal(Object.getPrototypeOf(own._events), null, "what compactListeners recognises as Node's own table");
    const names = emitter.eventNames();
    compactListeners(emitter);
    assert.notEqual(Object.getPrototypeOf(own._events), null, 'compacted');
    assert.deepEqual(emitter.eventNames(), names, 'the same events, in the same order');
    for (const name of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
      assert.equal(emitter.listenerCount(name), 0, `no listener for ${name}`);
      assert.equal(emitter.emit(name), false);
    }
    emitter.emit('data', 1);
    emitter.emit('close');
    emitter.emit('close');
    emitter.emit(Symbol.for('kind'));
    emitter.removeListener('gone', gone);
    emitter.emit('gone');
    emitter.on('later', () => void calls.push('later'));
    emitter.emit('later');
    assert.deepEqual(calls, ['data 1', 'close', 'symbol', 'later'], 'once, removal, symbols and new listeners work as before');
    assert.deepEqual(emitter.eventNames(), ['data', 'later', Symbol.for('kind')], 'names first, then symbols, as always');
    assert.throws(() => emitter.emit('error', new Error('unheard')), /unheard/, 'an error without a listener still throws');
    const foreign = new EventEmitter() as unknown as { _events: object };
    const table = Object.create(new Map()) as object;
    foreign._events = table;
    compactListeners(foreign);
    assert.equal(foreign._events, table, 'a table of another kind is left alone');
    const odd = new EventEmitter();
    odd.on('__proto__', () => void calls.push('__proto__'));
    compactListeners(odd);
    odd.emit('__proto__');
    assert.equal(calls.at(-1), '__proto__', 'an event named __proto__ stays an event');
  });
});

describe('@fastify/rate-limit internals', () => {
  it('hands a custom store its counting rules, and each limited route its own options with the route', async () => {
    const app = Fastify({ exposeHeadRoutes: false });
    const seen: { settings?: unknown; routes: unknown[] } = { routes: [] };
    class Recording extends (LocalStore as new (continueExceeding?: boolean, exponentialBackoff?: boolean) => FastifyRateLimitStore) {
      constructor(settings: FastifyRateLimitOptions) {
        super();
        seen.settings = settings;
      }
      override child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
        seen.routes.push(routeOptions);
        return this;
      }
    }
    await app.register(rateLimit, { global: false, continueExceeding: true, store: Recording });
    app.get('/limited', { config: { rateLimit: { max: 3, timeWindow: 1000 } } }, async () => 'ok');
    await app.ready();
    assert.deepEqual(rulesOf(seen.settings), { continueExceeding: true, exponentialBackoff: false });
    assert.equal(seen.routes.length, 1);
    const route = routeOf(seen.routes[0] as Parameters<FastifyRateLimitStore['child']>[0]);
    assert.deepEqual(route, { rules: { continueExceeding: true, exponentialBackoff: false }, prefix: 'GET/limited-' });
    await app.close();
  });

  it('LocalStore counts in memory within the window', async () => {
    const results = await count(new LocalStore(false, false), 'key:a', 3);
    assert.deepEqual(
      results.map((result) => result.current),
      [1, 2, 3],
    );
    for (const { ttl } of results) assert.ok(ttl > 0 && ttl <= 60_000, `ttl ${ttl} is within the window`);
  });

  it("RedisStore counts in Redis under its prefix, and a route's child under the prefix routeOf names", {
    skip: !redisUp && 'Redis is not running',
  }, async () => {
    const redis = new Redis(SHARED_REDIS_URL);
    const prefix = `${uniquePrefix()}:rate-limit:`;
    try {
      const store = new RedisStore(false, false, redis, prefix);
      assert.deepEqual(
        (await count(store, 'key:a', 2)).map((result) => result.current),
        [1, 2],
      );
      const routeOptions = {
        routeInfo: { method: 'POST', url: '/emit/:emitTo' },
        continueExceeding: false,
        exponentialBackoff: false,
      } as unknown as Parameters<FastifyRateLimitStore['child']>[0];
      await count(store.child(routeOptions), 'key:a', 1);
      assert.deepEqual((await redis.keys(`${prefix}*`)).sort(), [`${prefix}${routeOf(routeOptions).prefix}key:a`, `${prefix}key:a`]);
      assert.equal(Number(await redis.get(`${prefix}key:a`)), 2);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

describe('@socket.io/cluster-adapter internals', { timeout: 60_000 }, () => {
  const workers: Worker[] = [];
  after(() => {
    for (const worker of workers) worker.process.kill('SIGKILL');
  });

  it('the primary recognises each worker\'s adapter, and its "adapter closed" message makes the survivors forget a dead worker at once', async () => {
    // The gateway's primary: the adapter's relay, and the announcement of dead workers.
    servePrimary();
    cluster.setupPrimary({ exec: new URL('./support/cluster-adapter-worker.ts', import.meta.url).pathname, execArgv: ['--import', 'tsx'], silent: false });
    const adapters = new Map<number, { uid: string; nsp: string }>();
    const answers = new Map<number, ((servers: number) => void)[]>();
    cluster.on('message', (worker, message: { servers?: number }) => {
      const adapter = adapterOf(message);
      if (adapter) adapters.set(worker.id, adapter);
      if (typeof message?.servers === 'number') answers.get(worker.id)?.shift()?.(message.servers);
    });
    const servers = (worker: Worker): Promise<number> =>
      new Promise((resolve) => {
        answers.set(worker.id, [...(answers.get(worker.id) ?? []), resolve]);
        worker.send({ ask: 'servers' });
      });

    workers.push(cluster.fork(), cluster.fork());
    const [survivor, victim] = workers as [Worker, Worker];
    await eventually(() => adapters.size === 2, 30_000, "both workers' adapters to speak");
    for (const adapter of adapters.values()) assert.deepEqual(adapter.nsp, '/');
    assert.notEqual(adapters.get(survivor.id)!.uid, adapters.get(victim.id)!.uid);
    await eventually(async () => (await servers(survivor)) === 2, 30_000, 'the workers to count each other');

    const exited = new Promise((resolve) => victim.once('exit', resolve));
    victim.process.kill('SIGKILL');
    await exited;
    // Without the announcement the survivor would count the dead worker until its heartbeats time out (10 s).
    assert.equal(await servers(survivor), 1);
  });
});

describe("Node's HTTP server internals", () => {
  it('startRequestTimeouts makes a server that is handed connections, without listening, time out slow headers', async () => {
    const server = createServer({ headersTimeout: 200, requestTimeout: 400, connectionsCheckingInterval: 50 });
    startRequestTimeouts(server);
    const errors: string[] = [];
    server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      errors.push(error.code ?? '');
      socket.destroy();
    });
    // As @socket.io/sticky does in a worker: another server accepts, this one is handed the socket.
    const acceptor = createTcpServer((socket) => server.emit('connection', socket));
    await new Promise<void>((resolve) => acceptor.listen(0, '127.0.0.1', resolve));
    const client = tcpConnect((acceptor.address() as AddressInfo).port, '127.0.0.1');
    client.on('error', () => undefined);
    try {
      client.write('GET / HTTP/1.1\r\nHost: x\r\n');
      await eventually(() => errors.includes('ERR_HTTP_REQUEST_TIMEOUT'), 10_000, 'the headers timeout');
    } finally {
      client.destroy();
      await new Promise((resolve) => acceptor.close(resolve));
      server.close();
    }
  });

  it('responseStarted sees a response in progress on its connection', async () => {
    const seen: boolean[] = [];
    const server = createServer((request, response) => {
      seen.push(responseStarted(request.socket));
      response.writeHead(200);
      seen.push(responseStarted(request.socket));
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)).arrayBuffer();
      assert.deepEqual(seen, [false, true]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("Node's handing over of a connection to another process", { timeout: 60_000 }, () => {
  it('stopReading keeps the bytes that arrive after the first ones for the process the connection is sent to', async () => {
    const child = fork(new URL('./support/handoff-child.ts', import.meta.url), { execArgv: ['--import', 'tsx'], serialization: 'advanced' });
    const acceptor = createTcpServer();
    let client: TcpSocket | undefined;
    try {
      await new Promise((resolve) => child.once('message', resolve));
      // As the WORKERS primary does: it reads the first bytes, decides, and sends the connection on.
      const firstBytes = new Promise<{ socket: TcpSocket; data: Buffer }>((resolve) =>
        acceptor.once('connection', (socket) =>
          socket.once('data', (data: Buffer) => {
            stopReading(socket);
            resolve({ socket, data });
          }),
        ),
      );
      await new Promise<void>((resolve) => acceptor.listen(0, '127.0.0.1', resolve));
      client = tcpConnect((acceptor.address() as AddressInfo).port, '127.0.0.1');
      let answer = '';
      client.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      client.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n');
      const { socket, data } = await firstBytes;
      // The body arrives while the primary still holds the connection: unread, not lost.
      client.write('hello world');
      await new Promise((resolve) => setTimeout(resolve, 200));
      child.send({ data }, socket);
      await eventually(() => answer.endsWith('hello world'), 10_000, `the body echoed (answer so far: ${JSON.stringify(answer)})`);
      assert.match(answer, /^HTTP\/1\.1 200/);
    } finally {
      client?.destroy();
      child.kill('SIGKILL');
      await new Promise((resolve) => acceptor.close(resolve));
    }
  });

  it('closeUndelivered closes the connections sent to a process that died before it took them', async () => {
    const child = fork(new URL('./support/handoff-child.ts', import.meta.url), { execArgv: ['--import', 'tsx'], serialization: 'advanced' });
    const acceptor = createTcpServer();
    const clients: TcpSocket[] = [];
    try {
      await new Promise((resolve) => child.once('message', resolve));
      await new Promise<void>((resolve) => acceptor.listen(0, '127.0.0.1', resolve));
      // Stopped, the child takes nothing: the first connection waits for its acknowledgement, the second its turn.
      child.kill('SIGSTOP');
      const accepted = new Promise<void>((resolve) => {
        let count = 0;
        acceptor.on('connection', (socket) =>
          socket.once('data', (data: Buffer) => {
            stopReading(socket);
            child.send({ data }, socket);
            if (++count === 2) resolve();
          }),
        );
      });
      const closed: Promise<void>[] = [];
      for (let n = 0; n < 2; n++) {
        const client = tcpConnect((acceptor.address() as AddressInfo).port, '127.0.0.1');
        client.on('error', () => undefined);
        closed.push(new Promise((resolve) => client.once('close', () => resolve())));
        clients.push(client);
        client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      }
      await accepted;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      closeUndelivered(child);
      const outcome = await Promise.race([Promise.all(closed).then(() => 'closed'), new Promise((resolve) => setTimeout(resolve, 5000, 'still open'))]);
      assert.equal(outcome, 'closed', 'both clients learn that their connection is gone');
    } finally {
      for (const client of clients) client.destroy();
      child.kill('SIGKILL');
      // Not waited for: the server counts the connections it sent until their receiver reports them closed.
      acceptor.close();
    }
  });
});

describe('socket.io internals: the maps a connected socket keeps', () => {
  it('SingleEntryMap answers as a Map through sets, deletes and iteration, past one entry and back', () => {
    const map = new Map<unknown, number>();
    const small = new SingleEntryMap<unknown, number>();
    const same = (step: string): void => {
      assert.equal(small.size, map.size, step);
      assert.deepEqual([...small], [...map], step);
      assert.deepEqual([...small.keys()], [...map.keys()], step);
      assert.deepEqual([...small.values()], [...map.values()], step);
      const seen: unknown[] = [];
      small.forEach((value, key, self) => void seen.push([key, value, self === small]));
      assert.deepEqual(
        seen,
        [...map].map(([key, value]) => [key, value, true]),
        step,
      );
      for (const key of ['a', 'b', 'c', 0, -0, Number.NaN, undefined]) {
        assert.equal(small.has(key), map.has(key), `${step}: has ${String(key)}`);
        assert.equal(small.get(key), map.get(key), `${step}: get ${String(key)}`);
      }
    };
    const steps: [string, (m: Map<unknown, number>) => unknown][] = [
      ['set a', (m) => m.set('a', 1)],
      ['set a again', (m) => m.set('a', 2)],
      ['delete b (absent)', (m) => m.delete('b')],
      ['delete a', (m) => m.delete('a')],
      ['set -0', (m) => m.set(-0, 3)],
      ['set +0 (the same key)', (m) => m.set(0, 4)],
      ['set NaN (a second entry)', (m) => m.set(Number.NaN, 5)],
      ['set c', (m) => m.set('c', 6)],
      ['delete 0', (m) => m.delete(0)],
      ['clear', (m) => m.clear()],
      ['set undefined', (m) => m.set(undefined, 7)],
    ];
    for (const [step, run] of steps) {
      assert.deepEqual(run(small as unknown as Map<unknown, number>) === small, run(map) === map, `${step}: returns`);
      same(step);
    }
    assert.equal(Object.prototype.toString.call(small), '[object Map]');
    assert.deepEqual([...new SingleEntryMap(new Map([['x', 1]]))], [['x', 1]]);
  });

  it('compactSocket replaces the Maps of a socket and its connection, which go on working with two namespaces on one connection and acks both ways', async () => {
    const server = createServer();
    const io = new Server(server);
    type Private = { acks: unknown; client: { sockets: unknown; nsps: unknown } };
    const seen: { acks: unknown; sockets: unknown; nsps: unknown }[] = [];
    for (const name of ['/a', '/b']) {
      io.of(name).on('connection', (socket) => {
        const own = socket as unknown as Private;
        // The private Maps compactSocket expects: a failure here means Socket.IO renamed or replaced one.
        seen.push({ acks: own.acks, sockets: own.client.sockets, nsps: own.client.nsps });
        compactSocket(socket);
        socket.on('echo', (text: string, ack: (text: string) => void) => ack(`${name} ${text}`));
      });
    }
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const a = connect(`${url}/a`, { forceNew: true, reconnection: false, transports: ['websocket'] });
    try {
      await new Promise((resolve) => a.once('connect', () => resolve(undefined)));
      // A second namespace on the same connection (the Manager multiplexes it, and connects it).
      const b = a.io.socket('/b');
      await new Promise((resolve) => b.once('connect', () => resolve(undefined)));
      assert.equal(io.engine.clientsCount, 1, 'one connection for both');
      assert.ok(seen[0]!.acks instanceof Map && seen[0]!.sockets instanceof Map && seen[0]!.nsps instanceof Map, 'Maps before');
      assert.ok(seen[1]!.sockets instanceof SingleEntryMap, 'the second socket finds its connection’s maps replaced');
      const [socketA, socketB] = ['/a', '/b'].map((name) => [...io.of(name).sockets.values()][0]!);
      for (const socket of [socketA!, socketB!]) {
        const own = socket as unknown as Private;
        assert.ok(own.acks instanceof SingleEntryMap && own.client.sockets instanceof SingleEntryMap && own.client.nsps instanceof SingleEntryMap);
        assert.equal((own.client.sockets as Map<unknown, unknown>).size, 2, 'both sockets');
      }
      // Packets reach the socket of their namespace, acks come back, several waiting at once.
      assert.deepEqual(await Promise.all([a.emitWithAck('echo', '1'), b.emitWithAck('echo', '2')]), ['/a 1', '/b 2']);
      a.on('ask', (n: number, ack: (n: number) => void) => ack(n * 2));
      const answers = await Promise.all([1, 2, 3].map((n) => socketA!.timeout(3000).emitWithAck('ask', n)));
      assert.deepEqual(answers, [2, 4, 6]);
      // One namespace leaves; the other stays on the connection.
      b.disconnect();
      await eventually(() => io.of('/b').sockets.size === 0, 3000, '/b to be left');
      assert.deepEqual(await a.emitWithAck('echo', '3'), '/a 3');
      a.disconnect();
      await eventually(() => io.engine.clientsCount === 0, 3000, 'the connection to close');
    } finally {
      a.disconnect();
      await io.close();
    }
  });
});

describe('socket.io internals: the sets of rooms', () => {
  it('SmallSet answers as a Set through adds, deletes and iteration, past two members and back', () => {
    const set = new Set<unknown>();
    const small = new SmallSet<unknown>();
    const same = (step: string): void => {
      assert.equal(small.size, set.size, step);
      assert.deepEqual([...small], [...set], step);
      assert.deepEqual([...small.entries()], [...set.entries()], step);
      const seen: unknown[] = [];
      small.forEach((value, key, self) => void seen.push([value, key, self === small]));
      assert.deepEqual(
        seen,
        [...set].map((member) => [member, member, true]),
        step,
      );
      for (const member of ['a', 'b', 'c', 'd', 0, -0, Number.NaN, undefined])
        assert.equal(small.has(member), set.has(member), `${step}: has ${String(member)}`);
    };
    const steps: [string, (s: Set<unknown>) => unknown][] = [
      ['add a', (s) => s.add('a')],
      ['add a again', (s) => s.add('a')],
      ['add b', (s) => s.add('b')],
      ['delete a (b stays, first now)', (s) => s.delete('a')],
      ['add a (after b)', (s) => s.add('a')],
      ['delete c (absent)', (s) => s.delete('c')],
      ['add -0 (a third member)', (s) => s.add(-0)],
      ['add 0 (the same member)', (s) => s.add(0)],
      ['delete b', (s) => s.delete('b')],
      ['clear', (s) => s.clear()],
      ['add NaN', (s) => s.add(Number.NaN)],
      ['add undefined', (s) => s.add(undefined)],
      ['delete NaN', (s) => s.delete(Number.NaN)],
    ];
    for (const [step, run] of steps) {
      const [mine, theirs] = [run(small as unknown as Set<unknown>), run(set)];
      assert.equal(mine === small, theirs === set, `${step}: returns`);
      if (typeof theirs === 'boolean') assert.equal(mine, theirs, `${step}: returns`);
      same(step);
    }
    // Deleting while iterating, as the adapter's delAll does with the rooms it leaves.
    for (const members of [
      ['x', 'y'],
      ['x', 'y', 'z'],
    ]) {
      const [mine, theirs] = [new SmallSet(members), new Set(members)];
      for (const target of [mine, theirs]) {
        const visited: string[] = [];
        for (const member of target) {
          visited.push(member);
          target.delete(member === 'x' ? 'y' : member);
        }
        assert.deepEqual(visited, ['x', ...(members.length > 2 ? ['z'] : [])], `${members.length} members`);
      }
    }
    assert.equal(Object.prototype.toString.call(small), '[object Set]');
  });

  it('compactRooms replaces the Sets of a socket’s rooms; rooms still reach their sockets, grow, and are deleted when left', async () => {
    const server = createServer();
    const io = new Server(server);
    const adapter = io.of('/').adapter as unknown as { sids: Map<string, unknown>; rooms: Map<string, unknown> };
    io.on('connection', (socket) => {
      void socket.join('shared');
      compactRooms(socket);
    });
    const open = await websocketClients(server);
    const clients = [await open(), await open(), await open()];
    try {
      const sockets = [...io.of('/').sockets.values()];
      for (const socket of sockets) {
        assert.ok(adapter.sids.get(socket.id) instanceof SmallSet, 'the Set of its rooms');
        assert.ok(adapter.rooms.get(socket.id) instanceof SmallSet, 'the room named by its id');
        assert.deepEqual([...socket.rooms].sort(), [socket.id, 'shared'].sort());
      }
      // 'shared' was compacted at its first member and took two more: a Set of three inside it.
      assert.ok(adapter.rooms.get('shared') instanceof SmallSet);
      assert.equal(io.of('/').adapter.rooms.get('shared')?.size, 3);
      const heard = clients.map((client) => new Promise((resolve) => client.once('news', resolve)));
      io.to('shared').emit('news', 'all');
      assert.deepEqual(await Promise.all(heard), ['all', 'all', 'all']);
      const alone = new Promise((resolve) => clients[1]!.once('news', resolve));
      io.to(sockets[1]!.id).emit('news', 'one');
      assert.equal(await alone, 'one');
      // Joining a third room grows a socket's Set past two members; leaving shrinks it.
      sockets[0]!.join('extra');
      assert.deepEqual([...sockets[0]!.rooms].sort(), [sockets[0]!.id, 'extra', 'shared'].sort());
      sockets[0]!.leave('shared');
      assert.equal(io.of('/').adapter.rooms.get('shared')?.size, 2);
      for (const client of clients) client.disconnect();
      await eventually(() => adapter.sids.size === 0 && adapter.rooms.size === 0, 3000, 'every room to be deleted with its last socket');
    } finally {
      for (const client of clients) client.disconnect();
      await io.close();
    }
  });
});
