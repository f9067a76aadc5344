/**
 * Idempotent emits: an emit sent with an `Idempotency-Key` header runs once per API key and key
 * within IDEMPOTENCY_TTL_SECONDS; its repeats answer what it answered, marked `Idempotent-Replayed:
 * true`, and deliver nothing. Hooks of the emit routes (routes/register.ts):
 *
 * - preHandler, once the request is validated: claims the key in the store (idempotency/), or
 *   replays the stored answer, or refuses a key used for another request (422), or waits for the
 *   request that holds it and answers what it answered (409 once waiting longer is not allowed).
 * - onSend, with the answer in hand: stores it when it is final (2xx, and the caller's own 4xx), or
 *   releases the key when a retry may succeed (429, 5xx), so that the retry can deliver.
 *
 * A call with a key is never delivered without the store's guarantee: a store that cannot be reached
 * is a 503 before anything is sent. Calls without the header skip all of this.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyRequest, onSendHookHandler, preHandlerHookHandler } from 'fastify';
import { fail } from '../errors.js';
import type { Claim, IdempotencyStore } from '../idempotency/store.js';

/** The request header that carries the caller's key. */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** The response header that marks a replayed answer. */
export const REPLAYED_HEADER = 'idempotent-replayed';

/**
 * How long a claim lasts unless renewed: the request renews it while it runs, so this only bounds how
 * long the keys of a node that crashed mid-request stay held.
 */
const LEASE_MS = 10_000;

/** A key this request holds. */
interface HeldKey {
  readonly key: string;
  readonly token: string;
  readonly fingerprint: string;
  readonly renewal: NodeJS.Timeout;
  settled: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The idempotency key this request claimed, until its answer is stored or the key released. */
    idempotency?: HeldKey;
  }
}

/** What the hooks are built from. */
export interface IdempotencyOptions {
  readonly store: IdempotencyStore;
  /** How long an answer is kept (IDEMPOTENCY_TTL_SECONDS). */
  readonly ttlMs: number;
  /** How long a repeat waits for the request that holds its key (REQUEST_TIMEOUT_MS). */
  readonly waitMs: number;
  /** How long a claim lasts unless renewed (tests shorten it). */
  readonly leaseMs?: number;
}

/** The hooks every emit route gets. */
export interface IdempotencyHooks {
  readonly preHandler: preHandlerHookHandler;
  readonly onSend: onSendHookHandler;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * What identifies a request: its method, route, parameters and body. The body's parsed form is
 * hashed, so the same JSON sent with other spacing is the same request.
 */
export function fingerprintOf(request: FastifyRequest): string {
  const body = request.body === undefined ? '' : JSON.stringify(request.body);
  return sha256(`${request.method} ${request.routeOptions.url}\n${JSON.stringify(request.params ?? {})}\n${sha256(body)}`);
}

/** The stored key: the caller's key scoped to the API key's non-secret id (never the key itself). */
const scopedKey = (apiKeyId: string | undefined, key: string): string => sha256(`${apiKeyId ?? ''}\n${key}`);

/** Answers the final ones; a 429, a 409 or a 5xx is worth retrying, so its key is released. */
const isFinal = (status: number): boolean => status < 500 && status !== 429 && status !== 409;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Builds the hooks over a store. */
export function idempotencyHooks({ store, ttlMs, waitMs, leaseMs = LEASE_MS }: IdempotencyOptions): IdempotencyHooks {
  const claim = async (request: FastifyRequest, key: string, token: string, fingerprint: string): Promise<Claim> => {
    try {
      return await store.claim(key, token, fingerprint, leaseMs);
    } catch (error) {
      request.log.warn({ err: error, store: store.description }, 'idempotency store unavailable');
      throw fail(
        'SERVICE_UNAVAILABLE',
        `The idempotency store (${store.description}) cannot be reached, so the Idempotency-Key cannot be honoured; nothing was sent, retry with the same key`,
        { 'retry-after': '1' },
      );
    }
  };

  const preHandler: preHandlerHookHandler = async (request, reply) => {
    const header = request.headers[IDEMPOTENCY_HEADER];
    // The route schema has checked its form (1 to 255 printable ASCII characters).
    if (typeof header !== 'string') return;
    const key = scopedKey(request.apiKeyId, header);
    const fingerprint = fingerprintOf(request);
    const token = randomBytes(16).toString('hex');
    const deadline = Date.now() + waitMs;
    for (let pause = 20; ; pause = Math.min(pause * 2, 200)) {
      const found = await claim(request, key, token, fingerprint);
      if (found.kind === 'claimed') {
        const renewal = setInterval(() => {
          store.renew(key, token, leaseMs).then(
            (held) => {
              if (!held) request.log.warn('an idempotency claim expired while its request ran');
            },
            () => undefined,
          );
        }, leaseMs / 3);
        renewal.unref();
        request.idempotency = { key, token, fingerprint, renewal, settled: false };
        return;
      }
      const other = found.kind === 'done' ? found.answer.fingerprint : found.fingerprint;
      if (other !== fingerprint) {
        throw fail(
          'IDEMPOTENCY_KEY_REUSED',
          `Idempotency-Key "${header}" was used with this API key for another request (another route, parameters or body); nothing was sent. Use a new key for a new request`,
        );
      }
      if (found.kind === 'done') {
        return reply.code(found.answer.status).header(REPLAYED_HEADER, 'true').type('application/json; charset=utf-8').send(found.answer.body);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw fail(
          'IDEMPOTENCY_KEY_IN_USE',
          `A request with Idempotency-Key "${header}" is still running after ${waitMs} ms (REQUEST_TIMEOUT_MS); nothing was sent by this one. Retry with the same key to get its answer`,
        );
      }
      await sleep(Math.min(pause, left));
    }
  };

  const onSend: onSendHookHandler = async (request, reply, payload) => {
    const held = request.idempotency;
    if (held === undefined || held.settled) return payload;
    held.settled = true;
    clearInterval(held.renewal);
    const { key, token, fingerprint } = held;
    const status = reply.statusCode;
    try {
      if (isFinal(status) && typeof payload === 'string') {
        const stored = await store.complete(key, token, { fingerprint, status, body: payload }, ttlMs);
        if (!stored) request.log.warn('an idempotency claim expired before its answer was stored; a repeat may deliver again');
      } else {
        await store.release(key, token);
      }
    } catch (error) {
      // Sent is sent: the answer goes out; the key stays held until its lease ends.
      request.log.error(
        { err: error, store: store.description },
        'the idempotency store could not record an answer; a repeat after the lease may deliver again',
      );
    }
    return payload;
  };

  return { preHandler, onSend };
}
