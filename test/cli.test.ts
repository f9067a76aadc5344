import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cliProcess } from './support/cli.js';
import { API_KEY, assertSent, collect, nextEvent, startGateway, type TestGateway } from './support/gateway.js';

describe('CLI against a real gateway', () => {
  let gw: TestGateway;
  let env: Record<string, string>;
  before(async () => {
    gw = await startGateway();
    env = { GENERAL_SOCKET_URL: gw.url, INTERNAL_API_KEY: API_KEY };
  });
  after(() => gw.close());

  it('emit user sends --data to every socket of the user and says how many got it', async () => {
    const [tab, phone] = await Promise.all([gw.connectUser('64user123'), gw.connectUser('64user123')]);
    const payload = { title: 'New Lead', type: 'lead_assigned' };
    const arrivals = Promise.all([nextEvent(tab, 'notification'), nextEvent(phone, 'notification')]);
    const run = await cli(['emit', 'user', '64user123', 'notification', '--data', JSON.stringify(payload)], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'Sent "notification" to 2 sockets of user 64user123.\n');
    assert.equal(run.stderr, '');
    assert.deepEqual(await arrivals, [payload, payload]);
  });

  it('emit users reads the payload from stdin and prints the answer with --json', async () => {
    const [u1, u2] = await Promise.all([gw.connectUser('64user1'), gw.connectUser('64user2')]);
    const data = { title: 'Scheduled Maintenance', priority: 'high' };
    const arrivals = Promise.all([nextEvent(u1, 'system_announcement'), nextEvent(u2, 'system_announcement')]);
    // The real process: its stdin is a pipe.
    const run = await cliProcess(['emit', 'users', '64user1,64user2', 'system_announcement', '--json'], env, JSON.stringify(data));
    assert.equal(run.code, 0, run.stderr);
    assertSent(JSON.parse(run.stdout), 2, ['64user1', '64user2']);
    assert.deepEqual(await arrivals, [data, data]);

    const dash = nextEvent(u1, 'count');
    const fromDash = await cli(['emit', 'user', '64user1', 'count', '--data-file', '-'], env, '42');
    assert.equal(fromDash.code, 0, fromDash.stderr);
    assert.equal(await dash, 42);
  });

  it('emit scraper reads --data-file, and takes --url and --api-key over the environment', async () => {
    const worker = await gw.connectScraper();
    const file = join(mkdtempSync(join(tmpdir(), 'gs-cli-')), 'task.json');
    const task = { task_id: 'task_001', keyword: 'plumber near me' };
    writeFileSync(file, JSON.stringify(task));
    const arrival = nextEvent(worker, 'scrape_task');
    const run = await cli(['emit', 'scraper', worker.id!, 'scrape_task', '--data-file', file, '--url', gw.url, '--api-key', API_KEY], {
      GENERAL_SOCKET_URL: 'http://127.0.0.1:9',
      INTERNAL_API_KEY: 'wrong',
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `Sent "scrape_task" to scraper socket ${worker.id}.\n`);
    assert.deepEqual(await arrival, task);
  });

  it('presence tells who is online; disconnect closes a user’s sockets after a last event', async () => {
    const tab = await gw.connectUser('64cli-presence');
    const one = await cli(['presence', '64cli-presence'], env);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^64cli-presence is online: 1 socket, since \d{4}-\d\d-\d\dT/);
    const several = await cli(['presence', '64cli-presence,64cli-nobody'], env);
    assert.equal(
      several.stdout,
      `64cli-presence  online   1 socket, since ${(await gw.request('GET', '/users/64cli-presence/presence')).body.since}\n64cli-nobody  offline\n`,
    );
    const notice = nextEvent(tab, 'bye');
    const run = await cli(['disconnect', 'user', '64cli-presence', '--event', 'bye', '--data', '{"why":"cli"}'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'Disconnected 1 socket of user 64cli-presence.\n');
    assert.deepEqual(await notice, { why: 'cli' });
    const usage = await cli(['disconnect', 'user', '64cli-presence', '--data', '1'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--data is the payload of --event/);
    const gone = await cli(['disconnect', 'scraper', 'no-such-socket'], env);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /NOT_FOUND, HTTP 404/);
  });

  it('takes a socket id that begins with "-" (Socket.IO ids may) as the id, not as an option', async () => {
    const run = await cli(['emit', 'scraper', '-c2Wxyz_AAAB', 'scrape_task', '--data', '{}', '--url', gw.url, '--api-key', API_KEY], {});
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /No scraper socket "-c2Wxyz_AAAB" is connected/);
  });

  it("prints the gateway's message and exits 1 when it refuses: gone worker, wrong key", async () => {
    const gone = await cli(['emit', 'scraper', 'no-such-socket', 'scrape_task', '--data', '{}'], env);
    assert.equal(gone.code, 1);
    assert.equal(gone.stdout, '');
    assert.equal(
      gone.stderr,
      'general-socket: No scraper socket "no-such-socket" is connected to /v1/lead-finder; it may have disconnected [NOT_FOUND, HTTP 404]\n',
    );

    const wrongKey = await cli(['emit', 'user', 'a', 'b', '--data', '1', '--json'], { ...env, INTERNAL_API_KEY: 'wrong' });
    assert.equal(wrongKey.code, 1);
    assert.deepEqual(JSON.parse(wrongKey.stdout), { success: false, errno: 401, message: 'Invalid API key in x-api-key header', code: 'UNAUTHORIZED' });
  });

  it('message and conversation exit 1 with NOT_FOUND for a document the gateway cannot find', async () => {
    const [message, conversation] = await Promise.all([
      cli(['message', 'prospect', '64abc123def456789'], env),
      cli(['conversation', 'prospect', '64conv123', 'new', '--json'], env),
    ]);
    assert.equal(message.code, 1);
    assert.match(message.stderr, /\[NOT_FOUND, HTTP 404\]\n$/);
    assert.equal(conversation.code, 1);
    assert.equal(JSON.parse(conversation.stdout).code, 'NOT_FOUND');
  });

  it('usage errors exit 2 and say what is wrong, before anything is sent', async () => {
    const cases: [string[], RegExp][] = [
      [['emit', 'user', 'a', 'ev', '--data', 'hello'], /--data is not valid JSON/],
      [['emit', 'user', 'a', 'ev'], /stdin is empty/],
      [['emit', 'user', 'a', 'ev', '--data', '1', '--data-file', 'x.json'], /not both/],
      [['emit', 'user', 'a', 'ev', '--data-file', '/no/such/file.json'], /--data-file \/no\/such\/file\.json cannot be read: ENOENT/],
      [['emit', 'group', 'a', 'ev', '--data', '1'], /unknown target "group"/],
      [['emit', 'user', 'a'], /needs a user id and an event name/],
      [['emit', 'user', 'a', 'ev', '--data', '1', '--colour'], /Unknown option '--colour'/],
      [['emit', 'user', 'a', 'ev', '--data', '1', '--timeout', 'soon'], /--timeout must be a whole number/],
      [['conversation', 'prospect', 'c1', 'maybe'], /must be new or existing, got "maybe"/],
      [['status', '--url', 'localhost:4000'], /--url must be an http/],
      [['nonsense'], /unknown command "nonsense"/],
      [['constructor'], /unknown command "constructor"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args, env)));
    runs.forEach((run, index) => {
      const [args, expected] = cases[index]!;
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, expected, args.join(' '));
      assert.equal(run.stdout, '', args.join(' '));
    });
    // The real process exits with that code too.
    const real = await cliProcess(['emit', 'user', 'a', 'ev'], env);
    assert.equal(real.code, 2, real.stderr);
    assert.match(real.stderr, /stdin is empty/);
    assert.equal(real.stdout, '');
  });

  it('status reports health, readiness and counts, and exits 1 when the gateway is unreachable', async () => {
    const fresh = await startGateway();
    try {
      await Promise.all([fresh.connectUser('a'), fresh.connectUser('b'), fresh.connectScraper()]);
      const freshEnv = { GENERAL_SOCKET_URL: fresh.url, INTERNAL_API_KEY: API_KEY };
      const [text, json] = await Promise.all([cli(['status'], freshEnv), cli(['status', '--json'], freshEnv)]);
      assert.equal(text.code, 0, text.stderr);
      assert.equal(
        text.stdout,
        `Gateway  ${fresh.url}\nHealth   ok\nReady    yes (bus ok, database ok, streams ok)\nUsers    2 connected\nSockets  /v1/shared 2, /v1/lead-finder 1\nNodes    1\nOnline   2 users cluster-wide (directory: memory)\n`,
      );
      assert.equal(json.code, 0);
      assert.deepEqual(JSON.parse(json.stdout), {
        ok: true,
        url: fresh.url,
        health: { status: 'ok' },
        readiness: { ready: true, checks: { bus: { ok: true, detail: 'standalone' }, database: { ok: true }, streams: { ok: true } } },
        stats: { success: true, message: 'SUCCESS', nodes: 1, users: 2, sockets: { '/v1/shared': 2, '/v1/lead-finder': 1 }, online: 2, presence: 'memory' },
      });
    } finally {
      await fresh.close();
    }
    // A process of its own: this one's fetch may still hold a keep-alive connection the closing gateway ended.
    const down = await cliProcess(['status', '--retries', '0'], { GENERAL_SOCKET_URL: fresh.url, INTERNAL_API_KEY: API_KEY });
    assert.equal(down.code, 1);
    assert.match(down.stdout, /^Health {3}unreachable: Cannot reach .*ECONNREFUSED.*\[NETWORK_ERROR\]$/m);
  });

  it('--idempotency-key makes a repeated command print the first answer and deliver nothing more', async () => {
    const socket = await gw.connectUser('cli-idem');
    const got = collect(socket, 'lead');
    const command = ['emit', 'user', 'cli-idem', 'lead', '--data', '{"lead":9}', '--idempotency-key', 'lead-9-assigned', '--json'];
    const first = await cli(command, env);
    const again = await cli(command, env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(again.stdout, first.stdout);
    const reused = await cli(['emit', 'user', 'cli-idem', 'lead', '--data', '{"lead":10}', '--idempotency-key', 'lead-9-assigned'], env);
    assert.equal(reused.code, 1);
    assert.match(reused.stderr, /was used with this API key for another request.*\[IDEMPOTENCY_KEY_REUSED, HTTP 422\]/);
    const bad = await cli(['message', 'prospect', 'm1', '--idempotency-key', 'é'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--idempotency-key must be 1 to 255 printable ASCII characters/);
    const marker = nextEvent(socket, 'marker');
    await cli(['emit', 'user', 'cli-idem', 'marker', '--data', 'null'], env);
    await marker;
    assert.deepEqual(got, [{ lead: 9 }]);
  });

  it('emit-batch sends a JSON array file or NDJSON from stdin, one result per item; exits 1 when an item was not sent', async () => {
    const [ann, ben] = await Promise.all([gw.connectUser('cli-ann'), gw.connectUser('cli-ben')]);
    const arrivals = Promise.all([nextEvent(ann, 'hello'), nextEvent(ben, 'hello')]);
    const file = join(mkdtempSync(join(tmpdir(), 'gs-cli-')), 'items.json');
    writeFileSync(
      file,
      JSON.stringify([
        { userId: 'cli-ann', event: 'hello', data: { to: 'ann' } },
        { userIds: ['cli-ben'], event: 'hello', data: { to: 'ben' } },
      ]),
    );
    const fromFile = await cli(['emit-batch', file], env);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(fromFile.stdout, 'Sent 2 of 2 items to 2 sockets.\n');
    assert.deepEqual(await arrivals, [{ to: 'ann' }, { to: 'ben' }]);

    const ndjson = [
      '{"userId":"cli-ann","event":"n","data":1}',
      '',
      '{"userId":"cli-ann","event":"connect","data":2}',
      '{"socketId":"gone","event":"t","data":3}',
    ].join('\n');
    const fromStdin = await cli(['emit-batch', '-', '--json'], env, ndjson);
    assert.equal(fromStdin.code, 1);
    assert.deepEqual(
      JSON.parse(fromStdin.stdout).results.map((r: { success: boolean; code?: string }) => (r.success ? 'sent' : r.code)),
      ['sent', 'VALIDATION_ERROR', 'NOT_FOUND'],
    );
    const text = await cli(['emit-batch', '-'], env, ndjson);
    assert.equal(text.code, 1);
    assert.match(
      text.stdout,
      /^Sent 1 of 3 items to 1 socket\.\n {2}item 2: body\.items\[1\]\.event must be an event name.*\[VALIDATION_ERROR\]\n {2}item 3: body\.items\[2\]: No scraper socket "gone".*\[NOT_FOUND\]\n$/,
    );

    const broken = await cli(['emit-batch', '-'], env, '{"userId":"a","event":"e","data":1}\n{oops');
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /stdin line 2 is not valid JSON/);
    assert.equal((await cli(['emit-batch'], env)).code, 2);
  });

  it('--help works for every command and exits 0', async () => {
    const commands = ['serve', 'token', 'config', 'emit', 'emit-batch', 'message', 'conversation', 'presence', 'disconnect', 'status'];
    const runs = await Promise.all([cli(['--help']), ...commands.map((name) => cli([name, '--help']))]);
    const [top, ...each] = runs;
    assert.equal(top!.code, 0);
    for (const name of commands) assert.match(top!.stdout, new RegExp(`^  ${name} `, 'm'));
    each.forEach((run, index) => {
      assert.equal(run.code, 0, commands[index]);
      assert.match(run.stdout, new RegExp(`general-socket ${commands[index]}`), commands[index]);
    });
    assert.match(each[commands.indexOf('emit')]!.stdout, /--data-file/);
  });
});

