/**
 * Which workers hold each user, as a `WORKERS` worker knows it: a copy of the primary's directory
 * (workers.ts) kept by the changes the primary sends every worker, so that routing an emit asks
 * nothing over IPC. Asking cost each emit a round trip through the primary, and each hop a wake-up
 * of another process: WORKERS=2 made 0.19× the requests of one process.
 *
 * A copy lags the primary by one message. A socket that connects on another worker just before an
 * emit may not be listed yet, as it may not be in the primary's own directory yet when a question
 * is asked: with streams on, its cursor reads the stream when it attaches and finds the event there
 * (routing.ts says when it does not); with streams off, an event reaches the sockets listed when it
 * is routed, as Socket.IO's own broadcast reaches the sockets in a room when it is sent.
 */

import { groupByNode } from './directory.js';

/** The nodes holding each user, for the nodes this copy was told of. */
export class Placements {
  private readonly nodesOf = new Map<string, readonly string[]>();

  /** `nodeId` now holds (`held`) or no longer holds `userId`. */
  place(userId: string, nodeId: string, held: boolean): void {
    const nodes = this.nodesOf.get(userId) ?? [];
    const at = nodes.indexOf(nodeId);
    if (held && at === -1) this.nodesOf.set(userId, nodes.concat([nodeId]));
    else if (!held && at !== -1) {
      if (nodes.length === 1) this.nodesOf.delete(userId);
      else
        this.nodesOf.set(
          userId,
          nodes.filter((node) => node !== nodeId),
        );
    }
  }

  /** Everything `nodeId` held is gone. */
  dropNode(nodeId: string): void {
    for (const [userId, nodes] of this.nodesOf) if (nodes.includes(nodeId)) this.place(userId, nodeId, false);
  }

  /** Replaces the whole copy with `byNode` (each node with the users it holds). */
  replace(byNode: readonly (readonly [string, readonly string[]])[]): void {
    this.nodesOf.clear();
    for (const [nodeId, userIds] of byNode) for (const userId of userIds) this.place(userId, nodeId, true);
  }

  /** The users of `userIds` each node holds (only nodes holding some appear). */
  nodesHolding(userIds: readonly string[]): Map<string, string[]> {
    return groupByNode(userIds, (userId) => this.nodesOf.get(userId) ?? []);
  }
}
