/**
 * The directory in one process's memory. A standalone gateway uses it for itself (one node); the
 * primary process of `WORKERS=n` without Redis holds one for all its workers (workers.ts), each
 * worker a node, so that transitions are decided in one place. Everything here is synchronous, so a
 * transition is decided exactly once.
 */
import { groupByNode, type PresenceDirectory, type Transition, type UserPresence } from './directory.js';

/** The sockets one node holds of a user. */
interface NodeSockets {
  readonly nodeId: string;
  sockets: number;
}

interface UserEntry {
  /**
   * Sockets per node holding the user: a list, since a user is almost always on one node or a few
   * (a Map would cost each online user some 200 bytes more). Replaced on change, by `concat`, which
   * sizes it exactly (a spread or a push would leave room for 16).
   */
  nodes: NodeSockets[];
  sockets: number;
  /** Set from the online transition to the offline one. */
  since: number | undefined;
  /** Pending offline transition, during the grace delay. */
  leaving: NodeJS.Timeout | undefined;
  /** The node whose change settled the user last. */
  by: string;
}

/** The directory of every node of one process's view (one node standalone, the workers in a WORKERS primary). */
export class MemoryPresence {
  private readonly entries = new Map<string, UserEntry>();
  private readonly scrapers = new Map<string, string>();
  private readonly listeners: ((transition: Transition, nodeId: string) => void)[] = [];
  private announced = 0;

  constructor(
    private readonly graceMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** `listener` learns each transition and the node whose change made it (the one that let go last, for an offline). */
  onTransition(listener: (transition: Transition, nodeId: string) => void): void {
    this.listeners.push(listener);
  }

  holdUser(nodeId: string, userId: string, sockets: number): void {
    let entry = this.entries.get(userId);
    if (entry === undefined) {
      if (sockets <= 0) return;
      entry = { nodes: [], sockets: 0, since: undefined, leaving: undefined, by: nodeId };
      this.entries.set(userId, entry);
    }
    const held = entry.nodes.find((node) => node.nodeId === nodeId);
    const before = held?.sockets ?? 0;
    if (sockets <= 0) entry.nodes = entry.nodes.filter((node) => node !== held);
    else if (held) held.sockets = sockets;
    else entry.nodes = entry.nodes.concat([{ nodeId, sockets }]);
    entry.sockets += Math.max(sockets, 0) - before;
    entry.by = nodeId;
    this.settle(userId, entry);
  }

  holdScraper(nodeId: string, socketId: string, held: boolean): void {
    const at = Date.now();
    if (held && !this.scrapers.has(socketId)) {
      this.scrapers.set(socketId, nodeId);
      this.emit({ kind: 'scraper.connected', socketId, at }, nodeId);
    } else if (!held && this.scrapers.get(socketId) === nodeId) {
      this.scrapers.delete(socketId);
      this.emit({ kind: 'scraper.disconnected', socketId, at }, nodeId);
    }
  }

  /** Everything `nodeId` held is gone (a worker died or a node closed). */
  dropNode(nodeId: string): void {
    for (const [userId, entry] of this.entries) if (entry.nodes.some((node) => node.nodeId === nodeId)) this.holdUser(nodeId, userId, 0);
    for (const [socketId, holder] of this.scrapers) if (holder === nodeId) this.holdScraper(nodeId, socketId, false);
  }

  user(userId: string): UserPresence {
    const entry = this.entries.get(userId);
    return { sockets: entry?.sockets ?? 0, since: entry?.since };
  }

  nodesHolding(userIds: readonly string[]): Map<string, string[]> {
    return groupByNode(userIds, (userId) => (this.entries.get(userId)?.nodes ?? []).map((node) => node.nodeId));
  }

  /** Whether `nodeId` holds a socket of `userId`. */
  holds(nodeId: string, userId: string): boolean {
    return this.entries.get(userId)?.nodes.some((node) => node.nodeId === nodeId) ?? false;
  }

  /** Every node with the users it holds. */
  placements(): Map<string, string[]> {
    return this.nodesHolding([...this.entries.keys()]);
  }

  scraperNode(socketId: string): string | undefined {
    return this.scrapers.get(socketId);
  }

  online(): number {
    return this.announced;
  }

  /** Stops the grace timers; users still announced go offline now (nobody will hold them any more). */
  close(): void {
    for (const [userId, entry] of this.entries) {
      clearTimeout(entry.leaving);
      if (entry.since !== undefined) this.goOffline(userId, entry);
    }
    this.entries.clear();
    for (const [socketId, nodeId] of this.scrapers) this.holdScraper(nodeId, socketId, false);
  }

  private settle(userId: string, entry: UserEntry): void {
    if (entry.sockets > 0) {
      clearTimeout(entry.leaving);
      entry.leaving = undefined;
      if (entry.since === undefined) {
        entry.since = Date.now();
        this.announced++;
        this.emit({ kind: 'user.online', userId, at: entry.since }, entry.by);
      }
      return;
    }
    if (entry.since === undefined) {
      this.entries.delete(userId);
      return;
    }
    if (entry.leaving !== undefined) return;
    if (this.graceMs === 0) {
      this.goOffline(userId, entry);
      return;
    }
    entry.leaving = setTimeout(() => {
      entry.leaving = undefined;
      if (entry.sockets === 0 && this.entries.get(userId) === entry) this.goOffline(userId, entry);
    }, this.graceMs);
  }

  private goOffline(userId: string, entry: UserEntry): void {
    this.entries.delete(userId);
    this.announced--;
    this.emit({ kind: 'user.offline', userId, at: Date.now(), since: entry.since }, entry.by);
  }

  private emit(transition: Transition, nodeId: string): void {
    for (const listener of this.listeners) {
      try {
        listener(transition, nodeId);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}

/** The standalone directory: this process is the whole gateway, one node. */
export function memoryDirectory(options: { graceMs: number; onError: (error: unknown) => void }): PresenceDirectory & { readonly state: MemoryPresence } {
  const nodeId = 'local';
  const state = new MemoryPresence(options.graceMs, options.onError);
  return {
    kind: 'memory',
    nodeId,
    state,
    holdUser: async (userId, sockets) => state.holdUser(nodeId, userId, sockets),
    holdScraper: (socketId, held) => state.holdScraper(nodeId, socketId, held),
    users: async (userIds) => new Map(userIds.map((userId) => [userId, state.user(userId)])),
    nodesHolding: async (userIds) => state.nodesHolding(userIds),
    nodeHoldingScraper: async (socketId) => state.scraperNode(socketId),
    settled: () => true,
    online: async () => state.online(),
    onTransition: (listener) => state.onTransition(listener),
    close: async () => state.close(),
  };
}
