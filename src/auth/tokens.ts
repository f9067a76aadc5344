/**
 * User tokens: JWTs verified with jose. HS256 with a shared secret, or RS256/ES256 with a public
 * key; `exp` is always enforced, `iss` and `aud` when configured. The user id is `sub`, which must
 * be an id the REST API can address.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT, errors, jwtVerify, type JWTPayload } from 'jose';
import { ID_PATTERN, MAX_ID_LENGTH } from '../ids.js';
import type { Config } from '../config.js';

/** How far ahead of this gateway's clock a token's issuer's clock may run (`iat`). */
export const CLOCK_TOLERANCE_SECONDS = 60;

/** 9999-12-31T23:59:59Z: an `exp` past it is no date (1e308 would make a token that never expires). */
const LATEST_EXP = 253_402_300_799;

const ID = new RegExp(ID_PATTERN, 'u');

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
      return checkClaims(payload);
    } catch (error) {
      throw asTokenError(error);
    }
  };
}

/** What jose leaves to us: the user id's rule, an `exp` that is a date, an `iat` that is not ahead. */
function checkClaims(payload: JWTPayload): string {
  const { sub, exp, iat } = payload;
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
  return sub;
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
  // One clock reading for both claims, so that exp - iat is exactly the TTL asked for.
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({})
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
