/** Schemas of the generic emit routes: to one user, and to many users. */
import { Type, type Static } from 'typebox';
import { AnyJson, EventName, ErrorReply, Id, SuccessReply } from './common.js';

const errorReplies = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 413: ErrorReply, 429: ErrorReply };

/** `POST /emit/:userId/:emitTo`: the body is the payload. */
export const EmitToUser = {
  summary: 'Emit an event to every socket of one user',
  params: Type.Object({ userId: Id, emitTo: EventName }),
  body: AnyJson,
  response: { 200: SuccessReply, ...errorReplies },
};
export type EmitToUserParams = Static<typeof EmitToUser.params>;

/** `POST /emit/:emitTo`: `{ userIds, data }`. */
export const EmitToUsers = {
  summary: 'Emit an event to every socket of several users',
  params: Type.Object({ emitTo: EventName }),
  body: Type.Object({
    userIds: Type.Union([Id, Type.Array(Id, { minItems: 1 })], {
      description: 'One user id, or a non-empty array of them; duplicates are delivered once.',
      'x-error': 'must be a user id or a non-empty array of user ids (strings of 1 to 128 characters without whitespace)',
    }),
    data: AnyJson,
  }),
  response: { 200: SuccessReply, ...errorReplies },
};
export type EmitToUsersBody = Static<typeof EmitToUsers.body>;
