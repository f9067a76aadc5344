/** The generic emit routes: to every socket of one user, or of several users. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { EmitToUser, EmitToUsers } from '../api/emit.js';
import { toUsers, type Emitter } from '../emitter.js';
import { fail } from '../errors.js';
import { EMIT_LIMITED } from '../http/rate-limit.js';

/** Registers `POST /emit/:userId/:emitTo` and `POST /emit/:emitTo`. */
export const emitRoutes: FastifyPluginAsyncTypebox<{ emitter: Emitter; maxUserIds: number }> = async (app, { emitter, maxUserIds }) => {
  app.post('/emit/:userId/:emitTo', { schema: EmitToUser, config: EMIT_LIMITED }, async (request) => {
    const { userId, emitTo } = request.params;
    const report = await emitter.send([{ audience: toUsers(userId), event: emitTo, data: request.body }]);
    return { success: true, message: 'SUCCESS', ...report } as const;
  });

  app.post('/emit/:emitTo', { schema: EmitToUsers, config: EMIT_LIMITED }, async (request) => {
    const { userIds, data } = request.body;
    const audience = toUsers(userIds);
    if (audience.kind === 'users' && audience.userIds.length > maxUserIds) {
      throw fail('VALIDATION_ERROR', `body.userIds names ${audience.userIds.length} users; at most ${maxUserIds} are allowed per call (EMIT_MAX_USER_IDS)`);
    }
    const report = await emitter.send([{ audience, event: request.params.emitTo, data }]);
    return { success: true, message: 'SUCCESS', ...report } as const;
  });
};
