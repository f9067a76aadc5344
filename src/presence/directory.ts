/**
 * The user directory: which gateway node holds sockets of which user (how many, since when), and
 * which node holds each lead-finder scraper socket, for the whole cluster. Three implementations sit
 * behind this port:
 *
 * - memory (memory.ts): a standalone gateway, and the primary process of `WORKERS=n` without Redis,
 *   which holds the directory of its workers (workers.ts);
 * - redis (redis.ts): every node of a Redis cluster, with leases so that a dead node stops counting.
 *
 * A node tells the directory what it holds, one user or scraper at a time (`hold*`, fire and forget,
 * O(1)); the directory decides the transitions (a user's first socket anywhere, their last one gone
 * for longer than the grace delay) once for the whole cluster and reports each to exactly one node,
 * which sends the webhook.
 */

/** What the directory knows of one user, cluster-wide. */
export interface UserPresence {
  /** Sockets of the user on every node that holds some. */
  readonly sockets: number;
  /**
   * When the user came online (ms since the epoch): their first socket after being offline. A socket
   * that comes back within the offline grace delay keeps it. Undefined when the user is offline.
   */
  readonly since: number | undefined;
}

/** A change the whole cluster sees once: the node it is reported to sends the webhook. */
export type Transition =
  | { readonly kind: 'user.online'; readonly userId: string; readonly at: number }
  | { readonly kind: 'user.offline'; readonly userId: string; readonly at: number; readonly since: number | undefined }
  | { readonly kind: 'scraper.connected'; readonly socketId: string; readonly at: number }
  | { readonly kind: 'scraper.disconnected'; readonly socketId: string; readonly at: number };

/** What this node holds, for a directory that must register it again (after losing Redis). */
export interface Holdings {
  /** Sockets per user on this node. */
  readonly users: ReadonlyMap<string, number>;
  /** Scraper socket ids on this node. */
  readonly scrapers: ReadonlySet<string>;
}

/** The directory as one gateway node uses it. */
export interface PresenceDirectory {
  /** Which implementation: shown in `/stats` and the logs. */
  readonly kind: 'memory' | 'redis' | 'workers';
  /**
   * This node's id in the directory: what `nodesHolding` answers, and the id the cluster bus's link
   * reaches this node by (the bus chooses it: with Redis, a random id per gateway instance).
   */
  readonly nodeId: string;
  /**
   * This node now holds `sockets` sockets of `userId` (0: none). Resolves once the directory holds it
   * (Redis: once the write ran; memory and WORKERS: at once), never rejects; a failure is repaired later.
   */
  holdUser(userId: string, sockets: number): Promise<void>;
  /** This node now holds (or no longer holds) scraper socket `socketId`. */
  holdScraper(socketId: string, held: boolean): void;
  /** Presence of each user, cluster-wide; undefined when the directory cannot be read (Redis down). */
  users(userIds: readonly string[]): Promise<ReadonlyMap<string, UserPresence> | undefined>;
  /**
   * The nodes holding sockets of each of `userIds` (only users with a socket appear), or `unknown`
   * when the directory cannot be read: a caller must then ask every node.
   */
  nodesHolding(userIds: readonly string[]): Promise<ReadonlyMap<string, readonly string[]> | 'unknown'>;
  /**
   * Whether `nodesHolding` can be trusted to list every node that holds a user: false while this
   * node's own connection to the directory is new (it and every node that lost Redis with it may
   * not have registered what they hold yet). Routing asks every node meanwhile.
   */
  settled(): boolean;
  /** The node holding scraper socket `socketId` (undefined: none does), or `unknown` when the directory cannot be read. */
  nodeHoldingScraper(socketId: string): Promise<string | undefined | 'unknown'>;
  /** Users online cluster-wide (counted at each transition, so reading it is O(1)); undefined when unreadable. */
  online(): Promise<number | undefined>;
  /** Calls `listener` for each transition reported to this node. */
  onTransition(listener: (transition: Transition) => void): void;
  /** Stops renewing; what this node held is released (other nodes see its users leave). */
  close(): Promise<void>;
}

/** Calls every listener with `transition`; a listener that throws does not stop the others. */
export function notify(listeners: readonly ((transition: Transition) => void)[], transition: Transition, onError: (error: unknown) => void): void {
  for (const listener of listeners) {
    try {
      listener(transition);
    } catch (error) {
      onError(error);
    }
  }
}

/**
 * The users of `userIds` each node holds, as `nodesHolding` answers (only nodes holding some appear),
 * from the nodes holding each user (`nodesOf`, given the user and its index in `userIds`).
 */
export function groupByNode(userIds: readonly string[], nodesOf: (userId: string, index: number) => Iterable<string>): Map<string, string[]> {
  const byNode = new Map<string, string[]>();
  userIds.forEach((userId, index) => {
    for (const nodeId of nodesOf(userId, index)) {
      const list = byNode.get(nodeId);
      if (list) list.push(userId);
      else byNode.set(nodeId, [userId]);
    }
  });
  return byNode;
}
