/** Liveness and readiness probes; they need no API key (the probes' details do). */
import type { FastifyRequest } from 'fastify';
import { checkProbes, type ReadinessProbe } from '../readiness.js';
import type { Handlers } from './register.js';

/**
 * Handlers of `GET /healthz` and `GET /readyz`; `probes` may grow until the gateway listens. The probes'
 * details (driver messages naming internal hosts) are shown only to callers `showDetails` accepts.
 */
export function healthHandlers({
  probes,
  showDetails,
}: {
  probes: readonly ReadinessProbe[];
  showDetails: (request: FastifyRequest) => boolean;
}): Pick<Handlers, 'health' | 'readiness'> {
  return {
    health: async () => ({ status: 'ok' }) as const,

    readiness: async (request, reply) => {
      const results = await checkProbes(probes);
      const details = showDetails(request);
      const checks = Object.fromEntries(results.map(([name, { ok, detail }]) => [name, details && detail !== undefined ? { ok, detail } : { ok }]));
      const ready = results.every(([, result]) => result.ok);
      return reply.code(ready ? 200 : 503).send({ ready, checks });
    },
  };
}
