/** Schema of the console's token route. */
import { Type, type Static } from 'typebox';
import { Id, withExamples } from './common.js';

/** Longest life of a console token: it is for watching events, not for real clients. */
export const MAX_CONSOLE_TOKEN_SECONDS = 3600;

/** `POST /console/token`: a short-lived user token for the "listen as user" panel; refused in production. */
export const ConsoleToken = {
  summary: 'Mint a short-lived user token for the console (refused in production)',
  description:
    'Signs a token for `userId` with JWT_SECRET so that the console can connect to `/v1/shared` as that user. ' +
    'Refused (403) with NODE_ENV=production, and when tokens are verified with JWT_PUBLIC_KEY or JWT_JWKS_URL (the gateway has no signing key).',
  tags: ['Operations'],
  body: Type.Object(
    {
      userId: withExamples(Id, '64user123abc'),
      ttlSeconds: Type.Optional(
        Type.Integer({
          minimum: 10,
          maximum: MAX_CONSOLE_TOKEN_SECONDS,
          description: `Life of the token in seconds, 10 to ${MAX_CONSOLE_TOKEN_SECONDS}; 600 when absent.`,
          'x-error': `must be a whole number of seconds from 10 to ${MAX_CONSOLE_TOKEN_SECONDS}`,
        }),
      ),
    },
    { additionalProperties: false, examples: [{ userId: '64user123abc', ttlSeconds: 600 }] },
  ),
  response: {
    200: Type.Object({
      success: Type.Literal(true),
      message: Type.Literal('SUCCESS'),
      token: Type.String({ description: 'A JWT whose `sub` is the user id.' }),
      expiresAt: Type.String({ description: 'When the token expires (ISO 8601).' }),
    }),
  },
};
export type ConsoleTokenBody = Static<typeof ConsoleToken.body>;
