/**
 * A client that speaks Engine.IO over a WebSocket by hand and sends Socket.IO packets as written,
 * for attacks a well-behaved socket.io-client cannot send (racing CONNECTs, deep or oversized
 * packets, acknowledgements nobody asked for).
 */
import WebSocket from 'ws';

/** An open Engine.IO connection. */
export interface RawConnection {
  /** The handshake's `maxPayload` (the server's maxHttpBufferSize). */
  readonly maxPayload: number;
  /** Socket.IO packets received so far, as text (`40/v1/shared,{...}`, `44/v1/shared,{...}`). */
  readonly packets: string[];
  /** Sends one Socket.IO packet (`0/v1/shared,{"token":"..."}`) as one Engine.IO message. */
  send(packet: string): void;
  /** Resolves once `count` received packets satisfy `match`. */
  received(match: (packet: string) => boolean, count?: number): Promise<string[]>;
  /** Resolves with the WebSocket close code once the server closed the connection. */
  readonly closed: Promise<number>;
  close(): void;
}

/** Opens a WebSocket-only Engine.IO connection to a gateway at `url` (`http://127.0.0.1:port`). */
export async function openRaw(url: string, headers: Record<string, string> = {}): Promise<RawConnection> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers });
  const packets: string[] = [];
  const waiters: (() => void)[] = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const opened = new Promise<{ maxPayload: number }>((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('0')) resolve(JSON.parse(text.slice(1)) as { maxPayload: number });
      else if (text === '2') ws.send('3');
      else if (text.startsWith('4')) {
        packets.push(text.slice(1));
        for (const wake of waiters.splice(0)) wake();
      }
    });
  });
  const { maxPayload } = await opened;
  ws.on('error', () => undefined);
  return {
    maxPayload,
    packets,
    send: (packet) => ws.send(`4${packet}`),
    async received(match, count = 1) {
      for (;;) {
        const found = packets.filter(match);
        if (found.length >= count) return found;
        if (ws.readyState !== WebSocket.OPEN)
          throw new Error(`connection closed with ${found.length} of ${count} expected packets; got ${JSON.stringify(packets).slice(0, 500)}`);
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), closed]);
      }
    },
    closed,
    close: () => ws.close(),
  };
}

/** JSON text of `depth` nested arrays around 1: `[[[1]]]`. */
export function nestedArrays(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

/** An Engine.IO long-polling session driven by hand: several packets can arrive in one request. */
export interface RawPolling {
  /** Sends Socket.IO packets in one HTTP request, so the server reads them together. */
  post(packets: readonly string[]): Promise<number>;
  /** Waits for the next batch of Socket.IO packets (one long-polling GET). */
  poll(): Promise<string[]>;
}

/** Opens a long-polling Engine.IO session to a gateway at `url`. */
export async function openPolling(url: string): Promise<RawPolling> {
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(1)) as { sid: string };
  const session = `${base}&sid=${sid}`;
  return {
    async post(packets) {
      const response = await fetch(session, { method: 'POST', body: packets.map((packet) => `4${packet}`).join('\x1e') });
      await response.text();
      return response.status;
    },
    async poll() {
      const body = await (await fetch(session)).text();
      return body
        .split('\x1e')
        .filter((packet) => packet.startsWith('4'))
        .map((packet) => packet.slice(1));
    },
  };
}
