/** `general-socket history`: the events the gateway kept for a user, through the SDK. */
import { UsageError, parse, type Command } from './command.js';
import { CONNECTION_HELP, connect, connectionOptions, report } from './connection.js';

export const history: Command = {
  summary: 'List the events kept for a user (what a client that was away missed)',
  help: `Usage: general-socket history <userId> [--since POSITION] [--limit N] [options]

GET /users/:userId/events: the events the gateway kept for the user (the last HISTORY_SIZE, none
older than HISTORY_TTL_SECONDS), oldest first, one per line: position, time, event, data as JSON.
  --since <position>  only the events after this position (the last one you saw)
  --limit <n>         at most n events, 1 to 1000 (default 100)
When events after --since are no longer kept, a line on stderr says so and the list starts from the
oldest kept. Fails with HISTORY_DISABLED when the gateway keeps no events (HISTORY_SIZE=0).

${CONNECTION_HELP}
Examples:
  general-socket history 64user123
  general-socket history 64user123 --since k3v9x2ab:41 --limit 10 --json
`,
  async run(args, io) {
    const options = { ...connectionOptions, since: { type: 'string' }, limit: { type: 'string' } } as const;
    const { values, positionals } = parse({ args, options, allowPositionals: true, strict: true });
    const [userId, ...extra] = positionals;
    if (userId === undefined) throw new UsageError('say whose events to list: general-socket history <userId>');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    let limit: number | undefined;
    if (values.limit !== undefined) {
      limit = Number(values.limit);
      if (!/^\d+$/.test(values.limit.trim()) || limit < 1 || limit > 1000)
        throw new UsageError(`--limit must be a whole number from 1 to 1000, got "${values.limit}"`);
    }
    if (values.since !== undefined && values.since.trim() === '') throw new UsageError('--since is empty: give a position such as k3v9x2ab:41');
    const connection = connect(values, io.env);
    return report(
      io,
      connection,
      () => connection.client.history(userId, { ...(values.since !== undefined && { since: values.since.trim() }), ...(limit !== undefined && { limit }) }),
      (answer) => {
        if (answer.gap) io.stderr.write(`general-socket: events after ${values.since} are no longer kept; listing from the oldest kept\n`);
        const lines = answer.events.map((e) => `${e.position}  ${e.time}  ${e.event}  ${JSON.stringify(e.data)}`);
        const count = `${answer.events.length} event${answer.events.length === 1 ? '' : 's'} of user ${userId}`;
        return [...lines, `${count} (newest ${answer.newest}).`].join('\n');
      },
    );
  },
};
