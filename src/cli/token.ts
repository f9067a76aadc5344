/** `general-socket token --user <id> [--ttl <seconds>]`: mints a user JWT the gateway accepts. */
import { loadConfig } from '../config.js';
import { mintUserToken } from '../auth/tokens.js';
import { UsageError, parse, type Command } from './command.js';

export const token: Command = {
  summary: 'Mint a JWT for a test user (HS256, with JWT_SECRET or the development secret)',
  help: `Usage: general-socket token --user <id> [--ttl <seconds>]

Prints a JWT whose "sub" is the user id, signed with JWT_SECRET (or, outside production, the
generated development secret in DATA_DIR/dev-secrets.json), with JWT_ISSUER and JWT_AUDIENCE when set.

Options:
  --user <id>        the user id (required)
  --ttl <seconds>    lifetime, default 3600
`,
  async run(args, { env, stdout }) {
    const { values } = parse({ args, options: { user: { type: 'string' }, ttl: { type: 'string' } }, strict: true });
    if (!values.user) throw new UsageError('--user is required');
    const ttlSeconds = values.ttl === undefined ? 3600 : Number(values.ttl);
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new UsageError('--ttl must be a positive whole number of seconds');
    // A ConfigError reaches the user as the command's error (cli/commands.ts prints its message).
    const config = loadConfig(env);
    if (config.jwtSecret === '') {
      throw new Error('the gateway verifies tokens with JWT_PUBLIC_KEY or JWT_JWKS_URL; mint tokens with the matching private key instead');
    }
    const jwt = await mintUserToken(config, values.user, ttlSeconds);
    stdout.write(`${jwt}\n`);
    return 0;
  },
};
