/**
 * The error registry: every failure the gateway reports has a stable code, an HTTP status and a
 * default message here. Routes throw `GatewayError`s; http/error-handler.ts turns anything thrown
 * into the seed's shape `{ success: false, errno, message }` plus `code`.
 */

/**
 * Every error code the REST API can answer with, its HTTP status and default message. The first code
 * of a status also names the errors of that status that Fastify and its plugins raise themselves.
 */
export const errorRegistry = {
  VALIDATION_ERROR: { status: 400, message: 'The request is invalid' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  UNAUTHORIZED: { status: 401, message: 'A valid x-api-key header is required' },
  FORBIDDEN: { status: 403, message: 'This address may not call the API' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  EMIT_TOO_LARGE: { status: 413, message: 'The request would send more than one request may' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be application/json' },
  DOCUMENT_UNSENDABLE: { status: 422, message: 'A stored document cannot be sent as it is' },
  RATE_LIMITED: { status: 429, message: 'Too many requests' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  INTERNAL_SERVER_ERROR: { status: 500, message: 'Internal server error' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'A service the gateway depends on is unavailable' },
  DELIVERY_UNCONFIRMED: { status: 504, message: 'Other gateway nodes did not confirm the delivery in time' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof errorRegistry;

/** The JSON body of every failed REST call. */
export interface ErrorBody {
  readonly success: false;
  readonly errno: number;
  readonly message: string;
  readonly code: ErrorCode;
}

/** An error the gateway reports to its caller as is. */
export class GatewayError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = errorRegistry[code].message,
    /** Extra response headers, such as `Allow` or `Retry-After`. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'GatewayError';
    this.status = errorRegistry[code].status;
  }

  /** The response body for this error. */
  toBody(): ErrorBody {
    return { success: false, errno: this.status, message: this.message, code: this.code };
  }
}

/** Shorthand for `new GatewayError(...)` that reads well after `throw`. */
export function fail(code: ErrorCode, message?: string, headers?: Readonly<Record<string, string>>): GatewayError {
  return new GatewayError(code, message, headers);
}
