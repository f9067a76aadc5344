/**
 * How long a client may hold a connection without completing a request. Fastify leaves Node's request
 * timeout at 0 (never), so a client trickling a body kept its connection, and a descriptor, forever.
 * Node's timers only cover requests still arriving: a long-polling GET is complete once its headers
 * are in, so holding it open (up to pingInterval) is never cut, and neither is an upgraded websocket.
 */
import { STATUS_CODES, type ServerOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';
import { fail, type GatewayError } from '../errors.js';
import { responseStarted } from '../internals/node-http.js';

export type TimeoutConfig = Pick<Config, 'requestTimeoutMs' | 'headersTimeoutMs' | 'keepAliveTimeoutMs'>;

/** Node HTTP server options that bound slow and idle clients (for `http.createServer` or Fastify's `http`). */
export function serverTimeouts(config: TimeoutConfig): ServerOptions {
  return {
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // Node looks for expired requests every 30 s by default, which would let a 10 s bound last 40 s.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
  };
}

/** The Fastify options that apply the timeouts; Fastify sets the request and keep-alive ones itself, over `http`'s. */
export function fastifyTimeouts(config: TimeoutConfig): {
  requestTimeout: number;
  keepAliveTimeout: number;
  http: ServerOptions;
  clientErrorHandler: (error: Error, socket: Duplex) => void;
} {
  return {
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: serverTimeouts(config),
    clientErrorHandler: answerClientErrors(config),
  };
}

/**
 * The HTTP server of a `WORKERS` primary. It relays what it does not parse, so to it a request it keeps
 * (one with a body) is "headers not yet complete" until its answer ends: it gets the whole request's bound.
 */
export function primaryServerTimeouts(config: TimeoutConfig): { options: ServerOptions; onClientError: (error: Error, socket: Duplex) => void } {
  return { options: { ...serverTimeouts(config), headersTimeout: config.requestTimeoutMs }, onClientError: answerClientErrors(config) };
}

/**
 * The server's `clientError` listener: a request that timed out, whose headers are too large or that
 * is not HTTP gets the gateway's error shape (Fastify's own answer has another), then the connection closes.
 */
export function answerClientErrors(config: TimeoutConfig): (error: Error, socket: Duplex) => void {
  return (error, socket) => {
    const code = (error as NodeJS.ErrnoException).code;
    // A reset connection has nobody left to answer.
    if (code === 'ECONNRESET' || socket.destroyed) return;
    const answer = clientError(code, config);
    // Writing after a response started would corrupt it; then the connection is only closed.
    if (socket.writable && !responseStarted(socket)) {
      const body = JSON.stringify(answer.toBody());
      socket.write(
        `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

function clientError(code: string | undefined, config: TimeoutConfig): GatewayError {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return fail(
        'REQUEST_TIMEOUT',
        `The request did not arrive in time: headers are allowed HEADERS_TIMEOUT_MS (${config.headersTimeoutMs} ms), the whole request REQUEST_TIMEOUT_MS (${config.requestTimeoutMs} ms)`,
      );
    case 'HPE_HEADER_OVERFLOW':
      return fail('HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts (16 KiB)');
    default:
      return fail('VALIDATION_ERROR', `The request is not valid HTTP${code ? ` (${code})` : ''}`);
  }
}
