/**
 * The one error handler: whatever a route, hook or Fastify itself throws leaves as
 * `{ success: false, errno, message, code }` (see errors.ts for the codes).
 */
import type { FastifyError, FastifyInstance, FastifySchemaValidationError } from 'fastify';
import { GatewayError, errorRegistry, fail, type ErrorCode } from '../errors.js';

/** The registry's first code for an HTTP status, for errors Fastify and its plugins raise themselves. */
function codeForStatus(status: number): ErrorCode | undefined {
  return (Object.keys(errorRegistry) as ErrorCode[]).find((code) => errorRegistry[code].status === status);
}

/** Turns anything thrown while serving a request into a GatewayError. */
export function toGatewayError(error: unknown, bodyLimit: number): GatewayError {
  if (error instanceof GatewayError) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) return fail('VALIDATION_ERROR', fastifyError.message);
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return fail('PAYLOAD_TOO_LARGE', `The request body is larger than ${bodyLimit} bytes (BODY_LIMIT_BYTES)`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return fail('UNSUPPORTED_MEDIA_TYPE', 'The request body must be JSON: send Content-Type: application/json');
  }
  const status = fastifyError.statusCode ?? 500;
  const code = codeForStatus(status);
  if (status < 500 && code) return fail(code, fastifyError.message);
  return fail('INTERNAL_SERVER_ERROR');
}

/**
 * Formats schema failures so the message names the field: "body.userIds[0] must be ...".
 * Schemas may carry an `x-error` sentence that replaces Ajv's wording for that value.
 */
export function formatValidationErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const withSentence = [...errors].reverse().find((e) => typeof (e as { parentSchema?: Record<string, unknown> }).parentSchema?.['x-error'] === 'string');
  const chosen = withSentence ?? errors[0];
  if (!chosen) return new Error(`${dataVar} is invalid`);
  const path = dataVar + chosen.instancePath.replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
  const params = chosen.params as Record<string, unknown>;
  if (chosen.keyword === 'required') return new Error(`${path}.${String(params.missingProperty)} is required`);
  if (chosen.keyword === 'additionalProperties') return new Error(`${path} has an unknown property "${String(params.additionalProperty)}"`);
  const sentence = (chosen as { parentSchema?: Record<string, unknown> }).parentSchema?.['x-error'];
  return new Error(`${path} ${typeof sentence === 'string' ? sentence : chosen.message}`);
}

/** Installs the error handler, the 404 handler and the schema error formatter's partner. */
export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((error, request, reply) => {
    const gatewayError = toGatewayError(error, bodyLimit);
    if (gatewayError.status >= 500) request.log.error({ err: error }, 'request failed');
    void reply.code(gatewayError.status).headers(gatewayError.headers).send(gatewayError.toBody());
  });
  app.setNotFoundHandler((request) => {
    throw fail('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`);
  });
}
