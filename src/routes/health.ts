/** Liveness and readiness probes; they need no API key. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Health, Ready } from '../api/health.js';

/** A dependency the gateway needs to be ready (the database, the cluster bus). */
export interface ReadinessProbe {
  readonly name: string;
  check(): Promise<{ ok: boolean; detail?: string }>;
}

/** Runs every probe at once; a probe that throws counts as not ok (/readyz and the metrics share this). */
export async function checkProbes(probes: readonly ReadinessProbe[]): Promise<(readonly [string, { ok: boolean; detail?: string }])[]> {
  return Promise.all(
    probes.map(async (probe) => {
      try {
        return [probe.name, await probe.check()] as const;
      } catch (error) {
        return [probe.name, { ok: false, detail: (error as Error).message }] as const;
      }
    }),
  );
}

/** Registers `GET /healthz` and `GET /readyz`; `probes` may grow until the gateway listens. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ probes: readonly ReadinessProbe[] }> = async (app, { probes }) => {
  app.get('/healthz', { schema: Health }, async () => ({ status: 'ok' }) as const);

  app.get('/readyz', { schema: Ready }, async (_request, reply) => {
    const results = await checkProbes(probes);
    const checks = Object.fromEntries(results);
    const ready = results.every(([, result]) => result.ok);
    return reply.code(ready ? 200 : 503).send({ ready, checks });
  });
};
