/**
 * Collections for the many that hold one or two entries for life. Socket.IO gives each connection a
 * Map of its sockets and one of its namespaces, and each socket a Map of the acknowledgements it
 * waits for; its in-memory adapter keeps, for each socket, the Set of its rooms (its own id's and its
 * user's), and for each room the Set of its sockets (a room named by a socket's id has one; a user's
 * room, one per tab). A V8 Map or Set starts with a table of its own (about 190 bytes with the
 * object); these keep their entries in fields and move them to a real Map or Set once there are
 * more, so behaviour, order of iteration included, is a Map's or a Set's (socket-io.ts puts them in
 * place).
 */

/** A Map and a Set treat -0 as +0 (SameValueZero); Object.is does not. */
const normalize = <T>(key: T): T => (Object.is(key, -0) ? (0 as T) : key);

/** A Map of one entry in two fields, a real Map from the second. */
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

  /** Whether the one entry (no Map yet) is `key`'s; the entry's key is kept normalized. */
  private holds(key: K): boolean {
    return this.full && Object.is(this.key, normalize(key));
  }

  get(key: K): V | undefined {
    if (this.map) return this.map.get(key);
    return this.holds(key) ? this.value : undefined;
  }

  has(key: K): boolean {
    if (this.map) return this.map.has(key);
    return this.holds(key);
  }

  set(key: K, value: V): this {
    if (this.map) {
      this.map.set(key, value);
    } else if (!this.full || this.holds(key)) {
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

/** A Set of up to two members in fields, a real Set from the third. */
export class SmallSet<T> implements Set<T> {
  // `count` members in `first` and `second` (no Set yet); every member in `set` once a third came.
  private first: T | undefined = undefined;
  private second: T | undefined = undefined;
  private count = 0;
  private set: Set<T> | undefined = undefined;

  /** A set of `source`'s members. */
  constructor(source?: Iterable<T>) {
    if (source) for (const member of source) this.add(member);
  }

  get size(): number {
    return this.set ? this.set.size : this.count;
  }

  has(member: T): boolean {
    if (this.set) return this.set.has(member);
    const key = normalize(member);
    return (this.count > 0 && Object.is(this.first, key)) || (this.count > 1 && Object.is(this.second, key));
  }

  add(member: T): this {
    if (this.set) {
      this.set.add(member);
    } else if (!this.has(member)) {
      const key = normalize(member);
      if (this.count === 0) this.first = key;
      else if (this.count === 1) this.second = key;
      else {
        this.set = new Set([this.first as T, this.second as T, key]);
        this.first = this.second = undefined;
        this.count = 0;
        return this;
      }
      this.count++;
    }
    return this;
  }

  delete(member: T): boolean {
    if (this.set) return this.set.delete(member);
    if (!this.has(member)) return false;
    // The second moves up: the remaining member keeps its place in the order.
    if (Object.is(this.first, normalize(member))) this.first = this.second;
    this.second = undefined;
    this.count--;
    if (this.count === 0) this.first = undefined;
    return true;
  }

  clear(): void {
    this.set?.clear();
    this.first = this.second = undefined;
    this.count = 0;
  }

  forEach(callback: (value: T, key: T, set: Set<T>) => void, thisArg?: unknown): void {
    for (const member of this) callback.call(thisArg, member, member, this);
  }

  *values(): SetIterator<T> {
    if (this.set) return yield* this.set.values();
    // Read as it goes, as a Set's iterator does: a member deleted meanwhile is not visited.
    if (this.count > 0) {
      const second = this.second;
      const hadTwo = this.count > 1;
      yield this.first as T;
      if (hadTwo && this.has(second as T)) yield second as T;
    }
  }

  keys(): SetIterator<T> {
    return this.values();
  }

  *entries(): SetIterator<[T, T]> {
    for (const member of this) yield [member, member];
  }

  [Symbol.iterator](): SetIterator<T> {
    return this.values();
  }

  get [Symbol.toStringTag](): string {
    return 'Set';
  }
}
