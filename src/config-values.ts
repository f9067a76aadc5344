/**
 * How an environment string becomes a checked value: the parsers config.ts declares its options
 * with. A parser throws an Error that names the variable and what it expects (never echoing a value that
 * may hold a password or a key). This module reads no environment: config.ts hands it the strings.
 */
import { createPublicKey } from 'node:crypto';
import { createIpAllowlist } from './auth/ip-allowlist.js';
import type { DeclaredKey } from './auth/keys.js';
import { MAX_EVENT_PATTERN_LENGTH, SCOPE_NAMES, type Scope } from './auth/scopes.js';

export type Parser<T> = (raw: string, name: string) => T;

export interface Option<T> {
  readonly env: string;
  readonly doc: string;
  /** What README shows as the default. */
  readonly shownDefault: string;
  readonly parse: (raw: string | undefined, name: string) => T;
}

/** Declares an option that falls back to `fallback` when its variable is unset or empty. */
export function option<T>(env: string, doc: string, parse: Parser<T>, fallback: T, shownDefault?: string): Option<T> {
  return {
    env,
    doc,
    shownDefault: shownDefault ?? (Array.isArray(fallback) ? fallback.join(',') : String(fallback)),
    parse: (raw, name) => (raw === undefined || raw.trim() === '' ? fallback : parse(raw.trim(), name)),
  };
}

export const integer =
  (min: number, max: number): Parser<number> =>
  (raw, name) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };

export const oneOf =
  <T extends string>(values: readonly T[]): Parser<T> =>
  (raw, name) => {
    if (!(values as readonly string[]).includes(raw)) {
      throw new Error(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
    }
    return raw as T;
  };

export const boolean: Parser<boolean> = (raw, name) => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
};

export const text: Parser<string> = (raw) => raw;

export const list: Parser<readonly string[]> = (raw) =>
  raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

/** Never echoes the value: it may carry a password. */
export const databaseUrl: Parser<string> = (raw, name) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be a postgres://user:password@host:port/database URL (the value is not shown: it may hold a password)`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`${name} must start with postgres:// or postgresql://, got ${url.protocol}//...; leave it unset for the embedded SQLite database`);
  }
  return raw;
};

export const nameList: Parser<readonly string[]> = (raw, name) => {
  const entries = list(raw, name);
  const bad = entries.find((entry) => !/^[A-Za-z0-9_-]{1,64}$/.test(entry));
  if (bad !== undefined) throw new Error(`${name} entry "${bad}" must be 1 to 64 letters, digits, _ or -`);
  if (entries.length === 0) throw new Error(`${name} must name at least one entry`);
  return entries;
};

export const ipList: Parser<readonly string[]> = (raw, name) => {
  const entries = list(raw, name);
  createIpAllowlist(entries); // throws naming the bad entry
  return entries;
};

/** Browsers send an origin as scheme://host[:port], nothing more: an entry with a path or a slash would never match. */
export const originList: Parser<readonly string[]> = (raw, name) => {
  const entries = list(raw, name);
  const bad = entries.find((entry) => {
    if (entry === '*') return false;
    try {
      return new URL(entry).origin !== entry;
    } catch {
      return true;
    }
  });
  if (bad !== undefined) throw new Error(`${name} entry "${bad}" is not an origin such as https://app.example.com (scheme, host and port only), nor *`);
  return entries;
};

/** Fastify's `trustProxy`: a boolean, or the proxies' addresses (validated like ALLOWED_IPS). */
export const proxyTrust: Parser<boolean | string> = (raw, name) =>
  /^(1|true|yes|on|0|false|no|off)$/i.test(raw) ? boolean(raw, name) : ipList(raw, name).join(',');

/** PEM keys often arrive through env files with their newlines escaped. */
export const publicKey: Parser<string> = (raw, name) => {
  const pem = raw.replace(/\\n/g, '\n');
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error(`EC curve ${key.asymmetricKeyDetails?.namedCurve} is not P-256, the curve of ES256`);
    }
    if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') {
      throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
    }
  } catch (error) {
    throw new Error(`${name} must be an RSA (RS256) or P-256 EC (ES256) public key in PEM form (${(error as Error).message})`);
  }
  return pem;
};

/** A Redis URL; the message never echoes the value, which may carry a password. */
export const redisUrl: Parser<string> = (raw, name) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be a URL such as redis://host:6379 (the value is not shown: it may hold a password)`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`${name} must start with redis:// or rediss://, got ${url.protocol}//`);
  return raw;
};

/** `*` (every field), or the names of the fields that may be sent. */
export const fieldList: Parser<'*' | readonly string[]> = (raw, name) => (raw === '*' ? '*' : nameList(raw, name));

/** An http(s) base URL, kept without a trailing slash (a path prefix behind a proxy is kept). */
export const publicUrl: Parser<string> = (raw, name) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be an http:// or https:// URL such as https://socket.example.com, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must start with http:// or https://, got "${raw}"`);
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new Error(`${name} must be a base URL without query, fragment or credentials, got "${raw}"`);
  }
  return url.href.replace(/\/+$/, '');
};

/** A Socket.IO namespace name; the users' and the admin UI's are taken. */
export const namespaceName: Parser<string> = (raw, name) => {
  if (!/^\/[A-Za-z0-9_./-]{0,100}$/.test(raw))
    throw new Error(`${name} must be a namespace such as /v1/lead-finder or /: a "/" and up to 100 letters, digits, _ . / or -, got "${raw}"`);
  if (['/v1/shared', '/admin', '/general-socket-control'].includes(raw)) throw new Error(`${name} cannot be ${raw}: that namespace is taken`);
  return raw;
};

