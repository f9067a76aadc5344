/** `GET /metrics`: this node's Prometheus metrics. */
import type { Metrics } from '../metrics.js';
import type { Handlers } from './register.js';

/**
 * Handler of `GET /metrics`. Who may scrape is the route table's business: the key, also as
 * `Authorization: Bearer <key>` (what Prometheus sends), or anyone with METRICS_PUBLIC=true.
 */
export function metricsHandlers({ metrics }: { metrics: Metrics }): Pick<Handlers, 'metrics'> {
  return {
    metrics: async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  };
}
