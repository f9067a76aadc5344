/**
 * Import files: a JSON object `{ users, contacts, conversationprospects, communications }` of
 * arrays, or `mongoexport` output for one collection (NDJSON, or a JSON array with `--jsonArray`).
 * Every document is converted from Extended JSON and checked before anything is written, and a
 * problem is reported with its position: `communications[2]` or `line 3`. What the routes would refuse
 * to send (a document nested deeper than JSON_MAX_DEPTH, a number JSON would change) is refused here.
 */
import { ID_PATTERN, MAX_ID_LENGTH } from '../ids.js';
import { DEFAULT_JSON_MAX_DEPTH, findJsonProblem, shortPath } from '../json-limits.js';
import { fromExtendedJson } from './extended-json.js';
import { COLLECTIONS, type Collection, type ImportBatch, type StoredDocument } from './store.js';

/** A file that cannot be imported; the message names the position and the problem. */
export class ImportError extends Error {}

/** A file that can be read only with `--collection NAME` (mongoexport output names no collection). */
export class CollectionNeededError extends ImportError {}

/** Whether `name` is a collection the store holds. */
export function isCollection(name: string): name is Collection {
  return (COLLECTIONS as readonly string[]).includes(name);
}

/** The API's id rule, so an imported document holds exactly the ids the REST API accepts. */
const ID = new RegExp(ID_PATTERN, 'u');
/** Lengths in characters (code points), as the API's schema validator counts them, not UTF-16 units. */
const length = (text: string): number => [...text].length;
const short = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};

function id(value: unknown, field: string): string {
  if (typeof value !== 'string' || length(value) > MAX_ID_LENGTH || !ID.test(value)) {
    throw new Error(`${field} must be an id (a string or {"$oid": ...} of 1 to ${MAX_ID_LENGTH} characters without whitespace), got ${short(value)}`);
  }
  return value;
}

const optionalId = (value: unknown, field: string): void => void (value === undefined || value === null || id(value, field));

function ids(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw new Error(`${field} must be an array of ids, got ${short(value)}`);
  return value.map((item, index) => id(item, `${field}[${index}]`));
}

/** A date the routes can serve as an ISO string: a date string, epoch milliseconds, or (converted) `{"$date": ...}`. */
const isDate = (value: unknown): boolean =>
  (typeof value === 'string' && !Number.isNaN(Date.parse(value))) || (typeof value === 'number' && !Number.isNaN(new Date(value).getTime()));

/**
 * Checks one converted document of `collection`; returns it, with `conversation_id` made an array.
 * It takes every document the conversation routes can serve (routes/conversations.ts and
 * conversations/payloads.ts decide how each field is served) and refuses only what they cannot.
 */
function checkDocument(collection: Collection, raw: unknown): StoredDocument {
  const document = fromExtendedJson(raw);
  if (document === null || typeof document !== 'object' || Array.isArray(document)) throw new Error(`is not a JSON object, got ${short(raw)}`);
  const fields = document as Record<string, unknown>;
  if (fields._id === undefined) throw new Error('_id is missing');
  id(fields._id, '_id');
  if (collection === 'communications') {
    // INCOMING is sent by a contact; the routes look any other type's sender up among the users.
    if (fields.type !== undefined && typeof fields.type !== 'string')
      throw new Error(`type must be a string such as "INCOMING" or "OUTGOING", got ${short(fields.type)}`);
    // A message without a sender (a system message) is served without one.
    optionalId(fields.sent_by, 'sent_by');
    // A single id where an array belongs is what an older schema wrote; it means a one-item array.
    const conversations = typeof fields.conversation_id === 'string' ? [fields.conversation_id] : fields.conversation_id;
    ids(conversations, 'conversation_id');
    if (fields.createdAt !== undefined && fields.createdAt !== null && !isDate(fields.createdAt)) {
      throw new Error(`createdAt must be a date (ISO string, epoch milliseconds or {"$date": ...}), got ${short(fields.createdAt)}`);
    }
    return { ...fields, conversation_id: conversations } as unknown as StoredDocument;
  }
  if (collection === 'conversationprospects') {
    ids(fields.users, 'users');
    optionalId(fields.contact_id, 'contact_id');
    optionalId(fields.last_activity, 'last_activity');
    const unread = fields.unread_count;
    if (unread !== undefined && unread !== null) {
      if (typeof unread !== 'object' || Array.isArray(unread)) throw new Error(`unread_count must be an object { "<userId>": n }, got ${short(unread)}`);
      for (const [user, count] of Object.entries(unread)) {
        if (typeof count !== 'number' || !Number.isFinite(count) || count < 0)
          throw new Error(`unread_count.${user} must be a number of 0 or more, got ${short(count)}`);
      }
    }
    const image = fields.image;
    if (image !== undefined && image !== null && typeof image !== 'string' && !(Array.isArray(image) && image.every((url) => typeof url === 'string'))) {
      throw new Error(`image must be a URL or an array of URLs, got ${short(image)}`);
    }
  }
  return fields as StoredDocument;
}

