/**
 * The conversation routes: a message, or a conversation, fanned out to every participant with the
 * fields computed for each (see conversations/payloads.ts). All reads happen first, in a fixed
 * small number of batched queries; then one `emitter.send` delivers every payload.
 */
import { conversationPayloads, fanoutBytes, idList, messagePayloads, participants, senderCollection, type Fanout } from '../conversations/payloads.js';
import type { Privacy } from '../conversations/privacy.js';
import { toEach, type Emitter } from '../emitter.js';
import { fail } from '../errors.js';
import { StoreUnavailableError, UnsendableDocumentError, type Store } from '../store/store.js';
import type { Handlers } from './register.js';
import { successReply } from './reply.js';

/** What the conversation routes are built from. */
export interface ConversationRoutesOptions {
  readonly emitter: Emitter;
  readonly store: Store;
  /** Channels served (CHANNELS); events are `${channel}_message` and `${channel}_add_conversation`. */
  readonly channels: readonly string[];
  /** What of a document may reach clients (PRIVATE_FIELDS, SEND_FIELDS_*). */
  readonly privacy: Privacy;
  /** Most users a conversation may have to be sent (CONVERSATION_MAX_USERS). */
  readonly maxUsers: number;
  /** Most payload bytes one request may send, all recipients together (EMIT_MAX_BYTES). */
  readonly maxBytes: number;
}

/**
 * Store reads, with "the database is away" turned into 503 instead of 500 (the error handler logs
 * it), and a document that cannot be sent as it is into 422 naming it.
 */
async function read<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof UnsendableDocumentError) throw fail('DOCUMENT_UNSENDABLE', error.message);
    if (!(error instanceof StoreUnavailableError)) throw error;
    throw fail('SERVICE_UNAVAILABLE', `The database is unavailable; retry later (${error.message})`, { 'retry-after': '1' });
  }
}

/** A reference field's id, when it holds one. */
const idIn = (value: unknown): string[] => (typeof value === 'string' && value !== '' ? [value] : []);

/** Handlers of `GET /conversations/:channel/emit/message/:messageID` and `.../conversation/:convoID/:isNew`. */
export function conversationHandlers({
  emitter,
  store,
  channels,
  privacy,
  maxUsers,
  maxBytes,
}: ConversationRoutesOptions): Pick<Handlers, 'emitMessage' | 'emitConversation'> {
  const known = new Set(channels);
  const requireChannel = (channel: string): void => {
    if (!known.has(channel)) throw fail('NOT_FOUND', `Unknown channel "${channel}"; configured channels (CHANNELS): ${channels.join(', ')}`);
  };
  const send = async (event: string, fanout: Fanout, what: string) => {
    // Measured before anything is built or sent: the same request is refused whoever is online.
    const bytes = fanoutBytes(fanout);
    if (bytes > maxBytes) {
      throw fail(
        'EMIT_TOO_LARGE',
        `${what} would send ${bytes} bytes (${fanout.recipients.length} payloads); one request may send at most ${maxBytes} bytes (EMIT_MAX_BYTES)`,
      );
    }
    // One delivery: what all recipients share crosses to the other nodes once, beside each one's fields.
    const report = await emitter.send([{ audience: toEach(fanout.recipients), event, data: fanout.common }]);
    return successReply(report);
  };

  const emitMessage: Handlers['emitMessage'] = async (request) => {
    const { channel, messageID } = request.params;
    requireChannel(channel);
    const message = (await read(store.find('communications', [messageID]))).get(messageID);
    if (message === undefined) throw fail('NOT_FOUND', `No message (communication) with _id "${messageID}"`);

    const conversationIds = idList(message.conversation_id);
    if (conversationIds.length === 0)
      throw fail('NOT_FOUND', `Message "${messageID}" names no conversation (conversation_id is empty); there is nobody to send it to`);
    const [senders, conversations] = await read(
      Promise.all([store.find(senderCollection(message), idIn(message.sent_by)), store.find('conversationprospects', conversationIds)]),
    );
    const missing = conversationIds.filter((id) => !conversations.has(id));
    if (missing.length === conversationIds.length) {
      throw fail('NOT_FOUND', `None of the conversations of message "${messageID}" exists (conversation_id: ${conversationIds.join(', ')})`);
    }
    if (missing.length > 0) request.log.warn({ messageID, missing }, 'message names conversations that do not exist; they are skipped');

    const fanout = messagePayloads(
      { message, sender: senders.get(idIn(message.sent_by)[0] ?? ''), conversations: conversationIds.flatMap((id) => conversations.get(id) ?? []) },
      privacy,
    );
    return send(`${channel}_message`, fanout, `Message "${messageID}"`);
  };

  const emitConversation: Handlers['emitConversation'] = async (request) => {
    const { channel, convoID, isNew } = request.params;
    requireChannel(channel);
    const conversation = (await read(store.find('conversationprospects', [convoID]))).get(convoID);
    if (conversation === undefined) throw fail('NOT_FOUND', `No conversation (conversationprospect) with _id "${convoID}"`);
    // Every user receives every user's document: the cost grows with the square of their number.
    const userIds = participants(conversation);
    if (userIds.length > maxUsers) {
      throw fail(
        'EMIT_TOO_LARGE',
        `Conversation "${convoID}" has ${userIds.length} users; a conversation is sent to at most ${maxUsers} (CONVERSATION_MAX_USERS)`,
      );
    }

    const contactIds = idIn(conversation.contact_id);
    const activityIds = idIn(conversation.last_activity);
    const [users, contacts, activities] = await read(
      Promise.all([store.find('users', userIds), store.find('contacts', contactIds), store.find('communications', activityIds)]),
    );
    const fanout = conversationPayloads(
      {
        conversation,
        users,
        contact: contactIds[0] === undefined ? undefined : contacts.get(contactIds[0]),
        lastActivity: activityIds[0] === undefined ? undefined : activities.get(activityIds[0]),
        isNew: isNew === 'new',
      },
      privacy,
    );
    return send(`${channel}_add_conversation`, fanout, `Conversation "${convoID}"`);
  };

  return { emitMessage, emitConversation };
}
