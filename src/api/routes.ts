/**
 * The route table: every operation of the REST API, by operationId, with what is true of it apart from
 * its schemas. src/api/operations.ts joins each entry with its schemas; the server registers routes from
 * that join (src/routes/register.ts), the OpenAPI document is generated from it, and the SDK builds its
 * request paths from this table.
 *
 * Plain data that imports nothing but a type: the SDK's JavaScript reads it at run time and must stay
 * free of dependencies (dist/client imports only its own files and this one).
 *
 * - `access`: `public` needs nothing; `key` needs an `x-api-key`; `key-or-bearer` also takes the key as
 *   `Authorization: Bearer <key>` (what Prometheus sends).
 * - `scope`: the route group (auth/scopes.ts) a key needs; a key without it gets 403 `SCOPE_<GROUP>_REQUIRED`.
 * - `event`: the event name it sends, for keys limited to event-name patterns (403 `EVENT_FORBIDDEN`).
 * - `emit`: the route sends events: it counts against the rate limit (one budget per key across every
 *   emit route), in the emit metrics, takes an `Idempotency-Key`, and answers no HEAD (a HEAD must
 *   never send anything).
 * - `errors`: statuses the handler itself answers, beyond those every route of its kind can answer
 *   (see operations.ts: a body, a parameter, a key, an emit and a shutdown each bring their own).
 * - `sdk: false`: the SDK (general-socket/client) offers no method for it. Every other operation has an
 *   SDK method named after its operationId, which test/client.test.ts checks.
 */
import type { Scope } from '../auth/scopes.js';

export const ROUTES = {
  emitToUser: { method: 'POST', url: '/emit/:userId/:emitTo', access: 'key', scope: 'emit', event: '{emitTo}', emit: true, errors: [] },
  emitToUsers: { method: 'POST', url: '/emit/:emitTo', access: 'key', scope: 'emit', event: '{emitTo}', emit: true, errors: [] },
  // One call, many events: per-item results; each item counts against the rate limit. Static, so it
  // wins over `/emit/:emitTo` (an event named "batch" to several users goes as a batch item). Its
  // events are in its body: a key limited to event patterns cannot call it (see RouteEntry.event).
  emitBatch: { method: 'POST', url: '/emit/batch', access: 'key', scope: 'emit', eventsInBody: true, emit: true, errors: [] },
  // 404: the socket is not connected; 504: other nodes were asked but not all answered (maybe delivered).
  emitToScraper: { method: 'POST', url: '/lead-finder/:event', access: 'key', scope: 'lead-finder', event: '{event}', emit: true, errors: [404, 504] },
  // 404: no such document; 413: more to send than EMIT_MAX_BYTES or CONVERSATION_MAX_USERS allow; 422: a stored document that cannot be sent.
  emitMessage: {
    method: 'GET',
    url: '/conversations/:channel/emit/message/:messageID',
    access: 'key',
    scope: 'conversations',
    event: '{channel}_message',
    emit: true,
    errors: [404, 413, 422],
  },
  emitConversation: {
    method: 'GET',
    url: '/conversations/:channel/emit/conversation/:convoID/:isNew',
    access: 'key',
    scope: 'conversations',
    event: '{channel}_add_conversation',
    emit: true,
    errors: [404, 413, 422],
  },
  // 404: HISTORY_SIZE is 0, so no events are kept (HISTORY_DISABLED).
  history: { method: 'GET', url: '/users/:userId/events', access: 'key', scope: 'history', emit: false, errors: [404] },
  // Presence and disconnect (src/presence). The disconnects count as emits: they send a last event and act on sockets.
  userPresence: { method: 'GET', url: '/users/:userId/presence', access: 'key', scope: 'presence', emit: false, errors: [] },
  usersPresence: { method: 'POST', url: '/presence', access: 'key', scope: 'presence', emit: false, errors: [] },
  disconnectUser: { method: 'POST', url: '/users/:userId/disconnect', access: 'key', scope: 'presence', emit: true, errors: [] },
  // 404: the socket is not connected; 504: other nodes were asked but not all answered (maybe disconnected).
  disconnectScraper: { method: 'POST', url: '/lead-finder/:socketId/disconnect', access: 'key', scope: 'presence', emit: true, errors: [404, 504] },
  health: { method: 'GET', url: '/healthz', access: 'public', emit: false, errors: [] },
  readiness: { method: 'GET', url: '/readyz', access: 'public', emit: false, errors: [] },
  stats: { method: 'GET', url: '/stats', access: 'key', scope: 'metrics', emit: false, errors: [] },
  // For Prometheus, in its own text format: no service calls it.
  metrics: { method: 'GET', url: '/metrics', access: 'key-or-bearer', scope: 'metrics', emit: false, errors: [], sdk: false },
  // The web console's own route, refused in production.
  consoleToken: { method: 'POST', url: '/console/token', access: 'key', scope: 'console', emit: false, errors: [], sdk: false },
  // Token revocation (issue 14). 503: the revocation could not be stored, so nothing was revoked.
  revokeUserTokens: { method: 'POST', url: '/users/:userId/revoke-tokens', access: 'key', scope: 'tokens', emit: false, errors: [] },
  revokeToken: { method: 'POST', url: '/tokens/revoke', access: 'key', scope: 'tokens', emit: false, errors: [] },
} as const satisfies Record<string, RouteEntry>;

/** One row of the route table. */
export interface RouteEntry {
  readonly method: 'GET' | 'POST';
  /** Fastify's form: `:name` marks a path parameter. */
  readonly url: string;
  readonly access: 'public' | 'key' | 'key-or-bearer';
  /** The route group a key must hold to call it (every route but the public ones names one). */
  readonly scope?: Scope;
  /**
   * The name of the event it sends, `{param}` standing for a path parameter: what a key limited to
   * event-name patterns is checked against. An emit route without it cannot be called by such a key.
   */
  readonly event?: string;
  /** Instead of `event`: the body names the events, and the handler checks each against the key's patterns. */
  readonly eventsInBody?: true;
  readonly emit: boolean;
  readonly errors: readonly number[];
  readonly sdk?: false;
}

/** The name of an operation: its OpenAPI operationId, and its SDK method's name. */
export type OperationId = keyof typeof ROUTES;

/** The operations the SDK offers a method for. */
export type SdkOperationId = { [K in OperationId]: (typeof ROUTES)[K] extends { readonly sdk: false } ? never : K }[OperationId];

/** The names of the path parameters of a URL template: `'/a/:b/c/:d'` gives `'b' | 'd'`. */
export type PathParams<Url extends string> = Url extends `${string}:${infer Name}/${infer Rest}`
  ? Name | PathParams<`/${Rest}`>
  : Url extends `${string}:${infer Name}`
    ? Name
    : never;

/**
 * The path of an operation with its parameters filled in. Values must already be encoded as path
 * segments (the SDK encodes and checks them first).
 */
export function pathOf<Id extends OperationId>(id: Id, segments: Record<PathParams<(typeof ROUTES)[Id]['url']>, string>): string {
  return ROUTES[id].url.replace(/:(\w+)/g, (_, name: string) => (segments as Record<string, string>)[name]!);
}
