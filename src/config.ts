/**
 * The gateway's one configuration object. Every option is declared once below, with its environment
 * variable, its default and the sentence that documents it (README's configuration table is checked
 * against this list by a test); config-values.ts holds the parsers that check each value. Nothing else
 * in the code base reads `process.env`.
 */
import {
  apiKeyList,
  boolean,
  databaseUrl,
  fieldList,
  integer,
  ipList,
  jwksUrl,
  list,
  nameList,
  namespaceName,
  oneOf,
  option,
  originList,
  proxyTrust,
  publicKey,
  publicUrl,
  redisUrl,
  text,
  webhookUrlList,
  workerCount,
} from './config-values.js';
import { loadDevSecrets } from './dev-secrets.js';
import { DEFAULT_JSON_MAX_DEPTH, JSON_DEPTH_CEILING } from './json-limits.js';

const options = {
  nodeEnv: option(
    'NODE_ENV',
    'Runtime mode. `production` refuses to start without `INTERNAL_API_KEY` and a JWT key.',
    oneOf(['development', 'production', 'test'] as const),
    'development',
  ),
  port: option('PORT', 'TCP port that serves both the REST API and Socket.IO (0 picks a free port).', integer(0, 65535), 4000),
  host: option('HOST', 'Address to listen on.', text, '0.0.0.0'),
  publicUrl: option(
    'PUBLIC_URL',
    'The URL clients reach the gateway at (`https://socket.example.com`; a path prefix is kept), named as the server in `/openapi.json` and `/docs`. Unset, the document names the relative server `/`, never the Host header a caller sent.',
    publicUrl,
    '',
    '(relative: `/`)',
  ),
  logLevel: option(
    'LOG_LEVEL',
    'pino log level: fatal, error, warn, info, debug, trace or silent.',
    oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    'info',
  ),
  internalApiKeys: option(
    'INTERNAL_API_KEY',
    'Comma-separated API keys accepted in the `x-api-key` header of REST calls; several keys allow rotation. Outside production an unset value means a generated key kept in `DATA_DIR/dev-secrets.json`.',
    list,
    [],
    '(generated outside production)',
  ),
  allowedIps: option(
    'ALLOWED_IPS',
    'Comma-separated IPs and CIDRs (IPv4 and IPv6) allowed to call the REST API; empty allows every address.',
    ipList,
    [],
    '(any)',
  ),
  trustProxy: option(
    'TRUST_PROXY',
    "Which proxies may tell the caller's address in `X-Forwarded-For` (for `ALLOWED_IPS` and the per-address Socket.IO limits): `false`; the load balancers' comma-separated IPs or CIDRs (the caller is then the last address they did not add); or `true` to trust every hop, which lets any caller who reaches the gateway directly claim any address.",
    proxyTrust,
    false,
  ),
  jwtSecret: option(
    'JWT_SECRET',
    'HS256 secret that verifies user tokens. Outside production an unset value (with no `JWT_PUBLIC_KEY`) means a generated secret kept in `DATA_DIR/dev-secrets.json`.',
    text,
    '',
    '(generated outside production)',
  ),
  jwtPublicKey: option(
    'JWT_PUBLIC_KEY',
    'PEM public key (RSA for RS256, P-256 EC for ES256) that verifies user tokens; `\\n` escapes are accepted.',
    publicKey,
    '',
    '(none)',
  ),
  jwtIssuer: option('JWT_ISSUER', 'When set, user tokens must carry this `iss`.', text, '', '(not checked)'),
  jwtAudience: option('JWT_AUDIENCE', 'When set, user tokens must carry this `aud`.', text, '', '(not checked)'),
  scraperApiKeys: option(
    'SCRAPER_API_KEY',
    'Comma-separated keys that lead-finder scrapers present as `auth.token` on `LEAD_FINDER_NAMESPACE`. Outside production an unset value means a generated key kept in `DATA_DIR/dev-secrets.json`; in production an unset value refuses every scraper.',
    list,
    [],
    '(generated outside production)',
  ),
  leadFinderNamespace: option(
    'LEAD_FINDER_NAMESPACE',
    'Socket.IO namespace where lead-finder scrapers connect with `SCRAPER_API_KEY`; `/` serves scrapers written for the seed, which connect without a namespace (the gateway nodes then exchange their own messages on `/general-socket-control`, which refuses every client). Every node of a cluster needs the same value.',
    namespaceName,
    '/v1/lead-finder',
  ),
  maxUserIds: option('EMIT_MAX_USER_IDS', 'Most user ids one `POST /emit/:emitTo` call may name.', integer(1, 1_000_000), 10_000),
  bodyLimitBytes: option('BODY_LIMIT_BYTES', 'Largest accepted request body, in bytes; larger bodies get 413.', integer(1, 100 * 1024 * 1024), 1024 * 1024),
  jsonMaxDepth: option(
    'JSON_MAX_DEPTH',
    `Deepest nesting of objects and arrays accepted in a request body, a stored document or an imported one (at most ${JSON_DEPTH_CEILING}); deeper values are refused with a message naming the limit.`,
    integer(1, JSON_DEPTH_CEILING),
    DEFAULT_JSON_MAX_DEPTH,
  ),
  emitMaxBytes: option(
    'EMIT_MAX_BYTES',
    "Most bytes of payload one request may send, counting each recipient's payload once (a conversation event to N users counts N payloads); past it 413 `EMIT_TOO_LARGE`. It also bounds each message between gateway nodes: keep it below Redis's `client-output-buffer-limit pubsub` (8 MB soft limit by default).",
    integer(1024, 64 * 1024 * 1024),
    4 * 1024 * 1024,
  ),
  conversationMaxUsers: option(
    'CONVERSATION_MAX_USERS',
    "Most users a conversation may have for `GET .../emit/conversation/...` to send it (each user receives every user's document); past it 413 `EMIT_TOO_LARGE`.",
    integer(1, 100_000),
    200,
  ),
  rateLimitMax: option(
    'RATE_LIMIT_MAX',
    'Emit requests allowed per window for each API key, across all emit routes; 0 disables rate limiting.',
    integer(0, 10_000_000),
    100,
  ),
  rateLimitWindowMs: option(
    'RATE_LIMIT_WINDOW_MS',
    'Length of the rate-limit window in milliseconds; 0 disables rate limiting.',
    integer(0, 24 * 3600 * 1000),
    60_000,
  ),
  batchMaxItems: option(
    'BATCH_MAX_ITEMS',
    'Most items one `POST /emit/batch` call may hold; past it 413 `EMIT_TOO_LARGE`. Each item counts as one emit against `RATE_LIMIT_MAX`.',
    integer(1, 10_000),
    100,
  ),
  idempotencyTtlSeconds: option(
    'IDEMPOTENCY_TTL_SECONDS',
    'How long the answer of an emit sent with an `Idempotency-Key` header is kept: a repeat with the same key and API key within it gets the same answer and delivers nothing. Kept in Redis when `REDIS_URL` is set (every node sees it), else in `DATA_DIR/idempotency.sqlite`.',
    integer(1, 30 * 86_400),
    86_400,
  ),
  corsOrigins: option(
    'CORS_ORIGINS',
    'Comma-separated origins (`https://app.example.com`) that browsers may connect from over HTTP long-polling; `*` allows any origin.',
    originList,
    ['*'],
  ),
  corsCredentials: option(
    'CORS_CREDENTIALS',
    "Let browsers on the `CORS_ORIGINS` origins send cookies with long-polling requests (`withCredentials: true`), such as a load balancer's stickiness cookie; needs `CORS_ORIGINS` to list origins, never `*`.",
    boolean,
    false,
  ),
  requestTimeoutMs: option(
    'REQUEST_TIMEOUT_MS',
    'Longest time a client may take to send a whole HTTP request, headers and body; past it the gateway answers 408 and closes the connection. Long-polling and websocket connections are not cut (their requests arrive at once).',
    integer(100, 3_600_000),
    30_000,
  ),
  headersTimeoutMs: option(
    'HEADERS_TIMEOUT_MS',
    'Longest time a client may take to send the headers of an HTTP request, counted from its connection or its first byte; at most `REQUEST_TIMEOUT_MS`.',
    integer(100, 3_600_000),
    10_000,
  ),
  keepAliveTimeoutMs: option(
    'KEEP_ALIVE_TIMEOUT_MS',
    'How long an idle kept-alive HTTP connection waits for its next request before the gateway closes it; keep it above the idle timeout of a load balancer in front (60 s on AWS ALB).',
    integer(100, 3_600_000),
    72_000,
  ),
  shutdownTimeoutMs: option(
    'SHUTDOWN_TIMEOUT_MS',
    'How long a SIGTERM/SIGINT waits for in-flight requests before the process exits anyway.',
    integer(0, 600_000),
    10_000,
  ),
  databaseUrl: option(
    'DATABASE_URL',
    'PostgreSQL URL (`postgres://user:password@host:5432/db`; `?options=-c%20search_path%3Dmyschema` picks a schema) holding the conversation documents; unset means an embedded SQLite file in `DATA_DIR`. Its password is never logged.',
    databaseUrl,
    '',
    '(embedded SQLite)',
  ),
  databaseTimeoutMs: option(
    'DATABASE_TIMEOUT_MS',
    'Longest wait for a PostgreSQL connection or query, in milliseconds; past it the conversation routes answer 503.',
    integer(100, 600_000),
    2000,
  ),
  databasePoolSize: option('DATABASE_POOL_SIZE', 'Most PostgreSQL connections the gateway holds open.', integer(1, 1000), 10),
  channels: option(
    'CHANNELS',
    'Comma-separated conversation channels served at `/conversations/:channel/...`; events are named `<channel>_message` and `<channel>_add_conversation`.',
    nameList,
    ['prospect'],
  ),
  privateFields: option(
    'PRIVATE_FIELDS',
    'Comma-separated field names removed, at any depth, from every document sent to clients; a name also matches, ignoring case, `_` and `-`, any field ending with it (`passwordHash`, `reset_token`).',
    nameList,
    [
      'password',
      'passwd',
      'pass',
      'pwd',
      'passphrase',
      'hash',
      'salt',
      'token',
      'tokens',
      'jwt',
      'secret',
      'secrets',
      'apikey',
      'apikeys',
      'privatekey',
      'privatekeys',
      'credential',
      'credentials',
      'otp',
      'otpcode',
      'recoverycode',
      'recoverycodes',
      'backupcodes',
      'sessionid',
      'cookie',
      'cookies',
    ],
  ),
  sendFieldsUsers: option(
    'SEND_FIELDS_USERS',
    'Comma-separated fields of `users` documents that may be sent to clients, wherever such a document appears (allow-list mode: `_id` always is, and `PRIVATE_FIELDS` still applies); `*` sends every field but the private ones.',
    fieldList,
    '*',
  ),
  sendFieldsContacts: option('SEND_FIELDS_CONTACTS', 'Allow-list mode for `contacts` documents, as `SEND_FIELDS_USERS`.', fieldList, '*'),
  sendFieldsCommunications: option(
    'SEND_FIELDS_COMMUNICATIONS',
    'Allow-list mode for `communications` (messages), as `SEND_FIELDS_USERS`; the fields an event computes (`sent_by`, `conversation_id`, `is_sender`, `createdAt`) are always sent.',
    fieldList,
    '*',
  ),
  sendFieldsConversationprospects: option(
    'SEND_FIELDS_CONVERSATIONPROSPECTS',
    'Allow-list mode for `conversationprospects`, as `SEND_FIELDS_USERS`; the fields an event computes (`title`, `image`, `users`, `contact_id`, `last_activity`, `unread_count`, `isNew`) are always sent.',
    fieldList,
    '*',
  ),
  redisUrl: option(
    'REDIS_URL',
    'Redis that joins gateway processes, on one machine or many, into one gateway (`redis://[:password@]host:6379[/db]`, `rediss://` for TLS): events, scraper look-ups and rate limits span every node. Empty runs a standalone gateway.',
    redisUrl,
    '',
    '(none: standalone)',
  ),
  redisPrefix: option(
    'REDIS_PREFIX',
    'Prefix of the Redis channels and keys the gateway uses: gateways sharing a Redis and a prefix form one cluster; a `@socket.io/redis-emitter` must be created with the same `key`.',
    text,
    'socket.io',
  ),
  workers: option(
    'WORKERS',
    'Worker processes that share `PORT` on this machine, with sticky sessions so long-polling works; `0` or `auto` starts one per CPU core, `1` runs everything in one process.',
    workerCount,
    1,
  ),
  clusterTimeoutMs: option(
    'CLUSTER_TIMEOUT_MS',
    "How long a REST call waits for the other gateway nodes to answer (scraper look-ups, socket counts) before replying with what it has. With `WORKERS` and no Redis the workers' adapter waits at least 5000 ms, whatever this says.",
    integer(50, 60_000),
    2000,
  ),
  clusterRouting: option(
    'CLUSTER_ROUTING',
    'How an emit to users or to a lead-finder socket reaches the other gateway nodes: `targeted` asks the user directory which nodes hold the addressed sockets and sends each of them only its part (nothing for an offline user or one held only by this node); `broadcast` asks every node, as before the directory existed. Targeted falls back to broadcast by itself while the directory cannot be read.',
    oneOf(['targeted', 'broadcast'] as const),
    'targeted',
  ),
  dataDir: option(
    'DATA_DIR',
    "Folder for local state: the embedded database, the users' event history (`streams.sqlite`) and generated development secrets, readable by their owner only (a new folder is created 0700, its files 0600).",
    text,
    './data',
  ),
  historySize: option(
    'HISTORY_SIZE',
    'Events kept per user so that a client that reconnects is given what it missed, and `GET /users/:userId/events` can list them; older ones are dropped first. 0 turns history off (events are only sent live, as before). It costs up to (users who received or read events within `HISTORY_TTL_SECONDS`) × this many × the average payload: on disk in `DATA_DIR/streams.sqlite` (where a payload that one call sends to 16 users or more is kept once, for `HISTORY_TTL_SECONDS`), or in Redis memory when `REDIS_URL` is set.',
    integer(0, 10_000),
    100,
  ),
  historyTtlSeconds: option(
    'HISTORY_TTL_SECONDS',
    "How long a kept event lasts, and how long a user's history lives after its last event or read (the default, 24 h, covers a laptop that slept overnight); a user idle for longer costs nothing, and a client that was away longer is told it missed events.",
    integer(1, 2_592_000),
    86_400,
  ),
  metricsPublic: option(
    'METRICS_PUBLIC',
    'Serve `GET /metrics` without an API key (for a Prometheus inside a private network); otherwise it takes the key as `x-api-key` or `Authorization: Bearer`.',
    boolean,
    false,
  ),
  socketMaxMessageBytes: option(
    'SOCKET_MAX_MESSAGE_BYTES',
    "Largest message a Socket.IO client may send, in bytes (Engine.IO's `maxHttpBufferSize`): clients send only a namespace CONNECT with their token (and a fresh token with `token_refresh`), and the admin UI its commands; a larger message closes the connection.",
    integer(1024, 100 * 1024 * 1024),
    16 * 1024,
  ),
  socketHandshakesPerMinute: option(
    'SOCKET_HANDSHAKES_PER_MINUTE',
    'Socket.IO connections one client address may open per minute on each gateway process; past it, a CONNECT gets `connect_error` with `data.code` `HANDSHAKE_RATE_LIMITED`, and past twice it the handshake is refused (403). Behind a load balancer, set `TRUST_PROXY`, or every client shares its address. 0 disables the limit.',
    integer(0, 1_000_000),
    600,
  ),
  // Presence and webhooks (src/presence/).
  presenceLeaseMs: option(
    'PRESENCE_LEASE_MS',
    "How long a gateway node stays listed in the cluster's user directory without renewing its lease (it renews every third of it): a node killed or cut off from Redis stops counting in presence, and its users go offline, within this time.",
    integer(1000, 600_000),
    5000,
  ),
  presenceMaxUserIds: option('PRESENCE_MAX_USER_IDS', 'Most user ids one `POST /presence` call may name.', integer(1, 100_000), 1000),
  webhookUrls: option(
    'WEBHOOK_URLS',
    'Comma-separated http(s) URLs that receive a signed POST when a user comes online or goes offline and when a scraper socket connects or disconnects, once per cluster; needs `WEBHOOK_SECRET`.',
    webhookUrlList,
    [],
    '(none)',
  ),
  webhookSecret: option(
    'WEBHOOK_SECRET',
    'Secret of the HMAC-SHA256 signature (`x-webhook-signature`) of every webhook; required when `WEBHOOK_URLS` is set (in production at least 32 characters).',
    text,
    '',
    '(none)',
  ),
  webhookOfflineGraceMs: option(
    'WEBHOOK_OFFLINE_GRACE_MS',
    "How long a user's last socket must stay gone before the user counts as offline (the `user.offline` webhook; presence's `since` restarts): a page reload or a quick reconnect within it sends nothing.",
    integer(0, 3_600_000),
    3000,
  ),
  webhookTimeoutMs: option('WEBHOOK_TIMEOUT_MS', 'Longest wait for a webhook endpoint to answer one delivery attempt.', integer(100, 120_000), 5000),
  webhookRetryForMs: option(
    'WEBHOOK_RETRY_FOR_MS',
    'How long a webhook that fails (an error, a timeout, a status other than 2xx) is retried, with exponential backoff from 1 s to 60 s, before it is given up (counted and logged).',
    integer(0, 86_400_000),
    300_000,
  ),
  webhookQueueSize: option(
    'WEBHOOK_QUEUE_SIZE',
    'Most webhook deliveries waiting on this node (retries included); past it a new one is dropped, counted and logged, so a dead endpoint never holds memory or slows emits.',
    integer(1, 1_000_000),
    10_000,
  ),
  adminUi: option(
    'ADMIN_UI',
    'Instrument Socket.IO for `@socket.io/admin-ui` (namespace `/admin`) and serve that UI at `/admin-ui/`; needs `ADMIN_UI_PASSWORD`.',
    boolean,
    false,
  ),
  adminUiUsername: option('ADMIN_UI_USERNAME', 'User name of the admin UI.', text, 'admin'),
  adminUiPassword: option(
    'ADMIN_UI_PASSWORD',
    'Password of the admin UI: a bcrypt hash (`$2a$`/`$2b$`), or plain text that is hashed at start-up.',
    text,
    '',
    '(none)',
  ),
  // Token lifecycle and scoped API keys (issue 14).
  apiKeys: option(
    'API_KEYS',
    'API keys limited to some route groups, event names and a rate limit of their own, as a JSON array (see README, "Scoped API keys"); they are accepted beside `INTERNAL_API_KEY`, whose keys may do everything.',
    apiKeyList,
    [],
    '(none)',
  ),
  jwtJwksUrl: option(
    'JWT_JWKS_URL',
    "URL of the identity provider's JSON Web Key Set that verifies user tokens (RS*, PS*, ES*, EdDSA), instead of `JWT_SECRET` or `JWT_PUBLIC_KEY`; keys are cached and a token signed with a new key (`kid`) fetches the set again, so rotations need no restart.",
    jwksUrl,
    '',
    '(none)',
  ),
  jwtJwksMaxAgeMs: option(
    'JWT_JWKS_MAX_AGE_MS',
    'How long the fetched key set is used before it is fetched again: a key the provider removed is refused at most this long after.',
    integer(1000, 24 * 3600 * 1000),
    600_000,
  ),
  jwtJwksCooldownMs: option(
    'JWT_JWKS_COOLDOWN_MS',
    'Least time between two fetches of the key set prompted by tokens signed with a key it does not hold, so that made-up tokens cannot make the gateway fetch it without end.',
    integer(0, 3600 * 1000),
    30_000,
  ),
  tokenExpiryWarningSeconds: option(
    'TOKEN_EXPIRY_WARNING_SECONDS',
    "How long before a connected socket's token expires it receives `token_expiring`, so that it can send a fresh one with `token_refresh`; at expiry it is disconnected. 0 sends no warning.",
    integer(0, 24 * 3600),
    60,
  ),
  tokenRevocationTtlSeconds: option(
    'TOKEN_REVOCATION_TTL_SECONDS',
    'How long a revocation (`POST /users/:userId/revoke-tokens`, `POST /tokens/revoke`) is kept: make it at least the longest lifetime of your tokens, since a token issued before a revocation is accepted again once the revocation is forgotten.',
    integer(60, 366 * 24 * 3600),
    7 * 24 * 3600,
  ),
};

