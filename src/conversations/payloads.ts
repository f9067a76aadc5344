/**
 * The per-recipient payloads of the conversation events, built by pure functions from documents
 * already loaded (routes/conversations.ts does the I/O). Each participant gets their own copy with
 * the fields computed for them (`is_sender`, `unread_count`, ...), and nothing private in it.
 */
import type { CommunicationDocument, ContactDocument, ConversationDocument, StoredDocument, UserDocument } from '../store/store.js';

/** One recipient's event payload. */
export interface RecipientPayload {
  readonly userId: string;
  readonly payload: Record<string, unknown>;
}

/** Returns a deep copy of a JSON value without private fields, at any depth. */
export type Projection = <T>(value: T) => T;

const normalize = (name: string): string => name.toLowerCase().replace(/[_-]/g, '');

/**
 * The privacy projection: a field is dropped when its name, ignoring case, `_` and `-`, equals or
 * ends with one of `privateFields` (with the defaults, `hash` drops `passwordHash` and `token` drops
 * `reset_token` and `accessToken`).
 */
export function privacyProjection(privateFields: readonly string[]): Projection {
  const names = privateFields.map(normalize).filter((name) => name !== '');
  const isPrivate = (key: string): boolean => {
    const candidate = normalize(key);
    return names.some((name) => candidate.endsWith(name));
  };
  const project = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(project);
    if (value === null || typeof value !== 'object') return value;
    // fromEntries defines own properties, so a "__proto__" key stays data and sets no prototype.
    return Object.fromEntries(Object.entries(value).flatMap(([key, field]) => (isPrivate(key) ? [] : [[key, project(field)]])));
  };
  return project as Projection;
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
function populate(reference: unknown, found: StoredDocument | undefined): unknown {
  if (reference === undefined || reference === null) return reference;
  return found ?? null;
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
export function messagePayloads({ message, sender, conversations }: MessageInput, project: Projection): RecipientPayload[] {
  const base = project({
    ...message,
    sent_by: populate(message.sent_by, sender),
    ...(message.createdAt !== undefined && { createdAt: toIsoDate(message.createdAt) }),
  });
  const senderUserId = message.type === 'OUTGOING' ? message.sent_by : undefined;
  return conversations.flatMap((conversation) =>
    participants(conversation).map((userId) => ({
      userId,
      payload: { ...base, conversation_id: conversation._id, is_sender: userId === senderUserId },
    })),
  );
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
 * `unread_count`, and `isNew`.
 */
export function conversationPayloads({ conversation, users, contact, lastActivity, isNew }: ConversationInput, project: Projection): RecipientPayload[] {
  const recipients = participants(conversation);
  const base = project({
    ...conversation,
    title: deriveTitle(conversation, contact),
    image: deriveImage(conversation, contact),
    users: recipients.flatMap((id) => users.get(id) ?? []),
    ...(conversation.contact_id !== undefined && { contact_id: populate(conversation.contact_id, contact) }),
    ...(conversation.last_activity !== undefined && { last_activity: populate(conversation.last_activity, lastActivity) }),
    isNew,
  });
  return recipients.map((userId) => ({ userId, payload: { ...base, unread_count: unreadCountOf(conversation, userId) } }));
}
