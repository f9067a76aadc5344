/**
 * Presence on a standalone gateway: who is online, disconnecting users and scrapers, and webhooks
 * (signed, once per transition, with the offline grace delay, retried, bounded). Real gateways,
 * real socket.io-clients, a real HTTP receiver. The cluster cases are in presence-cluster.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { io as connect } from 'socket.io-client';
import { loadConfig } from '../src/config.js';
import { API_KEY, SCRAPER_KEY, collect, eventually, gatewayEnv, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { deliveries, startReceiver, verifyWebhook, type Receiver } from './support/webhooks.js';

const SECRET = 'webhook-secret-0123456789abcdef0123';

/** The value of a metric line in /metrics, 0 when absent. */
async function metric(gw: TestGateway, line: RegExp): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`, { headers: { 'x-api-key': API_KEY } })).text();
  const match = text.split('\n').find((l) => line.test(l));
  return match === undefined ? 0 : Number(match.split(' ').pop());
}

describe('presence API, standalone', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ PRESENCE_MAX_USER_IDS: '3' });
  });
  after(() => gw.close());

  it('follows a user’s sockets: online with how many sockets and since when, then offline', async () => {
    assert.deepEqual((await gw.request('GET', '/users/ann/presence')).body, { success: true, message: 'SUCCESS', online: false, sockets: 0, since: null });
    const first = await gw.connectUser('ann');
    await gw.connectUser('ann', { transports: ['polling'] });
    const online = (await gw.request('GET', '/users/ann/presence')).body;
    assert.equal(online.online, true);
    assert.equal(online.sockets, 2);
    assert.ok(Math.abs(Date.parse(online.since) - Date.now()) < 60_000, `since is a recent ISO date: ${online.since}`);
    first.disconnect();
    await eventually(async () => (await gw.request('GET', '/users/ann/presence')).body.sockets === 1, 5000, 'one socket left');
    assert.equal((await gw.request('GET', '/users/ann/presence')).body.since, online.since, 'since holds while a socket is left');
  });

  it('POST /presence answers which of the listed users are online; the list is bounded', async () => {
    await gw.connectUser('bob');
    const reply = await gw.request('POST', '/presence', { userIds: ['nobody', 'bob', 'bob'] });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.online, ['bob']);
    assert.deepEqual(Object.keys(reply.body.users), ['bob']);
    assert.equal(reply.body.users.bob.sockets, 1);
    const tooMany = await gw.request('POST', '/presence', { userIds: ['a', 'b', 'c', 'd'] });
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.message, /4 users; at most 3 .*PRESENCE_MAX_USER_IDS/);
    assert.equal((await gw.request('POST', '/presence', { userIds: [] })).status, 400);
    assert.equal((await gw.request('POST', '/presence', { userIds: [5] })).status, 400);
  });

  it('disconnects every socket of a user after a last event; stock clients see "io server disconnect" and stay away', async () => {
    const tabs = [await gw.connectUser('carl'), await gw.connectUser('carl', { transports: ['polling'] })];
    // Reconnection on, as in a browser: it must not come back by itself.
    const reconnecting = connect(`${gw.url}/v1/shared`, { auth: { token: await gw.token('carl') }, forceNew: true, transports: ['websocket'] });
    await new Promise<void>((resolve) => reconnecting.once('connect', () => resolve()));
    const bystander = await gw.connectUser('dora');
    const bystanderGot = collect(bystander, 'session_ended');
    const notices = [...tabs, reconnecting].map((socket) => nextEvent(socket, 'session_ended'));
    const reasons = [...tabs, reconnecting].map((socket) => new Promise((resolve) => socket.once('disconnect', resolve)));
    const reply = await gw.request('POST', '/users/carl/disconnect', { event: 'session_ended', data: { reason: 'password_changed' } });
    assert.deepEqual(reply.body, { success: true, message: 'SUCCESS', sockets: 3 });
    assert.deepEqual(await Promise.all(notices), Array(3).fill({ reason: 'password_changed' }));
    assert.deepEqual(await Promise.all(reasons), Array(3).fill('io server disconnect'));
    assert.equal(reconnecting.active, false, 'socket.io-client does not reconnect after io server disconnect');
    reconnecting.close();
    await eventually(async () => (await gw.request('GET', '/users/carl/presence')).body.online === false, 5000, 'carl to be offline');
    assert.equal(bystander.connected, true);
    assert.deepEqual(bystanderGot, []);
    // Nobody left: 0, not an error. Data without an event is refused, naming the field.
    assert.deepEqual((await gw.request('POST', '/users/carl/disconnect', {})).body, { success: true, message: 'SUCCESS', sockets: 0 });
    const orphan = await gw.request('POST', '/users/carl/disconnect', { data: { reason: 'x' } });
    assert.equal(orphan.status, 400);
    assert.match(orphan.body.message, /body\.data .* body\.event/);
    assert.equal((await gw.request('POST', '/users/carl/disconnect', { event: 'disconnect' })).status, 400, 'a reserved event name');
  });

  it('disconnects one scraper socket, or answers 404 when it is gone', async () => {
    const scraper = await gw.connectScraper();
    const other = await gw.connectScraper();
    const reason = new Promise((resolve) => scraper.once('disconnect', resolve));
    const notice = nextEvent(scraper, 'shutdown');
    assert.deepEqual((await gw.request('POST', `/lead-finder/${scraper.id}/disconnect`, { event: 'shutdown' })).body, {
      success: true,
      message: 'SUCCESS',
      sockets: 1,
    });
    assert.equal(await notice, null, 'an event without data carries null');
    assert.equal(await reason, 'io server disconnect');
    assert.equal(other.connected, true);
    const gone = await gw.request('POST', `/lead-finder/${scraper.id}/disconnect`, {});
    assert.equal(gone.status, 404);
    assert.equal(gone.body.code, 'NOT_FOUND');
  });
});

describe('webhooks, standalone', { timeout: 120_000 }, () => {
  let receiver: Receiver;
  let gw: TestGateway;
  before(async () => {
    receiver = await startReceiver();
    gw = await startGateway({ WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: SECRET, WEBHOOK_OFFLINE_GRACE_MS: '1500' });
  });
  after(async () => {
    await gw.close();
    await receiver.close();
  });

  it('sends user.online once for the first socket and user.offline once after the grace delay, signed', async () => {
    const a = await gw.connectUser('eve');
    const b = await gw.connectUser('eve');
    await eventually(() => deliveries(receiver, 'user.online', 'eve').length === 1, 10_000, 'user.online');
    assert.equal(await metric(gw, /^general_socket_presence_online /), 1, 'the directory counts eve once');
    assert.equal(await metric(gw, /^general_socket_presence_transitions_total\{type="user.online"\}/), 1);
    // Counted once the gateway has read the receiver's answer, a moment after the receiver recorded it.
    await eventually(
      async () => (await metric(gw, /^general_socket_webhooks_total\{type="user.online",outcome="delivered"\}/)) === 1,
      5000,
      'the delivery to be counted',
    );
    a.disconnect();
    b.disconnect();
    await eventually(() => deliveries(receiver, 'user.offline', 'eve').length === 1, 10_000, 'user.offline after the grace delay');
    await eventually(() => gw.gateway.presence.webhooks.pending() === 0, 10_000, 'the queue to drain');
    assert.equal(deliveries(receiver, 'user.online', 'eve').length, 1, 'a second socket sends nothing');
    const [online] = deliveries(receiver, 'user.online', 'eve');
    const [offline] = deliveries(receiver, 'user.offline', 'eve');
    for (const delivery of [online!, offline!]) {
      assert.ok(verifyWebhook(SECRET, delivery.headers, delivery.raw), 'the signature verifies as README shows');
      assert.equal(delivery.headers['x-webhook-id'], delivery.body.id);
      assert.equal(verifyWebhook('another-secret', delivery.headers, delivery.raw), false, 'and only with the secret');
      assert.equal(verifyWebhook(SECRET, delivery.headers, delivery.raw.replace('eve', 'evf')), false, 'and only for that body');
    }
    assert.deepEqual(online!.body.data, { userId: 'eve' });
    assert.equal(offline!.body.data.onlineSince, online!.body.time, 'the offline event says since when the user had been online');
    assert.notEqual(online!.body.id, offline!.body.id);
  });

  it('a reload within the grace delay sends no offline/online pair', async () => {
    const tab = await gw.connectUser('fay');
    await eventually(() => deliveries(receiver, 'user.online', 'fay').length === 1, 10_000, 'user.online');
    // gus leaves for good at the same moment: his offline marks when fay's would have come.
    await gw.connectUser('gus').then((gus) => {
      tab.disconnect();
      gus.disconnect();
    });
    await gw.connectUser('fay');
    await eventually(() => deliveries(receiver, 'user.offline', 'gus').length === 1, 10_000, "gus's user.offline");
    await eventually(() => gw.gateway.presence.webhooks.pending() === 0, 10_000, 'the queue to drain');
    assert.equal(deliveries(receiver, 'user.offline', 'fay').length, 0);
    assert.equal(deliveries(receiver, 'user.online', 'fay').length, 1);
    assert.equal((await gw.request('GET', '/users/fay/presence')).body.sockets, 1);
  });

  it('sends scraper.connected and scraper.disconnected', async () => {
    const scraper = await gw.connectScraper();
    const id = scraper.id!;
    await eventually(() => deliveries(receiver, 'scraper.connected', id).length === 1, 10_000, 'scraper.connected');
    scraper.disconnect();
    await eventually(() => deliveries(receiver, 'scraper.disconnected', id).length === 1, 10_000, 'scraper.disconnected');
  });

  it('retries a failing endpoint with the same id until it accepts, and counts each outcome', async () => {
    const failedBefore = await metric(gw, /^general_socket_webhooks_total\{type="user.online",outcome="attempt_failed"\}/);
    receiver.answer((body, attempt) => (body.data.userId === 'hal' && attempt <= 2 ? 503 : 200));
    await gw.connectUser('hal');
    await eventually(() => deliveries(receiver, 'user.online', 'hal').length === 1, 30_000, 'the third attempt to be accepted');
    const attempts = receiver.received.filter(({ body }) => body.type === 'user.online' && body.data.userId === 'hal');
    assert.deepEqual(
      attempts.map(({ status }) => status),
      [503, 503, 200],
    );
    assert.equal(new Set(attempts.map(({ body }) => body.id)).size, 1, 'one id across retries, to de-duplicate');
    assert.ok(
      attempts.every(({ headers, raw }) => verifyWebhook(SECRET, headers, raw)),
      'each attempt is signed afresh',
    );
    assert.equal((await metric(gw, /^general_socket_webhooks_total\{type="user.online",outcome="attempt_failed"\}/)) - failedBefore, 2);
    receiver.answer(() => 200);
  });
});

describe('webhooks to an endpoint that never answers', { timeout: 60_000 }, () => {
  let silent: Server;
  const held: Socket[] = [];
  let gw: TestGateway;
  before(async () => {
    // Accepts connections and never answers: the slowest endpoint there is.
    silent = createServer((connection) => void held.push(connection));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    gw = await startGateway({ WEBHOOK_URLS: `http://127.0.0.1:${port}/hooks`, WEBHOOK_SECRET: SECRET, WEBHOOK_QUEUE_SIZE: '2', WEBHOOK_TIMEOUT_MS: '60000' });
  });
  after(async () => {
    await gw.close();
    for (const connection of held) connection.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('holds at most WEBHOOK_QUEUE_SIZE deliveries, counts the dropped ones, and emits are answered meanwhile', async () => {
    const sockets = await Promise.all(['u1', 'u2', 'u3', 'u4', 'u5'].map((user) => gw.connectUser(user)));
    await eventually(
      async () => (await metric(gw, /^general_socket_webhooks_total\{type="user.online",outcome="dropped"\}/)) === 3,
      10_000,
      'three of five to be dropped',
    );
    assert.equal(gw.gateway.presence.webhooks.pending(), 2);
    const arrival = nextEvent(sockets[0]!, 'ping');
    const emitted = await gw.request('POST', '/emit/u1/ping', { n: 1 });
    assert.equal(emitted.status, 200);
    assert.equal(emitted.body.sockets, 1);
    assert.deepEqual(await arrival, { n: 1 });
  });
});

