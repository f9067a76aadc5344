/**
 * Where token revocations are kept so that every gateway node sees them and a restart forgets none:
 * Redis when the gateway is a Redis cluster (redis.ts), else a SQLite file in DATA_DIR (sqlite.ts),
 * which the processes of a `WORKERS=n` gateway share; open.ts picks one. Every entry has an end (`keepUntil`), after
 * which it is gone: the store holds at most the revocations of TOKEN_REVOCATION_TTL_SECONDS.
 */

/** What is revoked for one token. */
export interface Revocation {
  /** Tokens of the user issued before this second (seconds since 1970) are revoked. */
  readonly userRevokedAt?: number;
  /** The token's own `jti` is revoked. */
  readonly tokenRevoked: boolean;
}

/** A revocation as it is kept and as it crosses between nodes. */
export type RevocationEntry =
  | { readonly kind: 'user'; readonly userId: string; readonly revokedAt: number; readonly keepUntil: number }
  | { readonly kind: 'token'; readonly jti: string; readonly keepUntil: number };

/** The revocations of one gateway. Times are seconds since 1970. */
export interface RevocationStore {
  /** Where the revocations are, for the start-up log. */
  readonly description: string;
  /** Keeps a revocation until its `keepUntil`; a user's later revocation wins over an earlier one. Rejects when it cannot be stored. */
  add(entry: RevocationEntry): Promise<void>;
  /** What is revoked for a user's token; rejects when the store cannot be read. */
  lookup(userId: string, jti: string | undefined): Promise<Revocation>;
  /** Remembers a revocation another node stored, for when the store cannot be read (Redis down). */
  remember(entry: RevocationEntry): void;
  close(): Promise<void>;
}

/** Most revocations a node remembers beside its store (oldest forgotten first). */
const MEMORY_ENTRIES = 100_000;

/**
 * The revocations a node has seen, bounded in number and time: what it decides from while its store
 * cannot be read, so that an outage does not let back in the users it knows were revoked.
 */
export class RevocationMemory {
  private readonly users = new Map<string, { revokedAt: number; keepUntil: number }>();
  private readonly tokens = new Map<string, number>();

  add(entry: RevocationEntry): void {
    if (entry.kind === 'user') {
      const known = this.users.get(entry.userId);
      this.users.delete(entry.userId);
      this.users.set(entry.userId, known && known.revokedAt > entry.revokedAt ? known : { revokedAt: entry.revokedAt, keepUntil: entry.keepUntil });
      trim(this.users);
    } else {
      this.tokens.delete(entry.jti);
      this.tokens.set(entry.jti, entry.keepUntil);
      trim(this.tokens);
    }
  }

  lookup(userId: string, jti: string | undefined, now: number): Revocation {
    const user = this.users.get(userId);
    const tokenUntil = jti === undefined ? undefined : this.tokens.get(jti);
    return {
      ...(user !== undefined && user.keepUntil > now && { userRevokedAt: user.revokedAt }),
      tokenRevoked: tokenUntil !== undefined && tokenUntil > now,
    };
  }
}

function trim(map: Map<string, unknown>): void {
  if (map.size <= MEMORY_ENTRIES) return;
  const oldest = map.keys().next();
  if (!oldest.done) map.delete(oldest.value);
}

/** Seconds since 1970, now. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
