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
