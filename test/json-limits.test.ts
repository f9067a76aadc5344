/**
 * What a JSON value the gateway accepts may hold (JSON_MAX_DEPTH, numbers that would change), for
 * request bodies, stored documents (SQLite and PostgreSQL) and imported documents.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { parseImportFile } from '../src/store/import-file.js';
import { sqlitePath } from '../src/store/sqlite.js';
import { assertSent, collect, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { createTestSchema, postgresAvailable, runSql } from './support/postgres.js';

/** A JSON text of objects nested `levels` deep: {"a":{"a":...1...}}. */
const nested = (levels: number, inner = '1'): string => '{"a":'.repeat(levels) + inner + '}'.repeat(levels);

const DEPTH_REFUSAL = /nests objects and arrays deeper than 64 levels \(JSON_MAX_DEPTH\)/;

describe('request bodies', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('refuses a body nested thousands of levels with 400 naming JSON_MAX_DEPTH, on every emit route, whether the user is online or not', async () => {
    for (const levels of [65, 2000, 10_000]) {
      const offline = await gw.request('POST', '/emit/deep-user/notification', nested(levels));
      assert.equal(offline.status, 400, JSON.stringify(offline.body));
      assert.equal(offline.body.code, 'VALIDATION_ERROR');
      assert.match(offline.body.message, DEPTH_REFUSAL);
      assert.match(offline.body.message, /^body\.a\.a/);
    }
    const socket = await gw.connectUser('deep-user');
    const worker = await gw.connectScraper();
    const received = collect(socket, 'notification');
    const tasks = collect(worker, 'task');
    for (const levels of [65, 2000, 10_000]) {
      const replies = [
        await gw.request('POST', '/emit/deep-user/notification', nested(levels)),
        await gw.request('POST', '/emit/notification', `{"userIds":["deep-user"],"data":${nested(levels)}}`),
        await gw.request('POST', '/lead-finder/task', `{"socketId":"${worker.id}","payload":${nested(levels)}}`),
      ];
      for (const reply of replies) {
        assert.equal(reply.status, 400, JSON.stringify(reply.body));
        assert.match(reply.body.message, DEPTH_REFUSAL);
      }
    }
    const marker = nextEvent(socket, 'marker');
    await gw.request('POST', '/emit/deep-user/marker', {});
    await marker;
    assert.deepEqual(received, []);
    assert.deepEqual(tasks, []);
    assert.equal((await gw.request('GET', '/healthz')).status, 200);
  });

  it('delivers a body nested exactly JSON_MAX_DEPTH levels as it was sent', async () => {
    const socket = await gw.connectUser('deep-ok');
    const arrival = nextEvent(socket, 'notification');
    const reply = await gw.request('POST', '/emit/deep-ok/notification', nested(64));
    assertSent(reply.body, 1, ['deep-ok']);
    assert.deepEqual(await arrival, JSON.parse(nested(64)));
    // Kept as sent, too: a client catching up from before it reads the same body back from the stream.
    const [epoch] = reply.body.positions['deep-ok'].split(':');
    const later = await gw.connectUser('deep-ok', { auth: { token: await gw.token('deep-ok'), since: `${epoch}:0` } });
    assert.deepEqual(await nextEvent(later, 'notification'), JSON.parse(nested(64)));
  });

  it('refuses a number that would reach clients changed, naming its path and what clients would get', async () => {
    const cases: [string, RegExp][] = [
      ['{"order":{"id":9007199254740993}}', /^body\.order\.id is 9007199254740993, .*clients would receive 9007199254740992$/],
      ['{"values":[1,1e400]}', /^body\.values\[1\] is 1e400, beyond the range .*clients would receive null$/],
      ['{"balance":-0}', /^body\.balance is -0, a negative zero, which clients would receive as 0$/],
      ['{"x":-0.0}', /^body\.x is -0\.0, a negative zero/],
      ['{"tiny":1e-400}', /^body\.tiny is 1e-400, too small .*clients would receive 0$/],
      ['{"pi":3.14159265358979323846}', /^body\.pi is 3\.14159265358979323846, .*clients would receive 3\.141592653589793$/],
      ['{"odd key":[{"n":123456789012345678901}]}', /^body\["odd key"\]\[0\]\.n is 123456789012345678901,/],
    ];
    for (const [body, message] of cases) {
      const reply = await gw.request('POST', '/emit/numbers/notification', body);
      assert.equal(reply.status, 400, body);
      assert.equal(reply.body.code, 'VALIDATION_ERROR');
      assert.match(reply.body.message, message);
    }
    const many = await gw.request('POST', '/emit/notification', '{"userIds":"numbers","data":{"n":9007199254740993}}');
    assert.match(many.body.message, /^body\.data\.n is 9007199254740993/);
  });

  it('passes numbers a 64-bit float holds through as the same numbers, however they are written', async () => {
    const socket = await gw.connectUser('exact');
    const arrival = nextEvent(socket, 'numbers');
    const body =
      '{"safe":9007199254740992,"negative":-9007199254740991,"one":1.0,"hundred":1e2,"tenth":0.1,"tenth17":0.10000000000000001,' +
      '"java":5.6843418860808015E-14,"big":1e20,"max":1.7976931348623157e308,"min":5e-324,"zero":0,"zeroFloat":0.0,' +
      // As JSON.stringify writes performance.timeOrigin + performance.now(): a double halfway between two 17-digit decimals.
      '"stamp":1796128694709.0312}';
    const reply = await gw.request('POST', '/emit/exact/numbers', body);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual(await arrival, {
      safe: 9007199254740992,
      negative: -9007199254740991,
      one: 1,
      hundred: 100,
      tenth: 0.1,
      tenth17: 0.1,
      java: 5.6843418860808015e-14,
      big: 1e20,
      max: 1.7976931348623157e308,
      min: 5e-324,
      zero: 0,
      zeroFloat: 0,
      stamp: 1796128694709.0312,
    });
  });

  it('does not mistake digits and brackets inside strings for numbers or nesting', async () => {
    const socket = await gw.connectUser('strings');
    const arrival = nextEvent(socket, 'text');
    const text = { note: `${'['.repeat(100)} 9007199254740993 -0 1e400 "quoted" \\ ${'{'.repeat(100)}`, 'key "with" quotes': '\\"' };
    const reply = await gw.request('POST', '/emit/strings/text', text);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual(await arrival, text);
  });
});

