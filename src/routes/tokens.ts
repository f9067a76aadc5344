/** `POST /users/:userId/revoke-tokens` and `POST /tokens/revoke`: token revocation (token-revocation.ts). */
import { fail } from '../errors.js';
import type { RevocationReport, Revoker } from '../token-revocation.js';
import type { Handlers } from './register.js';

/** `partial` and `unconfirmed` appear only when true, as in the emit answers. */
function reached(report: RevocationReport): { sockets: number; partial?: true; unconfirmed?: true } {
  return { sockets: report.sockets, ...(report.partial && { partial: true as const }), ...(report.unconfirmed && { unconfirmed: true as const }) };
}

/** A revocation that could not be stored revoked nothing: say so, so that the caller retries. */
async function stored<T>(revocation: Promise<T>): Promise<T> {
  try {
    return await revocation;
  } catch (error) {
    throw fail('SERVICE_UNAVAILABLE', `The revocation could not be stored, so nothing was revoked; retry (${(error as Error).message})`);
  }
}

/** Handlers of the revocation routes. */
export function tokenHandlers({ revoker }: { revoker: Revoker }): Pick<Handlers, 'revokeUserTokens' | 'revokeToken'> {
  return {
    revokeUserTokens: async (request) => {
      const report = await stored(revoker.revokeUser(request.params.userId));
      request.log.info({ userId: request.params.userId, sockets: report.sockets, key: request.apiKeyId }, 'user tokens revoked');
      return { success: true, message: 'SUCCESS', ...reached(report), revokedAt: new Date(report.revokedAt * 1000).toISOString() } as const;
    },
    revokeToken: async (request) => {
      const report = await stored(revoker.revokeToken(request.body.jti, request.body.exp));
      request.log.info({ sockets: report.sockets, key: request.apiKeyId }, 'token revoked by jti');
      return { success: true, message: 'SUCCESS', ...reached(report), keptUntil: new Date(report.keptUntil * 1000).toISOString() } as const;
    },
  };
}
