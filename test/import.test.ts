/**
 * `general-socket import` against the store the server would use, run in-process through the CLI's
 * `run(argv, io)` (the process around it is tested in cli.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseImportFile } from '../src/store/import-file.js';
import { openStore } from '../src/store/open.js';
import { cli as runCli, type CliRun } from './support/cli.js';
import { nextEvent, nextEvents, startGateway } from './support/gateway.js';
import { createTestSchema, postgresAvailable } from './support/postgres.js';

const root = new URL('..', import.meta.url).pathname;
const DEMO = join(root, 'examples/demo-data.json');

/** Runs the CLI with the test keys and `env`; resolves with its exit code and output. */
function cli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return runCli(args, { NODE_ENV: 'test', INTERNAL_API_KEY: 'k', JWT_SECRET: 's', SCRAPER_API_KEY: 'w', ...env });
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'gs-import-'));
const file = (dir: string, name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
/** Reads documents back through the store the CLI wrote to. */
async function read(env: { DATA_DIR: string; DATABASE_URL?: string }, collection: 'users' | 'communications', ids: string[]) {
  const store = await openStore(
    { dataDir: env.DATA_DIR, databaseUrl: env.DATABASE_URL ?? '', databaseTimeoutMs: 5000, databasePoolSize: 2 },
    { warn: () => undefined },
  );
  try {
    return await store.find(collection, ids);
  } finally {
    await store.close();
  }
}

/** mongoexport's NDJSON for communications: canonical and relaxed Extended JSON mixed. */
const NDJSON = [
  '{"_id":{"$oid":"652f0c0e1a2b3c4d5e6fb001"},"type":"INCOMING","data":"Hi","sent_by":{"$oid":"652f0c0e1a2b3c4d5e6f8001"},"conversation_id":[{"$oid":"652f0c0e1a2b3c4d5e6f9001"}],"createdAt":{"$date":"2025-10-13T10:30:00Z"},"attempts":{"$numberInt":"2"}}',
  '',
  '{"_id":{"$oid":"652f0c0e1a2b3c4d5e6fb002"},"type":"OUTGOING","data":"Hello","sent_by":{"$oid":"652f0c0e1a2b3c4d5e6f7001"},"conversation_id":[{"$oid":"652f0c0e1a2b3c4d5e6f9001"}],"createdAt":{"$date":{"$numberLong":"1760351700000"}},"cost":{"$numberDecimal":"0.0075"}}',
].join('\n');

describe('general-socket import (embedded SQLite)', () => {
  it('imports the demo file, converting Extended JSON ids and dates, and prints counts; twice changes nothing', async () => {
    const env = { DATA_DIR: tempDir() };
    const first = await cli(['import', DEMO], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /users\s+3\s+\(3 new, 0 updated, 0 unchanged\)/);
    assert.match(first.stdout, /communications\s+2\s+\(2 new/);
    assert.match(first.stdout, /into sqlite .*general-socket\.sqlite/);

    const again = await cli(['import', DEMO], env);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /users\s+3\s+\(0 new, 0 updated, 3 unchanged\)/);
    assert.match(again.stdout, /conversationprospects\s+3\s+\(0 new, 0 updated, 3 unchanged\)/);

    const message = (await read(env, 'communications', ['652f0c0e1a2b3c4d5e6fa002'])).get('652f0c0e1a2b3c4d5e6fa002');
    assert.deepEqual(message?.conversation_id, ['652f0c0e1a2b3c4d5e6f9001', '652f0c0e1a2b3c4d5e6f9002']);
    assert.equal(message?.sent_by, '652f0c0e1a2b3c4d5e6f7001');
    assert.equal(message?.createdAt, '2025-10-13T10:35:00.000Z');
  });

  it('imports mongoexport NDJSON with --collection', async () => {
    const dir = tempDir();
    const env = { DATA_DIR: dir };
    const result = await cli(['import', file(dir, 'communications.json', NDJSON), '--collection', 'communications'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /communications\s+2\s+\(2 new/);
    const found = await read(env, 'communications', ['652f0c0e1a2b3c4d5e6fb001', '652f0c0e1a2b3c4d5e6fb002']);
    assert.deepEqual(found.get('652f0c0e1a2b3c4d5e6fb001'), {
      _id: '652f0c0e1a2b3c4d5e6fb001',
      type: 'INCOMING',
      data: 'Hi',
      sent_by: '652f0c0e1a2b3c4d5e6f8001',
      conversation_id: ['652f0c0e1a2b3c4d5e6f9001'],
      createdAt: '2025-10-13T10:30:00.000Z',
      attempts: 2,
    });
    assert.equal(found.get('652f0c0e1a2b3c4d5e6fb002')?.createdAt, '2025-10-13T10:35:00.000Z');
    assert.equal(found.get('652f0c0e1a2b3c4d5e6fb002')?.cost, '0.0075');
  });

  it('a malformed document: names its line, exits 1, and imports nothing from the file', async () => {
    const dir = tempDir();
    const env = { DATA_DIR: dir };
    const bad = `${NDJSON}\n{"_id":"m3","type":"OUTGOING","data":"x","sent_by":"u1"}\n`;
    const result = await cli(['import', file(dir, 'bad.ndjson', bad), '--collection', 'communications'], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /bad\.ndjson: line 4 \(communications\): conversation_id must be an array of ids, got undefined; nothing was imported/);
    assert.equal((await read(env, 'communications', ['652f0c0e1a2b3c4d5e6fb001'])).size, 0);
  });

  it('a malformed document in a JSON file: names collection and index; the other collections stay unwritten', async () => {
    const dir = tempDir();
    const env = { DATA_DIR: dir };
    const text = JSON.stringify({
      users: [{ _id: 'u-fresh', name: 'Fresh' }],
      communications: [
        { _id: 'm1', type: 'INCOMING', sent_by: 'c1', conversation_id: ['k1'] },
        { _id: 'm2', type: 'INCOMING', sent_by: { name: 'not an id' }, conversation_id: ['k1'] },
      ],
    });
    const result = await cli(['import', file(dir, 'bad.json', text)], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /communications\[1\]: sent_by must be an id .*got \{"name":"not an id"\}/);
    assert.equal((await read(env, 'users', ['u-fresh'])).size, 0);
  });

  it('explains other bad files clearly', async () => {
    const dir = tempDir();
    const env = { DATA_DIR: dir };
    const cases: [string, string[], RegExp][] = [
      ['{"users": [{"_id": {"$oid": 5}}]}', [], /users\[0\]: field _id: \{"\$oid": \.\.\.\} must hold a string/],
      ['{"people": []}', [], /unknown collection "people"/],
      ['{"users": [{"name": "no id"}]}', [], /users\[0\]: _id is missing/],
      ['{"users": [{"_id": "has space"}]}', [], /users\[0\]: _id must be an id/],
      [
        '{"communications": [{"_id": "m", "type": "INCOMING", "sent_by": "c", "conversation_id": ["k"], "createdAt": {"$date": "yesterday"}}]}',
        [],
        /communications\[0\]: field createdAt: \{"\$date": "yesterday"\} is not a valid date/,
      ],
      ['{"users": [', [], /not valid JSON/],
      ['{"_id": "a"}\n{oops}\n', ['--collection', 'users'], /line 2: not valid JSON/],
    ];
    for (const [text, args, message] of cases) {
      const result = await cli(['import', file(dir, 'case.json', text), ...args], env);
      assert.equal(result.code, 1, text);
      assert.match(result.stderr, message);
    }
    const missing = await cli(['import', join(dir, 'nope.json')], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*nope\.json: ENOENT/);
  });

  it('usage errors exit 2 with the help', async () => {
    const env = { DATA_DIR: tempDir() };
    const noFile = await cli(['import'], env);
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /FILE is required[\s\S]*Usage: general-socket import/);
    const badCollection = await cli(['import', DEMO, '--collection', 'people'], env);
    assert.equal(badCollection.code, 2);
    assert.match(badCollection.stderr, /--collection must be one of users, contacts, conversationprospects, communications/);
    // mongoexport's output names no collection: the command needs --collection, as README's usage says.
    const noCollection = await cli(['import', file(tempDir(), 'communications.ndjson', NDJSON)], env);
    assert.equal(noCollection.code, 2, noCollection.stderr);
    assert.match(noCollection.stderr, /one JSON document per line .*--collection NAME[\s\S]*Usage: general-socket import/);
  });
});

describe('documents the conversation routes can serve', () => {
  // Each of these was refused by the importer although the routes serve it.
  const documents = {
    users: [{ _id: 'u-agent', name: 'Agent' }],
    contacts: [{ _id: 'c-lead', name: 'Lead' }],
    conversationprospects: [{ _id: 'k-one', users: ['u-agent'], contact_id: 'c-lead', image: 'https://images.example.com/k-one.png' }],
    communications: [
      // No sender recorded (a system message), another type, and a date as epoch milliseconds.
      { _id: 'm-system', type: 'SYSTEM', data: 'Conversation assigned', conversation_id: ['k-one'], createdAt: 1760351700000 },
      { _id: 'm-note', type: 'NOTE', data: 'Call back Friday', sent_by: 'u-agent', conversation_id: ['k-one'], createdAt: '2025-10-13T10:35:00Z' },
    ],
  };

  it('are imported as they are, and served by the routes', async () => {
    const dataDir = tempDir();
    const batch = parseImportFile(JSON.stringify(documents));
    const store = await openStore({ dataDir, databaseUrl: '', databaseTimeoutMs: 5000, databasePoolSize: 2 }, { warn: () => undefined });
    try {
      await store.importDocuments(batch);
      // Kept as written: the routes, not the importer, decide how a field is served.
      assert.deepEqual((await store.find('communications', ['m-system'])).get('m-system'), documents.communications[0]);
      assert.deepEqual((await store.find('conversationprospects', ['k-one'])).get('k-one'), documents.conversationprospects[0]);
    } finally {
      await store.close();
    }

    const gw = await startGateway({ DATA_DIR: dataDir });
    try {
      const agent = await gw.connectUser('u-agent');
      const messages = nextEvents(agent, 'prospect_message', 2);
      for (const id of ['m-system', 'm-note']) assert.equal((await gw.request('GET', `/conversations/prospect/emit/message/${id}`)).status, 200);
      const [system, note] = (await messages) as Record<string, unknown>[];
      assert.equal(system!.sent_by, undefined);
      assert.equal(system!.createdAt, '2025-10-13T10:35:00.000Z');
      assert.equal(note!.type, 'NOTE');
      assert.deepEqual(note!.sent_by, { _id: 'u-agent', name: 'Agent' });
      const conversation = nextEvent(agent, 'prospect_add_conversation');
      assert.equal((await gw.request('GET', '/conversations/prospect/emit/conversation/k-one/new')).status, 200);
      assert.equal(((await conversation) as Record<string, unknown>).image, 'https://images.example.com/k-one.png');
    } finally {
      await gw.close();
    }
  });

  it('still refuse what no route can serve, naming the field', () => {
    const refused: [unknown, RegExp][] = [
      [
        { communications: [{ _id: 'm', type: 7, conversation_id: ['k'] }] },
        /communications\[0\]: type must be a string such as "INCOMING" or "OUTGOING", got 7/,
      ],
      [
        { communications: [{ _id: 'm', type: 'INCOMING', conversation_id: ['k'], createdAt: 'yesterday' }] },
        /communications\[0\]: createdAt must be a date .*got "yesterday"/,
      ],
      [
        { communications: [{ _id: 'm', type: 'INCOMING', conversation_id: ['k'], createdAt: true }] },
        /communications\[0\]: createdAt must be a date .*got true/,
      ],
      [{ conversationprospects: [{ _id: 'k', users: ['u'], image: 5 }] }, /conversationprospects\[0\]: image must be a URL or an array of URLs, got 5/],
      [{ conversationprospects: [{ _id: 'k', users: ['u'], image: ['ok', 5] }] }, /conversationprospects\[0\]: image must be a URL or an array of URLs/],
    ];
    for (const [file, message] of refused) assert.throws(() => parseImportFile(JSON.stringify(file)), message);
  });
});

const pgUp = await postgresAvailable();

describe('ids in an import file', () => {
  it("follow the REST API's rule exactly: a document id the API would refuse is refused, and no other", async () => {
    const samples = ['u1', 'x'.repeat(128), 'x'.repeat(129), 'a b', 'tab\t', 'é'.repeat(128), '😀'.repeat(100), '😀'.repeat(129), ''];
    const gw = await startGateway();
    try {
      const api: boolean[] = [];
      for (const id of samples) api.push((await gw.request('POST', '/emit/ping', { userIds: [id], data: {} })).status === 200);
      const imported = samples.map((id) => {
        try {
          parseImportFile(JSON.stringify({ users: [{ _id: id, name: 'x' }] }));
          return true;
        } catch {
          return false;
        }
      });
      assert.deepEqual(imported, api, samples.map((id, n) => `${JSON.stringify(id.slice(0, 6))}: API ${api[n]}, import ${imported[n]}`).join('; '));
      assert.deepEqual(api, [true, true, false, false, false, true, true, false, false], "the API's rule itself");
    } finally {
      await gw.close();
    }
  });
});

describe('general-socket import (PostgreSQL)', { skip: !pgUp && 'PostgreSQL is not running' }, () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  before(async () => {
    schema = await createTestSchema();
  });
  after(() => schema?.drop());

  it('imports into DATABASE_URL and never prints its password', async () => {
    const password = 'hunter2-do-not-print';
    const url = schema.url.replace('postgres@', `postgres:${password}@`);
    const env = { DATA_DIR: tempDir(), DATABASE_URL: url };
    const result = await cli(['import', DEMO], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /into postgres postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/test/);
    assert.ok(!(result.stdout + result.stderr).includes(password));
    assert.equal((await read(env, 'users', ['652f0c0e1a2b3c4d5e6f7001'])).get('652f0c0e1a2b3c4d5e6f7001')?.name, 'Alice Agent');
    assert.match((await cli(['import', DEMO], env)).stdout, /users\s+3\s+\(0 new, 0 updated, 3 unchanged\)/);
  });

  it('an unreachable database: exit 1 with a clear message, no password', async () => {
    const env = { DATA_DIR: tempDir(), DATABASE_URL: 'postgres://postgres:hunter2-do-not-print@127.0.0.1:1/test', DATABASE_TIMEOUT_MS: '1000' };
    const result = await cli(['import', DEMO], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /PostgreSQL is unavailable: .*ECONNREFUSED/);
    assert.ok(!(result.stdout + result.stderr).includes('hunter2'));
  });
});
