/**
 * What of a stored document may reach a browser. Two rules, both applied to every document a
 * conversation event carries (the message, its sender, the conversation, its users, contact and
 * last activity):
 *
 * - deny-list (PRIVATE_FIELDS, always on): fields whose names look private are dropped at any depth;
 * - allow-list (SEND_FIELDS_<COLLECTION>, per collection, off by default): only the named top-level
 *   fields (and `_id`) of that collection's documents are sent. A field nobody thought of stays
 *   home, which makes it the safe choice for a new deployment.
 */
import type { Config } from '../config.js';
import type { Collection, StoredDocument } from '../store/store.js';

/** Returns a deep copy of a JSON value without private fields, at any depth. */
export type Projection = <T>(value: T) => T;

const normalize = (name: string): string => name.toLowerCase().replace(/[_-]/g, '');

/** Whether a field name is private: ignoring case, `_` and `-`, it equals or ends with one of `privateFields`. */
export function privateName(privateFields: readonly string[]): (key: string) => boolean {
  const names = privateFields.map(normalize).filter((name) => name !== '');
  return (key) => {
    const candidate = normalize(key);
    return names.some((name) => candidate.endsWith(name));
  };
}

/**
 * The deny-list projection: a field is dropped when its name, ignoring case, `_` and `-`, equals or
 * ends with one of `privateFields` (with the defaults, `hash` drops `passwordHash` and `token` drops
 * `reset_token` and `accessToken`). Values are at most JSON_MAX_DEPTH deep (stored documents are
 * checked when read), so the recursion is bounded.
 */
export function privacyProjection(privateFields: readonly string[]): Projection {
  const isPrivate = privateName(privateFields);
  const project = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(project);
    if (value === null || typeof value !== 'object') return value;
    // fromEntries defines own properties, so a "__proto__" key stays data and sets no prototype.
    return Object.fromEntries(Object.entries(value).flatMap(([key, field]) => (isPrivate(key) ? [] : [[key, project(field)]])));
  };
  return project as Projection;
}

/** Per collection: `*` (every field) or the fields that may be sent. */
export type SendFields = Readonly<Partial<Record<Collection, '*' | readonly string[]>>>;

/** Both rules, as the payload builders use them. */
export interface Privacy {
  /** A document as clients may see it: its allowed fields, without private ones at any depth. */
  document(collection: Collection, document: StoredDocument): Record<string, unknown>;
  /** `fields` without its private top-level names (for the fields an event adds to a document). */
  withoutPrivate(fields: Record<string, unknown>): Record<string, unknown>;
}

/** The privacy rules of PRIVATE_FIELDS and SEND_FIELDS_*. */
export function privacy(privateFields: readonly string[], sendFields: SendFields = {}): Privacy {
  const project = privacyProjection(privateFields);
  const isPrivate = privateName(privateFields);
  const allowed = new Map(
    Object.entries(sendFields).flatMap(([collection, fields]) => (fields === '*' || fields === undefined ? [] : [[collection, new Set(['_id', ...fields])]])),
  );
  return {
    document(collection, document) {
      const only = allowed.get(collection);
      const picked = only === undefined ? document : Object.fromEntries(Object.entries(document).filter(([key]) => only.has(key)));
      return project(picked) as Record<string, unknown>;
    },
    withoutPrivate: (fields) => Object.fromEntries(Object.entries(fields).filter(([key]) => !isPrivate(key))),
  };
}

/** The privacy rules the configuration asks for. */
export function configuredPrivacy(
  config: Pick<Config, 'privateFields' | 'sendFieldsUsers' | 'sendFieldsContacts' | 'sendFieldsCommunications' | 'sendFieldsConversationprospects'>,
): Privacy {
  return privacy(config.privateFields, {
    users: config.sendFieldsUsers,
    contacts: config.sendFieldsContacts,
    communications: config.sendFieldsCommunications,
    conversationprospects: config.sendFieldsConversationprospects,
  });
}