type Options = typeof options;

/** The validated, frozen configuration every part of the gateway is built from. */
export type Config = { readonly [K in keyof Options]: ReturnType<Options[K]['parse']> } & {
  /** Variables whose values were generated for development (see dev-secrets.ts), for the start-up log. */
  readonly generatedSecrets: readonly string[];
};

/** Raised when the environment cannot be turned into a valid configuration; lists every problem. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** The documented options, for README's configuration table and the CLI's help. */
export function describeOptions(): { env: string; shownDefault: string; doc: string }[] {
  return Object.values(options).map(({ env, shownDefault, doc }) => ({ env, shownDefault, doc }));
}

/** Reads one option from an environment without the others (the CLI needs `NODE_ENV` and `DATA_DIR` only). */
export function readOption<K extends keyof Options>(key: K, env: Readonly<Record<string, string | undefined>>): ReturnType<Options[K]['parse']> {
  const { env: name, parse } = options[key];
  return parse(env[name], name) as ReturnType<Options[K]['parse']>;
}

/**
 * Reads and validates the configuration from an environment (process.env in main.ts, a literal
 * object in tests). Outside production, missing secrets are generated once and kept in DATA_DIR so
 * that the CLI can mint tokens the running gateway accepts.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, { env: name, parse }] of Object.entries(options)) {
    try {
      values[key] = parse(env[name], name);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (values.adminUi === true && values.adminUiPassword === '') problems.push('ADMIN_UI=true needs ADMIN_UI_PASSWORD: the admin UI can disconnect any socket');
  if (typeof values.headersTimeoutMs === 'number' && typeof values.requestTimeoutMs === 'number' && values.headersTimeoutMs > values.requestTimeoutMs) {
    problems.push(
      `HEADERS_TIMEOUT_MS (${values.headersTimeoutMs}) must not exceed REQUEST_TIMEOUT_MS (${values.requestTimeoutMs}): headers are part of the request`,
    );
  }
  if (values.corsCredentials === true && Array.isArray(values.corsOrigins) && values.corsOrigins.includes('*')) {
    problems.push(
      'CORS_CREDENTIALS=true needs CORS_ORIGINS to list the origins allowed (https://app.example.com,...): with `*` any site could make browsers send their cookies',
    );
  }
  if (Array.isArray(values.webhookUrls) && values.webhookUrls.length > 0 && values.webhookSecret === '') {
    problems.push('WEBHOOK_URLS needs WEBHOOK_SECRET: every webhook is signed with it, so that the receiver can tell it came from the gateway');
  }
  if ([values.jwtSecret, values.jwtPublicKey, values.jwtJwksUrl].filter(Boolean).length > 1) {
    problems.push('Set one of JWT_SECRET (HS256), JWT_PUBLIC_KEY (RS256/ES256) or JWT_JWKS_URL, not several: tokens are verified with one key or key set');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = { ...values, generatedSecrets: [] } as unknown as Config;

  if (config.nodeEnv === 'production') {
    const missing = missingSecrets(config);
    const refusals = [
      ...(missing.length > 0 ? [`NODE_ENV=production refuses to start without ${missing.join(' and ')}: set them in the environment`] : []),
      ...weakSecrets(config),
    ];
    if (refusals.length > 0) throw new ConfigError(refusals);
    return Object.freeze(config);
  }
  return Object.freeze({ ...config, ...generatedSecrets(config) });
}

/** Production secrets too short to resist guessing (an HS256 secret needs 256 bits). */
function weakSecrets(config: Config): string[] {
  const weak: string[] = [];
  if (config.jwtSecret && config.jwtSecret.length < MIN_JWT_SECRET) weak.push(`JWT_SECRET must have at least ${MIN_JWT_SECRET} characters in production`);
  if (config.webhookSecret && config.webhookSecret.length < MIN_JWT_SECRET)
    weak.push(`WEBHOOK_SECRET must have at least ${MIN_JWT_SECRET} characters in production`);
  for (const [name, keys] of [
    ['INTERNAL_API_KEY', config.internalApiKeys],
    ['SCRAPER_API_KEY', config.scraperApiKeys],
    ['API_KEYS key', config.apiKeys.map((declared) => declared.key)],
  ] as const) {
    if (keys.some((key) => key.length < MIN_KEY)) weak.push(`each ${name} must have at least ${MIN_KEY} characters in production`);
  }
  return weak;
}

