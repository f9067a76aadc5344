/** `general-socket emit-batch`: many events, each to its own audience, in one call (POST /emit/batch), read from a file or stdin. */
import { readFile } from 'node:fs/promises';
import type { BatchItem } from '../client/index.js';
import { UsageError, parse, type Command, type CommandIo } from './command.js';
import { CONNECTION_HELP, EMIT_HELP, connect, connectionOptions, emitOptions, emitSettings, report, sockets } from './connection.js';

export const emitBatch: Command = {
  summary: 'Emit many events, each to its own user(s) or scraper socket, in one call',
  help: `Usage: general-socket emit-batch <file | -> [options]

Calls POST /emit/batch with the items of <file> ("-" reads stdin): a JSON array of items, or NDJSON
(one item per line). An item is {"userId": ..., "event": ..., "data": ...}, with "userIds" (an
array) or "socketId" (a lead-finder scraper socket) instead of "userId". The gateway checks every
item and sends the valid ones; prints one line per item that was not sent, and exits 1 when there
is one. At most BATCH_MAX_ITEMS items; each counts as one emit against the rate limit.

${EMIT_HELP}
${CONNECTION_HELP}
Examples:
  general-socket emit-batch items.json
  printf '%s\\n' '{"userId":"64user1","event":"notification","data":{"n":1}}' \\
                 '{"userIds":["64user2","64user3"],"event":"notification","data":{"n":2}}' | general-socket emit-batch -
`,
  async run(args, io) {
    const { values, positionals } = parse({ args, options: { ...connectionOptions, ...emitOptions }, allowPositionals: true, strict: true });
    const [source, ...extra] = positionals;
    if (source === undefined) throw new UsageError('give the file holding the items, or - to read them from stdin');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const connection = connect(values, io.env);
    const settings = emitSettings(values);
    const items = parseItems(await readSource(source, io.stdin), source === '-' ? 'stdin' : source);
    let failed = 0;
    const code = await report(
      io,
      connection,
      async () => {
        const answer = await connection.client.emitBatch(items, settings);
        failed = answer.results.filter((result) => !result.success).length;
        return answer;
      },
      ({ results, partial }) => {
        const reached = results.reduce((sum, result) => sum + (result.success ? result.sockets : 0), 0);
        const lines = [
          `Sent ${results.length - failed} of ${results.length} items to ${sockets(reached)}${partial ? ' (not every gateway node answered)' : ''}.`,
        ];
        results.forEach((result, index) => {
          if (!result.success) lines.push(`  item ${index + 1}: ${result.message} [${result.code}]`);
        });
        return lines.join('\n');
      },
    );
    return code === 0 && failed > 0 ? 1 : code;
  },
};

async function readSource(source: string, stdin: CommandIo['stdin']): Promise<string> {
  if (source === '-') {
    if (stdin.isTTY) throw new UsageError('- reads the items from stdin, which is a terminal: pipe them in or give a file');
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(source, 'utf8');
  } catch (error) {
    throw new UsageError(`${source} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The items of a JSON array, or of NDJSON (one JSON value per line, blank lines skipped). */
function parseItems(text: string, source: string): BatchItem[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new UsageError(`${source} is empty: give a JSON array of items, or one item per line`);
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new UsageError(`${source} is not a valid JSON array (${(error as Error).message})`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0) throw new UsageError(`${source} holds an empty array: there is nothing to send`);
    return parsed as BatchItem[];
  }
  return text.split('\n').flatMap((line, index) => {
    if (line.trim() === '') return [];
    try {
      return [JSON.parse(line) as BatchItem];
    } catch (error) {
      throw new UsageError(`${source} line ${index + 1} is not valid JSON (${(error as Error).message}); give a JSON array, or one item per line`);
    }
  });
}
