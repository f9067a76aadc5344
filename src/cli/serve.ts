/** `general-socket serve`: runs the gateway, configured from the environment (same as `npm start`). */
import type { Command } from './command.js';

export const serve: Command = {
  summary: 'Run the gateway (configured from the environment, see README)',
  help: `Usage: general-socket serve

Runs the gateway in the foreground, configured from environment variables (PORT, INTERNAL_API_KEY,
JWT_SECRET, ...; see README's configuration table). SIGTERM or SIGINT shut it down gracefully.
`,
  async run() {
    await import('../main.js');
    return -1;
  },
};
