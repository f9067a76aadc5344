/** `GET /stats`: live figures for operators, the console and the CLI's `status`. */
import type { Figures } from '../api/stats.js';
import type { Handlers } from './register.js';

/** Handler of `GET /stats`; `figures` gathers them (one node, or the whole cluster). */
export function statsHandlers({ figures }: { figures: () => Promise<Figures> | Figures }): Pick<Handlers, 'stats'> {
  return { stats: async () => figures() };
}