describe('EMIT_MAX_BYTES on request bodies', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ EMIT_MAX_BYTES: '2048' });
  });
  after(() => gw.close());

  it('refuses a body larger than EMIT_MAX_BYTES with 413 EMIT_TOO_LARGE, under BODY_LIMIT_BYTES too', async () => {
    const body = { text: 'é'.repeat(1500) };
    const reply = await gw.request('POST', '/emit/someone/notification', body);
    assert.equal(reply.status, 413);
    assert.equal(reply.body.code, 'EMIT_TOO_LARGE');
    assert.equal(
      reply.body.message,
      `The request body is ${Buffer.byteLength(JSON.stringify(body))} bytes; one request may send at most 2048 bytes (EMIT_MAX_BYTES)`,
    );
    assert.equal((await gw.request('POST', '/emit/someone/notification', { text: 'x'.repeat(1000) })).status, 200);
  });
});

const pgUp = await postgresAvailable();

for (const backend of ['SQLite', 'PostgreSQL'] as const) {
  describe(`stored documents on ${backend}`, { skip: backend === 'PostgreSQL' && !pgUp && 'PostgreSQL is not running' }, () => {
    let gw: TestGateway;
    let dropSchema: (() => Promise<void>) | undefined;
    let databaseUrl = '';
    /** Writes a document's JSON text as it is, as a tool other than the importer may have. */
    let write: (table: string, id: string, json: string) => Promise<void>;

    before(async () => {
      let env: Record<string, string> = {};
      if (backend === 'PostgreSQL') {
        const schema = await createTestSchema();
        dropSchema = schema.drop;
        databaseUrl = schema.url;
        env = { DATABASE_URL: schema.url };
      }
      gw = await startGateway(env);
      write =
        backend === 'PostgreSQL'
          ? async (table, id, json) => void (await runSql(databaseUrl, `INSERT INTO ${table} (id, doc) VALUES ($1, $2::jsonb)`, [id, json]))
          : async (table, id, json) => {
              const db = new Database(sqlitePath(gw.gateway.config.dataDir));
              try {
                db.prepare(`INSERT INTO ${table} (id, doc, updated_at) VALUES (?, ?, ?)`).run(id, json, new Date().toISOString());
              } finally {
                db.close();
              }
            };
      await gw.gateway.store.importDocuments({
        users: [
          { _id: 'u1', name: 'Alice' },
          { _id: 'u2', name: 'Bob' },
        ],
        conversationprospects: [{ _id: 'conv-ok', users: ['u1', 'u2'] }],
      });
      // SQLite's own JSON functions refuse documents nested past 1,000 levels; PostgreSQL stores them.
      const levels = backend === 'PostgreSQL' ? 5000 : 900;
      await write('conversationprospects', 'conv-deep', `{"_id":"conv-deep","users":["u1","u2"],"notes":${nested(levels)}}`);
      await write('users', 'u-deep', `{"_id":"u-deep","name":"Deep","profile":${nested(levels)}}`);
      await write('conversationprospects', 'conv-deep-user', '{"_id":"conv-deep-user","users":["u1","u-deep"]}');
      await write(
        'communications',
        'msg-big-number',
        '{"_id":"msg-big-number","type":"OUTGOING","sent_by":"u1","conversation_id":["conv-ok"],"order":{"ref":9007199254740993}}',
      );
      await write('conversationprospects', 'conv-deep-ok', `{"_id":"conv-deep-ok","users":["u1"],"notes":${nested(63)}}`);
    });
    after(async () => {
      await gw?.close();
      await dropSchema?.();
    });

    it('answers 422 DOCUMENT_UNSENDABLE naming a document nested deeper than JSON_MAX_DEPTH, every time, and keeps serving', async () => {
      const socket = await gw.connectUser('u1');
      const received = collect(socket, 'prospect_add_conversation');
      for (let attempt = 0; attempt < 3; attempt++) {
        const reply = await gw.request('GET', '/conversations/prospect/emit/conversation/conv-deep/new');
        assert.equal(reply.status, 422, JSON.stringify(reply.body));
        assert.equal(reply.body.code, 'DOCUMENT_UNSENDABLE');
        assert.match(
          reply.body.message,
          /^Stored document conversationprospects "conv-deep" cannot be sent as it is: field notes\.a\.a.* nests objects and arrays deeper than 64 levels \(JSON_MAX_DEPTH\)/,
        );
      }
      // A populated user too deep is named as well.
      const viaUser = await gw.request('GET', '/conversations/prospect/emit/conversation/conv-deep-user/new');
      assert.equal(viaUser.status, 422);
      assert.match(viaUser.body.message, /^Stored document users "u-deep" cannot be sent as it is: field profile\.a/);
      // Nested to the limit with the payload's own levels around it is sent.
      const ok = await gw.request('GET', '/conversations/prospect/emit/conversation/conv-deep-ok/new');
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      await eventuallyLength(received, 1);
      assert.deepEqual((received[0] as { notes: unknown }).notes, JSON.parse(nested(63)));
      assert.equal((await gw.request('GET', '/healthz')).status, 200);
    });

    it('answers 422 naming a stored number that clients would receive changed', async () => {
      const reply = await gw.request('GET', '/conversations/prospect/emit/message/msg-big-number');
      assert.equal(reply.status, 422, JSON.stringify(reply.body));
      assert.match(
        reply.body.message,
        /^Stored document communications "msg-big-number" cannot be sent as it is: field order\.ref is 9007199254740993, .*clients would receive 9007199254740992/,
      );
    });

    it('lets an import replace a document the routes refuse', async () => {
      await gw.gateway.store.importDocuments({ conversationprospects: [{ _id: 'conv-deep', users: ['u1'], notes: 'flat now' }] });
      const reply = await gw.request('GET', '/conversations/prospect/emit/conversation/conv-deep/existing');
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
    });
  });
}

