/**
 * The one place that relies on how Node's HTTP server works inside. It checks its request and headers
 * timeouts only once it emitted 'listening' (it starts its connection tracking then), so a server
 * that is handed connections without listening, as a WORKERS worker is, never times a slow client
 * out; and a socket's response in progress is its `_httpMessage`, which a `clientError` listener
 * must look at before writing an answer of its own. test/internals.test.ts fails if either changes.
 */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** Starts the request and headers timeouts of a server that never listens (connections are handed to it). */
export function startRequestTimeouts(server: Server): void {
  server.emit('listening');
}

/** Whether a response has started on the connection: writing another answer then would corrupt it. */
export function responseStarted(socket: Duplex): boolean {
  return (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
}
