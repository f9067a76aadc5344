/** `GET /stats`: live figures for operators, the console and the CLI's `status`. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Stats, type Figures } from '../api/stats.js';
import { NOT_RATE_LIMITED } from '../http/rate-limit.js';

/** Registers `GET /stats`; `figures` gathers them (one node, or the whole cluster). */
export const statsRoutes: FastifyPluginAsyncTypebox<{ figures: () => Promise<Figures> | Figures }> = async (app, { figures }) => {
  app.get('/stats', { schema: Stats, config: NOT_RATE_LIMITED }, async () => figures());
};