async function eventuallyLength(list: unknown[], length: number): Promise<void> {
  for (let i = 0; i < 250 && list.length < length; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(list.length, length);
}

describe('imported documents', () => {
  it('refuses a document nested deeper than JSON_MAX_DEPTH, naming its position, in every file format', () => {
    const doc = `{"_id":"u1","profile":${nested(64)}}`;
    assert.throws(() => parseImportFile(`{"users":[{"_id":"u0"},${doc}]}`), {
      message: /^users\[1\]\.profile\.a\.a.* nests objects and arrays deeper than 64 levels \(JSON_MAX_DEPTH\)$/,
    });
    assert.throws(() => parseImportFile(`[${doc}]`, 'users'), { message: /^users\[0\]\.profile\.a.* deeper than 64 levels/ });
    assert.throws(() => parseImportFile(`{"_id":"u0"}\n${doc}\n`, 'users'), { message: /^line 2 \(users\): profile\.a.* deeper than 64 levels/ });
    // The limit is the configured one, and a document at it is imported.
    assert.throws(() => parseImportFile(`[{"_id":"u1","a":[[1]]}]`, 'users', 2), { message: /deeper than 2 levels/ });
    assert.deepEqual(parseImportFile(`[{"_id":"u1","a":[1]}]`, 'users', 2), { users: [{ _id: 'u1', a: [1] }] });
    assert.equal(parseImportFile(`{"users":[{"_id":"u1","profile":${nested(63)}}]}`).users?.length, 1);
  });

  it('refuses a $numberLong past 2^53, or a plain number, that would be stored rounded, naming the field', () => {
    assert.throws(() => parseImportFile('{"_id":"u1","stats":{"views":{"$numberLong":"9007199254740993"}}}', 'users'), {
      message:
        /^line 1 \(users\): field stats\.views: \{"\$numberLong": "9007199254740993"\} is 9007199254740993, .*would receive 9007199254740992; import it as \{"\$numberDecimal": \.\.\.\} to keep it as a string$/,
    });
    assert.throws(() => parseImportFile('{"users":[{"_id":"u1","stats":[{"views":12345678901234567890}]}]}'), {
      message: /^users\[0\]\.stats\[0\]\.views is 12345678901234567890, .*would receive 12345678901234567000$/,
    });
    assert.throws(() => parseImportFile('{"_id":"u1","balance":{"$numberDouble":"-0.0"}}', 'users'), { message: /field balance: .* negative zero/ });
    // What fits is kept exact.
    assert.deepEqual(
      parseImportFile(
        '{"_id":"u1","views":{"$numberLong":"9007199254740991"},"ratio":{"$numberDouble":"0.1"},"cost":{"$numberDecimal":"90071992547409930.5"}}',
        'users',
      ),
      {
        users: [{ _id: 'u1', views: 9007199254740991, ratio: 0.1, cost: '90071992547409930.5' }],
      },
    );
  });
});
