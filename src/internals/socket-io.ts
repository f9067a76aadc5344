/**
 * The one place that reads Socket.IO's private state. Socket.IO has no public way to list a
 * server's namespaces, those created on the fly by a dynamic namespace included; its `_nsps` map
 * is that list. Nor to tell a socket still in its namespace's middlewares (`_preConnectSockets`),
 * nor to look at a packet's JSON before its parser parses it (the Decoder's `tryParse`), nor to
 * write a packet encoded once for many sockets to one of them (the Client's `writeToEngine`, or
 * past it: internals/engine-io.ts), nor
 * to let go of a websocket's upgrade request (Engine.IO's WebSocketResponse `req`, and the `close`
 * listener that keeps the response), nor to drop what an idle connection keeps for nothing (Engine.IO's
 * leftover `onUpgradeError`, listener lists with room for 17 that hold one, listener tables in V8's
 * hash-table layout: see node-events.ts).
 * test/internals.test.ts fails if an upgrade changes any of them.
 */
import { EventEmitter } from 'node:events';
import { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Server, Socket } from 'socket.io';
import { messageFrame, writeFrame } from './engine-io.js';
import { compactListeners, settleOnce } from './node-events.js';
import { SingleEntryMap, SmallSet } from './small-collections.js';

/** The namespace type of a typed server. */
type NamespaceOf<S> = S extends { _nsps: Map<string, infer N> } ? N : never;

/** Every namespace `io` has created so far (the main one, static and dynamic ones). */
// biome-ignore lint/suspicious/noExplicitAny: any typed server has the same private map
export function namespacesOf<S extends Server<any, any, any, any>>(io: S): Iterable<NamespaceOf<S>> {
  const namespaces: unknown = io._nsps;
  // Loud rather than an empty list: a gateway that sees no namespace would stop counting and closing sockets.
  if (!(namespaces instanceof Map)) throw new Error('socket.io changed: Server._nsps is no longer a Map of namespaces (see src/internals/socket-io.ts)');
  return (namespaces as Map<string, NamespaceOf<S>>).values();
}

/**
 * Whether `socket` is still in its namespace's middlewares: neither refused nor connected yet.
 * (Not loud when the map is gone: this runs inside a middleware, where a throw would end the process.)
 */
// biome-ignore lint/suspicious/noExplicitAny: any typed socket has the same private map
export function isConnecting(socket: Socket<any, any, any, any>): boolean {
  const pending: unknown = (socket.nsp as unknown as { _preConnectSockets?: unknown })._preConnectSockets;
  return pending instanceof Map && pending.get(socket.id) === socket;
}

/** A Socket.IO parser: what `new Server(..., { parser })` takes. */
export interface SocketIoParser {
  readonly Encoder: new () => unknown;
  readonly Decoder: new () => { add(data: unknown): void };
}

// The parser socket.io itself loads (its own dependency), so that the guard wraps exactly the version in use.
const parser = createRequire(createRequire(import.meta.url).resolve('socket.io'))('socket.io-parser') as SocketIoParser;

/**
 * Socket.IO's parser, with checks before it decodes: `data` sees each raw message, `json` the JSON
 * text of each packet before JSON.parse. What they throw, Socket.IO catches (Client.ondata) and
 * closes that connection; nothing reaches a listener.
 */
