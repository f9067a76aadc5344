/** Schemas of the presence routes (who is online, cluster-wide) and the disconnect routes. */
import { Type, type Static } from 'typebox';
import { AnyJson, EventName, Id, withExamples } from './common.js';

const Since = Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
  description:
    'When the user came online (ISO 8601): their first socket after being offline; a socket back within WEBHOOK_OFFLINE_GRACE_MS keeps it. null when offline.',
});

const UserPresenceReply = Type.Object(
  {
    success: Type.Literal(true),
    message: Type.Literal('SUCCESS'),
    online: Type.Boolean({ description: 'Whether the user has at least one socket on some gateway node.' }),
    sockets: Type.Integer({ minimum: 0, description: 'Sockets of the user in /v1/shared, on every gateway node.' }),
    since: Since,
  },
  { examples: [{ success: true, message: 'SUCCESS', online: true, sockets: 2, since: '2025-10-13T10:30:00.000Z' }] },
);
export type UserPresenceReply = Static<typeof UserPresenceReply>;

/** `GET /users/:userId/presence`. */
export const UserPresence = {
  summary: 'Whether one user is online, cluster-wide',
  description:
    "Reads the cluster's user directory: the sockets the user holds on every gateway node, and since when they are online. 503 when the directory cannot be read (Redis unreachable).",
  tags: ['Presence'],
  params: Type.Object({ userId: withExamples(Id, '64user123abc') }),
  response: { 200: UserPresenceReply },
};

const UsersPresenceReply = Type.Object(
  {
    success: Type.Literal(true),
    message: Type.Literal('SUCCESS'),
    online: Type.Array(Id, { description: 'The listed users who are online, in the order listed (each once).' }),
    users: Type.Record(Type.String(), Type.Object({ sockets: Type.Integer({ minimum: 1 }), since: Since }), {
      description: 'Sockets and online-since time of each online user; offline users are absent.',
    }),
  },
  {
    examples: [{ success: true, message: 'SUCCESS', online: ['64user1'], users: { '64user1': { sockets: 1, since: '2025-10-13T10:30:00.000Z' } } }],
  },
);
export type UsersPresenceReply = Static<typeof UsersPresenceReply>;

/** `POST /presence`: `{ userIds }`. */
export const UsersPresence = {
  summary: 'Which of several users are online, cluster-wide',
  description: 'At most PRESENCE_MAX_USER_IDS distinct ids per call (1000 by default). 503 when the directory cannot be read.',
  tags: ['Presence'],
  body: Type.Object(
    {
      userIds: Type.Array(Id, {
        minItems: 1,
        description: 'The users to look up; duplicates count once.',
        'x-error': 'must be a non-empty array of user ids (strings of 1 to 128 characters without whitespace)',
      }),
    },
    { examples: [{ userIds: ['64user1', '64user2', '64user3'] }] },
  ),
  response: { 200: UsersPresenceReply },
};
export type UsersPresenceBody = Static<typeof UsersPresence.body>;

const DisconnectBody = Type.Object(
  {
    event: Type.Optional(EventName),
    data: Type.Optional(AnyJson),
  },
  {
    additionalProperties: false,
    description: 'Optional: an event (and its payload) each socket receives just before it is disconnected, to say why. `{}` sends none.',
    examples: [{ event: 'session_ended', data: { reason: 'password_changed' } }],
  },
);
export type DisconnectBody = Static<typeof DisconnectBody>;

const DisconnectReply = Type.Object(
  {
    success: Type.Literal(true),
    message: Type.Literal('SUCCESS'),
    sockets: Type.Integer({ minimum: 0, description: 'Sockets disconnected, on every gateway node that answered.' }),
    partial: Type.Optional(
      Type.Literal(true, { description: 'Some gateway node could not be asked or did not answer in time: sockets counts only those that did.' }),
    ),
    unconfirmed: Type.Optional(
      Type.Literal(true, { description: 'With `partial`: the other nodes were asked but not all answered in time; they may have disconnected sockets.' }),
    ),
  },
  { examples: [{ success: true, message: 'SUCCESS', sockets: 2 }] },
);
export type DisconnectReply = Static<typeof DisconnectReply>;

/** `POST /users/:userId/disconnect`. */
export const DisconnectUser = {
  summary: 'Disconnect every socket of one user, on every node',
  description:
    'Each socket first receives `event` (when given), then is disconnected with reason "io server disconnect", after which a stock socket.io-client does not reconnect by itself. Pair it with revoking the user\'s tokens so that a modified client cannot come back (README, Presence).',
  tags: ['Presence'],
  params: Type.Object({ userId: withExamples(Id, '64user123abc') }),
  body: DisconnectBody,
  response: { 200: DisconnectReply },
};

/** `POST /lead-finder/:socketId/disconnect`. */
export const DisconnectScraper = {
  summary: 'Disconnect one lead-finder scraper socket',
  description: 'As for a user; 404 when no scraper socket with that id is connected (503 and 504 as for an emit to a scraper).',
  tags: ['Lead finder'],
  params: Type.Object({ socketId: withExamples(Id, 'xyz123abc') }),
  body: DisconnectBody,
  response: { 200: DisconnectReply },
};
