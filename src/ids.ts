/**
 * The rule every id follows (user id, socket id, document id), wherever it comes from: the REST
 * API's schemas (api/common.ts) and the import files (store/import-file.ts) both read it here, so
 * an imported document holds exactly the ids the API accepts.
 */

/** Longest accepted id, in characters (code points). */
export const MAX_ID_LENGTH = 128;

/** What an id may hold: anything but whitespace and control characters, C1 included (JSON Schema `pattern`). */
export const ID_PATTERN = '^[^\\s\\u0000-\\u001F\\u007F-\\u009F]+$';