export function guardedParser(checks: { data(data: unknown): void; json(text: string): void }): SocketIoParser {
  const base = parser.Decoder.prototype as unknown as { tryParse?: (text: string) => unknown };
  const { tryParse } = base;
  // Loud at start-up rather than a guard that silently checks nothing.
  if (typeof tryParse !== 'function') throw new Error('socket.io-parser changed: Decoder.prototype.tryParse is gone (see src/internals/socket-io.ts)');
  class GuardedDecoder extends parser.Decoder {
    override add(data: unknown): void {
      checks.data(data);
      super.add(data);
    }

    // The Client's one `decoded` listener, in a list of its length rather than one `push` gave room for 17.
    on(event: string, listener: (...args: unknown[]) => void): this {
      const emitter = this as unknown as { _callbacks?: Record<string, unknown> };
      (parser.Decoder.prototype as unknown as { on: (event: string, listener: unknown) => void }).on.call(this, event, listener);
      const list = emitter._callbacks?.[`$${event}`];
      if (emitter._callbacks && Array.isArray(list)) emitter._callbacks[`$${event}`] = list.slice();
      return this;
    }
  }
  // tryParse is private in the typings, so it is replaced on the prototype rather than overridden.
  Object.defineProperty(GuardedDecoder.prototype, 'tryParse', {
    value(this: unknown, text: string): unknown {
      checks.json(text);
      return tryParse.call(this, text);
    },
  });
  return { Encoder: parser.Encoder, Decoder: GuardedDecoder };
}

/**
 * Gives a socket, before its CONNECT packet is written, the session id that packet carries (`pid`),
 * and marks it recovered. Socket.IO's connection-state recovery writes both itself, but only from a
 * session its adapter restores, within one process and before any middleware; the gateway's streams
 * resume after the token is checked, from any node, across restarts. A stock socket.io-client keeps
 * the `pid`, records the last string argument of each event as its offset, and sends both back on
 * reconnect (`auth.pid`, `auth.offset`); `socket.recovered` is true on the client when the pid it
 * sent comes back.
 */
// biome-ignore lint/suspicious/noExplicitAny: any typed socket has the same fields
export function setSession(socket: Socket<any, any, any, any>, pid: string, recovered: boolean): void {
  // The CONNECT packet reads `this.pid` (test/internals.test.ts checks that a client receives it).
  Object.assign(socket, { pid, recovered });
}

/** An EVENT packet of one namespace, encoded once for any number of its sockets: Socket.IO's text and its WebSocket frame. */
export interface EncodedEvent {
  readonly packet: string;
  readonly frame: Buffer;
}

/**
 * Encodes an EVENT packet for sockets of namespace `nsp` from the JSON text of its arguments
 * (`["event",...]`), which must be JSON (no binary attachments, which need Socket.IO's binary packets).
 */
export function encodeEvent(nsp: string, argumentsJson: string): EncodedEvent {
  // socket.io-parser's text encoding of an EVENT packet: type 2, the namespace unless it is "/", the arguments.
  const packet = nsp === '/' ? `2${argumentsJson}` : `2${nsp},${argumentsJson}`;
  return { packet, frame: messageFrame(packet) };
}

/**
 * Sends an encoded event (encodeEvent, for the socket's namespace) to one socket, as `socket.emit`
 * would, without encoding it again: a fan-out encodes its event once for all sockets, or the shared
 * part once when each socket gets its own last argument (a stream position). Over a websocket with
 * nothing queued, the frame goes straight to the TCP socket (internals/engine-io.ts); else the packet
 * goes through Engine.IO, in order. Returns false, having sent nothing, where it cannot stand in for
 * `emit`: outgoing listeners (`onAnyOutgoing`, the admin UI) must see the packet, so the caller emits instead.
 */
// biome-ignore lint/suspicious/noExplicitAny: any typed socket has the same private fields
export function sendEncoded(socket: Socket<any, any, any, any>, encoded: EncodedEvent): boolean {
  if (socket.listenersAnyOutgoing().length > 0) return false;
  const client = (socket as unknown as { client: EncodedWriter }).client;
  // Loud: a gateway whose deliveries vanish would be worse than one that stops.
  if (typeof client?.writeToEngine !== 'function') throw new Error('socket.io changed: Client.writeToEngine is gone (see src/internals/socket-io.ts)');
  // Socket.IO's own check (Client._packet): nothing is written to a closing transport.
  if (client.conn.readyState !== 'open') return true;
  if (!writeFrame(client.conn, encoded.frame)) client.writeToEngine(encoded.packet, {});
  return true;
}

