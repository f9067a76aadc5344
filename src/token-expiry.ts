/**
 * A user's token holds for the life of the socket, not only at its handshake. Some time before the
 * token's `exp` (TOKEN_EXPIRY_WARNING_SECONDS) the socket receives `token_expiring`; it may then send
 * a fresh token of the same user with `token_refresh` and stays connected, missing nothing; at `exp`
 * a socket that did not is sent `disconnect_reason` `{ code: 'TOKEN_EXPIRED' }` and disconnected.
 *
 * Cost per socket: one entry in a timing wheel of one-second buckets, and one gateway-wide interval
 * that looks at the buckets whose second has come. No timer per socket.
 */
import { DISCONNECT_REASON_EVENT, TOKEN_EXPIRING_EVENT, TOKEN_REFRESH_EVENT } from './api/common.js';
import { TokenError, type TokenVerifier, type VerifiedToken } from './auth/tokens.js';
import { socketErrorRegistry, type SocketErrorCode } from './errors.js';
import { socketLifecycle } from './socket-lifecycle.js';
import type { GatewayNamespace, GatewaySocket, RefreshAnswer, SocketToken } from './socket-server.js';

/** Seconds since 1970, now. */
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** What a socket holds once its token is verified, before the wheel schedules it. */
export function socketToken(verified: VerifiedToken): SocketToken {
  return {
    exp: verified.exp,
    ...(verified.iat !== undefined && { iat: verified.iat }),
    ...(verified.jti !== undefined && { jti: verified.jti }),
    due: 0,
    warned: false,
  };
}

/**
 * Ends a user socket for a reason of its token: the `disconnect_reason` event first, so that the
 * client can tell "sign in again" from a network failure, then the disconnect (`io server disconnect`:
 * a stock client does not reconnect by itself, which would only be refused).
 */
export function endForToken(socket: GatewaySocket, code: SocketErrorCode, message: string = socketErrorRegistry[code].message): void {
  if (!socket.connected) return;
  socket.emit(DISCONNECT_REASON_EVENT, { code, message });
  socket.disconnect(true);
}

/** The expiry tracking of one gateway's user namespace. */
export interface TokenExpiry {
  /** Stops the wheel (the gateway closes). */
  close(): void;
}

/**
 * Tracks the token of every socket of `users`: its middleware must have put a `socketToken` in
 * `socket.data.token`. `verify` checks refreshed tokens (revocations included).
 */
export function trackTokenExpiry(users: GatewayNamespace, deps: { verify: TokenVerifier; warningSeconds: number }): TokenExpiry {
  const { verify, warningSeconds } = deps;
  /** Sockets by the second at which the wheel next looks at them. */
  const buckets = new Map<number, Set<GatewaySocket>>();
  let last = nowSeconds();

  const unschedule = (socket: GatewaySocket): void => {
    const token = socket.data.token;
    if (!token) return;
    const bucket = buckets.get(token.due);
    bucket?.delete(socket);
    if (bucket?.size === 0) buckets.delete(token.due);
  };
  const scheduleAt = (socket: GatewaySocket, token: SocketToken, second: number): void => {
    // A second the wheel has passed would never be looked at again.
    token.due = Math.max(second, last + 1);
    const bucket = buckets.get(token.due);
    if (bucket) bucket.add(socket);
    else buckets.set(token.due, new Set([socket]));
  };
  const warn = (socket: GatewaySocket, token: SocketToken, now: number): void => {
    token.warned = true;
    socket.emit(TOKEN_EXPIRING_EVENT, { expiresAt: new Date(token.exp * 1000).toISOString(), secondsLeft: Math.max(0, token.exp - now) });
  };
  /** Schedules a socket's token: its warning, or its expiry once warned (at once when the warning is already due). */
  const schedule = (socket: GatewaySocket, token: SocketToken): void => {
    const now = nowSeconds();
    if (warningSeconds === 0) token.warned = true;
    else if (!token.warned && token.exp - warningSeconds <= now) warn(socket, token, now);
    scheduleAt(socket, token, token.warned ? token.exp : token.exp - warningSeconds);
  };

  const visit = (socket: GatewaySocket, now: number): void => {
    const token = socket.data.token;
    if (!token || !socket.connected) return;
    if (now >= token.exp) {
      endForToken(socket, 'TOKEN_EXPIRED', 'Token expired: it was not refreshed in time; get a new token and reconnect');
      return;
    }
    if (!token.warned) warn(socket, token, now);
    scheduleAt(socket, token, token.exp);
  };
  const tick = (): void => {
    const now = nowSeconds();
    // After a long stall (or a clock jump), visiting the buckets beats counting every second between.
    const seconds =
      now - last > buckets.size
        ? [...buckets.keys()].filter((second) => second <= now).sort((a, b) => a - b)
        : Array.from({ length: Math.max(0, now - last) }, (_, i) => last + 1 + i);
    last = Math.max(last, now);
    for (const second of seconds) {
      const bucket = buckets.get(second);
      if (!bucket) continue;
      buckets.delete(second);
      for (const socket of bucket) visit(socket, now);
    }
  };
  const wheel = setInterval(tick, 1000);
  wheel.unref();

  /** `token_refresh` of every socket: one function, so that sockets hold no closure of their own. */
  async function refresh(this: GatewaySocket, payload: unknown, ack?: (answer: RefreshAnswer) => void): Promise<void> {
    const answer = (reply: RefreshAnswer): void => {
      if (typeof ack === 'function') ack(reply);
    };
    const presented = typeof payload === 'object' && payload !== null ? (payload as { token?: unknown }).token : undefined;
    let verified: VerifiedToken;
    try {
      verified = await verify(presented);
    } catch (error) {
      const refused = error instanceof TokenError ? error : new TokenError('TOKEN_INVALID', socketErrorRegistry.TOKEN_INVALID.message);
      const message = refused.code === 'TOKEN_MISSING' ? 'A fresh token is required: send { token: "<JWT>" }' : refused.message;
      return answer({ ok: false, code: refused.code, message });
    }
    if (verified.userId !== this.data.userId) {
      return answer({ ok: false, code: 'TOKEN_USER_MISMATCH', message: `${socketErrorRegistry.TOKEN_USER_MISMATCH.message}: a socket keeps its user` });
    }
    // Disconnected while the token was checked: nothing to keep.
    if (!this.connected) return;
    unschedule(this);
    const token = socketToken(verified);
    this.data.token = token;
    schedule(this, token);
    answer({ ok: true, expiresAt: new Date(token.exp * 1000).toISOString() });
  }

  const lifecycle = socketLifecycle(users.server);
  lifecycle.onConnect((socket) => {
    if (socket.nsp !== users || !socket.data.token) return;
    socket.on(TOKEN_REFRESH_EVENT, refresh);
    schedule(socket, socket.data.token);
  });
  lifecycle.onDisconnect((socket) => {
    if (socket.nsp === users) unschedule(socket);
  });

  return { close: () => clearInterval(wheel) };
}
