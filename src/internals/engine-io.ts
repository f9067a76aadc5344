/**
 * The one place that writes past Engine.IO and `ws`: a message written as one WebSocket frame
 * straight to a connection's TCP socket. Engine.IO's own path (a packet object, its write buffer,
 * `ws`'s Sender and a `writev` of a frame header and a string) cost about as much as the write itself
 * in a fan-out, and a frame built once can go to many sockets (BENCHMARKS.md, issue 15). It reads
 * Engine.IO's (6.6) and `ws`'s (8.x) private state to write only where they would have written the
 * same bytes at once: an open websocket connection with nothing of theirs queued before it.
 * test/internals.test.ts fails if an upgrade changes what it reads.
 */
import { Socket as TcpSocket } from 'node:net';

/** What this reads of an Engine.IO socket and its websocket transport's `ws` socket. */
interface EngineConnection {
  readonly readyState?: string;
  readonly upgrading?: boolean;
  readonly writeBuffer?: readonly unknown[];
  readonly transport?: {
    readonly name?: string;
    readonly socket?: {
      readonly readyState?: number;
      readonly _socket?: unknown;
      readonly _sender?: { readonly _state?: number; readonly _queue?: readonly unknown[] };
    };
  };
}

/** `ws`'s WebSocket.OPEN. */
const WS_OPEN = 1;
/** `ws`'s Sender when it neither compresses nor waits for a Blob: what it is given, it writes at once. */
const SENDER_IDLE = 0;
/** A frame header's first byte: the last (only) fragment of a text message. */
const FIN_TEXT = 0x81;
/** Engine.IO's message packet type, `4`, before Socket.IO's packet. */
const ENGINE_MESSAGE = 0x34;

/** The unmasked WebSocket frame (a server's) of the Engine.IO message that carries Socket.IO packet `packet`. */
export function messageFrame(packet: string): Buffer {
  const length = Buffer.byteLength(packet) + 1;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = FIN_TEXT;
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame[header] = ENGINE_MESSAGE;
  frame.write(packet, header + 1);
  return frame;
}

/**
 * Writes `frame` (messageFrame) to `conn`'s TCP socket and returns true when that is what Engine.IO
 * and `ws` would have written next: `conn` is open on the websocket transport, not upgrading, and
 * neither has anything queued. Else returns false having written nothing, and the caller sends
 * through Engine.IO, which queues it in order (and speaks long-polling).
 */
export function writeFrame(conn: object, frame: Buffer): boolean {
  const engine = conn as EngineConnection;
  if (engine.readyState !== 'open' || engine.upgrading !== false || engine.writeBuffer?.length !== 0) return false;
  // Engine.IO's transport may still be waiting for `ws` to call back its last send; `ws` wrote it already.
  if (engine.transport?.name !== 'websocket') return false;
  const ws = engine.transport.socket;
  if (ws?.readyState !== WS_OPEN || ws._sender?._state !== SENDER_IDLE || ws._sender._queue?.length !== 0) return false;
  const tcp = ws._socket;
  if (!(tcp instanceof TcpSocket) || !tcp.writable) return false;
  tcp.write(frame);
  return true;
}
