/** `general-socket message` and `general-socket conversation`: fan a stored document out to its participants. */
import { UsageError, parse, type Command } from './command.js';
import { CONNECTION_HELP, EMIT_HELP, connect, connectionOptions, emitOptions, emitSettings, report, sockets } from './connection.js';

export const message: Command = {
  summary: 'Emit a stored message to every participant of its conversations',
  help: `Usage: general-socket message <channel> <messageId> [options]

Calls GET /conversations/:channel/emit/message/:messageId: the gateway loads the message and sends
it to every participant of each of its conversations, with is_sender set per recipient. Fails with
NOT_FOUND when the message does not exist.

${EMIT_HELP}
${CONNECTION_HELP}
Example:
  general-socket message prospect 64abc123def456789
`,
  async run(args, io) {
    const { values, positionals } = parse({ args, options: { ...connectionOptions, ...emitOptions }, allowPositionals: true, strict: true });
    const [channel, messageId, ...extra] = positionals;
    if (channel === undefined || messageId === undefined) throw new UsageError('message needs a channel and a message id');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const connection = connect(values, io.env);
    const settings = emitSettings(values);
    return report(
      io,
      connection,
      () => connection.client.emitMessage(channel, messageId, settings),
      ({ sockets: n }) => `Sent message ${messageId} (${channel}) to ${sockets(n)}.`,
    );
  },
};

export const conversation: Command = {
  summary: 'Emit a new or updated conversation to each of its users',
  help: `Usage: general-socket conversation <channel> <conversationId> new|existing [options]

Calls GET /conversations/:channel/emit/conversation/:conversationId/:isNew: the gateway loads the
conversation and sends it to each of its users with their own unread_count. Fails with NOT_FOUND
when the conversation does not exist.

${EMIT_HELP}
${CONNECTION_HELP}
Example:
  general-socket conversation prospect 64conv123 new
`,
  async run(args, io) {
    const { values, positionals } = parse({ args, options: { ...connectionOptions, ...emitOptions }, allowPositionals: true, strict: true });
    const [channel, conversationId, isNew, ...extra] = positionals;
    if (channel === undefined || conversationId === undefined || isNew === undefined) {
      throw new UsageError('conversation needs a channel, a conversation id and new or existing');
    }
    if (isNew !== 'new' && isNew !== 'existing') throw new UsageError(`the third argument must be new or existing, got "${isNew}"`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const connection = connect(values, io.env);
    const settings = emitSettings(values);
    return report(
      io,
      connection,
      () => connection.client.emitConversation(channel, conversationId, isNew, settings),
      ({ sockets: n }) => `Sent ${isNew} conversation ${conversationId} (${channel}) to ${sockets(n)}.`,
    );
  },
};
