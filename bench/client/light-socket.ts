import WebSocket from 'ws';

/**
 * A Socket.IO v5 client reduced to what a load generator needs, speaking
 * Engine.IO v4 directly over `ws`.
 *
 * Why not socket.io-client: it allocates an Engine.IO socket, a Manager, a
 * decoder, timers and event emitters per connection, which makes the load
 * generator the bottleneck long before the server is. This one keeps a few
 * fields per connection and never JSON-parses a whole event.
 *
 * Wire format handled (text frames only; one Engine.IO packet per frame, as
 * the websocket transport guarantees):
 *   server `0{...}`            open; answered with `40<nsp>,<auth JSON>`
 *   server `2`                 ping; answered with `3`
 *   server `40<nsp>,{...}`     namespace connected
 *   server `44<nsp>,{...}`     connect error
 *   server `42<nsp>,[ack]["event",data]`  event; counted by name
 *   server `41<nsp>,` / `1`    disconnect
 */

/** Receives what a socket hears; one sink is shared by many sockets. */
export interface SocketSink {
  /** `sentAt` is NaN when the payload carries no `"sentAt":<ms>` field. */
  onEvent(socket: LightSocket, event: string, sentAt: number, receivedAt: number): void;
  onClose(socket: LightSocket): void;
}

export interface LightSocketOptions {
  /** Base URL such as `http://127.0.0.1:4000`. */
  url: string;
  /** Socket.IO namespace, `/` or `/v1/shared`. */
  namespace: string;
  /** Sent as the namespace CONNECT payload (`auth` in socket.io-client). */
  auth: Record<string, unknown>;
  /** Bounds the WebSocket upgrade; the namespace handshake has its own bound in connect(). */
  connectTimeoutMs: number;
}

const SENT_AT = '"sentAt":';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Extracts the event name of an EVENT packet body `[ack]["name",...]`, starting at `from`. */
export function parseEventName(text: string, from: number): string | undefined {
  let i = from;
  // Skip an ack id: the server never asks for one in these benchmarks, but
  // a stray one must not turn into a miscount.
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  if (text.charCodeAt(i) !== 91 /* [ */ || text.charCodeAt(i + 1) !== 34 /* " */) return undefined;
  const end = text.indexOf('"', i + 2);
  return end < 0 ? undefined : text.slice(i + 2, end);
}

/** Reads a numeric `"sentAt":<ms>` field anywhere in the packet, NaN when absent. */
export function parseSentAt(text: string): number {
  const at = text.indexOf(SENT_AT);
  return at < 0 ? Number.NaN : Number.parseFloat(text.slice(at + SENT_AT.length, at + SENT_AT.length + 24));
}

/** One Socket.IO connection to one namespace. */
export class LightSocket {
  /** Index in the owning swarm, so sinks can keep per-socket tallies in typed arrays. */
  readonly index: number;
  received = 0;
  connected = false;
  private readonly ws: WebSocket;
  private readonly prefix: string;
  private readonly auth: Record<string, unknown>;
  private pendingFail: ((error: Error) => void) | undefined;

  constructor(
    index: number,
    options: LightSocketOptions,
    private readonly sink: SocketSink,
  ) {
    this.index = index;
    // The default namespace carries no prefix; others are followed by a comma.
    this.prefix = options.namespace === '/' ? '' : `${options.namespace},`;
    const wsUrl = `${options.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    this.ws = new WebSocket(wsUrl, { perMessageDeflate: false, handshakeTimeout: options.connectTimeoutMs });
    this.auth = options.auth;
    // A listener must always exist: ws re-emits socket errors and an
    // unhandled one would take down every socket of the process.
    this.ws.on('error', (error) => this.pendingFail?.(error));
    this.ws.on('close', () => {
      const wasConnected = this.connected;
      this.connected = false;
      this.pendingFail?.(new Error('closed during handshake'));
      if (wasConnected) this.sink.onClose(this);
    });
  }

  /** Resolves once the namespace CONNECT is acknowledged; rejects on error, refusal or timeout. */
  connect(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        this.pendingFail = undefined;
        this.ws.off('message', onHandshake);
        this.ws.terminate();
        reject(error);
      };
      this.pendingFail = fail;
      const onHandshake = (data: WebSocket.RawData, isBinary: boolean): void => {
        if (isBinary) return;
        const text = data.toString();
        if (text.charCodeAt(0) === 48 /* 0 open */) {
          this.ws.send(`40${this.prefix}${JSON.stringify(this.auth)}`);
        } else if (text.startsWith(`40${this.prefix}`)) {
          clearTimeout(timer);
          this.pendingFail = undefined;
          this.ws.off('message', onHandshake);
          this.connected = true;
          this.ws.on('message', (d, b) => this.onMessage(d, b));
          resolve();
        } else if (text.startsWith(`44${this.prefix}`)) {
          fail(new Error(`connect refused: ${text.slice(2 + this.prefix.length)}`));
        } else if (text === '2') {
          this.ws.send('3');
        }
      };
      this.ws.on('message', onHandshake);
    });
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (isBinary) return;
    const text = data.toString();
    const type = text.charCodeAt(0);
    if (type === 50 /* 2 ping */) {
      this.ws.send('3');
      return;
    }
    if (type !== 52 /* 4 message */) return;
    const kind = text.charCodeAt(1);
    if (kind === 50 /* 2 EVENT */ && text.startsWith(this.prefix, 2)) {
      const event = parseEventName(text, 2 + this.prefix.length);
      if (event === undefined) return;
      const receivedAt = preciseNow();
      this.received++;
      this.sink.onEvent(this, event, parseSentAt(text), receivedAt);
    } else if (kind === 49 /* 1 DISCONNECT */) {
      this.connected = false;
      this.ws.close();
    }
  }

  /** Closes without the Socket.IO goodbye, as a vanished browser would. */
  close(): void {
    this.ws.terminate();
  }
}
