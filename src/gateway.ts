/**
 * Builds a gateway: Fastify (REST API), Socket.IO (namespaces) and the emitter between them, on one
 * HTTP server. Building is separate from listening, so tests start real gateways on port 0.
 * This is the one module that sees every layer below the entry points (README, "Layers").
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import type { Config } from './config.js';
import { registerAdminUi } from './admin-ui.js';
import { releaseHandshakeRequests } from './handshake-request.js';
import { createIpAllowlist } from './auth/ip-allowlist.js';
import { createKeySet } from './auth/keys.js';
import { createTokenVerifier } from './auth/tokens.js';
import { createBus, type ClusterBus } from './cluster/bus.js';
import { createClusterChannel } from './cluster/channel.js';
import { consolePages } from './console/pages.js';
import { devSecretsExposure } from './dev-secrets.js';
import { createEmitter, type Emitter } from './emitter.js';
import { createRouting } from './routing.js';
import { fail } from './errors.js';
import { accessGranted, accessHook, refuseCredentialsInQuery } from './http/access.js';
import { fastifyTimeouts } from './http/connection-timeouts.js';
import { idempotencyHooks } from './http/idempotency.js';
import { answerFrameworkError, formatValidationErrors, installErrorHandling } from './http/error-handler.js';
import { parseJsonBodies } from './http/json-body.js';
import { answerWrongMethods } from './http/method-not-allowed.js';
import { registerRateLimit } from './http/rate-limit.js';
import { RequestLog, requestLogger } from './http/request-log.js';
import { namespacesOf } from './internals/socket-io.js';
import { createMetrics } from './metrics.js';
import { USERS_NAMESPACE, namespaceNames, setupNamespaces } from './namespaces.js';
import { createSocketLimits, type SocketLimits } from './socket-limits.js';
import { registerOpenApi } from './openapi.js';
import { MAX_PATH_PARAM_LENGTH } from './api/common.js';
import type { ProbeResult, ReadinessProbe } from './readiness.js';
import { batchHandlers } from './routes/batch.js';
import { consoleHandlers } from './routes/console.js';
import { conversationHandlers } from './routes/conversations.js';
import { emitHandlers } from './routes/emit.js';
import { healthHandlers } from './routes/health.js';
import { historyHandlers } from './routes/history.js';
import { leadFinderHandlers } from './routes/lead-finder.js';
import { metricsHandlers } from './routes/metrics.js';
import { registerRoutes } from './routes/register.js';
import { statsHandlers } from './routes/stats.js';
import { tokenHandlers } from './routes/tokens.js';
import { openRevocations } from './revocations/open.js';
import { trackTokenExpiry } from './token-expiry.js';
import { createRevoker, refusingRevoked } from './token-revocation.js';
import type { GatewayServer, GatewaySocket } from './socket-server.js';
import { createFigures } from './stats.js';
import { configuredPrivacy } from './conversations/privacy.js';
import { openIdempotencyStore } from './idempotency/open.js';
import type { IdempotencyStore } from './idempotency/store.js';
import { openStore } from './store/open.js';
import { createPresence, type Presence } from './presence/presence.js';
import { presenceHandlers } from './routes/presence.js';
import type { Store } from './store/store.js';
import { createStreamCursors } from './stream-cursors.js';
import { openStreams } from './streams/open.js';
import type { UserStreams } from './streams/streams.js';

/** A built gateway, not yet listening. */
export interface Gateway {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly io: GatewayServer;
  readonly server: HttpServer;
  readonly emitter: Emitter;
  /** Where the conversation documents live (closed with the gateway). */
  readonly store: Store;
  /** Every user's stream of events; undefined when streams are off (HISTORY_SIZE=0). */
  readonly streams: UserStreams | undefined;
  /** What joins this process to the other gateway nodes (standalone unless REDIS_URL or WORKERS). */
  readonly bus: ClusterBus;
  /** Where emits sent with an Idempotency-Key keep their answers (closed with the gateway). */
  readonly idempotency: IdempotencyStore;
  /** Who is online cluster-wide, webhooks, and disconnects. */
  readonly presence: Presence;
  /** Starts listening on `config.host:config.port`; resolves to the bound address. */
  listen(): Promise<AddressInfo>;
  /** Stops accepting, closes socket connections (clients reconnect), waits for in-flight requests, releases resources. */
  close(): Promise<void>;
}

/** Secrets may sit in these places of a log record; pino replaces them. */
const REDACTED_PATHS = ['req.headers["x-api-key"]', 'req.headers.authorization', '*.token', '*.apiKey', '*.password', '*.secret'];

