/** `general-socket revoke user|token`: log a user out everywhere, or revoke one token, through the SDK. */
import { UsageError, parse, type Command } from './command.js';
import { CONNECTION_HELP, connect, connectionOptions, report, sockets } from './connection.js';

const USAGE = `Usage:
  general-socket revoke user <userId> [options]
  general-socket revoke token <jti> --exp <seconds since 1970> [options]`;

export const revoke: Command = {
  summary: "Revoke a user's tokens issued before now, or one token by its jti",
  help: `${USAGE}

  user      POST /users/:userId/revoke-tokens: the user's tokens issued before now (and those
            without iat) are refused from now on, and the sockets holding them are disconnected
  token     POST /tokens/revoke: the token with this jti is refused until its exp, and the
            sockets holding it are disconnected

Options:
  --exp <seconds>     the token's exp claim (revoke token only): the revocation is kept until then

${CONNECTION_HELP}
Examples:
  general-socket revoke user 64user123
  general-socket revoke token 7f3c9e1a-5b2d-4c8e-9f0a-1b2c3d4e5f60 --exp 1760351400
`,
  async run(args, io) {
    const options = { ...connectionOptions, exp: { type: 'string' as const } };
    const { values, positionals } = parse({ args, options, allowPositionals: true, strict: true });
    const [target, id, ...extra] = positionals;
    if (target !== 'user' && target !== 'token')
      throw new UsageError(target === undefined ? 'say what to revoke: user or token' : `unknown target "${target}": use user or token`);
    if (id === undefined) throw new UsageError(`revoke ${target} needs ${target === 'user' ? 'a user id' : "the token's jti"}`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if (target === 'user') {
      if (values.exp !== undefined) throw new UsageError('--exp goes with revoke token only');
      const connection = connect(values, io.env);
      return report(
        io,
        connection,
        () => connection.client.revokeUserTokens(id),
        ({ sockets: n, revokedAt }) => `Revoked the tokens of user ${id} issued before ${revokedAt}; disconnected ${sockets(n)}.`,
      );
    }
    const exp = Number(values.exp);
    if (values.exp === undefined || !Number.isSafeInteger(exp) || exp < 0)
      throw new UsageError("--exp must be the token's exp claim, whole seconds since 1970");
    const connection = connect(values, io.env);
    return report(
      io,
      connection,
      () => connection.client.revokeToken(id, exp),
      ({ sockets: n, keptUntil }) => `Revoked token ${id} until ${keptUntil}; disconnected ${sockets(n)}.`,
    );
  },
};
