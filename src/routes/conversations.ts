/**
 * The conversation routes: a message, or a conversation, fanned out to every participant with the
 * fields computed for each (see conversations/payloads.ts). All reads happen first, in a fixed
 * small number of batched queries; then one `emitter.send` delivers every payload.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { EmitConversation, EmitMessage } from '../api/conversations.js';
import { conversationPayloads, idList, messagePayloads, participants, privacyProjection, type RecipientPayload } from '../conversations/payloads.js';
import { toUsers, type Delivery, type Emitter } from '../emitter.js';
import { fail } from '../errors.js';
import { EMIT_LIMITED } from '../http/rate-limit.js';
import { StoreUnavailableError, type Store } from '../store/store.js';

/** What the conversation routes are built from. */
export interface ConversationRoutesOptions {
  readonly emitter: Emitter;
  readonly store: Store;
  /** Channels served (CHANNELS); events are `${channel}_message` and `${channel}_add_conversation`. */
  readonly channels: readonly string[];
  /** Field names never sent to clients (PRIVATE_FIELDS). */
  readonly privateFields: readonly string[];
}

/** Store reads, with "the database is away" turned into 503 instead of 500 (the error handler logs it). */
async function read<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    throw fail('SERVICE_UNAVAILABLE', `The database is unavailable; retry later (${error.message})`, { 'retry-after': '1' });
  }
}

/** A reference field's id, when it holds one. */
const idIn = (value: unknown): string[] => (typeof value === 'string' && value !== '' ? [value] : []);

/** Registers `GET /conversations/:channel/emit/message/:messageID` and `.../conversation/:convoID/:isNew`. */
export const conversationRoutes: FastifyPluginAsyncTypebox<ConversationRoutesOptions> = async (app, { emitter, store, channels, privateFields }) => {
  const project = privacyProjection(privateFields);
  const known = new Set(channels);
  const requireChannel = (channel: string): void => {
    if (!known.has(channel)) throw fail('NOT_FOUND', `Unknown channel "${channel}"; configured channels (CHANNELS): ${channels.join(', ')}`);
  };
  const send = async (event: string, payloads: readonly RecipientPayload[]) => {
    const deliveries: Delivery[] = payloads.map(({ userId, payload }) => ({ audience: toUsers([userId]), event, data: payload }));
    const report = await emitter.send(deliveries);
    return { success: true, message: 'SUCCESS', ...report } as const;
  };

  app.get('/conversations/:channel/emit/message/:messageID', { schema: EmitMessage, config: EMIT_LIMITED, exposeHeadRoute: false }, async (request) => {
    const { channel, messageID } = request.params;
    requireChannel(channel);
    const message = (await read(store.find('communications', [messageID]))).get(messageID);
    if (message === undefined) throw fail('NOT_FOUND', `No message (communication) with _id "${messageID}"`);

    const conversationIds = idList(message.conversation_id);
    if (conversationIds.length === 0) throw fail('NOT_FOUND', `Message "${messageID}" names no conversation (conversation_id is empty); there is nobody to send it to`);
    const [senders, conversations] = await read(
      Promise.all([store.find(message.type === 'INCOMING' ? 'contacts' : 'users', idIn(message.sent_by)), store.find('conversationprospects', conversationIds)]),
    );
    const missing = conversationIds.filter((id) => !conversations.has(id));
    if (missing.length === conversationIds.length) {
      throw fail('NOT_FOUND', `None of the conversations of message "${messageID}" exists (conversation_id: ${conversationIds.join(', ')})`);
    }
    if (missing.length > 0) request.log.warn({ messageID, missing }, 'message names conversations that do not exist; they are skipped');

    const payloads = messagePayloads(
      { message, sender: senders.get(message.sent_by), conversations: conversationIds.flatMap((id) => conversations.get(id) ?? []) },
      project,
    );
    return send(`${channel}_message`, payloads);
  });

  app.get('/conversations/:channel/emit/conversation/:convoID/:isNew', { schema: EmitConversation, config: EMIT_LIMITED, exposeHeadRoute: false }, async (request) => {
    const { channel, convoID, isNew } = request.params;
    requireChannel(channel);
    const conversation = (await read(store.find('conversationprospects', [convoID]))).get(convoID);
    if (conversation === undefined) throw fail('NOT_FOUND', `No conversation (conversationprospect) with _id "${convoID}"`);

    const contactIds = idIn(conversation.contact_id);
    const activityIds = idIn(conversation.last_activity);
    const [users, contacts, activities] = await read(
      Promise.all([store.find('users', participants(conversation)), store.find('contacts', contactIds), store.find('communications', activityIds)]),
    );
    const payloads = conversationPayloads(
      {
        conversation,
        users,
        contact: contactIds[0] === undefined ? undefined : contacts.get(contactIds[0]),
        lastActivity: activityIds[0] === undefined ? undefined : activities.get(activityIds[0]),
        isNew: isNew === 'new',
      },
      project,
    );
    return send(`${channel}_add_conversation`, payloads);
  });
};
