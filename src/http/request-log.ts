/** One structured log line per request, with no headers (so no keys or tokens). */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/** Replaces Fastify's two lines per request ("incoming", "completed") with one. */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      url: request.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      key: request.apiKeyId,
    };
    if (error) request.log.error({ ...line, err: error }, 'request failed');
    else request.log.info(line, 'request');
  }
}
