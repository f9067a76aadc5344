/** `GET /users/:userId/events`: a user's kept events, through the route, the SDK and the CLI. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type GeneralSocketError } from '../src/client/index.js';
import { loadConfig } from '../src/config.js';
import { createGateway, type Gateway } from '../src/gateway.js';
import { API_KEY, gatewayEnv, startGateway, type TestGateway } from './support/gateway.js';
import { cli } from './support/cli.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

const build = (env: Record<string, string> = {}): Promise<Gateway> => createGateway(loadConfig(gatewayEnv(env)));

async function get(gateway: Gateway, url: string, headers: Record<string, string> = { 'x-api-key': API_KEY }): Promise<{ status: number; body: any }> {
  const response = await gateway.app.inject({ method: 'GET', url, headers });
  return { status: response.statusCode, body: response.json() };
}

/** Appends `count` events to `userId`'s stream, as the emitter does; resolves with their positions. */
async function append(gateway: Gateway, userId: string, count: number, from = 1): Promise<string[]> {
  const appended = await gateway.streams!.append(Array.from({ length: count }, (_, i) => ({ userId, event: 'notification', data: { n: from + i } })));
  return appended.map(({ epoch, seq }) => `${epoch}:${seq}`);
}

describe('GET /users/:userId/events', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await build({ HISTORY_SIZE: '5' });
  });
  after(() => gateway.close());

  it('lists the events kept for a user, oldest first, with their positions', async () => {
    const positions = await append(gateway, 'alice', 3);
    const epoch = positions[0]!.split(':')[0];
    const { status, body } = await get(gateway, '/users/alice/events');
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(
      { ...body, events: body.events.map((e: any) => ({ ...e, time: typeof e.time })) },
      {
        success: true,
        message: 'SUCCESS',
        epoch,
        oldest: `${epoch}:1`,
        newest: `${epoch}:3`,
        events: positions.map((position, i) => ({ position, event: 'notification', data: { n: i + 1 }, time: 'string' })),
      },
    );
    assert.ok(Math.abs(Date.parse(body.events[0].time) - Date.now()) < 60_000, `time is an ISO date: ${body.events[0].time}`);
    const other = await get(gateway, '/users/nobody-yet/events');
    assert.deepEqual([other.body.oldest, other.body.newest.endsWith(':0'), other.body.events], [null, true, []], 'a user without events has an empty history');
  });

  it('lists only what came after `since`, at most `limit` at a time', async () => {
    const positions = await append(gateway, 'bob', 5);
    const after2 = await get(gateway, `/users/bob/events?since=${positions[1]}`);
    assert.deepEqual(
      after2.body.events.map((e: any) => e.data.n),
      [3, 4, 5],
    );
    assert.equal(after2.body.gap, undefined);
    assert.deepEqual((await get(gateway, `/users/bob/events?since=${positions[4]}`)).body.events, [], 'nothing after the newest');

    const pages: number[][] = [];
    let since = '';
    for (;;) {
      const { body } = await get(gateway, `/users/bob/events?limit=2${since ? `&since=${since}` : ''}`);
      pages.push(body.events.map((e: any) => e.data.n));
      if (body.events.length < 2) break;
      since = body.events.at(-1).position;
    }
    assert.deepEqual(pages, [[1, 2], [3, 4], [5]]);
  });

  it('says `gap: true`, and starts from the oldest kept, when events after `since` are gone', async () => {
    const positions = await append(gateway, 'carol', 8);
    const epoch = positions[0]!.split(':')[0];
    const kept = [4, 5, 6, 7, 8];
    const cases = {
      'dropped past HISTORY_SIZE': positions[0]!,
      'from another epoch (a reset history)': 'zzzzzzzz:6',
      'ahead of the newest (a restored store)': `${epoch}:99`,
    };
    for (const [what, since] of Object.entries(cases)) {
      const { status, body } = await get(gateway, `/users/carol/events?since=${since}`);
      assert.equal(status, 200, what);
      assert.equal(body.gap, true, what);
      assert.deepEqual(
        body.events.map((e: any) => e.data.n),
        kept,
        what,
      );
      assert.equal(body.oldest, `${epoch}:4`);
    }
    const { body } = await get(gateway, `/users/carol/events?since=${epoch}:3`);
    assert.equal(body.gap, undefined, 'the position just before the oldest kept missed nothing');
    assert.equal(body.events.length, 5);
  });

  it('refuses a malformed `since` or `limit` with 400 naming it', async () => {
    for (const since of ['nope', 'abc:-1', 'ABC:1', 'k3j9x2ab:01', 'k3j9x2ab:', 'k3j9x2ab:9999999999999999']) {
      const { status, body } = await get(gateway, `/users/alice/events?since=${encodeURIComponent(since)}`);
      assert.equal(status, 400, since);
      assert.equal(body.code, 'VALIDATION_ERROR');
      assert.match(body.message, /^query\.since /, since);
    }
    for (const limit of ['0', '1001', '-1', '1.5', 'ten', '']) {
      const { status, body } = await get(gateway, `/users/alice/events?limit=${limit}`);
      assert.equal(status, 400, limit);
      assert.match(body.message, /^query\.limit must be a whole number from 1 to 1000/, limit);
    }
    assert.equal((await get(gateway, '/users/alice/events?limit=1000')).status, 200);
    const misspelt = await get(gateway, '/users/alice/events?limt=5');
    assert.equal(misspelt.status, 400);
    assert.match(misspelt.body.message, /^query\.limt is not a parameter of this route/);
  });

  it('needs the API key', async () => {
    const { status, body } = await get(gateway, '/users/alice/events', {});
    assert.equal(status, 401);
    assert.equal(body.code, 'UNAUTHORIZED');
  });

  it('adds the streams to /readyz', async () => {
    const { status, body } = await get(gateway, '/readyz');
    assert.equal(status, 200);
    assert.deepEqual(body.checks.streams, { ok: true });
  });
});

