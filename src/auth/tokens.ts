/**
 * User tokens: JWTs verified with jose. HS256 with a shared secret, or RS256/ES256 with a public
 * key; `exp` is always enforced, `iss` and `aud` when configured. The user id is `sub`.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
import type { Config } from '../config.js';

/** Why a token was refused, as a stable code and a sentence for the client. */
export class TokenError extends Error {
  constructor(
    readonly code: 'TOKEN_MISSING' | 'TOKEN_EXPIRED' | 'TOKEN_INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

/** Verifies user tokens; resolves to the user id. */
export type TokenVerifier = (token: unknown) => Promise<string>;

interface VerificationKey {
  readonly key: Uint8Array | KeyObject;
  readonly algorithms: string[];
}

function verificationKey(config: Pick<Config, 'jwtSecret' | 'jwtPublicKey'>): VerificationKey {
  if (config.jwtPublicKey !== '') {
    const key = createPublicKey(config.jwtPublicKey);
    return { key, algorithms: key.asymmetricKeyType === 'rsa' ? ['RS256'] : ['ES256'] };
  }
  return { key: new TextEncoder().encode(config.jwtSecret), algorithms: ['HS256'] };
}

/** Builds the verifier for the configured key, issuer and audience. */
export function createTokenVerifier(config: Pick<Config, 'jwtSecret' | 'jwtPublicKey' | 'jwtIssuer' | 'jwtAudience'>): TokenVerifier {
  const { key, algorithms } = verificationKey(config);
  const options = {
    algorithms,
    requiredClaims: ['exp', 'sub'],
    ...(config.jwtIssuer !== '' && { issuer: config.jwtIssuer }),
    ...(config.jwtAudience !== '' && { audience: config.jwtAudience }),
  };
  return async (token) => {
    if (typeof token !== 'string' || token === '') {
      throw new TokenError('TOKEN_MISSING', 'Authentication required: connect with auth: { token: "<JWT>" }');
    }
    try {
      const { payload } = await jwtVerify(token, key, options);
      if (typeof payload.sub !== 'string' || payload.sub === '') {
        throw new TokenError('TOKEN_INVALID', 'Invalid token: the "sub" claim must name the user');
      }
      return payload.sub;
    } catch (error) {
      throw asTokenError(error);
    }
  };
}

function asTokenError(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof errors.JWTExpired) return new TokenError('TOKEN_EXPIRED', 'Token expired: get a new token and reconnect');
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new TokenError('TOKEN_INVALID', `Invalid token: the "${error.claim}" claim ${error.reason === 'missing' ? 'is missing' : 'does not match'}`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new TokenError('TOKEN_INVALID', 'Invalid token: signed with an algorithm this gateway does not accept');
  if (error instanceof errors.JWSSignatureVerificationFailed) return new TokenError('TOKEN_INVALID', 'Invalid token: bad signature');
  return new TokenError('TOKEN_INVALID', 'Invalid token: not a well-formed JWT');
}

/** Mints an HS256 token for a user (the CLI's `token` command and tests). */
export async function mintToken(
  secret: string,
  userId: string,
  { ttlSeconds = 3600, issuer, audience }: { ttlSeconds?: number; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (issuer) jwt = jwt.setIssuer(issuer);
  if (audience) jwt = jwt.setAudience(audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** Mints an HS256 token for a user with the gateway's own secret, issuer and audience (console and CLI). */
export function mintUserToken(config: Pick<Config, 'jwtSecret' | 'jwtIssuer' | 'jwtAudience'>, userId: string, ttlSeconds: number): Promise<string> {
  return mintToken(config.jwtSecret, userId, {
    ttlSeconds,
    ...(config.jwtIssuer !== '' && { issuer: config.jwtIssuer }),
    ...(config.jwtAudience !== '' && { audience: config.jwtAudience }),
  });
}
