import { connect, type Socket } from 'node:net';
import { percentile } from './stats.js';
import type { HttpLoadResult } from './http-load.js';

export interface PacedLoadOptions {
  baseUrl: string;
  headers: Record<string, string>;
  /** Requests per second, spread evenly. */
  rate: number;
  amount: number;
  /** Keep-alive sockets; enough that requests rarely wait for a free one. */
  connections: number;
  request(i: number): { path: string; body: string };
  maxMs: number;
}

/** A request that has not been answered within this long counts as an error, and its connection is dropped. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Where an HTTP/1.1 response in `buffer` ends, its status, and whether the server closes after it; undefined while incomplete. */
export function parseResponse(buffer: Buffer): { status: number; end: number; close: boolean } | undefined {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const head = buffer.toString('latin1', 0, headEnd);
  // "HTTP/1.1 200 OK"
  const status = Number(head.slice(9, 12));
  const close = /\r\nconnection:[ \t]*close/i.test(head);
  const bodyStart = headEnd + 4;
  const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (length) {
    const end = bodyStart + Number(length[1]);
    return end <= buffer.length ? { status, end, close } : undefined;
  }
  if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
    let at = bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(buffer.toString('latin1', at, lineEnd), 16);
      if (size === 0) {
        // No trailers from the servers under test: the last chunk is followed by one empty line.
        const end = lineEnd + 4;
        return end <= buffer.length ? { status, end, close } : undefined;
      }
      at = lineEnd + 2 + size + 2;
      if (at > buffer.length) return undefined;
    }
  }
  // Neither length nor chunks: only bodiless answers are expected here; anything else ends at close.
  return status === 204 || status === 304 ? { status, end: bodyStart, close } : undefined;
}

/** One keep-alive connection with at most one request in flight, as http.Agent uses them. */
interface Connection {
  socket: Socket;
  /** performance.now() when the request in flight was issued, or undefined when idle. */
  issued: number | undefined;
  pending: Buffer | undefined;
}

/**
 * Sends `amount` POSTs open-loop at an even `rate` over keep-alive sockets.
 * autocannon's rate limit releases each second's quota in a burst at the
 * start of the second, which measures queueing behind the burst rather than
 * latency at the nominal rate; this spaces requests 1/rate apart instead.
 *
 * It writes each request as one pre-formatted string on a plain TCP socket and
 * reads the answer's status and length, no more. Node's http client (an
 * http.Agent with a ClientRequest and an IncomingMessage per request) cost
 * 60-90 µs of CPU per request on the load-generator core, which at half of
 * raw ws's maximum rate left that core nearly saturated: the harness's own
 * queueing and garbage collection then showed up in the measured tail.
 * Like the Agent, it opens up to `connections` sockets as requests need them,
 * hands out idle ones oldest first (so none idles into the server's
 * keep-alive timeout), and queues a request that finds them all busy; the
 * queueing counts in its latency.
 */
