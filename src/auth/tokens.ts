/**
 * User tokens: JWTs verified with jose. HS256 with a shared secret, RS256/ES256 with a public key, or
 * the keys of a JWKS URL (fetched, cached, and fetched again for a key it does not hold yet); `exp` is
 * always enforced, `iss` and `aud` when configured. The user id is `sub`, which must be an id the REST
 * API can address.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ID_PATTERN, MAX_ID_LENGTH } from '../ids.js';
import type { Config } from '../config.js';

/** How far ahead of this gateway's clock a token's issuer's clock may run (`iat`). */
export const CLOCK_TOLERANCE_SECONDS = 60;

/** 9999-12-31T23:59:59Z: an `exp` past it is no date (1e308 would make a token that never expires). */
const LATEST_EXP = 253_402_300_799;

/** Longest `jti` kept: longer ones are refused, as a revocation could not name them. */
const MAX_JTI_LENGTH = 256;

const ID = new RegExp(ID_PATTERN, 'u');

/** Why a token was refused, as a stable code and a sentence for the client. */
export class TokenError extends Error {
  constructor(
    readonly code: 'TOKEN_MISSING' | 'TOKEN_EXPIRED' | 'TOKEN_INVALID' | 'TOKEN_REVOKED' | 'TOKEN_UNVERIFIABLE',
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

/** What a verified token says: whose it is, until when, and what revocations can name it by. */
export interface VerifiedToken {
  readonly userId: string;
  /** Seconds since 1970. */
  readonly exp: number;
  /** Seconds since 1970; a token without it counts as issued before every revocation. */
  readonly iat?: number;
  readonly jti?: string;
}

/** Verifies user tokens; resolves to what they say, rejects with a TokenError. */
export type TokenVerifier = (token: unknown) => Promise<VerifiedToken>;

/** Asymmetric algorithms a JWKS key may sign with (never HS*: a public key is no shared secret). */
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

interface VerificationKey {
  readonly key: Uint8Array | KeyObject | JWTVerifyGetKey;
  readonly algorithms: string[];
}

type KeyConfig = Pick<Config, 'jwtSecret' | 'jwtPublicKey'> & Partial<Pick<Config, 'jwtJwksUrl' | 'jwtJwksMaxAgeMs' | 'jwtJwksCooldownMs'>>;

function verificationKey(config: KeyConfig): VerificationKey {
  if (config.jwtJwksUrl) {
    const jwks = createRemoteJWKSet(new URL(config.jwtJwksUrl), {
      ...(config.jwtJwksMaxAgeMs !== undefined && { cacheMaxAge: config.jwtJwksMaxAgeMs }),
      ...(config.jwtJwksCooldownMs !== undefined && { cooldownDuration: config.jwtJwksCooldownMs }),
    });
    const getKey: JWTVerifyGetKey = async (header, token) => {
      try {
        return await jwks(header, token);
      } catch (error) {
        // The set could not be fetched or read (network, status, timeout, not a key set): the token
        // may be good, so the client should retry rather than sign in again.
        if (
          error instanceof TypeError ||
          error instanceof errors.JWKSTimeout ||
          error instanceof errors.JWKSInvalid ||
          error?.constructor === errors.JOSEError
        ) {
          throw new TokenError('TOKEN_UNVERIFIABLE', 'The token cannot be checked right now: the key set (JWT_JWKS_URL) could not be fetched; retry');
        }
        throw error;
      }
    };
    return { key: getKey, algorithms: JWKS_ALGORITHMS };
  }
  if (config.jwtPublicKey !== '') {
    const key = createPublicKey(config.jwtPublicKey);
    return { key, algorithms: key.asymmetricKeyType === 'rsa' ? ['RS256'] : ['ES256'] };
  }
  return { key: new TextEncoder().encode(config.jwtSecret), algorithms: ['HS256'] };
}

/** Builds the verifier for the configured key (or key set), issuer and audience. */
export function createTokenVerifier(config: KeyConfig & Pick<Config, 'jwtIssuer' | 'jwtAudience'>): TokenVerifier {
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
      // Two calls rather than a union: jose types a key and a key getter apart.
      const { payload } = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      return checkClaims(payload);
    } catch (error) {
      throw asTokenError(error);
    }
  };
}

/** What jose leaves to us: the user id's rule, an `exp` that is a date, an `iat` that is not ahead. */
function checkClaims(payload: JWTPayload): VerifiedToken {
  const { sub, exp, iat, jti } = payload;
  // Counted in characters (code points), as the REST API's schemas count an id.
  if (typeof sub !== 'string' || sub === '' || [...sub].length > MAX_ID_LENGTH || !ID.test(sub)) {
    throw new TokenError(
      'TOKEN_INVALID',
      `Invalid token: the "sub" claim must be a user id of 1 to ${MAX_ID_LENGTH} characters without whitespace or control characters`,
    );
  }
  if (typeof exp !== 'number' || !(exp <= LATEST_EXP)) {
    throw new TokenError('TOKEN_INVALID', 'Invalid token: the "exp" claim must be a date in seconds since 1970 before the year 10000');
  }
  if (iat !== undefined && !(iat <= Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS)) {
    throw new TokenError(
      'TOKEN_INVALID',
      `Invalid token: the "iat" claim is in the future (more than ${CLOCK_TOLERANCE_SECONDS} s ahead of the gateway's clock)`,
    );
  }
  if (jti !== undefined && (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH)) {
    throw new TokenError('TOKEN_INVALID', `Invalid token: the "jti" claim must be a string of 1 to ${MAX_JTI_LENGTH} characters`);
  }
  return { userId: sub, exp, ...(typeof iat === 'number' && { iat }), ...(jti !== undefined && { jti }) };
}

function asTokenError(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof errors.JWTExpired) return new TokenError('TOKEN_EXPIRED', 'Token expired: get a new token and reconnect');
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new TokenError('TOKEN_INVALID', `Invalid token: the "${error.claim}" claim ${error.reason === 'missing' ? 'is missing' : 'does not match'}`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new TokenError('TOKEN_INVALID', 'Invalid token: signed with an algorithm this gateway does not accept');
  if (error instanceof errors.JWSSignatureVerificationFailed) return new TokenError('TOKEN_INVALID', 'Invalid token: bad signature');
  if (error instanceof errors.JWKSNoMatchingKey)
    return new TokenError('TOKEN_INVALID', 'Invalid token: signed with a key the key set (JWT_JWKS_URL) does not hold');
  if (error instanceof errors.JWKSMultipleMatchingKeys)
    return new TokenError('TOKEN_INVALID', 'Invalid token: its header matches several keys of the key set; name one with "kid"');
  return new TokenError('TOKEN_INVALID', 'Invalid token: not a well-formed JWT');
}

/** Mints an HS256 token for a user (the CLI's `token` command and tests). */
export async function mintToken(
  secret: string,
  userId: string,
  {
    ttlSeconds = 3600,
    issuer,
    audience,
    issuedAt,
    jti,
  }: { ttlSeconds?: number; issuer?: string; audience?: string /** Seconds since 1970; now when absent. */; issuedAt?: number; jti?: string } = {},
): Promise<string> {
  // One clock reading for both claims, so that exp - iat is exactly the TTL asked for.
  const now = issuedAt ?? Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(jti === undefined ? {} : { jti })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds);
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
