/** `GET /metrics`: this node's Prometheus metrics. */
import type { FastifyPluginAsync, onRequestHookHandler } from 'fastify';
import { metricsSchema } from '../api/metrics.js';
import type { Metrics } from '../metrics.js';

/**
 * Registers `GET /metrics`. Without `guard` (METRICS_PUBLIC=true) anyone may scrape; with it, the
 * API key may also come as `Authorization: Bearer <key>`, which Prometheus sends natively.
 */
export const metricsRoutes: FastifyPluginAsync<{ metrics: Metrics; guard?: onRequestHookHandler }> = async (app, { metrics, guard }) => {
  if (guard) {
    app.addHook('onRequest', async (request) => {
      const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
      if (request.headers['x-api-key'] === undefined && bearer !== undefined) request.headers['x-api-key'] = bearer;
    });
    app.addHook('onRequest', guard);
  }
  app.get('/metrics', { schema: metricsSchema(guard === undefined) }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
};
