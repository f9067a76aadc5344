/**
 * The error registry: every failure the gateway reports has a stable code here, with its default
 * message and the sentence that documents it (README's error tables are generated from this file and
 * checked against it by a test).
 *
 * - REST: routes throw `GatewayError`s; http/error-handler.ts turns anything thrown into the seed's
 *   shape `{ success: false, errno, message }` plus `code`.
 * - Socket.IO: a refused handshake gets a `connect_error` whose `data.code` is a socket code.
 */

/** A failure of a REST call. */
interface HttpErrorEntry {
  readonly status: number;
  readonly message: string;
  /** When a caller gets it (README's error table). */
  readonly when: string;
}

/** Every error code the REST API can answer with, its HTTP status and default message. */
export const errorRegistry = {
  VALIDATION_ERROR: {
    status: 400,
    message: 'The request is invalid',
    when: 'A parameter or body field is missing or wrong, the body nests deeper than `JSON_MAX_DEPTH` or holds a number clients would receive changed, a key is in the query string, the URL is malformed, or the request is not HTTP; the message names what.',
  },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON', when: 'The body is not valid JSON.' },
  UNAUTHORIZED: { status: 401, message: 'A valid x-api-key header is required', when: '`x-api-key` is missing or wrong.' },
  FORBIDDEN: {
    status: 403,
    message: 'This address may not call the API',
    when: "The caller's address is not in `ALLOWED_IPS`; `POST /console/token` in production; or a key of `API_KEYS` calling a route whose row names no scope.",
  },
  // Scoped API keys (issue 14): one code per scope, so that a refusal names what the key lacks.
  SCOPE_EMIT_REQUIRED: { status: 403, message: 'This API key may not emit to users', when: 'The key lacks the `emit` scope.' },
  SCOPE_LEAD_FINDER_REQUIRED: { status: 403, message: 'This API key may not emit to scrapers', when: 'The key lacks the `lead-finder` scope.' },
  SCOPE_CONVERSATIONS_REQUIRED: { status: 403, message: 'This API key may not send conversations', when: 'The key lacks the `conversations` scope.' },
  SCOPE_PRESENCE_REQUIRED: { status: 403, message: 'This API key may not use presence', when: 'The key lacks the `presence` scope.' },
  SCOPE_HISTORY_REQUIRED: { status: 403, message: 'This API key may not read history', when: 'The key lacks the `history` scope.' },
  SCOPE_TOKENS_REQUIRED: { status: 403, message: 'This API key may not revoke tokens', when: 'The key lacks the `tokens` scope.' },
  SCOPE_METRICS_REQUIRED: { status: 403, message: 'This API key may not read metrics', when: 'The key lacks the `metrics` scope (`/metrics`, `/stats`).' },
  SCOPE_CONSOLE_REQUIRED: { status: 403, message: "This API key may not use the console's route", when: 'The key lacks the `console` scope.' },
  EVENT_FORBIDDEN: {
    status: 403,
    message: 'This API key may not send this event',
    when: "The event's name matches none of the key's `events` patterns; the message names the patterns.",
  },
  NOT_FOUND: { status: 404, message: 'Not found', when: 'Unknown route, or the scraper socket (or document, or channel) does not exist.' },
  HISTORY_DISABLED: {
    status: 404,
    message: 'Event history is off: HISTORY_SIZE is 0',
    when: '`GET /users/:userId/events` while `HISTORY_SIZE` is 0: no events are kept, so there is no history to read.',
  },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed', when: 'The path exists under another method (see the `Allow` header).' },
  REQUEST_TIMEOUT: {
    status: 408,
    message: 'The request did not arrive in time',
    when: "The request's headers took longer than `HEADERS_TIMEOUT_MS`, or the whole request longer than `REQUEST_TIMEOUT_MS`; the connection is closed.",
  },
  IDEMPOTENCY_KEY_IN_USE: {
    status: 409,
    message: 'A request with this Idempotency-Key is still running',
    when: 'A request with the same `Idempotency-Key` is still running and did not finish within `REQUEST_TIMEOUT_MS`; nothing was sent, retry with the same key to get its answer.',
  },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large', when: 'The body is larger than `BODY_LIMIT_BYTES`.' },
  EMIT_TOO_LARGE: {
    status: 413,
    message: 'The request would send more than one request may',
    when: 'The request would send more than `EMIT_MAX_BYTES`, a conversation has more than `CONVERSATION_MAX_USERS` users, or a batch more than `BATCH_MAX_ITEMS` items.',
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be application/json', when: 'The body is not `application/json`.' },
  DOCUMENT_UNSENDABLE: {
    status: 422,
    message: 'A stored document cannot be sent as it is',
    when: 'A stored document is nested deeper than `JSON_MAX_DEPTH` or holds a number JSON would change; the message names it.',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'This Idempotency-Key was used for another request',
    when: 'The `Idempotency-Key` was used with this API key for another request (another route, parameters or body) within `IDEMPOTENCY_TTL_SECONDS`; nothing was sent.',
  },
  RATE_LIMITED: { status: 429, message: 'Too many requests', when: 'Over the rate limit; retry after `Retry-After` seconds.' },
  HEADERS_TOO_LARGE: {
    status: 431,
    message: 'The request headers are too large',
    when: 'The request headers are larger than 16 KiB; the connection is closed.',
  },
  INTERNAL_SERVER_ERROR: { status: 500, message: 'Internal server error', when: 'A bug; the log has the details, the response does not.' },
  SERVICE_UNAVAILABLE: {
    status: 503,
    message: 'A service the gateway depends on is unavailable',
    when: 'A dependency (database, cluster bus, the event history `GET /users/:userId/events` reads, the idempotency store of a call with an `Idempotency-Key`) is unavailable, or the gateway is shutting down (`Retry-After: 1`).',
  },
  STREAMS_UNAVAILABLE: {
    status: 503,
    message: "The users' streams cannot be written, so nothing was sent; retry",
    when: 'Streams on (`HISTORY_SIZE` > 0): the stream store (SQLite in `DATA_DIR`, or Redis) could not record the event; nothing was sent (`Retry-After: 1`).',
  },
  DELIVERY_UNCONFIRMED: {
    status: 504,
    message: 'Other gateway nodes did not confirm the delivery in time',
    when: 'Cluster only: other gateway nodes were asked to deliver but did not all answer in time; the event may have been delivered.',
  },
} as const satisfies Record<string, HttpErrorEntry>;

/** A stable, documented REST error code. */
export type ErrorCode = keyof typeof errorRegistry;

/** A refused Socket.IO handshake. */
interface SocketErrorEntry {
  /** Where it happens, for README. */
  readonly namespace: string;
  readonly message: string;
  readonly when: string;
}

/**
 * Every code a refused Socket.IO client receives as `connect_error` `err.data.code` (or, for a
 * connection the gateway closes, as the `disconnect_reason` event's `code`), with its default message.
 * They have no HTTP status: the refusal travels inside the Socket.IO connection.
 */
export const socketErrorRegistry = {
  TOKEN_MISSING: { namespace: '/v1/shared', message: 'Authentication required: connect with auth: { token: "<JWT>" }', when: 'No token in `auth.token`.' },
  TOKEN_EXPIRED: {
    namespace: '/v1/shared',
    message: 'Token expired: get a new token and reconnect',
    when: "The token's `exp` has passed: at the handshake, at a `token_refresh`, or on a connected socket that did not refresh in time (`disconnect_reason`).",
  },
  TOKEN_INVALID: {
    namespace: '/v1/shared',
    message: 'Invalid token',
    when: 'The token is not a JWT, has a bad signature or an algorithm the gateway does not accept, lacks `sub` or `exp`, or its `iss` or `aud` do not match.',
  },
  TOKEN_REVOKED: {
    namespace: '/v1/shared',
    message: 'Token revoked: sign in again',
    when: "The user's tokens issued before a revocation (`POST /users/:userId/revoke-tokens`), or this token's `jti` (`POST /tokens/revoke`), were revoked: at the handshake, at a `token_refresh`, or on a connected socket (`disconnect_reason`).",
  },
  TOKEN_USER_MISMATCH: {
    namespace: '/v1/shared',
    message: 'The token is for another user',
    when: "A `token_refresh` sent a token whose `sub` is not the socket's user.",
  },
  TOKEN_UNVERIFIABLE: {
    namespace: '/v1/shared',
    message: 'The token cannot be checked right now: retry',
    when: 'The key set of `JWT_JWKS_URL` could not be fetched, or revocations could not be read; retry later.',
  },
  KEY_MISSING: {
    namespace: '/v1/lead-finder',
    message: 'Authentication required: connect with auth: { token: "<scraper key>" }',
    when: 'No scraper key in `auth.token`.',
  },
  KEY_INVALID: { namespace: '/v1/lead-finder', message: 'Invalid scraper key', when: 'The key is not one of `SCRAPER_API_KEY`.' },
  NAMESPACE_FORBIDDEN: {
    namespace: '/',
    message: 'This namespace accepts no clients',
    when: "A client on the main namespace, which carries only the gateway nodes' own messages.",
  },
  HANDSHAKE_RATE_LIMITED: {
    namespace: 'any',
    message: 'Too many connections from your address',
    when: "The client's address opened more than `SOCKET_HANDSHAKES_PER_MINUTE` connections this minute; the message says when to retry.",
  },
  NAMESPACE_ALREADY_JOINED: {
    namespace: 'any',
    message: 'One socket per namespace per connection',
    when: 'A second CONNECT to a namespace the connection has joined, or is joining.',
  },
  TOO_MANY_REFUSED: {
    namespace: 'any',
    message: 'Disconnected: this connection kept sending packets the gateway refuses',
    when: 'Not a `connect_error`: the `code` of the `disconnect_reason` event a socket receives before the gateway disconnects a connection that sent more than 10 packets it refuses.',
  },
} as const satisfies Record<string, SocketErrorEntry>;

/** A stable, documented code of a refused Socket.IO handshake. */
export type SocketErrorCode = keyof typeof socketErrorRegistry;

/** The JSON body of every failed REST call. */
export interface ErrorBody {
  readonly success: false;
  readonly errno: number;
  readonly message: string;
  readonly code: ErrorCode;
}

/** An error the gateway reports to its caller as is. */
export class GatewayError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = errorRegistry[code].message,
    /** Extra response headers, such as `Allow` or `Retry-After`. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'GatewayError';
    this.status = errorRegistry[code].status;
  }

  /** The response body for this error. */
  toBody(): ErrorBody {
    return { success: false, errno: this.status, message: this.message, code: this.code };
  }
}