export function runPacedLoad(options: PacedLoadOptions): Promise<HttpLoadResult> {
  const url = new URL(options.baseUrl);
  const port = Number(url.port || 80);
  const fixedHeaders = `Host: ${url.host}\r\nContent-Type: application/json\r\n${Object.entries(options.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}`;
  const samples: number[] = [];
  let waitedForConnection = 0;
  let connectionWaitMaxMs = 0;
  const idle: Connection[] = [];
  const open = new Set<Connection>();
  const queue: { text: string; issued: number }[] = [];
  const started = performance.now();
  let sent = 0;
  let done = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let finished = false;
  let connecting = 0;
  return new Promise((resolve) => {
    const finish = (stopped: boolean): void => {
      if (finished) return;
      finished = true;
      clearInterval(tick);
      clearTimeout(guard);
      const all = [...open];
      open.clear();
      for (const connection of all) connection.socket.destroy();
      const elapsedMs = performance.now() - started;
      resolve({
        sent,
        ok,
        non2xx,
        errors,
        elapsedMs,
        rps: (ok / elapsedMs) * 1000,
        p50Ms: percentile(samples, 50),
        p99Ms: percentile(samples, 99),
        stopped,
        waitedForConnection,
        connectionWaitMaxMs,
      });
    };
    const settle = (): void => {
      if (++done === options.amount) finish(false);
    };

    const write = (connection: Connection, text: string, issued: number): void => {
      const waited = performance.now() - issued;
      if (waited >= 1) {
        waitedForConnection++;
        connectionWaitMaxMs = Math.max(connectionWaitMaxMs, waited);
      }
      connection.issued = issued;
      connection.socket.write(text);
    };
    /** The connection is free: the oldest queued request goes on it, or it waits at the back of the idle line. */
    const release = (connection: Connection): void => {
      connection.issued = undefined;
      const next = queue.shift();
      if (next) write(connection, next.text, next.issued);
      else idle.push(connection);
    };
    const drop = (connection: Connection): void => {
      if (!open.delete(connection)) return;
      const index = idle.indexOf(connection);
      if (index >= 0) idle.splice(index, 1);
      connection.socket.destroy();
      if (connection.issued !== undefined) {
        connection.issued = undefined;
        errors++;
        settle();
      }
      // Requests queued for the connection that never came up find another.
      if (queue.length > 0 && !finished) openConnection();
    };
    const onData = (connection: Connection, chunk: Buffer): void => {
      let buffer = connection.pending ? Buffer.concat([connection.pending, chunk]) : chunk;
      for (;;) {
        const response = parseResponse(buffer);
        if (!response) break;
        buffer = buffer.subarray(response.end);
        if (connection.issued === undefined) {
          // An answer nobody asked for: the connection's state is unknown, so it goes.
          connection.pending = undefined;
          drop(connection);
          return;
        }
        samples.push(performance.now() - connection.issued);
        if (response.status >= 200 && response.status < 300) ok++;
        else non2xx++;
        connection.issued = undefined;
        settle();
        if (finished) return;
        if (response.close) {
          drop(connection);
          return;
        }
        release(connection);
      }
      connection.pending = buffer.length > 0 ? buffer : undefined;
    };
    const openConnection = (): void => {
      const socket = connect({ host: url.hostname, port, noDelay: true });
      const connection: Connection = { socket, issued: undefined, pending: undefined };
      open.add(connection);
      connecting++;
      let connected = false;
      const lost = (): void => {
        if (!connected) connecting--;
        connected = true;
        drop(connection);
      };
      socket.on('connect', () => {
        connected = true;
        connecting--;
        release(connection);
      });
      socket.on('data', (chunk: Buffer) => onData(connection, chunk));
      socket.on('error', lost);
      socket.on('close', lost);
    };

    const send = (i: number): void => {
      const { path, body } = options.request(i);
      const issued = performance.now();
      const text = `POST ${path} HTTP/1.1\r\n${fixedHeaders}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      const connection = idle.shift();
      if (connection) {
        write(connection, text, issued);
        return;
      }
      queue.push({ text, issued });
      // Connections still connecting will take queued requests; open one more only when they cannot cover the queue.
      if (open.size < options.connections && connecting < queue.length) openConnection();
    };

    let lastTimeoutCheck = started;
    // A 1 ms tick sends whatever is due; at thousands of requests/s several go per tick.
    const tick = setInterval(() => {
      const now = performance.now();
      const due = Math.min(options.amount, Math.floor(((now - started) / 1000) * options.rate) + 1);
      while (sent < due) send(sent++);
      if (now - lastTimeoutCheck >= 100) {
        lastTimeoutCheck = now;
        for (const connection of open) if (connection.issued !== undefined && now - connection.issued > REQUEST_TIMEOUT_MS) drop(connection);
      }
    }, 1);
    const guard = setTimeout(() => finish(true), options.maxMs);
  });
}
