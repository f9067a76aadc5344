/**
 * Workloads 4 and 5 need parts of the gateway that no baseline has (the
 * conversation message endpoint with its stores; cluster mode with Redis).
 * They report themselves as not wired yet rather than silently vanishing
 * from the report.
 */
import type { Workload, WorkloadContext, WorkloadOutcome } from './workload.js';

function pending(name: string, title: string, method: string, missing: string): Workload {
  return {
    name,
    title,
    async run(_ctx: WorkloadContext): Promise<WorkloadOutcome> {
      return { name, title, method, tables: [], notes: [`Not measured yet: ${missing}`], failures: [], reproduce: `npm run bench -- --only ${name}` };
    },
  };
}

export const conversation = pending(
  'conversation',
  'Conversation fan-out',
  'The message endpoint for a conversation of 5 users, on the embedded store and on PostgreSQL: requests/s and p99.',
  'needs the gateway target and its conversation endpoint; PostgreSQL must be started by the harness.',
);

export const cluster = pending(
  'cluster',
  'Cluster',
  'Two gateway nodes plus Redis, users spread across both: cross-node unicast throughput against a single node.',
  'needs the gateway target with its cluster mode, and a Redis the harness starts.',
);
