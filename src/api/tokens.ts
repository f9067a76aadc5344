/** Schemas of the token revocation routes. */
import { Type, type Static } from 'typebox';
import { Id, withExamples } from './common.js';

/** Longest `jti` accepted: ids minted by identity providers are far shorter (a UUID is 36). */
export const MAX_JTI_LENGTH = 256;

/** What a revocation reached: the sockets disconnected, on every node that answered. */
const Disconnected = {
  success: Type.Literal(true),
  message: Type.Literal('SUCCESS'),
  sockets: Type.Integer({ minimum: 0, description: 'How many connected sockets the revocation disconnected, on every gateway node that answered.' }),
  partial: Type.Optional(Type.Literal(true, { description: 'Present when some gateway node could not be asked or did not answer in time.' })),
  unconfirmed: Type.Optional(
    Type.Literal(true, { description: 'Present with `partial` when the nodes that did not answer may have disconnected sockets all the same.' }),
  ),
};

/** `POST /users/:userId/revoke-tokens`: every token of the user issued before now. */
export const RevokeUserTokens = {
  summary: "Revoke a user's tokens issued before now",
  description:
    'Logs a user out everywhere (password change, ban): tokens whose `iat` is before the current second, and tokens without `iat`, are refused from now on ' +
    '(`TOKEN_REVOKED`), on every gateway node and after restarts, for TOKEN_REVOCATION_TTL_SECONDS; sockets connected with such a token are disconnected at once. ' +
    'Tokens issued from now on are accepted. 503 when the revocation could not be stored: then nothing was revoked.',
  tags: ['Tokens'],
  params: Type.Object({ userId: withExamples(Id, '64user123abc') }),
  response: {
    200: Type.Object(
      {
        ...Disconnected,
        revokedAt: Type.String({ description: 'Tokens issued before this time (ISO 8601, a whole second) are revoked.' }),
      },
      { examples: [{ success: true, message: 'SUCCESS', sockets: 2, revokedAt: '2025-10-13T10:30:00.000Z' }] },
    ),
  },
};
export type RevokeUserTokensParams = Static<typeof RevokeUserTokens.params>;

/** `POST /tokens/revoke`: one token, by its `jti`. */
export const RevokeToken = {
  summary: 'Revoke one token by its jti',
  description:
    'Refuses the token whose `jti` claim is given (`TOKEN_REVOKED`) until its `exp` (at most TOKEN_REVOCATION_TTL_SECONDS), on every gateway node and after restarts; ' +
    'sockets connected with it are disconnected at once. 503 when the revocation could not be stored: then nothing was revoked.',
  tags: ['Tokens'],
  body: Type.Object(
    {
      jti: Type.String({
        minLength: 1,
        maxLength: MAX_JTI_LENGTH,
        description: `The token's \`jti\` claim, 1 to ${MAX_JTI_LENGTH} characters.`,
        'x-error': `must be the token's jti, a string of 1 to ${MAX_JTI_LENGTH} characters`,
      }),
      exp: Type.Integer({
        minimum: 0,
        maximum: 253_402_300_799,
        description: "The token's `exp` claim (seconds since 1970): the revocation is kept until then, since the token is refused anyway afterwards.",
        'x-error': "must be the token's exp claim, a whole number of seconds since 1970",
      }),
    },
    { additionalProperties: false, examples: [{ jti: '7f3c9e1a-5b2d-4c8e-9f0a-1b2c3d4e5f60', exp: 1760351400 }] },
  ),
  response: {
    200: Type.Object(
      {
        ...Disconnected,
        keptUntil: Type.String({ description: 'Until when the token is refused (ISO 8601).' }),
      },
      { examples: [{ success: true, message: 'SUCCESS', sockets: 1, keptUntil: '2025-10-13T10:30:00.000Z' }] },
    ),
  },
};
export type RevokeTokenBody = Static<typeof RevokeToken.body>;
