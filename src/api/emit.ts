/** Schemas of the generic emit routes: to one user, and to many users. */
import { Type, type Static } from 'typebox';
import { AnyJson, EventName, Id, SuccessReply, withExamples } from './common.js';

/** `POST /emit/:userId/:emitTo`: the body is the payload. */
export const EmitToUser = {
  summary: 'Emit an event to every socket of one user',
  description: 'Sends the request body, any JSON value, as the payload of event `emitTo` to every socket of the user in `/v1/shared`.',
  tags: ['Emit'],
  params: Type.Object({ userId: withExamples(Id, '64user123abc'), emitTo: withExamples(EventName, 'notification') }),
  body: withExamples(AnyJson, {
    title: 'New Lead',
    message: 'You have a new lead from John Doe',
    type: 'lead_assigned',
    data: { lead_id: '64lead...', lead_name: 'John Doe' },
    timestamp: '2025-10-13T10:30:00.000Z',
  }),
  response: { 200: SuccessReply },
};
export type EmitToUserParams = Static<typeof EmitToUser.params>;

/** One user id or a non-empty array of them (`POST /emit/:emitTo`, and a batch item's `userIds`). */
export const UserIdList = Type.Union([Id, Type.Array(Id, { minItems: 1 })], {
  description: 'One user id, or a non-empty array of them; duplicates are delivered once.',
  'x-error': 'must be a user id or a non-empty array of user ids (strings of 1 to 128 characters without whitespace)',
});

/** `POST /emit/:emitTo`: `{ userIds, data }`. */
export const EmitToUsers = {
  summary: 'Emit an event to every socket of several users',
  description: 'Sends `data` as the payload of event `emitTo` to every socket of every listed user; a user listed twice gets it once.',
  tags: ['Emit'],
  params: Type.Object({ emitTo: withExamples(EventName, 'system_announcement') }),
  body: Type.Object(
    {
      userIds: UserIdList,
      data: AnyJson,
    },
    {
      examples: [
        {
          userIds: ['64user1', '64user2', '64user3'],
          data: { title: 'Scheduled Maintenance', message: 'System will be down Monday 2AM-4AM EST', priority: 'high', action_url: '/maintenance-info' },
        },
      ],
    },
  ),
  response: { 200: SuccessReply },
};
export type EmitToUsersBody = Static<typeof EmitToUsers.body>;