/** Webhook endpoints: http(s) URLs without credentials (a secret in a URL would reach logs). */
export const webhookUrlList: Parser<readonly string[]> = (raw, name) => {
  const entries = list(raw, name);
  for (const entry of entries) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`${name} entry "${entry}" is not a URL such as https://backend.example.com/hooks/general-socket`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} entry "${entry}" must start with http:// or https://`);
    if (url.username !== '' || url.password !== '') throw new Error(`${name} entries must not carry credentials: the signature authenticates the gateway`);
  }
  if (entries.length > 20) throw new Error(`${name} names ${entries.length} URLs; at most 20 are allowed`);
  return entries;
};

/** `auto` (or 0) means one worker per core. */
export const workerCount: Parser<number> = (raw, name) => (raw.toLowerCase() === 'auto' ? 0 : integer(0, 256)(raw, name));

/* Token lifecycle and scoped API keys (issue 14). */

const KEY_FIELDS = new Set(['id', 'key', 'scopes', 'events', 'rateLimit']);

/** One entry of `API_KEYS`; messages name the entry by index and id, never its key. */
function declaredKey(entry: unknown, where: string): DeclaredKey {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new Error(`${where} must be an object { id, key, scopes, events?, rateLimit? }`);
  const fields = entry as Record<string, unknown>;
  const unknown = Object.keys(fields).find((field) => !KEY_FIELDS.has(field));
  if (unknown !== undefined) throw new Error(`${where} has an unknown field "${unknown.slice(0, 40)}" (known: ${[...KEY_FIELDS].join(', ')})`);
  const { id, key, scopes, events, rateLimit } = fields;
  if (typeof id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(id))
    throw new Error(`${where}.id must be 1 to 64 letters, digits, _ . or - (it names the key in logs and metrics)`);
  const named = `${where} ("${id}")`;
  if (typeof key !== 'string' || key.trim() === '' || key !== key.trim() || key.length > 1024)
    throw new Error(`${named}.key must be a string of 1 to 1024 characters without surrounding spaces (the value is not shown)`);
  if (!Array.isArray(scopes) || scopes.length === 0) throw new Error(`${named}.scopes must be a non-empty array of ${SCOPE_NAMES.join(', ')}, or ["*"]`);
  const bad = scopes.find((scope) => scope !== '*' && !(SCOPE_NAMES as unknown[]).includes(scope));
  if (bad !== undefined) throw new Error(`${named}.scopes: ${JSON.stringify(bad).slice(0, 60)} is not a scope (${SCOPE_NAMES.join(', ')}, or "*" for all)`);
  const declared: { -readonly [K in keyof DeclaredKey]: DeclaredKey[K] } = { id, key, scopes: scopes.includes('*') ? 'all' : new Set(scopes as Scope[]) };
  if (events !== undefined) {
    const ok = (pattern: unknown): boolean =>
      typeof pattern === 'string' && pattern !== '' && pattern.length <= MAX_EVENT_PATTERN_LENGTH && !/\p{Cc}/u.test(pattern);
    if (!Array.isArray(events) || events.length === 0 || events.length > 100 || !events.every(ok))
      throw new Error(
        `${named}.events must be 1 to 100 event-name patterns of 1 to ${MAX_EVENT_PATTERN_LENGTH} characters (\`*\` matches any characters), such as ["notification*"]`,
      );
    declared.events = events as string[];
  }
  if (rateLimit !== undefined) {
    const { max, windowMs, ...rest } = (typeof rateLimit === 'object' && rateLimit !== null ? rateLimit : { max: undefined }) as Record<string, unknown>;
    const whole = (value: unknown, min: number, top: number): value is number =>
      Number.isInteger(value) && (value as number) >= min && (value as number) <= top;
    if (!whole(max, 1, 10_000_000) || !whole(windowMs, 1000, 24 * 3600 * 1000) || Object.keys(rest).length > 0)
      throw new Error(`${named}.rateLimit must be { "max": 1 to 10000000 emits, "windowMs": 1000 to 86400000 } and nothing else`);
    declared.rateLimit = { max, windowMs };
  }
  return declared;
}

/** `API_KEYS`: a JSON array of declared keys; the message never echoes the value, which holds keys. */
export const apiKeyList: Parser<readonly DeclaredKey[]> = (raw, name) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${name} must be a JSON array such as [{"id":"notifier","key":"...","scopes":["emit"]}] (the value is not shown: it holds keys)`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > 1000) throw new Error(`${name} must be a JSON array of 1 to 1000 keys`);
  const keys = parsed.map((entry, index) => declaredKey(entry, `${name}[${index}]`));
  const ids = new Set<string>();
  const secrets = new Set<string>();
  for (const { id, key } of keys) {
    if (ids.has(id)) throw new Error(`${name}: two keys have the id "${id}"; ids name keys in logs and metrics`);
    if (secrets.has(key)) throw new Error(`${name}: key "${id}" has the same key as another entry`);
    ids.add(id);
    secrets.add(key);
  }
  return keys;
};

/** A JWKS location: https://, or http:// for an issuer on the same host or network. */
export const jwksUrl: Parser<string> = (raw, name) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be a URL such as https://issuer.example.com/.well-known/jwks.json, got "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${name} must start with https:// (or http://), got "${raw}"`);
  return url.href;
};