describe('webhook configuration', () => {
  it('needs WEBHOOK_SECRET with WEBHOOK_URLS, a long one in production, and refuses URLs with credentials', () => {
    assert.throws(() => loadConfig(gatewayEnv({ WEBHOOK_URLS: 'http://127.0.0.1:1/h' })), /WEBHOOK_URLS needs WEBHOOK_SECRET/);
    assert.throws(
      () =>
        loadConfig({
          NODE_ENV: 'production',
          INTERNAL_API_KEY: API_KEY,
          JWT_SECRET: 'x'.repeat(32),
          SCRAPER_API_KEY: SCRAPER_KEY,
          WEBHOOK_URLS: 'https://b.example/h',
          WEBHOOK_SECRET: 'short',
        }),
      /WEBHOOK_SECRET must have at least 32 characters in production/,
    );
    assert.throws(() => loadConfig(gatewayEnv({ WEBHOOK_URLS: 'https://user:pw@b.example/h', WEBHOOK_SECRET: SECRET })), /must not carry credentials/);
    assert.throws(() => loadConfig(gatewayEnv({ WEBHOOK_URLS: 'ftp://b.example/h', WEBHOOK_SECRET: SECRET })), /http:\/\/ or https:\/\//);
    assert.deepEqual(loadConfig(gatewayEnv({ WEBHOOK_URLS: 'https://a.example/h, https://b.example/h', WEBHOOK_SECRET: SECRET })).webhookUrls, [
      'https://a.example/h',
      'https://b.example/h',
    ]);
  });
});
