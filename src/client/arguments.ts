/**
 * What callers pass to the client, checked and encoded before anything is sent: a bad argument is a
 * GeneralSocketError with code INVALID_ARGUMENT naming it, thrown before any request.
 */
import { invalidArgument } from './errors.js';
import type { EmitOptions } from './transport.js';
import type { DisconnectNotice, HistoryOptions, IsNew, UserIds } from './types.js';

/** The caller's Idempotency-Key, checked, or a new one. */
export function idempotencyKeyOf(options: EmitOptions | undefined): string {
  const given = options?.idempotencyKey;
  if (given === undefined) return newKey();
  if (typeof given !== 'string' || !/^[\x20-\x7E]{1,255}$/.test(given)) {
    throw invalidArgument(`idempotencyKey must be 1 to 255 printable ASCII characters, such as a UUID, got ${JSON.stringify(given)}`);
  }
  return given;
}

/** A random UUID; runtimes without `crypto.randomUUID` get 128 random bits from `getRandomValues`. */
function newKey(): string {
  const webCrypto = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (array: Uint8Array) => Uint8Array } }).crypto;
  if (typeof webCrypto?.randomUUID === 'function') return webCrypto.randomUUID();
  if (typeof webCrypto?.getRandomValues === 'function') {
    return Array.from(webCrypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('');
  }
  throw invalidArgument('No crypto.randomUUID in this runtime to make an idempotency key: pass your own as the idempotencyKey option');
}

export function text(name: string, value: unknown): string {
  if (typeof value === 'string' && value !== '') return value;
  const got =
    value === '' ? 'an empty string' : value === null ? 'null' : typeof value === 'object' ? 'an object (convert a document id with String(id))' : typeof value;
  throw invalidArgument(`${name} must be a non-empty string, got ${got}`);
}

/** One encoded path segment. "." and ".." would be resolved away by URL parsing, even encoded. */
export function segment(name: string, value: unknown): string {
  const raw = text(name, value);
  if (raw === '.' || raw === '..') throw invalidArgument(`${name} cannot be "${raw}": URLs resolve it as a relative path`);
  return encodeURIComponent(raw);
}

export function userIdList(userIds: UserIds): string | string[] {
  if (typeof userIds === 'string') return text('userIds', userIds);
  if (!Array.isArray(userIds) || userIds.length === 0) throw invalidArgument('userIds must be a user id or a non-empty array of user ids');
  return userIds.map((id, index) => text(`userIds[${index}]`, id));
}

/** `?since=&limit=` of a history call, checked before anything is sent. */
export function historyQuery(options: HistoryOptions): string {
  if (typeof options !== 'object' || options === null) throw invalidArgument('history options must be an object such as { since, limit }');
  const query = new URLSearchParams();
  if (options.since !== undefined) query.set('since', text('since', options.since));
  // 1000 is api/history.ts's MAX_HISTORY_LIMIT, whose module (typebox) the SDK's JavaScript must not load.
  if (options.limit !== undefined) {
    if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > 1000)
      throw invalidArgument(`limit must be a whole number from 1 to 1000, got ${String(options.limit)}`);
    query.set('limit', String(options.limit));
  }
  const encoded = query.toString();
  return encoded === '' ? '' : `?${encoded}`;
}

/** The body of a disconnect: `{}` without a notice. */
export function noticeBody(notice: DisconnectNotice | undefined): DisconnectNotice {
  if (notice === undefined || notice === null) return {};
  if (typeof notice !== 'object' || Array.isArray(notice)) throw invalidArgument('notice must be { event, data } or undefined');
  if (notice.event === undefined) {
    if (notice.data !== undefined) throw invalidArgument('notice.data is sent as the payload of notice.event: give notice.event too');
    return {};
  }
  return { event: text('notice.event', notice.event), ...(notice.data !== undefined && { data: notice.data }) };
}

export function newness(isNew: IsNew): 'new' | 'existing' {
  if (isNew === true || isNew === 'new') return 'new';
  if (isNew === false || isNew === 'existing') return 'existing';
  throw invalidArgument(`isNew must be "new", "existing" or a boolean, got ${JSON.stringify(isNew)}`);
}

/** JSON text of a payload; `undefined` becomes `null`, the one JSON value for "nothing". */
export function json(name: string, value: unknown): string {
  let serialized: string | undefined;
  try {
    serialized = JSON.stringify(value ?? null);
  } catch (error) {
    throw invalidArgument(`${name} cannot be sent as JSON: ${(error as Error).message}`);
  }
  if (serialized === undefined) throw invalidArgument(`${name} cannot be sent as JSON (a function or a symbol)`);
  return serialized;
}
