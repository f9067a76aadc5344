/** The generic emit routes: to every socket of one user, or of several users. */
import { toUsers, type Emitter } from '../emitter.js';
import { fail } from '../errors.js';
import type { Handlers } from './register.js';
import { successReply } from './reply.js';

/** Handlers of `POST /emit/:userId/:emitTo` and `POST /emit/:emitTo`. */
export function emitHandlers({ emitter, maxUserIds }: { emitter: Emitter; maxUserIds: number }): Pick<Handlers, 'emitToUser' | 'emitToUsers'> {
  return {
    emitToUser: async (request) => {
      const { userId, emitTo } = request.params;
      const report = await emitter.send([{ audience: toUsers(userId), event: emitTo, data: request.body }]);
      return successReply(report);
    },

    emitToUsers: async (request) => {
      const { userIds, data } = request.body;
      const audience = toUsers(userIds);
      if (audience.kind === 'users' && audience.userIds.length > maxUserIds) {
        throw fail('VALIDATION_ERROR', `body.userIds names ${audience.userIds.length} users; at most ${maxUserIds} are allowed per call (EMIT_MAX_USER_IDS)`);
      }
      const report = await emitter.send([{ audience, event: request.params.emitTo, data }]);
      return successReply(report);
    },
  };
}
