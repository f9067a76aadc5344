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
import { invalidArgument } from './errors.js';
import { retryPolicy, type RetryOptions } from './retry.js';
import { send, type CallOptions, type Transport } from './transport.js';
import type {
  Channel,
  ConversationId,
  EmitResult,
  EventName,
  HealthResult,
  IsNew,
  MessageId,
  Payload,
  ReadinessResult,
  ScraperSocketId,
  StatsResult,
  UserId,
  UserIds,
} from './types.js';

export { GeneralSocketError } from './errors.js';
export type { ClientErrorCode, GeneralSocketErrorCode, GeneralSocketErrorInit } from './errors.js';
export type { RetryInfo, RetryOptions } from './retry.js';
export type { CallOptions } from './transport.js';
// Named rather than `export type *`, which older TypeScript versions cannot read in a .d.ts.
export type {
  Channel,
  ConversationId,
  EmitResult,
  EventName,
  HealthResult,
  IsNew,
  MessageId,
  Payload,
  ReadinessResult,
  ScraperSocketId,
  StatsResult,
  UserId,
  UserIds,
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
  emitToUser(userId: UserId, event: EventName, payload: Payload, options?: CallOptions): Promise<EmitResult>;
  /** `POST /emit/:event`: `data` to every socket of each user (one id or several). */
  emitToUsers(userIds: UserIds, event: EventName, data: Payload, options?: CallOptions): Promise<EmitResult>;
  /** `POST /lead-finder/:event`: `payload` to one scraper socket; `NOT_FOUND` when it is gone. */
  emitToScraper(socketId: ScraperSocketId, event: EventName, payload: Payload, options?: CallOptions): Promise<EmitResult>;
  /** `GET /conversations/:channel/emit/message/:messageId`: a stored message to its conversations' participants. */
  emitMessage(channel: Channel, messageId: MessageId, options?: CallOptions): Promise<EmitResult>;
  /** `GET /conversations/:channel/emit/conversation/:id/:isNew`: a conversation to each of its users. */
  emitConversation(channel: Channel, conversationId: ConversationId, isNew: IsNew, options?: CallOptions): Promise<EmitResult>;
  /** `GET /healthz`: resolves while the gateway serves. */
  health(options?: CallOptions): Promise<HealthResult>;
  /** `GET /readyz`: whether every dependency answers; resolves with `ready: false` rather than rejecting. */
  readiness(options?: CallOptions): Promise<ReadinessResult>;
  /** `GET /stats`: connected users and sockets per namespace. */
  stats(options?: CallOptions): Promise<StatsResult>;
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
    extra: { answers?: number[]; retryable?: boolean } = {},
  ): Promise<T> => send<T>(transport, { method: ROUTES[id].method, path: pathOf(id, segments), ...(body !== undefined && { body }), ...extra }, callOptions);

  return {
    emitToUser: async (userId, event, payload, callOptions) =>
      call('emitToUser', { userId: segment('userId', userId), emitTo: segment('event', event) }, json('payload', payload), callOptions),
    emitToUsers: async (userIds, event, data, callOptions) =>
      call('emitToUsers', { emitTo: segment('event', event) }, json('data', { userIds: userIdList(userIds), data: data ?? null }), callOptions),
    emitToScraper: async (socketId, event, payload, callOptions) =>
      call(
        'emitToScraper',
        { event: segment('event', event) },
        json('payload', { socketId: text('socketId', socketId), payload: payload ?? null }),
        callOptions,
      ),
    emitMessage: async (channel, messageId, callOptions) =>
      call('emitMessage', { channel: segment('channel', channel), messageID: segment('messageId', messageId) }, undefined, callOptions),
    emitConversation: async (channel, conversationId, isNew, callOptions) =>
      call(
        'emitConversation',
        { channel: segment('channel', channel), convoID: segment('conversationId', conversationId), isNew: newness(isNew) },
        undefined,
        callOptions,
      ),
    health: async (callOptions) => call('health', {}, undefined, callOptions),
    readiness: async (callOptions) => call('readiness', {}, undefined, callOptions, { answers: [200, 503], retryable: false }),
    stats: async (callOptions) => call('stats', {}, undefined, callOptions),
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

function text(name: string, value: unknown): string {
  if (typeof value === 'string' && value !== '') return value;
  const got =
    value === '' ? 'an empty string' : value === null ? 'null' : typeof value === 'object' ? 'an object (convert a document id with String(id))' : typeof value;
  throw invalidArgument(`${name} must be a non-empty string, got ${got}`);
}

/** One encoded path segment. "." and ".." would be resolved away by URL parsing, even encoded. */
function segment(name: string, value: unknown): string {
  const raw = text(name, value);
  if (raw === '.' || raw === '..') throw invalidArgument(`${name} cannot be "${raw}": URLs resolve it as a relative path`);
  return encodeURIComponent(raw);
}

function userIdList(userIds: UserIds): string | string[] {
  if (typeof userIds === 'string') return text('userIds', userIds);
  if (!Array.isArray(userIds) || userIds.length === 0) throw invalidArgument('userIds must be a user id or a non-empty array of user ids');
  return userIds.map((id, index) => text(`userIds[${index}]`, id));
}

function newness(isNew: IsNew): 'new' | 'existing' {
  if (isNew === true || isNew === 'new') return 'new';
  if (isNew === false || isNew === 'existing') return 'existing';
  throw invalidArgument(`isNew must be "new", "existing" or a boolean, got ${JSON.stringify(isNew)}`);
}

/** JSON text of a payload; `undefined` becomes `null`, the one JSON value for "nothing". */
function json(name: string, value: unknown): string {
  let serialized: string | undefined;
  try {
    serialized = JSON.stringify(value ?? null);
  } catch (error) {
    throw invalidArgument(`${name} cannot be sent as JSON: ${(error as Error).message}`);
  }
  if (serialized === undefined) throw invalidArgument(`${name} cannot be sent as JSON (a function or a symbol)`);
  return serialized;
}
