/**
 * Every operation of the REST API, complete: its row of the route table (routes.ts) joined with its
 * schemas. The server registers its routes from this list (routes/register.ts), and @fastify/swagger
 * generates the OpenAPI document from the schemas built here.
 *
 * The error answers an operation documents are derived from what it is, so that they cannot drift
 * from what the gateway does (test/openapi.test.ts provokes each of them):
 * - a path parameter, a query string or a body: 400 (the schema refuses it; a body may also not be JSON);
 * - a body, or a POST (Fastify reads its body all the same): 413 (larger than BODY_LIMIT_BYTES) and
 *   415 (not application/json);
 * - a key: 401 (missing or wrong) and 403 (address outside ALLOWED_IPS, a key without the route's
 *   scope, or an emit of an event the key may not send);
 * - an emit: 429 (the rate limit), and for its `Idempotency-Key` 409 (a request with the key is still
 *   running) and 422 (the key was used for another request);
 * - every operation: 400 for a key or token in the query string (http/access.ts), and 503 while the
 *   gateway shuts down;
 * - plus the statuses its row names (`errors`), which only its handler answers.
 */
import { Type, type TSchema } from 'typebox';
import { SCOPE_CODES, type Scope } from '../auth/scopes.js';
import type { ErrorCode } from '../errors.js';
import { EmitBatch } from './batch.js';
import { EmitHeaders, errorReplyFor } from './common.js';
import { ConsoleToken } from './console.js';
import { EmitConversation, EmitMessage } from './conversations.js';
import { EmitToUser, EmitToUsers } from './emit.js';
import { Health, Ready } from './health.js';
import { History } from './history.js';
import { EmitToScraper } from './lead-finder.js';
import { Metrics } from './metrics.js';
import { DisconnectScraper, DisconnectUser, UserPresence, UsersPresence } from './presence.js';
import { ROUTES, type OperationId, type RouteEntry } from './routes.js';
import { Stats } from './stats.js';
import { RevokeToken, RevokeUserTokens } from './tokens.js';

/** What an operation's schema file defines: its documentation, its inputs and its successful answer. */
export interface OperationDefinition {
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly params?: TSchema;
  /** The query string: its values arrive as strings and are validated as such (no coercion). */
  readonly querystring?: TSchema;
  readonly body?: TSchema;
  /**
   * What the body must be, when `body` (what the route validates) lets more through so that the
   * handler can refuse its parts one by one (a batch's items): the OpenAPI document shows this one.
   */
  readonly documentedBody?: TSchema;
  readonly response: { readonly 200: unknown; readonly [status: number]: unknown };
}

/** Who may call an operation. */
export type Access = RouteEntry['access'];

/** An operation as the server registers it and the OpenAPI document shows it. */
export interface Operation<Id extends OperationId = OperationId, D extends OperationDefinition = OperationDefinition> {
  readonly operationId: Id;
  readonly method: RouteEntry['method'];
  readonly url: string;
  readonly access: Access;
  /** The route group a key needs (routes.ts); none for public operations. */
  readonly scope?: Scope;
  /** The name of the event it sends, `{param}` for a path parameter (routes.ts). */
  readonly event?: string;
  /** The body names the events; the handler checks each (routes.ts). */
  readonly eventsInBody?: true;
  readonly emit: boolean;
  /** Every error status it can answer, ascending (derived; see the top of this file). */
  readonly errors: readonly number[];
  /** Fastify's route schema: the definition plus operationId, security and every error answer. */
  readonly schema: D & {
    readonly operationId: Id;
    readonly security?: readonly { readonly [scheme: string]: readonly string[] }[];
    readonly response: D['response'] & { readonly [status: number]: unknown };
  };
}

/** The error statuses an operation can answer (see the top of this file). */
function errorStatuses(definition: OperationDefinition, row: RouteEntry, access: Access): number[] {
  const statuses = new Set<number>([...row.errors, 400, 503]);
  // Fastify reads the body of any POST, whether or not the operation takes one.
  if (definition.body !== undefined || row.method === 'POST') for (const status of [413, 415]) statuses.add(status);
  if (access !== 'public') for (const status of [401, 403]) statuses.add(status);
  if (row.emit) for (const status of [409, 422, 429]) statuses.add(status);
  return [...statuses].sort((a, b) => a - b);
}

/** OpenAPI `security` of an operation; absent means the document's default (the `x-api-key` header). */
function security(access: Access): { security?: { [scheme: string]: string[] }[] } {
  if (access === 'public') return { security: [] };
  if (access === 'key-or-bearer') return { security: [{ apiKey: [] }, { bearer: [] }] };
  return {};
}

/** Builds an operation from its row and its definition; `access` overrides the row's (METRICS_PUBLIC). */
function operation<Id extends OperationId, D extends OperationDefinition>(id: Id, definition: D, access: Access = ROUTES[id].access): Operation<Id, D> {
  const row: RouteEntry = ROUTES[id];
  const { method, url, emit } = row;
  const errors = errorStatuses(definition, row, access);
  const guarded = access !== 'public';
  const scope = guarded ? row.scope : undefined;
  // A 403 names its codes: the address check, and what this route's key must hold.
  const forbidden: ErrorCode[] = ['FORBIDDEN', ...(scope ? [SCOPE_CODES[scope]] : []), ...(emit ? (['EVENT_FORBIDDEN'] as const) : [])];
  const response: Record<number, unknown> = { ...definition.response };
  for (const status of errors) {
    const body = definition.response[status];
    const reply = status === 403 ? errorReplyFor(status, forbidden) : errorReplyFor(status);
    // A status the operation answers with a body of its own (/readyz's 503) may also be an error.
    response[status] = body === undefined ? reply : Type.Union([body as TSchema, reply]);
  }
  // Every emit takes an Idempotency-Key (http/idempotency.ts), validated and documented here.
  const schema = { ...definition, ...(emit && { headers: EmitHeaders }), operationId: id, ...security(access), response } as Operation<Id, D>['schema'];
  return {
    operationId: id,
    method,
    url,
    access,
    ...(scope && { scope }),
    ...(row.event !== undefined && { event: row.event }),
    ...('eventsInBody' in row && { eventsInBody: true as const }),
    emit,
    errors,
    schema,
  };
}

/** The schemas of each operation. */
const definitions = {
  emitToUser: EmitToUser,
  emitToUsers: EmitToUsers,
  emitToScraper: EmitToScraper,
  emitBatch: EmitBatch,
  emitMessage: EmitMessage,
  emitConversation: EmitConversation,
  history: History,
  userPresence: UserPresence,
  usersPresence: UsersPresence,
  disconnectUser: DisconnectUser,
  disconnectScraper: DisconnectScraper,
  health: Health,
  readiness: Ready,
  stats: Stats,
  metrics: Metrics,
  consoleToken: ConsoleToken,
  revokeUserTokens: RevokeUserTokens,
  revokeToken: RevokeToken,
} as const satisfies { readonly [Id in OperationId]: OperationDefinition };

/** The type of every operation, by operationId, with its own schemas (handlers are typed from them). */
export type Operations = { readonly [Id in OperationId]: Operation<Id, (typeof definitions)[Id]> };

/** Every operation, by operationId. */
export const operations = Object.fromEntries(
  (Object.keys(definitions) as OperationId[]).map((id) => [id, operation(id, definitions[id])]),
) as unknown as Operations;

/** An operation with other access than its row's: `GET /metrics` is public with METRICS_PUBLIC=true. */
export function withAccess<Id extends OperationId>(id: Id, access: Access): Operations[Id] {
  return operation(id, definitions[id], access) as unknown as Operations[Id];
}
