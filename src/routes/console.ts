/** `POST /console/token`: lets the console listen as a user outside production. */
import { decodeJwt } from 'jose';
import { mintUserToken } from '../auth/tokens.js';
import type { Config } from '../config.js';
import { fail } from '../errors.js';
import type { Handlers } from './register.js';

const DEFAULT_TTL_SECONDS = 600;

/** Handler of `POST /console/token`. */
export function consoleHandlers({ config }: { config: Config }): Pick<Handlers, 'consoleToken'> {
  return {
    consoleToken: async (request) => {
      // Anyone holding an API key could otherwise impersonate any user in production.
      if (config.nodeEnv === 'production') throw fail('FORBIDDEN', 'The console mints user tokens only outside production (NODE_ENV=production)');
      if (config.jwtSecret === '') {
        const by = config.jwtJwksUrl !== '' ? 'the keys of JWT_JWKS_URL' : 'JWT_PUBLIC_KEY';
        throw fail('FORBIDDEN', `This gateway verifies user tokens with ${by}, so it has no key to sign one`);
      }
      const ttlSeconds = request.body.ttlSeconds ?? DEFAULT_TTL_SECONDS;
      const token = await mintUserToken(config, request.body.userId, ttlSeconds);
      // Read from the token itself: a second clock reading could fall in the next second.
      const expiresAt = new Date((decodeJwt(token).exp ?? 0) * 1000).toISOString();
      return { success: true, message: 'SUCCESS', token, expiresAt } as const;
    },
  };
}
