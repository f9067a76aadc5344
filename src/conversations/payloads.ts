/**
 * The per-recipient payloads of the conversation events, built by pure functions from documents
 * already loaded (routes/conversations.ts does the I/O). Each participant gets the fields computed for
 * them (`is_sender`, `unread_count`, ...) beside what all get, and nothing private (privacy.ts).
 */
import type { CommunicationDocument, ContactDocument, ConversationDocument, StoredDocument, UserDocument } from '../store/store.js';
import type { Privacy } from './privacy.js';

/**
 * An event for many recipients: what every recipient gets (`common`), and beside it the few fields
 * computed for each. A recipient's payload is `{ ...common, ...fields }` (the emitter's `toEach`);
 * keeping the two apart lets the size of a fan-out be known without building N payloads, and the
 * common part cross the bus once.
 */
export interface Fanout {
  readonly common: Readonly<Record<string, unknown>>;
  readonly recipients: readonly Recipient[];
}

/** One recipient of a fan-out and the fields computed for them. */
export interface Recipient {
  readonly userId: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * The bytes a fan-out sends, every recipient's payload counted once: the common part's JSON is
 * measured once, not built N times.
 */
export function fanoutBytes(fanout: Fanout): number {
  const common = Buffer.byteLength(JSON.stringify(fanout.common));
  let total = 0;
  for (const { fields } of fanout.recipients) total += common + Buffer.byteLength(JSON.stringify(fields));
  return total;
}

/** A date as an ISO string; values that are not dates are left as they are. */
export function toIsoDate(value: unknown): unknown {
  if (typeof value !== 'string' && typeof value !== 'number' && !(value instanceof Date)) return value;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

/**
 * The distinct ids a reference-list field holds, in order: an array keeps its non-empty strings, a
 * lone string (an older schema, or a document synced from elsewhere) counts as a list of one.
 */
export function idList(value: unknown): string[] {
  const items: unknown[] = Array.isArray(value) ? value : [value];
  return [...new Set(items.filter((id): id is string => typeof id === 'string' && id !== ''))];
}

/** The distinct user ids of a conversation, in order. */
export function participants(conversation: ConversationDocument): string[] {
  return idList(conversation.users);
}

/** A user's unread count; a user missing from the map (or a map that is missing) has 0. */
export function unreadCountOf(conversation: ConversationDocument, userId: string): number {
  const map = conversation.unread_count;
  const count = map !== null && typeof map === 'object' && Object.hasOwn(map, userId) ? map[userId] : undefined;
  return typeof count === 'number' && Number.isFinite(count) ? count : 0;
}

const isBlank = (value: unknown): boolean => value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value : undefined);

/** The conversation's title, else the contact's name, else its phone, else its email, else ''. */
export function deriveTitle(conversation: ConversationDocument, contact: ContactDocument | undefined): unknown {
  if (!isBlank(conversation.title)) return conversation.title;
  return text(contact?.name) ?? text(contact?.phone) ?? text(contact?.email) ?? '';
}

/**
 * The conversation's images, else `[contact.image]` when the contact has one, else `[]`. An empty
 * array counts as unset: it is what MongoDB stores for an array field nobody filled.
 */
export function deriveImage(conversation: ConversationDocument, contact: ContactDocument | undefined): unknown {
  const image: unknown = conversation.image;
  if (Array.isArray(image) ? image.length > 0 : !isBlank(image)) return image;
  const contactImage = text(contact?.image);
  return contactImage === undefined ? [] : [contactImage];
}

/**
 * Replaces a reference by its document, as Mongoose's populate does: an absent field stays absent,
 * a reference to a missing document becomes null.
 */
function populate(reference: unknown, found: object | undefined): unknown {
  if (reference === undefined || reference === null) return reference;
  return found ?? null;
}

/** Where the sender of a message lives: a contact wrote an INCOMING one, a user an OUTGOING one. */
export function senderCollection(message: CommunicationDocument): 'contacts' | 'users' {
  return message.type === 'INCOMING' ? 'contacts' : 'users';
}

/** What `messagePayloads` needs, already loaded. */
export interface MessageInput {
  readonly message: CommunicationDocument;
  /** The contact (INCOMING) or user (OUTGOING) that `sent_by` names, when it exists. */
  readonly sender: StoredDocument | undefined;
  /** The message's conversations that exist, in the order of `conversation_id`. */
  readonly conversations: readonly ConversationDocument[];
}

/**
 * One payload per participant per conversation: a user in two of the message's conversations gets
 * two, each with that conversation's id. `is_sender` is true only for the user who sent an OUTGOING
 * message (an INCOMING one is sent by a contact).
 */
export function messagePayloads({ message, sender, conversations }: MessageInput, privacy: Privacy): Fanout {
  const common = privacy.withoutPrivate({
    ...privacy.document('communications', message),
    sent_by: populate(message.sent_by, sender && privacy.document(senderCollection(message), sender)),
    // Filled in for each recipient; here it keeps its place among the fields.
    conversation_id: undefined,
    ...(message.createdAt !== undefined && { createdAt: toIsoDate(message.createdAt) }),
  });
  const senderUserId = message.type === 'OUTGOING' ? message.sent_by : undefined;
  const recipients = conversations.flatMap((conversation) =>
    participants(conversation).map((userId) => ({
      userId,
      fields: privacy.withoutPrivate({ conversation_id: conversation._id, is_sender: userId === senderUserId }),
    })),
  );
  return { common, recipients };
}

/** What `conversationPayloads` needs, already loaded. */
export interface ConversationInput {
  readonly conversation: ConversationDocument;
  /** The conversation's users that exist, by id. */
  readonly users: ReadonlyMap<string, UserDocument>;
  readonly contact: ContactDocument | undefined;
  /** The communication `last_activity` names, when it exists. */
  readonly lastActivity: CommunicationDocument | undefined;
  readonly isNew: boolean;
}

/**
 * One payload per user of the conversation, with `users`, `contact_id` and `last_activity`
 * populated, `title` and `image` derived from the contact when unset, that user's own
 * `unread_count`, and `isNew`. The derivations read the contact as clients may see it, so that a
 * field kept from them does not reach them as a title.
 */
export function conversationPayloads({ conversation, users, contact, lastActivity, isNew }: ConversationInput, privacy: Privacy): Fanout {
  const userIds = participants(conversation);
  const shownContact = contact && (privacy.document('contacts', contact) as ContactDocument);
  const common = privacy.withoutPrivate({
    ...privacy.document('conversationprospects', conversation),
    title: deriveTitle(conversation, shownContact),
    image: deriveImage(conversation, shownContact),
    users: userIds.flatMap((id) => {
      const user = users.get(id);
      return user === undefined ? [] : [privacy.document('users', user)];
    }),
    ...(conversation.contact_id !== undefined && { contact_id: populate(conversation.contact_id, shownContact) }),
    ...(conversation.last_activity !== undefined && {
      last_activity: populate(conversation.last_activity, lastActivity && privacy.document('communications', lastActivity)),
    }),
    // Filled in for each recipient; here it keeps its place among the fields.
    unread_count: undefined,
    isNew,
  });
  const recipients = userIds.map((userId) => ({ userId, fields: privacy.withoutPrivate({ unread_count: unreadCountOf(conversation, userId) }) }));
  return { common, recipients };
}
