/**
 * MongoDB Extended JSON (as `mongoexport` writes it, relaxed or canonical) turned into plain JSON:
 * `{"$oid": "…"}` becomes the id string, `{"$date": …}` an ISO date string, `{"$numberInt": "5"}`
 * and friends numbers. Other `$` wrappers (binary data, timestamps, ...) are kept as they are.
 */

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

/** Returns `value` with every Extended JSON wrapper it understands replaced by plain JSON. */
export function fromExtendedJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromExtendedJson);
  if (value === null || typeof value !== 'object') return value;
  const wrapper = single(value as Record<string, unknown>);
  if (wrapper !== undefined) {
    const [key, content] = wrapper;
    switch (key) {
      case '$oid':
        if (typeof content !== 'string') throw new ExtendedJsonError(`{"$oid": ...} must hold a string, got ${JSON.stringify(content)}`);
        return content;
      case '$date':
        return dateOf(content);
      case '$numberInt':
      case '$numberLong':
      case '$numberDouble': {
        const number = Number(content);
        if (typeof content !== 'string' || (Number.isNaN(number) && content !== 'NaN')) {
          throw new ExtendedJsonError(`{"${key}": ${JSON.stringify(content)}} is not a number`);
        }
        // JSON has no Infinity or NaN; keep them as the strings MongoDB wrote.
        return Number.isFinite(number) ? number : content;
      }
      case '$numberDecimal':
        // Decimal128 does not fit a JS number without losing digits; the string keeps them.
        return typeof content === 'string' ? content : value;
    }
  }
  // fromEntries defines own properties, so a "__proto__" key stays data and sets no prototype.
  return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, fromExtendedJson(field)]));
}
