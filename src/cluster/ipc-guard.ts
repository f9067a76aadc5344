/**
 * The last guard of the WORKERS primary. It reads every worker message with Node's IPC deserialiser,
 * which recurses and, past about 1,950 levels of nested objects (Node 20), throws where nothing can
 * catch it: the primary exits and every worker with it. What enters the gateway is bounded long
 * before (JSON_MAX_DEPTH, at most 512); this guard is for any path that forgets: a worker never
 * sends its primary a message nested deeper than MAX_IPC_DEPTH. Such a message is dropped (its sender
 * hears an error, as for a closed channel) and a process warning says so.
 */
import { valueNestsDeeperThan } from '../json-limits.js';

/** Twice the deepest value inputs may hold, with room for the messages' own levels; half the overflow. */
export const MAX_IPC_DEPTH = 1024;

let guarded = false;

/** Messages to the primary already checked, with what they hold (ipc-turns.ts's turns): not walked twice. */
const vouched = new WeakSet<object>();

/**
 * The error a message nested deeper than `limit` is refused with (and a process warning says so), or
 * undefined when it is not. The message says MAX_IPC_DEPTH, the depth the primary reads it at.
 */
function refusal(message: unknown, limit: number): RangeError | undefined {
  if (!valueNestsDeeperThan(message, limit)) return undefined;
  const error = new RangeError(`a message to the primary process nests deeper than ${MAX_IPC_DEPTH} levels; it was not sent`);
  process.emitWarning(error.message, { code: 'GENERAL_SOCKET_IPC_DEPTH' });
  return error;
}

/**
 * Checks a message that will travel to the primary inside a turn (ipc-turns.ts: two levels of its
 * own around each message): the error it must be refused with, or undefined.
 */
export function refusedByPrimary(message: unknown): RangeError | undefined {
  return refusal(message, MAX_IPC_DEPTH - 2);
}

/** Marks a turn whose every message `refusedByPrimary` passed, so the guard does not walk it again. */
export function vouch(turn: object): void {
  vouched.add(turn);
}

/** In a worker: refuses, before serialising, messages to the primary nested deeper than MAX_IPC_DEPTH. */
export function guardPrimaryChannel(): void {
  if (guarded || process.send === undefined) return;
  guarded = true;
  const send = process.send.bind(process);
  process.send = ((message: unknown, ...rest: unknown[]) => {
    const error = typeof message === 'object' && message !== null && vouched.has(message) ? undefined : refusal(message, MAX_IPC_DEPTH);
    if (error === undefined) return (send as (...args: unknown[]) => boolean)(message, ...rest);
    const callback = rest.find((arg): arg is (error: Error) => void => typeof arg === 'function');
    if (callback) process.nextTick(callback, error);
    return false;
  }) as typeof process.send;
}
