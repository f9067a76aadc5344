/**
 * Prometheus metrics (prom-client) of one gateway node, for `GET /metrics`. In a cluster each node
 * serves its own and Prometheus adds them up. Gauges are read at scrape time from the live objects
 * (Socket.IO, the readiness probes), so they cannot drift and new probes appear by themselves;
 * counters are fed where things happen: namespace events, the emitter, and an HTTP hook.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ClusterChannel } from './cluster/channel.js';
import type { Emitter } from './emitter.js';
import { toGatewayError } from './http/error-handler.js';
import { namespacesOf } from './internals/socket-io.js';
import type { Presence } from './presence/presence.js';
import { checkProbes, type ReadinessProbe } from './readiness.js';
import { socketLifecycle } from './socket-lifecycle.js';
import type { GatewayServer } from './socket-server.js';
import type { CursorObserver } from './stream-cursors.js';
import { countUsersHere } from './stats.js';

const PREFIX = 'general_socket_';

/** Seconds; from a fast local emit (~0.1 ms) to a slow dependency. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** What the rest of the gateway reports to the metrics. */
export interface Metrics {
  /** The registry `GET /metrics` renders (this gateway's metrics plus the process's). */
  readonly registry: Registry;
  /** A handshake was refused; `reason` is the code the client received (TOKEN_EXPIRED, KEY_INVALID...). */
  refused(namespace: string, reason: string): void;
  /** Wraps an emitter so that its deliveries and the sockets they reached are counted. */
  observe(emitter: Emitter): Emitter;
  /** Counts the messages from other gateway nodes that this node refused. */
  observeCluster(cluster: ClusterChannel): void;
  /** Counts how user sockets start in their streams, what they are replayed, and the gaps they are told of. */
  readonly cursors: CursorObserver;
  /** Counts presence transitions and webhook outcomes, and reads the directory's online count. */
  observePresence(presence: Presence): void;
  /** Adds the HTTP hooks (latency of every route, outcome of every emit route); call before routes. */
  instrument(app: FastifyInstance): void;
}

let processRegistry: Registry | undefined;

/**
 * CPU, memory, GC and event-loop delay belong to the process, not to one gateway, so they are
 * registered once per process even when tests build many gateways.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 10 });
  }
  return processRegistry;
}

/**
 * Counts by label set in a plain Map and hands the totals to a prom-client counter when it is
 * scraped (its `collect`). prom-client hashes and validates the labels on every `inc`, which costs
 * more per emit than everything else the metrics do; a Map lookup by a string key does not.
 */
class Tally {
  private readonly pending = new Map<string, { labels: Record<string, string>; n: number }>();

  add(key: string, labels: () => Record<string, string>, n = 1): void {
    const entry = this.pending.get(key);
    if (entry) entry.n += n;
    else this.pending.set(key, { labels: labels(), n });
  }

  /** Moves the counts into `counter`; entries stay (at 0), as the counter's series do. */
  flush(counter: Counter<string>): void {
    for (const entry of this.pending.values()) {
      if (entry.n === 0) continue;
      counter.inc(entry.labels, entry.n);
      entry.n = 0;
    }
  }
}

/** A route config flag that marks emit routes (the route table's `emit`, see src/api/routes.ts). */
function isEmitRoute(request: FastifyRequest): boolean {
  return (request.routeOptions.config as { emit?: boolean } | undefined)?.emit === true;
}

