/**
 * What a JSON value the gateway accepts may hold, checked on its raw text (a request body, a stored
 * document, an import file) in one linear pass that never recurses, before anything else walks it.
 *
 * - Depth: objects and arrays nest at most `maxDepth` levels. Socket.IO's encoder, Node's IPC
 *   serialisation (WORKERS) and the Redis adapter's msgpack all recurse, and a value nested a few
 *   thousand levels overflows their stack: with WORKERS, in the primary, which takes every worker down.
 * - Numbers: a number reaches clients as the number sent, or is refused. Clients get what
 *   JSON.stringify prints from a 64-bit float (an IEEE-754 double), so a literal that no double holds
 *   to the digits it was written with (9007199254740993, 1e400, 1e-400, 0.1000000000000000000001) or
 *   that JSON cannot print (-0) would change on the way. A literal that is its double printed with
 *   fewer or more digits than the shortest form (1.0, 1e2, 0.10000000000000001) is the same number.
 */

/** JSON_MAX_DEPTH's default: far deeper than any document or event a person designs. */
export const DEFAULT_JSON_MAX_DEPTH = 64;

/**
 * The deepest nesting JSON_MAX_DEPTH may allow. Every encoder on the way must hold it with room to
 * spare: the shallowest, Node's IPC deserialiser in the WORKERS primary, overflows near 1,950 levels
 * of objects on Node 20; events add a few levels around a payload.
 */
export const JSON_DEPTH_CEILING = 512;

/** Where a JSON text breaks a rule, and which rule. */
export interface JsonProblem {
  /** `root.field[2].other` (just `root` for the value itself). */
  readonly path: string;
  /** What is wrong, as the end of a sentence that starts with the path. */
  readonly reason: string;
}

/** A JSON value refused by a limit; the message names the value's path. */
export class JsonLimitError extends Error {
  constructor(readonly problem: JsonProblem) {
    super(`${shortPath(problem.path)} ${problem.reason}`);
    this.name = 'JsonLimitError';
  }
}

/** Parses JSON text that `findJsonProblem` finds nothing wrong with; throws JsonLimitError or JSON.parse's SyntaxError. */
export function parseBoundedJson(text: string, maxDepth: number, root: string): unknown {
  const value: unknown = JSON.parse(text);
  const problem = findJsonProblem(text, maxDepth, root);
  if (problem !== undefined) throw new JsonLimitError(problem);
  return value;
}

/** A path is named in messages; a value nested 1,000 levels must not make a 6 KB one. */
export function shortPath(path: string): string {
  return path.length <= 120 ? path : `${path.slice(0, 100)}…${path.slice(-16)}`;
}

/** One open object or array while scanning. */
interface Frame {
  readonly array: boolean;
  /** Array: index of the current item. Object: the current key's raw token (with quotes), '' before the first. */
  index: number;
  key: string;
  expectingKey: boolean;
}

const isSpace = (code: number): boolean => code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
const isNumberChar = (code: number): boolean =>
  (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x2b || code === 0x2e || code === 0x65 || code === 0x45;

/**
 * The first problem in a JSON text, or undefined. Meant for text JSON.parse accepts; on other text it
 * still ends, in one pass, and what it reports is true of the text. `root` starts every path.
 * `outerLevels` are levels of the text that hold the values to check without counting against their
 * depth (an import file's `{ "users": [ ... ] }` holds documents two levels down).
 */
export function findJsonProblem(text: string, maxDepth: number, root: string, outerLevels = 0): JsonProblem | undefined {
  const stack: Frame[] = [];
  const length = text.length;
  let i = 0;
  while (i < length) {
    const code = text.charCodeAt(i);
    if (isSpace(code)) {
      i++;
    } else if (code === 0x22 /* " */) {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (top !== undefined && !top.array && top.expectingKey) {
        top.key = text.slice(i, end);
        top.expectingKey = false;
      }
      i = end;
    } else if (code === 0x7b /* { */ || code === 0x5b /* [ */) {
      if (stack.length >= maxDepth + outerLevels)
        return { path: pathOf(stack, root), reason: `nests objects and arrays deeper than ${maxDepth} levels (JSON_MAX_DEPTH)` };
      stack.push({ array: code === 0x5b, index: 0, key: '', expectingKey: code === 0x7b });
      i++;
    } else if (code === 0x7d /* } */ || code === 0x5d /* ] */) {
      stack.pop();
      i++;
    } else if (code === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.array) top.index++;
      else if (top !== undefined) top.expectingKey = true;
      i++;
    } else if (code === 0x2d /* - */ || (code >= 0x30 && code <= 0x39)) {
      let end = i + 1;
      while (end < length && isNumberChar(text.charCodeAt(end))) end++;
      const reason = numberProblem(text.slice(i, end));
      if (reason !== undefined) return { path: pathOf(stack, root), reason };
      i = end;
    } else {
      // `:`, true, false, null, or text JSON.parse would refuse anyway.
      i++;
    }
  }
  return undefined;
}

