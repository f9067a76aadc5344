/**
 * Optional `ADMIN_UI=true`: instruments Socket.IO for the ecosystem's @socket.io/admin-ui (its
 * namespace `/admin`, behind basic credentials from config) and serves that UI's files, shipped in
 * the package, at `/admin-ui/`, so that nobody has to open a third-party site to use it.
 *
 * The sign-in is checked here rather than by the package: here it is type-checked, throttled per
 * address, and bounded in how many bcrypt comparisons run at once (each costs ~100 ms of CPU that
 * every other request waits for).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import { instrument } from '@socket.io/admin-ui';
import bcrypt from 'bcryptjs';
import type { FastifyInstance } from 'fastify';
import { AddressWindow, clientAddressOf } from './auth/address-limit.js';
import { createKeySet } from './auth/keys.js';
import type { Config } from './config.js';
import { urlWithoutSecrets, withoutSecrets } from './handshake-request.js';
import { namespacesOf } from './internals/socket-io.js';
import type { GatewayNamespace, GatewayServer } from './socket-server.js';

/** Where the admin UI's pages are served. */
export const ADMIN_UI_PATH = '/admin-ui/';

/** The admin UI's namespace. */
export const ADMIN_NAMESPACE = '/admin';

/** Sign-in attempts (with a user name and password) one address may make per minute. */
export const ADMIN_SIGN_INS_PER_MINUTE = 10;

/** bcrypt comparisons running at once, across all callers; more are refused until one ends. */
const CONCURRENT_SIGN_INS = 2;

/** How long a session id handed to the UI lets it reconnect without the password. */
const SESSION_TTL_MS = 12 * 3600 * 1000;

const BCRYPT_HASH = /^\$2[ab]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** A bcrypt hash of the configured password; a password given as a hash is used as it is. */
function passwordHash(password: string): string {
  return BCRYPT_HASH.test(password) ? password : bcrypt.hashSync(password, 10);
}

type AdminUiConfig = Pick<Config, 'adminUi' | 'adminUiUsername' | 'adminUiPassword' | 'nodeEnv' | 'trustProxy'>;
type Middleware = Parameters<GatewayNamespace['use']>[0];

/** An error the refused UI receives as `connect_error`; the UI shows its message. */
function refusal(code: string, message: string): Error & { data: { code: string } } {
  return Object.assign(new Error(message), { data: { code } });
}

/** The namespace middleware that lets the admin UI in: a session id it was given, or the credentials. */
function signIn(config: AdminUiConfig): Middleware {
  const hash = passwordHash(config.adminUiPassword);
  const username = createKeySet([config.adminUiUsername]);
  const sessions = new Map<string, number>();
  const attempts = new AddressWindow(60_000);
  const addressOf = clientAddressOf(config.trustProxy);
  let comparing = 0;

  return (socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const sessionExpiry = typeof auth.sessionId === 'string' ? sessions.get(auth.sessionId) : undefined;
    if (sessionExpiry !== undefined) {
      if (sessionExpiry > Date.now()) return next();
      sessions.delete(auth.sessionId as string);
    }
    if (auth.username === undefined && auth.password === undefined) return next(refusal('ADMIN_CREDENTIALS_INVALID', 'invalid credentials'));
    if (typeof auth.username !== 'string' || typeof auth.password !== 'string') {
      return next(refusal('ADMIN_CREDENTIALS_INVALID', 'username and password must be strings'));
    }
    const address = addressOf(socket.request);
    if (attempts.hit(address) > ADMIN_SIGN_INS_PER_MINUTE) {
      return next(
        refusal(
          'ADMIN_SIGN_IN_THROTTLED',
          `Too many sign-in attempts from ${address}: at most ${ADMIN_SIGN_INS_PER_MINUTE} per minute; retry in ${attempts.secondsLeft()} s`,
        ),
      );
    }
    if (comparing >= CONCURRENT_SIGN_INS) return next(refusal('ADMIN_SIGN_IN_BUSY', 'Other sign-ins are being checked: retry in a few seconds'));
    comparing++;
    // The password is compared even for a wrong user name, so the time does not tell which was wrong.
    const userMatches = username.match(auth.username) !== undefined;
    bcrypt
      .compare(auth.password, hash)
      .then(
        (passwordMatches) => {
          if (!userMatches || !passwordMatches) return next(refusal('ADMIN_CREDENTIALS_INVALID', 'invalid credentials'));
          const sessionId = randomBytes(16).toString('hex');
          sessions.set(sessionId, Date.now() + SESSION_TTL_MS);
          // The UI keeps it and signs in with it next time (as the package's own sign-in does).
          socket.emit('session', sessionId);
          next();
        },
        () => next(refusal('ADMIN_CREDENTIALS_INVALID', 'invalid credentials')),
      )
      .finally(() => comparing--);
  };
}

/**
 * Once a socket is connected its handshake keeps no credentials (Cookie, Authorization, the token
 * or password it signed in with): the admin UI shows every socket's handshake, and other gateway
 * nodes fetching sockets receive them over the bus. Runs before the admin UI's own listener. (The
 * request a handshake is built from keeps none either, once Engine.IO accepted it: handshake-request.ts;
 * the auth fields come with each CONNECT.)
 */
function hideHandshakeSecrets(io: GatewayServer): void {
  // Not through socket-lifecycle.ts: this must run before the admin UI's own listener, which
  // prepends itself to every namespace.
  const scrub = (nsp: GatewayNamespace): void => {
    nsp.prependListener('connection', (socket) => {
      const { handshake } = socket;
      handshake.headers = withoutSecrets(handshake.headers);
      handshake.auth = withoutSecrets(handshake.auth);
      handshake.query = withoutSecrets(handshake.query);
      handshake.url = urlWithoutSecrets(handshake.url);
    });
  };
  for (const nsp of namespacesOf(io)) scrub(nsp);
  io.on('new_namespace', scrub);
}

/**
 * Instruments `io` and serves the UI when `ADMIN_UI=true`. Handshake secrets are hidden in any case:
 * a node without the UI still answers another node's admin UI asking for its sockets.
 */
export async function registerAdminUi(app: FastifyInstance, io: GatewayServer, config: AdminUiConfig): Promise<void> {
  if (config.adminUi) {
    io.of(ADMIN_NAMESPACE).use(signIn(config));
    instrument(io, {
      namespaceName: ADMIN_NAMESPACE,
      // Checked by signIn above, which runs first.
      auth: false,
      // Production mode sends aggregates only, not every socket and room, to keep the overhead low.
      mode: config.nodeEnv === 'production' ? 'production' : 'development',
      // Distinct per process, so that several nodes on one host show up separately.
      serverId: `${hostname()}#${process.pid}`,
    });
  }
  // After instrument(), so that it is prepended before the admin UI's own connection listener.
  hideHandshakeSecrets(io);
  if (!config.adminUi) return;
  const uiRoot = join(dirname(createRequire(import.meta.url).resolve('@socket.io/admin-ui/package.json')), 'ui', 'dist');
  await app.register(fastifyStatic, { root: uiRoot, prefix: ADMIN_UI_PATH, decorateReply: false, schemaHide: true });
  app.get(ADMIN_UI_PATH.slice(0, -1), { schema: { hide: true } }, (_request, reply) => reply.redirect(ADMIN_UI_PATH));
}
