/** `general-socket emit user|users|scraper`: push an event from the terminal, through the SDK. */
import { UsageError, parse, type Command } from './command.js';
import {
  CONNECTION_HELP,
  EMIT_HELP,
  PAYLOAD_HELP,
  connect,
  connectionOptions,
  emitOptions,
  emitSettings,
  payloadOptions,
  readPayload,
  report,
  sockets,
} from './connection.js';

const USAGE = `Usage:
  general-socket emit user <userId> <event> [--data JSON | --data-file F | stdin] [options]
  general-socket emit users <userId,userId,...> <event> [--data JSON | --data-file F | stdin] [options]
  general-socket emit scraper <socketId> <event> [--data JSON | --data-file F | stdin] [options]`;

const TARGETS = ['user', 'users', 'scraper'];

export const emit: Command = {
  summary: 'Emit an event to a user, to several users, or to a lead-finder scraper socket',
  help: `${USAGE}

  user      POST /emit/:userId/:event: the payload to every socket of one user
  users     POST /emit/:event: the payload to every socket of each listed user (comma-separated)
  scraper   POST /lead-finder/:event: the payload to one scraper socket (fails if it is gone)

${PAYLOAD_HELP}
${EMIT_HELP}
${CONNECTION_HELP}
Examples:
  general-socket emit user 64user123 notification --data '{"title":"New Lead"}'
  general-socket emit users 64user1,64user2 system_announcement --data-file announcement.json
  echo '{"task_id":"001","keyword":"plumber"}' | general-socket emit scraper xyz123abc scrape_task
  general-socket emit user 64user123 lead_assigned --data '{"lead":"64lead9"}' --idempotency-key lead-64lead9-assigned
`,
  async run(args, io) {
    const options = { ...connectionOptions, ...payloadOptions, ...emitOptions };
    // Socket.IO socket ids are base64url and may begin with "-": the word after the target is the id
    // as it stands, unless it is one of the options.
    const [first, second, ...others] = args;
    const idFirst =
      first !== undefined && TARGETS.includes(first) && second !== undefined && !Object.hasOwn(options, second.replace(/^--?/, '').split('=')[0]!);
    const { values, positionals } = parse({ args: idFirst ? others : args, options, allowPositionals: true, strict: true });
    const [target, id, event, ...extra] = idFirst ? [first, second, ...positionals] : positionals;
    if (target === undefined) throw new UsageError('say whom to emit to: user, users or scraper');
    if (!TARGETS.includes(target)) throw new UsageError(`unknown target "${target}": use user, users or scraper`);
    if (id === undefined || event === undefined)
      throw new UsageError(`emit ${target} needs ${target === 'scraper' ? 'a socket id' : target === 'users' ? 'user ids' : 'a user id'} and an event name`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}": the payload goes in --data, --data-file or stdin`);
    const connection = connect(values, io.env);
    const settings = emitSettings(values);
    const payload = await readPayload(values, io.stdin);
    const { client } = connection;

    if (target === 'user') {
      return report(
        io,
        connection,
        () => client.emitToUser(id, event, payload, settings),
        ({ sockets: n }) => `Sent "${event}" to ${sockets(n)} of user ${id}${n === 0 ? ' (the user has no socket connected)' : ''}.`,
      );
    }
    if (target === 'users') {
      const userIds = id
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== '');
      if (userIds.length === 0) throw new UsageError('give at least one user id, comma-separated: u1,u2');
      const users = `${userIds.length} user${userIds.length === 1 ? '' : 's'}`;
      return report(
        io,
        connection,
        () => client.emitToUsers(userIds, event, payload, settings),
        ({ sockets: n }) => `Sent "${event}" to ${sockets(n)} of ${users}.`,
      );
    }
    return report(
      io,
      connection,
      () => client.emitToScraper(id, event, payload, settings),
      () => `Sent "${event}" to scraper socket ${id}.`,
    );
  },
};
