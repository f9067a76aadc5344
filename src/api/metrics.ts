/** Schema of the Prometheus endpoint. */
import { Type } from 'typebox';
import { ErrorReply, PUBLIC } from './common.js';

/** `GET /metrics`; `isPublic` when `METRICS_PUBLIC=true`, otherwise it takes the API key. */
export function metricsSchema(isPublic: boolean) {
  return {
    summary: "This node's metrics in Prometheus text format",
    description:
      'Sockets per namespace, users, connections and refusals, emits by route and outcome, sockets reached, HTTP latency, event-loop delay and dependency state. ' +
      'Takes the API key as `x-api-key` or as `Authorization: Bearer <key>` (what Prometheus sends), unless METRICS_PUBLIC=true.',
    operationId: 'metrics',
    tags: ['Operations'],
    ...(isPublic ? { security: PUBLIC } : { security: [{ apiKey: [] }, { bearer: [] }] }),
    response: {
      200: {
        description: 'Prometheus text exposition format 0.0.4',
        content: { 'text/plain': { schema: Type.String({ examples: ['general_socket_sockets{namespace="/v1/shared"} 3\n'] }) } },
      },
      401: ErrorReply,
      403: ErrorReply,
    },
  };
}