describe('GET /users/:userId/events with HISTORY_SIZE=0', () => {
  it('answers 404 HISTORY_DISABLED naming HISTORY_SIZE; the gateway keeps no streams', async () => {
    const gateway = await build({ HISTORY_SIZE: '0' });
    try {
      assert.equal(gateway.streams, undefined);
      const { status, body } = await get(gateway, '/users/alice/events');
      assert.equal(status, 404);
      assert.equal(body.code, 'HISTORY_DISABLED');
      assert.match(body.message, /HISTORY_SIZE is 0/);
      assert.equal((await get(gateway, '/readyz')).body.checks.streams, undefined, 'no streams, no probe');
    } finally {
      await gateway.close();
    }
  });
});

describe('history through the SDK and the CLI', () => {
  let gw: TestGateway;
  let positions: string[];
  before(async () => {
    gw = await startGateway();
    positions = await append(gw.gateway, 'dave', 3);
  });
  after(() => gw.close());

  it('SDK: history(userId, { since, limit })', async () => {
    const client = createClient({ baseUrl: gw.url, apiKey: API_KEY });
    const all = await client.history('dave');
    assert.deepEqual(
      all.events.map((e) => e.position),
      positions,
    );
    const page = await client.history('dave', { since: positions[0]!, limit: 1 });
    assert.deepEqual(
      page.events.map((e) => e.data),
      [{ n: 2 }],
    );
    await assert.rejects(client.history('dave', { since: 'not a position' }), (error: GeneralSocketError) => {
      assert.equal(error.code, 'VALIDATION_ERROR');
      assert.match(error.message, /query\.since/);
      return true;
    });
    await assert.rejects(client.history('dave', { limit: 0 }), { code: 'INVALID_ARGUMENT' });
  });

  it('CLI: general-socket history <userId> [--since P] [--limit N]', async () => {
    const env = { GENERAL_SOCKET_URL: gw.url, INTERNAL_API_KEY: API_KEY };
    const listed = await cli(['history', 'dave', '--since', positions[0]!], env);
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, new RegExp(`^${positions[1]}  \\S+  notification  \\{"n":2\\}$`));
    assert.match(lines[2]!, new RegExp(`^2 events of user dave \\(newest ${positions[2]}\\)\\.$`));

    const json = await cli(['history', 'dave', '--limit', '1', '--json'], env);
    assert.equal(json.code, 0);
    assert.deepEqual(
      JSON.parse(json.stdout).events.map((e: any) => e.position),
      [positions[0]],
    );

    const gap = await cli(['history', 'dave', '--since', 'zzzzzzzz:1'], env);
    assert.equal(gap.code, 0);
    assert.match(gap.stderr, /no longer kept; listing from the oldest kept/);

    const usage = await cli(['history', 'dave', '--limit', '5000'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--limit must be a whole number from 1 to 1000/);
    assert.equal((await cli(['history'], env)).code, 2);
  });
});

describe('history kept in Redis (REDIS_URL)', { skip: !redisUp && 'Redis is not running' }, () => {
  it('is shared by every gateway node of the cluster', async () => {
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: uniquePrefix() };
    const [one, two] = await Promise.all([build(env), build(env)]);
    try {
      assert.match(one.streams!.description, /^redis /);
      const positions = await append(one, 'erin', 2);
      const { body } = await get(two, '/users/erin/events');
      assert.deepEqual(
        body.events.map((e: any) => e.position),
        positions,
      );
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});