/** Shorthand for `new GatewayError(...)` that reads well after `throw`. */
export function fail(code: ErrorCode, message?: string, headers?: Readonly<Record<string, string>>): GatewayError {
  return new GatewayError(code, message, headers);
}

/** The error a Socket.IO middleware passes to `next()` to refuse a handshake: the client reads `err.data.code`. */
export function socketRefusal(code: SocketErrorCode, message: string = socketErrorRegistry[code].message): Error & { data: { code: SocketErrorCode } } {
  return Object.assign(new Error(message), { data: { code } });
}

/** README's table of REST errors, as Markdown (`general-socket errors --markdown`; a test keeps README equal). */
export function httpErrorTable(): string {
  const rows = Object.entries(errorRegistry).map(([code, { status, when }]) => `| ${status} | \`${code}\` | ${when} |`);
  return ['| Status | Code | When |', '| --- | --- | --- |', ...rows].join('\n');
}

/** README's table of Socket.IO refusals, as Markdown (`general-socket errors --markdown`; a test keeps README equal). */
export function socketErrorTable(): string {
  const rows = Object.entries(socketErrorRegistry).map(([code, { namespace, when }]) => `| \`${code}\` | \`${namespace}\` | ${when} |`);
  return ['| Socket.IO code | Namespace | When |', '| --- | --- | --- |', ...rows].join('\n');
}
