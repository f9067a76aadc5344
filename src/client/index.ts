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
import { GeneralSocketError } from './errors.js';
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

/** A client of one gateway. Every method rejects with a `GeneralSocketError`. */
export interface GeneralSocketClient {
  /** `POST /emit/:userId/:event`: `payload` to every socket of one user. */
  emitToUser(userId: UserId, event: EventName, payload: Payload, options?: CallOptions): Promise<EmitResult>;
  /** `POST /emit/:event`: `data` to every socket of each user (one id or several). */
  emitToUsers(userIds: UserIds, event: EventName, data: Payload, options?: CallOptions): Promise<EmitResult>;
  /** `POST /lead-finder/:event`: `payload` to one worker socket; `NOT_FOUND` when it is gone. */
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

/** Creates a client; checks the options at once, so a typo fails at start-up rather than at the first emit. */
export function createClient(options: ClientOptions): GeneralSocketClient {
  const transport = transportFrom(options);
  const call = <T>(method: 'GET' | 'POST', path: string, body?: string, callOptions?: CallOptions, extra: { answers?: number[]; retryable?: boolean } = {}): Promise<T> =>
    send<T>(transport, { method, path, ...(body !== undefined && { body }), ...extra }, callOptions);

  return {
    emitToUser: async (userId, event, payload, callOptions) =>
      call('POST', `/emit/${segment('userId', userId)}/${segment('event', event)}`, json('payload', payload), callOptions),
    emitToUsers: async (userIds, event, data, callOptions) =>
      call('POST', `/emit/${segment('event', event)}`, json('data', { userIds: userIdList(userIds), data: data ?? null }), callOptions),
    emitToScraper: async (socketId, event, payload, callOptions) =>
      call('POST', `/lead-finder/${segment('event', event)}`, json('payload', { socketId: text('socketId', socketId), payload: payload ?? null }), callOptions),
    emitMessage: async (channel, messageId, callOptions) =>
      call('GET', `/conversations/${segment('channel', channel)}/emit/message/${segment('messageId', messageId)}`, undefined, callOptions),
    emitConversation: async (channel, conversationId, isNew, callOptions) =>
      call('GET', `/conversations/${segment('channel', channel)}/emit/conversation/${segment('conversationId', conversationId)}/${newness(isNew)}`, undefined, callOptions),
    health: async (callOptions) => call('GET', '/healthz', undefined, callOptions),
    readiness: async (callOptions) => call('GET', '/readyz', undefined, callOptions, { answers: [200, 503], retryable: false }),
    stats: async (callOptions) => call('GET', '/stats', undefined, callOptions),
  };
}

function transportFrom(options: ClientOptions): Transport {
  if (typeof options?.baseUrl !== 'string' || !/^https?:\/\/[^/]/i.test(options.baseUrl)) {
    throw new TypeError(`baseUrl must be an http:// or https:// URL such as http://localhost:4000, got ${JSON.stringify(options?.baseUrl)}`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new TypeError('No global fetch in this runtime: pass one as the fetch option');
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

function invalid(message: string): GeneralSocketError {
  return new GeneralSocketError({ code: 'INVALID_ARGUMENT', message });
}

function text(name: string, value: unknown): string {
  if (typeof value === 'string' && value !== '') return value;
  const got = value === '' ? 'an empty string' : value === null ? 'null' : typeof value === 'object' ? 'an object (convert a document id with String(id))' : typeof value;
  throw invalid(`${name} must be a non-empty string, got ${got}`);
}

/** One encoded path segment. "." and ".." would be resolved away by URL parsing, even encoded. */
function segment(name: string, value: unknown): string {
  const raw = text(name, value);
  if (raw === '.' || raw === '..') throw invalid(`${name} cannot be "${raw}": URLs resolve it as a relative path`);
  return encodeURIComponent(raw);
}

function userIdList(userIds: UserIds): string | string[] {
  if (typeof userIds === 'string') return text('userIds', userIds);
  if (!Array.isArray(userIds) || userIds.length === 0) throw invalid('userIds must be a user id or a non-empty array of user ids');
  return userIds.map((id, index) => text(`userIds[${index}]`, id));
}

function newness(isNew: IsNew): 'new' | 'existing' {
  if (isNew === true || isNew === 'new') return 'new';
  if (isNew === false || isNew === 'existing') return 'existing';
  throw invalid(`isNew must be "new", "existing" or a boolean, got ${JSON.stringify(isNew)}`);
}

/** JSON text of a payload; `undefined` becomes `null`, the one JSON value for "nothing". */
function json(name: string, value: unknown): string {
  let serialized: string | undefined;
  try {
    serialized = JSON.stringify(value ?? null);
  } catch (error) {
    throw invalid(`${name} cannot be sent as JSON: ${(error as Error).message}`);
  }
  if (serialized === undefined) throw invalid(`${name} cannot be sent as JSON (a function or a symbol)`);
  return serialized;
}
