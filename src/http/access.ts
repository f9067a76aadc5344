/**
 * Who may call the REST API: the `ALLOWED_IPS` allowlist (403), then an `x-api-key` (401), then what
 * that key may do: the route's scope and the event it sends (403, with a code naming what is missing).
 */
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import type { KeySet } from '../auth/keys.js';
import type { IpAllowlist } from '../auth/ip-allowlist.js';
import { SCOPE_CODES, holds, type Grant, type Scope } from '../auth/scopes.js';
import { fail } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Non-secret id of the API key the caller presented (set once access is granted). */
    apiKeyId?: string;
    /** What that key may do (set once access is granted). */
    apiKey?: Grant;
  }
  interface FastifyContextConfig {
    /** The route table's `scope`: the route group a key needs. */
    scope?: Scope;
    /** The route table's `event`: the name of the event the route sends, `{param}` for a path parameter. */
    event?: string;
    /** The route table's `eventsInBody`: the handler checks each event its body names (assertEventAllowed). */
    eventsInBody?: boolean;
  }
}

/** Query parameter names (lower case, without `-` and `_`) under which callers paste keys and tokens. */
const CREDENTIAL_NAMES = new Set([
  'key',
  'apikey',
  'xapikey',
  'apitoken',
  'token',
  'accesstoken',
  'authtoken',
  'jwt',
  'auth',
  'authorization',
  'bearer',
  'secret',
  'password',
]);

/**
 * The onRequest hook, on every route, that refuses a key or token in the query string: URLs end up
 * in logs, proxies and browser history, so a key sent there is as good as published.
 */
export const refuseCredentialsInQuery: onRequestHookHandler = (request, _reply, done) => {
  const query = request.query as Record<string, unknown>;
  for (const name in query) {
    if (CREDENTIAL_NAMES.has(name.toLowerCase().replace(/[-_]/g, ''))) {
      return done(
        fail(
          'VALIDATION_ERROR',
          `query.${name}: keys and tokens are refused in the query string, where logs and proxies keep them; send the API key in the x-api-key header`,
        ),
      );
    }
  }
  done();
};

/**
 * The onRequest hook that guards every REST route but the probes. Callback style: it runs on every
 * call, and an async hook costs a promise and a microtask more for work that never waits. It runs
 * before the rate limiter, so a refused call spends none of the key's budget.
 */
export function accessHook(keys: KeySet, allowed: IpAllowlist): onRequestHookHandler {
  return (request, _reply, done) => {
    if (!allowed(request.ip)) return done(fail('FORBIDDEN', `Address ${request.ip} is not in ALLOWED_IPS`));
    const presented = request.headers['x-api-key'];
    const grant = keys.grant(presented);
    if (grant === undefined) {
      return done(fail('UNAUTHORIZED', presented === undefined || presented === '' ? 'Missing x-api-key header' : 'Invalid API key in x-api-key header'));
    }
    request.apiKeyId = grant.id;
    request.apiKey = grant;
    const { scope, event, emit, eventsInBody } = request.routeOptions.config;
    if (scope !== undefined && !holds(grant, scope)) {
      return done(fail(SCOPE_CODES[scope], `API key "${grant.id}" lacks the scope "${scope}" that ${request.method} ${request.routeOptions.url} needs`));
    }
    // A route whose row names no scope yet is closed to scoped keys rather than open to all of them.
    if (scope === undefined && grant.scopes !== 'all') {
      return done(fail('FORBIDDEN', `${request.method} ${request.routeOptions.url} belongs to no scope yet: only keys with every scope may call it`));
    }
    if (grant.allowsEvent !== undefined && emit === true && eventsInBody !== true) {
      if (event === undefined) {
        return done(
          fail('EVENT_FORBIDDEN', `API key "${grant.id}" may send only events matching ${patterns(grant)}, and this route's events cannot be checked first`),
        );
      }
      const name = eventName(event, request.params as Record<string, string>);
      if (!grant.allowsEvent(name))
        return done(fail('EVENT_FORBIDDEN', `API key "${grant.id}" may send only events matching ${patterns(grant)}, not "${name.slice(0, 100)}"`));
    }
    done();
  };
}

/**
 * For a handler that sends events its body names (which the route table cannot): refuses with 403
 * `EVENT_FORBIDDEN` an event the caller's key may not send.
 */
export function assertEventAllowed(request: FastifyRequest, event: string): void {
  const grant = request.apiKey;
  if (grant?.allowsEvent !== undefined && !grant.allowsEvent(event)) {
    throw fail('EVENT_FORBIDDEN', `API key "${grant.id}" may send only events matching ${patterns(grant)}, not "${event.slice(0, 100)}"`);
  }
}

const patterns = (grant: Grant): string => (grant.events ?? []).map((pattern) => JSON.stringify(pattern)).join(', ');

/** The event a route sends: its row's template with path parameters filled in. */
function eventName(template: string, params: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? '');
}

/**
 * Whether a caller passes the hook's rule (an allowed address and a valid key), for public routes
 * that show more to such callers (the probes' details): one rule, so /readyz cannot tell an outside
 * address what /stats refuses it.
 */
export function accessGranted(keys: KeySet, allowed: IpAllowlist): (request: FastifyRequest) => boolean {
  return (request) => allowed(request.ip) && keys.match(request.headers['x-api-key']) !== undefined;
}