const MIN_JWT_SECRET = 32;
const MIN_KEY = 16;

function missingSecrets(config: Config): string[] {
  const missing: string[] = [];
  if (config.internalApiKeys.length === 0 && config.apiKeys.length === 0) missing.push('INTERNAL_API_KEY (or API_KEYS)');
  if (config.jwtSecret === '' && config.jwtPublicKey === '' && config.jwtJwksUrl === '') missing.push('JWT_SECRET (or JWT_PUBLIC_KEY, or JWT_JWKS_URL)');
  return missing;
}

/** Fills unset secrets from DATA_DIR/dev-secrets.json, creating it on first use; touches no file when all are set. */
function generatedSecrets(config: Config): Partial<Config> {
  const needKey = config.internalApiKeys.length === 0 && config.apiKeys.length === 0;
  const needJwt = config.jwtSecret === '' && config.jwtPublicKey === '' && config.jwtJwksUrl === '';
  const needScraper = config.scraperApiKeys.length === 0;
  if (!needKey && !needJwt && !needScraper) return {};
  const dev = loadDevSecrets(config.dataDir);
  return {
    ...(needKey && { internalApiKeys: [dev.apiKey] }),
    ...(needJwt && { jwtSecret: dev.jwtSecret }),
    ...(needScraper && { scraperApiKeys: [dev.scraperKey] }),
    generatedSecrets: [...(needKey ? ['INTERNAL_API_KEY'] : []), ...(needJwt ? ['JWT_SECRET'] : []), ...(needScraper ? ['SCRAPER_API_KEY'] : [])],
  };
}
