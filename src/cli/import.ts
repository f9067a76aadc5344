/** `general-socket import FILE [--collection NAME]`: loads documents into the configured store. */
import { readFileSync } from 'node:fs';
import { loadConfig, readOption } from '../config.js';
import { CollectionNeededError, ImportError, isCollection, parseImportFile } from '../store/import-file.js';
import { openStore } from '../store/open.js';
import { COLLECTIONS, type ImportBatch } from '../store/store.js';
import { UsageError, parse, type Command } from './command.js';

/** The `import` command. */
export const importCommand: Command = {
  summary: 'Import users, contacts, conversations and messages (JSON or mongoexport NDJSON)',
  help: `Usage: general-socket import FILE [--collection NAME]

Upserts documents by _id into the gateway's database: PostgreSQL when DATABASE_URL is set, else the
embedded SQLite file in DATA_DIR. Importing the same file twice changes nothing. The whole file is
one transaction: if any document is malformed, nothing is written.

FILE is either
  - JSON: { "users": [...], "contacts": [...], "conversationprospects": [...], "communications": [...] }
  - with --collection NAME, mongoexport output for that collection: one document per line (NDJSON),
    or a JSON array (mongoexport --jsonArray).
Ids and dates may be plain strings or MongoDB Extended JSON ({"$oid": ...}, {"$date": ...}).

Options:
  --collection NAME   ${COLLECTIONS.join(', ')}
`,
  async run(args, { env, stdout }) {
    const { values, positionals } = parse({ args, options: { collection: { type: 'string' } }, allowPositionals: true, strict: true });
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'FILE is required' : `expected one FILE, got ${positionals.length}`);
    const file = positionals[0]!;
    const collection = values.collection;
    if (collection !== undefined && !isCollection(collection)) {
      throw new UsageError(`--collection must be one of ${COLLECTIONS.join(', ')}, got "${collection}"`);
    }

    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    let batch: ImportBatch;
    try {
      batch = parseImportFile(text, collection, readOption('jsonMaxDepth', env));
    } catch (error) {
      // The file is fine but the command line misses what reads it: a usage mistake (exit 2).
      if (error instanceof CollectionNeededError) throw new UsageError(`${file}: ${error.message}`);
      if (error instanceof ImportError) throw new Error(`${file}: ${error.message}; nothing was imported`);
      throw error;
    }

    // A ConfigError reaches the user as the command's error (cli/commands.ts prints its message).
    const config = loadConfig(env);
    // Problems reach the user as the command's error; the server's warnings would repeat them.
    const store = await openStore(config, { warn: () => undefined });
    try {
      const counts = await store.importDocuments(batch);
      stdout.write(`Imported ${file} into ${store.description}:\n`);
      for (const [name, count] of Object.entries(counts)) {
        const total = count.inserted + count.updated + count.unchanged;
        stdout.write(`  ${name.padEnd(22)}${String(total).padStart(7)}  (${count.inserted} new, ${count.updated} updated, ${count.unchanged} unchanged)\n`);
      }
    } finally {
      await store.close();
    }
    return 0;
  },
};
