/** `general-socket presence` and `general-socket disconnect`: who is online, and closing their sockets. */
import { UsageError, parse, type Command } from './command.js';
import { CONNECTION_HELP, connect, connectionOptions, readPayload, report, sockets } from './connection.js';

export const presence: Command = {
  summary: 'Show whether users are online, cluster-wide',
  help: `Usage: general-socket presence <userId> [<userId> ...] [options]

One user: GET /users/:userId/presence (online, sockets, since when). Several: POST /presence, which
answers the online ones. Ids may also be comma-separated.

${CONNECTION_HELP}
Examples:
  general-socket presence 64user123
  general-socket presence 64user1,64user2 64user3 --json
`,
  async run(args, io) {
    const { values, positionals } = parse({ args, options: connectionOptions, allowPositionals: true, strict: true });
    const userIds = [...new Set(positionals.flatMap((ids) => ids.split(',')).map((id) => id.trim()))].filter((id) => id !== '');
    if (userIds.length === 0) throw new UsageError('name at least one user id');
    const connection = connect(values, io.env);
    const { client } = connection;
    if (userIds.length === 1) {
      const [userId] = userIds as [string];
      return report(
        io,
        connection,
        () => client.userPresence(userId),
        ({ online, sockets: n, since }) => (online ? `${userId} is online: ${sockets(n)}, since ${since}.` : `${userId} is offline.`),
      );
    }
    return report(
      io,
      connection,
      () => client.usersPresence(userIds),
      ({ online, users }) =>
        userIds
          .map((userId) =>
            online.includes(userId) ? `${userId}  online   ${sockets(users[userId]!.sockets)}, since ${users[userId]!.since}` : `${userId}  offline`,
          )
          .join('\n'),
    );
  },
};

const NOTICE_OPTIONS = { event: { type: 'string' }, data: { type: 'string' }, 'data-file': { type: 'string' } } as const;

export const disconnect: Command = {
  summary: 'Disconnect every socket of a user, or one scraper socket, on every node',
  help: `Usage:
  general-socket disconnect user <userId> [--event <name> [--data JSON | --data-file F]] [options]
  general-socket disconnect scraper <socketId> [--event <name> [--data JSON | --data-file F]] [options]

  user      POST /users/:userId/disconnect: every socket of the user, on every gateway node
  scraper   POST /lead-finder/:socketId/disconnect: one scraper socket (fails if it is gone)

Each socket first receives --event (with --data as its payload, or null), then is disconnected
("io server disconnect": a stock client does not reconnect by itself). Revoke the user's tokens too,
or a modified client can connect again.

${CONNECTION_HELP}
Examples:
  general-socket disconnect user 64user123 --event session_ended --data '{"reason":"password_changed"}'
  general-socket disconnect scraper xyz123abc
`,
  async run(args, io) {
    const options = { ...connectionOptions, ...NOTICE_OPTIONS };
    // A socket id may begin with "-": the word after the target is the id as it stands (as in emit).
    const [first, second, ...others] = args;
    const idFirst = (first === 'user' || first === 'scraper') && second !== undefined && !Object.hasOwn(options, second.replace(/^--?/, '').split('=')[0]!);
    const { values, positionals } = parse({ args: idFirst ? others : args, options, allowPositionals: true, strict: true });
    const [target, id, ...extra] = idFirst ? [first, second, ...positionals] : positionals;
    if (target !== 'user' && target !== 'scraper')
      throw new UsageError(target === undefined ? 'say whom to disconnect: user or scraper' : `unknown target "${target}": use user or scraper`);
    if (id === undefined) throw new UsageError(`disconnect ${target} needs ${target === 'user' ? 'a user id' : 'a socket id'}`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if (values.event === undefined && (values.data !== undefined || values['data-file'] !== undefined))
      throw new UsageError('--data is the payload of --event: give --event too');
    const connection = connect(values, io.env);
    const notice =
      values.event === undefined
        ? undefined
        : { event: values.event, data: values.data === undefined && values['data-file'] === undefined ? null : await readPayload(values, io.stdin) };
    const { client } = connection;
    if (target === 'user') {
      return report(
        io,
        connection,
        () => client.disconnectUser(id, notice),
        ({ sockets: n, partial }) => `Disconnected ${sockets(n)} of user ${id}${partial ? ' (some gateway nodes did not answer: there may be more)' : ''}.`,
      );
    }
    return report(
      io,
      connection,
      () => client.disconnectScraper(id, notice),
      () => `Disconnected scraper socket ${id}.`,
    );
  },
};
