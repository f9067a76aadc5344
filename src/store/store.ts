/**
 * The store: the documents the conversation routes read, as the user's MongoDB holds them. Two
 * implementations sit behind this interface (store/sqlite.ts, the embedded default, and
 * store/postgres.ts); one conformance suite (test/store.test.ts) runs against both.
 *
 * Documents keep the seed's Mongo field names (`_id`, `sent_by`, `conversation_id`, `createdAt`,
 * `unread_count`, ...) and every extra field; they are stored whole as JSON next to an indexed id.
 */
import { isDeepStrictEqual } from 'node:util';
import { findJsonProblem, shortPath, type JsonProblem } from '../json-limits.js';

/** The collections the store holds, named as in MongoDB. */
export const COLLECTIONS = ['users', 'contacts', 'conversationprospects', 'communications'] as const;
export type Collection = (typeof COLLECTIONS)[number];

/** Any stored document: a JSON object with a string `_id`, extra fields kept as they are. */
export interface StoredDocument {
  readonly _id: string;
  readonly [field: string]: unknown;
}

/** A user (`users`). */
export interface UserDocument extends StoredDocument {
  readonly name?: string;
  readonly email?: string;
}

/** A contact (`contacts`); `image` is a URL. */
export interface ContactDocument extends StoredDocument {
  readonly name?: string;
  readonly email?: string;
  readonly phone?: string;
  readonly image?: string;
}

/** A message (`communications`); `sent_by` is a contact id (INCOMING) or a user id (any other type). */
export interface CommunicationDocument extends StoredDocument {
  /** INCOMING or OUTGOING, or another type the user's MongoDB holds. */
  readonly type?: string;
  /** Missing from a message nobody sent (a system message). */
  readonly sent_by?: string | null;
  readonly conversation_id: readonly string[];
  /** A date string, or epoch milliseconds. */
  readonly createdAt?: string | number | null;
}

/** A conversation (`conversationprospects`). */
export interface ConversationDocument extends StoredDocument {
  readonly title?: string | null;
  readonly image?: readonly string[] | null;
  readonly contact_id?: string | null;
  readonly users: readonly string[];
  /** `{ "<userId>": n }`; a user missing from the map has 0 unread messages. */
  readonly unread_count?: Readonly<Record<string, unknown>> | null;
  readonly is_open?: boolean;
  /** The id of a communication. */
  readonly last_activity?: string | null;
}

/** The document type of each collection. */
export interface DocumentOf {
  users: UserDocument;
  contacts: ContactDocument;
  conversationprospects: ConversationDocument;
  communications: CommunicationDocument;
}

/** Documents to import, by collection (collections may be missing). */
export type ImportBatch = { readonly [C in Collection]?: readonly DocumentOf[C][] };

/** What an import did to one collection. */
export interface ImportCount {
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
}

/** What an import did, by collection (only the collections the batch named). */
export type ImportCounts = { [C in Collection]?: ImportCount };

/** The database cannot be reached or did not answer in time; retrying later may succeed. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * A stored document that cannot reach clients as it is: nested deeper than JSON_MAX_DEPTH, or holding
 * a number JSON would change (written by something other than the importer, which refuses both).
 */
export class UnsendableDocumentError extends Error {
  constructor(
    readonly collection: Collection,
    readonly id: string,
    readonly problem: JsonProblem,
  ) {
    const where = problem.path === '' ? 'the document' : `field ${shortPath(problem.path)}`;
    super(`Stored document ${collection} "${id}" cannot be sent as it is: ${where} ${problem.reason}; correct it in the database`);
    this.name = 'UnsendableDocumentError';
  }
}

/** Parses a stored document's JSON text; throws UnsendableDocumentError rather than return what could not be sent as it is. */
export function readDocument<C extends Collection>(collection: C, id: string, text: string, maxDepth: number): DocumentOf[C] {
  // JSON.parse does not recurse; what would (the payload builders, the encoders) runs after the check.
  const document = JSON.parse(text) as DocumentOf[C];
  const problem = findJsonProblem(text, maxDepth, '');
  if (problem !== undefined) throw new UnsendableDocumentError(collection, id, problem);
  return document;
}

/**
 * A stored document as an import compares it: null when it could not be sent as it is, so that
 * importing a correct version replaces it.
 */
export function readForImport(text: string, maxDepth: number): StoredDocument | null {
  const document = JSON.parse(text) as StoredDocument;
  return findJsonProblem(text, maxDepth, '') === undefined ? document : null;
}

/** Where documents live. */
export interface Store {
  /** `sqlite` or `postgres`, and where (with any password masked), for logs and the CLI. */
  readonly description: string;
  /**
   * The documents of one collection with these ids, fetched in ONE query; ids not found are absent
   * from the map. Rejects with StoreUnavailableError when the database is unreachable, and with
   * UnsendableDocumentError when a document found cannot be sent as it is (readDocument).
   */
  find<C extends Collection>(collection: C, ids: readonly string[]): Promise<Map<string, DocumentOf[C]>>;
  /** Upserts every document by `_id` in one transaction: all or nothing. */
  importDocuments(batch: ImportBatch): Promise<ImportCounts>;
  /** Resolves when the database answers (and its schema is up to date); for `/readyz`. */
  ping(): Promise<void>;
  /** Releases connections; the store is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * Splits one collection's incoming documents into those to write and a count, against the
 * documents already stored: an import that changes nothing writes nothing. The incoming documents
 * are checked (JSON_MAX_DEPTH), so the comparison's recursion is bounded however deep a stored one is. A document repeated in
 * the batch counts once, its last version winning (as `mongoimport --mode=upsert` does).
 */
export function planUpserts<D extends StoredDocument>(
  incoming: readonly D[],
  existing: ReadonlyMap<string, StoredDocument | null>,
): { writes: D[]; count: ImportCount } {
  const latest = new Map<string, D>();
  for (const document of incoming) {
    latest.delete(document._id);
    latest.set(document._id, document);
  }
  const writes: D[] = [];
  let inserted = 0;
  let updated = 0;
  for (const document of latest.values()) {
    const stored = existing.get(document._id);
    if (stored === undefined) inserted++;
    // A stored document the routes refuse (null) is replaced, whatever it holds.
    else if (stored === null || !isDeepStrictEqual(stored, document)) updated++;
    else continue;
    writes.push(document);
  }
  return { writes, count: { inserted, updated, unchanged: latest.size - inserted - updated } };
}
