/**
 * Schemas shared by every route. With the route table (routes.ts), route schemas are the single
 * definition of the API: they validate input, type handlers, generate the OpenAPI document and the
 * SDK's types.
 *
 * `x-error` is our own annotation: the sentence a validation failure of that value reports, so that
 * callers read "params.emitTo is a name Socket.IO reserves" instead of "must NOT be valid".
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Memory } from 'typebox/system';
import { errorRegistry, type ErrorCode } from '../errors.js';
import { ID_PATTERN, MAX_ID_LENGTH } from '../ids.js';

/**
 * A copy of `schema` carrying `examples` (JSON Schema's keyword, which OpenAPI 3.1 keeps): the
 * OpenAPI document shows them, and they come from the seed so integrators recognise them.
 */
export function withExamples<T extends TSchema>(schema: T, ...examples: unknown[]): T {
  return Memory.Update(schema, {}, { examples }) as T;
}

/** The event a socket receives just before the gateway disconnects it for what it sent. */
export const DISCONNECT_REASON_EVENT = 'disconnect_reason';

/** The event a user socket receives when it asked to resume from a position its stream no longer holds (README, "Recovery"). */
export const STREAM_GAP_EVENT = 'stream_gap';

/** The event a user socket receives some time before its token expires: `{ expiresAt, secondsLeft }`. */
export const TOKEN_EXPIRING_EVENT = 'token_expiring';

/** The event a user socket sends with a fresh token, `{ token }`, and an acknowledgement. */
export const TOKEN_REFRESH_EVENT = 'token_refresh';

/**
 * Event names Socket.IO or the gateway uses for itself: emitting them would confuse every client, and
 * a backend must not be able to imitate the gateway's own notices.
 */
export const RESERVED_EVENTS = [
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
  DISCONNECT_REASON_EVENT,
  STREAM_GAP_EVENT,
  TOKEN_EXPIRING_EVENT,
  TOKEN_REFRESH_EVENT,
] as const;

/** Longest accepted event name. */
export const MAX_EVENT_LENGTH = 100;

/**
 * Longest path parameter the router reads. Far above every id and event name, so that a too-long one
 * is refused by its schema, which names it; a longer one is refused before any route is chosen.
 */
export const MAX_PATH_PARAM_LENGTH = 1024;

export { ID_PATTERN, MAX_ID_LENGTH } from '../ids.js';

/** A Socket.IO event name a client can listen for. */
export const EventName = Type.String({
  minLength: 1,
  maxLength: MAX_EVENT_LENGTH,
  pattern: '^[^\\u0000-\\u001F\\u007F-\\u009F]+$',
  not: Type.Enum([...RESERVED_EVENTS]),
  description: `Socket.IO event name: 1 to ${MAX_EVENT_LENGTH} characters, no control characters, not one Socket.IO or the gateway reserves (${RESERVED_EVENTS.join(', ')}).`,
  'x-error': `must be an event name of 1 to ${MAX_EVENT_LENGTH} characters without control characters, and not one Socket.IO or the gateway reserves (${RESERVED_EVENTS.join(', ')})`,
});

/** An opaque identifier: a user id (a token's `sub`), a socket id or a document id. */
export const Id = Type.String({
  minLength: 1,
  maxLength: MAX_ID_LENGTH,
  pattern: ID_PATTERN,
  description: `Identifier: 1 to ${MAX_ID_LENGTH} characters without whitespace.`,
  'x-error': `must be a string of 1 to ${MAX_ID_LENGTH} characters without whitespace`,
});

/** Longest accepted `Idempotency-Key`. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** The headers an emit route reads besides the API key: its optional `Idempotency-Key`. */
export const EmitHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
      pattern: '^[\\x20-\\x7E]+$',
      description:
        'Makes the call safe to repeat: a repeat with the same key (and API key) within IDEMPOTENCY_TTL_SECONDS delivers nothing and answers what the first call answered, ' +
        'with the header `Idempotent-Replayed: true`; while the first call runs, a repeat waits for it. ' +
        'The same key with another request is 422 `IDEMPOTENCY_KEY_REUSED`. A 429 or 5xx answer is not kept: a retry with the same key runs again. ' +
        `1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters, such as a UUID.`,
      'x-error': `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters, such as a UUID`,
      examples: ['3f2c8a4e-5b1d-4c8e-9a57-2f0d6c1b7e94'],
    }),
  ),
});

/** Any JSON value, passed to clients as it is (http/json-body.ts holds it to json-limits.ts). */
export const AnyJson = Type.Unknown({
  description: 'Any JSON value nested at most JSON_MAX_DEPTH levels, whose numbers a 64-bit float holds as written; clients receive it as it is.',
});

/** The body of every successful REST call: the seed's two fields plus what we measured. */
export const SuccessReply = Type.Object(
  {
    success: Type.Literal(true),
    message: Type.Literal('SUCCESS'),
    sockets: Type.Integer({ minimum: 0, description: 'How many sockets the event was sent to, on every gateway node that answered.' }),
    partial: Type.Optional(
      Type.Literal(true, { description: 'Present when some gateway node could not be asked or did not answer in time: sockets counts only those that did.' }),
    ),
    positions: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description:
          "With streams on (HISTORY_SIZE > 0): each user's position of this event in their stream, by user id. Clients receive it as the event's last argument and can resume after it.",
      }),
    ),
    unconfirmed: Type.Optional(
      Type.Literal(true, {
        description:
          'Present with `partial` when the other nodes were asked but not all answered in time: they may have delivered the event without saying so. ' +
          '`partial` without `unconfirmed` means the other nodes could not be asked at all: only the sockets counted got it.',
      }),
    ),
  },
  {
    description: 'Sent; `sockets` counts the sockets reached (0 when nobody is connected, which is not an error).',
    examples: [{ success: true, message: 'SUCCESS', sockets: 2 }],
  },
);
export type SuccessReply = Static<typeof SuccessReply>;

/** The body of every failed REST call. */
const ErrorReply = Type.Object(
  {
    success: Type.Literal(false),
    errno: Type.Integer({ description: 'The HTTP status code.' }),
    message: Type.String({ description: 'What went wrong, for a person to read.' }),
    code: Type.String({ description: 'A stable error code, such as VALIDATION_ERROR or NOT_FOUND.' }),
  },
  {
    description: 'Refused or failed: `code` is stable, `message` names what was wrong.',
    examples: [{ success: false, errno: 400, message: 'params.emitTo must be an event name of 1 to 100 characters ...', code: 'VALIDATION_ERROR' }],
  },
);
export type ErrorReply = Static<typeof ErrorReply>;

/** The body of a failed call with HTTP `status`; the description lists the codes it may carry (`only` those, when given). */
export function errorReplyFor(status: number, only?: readonly ErrorCode[]): typeof ErrorReply {
  const codes = Object.entries(errorRegistry).filter(([code, entry]) => entry.status === status && (only === undefined || only.includes(code as ErrorCode)));
  const description = codes.map(([code, entry]) => `\`${code}\`: ${entry.when}`).join(' ');
  return codes.length === 0 ? ErrorReply : (Memory.Update(ErrorReply, {}, { description }) as typeof ErrorReply);
}
