/**
 * `general-socket/client`: a typed client for backend services that push events through a General
 * Socket gateway. It uses the global `fetch` only and has no dependencies, so it runs in Node 20+
 * and in any runtime with `fetch`.
 *
 * ```ts
 * const gs = createClient({ baseUrl: process.env.GENERAL_SOCKET_URL, apiKey: process.env.INTERNAL_API_KEY });
 * await gs.emitToUser('64user123', 'notification', { title: 'New Lead Assigned' });
 * ```
 */
import { ROUTES, pathOf, type PathParams, type SdkOperationId } from '../api/routes.js';
import { historyQuery, idempotencyKeyOf, json, newness, noticeBody, segment, text, userIdList } from './arguments.js';
import { GeneralSocketError, invalidArgument } from './errors.js';
import { retryPolicy, type RetryOptions } from './retry.js';
import { send, type CallOptions, type EmitOptions, type Transport } from './transport.js';
import type {
  BatchItem,
  BatchResult,
  Channel,
  ConversationId,
  DisconnectNotice,
  DisconnectResult,
  EmitResult,
  EventName,
  HealthResult,
  HistoryOptions,
  HistoryResult,
  IsNew,
  MessageId,
  Payload,
  ReadinessResult,
  RevokeTokenResult,
  RevokeUserTokensResult,
  ScraperSocketId,
  StatsResult,
  TokenId,
  UserId,
  UserIds,
  UserPresenceResult,
  UsersPresenceResult,
} from './types.js';

export { GeneralSocketError } from './errors.js';
export type { ClientErrorCode, GeneralSocketErrorCode, GeneralSocketErrorInit } from './errors.js';
export type { RetryInfo, RetryOptions } from './retry.js';
export type { CallOptions, EmitOptions } from './transport.js';
// Named rather than `export type *`, which older TypeScript versions cannot read in a .d.ts.
export type {
  BatchItem,
  BatchResult,
  Channel,
  ConversationId,
  DisconnectNotice,
  DisconnectResult,
  EmitResult,
  EventName,
  HealthResult,
  HistoryOptions,
  HistoryResult,
  IsNew,
  MessageId,
  Payload,
  Position,
  ReadinessResult,
  RevokeTokenResult,
  RevokeUserTokensResult,
  ScraperSocketId,
  StatsResult,
  TokenId,
  UserId,
  UserIds,
  UserPresenceResult,
  UsersPresenceResult,
} from './types.js';

