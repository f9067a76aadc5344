/**
 * What a process remembers of the streams' file (streams/sqlite.ts) between its transactions: the
 * heads of the streams it appended to, so that an append (a fan-out's above all) need not read them
 * back: half of what a young fan-out's append cost (BENCHMARKS.md). They hold while no other
 * connection commits to the file, which PRAGMA data_version tells inside the write transaction
 * (another WORKERS process, or anything else opening the file, empties them), and are forgotten
 * with a batch that rolled back. Only appends remember a head: connecting sockets read heads too,
 * and an idle connection should not cost one.
 */
import type Database from 'better-sqlite3';

/** Heads kept (the oldest remembered forgotten first): about 190 bytes each with its user id. */
const REMEMBERED_HEADS = 50_000;

/** A live stream: its number, epoch, last touch and last seq. */
export interface Head {
  readonly id: number;
  readonly epoch: string;
  touched: number;
  seq: number;
}

export interface RememberedHeads {
  /** Run first in every job, inside the write transaction: forgets all when another connection committed since the last. */
  check(): void;
  /** Forgets all (a batch rolled back). */
  forget(): void;
  /** `user`'s head, when remembered and touched within the ttl; the caller updates it in place. */
  get(user: string, now: number): Head | undefined;
  set(user: string, head: Head): void;
  delete(user: string): void;
}

/**
 * The heads remembered for `db` (the streams' connection) with `ttlMs`; `forgotten` is called each
 * time they are all forgotten, when what else the connection knew of the file is stale too.
 */
export function rememberedHeads(db: Database.Database, ttlMs: number, forgotten: () => void): RememberedHeads {
  const heads = new Map<string, Head>();
  const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
  let seenVersion: number | undefined;
  const forget = (): void => {
    heads.clear();
    forgotten();
  };
  return {
    check() {
      const version = dataVersion.get()!;
      if (version !== seenVersion) forget();
      seenVersion = version;
    },
    forget,
    get(user, now) {
      const head = heads.get(user);
      return head !== undefined && head.touched > now - ttlMs ? head : undefined;
    },
    set(user, head) {
      if (heads.size >= REMEMBERED_HEADS && !heads.has(user)) heads.delete(heads.keys().next().value!);
      heads.set(user, head);
    },
    delete: (user) => heads.delete(user),
  };
}
