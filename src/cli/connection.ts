/**
 * How the CLI's client commands reach a gateway and talk to the terminal: the gateway URL (--url,
 * then the seed's GENERAL_SOCKET_URL, then this machine's gateway on PORT) and API key (--api-key,
 * then INTERNAL_API_KEY, then the development key),
 * the payload (--data, --data-file, stdin), and printing answers and refusals (text or --json).
 * These are CLI settings, not gateway options, so they are read here from the `env` a command gets.
 */
import { readFile } from 'node:fs/promises';
import { readOption } from '../config.js';
import { devSecretsPath, readDevSecrets } from '../dev-secrets.js';
import { createClient, GeneralSocketError, type GeneralSocketClient } from '../client/index.js';
import { UsageError, type CommandIo } from './command.js';

/** The gateway the CLI talks to when neither --url nor GENERAL_SOCKET_URL says otherwise (the seed's base URL). */
export const DEFAULT_URL = 'http://localhost:4000';

/** parseArgs options shared by every client command. */
export const connectionOptions = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Help text for `connectionOptions`. */
export const CONNECTION_HELP = `Connection options:
  --url <url>         gateway base URL (default: GENERAL_SOCKET_URL, else
                      http://localhost:$PORT when PORT is set, else ${DEFAULT_URL})
  --api-key <key>     API key (default: INTERNAL_API_KEY, else outside production the
                      development key in DATA_DIR/dev-secrets.json)
  --timeout <ms>      how long one attempt may take (default 10000)
  --retries <n>       retries on network failures and 502/503/504 (default 2)
  --json              print the answer (or the error) as JSON on stdout

Exit codes: 0 success, 1 the gateway refused the request or could not be reached, 2 usage error.
`;

type ConnectionValues = { url?: string; 'api-key'?: string; timeout?: string; retries?: string; json?: boolean };

/** A client plus what the command needs to report. */
export interface Connection {
  readonly client: GeneralSocketClient;
  readonly url: string;
  readonly json: boolean;
  /** False when no API key was found (only `status` goes on without one). */
  readonly hasKey: boolean;
  /** Why there is no key, for the message that says so. */
  readonly missingKeyHint: string;
}

/** Builds a client from flags and environment; without an API key it is a usage error unless `keyOptional`. */
export function connect(values: ConnectionValues, env: NodeJS.ProcessEnv, { keyOptional = false } = {}): Connection {
  const url = values.url ?? (env.GENERAL_SOCKET_URL?.trim() || localGateway(env));
  if (!/^https?:\/\/[^/]/i.test(url)) {
    throw new UsageError(`${values.url === undefined ? 'GENERAL_SOCKET_URL' : '--url'} must be an http:// or https:// URL, got "${url}"`);
  }
  const { key, hint } = apiKey(values['api-key'], env);
  if (key === undefined && !keyOptional) throw new UsageError(`no API key: pass --api-key or set INTERNAL_API_KEY (${hint})`);
  const timeoutMs = values.timeout === undefined ? undefined : wholeNumber('--timeout', values.timeout, 1);
  const retries = values.retries === undefined ? undefined : wholeNumber('--retries', values.retries, 0);
  const client = createClient({
    baseUrl: url,
    ...(key !== undefined && { apiKey: key }),
    ...(timeoutMs !== undefined && { timeoutMs }),
    ...(retries !== undefined && { retry: { retries } }),
  });
  return { client, url, json: values.json === true, hasKey: key !== undefined, missingKeyHint: hint };
}

