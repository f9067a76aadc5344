/**
 * The one place that relies on how Node's EventEmitter keeps its listeners: in `_events`, an object
 * keyed by event name. A plain emitter's is prototype-less (`{ __proto__: null }`), which V8 keeps as a
 * hash table ("dictionary mode") from the start; a stream's (a TCP socket, `ws`'s frame reader) is an
 * object literal, in V8's compact "fast" layout until the first event whose last listener is taken
 * off turns it into a hash table. With a handful of event names such a table takes about 270 bytes,
 * and an idle connection kept four (its TCP socket, `ws`'s frame reader, Engine.IO's socket and
 * Socket.IO's); the same keys in the fast layout take about a third of that.
 * test/internals.test.ts fails if Node stops keeping listeners this way.
 */
import { EventEmitter } from 'node:events';

/**
 * The prototype of compacted plain emitters' tables: empty and frozen, so that a lookup of an event
 * name no listener has (`toString`, `__proto__`) finds nothing, as on Node's own prototype-less table.
 */
const NO_EVENTS: object = Object.freeze(Object.create(null) as object);

/**
 * Copies `emitter`'s listener table into one in V8's fast layout: same keys, same listeners, same
 * order, and lookups of other names find what they found before (nothing, or for a stream's table
 * what every object has). For emitters whose listeners are settled (an idle connection's): adding
 * listeners keeps the fast layout, and taking all of an event's listeners off turns the table back
 * into a hash table, as it was, at no other cost. Leaves a table of any other kind alone.
 */
export function compactListeners(emitter: unknown): void {
  if (!(emitter instanceof EventEmitter)) return;
  const own = emitter as unknown as { _events?: object };
  const events = own._events;
  if (events === undefined || events === null) return;
  const prototype = Object.getPrototypeOf(events) as object | null;
  if (prototype !== null && prototype !== Object.prototype) return;
  const compact = Object.create(prototype ?? NO_EVENTS) as object;
  for (const key of Reflect.ownKeys(events)) {
    const value = (events as Record<PropertyKey, unknown>)[key];
    // Assigned (the fast way, at every connect), but for an event named `__proto__`, whose assignment
    // would set the prototype.
    if (key === '__proto__') Object.defineProperty(compact, key, { value, writable: true, enumerable: true, configurable: true });
    else (compact as Record<PropertyKey, unknown>)[key] = value;
  }
  own._events = compact;
}

/** What `emitter.once` registers: a bound `onceWrapper`, with the listener it wraps as `.listener`. */
function wrappedByOnce(listener: unknown): ((...args: unknown[]) => void) | undefined {
  if (typeof listener !== 'function' || listener.name !== 'bound onceWrapper') return undefined;
  const wrapped = (listener as { listener?: unknown }).listener;
  return typeof wrapped === 'function' ? (wrapped as (...args: unknown[]) => void) : undefined;
}

/**
 * Puts the listeners that `once` registered for `event` in the place of their wrappers, for an event
 * the emitter sends at most once in its life (a connection's `close`). Each wrapper keeps a state
 * object, a bound function and that function's property table, about 150 bytes, for as long as the
 * connection stays open, and an idle connection kept four. The listener then stays registered after
 * the event, on an emitter that is done; `removeListener` with it still finds it.
 */
export function settleOnce(emitter: unknown, event: string): void {
  if (!(emitter instanceof EventEmitter)) return;
  const events = (emitter as unknown as { _events?: Record<string, unknown> })._events;
  const listeners = events?.[event];
  if (events === undefined || listeners === undefined) return;
  if (!Array.isArray(listeners)) {
    events[event] = wrappedByOnce(listeners) ?? listeners;
    return;
  }
  // In place: `emit` iterates a copy of the list, so a list being emitted is not disturbed.
  for (let i = 0; i < listeners.length; i++) listeners[i] = wrappedByOnce(listeners[i]) ?? listeners[i];
}
