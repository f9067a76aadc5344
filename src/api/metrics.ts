/** Schema of the Prometheus endpoint. */
import { Type } from 'typebox';

/** `GET /metrics`; it takes the API key unless `METRICS_PUBLIC=true`. */
export const Metrics = {
  summary: "This node's metrics in Prometheus text format",
  description:
    'Sockets per namespace, users, connections and refusals, emits by route and outcome, sockets reached, HTTP latency, event-loop delay and dependency state. ' +
    'Takes the API key as `x-api-key` or as `Authorization: Bearer <key>` (what Prometheus sends), unless METRICS_PUBLIC=true.',
  tags: ['Operations'],
  response: {
    200: {
      description: 'Prometheus text exposition format 0.0.4',
      content: { 'text/plain': { schema: Type.String({ examples: ['general_socket_sockets{namespace="/v1/shared"} 3\n'] }) } },
    },
  },
};