/** The index just past the string token that starts at `start` (its opening quote). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const quote = text.indexOf('"', i);
    if (quote === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    i = quote + 1;
  }
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function pathOf(stack: readonly Frame[], root: string): string {
  let path = root;
  for (const frame of stack) {
    if (frame.array) {
      path += `[${frame.index}]`;
      continue;
    }
    let key: string;
    try {
      key = JSON.parse(frame.key) as string;
    } catch {
      key = frame.key;
    }
    path += IDENTIFIER.test(key) ? (path === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
  }
  return path;
}

/** JSON's number grammar, split into sign, integer digits, fraction digits and exponent. */
const NUMBER = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
/** Any decimal with up to 15 significant digits survives a trip through a double (DBL_DIG). */
const SAFE_DIGITS = 15;
const SMALLEST_NORMAL = 2.2250738585072014e-308;

/** A decimal's value as sign, significant digits and power of ten, so that equal values compare equal. */
function decimal(literal: string): { negative: boolean; digits: string; exponent: number } | undefined {
  const match = /^([+-]?)(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (match === null) return undefined;
  const [, sign = '', whole = '', fraction = '', power = '0'] = match;
  const all = (whole + fraction).replace(/^0+/, '');
  const digits = all.replace(/0+$/, '');
  return { negative: sign === '-', digits, exponent: Number(power) - fraction.length + (all.length - digits.length) };
}

const shown = (literal: string): string => (literal.length <= 40 ? literal : `${literal.slice(0, 37)}...`);

/** Why a number literal would not reach clients as written, or undefined when it would. */
export function numberProblem(literal: string): string | undefined {
  // The common case, without a regular expression: up to 15 characters and no exponent means at most
  // 15 significant digits of a normal double, always exact; only a negative zero is a problem there.
  if (literal.length <= SAFE_DIGITS) {
    let exponent = false;
    let nonZero = false;
    for (let k = 0; k < literal.length; k++) {
      const code = literal.charCodeAt(k);
      if (code === 0x65 || code === 0x45) exponent = true;
      else if (code >= 0x31 && code <= 0x39) nonZero = true;
    }
    if (!exponent && (nonZero || literal.charCodeAt(0) !== 0x2d)) return undefined;
  }
  // A literal that is already the shortest form of its double (a timestamp with a fraction, say)
  // reaches clients as written: JSON.stringify prints exactly that. -0 prints as 0, so it falls through.
  const value = Number(literal);
  if (String(value) === literal) return undefined;
  const match = NUMBER.exec(literal);
  // Not a JSON number: JSON.parse refuses the text, so this is not the problem to report.
  if (match === null) return undefined;
  const written = decimal(literal)!;
  if (written.digits === '') {
    return written.negative ? `is ${shown(literal)}, a negative zero, which clients would receive as 0` : undefined;
  }
  if (!Number.isFinite(value)) return `is ${shown(literal)}, beyond the range of a JSON number (a 64-bit float): clients would receive null`;
  if (value === 0) return `is ${shown(literal)}, too small for a JSON number (a 64-bit float): clients would receive 0`;
  const significant = written.digits.length;
  if (significant <= SAFE_DIGITS && Math.abs(value) >= SMALLEST_NORMAL) return undefined;
  // The literal is this double printed to its own number of digits, or it is a different number.
  const same = (printed: ReturnType<typeof decimal>): boolean =>
    printed !== undefined && printed.digits === written.digits && printed.exponent === written.exponent;
  if (significant <= 100 && same(decimal(value.toPrecision(significant)))) return undefined;
  // Or it is the shortest decimal of this double, as clients print it: when the double lies halfway
  // between two decimals of that length, toPrecision rounds up and the shortest may be the lower one.
  if (same(decimal(String(value)))) return undefined;
  return `is ${shown(literal)}, which a JSON number (a 64-bit float, exact to about 15 digits and to integers up to 2^53) cannot hold: clients would receive ${String(value)}`;
}

/**
 * Whether a value (already built, not text) nests objects and arrays deeper than `limit`; walks it
 * without recursion and stops at the first level past the limit.
 */
export function valueNestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth + 1 > limit) return true;
    // Buffers and typed arrays (sticky's connection data) hold bytes, not nested values.
    if (ArrayBuffer.isView(item)) continue;
    for (const child of Array.isArray(item) ? item : Object.values(item)) if (child !== null && typeof child === 'object') pending.push([child, depth + 1]);
  }
  return false;
}

/** Whether JSON text nests arrays and objects deeper than `max`; linear, and parses nothing. */
export function nestsDeeperThan(json: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