/** sendEncoded of an event encoded for this one socket: `argumentsJson` as for encodeEvent. */
// biome-ignore lint/suspicious/noExplicitAny: any typed socket has the same private fields
export function sendEncodedEvent(socket: Socket<any, any, any, any>, argumentsJson: string): boolean {
  return sendEncoded(socket, encodeEvent(socket.nsp.name, argumentsJson));
}

interface EncodedWriter {
  readonly conn: { readonly readyState: string };
  writeToEngine(encoded: string, options: object): void;
}

/** The source of Engine.IO's WebSocketResponse `close` listener: it emits `close` on the response. */
const PASSES_CLOSE_ON = /\bemit\(\s*["']close["']\s*\)/;

/** An upgrade's stand-in response, seen by the first middleware; `release` once its headers are written. */
export interface UpgradeResponse {
  release(): void;
}

/**
 * Engine.IO (6.6) runs its middlewares on a websocket upgrade with a stand-in response (its
 * WebSocketResponse) that holds the request in `req`, and puts a `close` listener on the TCP socket
 * (`socket.once("close", () => this.emit("close"))`) that keeps the response, and through it the
 * request, reachable for as long as the connection lasts. Call this in the first middleware: the
 * response's constructor added that listener last, just before the middlewares ran. Its `release`
 * makes the response forget its request and takes the listener off, so that the response goes too
 * (no middleware of the gateway waits for its `close`). Undefined for a real response (long-polling).
 */
export function upgradeResponse(response: object): UpgradeResponse | undefined {
  if (response instanceof ServerResponse || !('req' in response) || !('socket' in response)) return undefined;
  const socket = response.socket as EventEmitter;
  // `once` listeners are wrappers that name what they wrap. Only the response's is taken off: one added
  // by `once` that passes the close on (`() => this.emit("close")`), never another of the socket's.
  const last = socket.rawListeners('close').at(-1) as ((...args: unknown[]) => void) & { listener?: unknown };
  const own = typeof last?.listener === 'function' && PASSES_CLOSE_ON.test(String(last.listener)) ? last : undefined;
  return {
    release() {
      (response as { req: unknown }).req = undefined;
      if (own) socket.removeListener('close', own);
    },
  };
}

/**
 * Called by `ws`'s frame reader with each message it read: the reader keeps the last frame's mask,
 * four bytes that are a view of the whole chunk the frame was read in (about 350 bytes with their
 * buffer), and reads it again only after it read the next frame's, so an idle connection need not keep it.
 */
function forgetMask(this: { _mask?: unknown }): void {
  this._mask = undefined;
}

/**
 * Engine.IO leaves on the `ws` socket of a connection that came as a websocket the `error` listener
 * it put there before the transport took over (`onUpgradeError`, which does nothing); it takes it
 * off only for a long-polling session that upgrades. Takes it off once the transport has its own,
 * copies the connection's list of cleanups (grown by `push`, so with room for 17) to its length,
 * makes `ws`'s frame reader let go of each message's mask (`forgetMask`), puts the `close` and
 * `error` listeners registered with `once` in the place of their wrappers (`settleOnce`), and compacts
 * the listener tables of the connection, its transport, and the transport's `ws` socket, TCP socket
 * and frame reader.
 */
export function compactConnection(conn: object): void {
  const engineSocket = conn as { transport?: { socket?: unknown }; cleanupFn?: unknown };
  const ws = engineSocket.transport?.socket;
  if (ws instanceof EventEmitter) {
    const errorListeners = ws.listeners('error');
    const leftover = errorListeners.find((listener) => listener.name === 'onUpgradeError');
    // Only beside another: an `error` without a listener would end the process.
    if (leftover && errorListeners.length > 1) ws.removeListener('error', leftover as (...args: unknown[]) => void);
    // The `ws` socket, its TCP socket and its frame reader (node-events.ts); a long-polling transport has none.
    const parts = ws as unknown as { _socket?: unknown; _receiver?: unknown };
    if (parts._receiver instanceof EventEmitter && '_mask' in parts._receiver) parts._receiver.prependListener('message', forgetMask);
    // The transport's `close` listener (Engine.IO's websocket transport), sent once by `ws`.
    settleOnce(ws, 'close');
    compactListeners(ws);
    compactListeners(parts._socket);
    compactListeners(parts._receiver);
  }
  // Engine.IO's server counts the connection off at its `close`, sent once (Socket.onClose checks
  // its state first). The socket's `close` and `error` listeners on the transport are taken off by
  // its cleanups when it closes, so neither is heard twice.
  settleOnce(conn, 'close');
  settleOnce(engineSocket.transport, 'close');
  settleOnce(engineSocket.transport, 'error');
  compactListeners(conn);
  compactListeners(engineSocket.transport);
  if (Array.isArray(engineSocket.cleanupFn)) engineSocket.cleanupFn = engineSocket.cleanupFn.slice();
}

/**
 * Puts a SingleEntryMap in the place of the Maps a connected socket keeps with one entry or none:
 * its connection's Maps of sockets and of namespaces (one each, unless the client multiplexes
 * namespaces on the connection, when the second socket finds them already replaced), and the
 * socket's Map of acknowledgements it waits for. Each keeps behaving as a Map; about 130 bytes less
 * per Map while it holds one entry (BENCHMARKS.md). Then compacts the Sets of the rooms it is in so
 * far (compactRooms): the one named by its id.
 */
// biome-ignore lint/suspicious/noExplicitAny: any typed socket has the same private maps
export function compactSocket(socket: Socket<any, any, any, any>): void {
  const own = socket as unknown as { acks?: unknown; client?: { sockets?: unknown; nsps?: unknown } };
  const replace = (holder: Record<string, unknown> | undefined, field: string): void => {
    const map = holder?.[field];
    if (map instanceof Map && map.size <= 1) holder![field] = new SingleEntryMap(map);
  };
  replace(own as Record<string, unknown>, 'acks');
  replace(own.client as Record<string, unknown> | undefined, 'sockets');
  replace(own.client as Record<string, unknown> | undefined, 'nsps');
  compactRooms(socket);
}

/**
 * Puts a SmallSet in the place of the Sets the in-memory adapter (and those built on it) keeps for
 * `socket` with one or two members: the Set of its rooms, and the Set of sockets of each of its
 * rooms (the room named by its id, its user's room). Call it once the socket joined its rooms; a
 * room's Set stays a SmallSet as others join it (up to two, then a Set inside it).
 */
// biome-ignore lint/suspicious/noExplicitAny: any typed socket has the same adapter
export function compactRooms(socket: Socket<any, any, any, any>): void {
  const adapter = socket.nsp.adapter as unknown as { sids?: unknown; rooms?: unknown };
  const replace = (sets: unknown, key: string): void => {
    if (!(sets instanceof Map)) return;
    const set = sets.get(key);
    if (set instanceof Set && set.size <= 2) sets.set(key, new SmallSet(set));
  };
  replace(adapter.sids, socket.id);
  for (const room of socket.rooms) replace(adapter.rooms, room);
}

/**
 * `socket.onAny(listener)`, in a list of the listeners' length: Socket.IO grows it with `push`,
 * which gives a first listener room for 17 (152 bytes of each idle socket).
 */
// biome-ignore lint/suspicious/noExplicitAny: any typed socket has the same private list
export function addAnyListener(socket: Socket<any, any, any, any>, listener: (...args: any[]) => void): void {
  socket.onAny(listener);
  const own = socket as unknown as { _anyListeners?: unknown };
  if (Array.isArray(own._anyListeners)) own._anyListeners = own._anyListeners.slice();
}
