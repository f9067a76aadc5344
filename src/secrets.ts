/**
 * Keeping secrets out of logs, probes and messages. pino's redaction (gateway.ts) blanks whole fields
 * of a log record; a secret inside a value, like the password in a connection URL, is hidden here.
 */

/** Query parameters that carry a secret: pg and ioredis both take `?password=` as an option. */
const SECRET_PARAMETER = /pass|secret|token/i;

/** `url` with its password and any secret query parameter shown as `***`, safe to log. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // An unparsable URL may still hold a password: show none of it.
    return '(unparsable URL)';
  }
  if (parsed.password !== '') parsed.password = '***';
  for (const name of new Set(parsed.searchParams.keys())) if (SECRET_PARAMETER.test(name)) parsed.searchParams.set(name, '***');
  return parsed.toString();
}
