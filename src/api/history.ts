/** Schema of a user's event history: the events kept for the user, for a service or a client that was away. */
import { Type, type Static } from 'typebox';
import { POSITION_PATTERN } from '../streams/streams.js';
import { AnyJson, Id, withExamples } from './common.js';

/** Events one call returns when `limit` is not given, and at most. */
export const DEFAULT_HISTORY_LIMIT = 100;
export const MAX_HISTORY_LIMIT = 1000;

const Position = Type.String({
  pattern: POSITION_PATTERN,
  description: 'A position in a user’s history, `<epoch>:<seq>`, as an earlier answer gave it; treat it as an opaque string.',
  'x-error': 'must be a position such as "k3v9x2ab:41", as an earlier answer of this route gave it',
});

/** `GET /users/:userId/events?since=&limit=`. */
export const History = {
  summary: 'The events kept for one user, after a position',
  description:
    'Lists the events the gateway kept for the user (the last `HISTORY_SIZE`, none older than `HISTORY_TTL_SECONDS`), oldest first, after `since`. ' +
    'Page by passing the last position received as the next `since`, until fewer than `limit` events come back. ' +
    '`gap: true` says that events after `since` were dropped (too old, too many, or the history was reset): the events then start from the oldest kept. ' +
    'Reading keeps the user’s history alive like an event does. 404 `HISTORY_DISABLED` when `HISTORY_SIZE` is 0.',
  tags: ['History'],
  params: Type.Object({ userId: withExamples(Id, '64user123abc') }),
  querystring: Type.Object(
    {
      since: Type.Optional(withExamples(Position, 'k3v9x2ab:41')),
      limit: Type.Optional(
        withExamples(
          Type.String({
            pattern: '^(1000|[1-9][0-9]{0,2})$',
            description: `Most events to return: a whole number from 1 to ${MAX_HISTORY_LIMIT} (default ${DEFAULT_HISTORY_LIMIT}).`,
            'x-error': `must be a whole number from 1 to ${MAX_HISTORY_LIMIT}`,
          }),
          '50',
        ),
      ),
    },
    { additionalProperties: false },
  ),
  response: {
    200: Type.Object(
      {
        success: Type.Literal(true),
        message: Type.Literal('SUCCESS'),
        epoch: Type.String({ description: 'The current epoch of the user’s history; it changes when the history is reset (expired, or its store wiped).' }),
        oldest: Type.Union([Type.String(), Type.Null()], { description: 'The position of the oldest event kept; null when none is kept.' }),
        newest: Type.String({
          description: 'The position of the latest event (`<epoch>:0` before the first one): pass it as `since` to read only what comes later.',
        }),
        events: Type.Array(
          Type.Object({
            position: Type.String({ description: 'The event’s position: pass the last one received as `since` to read what came after it.' }),
            event: Type.String({ description: 'The Socket.IO event name it was sent as.' }),
            data: AnyJson,
            time: Type.String({ description: 'When the gateway kept it (ISO 8601).' }),
          }),
          { description: 'Oldest first, at most `limit`.' },
        ),
        gap: Type.Optional(
          Type.Literal(true, {
            description:
              'Events after `since` are no longer kept (older than HISTORY_TTL_SECONDS, more than HISTORY_SIZE since, or the history was reset): `events` start from the oldest kept.',
          }),
        ),
      },
      {
        examples: [
          {
            success: true,
            message: 'SUCCESS',
            epoch: 'k3v9x2ab',
            oldest: 'k3v9x2ab:1',
            newest: 'k3v9x2ab:42',
            events: [{ position: 'k3v9x2ab:42', event: 'notification', data: { title: 'New Lead' }, time: '2025-10-13T10:30:00.000Z' }],
          },
        ],
      },
    ),
  },
};
export type HistoryQuery = Static<typeof History.querystring>;