/** How to reach a gateway. */
export interface ClientOptions {
  /** The gateway's base URL, such as `http://localhost:4000` (a path prefix behind a proxy is kept). */
  readonly baseUrl: string;
  /** One of the gateway's `INTERNAL_API_KEY` values, sent as `x-api-key`. */
  readonly apiKey?: string;
  /** How long one attempt may take, in milliseconds, body included (default 10000). */
  readonly timeoutMs?: number;
  /** Retries on network failures and 502/503/504 (default 2 retries); `false` turns them off. */
  readonly retry?: RetryOptions | false;
  /** A `fetch` to use instead of the global one (a proxy agent, a test double, another runtime's). */
  readonly fetch?: typeof globalThis.fetch;
  /** Extra headers sent with every call. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A client of one gateway. Every method rejects with a `GeneralSocketError`. Each method is named
 * after the operationId of the route it calls (src/api/routes.ts).
 */
export interface GeneralSocketClient {
  /** `POST /emit/:userId/:event`: `payload` to every socket of one user. */
  emitToUser(userId: UserId, event: EventName, payload: Payload, options?: EmitOptions): Promise<EmitResult>;
  /** `POST /emit/:event`: `data` to every socket of each user (one id or several). */
  emitToUsers(userIds: UserIds, event: EventName, data: Payload, options?: EmitOptions): Promise<EmitResult>;
  /** `POST /lead-finder/:event`: `payload` to one scraper socket; `NOT_FOUND` when it is gone. */
  emitToScraper(socketId: ScraperSocketId, event: EventName, payload: Payload, options?: EmitOptions): Promise<EmitResult>;
  /** `POST /emit/batch`: many events, each to its own audience; one result per item, in order (a refused item does not reject the call). */
  emitBatch(items: readonly BatchItem[], options?: EmitOptions): Promise<BatchResult>;
  /** `GET /conversations/:channel/emit/message/:messageId`: a stored message to its conversations' participants. */
  emitMessage(channel: Channel, messageId: MessageId, options?: EmitOptions): Promise<EmitResult>;
  /** `GET /conversations/:channel/emit/conversation/:id/:isNew`: a conversation to each of its users. */
  emitConversation(channel: Channel, conversationId: ConversationId, isNew: IsNew, options?: EmitOptions): Promise<EmitResult>;
  /**
   * `GET /users/:userId/events`: the events kept for a user after `since` (from the oldest kept
   * without it), oldest first; `gap: true` when some after `since` are gone. `HISTORY_DISABLED`
   * when the gateway keeps none (HISTORY_SIZE=0).
   */
  history(userId: UserId, options?: HistoryOptions, callOptions?: CallOptions): Promise<HistoryResult>;
  /** `GET /healthz`: resolves while the gateway serves. */
  health(options?: CallOptions): Promise<HealthResult>;
  /** `GET /readyz`: whether every dependency answers; resolves with `ready: false` rather than rejecting. */
  readiness(options?: CallOptions): Promise<ReadinessResult>;
  /** `GET /stats`: connected users and sockets per namespace. */
  stats(options?: CallOptions): Promise<StatsResult>;
  /** `GET /users/:userId/presence`: whether the user is online cluster-wide, with how many sockets, since when. */
  userPresence(userId: UserId, options?: CallOptions): Promise<UserPresenceResult>;
  /** `POST /presence`: which of these users are online (at most PRESENCE_MAX_USER_IDS). */
  usersPresence(userIds: readonly UserId[], options?: CallOptions): Promise<UsersPresenceResult>;
  /** `POST /users/:userId/disconnect`: closes every socket of the user, after `notice` when given. */
  disconnectUser(userId: UserId, notice?: DisconnectNotice, options?: CallOptions): Promise<DisconnectResult>;
  /** `POST /lead-finder/:socketId/disconnect`: closes one scraper socket; `NOT_FOUND` when it is gone. */
  disconnectScraper(socketId: ScraperSocketId, notice?: DisconnectNotice, options?: CallOptions): Promise<DisconnectResult>;
  /** `POST /users/:userId/revoke-tokens`: refuses the user's tokens issued before now and disconnects the sockets holding them. */
  revokeUserTokens(userId: UserId, options?: CallOptions): Promise<RevokeUserTokensResult>;
  /** `POST /tokens/revoke`: refuses one token by its `jti` until its `exp` and disconnects the sockets holding it. */
  revokeToken(jti: TokenId, exp: number, options?: CallOptions): Promise<RevokeTokenResult>;
}

/**
 * Compiles only while every operation of the route table has a method above, named after its
 * operationId (unless its row says `sdk: false`); the error names the operations missing.
 */
type MissingOperations = Exclude<SdkOperationId, keyof GeneralSocketClient>;
type NoneMissing<Missing extends never> = Missing;
// biome-ignore lint/correctness/noUnusedVariables: a check the compiler makes; nothing uses it
type EveryOperationHasAMethod = NoneMissing<MissingOperations>;

/** Creates a client; checks the options at once, so a typo fails at start-up rather than at the first emit. */
export function createClient(options: ClientOptions): GeneralSocketClient {
  const transport = transportFrom(options);
  /** Calls operation `id` at its route (the route table's row), its path parameters filled with encoded `segments`. */
  const call = <T, Id extends SdkOperationId = SdkOperationId>(
    id: Id,
    segments: Record<PathParams<(typeof ROUTES)[Id]['url']>, string>,
    body?: string,
    callOptions?: CallOptions,
    extra: { answers?: number[]; retryable?: boolean; idempotencyKey?: string; query?: string } = {},
  ): Promise<T> => {
    const { query = '', ...rest } = extra;
    return send<T>(transport, { method: ROUTES[id].method, path: pathOf(id, segments) + query, ...(body !== undefined && { body }), ...rest }, callOptions);
  };
  /** An emit: one Idempotency-Key for the logical call, which every retry of it sends again. */
  const emit = <T, Id extends SdkOperationId = SdkOperationId>(
    id: Id,
    segments: Record<PathParams<(typeof ROUTES)[Id]['url']>, string>,
    body: string | undefined,
    emitOptions: EmitOptions | undefined,
  ): Promise<T> => call<T, Id>(id, segments, body, emitOptions, { idempotencyKey: idempotencyKeyOf(emitOptions) });
  const emitBatch = (items: readonly BatchItem[], emitOptions?: EmitOptions): Promise<BatchResult> => {
    if (!Array.isArray(items) || items.length === 0) throw invalidArgument('items must be a non-empty array of { userId | userIds | socketId, event, data }');
    // A payload of undefined is sent as null, as by the other emits; the gateway checks the rest per item.
    const sent = items.map((item) => (typeof item === 'object' && item !== null && !Array.isArray(item) ? { ...item, data: item.data ?? null } : item));
    return emit('emitBatch', {}, json('items', { items: sent }), emitOptions);
  };

  return {
    emitToUser: async (userId, event, payload, emitOptions) =>
      emit('emitToUser', { userId: segment('userId', userId), emitTo: segment('event', event) }, json('payload', payload), emitOptions),
    emitToUsers: async (userIds, event, data, emitOptions) => {
      const users = userIdList(userIds);
      // POST /emit/batch is the batch route: an event named "batch" goes as a batch of one.
      if (event === 'batch') return oneOfBatch(await emitBatch([{ userIds: users, event, data: data ?? null }], emitOptions));
      return emit('emitToUsers', { emitTo: segment('event', event) }, json('data', { userIds: users, data: data ?? null }), emitOptions);
    },
    emitToScraper: async (socketId, event, payload, emitOptions) =>
      emit(
        'emitToScraper',
        { event: segment('event', event) },
        json('payload', { socketId: text('socketId', socketId), payload: payload ?? null }),
        emitOptions,
      ),
    emitBatch: async (items, emitOptions) => emitBatch(items, emitOptions),
    emitMessage: async (channel, messageId, emitOptions) =>
      emit('emitMessage', { channel: segment('channel', channel), messageID: segment('messageId', messageId) }, undefined, emitOptions),
    emitConversation: async (channel, conversationId, isNew, emitOptions) =>
      emit(
        'emitConversation',
        { channel: segment('channel', channel), convoID: segment('conversationId', conversationId), isNew: newness(isNew) },
        undefined,
        emitOptions,
      ),
    history: async (userId, options = {}, callOptions) =>
      call('history', { userId: segment('userId', userId) }, undefined, callOptions, { query: historyQuery(options) }),
    health: async (callOptions) => call('health', {}, undefined, callOptions),
    readiness: async (callOptions) => call('readiness', {}, undefined, callOptions, { answers: [200, 503], retryable: false }),
    stats: async (callOptions) => call('stats', {}, undefined, callOptions),
    userPresence: async (userId, callOptions) => call('userPresence', { userId: segment('userId', userId) }, undefined, callOptions),
    usersPresence: async (userIds, callOptions) => {
      if (!Array.isArray(userIds) || userIds.length === 0) throw invalidArgument('userIds must be a non-empty array of user ids');
      return call('usersPresence', {}, json('userIds', { userIds: userIds.map((id, index) => text(`userIds[${index}]`, id)) }), callOptions);
    },
    disconnectUser: async (userId, notice, callOptions) =>
      call('disconnectUser', { userId: segment('userId', userId) }, json('notice', noticeBody(notice)), callOptions),
    disconnectScraper: async (socketId, notice, callOptions) =>
      call('disconnectScraper', { socketId: segment('socketId', socketId) }, json('notice', noticeBody(notice)), callOptions),
    revokeUserTokens: async (userId, callOptions) => call('revokeUserTokens', { userId: segment('userId', userId) }, undefined, callOptions),
    revokeToken: async (jti, exp, callOptions) => {
      if (!Number.isSafeInteger(exp) || exp < 0) throw invalidArgument(`exp must be the token's exp claim, whole seconds since 1970, got ${String(exp)}`);
      return call('revokeToken', {}, json('body', { jti: text('jti', jti), exp }), callOptions);
    },
  };
}

/** The answer of a one-item batch as the single emit would have given it. */
function oneOfBatch(result: BatchResult): EmitResult {
  const [first] = result.results;
  if (first === undefined) throw new GeneralSocketError({ code: 'INVALID_RESPONSE', message: 'The batch answered no result for its one item' });
  if (!first.success) throw new GeneralSocketError({ code: first.code, message: first.message, status: first.errno, errno: first.errno, attempts: 1 });
  return {
    success: true,
    message: 'SUCCESS',
    sockets: first.sockets,
    ...(result.partial && { partial: true }),
    ...(result.unconfirmed && { unconfirmed: true }),
  };
}

function transportFrom(options: ClientOptions): Transport {
  if (typeof options !== 'object' || options === null)
    throw invalidArgument(
      `createClient needs an options object such as { baseUrl: 'http://localhost:4000', apiKey }, got ${options === null ? 'null' : typeof options}`,
    );
  if (typeof options.baseUrl !== 'string' || !/^https?:\/\/[^/]/i.test(options.baseUrl)) {
    throw invalidArgument(`baseUrl must be an http:// or https:// URL such as http://localhost:4000, got ${JSON.stringify(options.baseUrl)}`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw invalidArgument(`timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`);
  if (options.apiKey !== undefined && typeof options.apiKey !== 'string') throw invalidArgument(`apiKey must be a string, got ${typeof options.apiKey}`);
  if (options.headers !== undefined && (typeof options.headers !== 'object' || options.headers === null))
    throw invalidArgument('headers must be an object of header names and values');
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw invalidArgument('No global fetch in this runtime: pass one as the fetch option');
  return {
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    apiKey: options.apiKey === undefined || options.apiKey === '' ? undefined : options.apiKey,
    timeoutMs,
    retry: retryPolicy(options.retry),
    // Bound, because some runtimes' fetch refuses to be called as a method of another object.
    fetch: (input, init) => fetchImpl(input, init),
    headers: options.headers ?? {},
  };
}
