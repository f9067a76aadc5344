/** One structured log line per request, with no headers and no query values (so no keys or tokens). */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/** Levels at which info lines are written. */
const WRITES_INFO = new Set(['info', 'debug', 'trace']);

/** Replaces Fastify's two lines per request ("incoming", "completed") with one. */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    // Below info (LOG_LEVEL=warn...) only failures are written: skip building a line nobody reads.
    if (!error && !WRITES_INFO.has(request.log.level)) return;
    const line = {
      method: request.method,
      url: withoutQueryValues(request.url),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      key: request.apiKeyId,
    };
    if (error) request.log.error({ ...line, err: error }, 'request failed');
    else request.log.info(line, 'request');
  }
}

/**
 * The URL as logged: no route reads the query string, and a key pasted there (`?apiKey=...`, which
 * the gateway refuses) must not reach the log, whatever the parameter is called.
 */
export function withoutQueryValues(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? url : `${url.slice(0, at)}?[redacted]`;
}
