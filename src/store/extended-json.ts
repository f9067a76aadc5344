/**
 * MongoDB Extended JSON (as `mongoexport` writes it, relaxed or canonical) turned into plain JSON:
 * `{"$oid": "…"}` becomes the id string, `{"$date": …}` an ISO date string, `{"$numberInt": "5"}`
 * and friends numbers. Other `$` wrappers (binary data, timestamps, ...) are kept as they are.
 * A number that JSON cannot carry as it is (a `$numberLong` past 2^53, `-0.0`) is refused, not rounded.
 */
import { numberProblem } from '../json-limits.js';

/** Thrown with a message naming the value that could not be read. */
export class ExtendedJsonError extends Error {}

const single = (value: Record<string, unknown>): [string, unknown] | undefined => {
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0]!.startsWith('$') ? [keys[0]!, value[keys[0]!]] : undefined;
};

/** Converts `{"$date": ...}`'s content (ISO string, epoch milliseconds, or `{"$numberLong": "ms"}`) to an ISO string. */
function dateOf(content: unknown): string {
  let input: unknown = content;
  if (input !== null && typeof input === 'object') {
    const inner = single(input as Record<string, unknown>);
    if (inner?.[0] === '$numberLong' && typeof inner[1] === 'string') input = Number(inner[1]);
  }
  const date = typeof input === 'string' || typeof input === 'number' ? new Date(input) : new Date(NaN);
  if (Number.isNaN(date.getTime())) throw new ExtendedJsonError(`{"$date": ${JSON.stringify(content)}} is not a valid date`);
  return date.toISOString();
}

/** `path` as the start of a message: `field a.b: ` (nothing for the document itself). */
const at = (path: string): string => (path === '' ? '' : `field ${path}: `);
const child = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

/**
 * Returns `value` with every Extended JSON wrapper it understands replaced by plain JSON; `path` names
 * the value in messages. Recursive: callers bound the depth first (JSON_MAX_DEPTH).
 */
export function fromExtendedJson(value: unknown, path = ''): unknown {
  if (Array.isArray(value)) return value.map((item, index) => fromExtendedJson(item, `${path}[${index}]`));
  if (value === null || typeof value !== 'object') return value;
  const wrapper = single(value as Record<string, unknown>);
  if (wrapper !== undefined) {
    const [key, content] = wrapper;
    switch (key) {
      case '$oid':
        if (typeof content !== 'string') throw new ExtendedJsonError(`${at(path)}{"$oid": ...} must hold a string, got ${JSON.stringify(content)}`);
        return content;
      case '$date':
        try {
          return dateOf(content);
        } catch (error) {
          throw new ExtendedJsonError(`${at(path)}${(error as Error).message}`);
        }
      case '$numberInt':
      case '$numberLong':
      case '$numberDouble': {
        const number = Number(content);
        if (typeof content !== 'string' || (Number.isNaN(number) && content !== 'NaN')) {
          throw new ExtendedJsonError(`${at(path)}{"${key}": ${JSON.stringify(content)}} is not a number`);
        }
        const problem = numberProblem(content);
        if (problem !== undefined)
          throw new ExtendedJsonError(
            `${at(path)}{"${key}": ${JSON.stringify(content)}} ${problem}; import it as {"$numberDecimal": ...} to keep it as a string`,
          );
        // JSON has no Infinity or NaN; keep them as the strings MongoDB wrote.
        return Number.isFinite(number) ? number : content;
      }
      case '$numberDecimal':
        // Decimal128 does not fit a JS number without losing digits; the string keeps them.
        return typeof content === 'string' ? content : value;
    }
  }
  // fromEntries defines own properties, so a "__proto__" key stays data and sets no prototype.
  return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, fromExtendedJson(field, child(path, key))]));
}
