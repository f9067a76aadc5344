/**
 * A child process for test/internals.test.ts that is handed connections as a WORKERS worker is
 * (`{ data: <first bytes> }` and the socket): an HTTP server that answers each request with its body.
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => response.end(Buffer.concat(chunks)));
});
process.on('message', (message: { data?: Buffer }, socket: Socket | undefined) => {
  if (!socket || !Buffer.isBuffer(message?.data)) return;
  server.emit('connection', socket);
  socket.unshift(message.data);
});
process.send!({ ready: true });
