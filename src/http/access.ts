/** Who may call the REST API: the `ALLOWED_IPS` allowlist (403), then an `x-api-key` (401). */
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import type { KeySet } from '../auth/keys.js';
import type { IpAllowlist } from '../auth/ip-allowlist.js';
import { fail } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Non-secret id of the API key the caller presented (set once access is granted). */
    apiKeyId?: string;
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
 * call, and an async hook costs a promise and a microtask more for work that never waits.
 */
export function accessHook(keys: KeySet, allowed: IpAllowlist): onRequestHookHandler {
  return (request, _reply, done) => {
    if (!allowed(request.ip)) return done(fail('FORBIDDEN', `Address ${request.ip} is not in ALLOWED_IPS`));
    const presented = request.headers['x-api-key'];
    const keyId = keys.match(presented);
    if (keyId === undefined) {
      return done(fail('UNAUTHORIZED', presented === undefined || presented === '' ? 'Missing x-api-key header' : 'Invalid API key in x-api-key header'));
    }
    request.apiKeyId = keyId;
    done();
  };
}

/**
 * Whether a caller passes the hook's rule (an allowed address and a valid key), for public routes
 * that show more to such callers (the probes' details): one rule, so /readyz cannot tell an outside
 * address what /stats refuses it.
 */
export function accessGranted(keys: KeySet, allowed: IpAllowlist): (request: FastifyRequest) => boolean {
  return (request) => allowed(request.ip) && keys.match(request.headers['x-api-key']) !== undefined;
}
