/**
 * One REST call over the global `fetch`: a timeout per attempt, the caller's abort signal, retries
 * (see retry.ts), and every failure turned into a GeneralSocketError.
 */
import { GeneralSocketError } from './errors.js';
import { RETRYABLE_STATUSES, backoffDelay, sleep, type RetryPolicy } from './retry.js';

/** How a client reaches its gateway. */
export interface Transport {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly fetch: typeof globalThis.fetch;
  readonly headers: Readonly<Record<string, string>>;
}

/** Options every client method accepts as its last argument. */
export interface CallOptions {
  /** Aborts the call (and its retries); it then fails with code `ABORTED`. */
  readonly signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for this call. */
  readonly timeoutMs?: number;
}

/** Options of the emit methods. */
export interface EmitOptions extends CallOptions {
  /**
   * The call's `Idempotency-Key` (1 to 255 printable ASCII characters). By default each call gets a
   * new one, which its retries reuse; pass your own to repeat a call safely later (after a `TIMEOUT`,
   * `error.idempotencyKey` is the key to pass).
   */
  readonly idempotencyKey?: string;
}

/** A request as the methods describe it. */
export interface Call {
  readonly method: 'GET' | 'POST';
  /** Path below the base URL, already encoded. */
  readonly path: string;
  /** JSON text of the body, when there is one. */
  readonly body?: string;
  /** Statuses whose body is the answer (default 200 only); /readyz answers 503 with a body too. */
  readonly answers?: readonly number[];
  /** Whether this call may be retried at all (default true). */
  readonly retryable?: boolean;
  /** Sent as `Idempotency-Key` with every attempt, so that a retry never delivers twice. */
  readonly idempotencyKey?: string;
}

/** Sends a call, retrying as the policy allows, and resolves with the parsed body of the answer. */
export async function send<T>(transport: Transport, call: Call, options: CallOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? transport.timeoutMs;
  const retries = call.retryable === false ? 0 : transport.retry.retries;
  for (let attempt = 1; ; attempt++) {
    const outcome = await attemptOnce(transport, call, timeoutMs, options.signal, attempt);
    if (outcome.ok) return outcome.body as T;
    const { error, retryable } = outcome;
    if (!retryable || attempt > retries || options.signal?.aborted) throw error;
    const delayMs = backoffDelay(transport.retry, attempt, error.retryAfterSeconds);
    transport.retry.onRetry?.({ attempt, delayMs, status: error.status, reason: error.message });
    try {
      await sleep(delayMs, options.signal);
    } catch (reason) {
      throw aborted(transport, call, attempt, reason);
    }
  }
}

type Outcome = { ok: true; body: unknown } | { ok: false; error: GeneralSocketError; retryable: boolean };

async function attemptOnce(transport: Transport, call: Call, timeoutMs: number, signal: AbortSignal | undefined, attempt: number): Promise<Outcome> {
  if (signal?.aborted) return { ok: false, error: aborted(transport, call, attempt - 1, signal.reason), retryable: false };
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const headers: Record<string, string> = { accept: 'application/json', ...transport.headers };
  if (transport.apiKey !== undefined) headers['x-api-key'] = transport.apiKey;
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  if (call.idempotencyKey !== undefined) headers['idempotency-key'] = call.idempotencyKey;
  const key = call.idempotencyKey === undefined ? {} : { idempotencyKey: call.idempotencyKey };
  try {
    // The timer runs until the body is read: a gateway that sends headers and stalls is a timeout too.
    const response = await transport.fetch(transport.baseUrl + call.path, {
      method: call.method,
      headers,
      ...(call.body !== undefined && { body: call.body }),
      signal: controller.signal,
    });
    const text = await response.text();
    return interpret(response, text, call, attempt);
  } catch (error) {
    if (timedOut) {
      const message =
        call.idempotencyKey === undefined
          ? `No answer from ${transport.baseUrl} within ${timeoutMs} ms (${call.method} ${call.path}); the gateway may still have handled the call`
          : `No answer from ${transport.baseUrl} within ${timeoutMs} ms (${call.method} ${call.path}); the gateway may still have handled the call: repeat it with the same idempotencyKey to learn its answer without delivering twice`;
      return { ok: false, error: new GeneralSocketError({ code: 'TIMEOUT', message, attempts: attempt, cause: error, ...key }), retryable: false };
    }
    if (signal?.aborted) return { ok: false, error: aborted(transport, call, attempt, signal.reason), retryable: false };
    const message = `Cannot reach ${transport.baseUrl}: ${networkReason(error)}`;
    return { ok: false, error: new GeneralSocketError({ code: 'NETWORK_ERROR', message, attempts: attempt, cause: error, ...key }), retryable: true };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

function interpret(response: Response, text: string, call: Call, attempt: number): Outcome {
  const body = parseJson(text);
  // A body in the gateway's error shape is never an answer, even with a status that can carry one
  // (/readyz answers 503 with its checks, but 503 SERVICE_UNAVAILABLE while the gateway shuts down).
  const refused = (body as { success?: unknown } | undefined)?.success === false;
  if ((call.answers ?? [200]).includes(response.status) && !refused) {
    if (body === undefined) {
      const message = `${call.method} ${call.path} answered ${response.status} with a body that is not JSON: ${excerpt(text)}`;
      return { ok: false, error: new GeneralSocketError({ code: 'INVALID_RESPONSE', message, status: response.status, attempts: attempt }), retryable: false };
    }
    return { ok: true, body };
  }
  const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'));
  const shaped = body as { message?: unknown; code?: unknown; errno?: unknown } | undefined;
  const fromGateway = typeof shaped?.message === 'string' && typeof shaped.code === 'string';
  const error = new GeneralSocketError({
    code: fromGateway ? (shaped.code as string) : 'HTTP_ERROR',
    message: fromGateway ? (shaped.message as string) : `HTTP ${response.status} ${response.statusText} from ${call.method} ${call.path}: ${excerpt(text)}`,
    status: response.status,
    errno: typeof shaped?.errno === 'number' ? shaped.errno : response.status,
    attempts: attempt,
    ...(retryAfterSeconds !== undefined && { retryAfterSeconds }),
    ...(call.idempotencyKey !== undefined && { idempotencyKey: call.idempotencyKey }),
  });
  // The gateway's DELIVERY_UNCONFIRMED (504) means the event may have been delivered: no blind retry.
  // IDEMPOTENCY_KEY_IN_USE (409): an earlier attempt still runs; the retry gets its answer.
  const retryable =
    (RETRYABLE_STATUSES.includes(response.status) && error.code !== 'DELIVERY_UNCONFIRMED') ||
    (error.code === 'IDEMPOTENCY_KEY_IN_USE' && call.idempotencyKey !== undefined);
  return { ok: false, error, retryable };
}

function aborted(transport: Transport, call: Call, attempts: number, reason: unknown): GeneralSocketError {
  const why = reason instanceof Error ? `: ${reason.message}` : '';
  return new GeneralSocketError({
    code: 'ABORTED',
    message: `The call to ${transport.baseUrl} was aborted${why}`,
    attempts,
    cause: reason,
    ...(call.idempotencyKey !== undefined && { idempotencyKey: call.idempotencyKey }),
  });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** fetch says "fetch failed"; the useful part ("connect ECONNREFUSED 127.0.0.1:4000") is in its cause. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.message === 'string' && cause.message !== '') return cause.message;
  if (typeof cause?.code === 'string') return cause.code;
  return error instanceof Error ? error.message : String(error);
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
