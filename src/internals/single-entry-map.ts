/**
 * A Map for the many that hold one entry for life: Socket.IO gives each connection a Map of its
 * sockets and one of its namespaces, and each socket a Map of the acknowledgements it waits for,
 * and an idle connection keeps all three with one entry or none. A V8 Map starts with a table of
 * its own (about 190 bytes with the Map); this keeps one entry in two fields and moves to a real
 * Map at the second, so behaviour, order of iteration included, is a Map's.
 */
export class SingleEntryMap<K, V> implements Map<K, V> {
  // One entry while `full` (no Map yet); every entry in `map` once a second one came.
  private key: K | undefined = undefined;
  private value: V | undefined = undefined;
  private full = false;
  private map: Map<K, V> | undefined = undefined;

  /** A map of `source`'s entries. */
  constructor(source?: Iterable<readonly [K, V]>) {
    if (source) for (const [key, value] of source) this.set(key, value);
  }

  get size(): number {
    return this.map ? this.map.size : this.full ? 1 : 0;
  }

  get(key: K): V | undefined {
    if (this.map) return this.map.get(key);
    return this.full && Object.is(normalize(this.key), normalize(key)) ? this.value : undefined;
  }

  has(key: K): boolean {
    if (this.map) return this.map.has(key);
    return this.full && Object.is(normalize(this.key), normalize(key));
  }

  set(key: K, value: V): this {
    if (this.map) {
      this.map.set(key, value);
    } else if (!this.full || Object.is(normalize(this.key), normalize(key))) {
      // A Map keeps the key it was first given: +0 stays +0 when -0 is set again.
      if (!this.full) this.key = normalize(key);
      this.value = value;
      this.full = true;
    } else {
      this.map = new Map([[this.key as K, this.value as V]]);
      this.map.set(key, value);
      this.key = this.value = undefined;
      this.full = false;
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.map) return this.map.delete(key);
    if (!this.has(key)) return false;
    this.clear();
    return true;
  }

  clear(): void {
    this.map?.clear();
    this.key = this.value = undefined;
    this.full = false;
  }

  forEach(callback: (value: V, key: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this) callback.call(thisArg, value, key, this);
  }

  *entries(): MapIterator<[K, V]> {
    if (this.map) return yield* this.map.entries();
    if (this.full) yield [this.key as K, this.value as V];
  }

  *keys(): MapIterator<K> {
    for (const [key] of this) yield key;
  }

  *values(): MapIterator<V> {
    for (const [, value] of this) yield value;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'Map';
  }
}

/** A Map treats -0 as +0 (SameValueZero); Object.is does not. */
const normalize = <K>(key: K): K => (Object.is(key, -0) ? (0 as K) : key);
