/**
 * A Set for the many that hold one or two members for life: Socket.IO's in-memory adapter keeps,
 * for each socket, the Set of its rooms (its own id's and its user's), and for each room the Set of
 * its sockets (a room named by a socket's id has one; a user's room, one per tab). A V8 Set starts
 * with a table of its own (about 190 bytes with the Set); this keeps up to two members in fields
 * and moves to a real Set at the third, so behaviour, order of iteration included, is a Set's.
 */
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

/** A Set treats -0 as +0 (SameValueZero); Object.is does not. */
const normalize = <T>(member: T): T => (Object.is(member, -0) ? (0 as T) : member);