/** Checks a document, prefixing any problem with its position. */
function checkAt(collection: Collection, raw: unknown, position: string): StoredDocument {
  try {
    return checkDocument(collection, raw);
  } catch (error) {
    throw new ImportError(`${position}: ${(error as Error).message}`);
  }
}

/**
 * Refuses a text (already parsed) holding something the routes could not send as it is. `outerLevels`:
 * how deep in the text the documents sit (the whole-file object 2, a JSON array 1, a line 0).
 */
function checkLimits(text: string, maxDepth: number, root: string, outerLevels: number, where = ''): void {
  const problem = findJsonProblem(text, maxDepth, root, outerLevels);
  if (problem !== undefined) throw new ImportError(`${where}${problem.path === '' ? 'the document' : shortPath(problem.path)} ${problem.reason}`);
}

/**
 * Reads an import file's text. `collection` means mongoexport output for that one collection.
 * `maxDepth` is JSON_MAX_DEPTH: how deeply a document may nest objects and arrays.
 */
export function parseImportFile(text: string, collection?: Collection, maxDepth = DEFAULT_JSON_MAX_DEPTH): ImportBatch {
  const trimmed = text.trim();
  if (trimmed === '') throw new ImportError('the file is empty');
  if (collection !== undefined) {
    if (trimmed.startsWith('[')) {
      const array = parseJson(trimmed, 'the file');
      if (!Array.isArray(array)) throw new ImportError('the file is not a JSON array');
      checkLimits(trimmed, maxDepth, collection, 1);
      return { [collection]: array.map((raw, index) => checkAt(collection, raw, `${collection}[${index}]`)) };
    }
    const documents: StoredDocument[] = [];
    text.split('\n').forEach((line, index) => {
      if (line.trim() === '') return;
      const where = `line ${index + 1} (${collection})`;
      const raw = parseJson(line, `line ${index + 1}`);
      checkLimits(line, maxDepth, '', 0, `${where}: `);
      documents.push(checkAt(collection, raw, where));
    });
    return { [collection]: documents };
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch (error) {
    const firstLine = trimmed.split('\n', 1)[0] ?? '';
    const looksLikeNdjson = firstLine.length < trimmed.length && isJsonObject(firstLine);
    if (looksLikeNdjson)
      throw new CollectionNeededError('the file holds one JSON document per line (mongoexport NDJSON): name its collection with --collection NAME');
    throw new ImportError(`the file is not valid JSON: ${(error as Error).message}`);
  }
  if (Array.isArray(parsed))
    throw new CollectionNeededError('the file is a JSON array of documents (mongoexport --jsonArray): name its collection with --collection NAME');
  if (parsed === null || typeof parsed !== 'object') {
    throw new ImportError(
      `the file must be a JSON object { ${COLLECTIONS.map((c) => `"${c}": [...]`).join(', ')} }, or mongoexport output with --collection NAME`,
    );
  }
  checkLimits(trimmed, maxDepth, '', 2);
  const batch: Record<string, StoredDocument[]> = {};
  for (const [name, documents] of Object.entries(parsed)) {
    if (!isCollection(name)) throw new ImportError(`unknown collection "${name}"; the file may hold ${COLLECTIONS.join(', ')}`);
    if (!Array.isArray(documents)) throw new ImportError(`${name} must be an array of documents`);
    batch[name] = documents.map((raw, index) => checkAt(name, raw, `${name}[${index}]`));
  }
  return batch as ImportBatch;
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ImportError(`${where}: not valid JSON (${(error as Error).message})`);
  }
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  } catch {
    return false;
  }
}