/** A readiness probe that pings a store. */
function pingProbe(store: { ping(): Promise<void> }): Promise<ProbeResult> {
  return store.ping().then(
    () => ({ ok: true }),
    (error: unknown) => ({ ok: false, detail: (error as Error).message }),
  );
}

/** Builds everything a gateway needs from one config; `options.bus` overrides the configured cluster bus. */
export async function createGateway(config: Config, options: { bus?: ClusterBus } = {}): Promise<Gateway> {
  const app = Fastify({
    logger: { level: config.logLevel, redact: REDACTED_PATHS },
    logController: new RequestLog(),
    childLoggerFactory: requestLogger,
    bodyLimit: config.bodyLimitBytes,
    ...fastifyTimeouts(config),
    trustProxy: config.trustProxy,
    // Off: Fastify's own 503 would not have the error shape; the onRequest hook below answers instead.
    return503OnClosing: false,
    // Fastify's default (100) would refuse a 101-128 character id before its schema can name it.
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // Malformed URLs and over-long parameters, refused before any route is chosen, in the error shape
    // (what the HTTP parser refuses is answered by fastifyTimeouts' clientErrorHandler).
    frameworkErrors: answerFrameworkError,
    // Bodies are validated as sent: an id of 5 is not the id "5".
    ajv: { customOptions: { coerceTypes: false, verbose: true, keywords: ['x-error'] } },
    schemaErrorFormatter: formatValidationErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandling(app, config.bodyLimitBytes);
  app.addHook('onRequest', refuseCredentialsInQuery);
  parseJsonBodies(app, { maxDepth: config.jsonMaxDepth, maxBytes: config.emitMaxBytes });

  const bus = options.bus ?? (await createBus(config, app.log));
  const socketLimits = createSocketLimits(config);
  const io: GatewayServer = new Server(app.server, {
    serveClient: false,
    ...socketLimits.serverOptions,
    ...(bus.adapter && { adapter: bus.adapter }),
    cors: { origin: config.corsOrigins.includes('*') ? '*' : [...config.corsOrigins], credentials: config.corsCredentials },
  });
  releaseHandshakeRequests(io);
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    // Sockets go first: open websockets would otherwise keep the HTTP server from closing. Only their
    // transports are closed, as Socket.IO's own io.close() does: a stock client takes the "transport
    // close" it sees as a reason to reconnect (to the next gateway), whereas disconnectSockets()
    // would tell it "io server disconnect", after which it never comes back.
    io.engine.close();
  });
  // Closed before the bus, whose Redis connection they use (the presence directory).
  const closers: (() => Promise<void>)[] = [];
  app.addHook('onClose', async () => {
    for (const close of closers) await close();
    for (const nsp of namespacesOf(io)) await nsp.adapter.close();
    await bus.close();
  });
  // Requests that arrive on open connections while the gateway drains get the usual error shape.
  app.addHook('onRequest', (_request, _reply, done) =>
    done(closing ? fail('SERVICE_UNAVAILABLE', 'The gateway is shutting down; retry', { 'retry-after': '1', connection: 'close' }) : undefined),
  );

  try {
    return await build(app, config, io, bus, socketLimits, closers);
  } catch (error) {
    // Whatever was opened so far (the bus, the store) is released with the app.
    await app.close().catch(() => undefined);
    throw error;
  }
}

