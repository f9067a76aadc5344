/**
 * The SDK's one error class. A gateway refusal keeps the gateway's `code`, `errno` and `message`;
 * failures without a gateway answer get a client-side code and `status` 0.
 */
import type { ErrorCode } from '../errors.js';

/** Failures the SDK reports itself, because no gateway answer explains them. */
export type ClientErrorCode =
  /** The gateway could not be reached (refused, reset, DNS), even after the retries. */
  | 'NETWORK_ERROR'
  /** No complete answer within `timeoutMs`. */
  | 'TIMEOUT'
  /** The caller's `signal` aborted the call. */
  | 'ABORTED'
  /** An argument cannot be sent (empty id, payload that is not JSON); nothing was sent. */
  | 'INVALID_ARGUMENT'
  /** An HTTP error that is not in the gateway's shape, such as a proxy's 502 page. */
  | 'HTTP_ERROR'
  /** A success status whose body is not what the gateway sends. */
  | 'INVALID_RESPONSE';

/** What `GeneralSocketError.code` can be: the gateway's codes, the SDK's own, or a newer gateway's. */
export type GeneralSocketErrorCode = ErrorCode | ClientErrorCode | (string & {});

/** Details of a failed call. */
export interface GeneralSocketErrorInit {
  readonly code: GeneralSocketErrorCode;
  readonly message: string;
  /** HTTP status of the answer; 0 when there was none. */
  readonly status?: number;
  /** The body's `errno` (the gateway sets it to the HTTP status); 0 when there was no answer. */
  readonly errno?: number;
  /** Attempts made, retries included. */
  readonly attempts?: number;
  /** Seconds the gateway asked to wait (`Retry-After`, as on 429). */
  readonly retryAfterSeconds?: number;
  /** The `Idempotency-Key` the call was sent with (emits): repeating the call with it never delivers twice. */
  readonly idempotencyKey?: string;
  readonly cause?: unknown;
}

/** Every failure of a client call: a refused request, an unreachable gateway, a timeout. */
export class GeneralSocketError extends Error {
  readonly code: GeneralSocketErrorCode;
  readonly status: number;
  readonly errno: number;
  readonly attempts: number;
  readonly retryAfterSeconds: number | undefined;
  readonly idempotencyKey: string | undefined;

  constructor(init: GeneralSocketErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'GeneralSocketError';
    this.code = init.code;
    this.status = init.status ?? 0;
    this.errno = init.errno ?? this.status;
    this.attempts = init.attempts ?? 0;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.idempotencyKey = init.idempotencyKey;
  }
}

/** An argument or option that cannot be used: nothing was sent. */
export function invalidArgument(message: string): GeneralSocketError {
  return new GeneralSocketError({ code: 'INVALID_ARGUMENT', message });
}
