/**
 * What an API key may do: the route groups (scopes) of the REST API, the event names it may send, and
 * its own rate limit. `INTERNAL_API_KEY` keys may do everything; keys declared in `API_KEYS` only what
 * their declaration names. The route table (api/routes.ts) gives each route its scope.
 */

import type { ErrorCode } from '../errors.js';

/** The route groups a key can be granted, with what each lets it do; each route's row in api/routes.ts names its group. */
export const SCOPES = {
  emit: 'Send events to users.',
  'lead-finder': 'Send events to lead-finder scraper sockets.',
  conversations: 'Send stored conversations and messages to their users.',
  presence: "See who is online, and disconnect a user's sockets.",
  history: "Read a user's past events.",
  tokens: "Revoke users' tokens.",
  metrics: 'Read the figures and the Prometheus metrics.',
  console: "Use the web console's own route.",
} as const;

/** The name of a route group. */
export type Scope = keyof typeof SCOPES;

/** The 403 code of a key that lacks a scope (complete: the compiler checks every scope has one). */
export const SCOPE_CODES = {
  emit: 'SCOPE_EMIT_REQUIRED',
  'lead-finder': 'SCOPE_LEAD_FINDER_REQUIRED',
  conversations: 'SCOPE_CONVERSATIONS_REQUIRED',
  presence: 'SCOPE_PRESENCE_REQUIRED',
  history: 'SCOPE_HISTORY_REQUIRED',
  tokens: 'SCOPE_TOKENS_REQUIRED',
  metrics: 'SCOPE_METRICS_REQUIRED',
  console: 'SCOPE_CONSOLE_REQUIRED',
} as const satisfies Record<Scope, ErrorCode>;

/** Every scope name, in the order documented. */
export const SCOPE_NAMES = Object.keys(SCOPES) as Scope[];

/** A key's own rate limit on emits, instead of `RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW_MS`. */
export interface KeyRateLimit {
  readonly max: number;
  readonly windowMs: number;
}

/** What one key may do; never holds the key itself. */
export interface Grant {
  /** Non-secret id, for logs, metrics and rate-limit buckets. */
  readonly id: string;
  /** The scopes it holds, or `all` (an `INTERNAL_API_KEY`). */
  readonly scopes: ReadonlySet<Scope> | 'all';
  /** Event-name patterns it may send (`*` matches any run of characters); undefined allows every event. */
  readonly events?: readonly string[];
  readonly rateLimit?: KeyRateLimit;
  /** Whether it may send `event` (compiled from `events`); undefined allows every event. */
  readonly allowsEvent?: (event: string) => boolean;
}

/** Whether `grant` holds `scope`. */
export function holds(grant: Grant, scope: Scope): boolean {
  return grant.scopes === 'all' || grant.scopes.has(scope);
}

/** Longest event-name pattern; event names are at most 100 characters. */
export const MAX_EVENT_PATTERN_LENGTH = 100;

/** Compiles event-name patterns into one test: `*` matches any run of characters, all else itself. */
export function eventMatcher(patterns: readonly string[]): (event: string) => boolean {
  const alternatives = patterns.map((pattern) => pattern.split('*').map(escapeRegExp).join('.*'));
  const regex = new RegExp(`^(?:${alternatives.join('|')})$`, 'su');
  return (event) => regex.test(event);
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
