/** Liveness and readiness probes; they need no API key (the probes' details do). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Health, Ready } from '../api/health.js';
import { checkProbes, type ReadinessProbe } from '../readiness.js';

/**
 * Registers `GET /healthz` and `GET /readyz`; `probes` may grow until the gateway listens. The probes'
 * details (driver messages naming internal hosts) are shown only to callers `showDetails` accepts.
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{ probes: readonly ReadinessProbe[]; showDetails: (request: FastifyRequest) => boolean }> = async (
  app,
  { probes, showDetails },
) => {
  app.get('/healthz', { schema: Health }, async () => ({ status: 'ok' }) as const);

  app.get('/readyz', { schema: Ready }, async (request, reply) => {
    const results = await checkProbes(probes);
    const details = showDetails(request);
    const checks = Object.fromEntries(results.map(([name, { ok, detail }]) => [name, details && detail !== undefined ? { ok, detail } : { ok }]));
    const ready = results.every(([, result]) => result.ok);
    return reply.code(ready ? 200 : 503).send({ ready, checks });
  });
};
