/**
 * Baseline (c): the seed's design, kept deliberately naive so the gateway has
 * something honest to beat. Express plus socket.io, a Map from user id to
 * socket ids, and one `io.to(socketId).emit` per socket, as the seed's REST
 * page describes. Users identify with `auth: { userId }` (the seed has no JWT).
 *
 * Departures from the seed, each needed to run the workloads at all:
 * - the JSON body limit is raised from Express's 100 kB, since 10,000 user
 *   ids do not fit in it;
 * - no rate limiter, as the seed only recommends one.
 *
 * Env: PORT (default 4000), PING_INTERVAL_MS / PING_TIMEOUT_MS (socket.io
 * defaults otherwise; the self-check shortens them to exercise heartbeats).
 */
import { createServer } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 4000);
const app = express();
app.use(express.json({ limit: '10mb' }));

const httpServer = createServer(app);
const io = new Server(httpServer, {
  pingInterval: Number(process.env.PING_INTERVAL_MS ?? 25_000),
  pingTimeout: Number(process.env.PING_TIMEOUT_MS ?? 20_000),
});
const shared = io.of('/v1/shared');
const userSockets = new Map<string, string[]>();

shared.use((socket, next) => {
  const userId: unknown = socket.handshake.auth.userId;
  if (typeof userId !== 'string' || userId === '') return next(new Error('unauthorized'));
  socket.data.userId = userId;
  next();
});

shared.on('connection', (socket) => {
  const userId = socket.data.userId as string;
  userSockets.set(userId, [...(userSockets.get(userId) ?? []), socket.id]);
  socket.on('disconnect', () => {
    const left = (userSockets.get(userId) ?? []).filter((id) => id !== socket.id);
    if (left.length === 0) userSockets.delete(userId);
    else userSockets.set(userId, left);
  });
});

function emitToUser(userId: string, event: string, data: unknown): void {
  for (const socketId of userSockets.get(userId) ?? []) {
    shared.to(socketId).emit(event, data);
  }
}

app.post('/emit/:userId/:emitTo', (req: Request<{ userId: string; emitTo: string }>, res: Response) => {
  emitToUser(req.params.userId, req.params.emitTo, req.body);
  res.json({ success: true, message: 'SUCCESS' });
});

app.post('/emit/:emitTo', (req: Request<{ emitTo: string }>, res: Response) => {
  const { userIds, data } = (req.body ?? {}) as { userIds?: unknown; data?: unknown };
  const ids = Array.isArray(userIds) ? userIds : [userIds];
  if (userIds === undefined || ids.some((id) => typeof id !== 'string')) {
    res.status(400).json({ success: false, errno: 400, message: 'userIds is required' });
    return;
  }
  for (const userId of ids as string[]) emitToUser(userId, req.params.emitTo, data);
  res.json({ success: true, message: 'SUCCESS' });
});

app.use((error: Error & { statusCode?: number }, _req: Request, res: Response, _next: NextFunction) => {
  const status = error.statusCode ?? 400;
  res.status(status).json({ success: false, errno: status, message: error.message });
});

httpServer.listen(port, '127.0.0.1', () => {
  console.log(`seed-style baseline listening on 127.0.0.1:${port}`);
});

process.on('SIGTERM', () => {
  void io.close();
  process.exit(0);
});
