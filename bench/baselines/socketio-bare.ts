/**
 * Baseline (d): stock Socket.IO as lean as it gets, the floor for any gateway built on it. Fastify
 * (no logger, no schema) parses the body, each socket joins a room named after its user, and an
 * emit is one `nsp.to(rooms).emit` — Socket.IO's own broadcast, which encodes the packet and frames
 * it once for every socket it reaches. No auth beyond `auth.userId`, no validation, no metrics, no
 * streams: what is left between this and raw-ws is Socket.IO's and Fastify's, and what is left
 * between this and the gateway is the gateway's own.
 *
 * Env: PORT (default 4000).
 */
import Fastify from 'fastify';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 4000);
const app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });
const io = new Server(app.server, { serveClient: false });
const shared = io.of('/v1/shared');

shared.use((socket, next) => {
  const userId: unknown = socket.handshake.auth.userId;
  next(typeof userId === 'string' && userId !== '' ? undefined : new Error('unauthorized'));
});
shared.on('connection', (socket) => void socket.join(`user:${socket.handshake.auth.userId as string}`));

const SUCCESS = { success: true, message: 'SUCCESS' };

app.post<{ Params: { userId: string; event: string } }>('/emit/:userId/:event', async (request) => {
  shared.to(`user:${request.params.userId}`).emit(request.params.event, request.body);
  return SUCCESS;
});

app.post<{ Params: { event: string }; Body: { userIds: string[]; data: unknown } }>('/emit/:event', async (request, reply) => {
  const { userIds, data } = request.body ?? {};
  if (!Array.isArray(userIds)) return reply.code(400).send({ success: false, errno: 400, message: 'userIds is required' });
  shared.to(userIds.map((userId) => `user:${userId}`)).emit(request.params.event, data);
  return SUCCESS;
});

await app.listen({ port, host: '127.0.0.1' });
console.log(`socketio-bare baseline listening on 127.0.0.1:${port}`);

process.on('SIGTERM', () => {
  io.close();
  process.exit(0);
});