/** The gateway of this machine: the terminal that sets PORT for `npm start` may run the CLI too. */
function localGateway(env: NodeJS.ProcessEnv): string {
  if (env.PORT === undefined || env.PORT.trim() === '') return DEFAULT_URL;
  let port: number;
  try {
    port = readOption('port', env);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (port === 0) throw new UsageError('PORT=0 lets the gateway pick a free port, which the CLI cannot know: set GENERAL_SOCKET_URL or pass --url');
  return `http://localhost:${port}`;
}

function apiKey(flag: string | undefined, env: NodeJS.ProcessEnv): { key?: string; hint: string } {
  if (flag !== undefined) {
    if (flag.trim() === '') throw new UsageError('--api-key is empty');
    return { key: flag.trim(), hint: '' };
  }
  // The gateway accepts a comma-separated list (rotation); a caller sends the first one.
  const fromEnv = env.INTERNAL_API_KEY?.split(',')
    .map((k) => k.trim())
    .find((k) => k !== '');
  if (fromEnv !== undefined) return { key: fromEnv, hint: '' };
  let nodeEnv: string;
  let dataDir: string;
  try {
    nodeEnv = readOption('nodeEnv', env);
    dataDir = readOption('dataDir', env);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (nodeEnv === 'production') return { hint: 'NODE_ENV=production has no development key' };
  let dev: ReturnType<typeof readDevSecrets>;
  try {
    dev = readDevSecrets(dataDir);
  } catch (error) {
    return { hint: (error as Error).message };
  }
  if (dev === undefined) return { hint: `${devSecretsPath(dataDir)} does not exist yet: start the gateway once with "npm start"` };
  return { key: dev.apiKey, hint: '' };
}

function wholeNumber(name: string, raw: string, min: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < min) throw new UsageError(`${name} must be a whole number of at least ${min}, got "${raw}"`);
  return value;
}

/** parseArgs options of the commands that emit. */
export const emitOptions = {
  'idempotency-key': { type: 'string' },
} as const;

/** Help text for `emitOptions`. */
export const EMIT_HELP = `Emit options:
  --idempotency-key <key>  send the call with this Idempotency-Key (1 to 255 printable ASCII
                      characters): repeating the command with the same key within
                      IDEMPOTENCY_TTL_SECONDS delivers nothing more and prints the first answer.
                      Without it each run has a key of its own, which its retries reuse.
`;

/** The SDK's emit options from the command's flags. */
export function emitSettings(values: { 'idempotency-key'?: string }): { idempotencyKey?: string } {
  const key = values['idempotency-key'];
  if (key === undefined) return {};
  if (!/^[\x20-\x7E]{1,255}$/.test(key)) throw new UsageError(`--idempotency-key must be 1 to 255 printable ASCII characters, got ${JSON.stringify(key)}`);
  return { idempotencyKey: key };
}

/** parseArgs options for commands that send a payload. */
export const payloadOptions = {
  data: { type: 'string' },
  'data-file': { type: 'string' },
} as const;

/** Help text for `payloadOptions`. */
export const PAYLOAD_HELP = `Payload (any JSON value), from exactly one of:
  --data <json>       the JSON on the command line (--data=<json> when it starts with "-")
  --data-file <file>  a file holding the JSON ("-" reads stdin)
  stdin               when neither flag is given and stdin is not a terminal
`;

/** Reads the payload from --data, --data-file or stdin; every problem is a usage error naming its source. */
export async function readPayload(values: { data?: string; 'data-file'?: string }, stdin: CommandIo['stdin']): Promise<unknown> {
  if (values.data !== undefined && values['data-file'] !== undefined) throw new UsageError('give the payload with --data or --data-file, not both');
  if (values.data !== undefined) return parsePayload(values.data, '--data');
  const file = values['data-file'];
  if (file !== undefined && file !== '-') {
    let content: string;
    try {
      content = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--data-file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return parsePayload(content, `--data-file ${file}`);
  }
  if (file === undefined && stdin.isTTY)
    throw new UsageError('no payload: give it with --data <json>, --data-file <file> or on stdin (--data null sends none)');
  return parsePayload(await readAll(stdin), 'stdin');
}

function parsePayload(text: string, source: string): unknown {
  if (text.trim() === '') throw new UsageError(`${source} is empty: give a JSON value (--data null sends none)`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${source} is not valid JSON (${(error as Error).message}); to send text, quote it: '"hello"'`);
  }
}

async function readAll(stream: CommandIo['stdin']): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Runs one SDK call and reports it: the answer as text (from `describe`) or as JSON on stdout, or the
 * gateway's refusal on stderr (JSON on stdout with --json). Resolves to the exit code.
 */
export async function report<T>(
  { stdout, stderr }: CommandIo,
  connection: Connection,
  call: () => Promise<T>,
  describe: (answer: T) => string,
): Promise<number> {
  try {
    const answer = await call();
    stdout.write(connection.json ? `${JSON.stringify(answer)}\n` : `${describe(answer)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof GeneralSocketError)) throw error;
    if (connection.json) stdout.write(`${JSON.stringify(errorJson(error))}\n`);
    else stderr.write(`general-socket: ${describeError(error)}\n`);
    return 1;
  }
}

/** The gateway's error shape, for --json output. */
export function errorJson(error: GeneralSocketError): { success: false; errno: number; message: string; code: string } {
  return { success: false, errno: error.errno, message: error.message, code: error.code };
}

/** The server's message, then its code and status, then how many attempts it took. */
export function describeError(error: GeneralSocketError): string {
  const facts = [error.code, ...(error.status > 0 ? [`HTTP ${error.status}`] : []), ...(error.attempts > 1 ? [`${error.attempts} attempts`] : [])];
  return `${error.message} [${facts.join(', ')}]`;
}

/** "1 socket", "2 sockets". */
export function sockets(count: number): string {
  return `${count} socket${count === 1 ? '' : 's'}`;
}