describe('CLI API key from the development secrets', () => {
  let gw: TestGateway;
  before(async () => {
    // No INTERNAL_API_KEY: the gateway generates one into its DATA_DIR, as `npm start` does.
    gw = await startGateway({ INTERNAL_API_KEY: '' });
  });
  after(() => gw.close());

  it('uses the development key when INTERNAL_API_KEY is unset, but not in production', async () => {
    const dataDir = gw.gateway.config.dataDir;
    const ok = await cli(['emit', 'user', 'dev-user', 'ping', '--data', 'null'], { GENERAL_SOCKET_URL: gw.url, DATA_DIR: dataDir });
    assert.equal(ok.code, 0, ok.stderr);

    const production = await cli(['emit', 'user', 'dev-user', 'ping', '--data', 'null'], {
      GENERAL_SOCKET_URL: gw.url,
      DATA_DIR: dataDir,
      NODE_ENV: 'production',
    });
    assert.equal(production.code, 2);
    assert.match(production.stderr, /no API key: pass --api-key or set INTERNAL_API_KEY \(NODE_ENV=production has no development key\)/);

    const empty = mkdtempSync(join(tmpdir(), 'gs-cli-'));
    const noFile = await cli(['emit', 'user', 'dev-user', 'ping', '--data', 'null'], { GENERAL_SOCKET_URL: gw.url, DATA_DIR: empty });
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /dev-secrets\.json does not exist yet: start the gateway once/);
  });
});