/** The rest of createGateway, once the server, Socket.IO and the bus exist. */
async function build(
  app: FastifyInstance,
  config: Config,
  io: GatewayServer,
  bus: ClusterBus,
  socketLimits: SocketLimits,
  closers: (() => Promise<void>)[],
): Promise<Gateway> {
  const apiKeys = createKeySet([...config.internalApiKeys, ...config.apiKeys]);
  const probes: ReadinessProbe[] = [{ name: 'bus', check: () => bus.check() }];
  const metrics = createMetrics(io, probes);
  // Before the namespaces: a user socket's start in its stream is settled in their middleware.
  const streams = await openStreams(config, app.log);
  if (streams !== undefined) {
    app.log.info({ streams: streams.description }, `user streams in ${streams.description}`);
    app.addHook('onClose', () => streams.close());
  }
  // Before any namespace's own middleware: its checks come first on every namespace.
  socketLimits.attach(io, { log: app.log, onRefused: metrics.refused });
  const names = namespaceNames(config.leadFinderNamespace);
  const cursors = streams === undefined ? undefined : createStreamCursors(streams, app.log, metrics.cursors);
  const revocations = await openRevocations(config, app.log);
  app.addHook('onClose', () => revocations.close());
  app.log.info({ revocations: revocations.description }, `token revocations in ${revocations.description}`);
  const verifyToken = refusingRevoked(createTokenVerifier(config), revocations, app.log);
  setupNamespaces(io, {
    ...(cursors && { cursors }),
    verifyToken,
    scraperKeys: createKeySet(config.scraperApiKeys),
    log: app.log,
    onRefused: metrics.refused,
    names,
  });
  const expiry = trackTokenExpiry(io.of(USERS_NAMESPACE), { verify: verifyToken, warningSeconds: config.tokenExpiryWarningSeconds });
  app.addHook('onClose', async () => expiry.close());
  const cluster = createClusterChannel(io.of(names.control), bus, app.log);
  const revoker = createRevoker({ users: io.of(USERS_NAMESPACE), store: revocations, cluster, ttlSeconds: config.tokenRevocationTtlSeconds });
  metrics.observeCluster(cluster);
  const presence = await createPresence(io, {
    config,
    bus,
    cluster,
    names,
    log: app.log,
    // Targeted routing asks only the nodes the directory lists: a socket whose node was not listed yet
    // reads its stream again once it is, for what went elsewhere meanwhile.
    ...(cursors && { onUserHeld: (socket: GatewaySocket) => cursors.refresh(socket) }),
  });
  closers.push(() => presence.close());
  const routing = createRouting(cluster, { mode: config.clusterRouting, directory: presence.directory });
  const emitter = metrics.observe(createEmitter(io, cluster, { names, routing, ...(streams && cursors && { streams: { store: streams, cursors } }) }));
  metrics.observePresence(presence);
  const figures = createFigures(io, cluster, names);
  const allowlist = createIpAllowlist(config.allowedIps);
  const access = accessHook(apiKeys, allowlist);

  const exposure = config.generatedSecrets.length > 0 ? devSecretsExposure(config.dataDir) : undefined;
  if (exposure !== undefined) app.log.warn(exposure);
  const store = await openStore(config, app.log);
  app.log.info({ store: store.description }, `conversation documents in ${store.description}`);
  app.addHook('onClose', () => store.close());
  probes.push({
    name: 'database',
    check: () => pingProbe(store),
  });
  if (streams !== undefined) probes.push({ name: 'streams', check: () => pingProbe(streams) });

  const idempotency = await openIdempotencyStore(config);
  app.addHook('onClose', () => idempotency.close());

  metrics.instrument(app);
  // Before the 405 recorder: Swagger UI's own routes overlap in ways it cannot complete.
  await registerOpenApi(app, config);
  const wrongMethods = answerWrongMethods(app);
  await app.register(consolePages, { listen: config.nodeEnv !== 'production' });
  // Every operation of the route table (src/api), each with its handler.
  await registerRoutes(
    app,
    {
      ...healthHandlers({ probes, showDetails: accessGranted(apiKeys, allowlist) }),
      ...metricsHandlers({ metrics }),
      ...emitHandlers({ emitter, maxUserIds: config.maxUserIds }),
      ...leadFinderHandlers({ emitter, namespace: names.scrapers }),
      ...batchHandlers({ emitter, maxItems: config.batchMaxItems, maxUserIds: config.maxUserIds, namespace: names.scrapers }),
      ...statsHandlers({
        figures: async () => {
          const [counted, online] = await Promise.all([figures(), presence.directory.online()]);
          return { ...counted, ...(online !== undefined && { online }), presence: presence.directory.kind };
        },
      }),
      ...presenceHandlers({ presence, maxUserIds: config.presenceMaxUserIds, scraperNamespace: names.scrapers }),
      ...conversationHandlers({
        emitter,
        store,
        channels: config.channels,
        privacy: configuredPrivacy(config),
        maxUsers: config.conversationMaxUsers,
        maxBytes: config.emitMaxBytes,
      }),
      ...consoleHandlers({ config }),
      ...historyHandlers({ streams }),
      ...tokenHandlers({ revoker }),
    },
    {
      access,
      rateLimit: (scope) => registerRateLimit(scope, { ...config, keyLimits: config.apiKeys.some((key) => key.rateLimit) }, bus.rateLimitStore),
      open: config.metricsPublic ? ['metrics'] : [],
      idempotency: idempotencyHooks({ store: idempotency, ttlMs: config.idempotencyTtlSeconds * 1000, waitMs: config.requestTimeoutMs }),
    },
  );
  await app.register(wrongMethods);
  await registerAdminUi(app, io, config);

  return {
    config,
    app,
    io,
    server: app.server,
    emitter,
    store,
    streams,
    bus,
    idempotency,
    presence,
    async listen() {
      await app.listen({ port: config.port, host: config.host });
      return app.server.address() as AddressInfo;
    },
    close: () => app.close(),
  };
}
