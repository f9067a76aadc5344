/**
 * Token revocation: a user's tokens issued before a moment (logout everywhere, a password change, a
 * ban), or one token by its `jti`. A revocation is stored first (revocations/: Redis in a cluster,
 * SQLite standalone), so that every node refuses such a token at its handshake and at a refresh, and
 * a restart forgets nothing; then every node disconnects its sockets that hold one, at once (one
 * cluster message).
 *
 * A token without `iat` cannot show it was issued after a revocation: it counts as issued before
 * every revocation of its user.
 */
import type { FastifyBaseLogger } from 'fastify';
import { TokenError, type TokenVerifier } from './auth/tokens.js';
import type { ClusterChannel } from './cluster/channel.js';
import { RevokeMessage } from './cluster/messages.js';
import { socketErrorRegistry } from './errors.js';
import { userRoom } from './namespaces.js';
import { nowSeconds, type Revocation, type RevocationEntry, type RevocationStore } from './revocations/revocations.js';
import type { GatewayNamespace, SocketToken } from './socket-server.js';
import { endForToken } from './token-expiry.js';

/** What a revocation reached. */
export interface RevocationReport {
  /** Sockets disconnected, on every node that answered. */
  readonly sockets: number;
  /** Some node could not be asked or did not answer in time. */
  readonly partial: boolean;
  /** With `partial`: a node that did not answer may have disconnected sockets all the same. */
  readonly unconfirmed: boolean;
}

/** Revokes tokens across the cluster. */
export interface Revoker {
  /** Revokes the user's tokens issued before the current second; rejects when the revocation cannot be stored. */
  revokeUser(userId: string): Promise<RevocationReport & { readonly revokedAt: number }>;
  /** Revokes the token `jti` until its `exp` (at most the TTL); rejects when the revocation cannot be stored. */
  revokeToken(jti: string, exp: number): Promise<RevocationReport & { readonly keptUntil: number }>;
}

/** Whether a token is revoked by what the store holds. */
function isRevoked(token: { readonly iat?: number | undefined; readonly jti?: string | undefined }, found: Revocation): boolean {
  if (found.tokenRevoked && token.jti !== undefined) return true;
  return found.userRevokedAt !== undefined && (token.iat === undefined || token.iat < found.userRevokedAt);
}

/** Whether a revocation covers a socket's token. */
function covers(entry: RevocationEntry, token: SocketToken): boolean {
  return entry.kind === 'user' ? token.iat === undefined || token.iat < entry.revokedAt : token.jti === entry.jti;
}

/** `verify`, refusing revoked tokens with TOKEN_REVOKED (and TOKEN_UNVERIFIABLE when revocations cannot be read). */
export function refusingRevoked(verify: TokenVerifier, store: RevocationStore, log: FastifyBaseLogger): TokenVerifier {
  return async (token) => {
    const verified = await verify(token);
    let found: Revocation;
    try {
      found = await store.lookup(verified.userId, verified.jti);
    } catch (error) {
      log.warn({ err: error }, 'token revocations could not be read: token refused');
      throw new TokenError('TOKEN_UNVERIFIABLE', 'The token cannot be checked right now: revocations could not be read; retry');
    }
    if (isRevoked(verified, found)) throw new TokenError('TOKEN_REVOKED', `${socketErrorRegistry.TOKEN_REVOKED.message}: this token was revoked`);
    return verified;
  };
}

/** Builds the revoker of one node and answers the other nodes' revocations. */
export function createRevoker(deps: { users: GatewayNamespace; store: RevocationStore; cluster: ClusterChannel; ttlSeconds: number }): Revoker {
  const { users, store, cluster, ttlSeconds } = deps;

  /** Disconnects this node's sockets whose token `entry` revokes; returns how many. */
  const disconnectHere = (entry: RevocationEntry): number => {
    const ids = entry.kind === 'user' ? [...(users.adapter.rooms.get(userRoom(entry.userId)) ?? [])] : [...users.sockets.keys()];
    let disconnected = 0;
    for (const id of ids) {
      const socket = users.sockets.get(id);
      const token = socket?.data.token;
      if (!socket?.connected || !token || !covers(entry, token)) continue;
      endForToken(socket, 'TOKEN_REVOKED', `${socketErrorRegistry.TOKEN_REVOKED.message}: this socket's token was revoked`);
      disconnected++;
    }
    return disconnected;
  };

  cluster.handle(RevokeMessage, (entry) => {
    store.remember(entry);
    return disconnectHere(entry);
  });

  const revoke = async (entry: RevocationEntry): Promise<RevocationReport> => {
    // Stored first: once the call answers, no node accepts the token again, restarted or not.
    if (entry.keepUntil > nowSeconds()) await store.add(entry);
    const here = disconnectHere(entry);
    const others = await cluster.ask(RevokeMessage, entry);
    return {
      sockets: here + others.answers.reduce((sum, count) => sum + count, 0),
      partial: !others.complete,
      unconfirmed: !others.complete && others.unconfirmed,
    };
  };

  return {
    async revokeUser(userId) {
      const revokedAt = nowSeconds();
      const report = await revoke({ kind: 'user', userId, revokedAt, keepUntil: revokedAt + ttlSeconds });
      return { ...report, revokedAt };
    },
    async revokeToken(jti, exp) {
      const keptUntil = Math.min(exp, nowSeconds() + ttlSeconds);
      const report = await revoke({ kind: 'token', jti, keepUntil: keptUntil });
      return { ...report, keptUntil };
    },
  };
}