/** Builds the metrics of one gateway: `io` for the socket gauges, `probes` for dependency state. */
export function createMetrics(io: GatewayServer, probes: readonly ReadinessProbe[]): Metrics {
  const registry = new Registry();
  const registers = [registry];

  new Gauge({
    name: `${PREFIX}sockets`,
    help: 'Sockets connected to this node, per namespace.',
    labelNames: ['namespace'],
    registers,
    collect() {
      for (const nsp of namespacesOf(io)) this.set({ namespace: nsp.name }, nsp.sockets.size);
    },
  });
  new Gauge({
    name: `${PREFIX}users`,
    help: 'Distinct users with at least one socket on this node.',
    registers,
    collect() {
      this.set(countUsersHere(io));
    },
  });
  new Gauge({
    name: `${PREFIX}dependency_up`,
    help: 'Whether a dependency (database, cluster bus) answers its readiness probe: 1 yes, 0 no.',
    labelNames: ['dependency'],
    registers,
    async collect() {
      this.reset();
      for (const [name, result] of await checkProbes(probes)) this.set({ dependency: name }, result.ok ? 1 : 0);
    },
  });

  const connections = new Counter({ name: `${PREFIX}connections_total`, help: 'Sockets accepted, per namespace.', labelNames: ['namespace'], registers });
  const refusals = new Counter({
    name: `${PREFIX}connections_refused_total`,
    help: 'Handshakes refused, per namespace and reason (the code the client receives).',
    labelNames: ['namespace', 'reason'],
    registers,
  });
  const disconnections = new Counter({
    name: `${PREFIX}disconnections_total`,
    help: 'Sockets disconnected, per namespace and Socket.IO reason (transport close, ping timeout...).',
    labelNames: ['namespace', 'reason'],
    registers,
  });
  const emits = new Tally();
  new Counter({
    name: `${PREFIX}emits_total`,
    help: 'Emit requests answered, per route and outcome (SUCCESS or the error code).',
    labelNames: ['route', 'outcome'],
    registers,
    collect() {
      emits.flush(this);
    },
  });
  const deliveries = new Tally();
  new Counter({
    name: `${PREFIX}deliveries_total`,
    help: 'Events handed to the emitter, per audience (users or scraper).',
    labelNames: ['audience'],
    registers,
    collect() {
      deliveries.flush(this);
    },
  });
  const reached = new Tally();
  new Counter({
    name: `${PREFIX}sockets_reached_total`,
    help: 'Sockets that emitted events were sent to.',
    registers,
    collect() {
      reached.flush(this);
    },
  });
  const noLabels = (): Record<string, string> => ({});
  const latency = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'Time to answer HTTP requests, per method, route and status code.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const clusterRefusals = new Counter({
    name: `${PREFIX}cluster_messages_refused_total`,
    help: 'Messages from other gateway nodes this node did not act on, per message type and reason (unknown-type, newer-version...): a sign of nodes running different versions.',
    labelNames: ['type', 'reason'],
    registers,
  });

  const clusterMessages = new Counter({
    name: `${PREFIX}cluster_messages_total`,
    help: 'Messages between gateway nodes, per message type (deliver, deliver-each, figures...) and direction: sent (one per message, however many nodes it reaches) or received. With CLUSTER_ROUTING=targeted an emit sends one per node holding its users, none for an offline user.',
    labelNames: ['type', 'direction'],
    registers,
  });

  const starts = new Counter({
    name: `${PREFIX}stream_starts_total`,
    help: 'User sockets connected with streams on, per how they started: fresh (at the head), recover (resuming their session after a drop or a restart) or since (auth.since).',
    labelNames: ['how'],
    registers,
  });
  const replayed = new Counter({
    name: `${PREFIX}stream_replayed_events_total`,
    help: 'Events sent to user sockets from their streams rather than live.',
    registers,
  });
  const gaps = new Counter({
    name: `${PREFIX}stream_gaps_total`,
    help: 'Gap events sent to user sockets, per reason (trimmed, epoch, unknown): clients told to reload their state.',
    labelNames: ['reason'],
    registers,
  });
  // Presence (src/presence): filled by observePresence.
  let presence: Presence | undefined;
  new Gauge({
    name: `${PREFIX}presence_online`,
    help: 'Distinct users online in the whole cluster, from the user directory (the same on every node: aggregate with max).',
    registers,
    async collect() {
      this.reset();
      const online = await presence?.directory.online();
      if (online !== undefined) this.set(online);
    },
  });
  const transitions = new Counter({
    name: `${PREFIX}presence_transitions_total`,
    help: 'Presence transitions this node reported (each is reported by one node of the cluster), per type: user.online, user.offline, scraper.connected, scraper.disconnected.',
    labelNames: ['type'],
    registers,
  });
  const webhookOutcomes = new Counter({
    name: `${PREFIX}webhooks_total`,
    help: 'Webhook deliveries of this node, per type and outcome: delivered, attempt_failed (one attempt; it may be retried), gave_up (WEBHOOK_RETRY_FOR_MS passed), dropped (queue full).',
    labelNames: ['type', 'outcome'],
    registers,
  });
  new Gauge({
    name: `${PREFIX}webhook_queue`,
    help: 'Webhook deliveries waiting or in flight on this node (at most WEBHOOK_QUEUE_SIZE).',
    registers,
    collect() {
      this.set(presence?.webhooks.pending() ?? 0);
    },
  });

  // Scoped API keys (issue 14): what each key did, by its id (never the key).
  const keyRequests = new Tally();
  new Counter({
    name: `${PREFIX}api_key_requests_total`,
    help: 'REST calls that presented a valid API key, per key id and outcome (SUCCESS or the error code, such as SCOPE_EMIT_REQUIRED).',
    labelNames: ['key', 'outcome'],
    registers,
    collect() {
      keyRequests.flush(this);
    },
  });

  const lifecycle = socketLifecycle(io);
  lifecycle.onConnect((socket) => connections.inc({ namespace: socket.nsp.name }));
  lifecycle.onDisconnect((socket, reason) => disconnections.inc({ namespace: socket.nsp.name, reason }));

  return {
    registry: Registry.merge([processMetrics(), registry]),
    refused: (namespace, reason) => refusals.inc({ namespace, reason }),
    cursors: {
      started: (how) => starts.inc({ how }),
      replayed: (events) => replayed.inc(events),
      gap: (reason) => gaps.inc({ reason }),
    },
    observe(emitter) {
      // createEmitter returns a plain object, so spreading keeps every other method.
      return {
        ...emitter,
        async send(batch) {
          const report = await emitter.send(batch);
          for (const { audience: to } of batch) {
            // A fan-out is one event per recipient, each to every socket of a user, as it was before it
            // was sent as one.
            const [audience, events] = to.kind === 'each' ? ['users', to.recipients.length] : [to.kind, 1];
            deliveries.add(audience, () => ({ audience }), events);
          }
          reached.add('', noLabels, report.sockets);
          return report;
        },
      };
    },
    observeCluster(cluster) {
      cluster.onRefused(({ type, reason }) => clusterRefusals.inc({ type, reason }));
      cluster.onTraffic(({ type, direction }) => clusterMessages.inc({ type, direction }));
    },
    observePresence(observed) {
      presence = observed;
      observed.onTransition((transition) => transitions.inc({ type: transition.kind }));
      observed.webhooks.onOutcome((outcome, type) => webhookOutcomes.inc({ type, outcome }));
    },
    instrument(app) {
      const outcomes = new WeakMap<FastifyRequest, string>();
      app.addHook('onError', async (request, _reply, error) => {
        outcomes.set(request, toGatewayError(error, 0).code);
      });
      // Callback style: it runs on every request, and an async hook costs a promise more.
      app.addHook('onResponse', (request, reply, done) => {
        // Unmatched URLs share one label, so that scanners cannot blow up the series count.
        const route = request.routeOptions.url ?? 'unmatched';
        latency.observe({ method: request.method, route, status_code: reply.statusCode }, reply.elapsedTime / 1000);
        if (isEmitRoute(request)) {
          const labels = {
            route: `${request.method} ${route}`,
            outcome: outcomes.get(request) ?? (reply.statusCode < 400 ? 'SUCCESS' : String(reply.statusCode)),
          };
          emits.add(`${labels.route}\n${labels.outcome}`, () => labels);
        }
        const key = request.apiKeyId;
        if (key !== undefined) {
          const outcome = outcomes.get(request) ?? (reply.statusCode < 400 ? 'SUCCESS' : String(reply.statusCode));
          keyRequests.add(`${key}\n${outcome}`, () => ({ key, outcome }));
        }
        done();
      });
    },
  };
}
