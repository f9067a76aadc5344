import type { SwarmConnectOptions } from './swarm.js';

/** Messages from SwarmPool to a swarm worker. */
export type SwarmRequest = { id: number } & (
  | { op: 'connect'; options: SwarmConnectOptions }
  | { op: 'count'; event: string }
  | { op: 'reset' }
  | { op: 'report' }
  /** Starts recording event-loop delay and GC pauses, or (`stop`) ends it and answers with PauseFigures. */
  | { op: 'pauses'; stop: boolean }
  | { op: 'close' }
);

/** A worker's answer to the request with the same id. */
export type SwarmResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
