import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { SCRAPER_KEY, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { SHARED_REDIS_URL, pingRedis, uniquePrefix } from './support/redis.js';
import { requireService } from './support/services.js';

describe('POST /lead-finder/:event and the /v1/lead-finder namespace', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ SCRAPER_API_KEY: `old-key,${SCRAPER_KEY}` });
  });
  after(() => gw.close());

  it('delivers the payload to that scraper socket only', async () => {
    const scraper = await gw.connectScraper();
    const other = await gw.connectScraper('old-key');
    let otherGot = 0;
    other.on('scrape_task', () => otherGot++);
    const payload = { task_id: 'task_001', keyword: 'plumber near me', max_results: 50 };

    const arrival = nextEvent(scraper, 'scrape_task');
    const reply = await gw.request('POST', '/lead-finder/scrape_task', { socketId: scraper.id, payload });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { success: true, message: 'SUCCESS', sockets: 1 });
    assert.deepEqual(await arrival, payload);

    const marker = nextEvent(other, 'marker');
    await gw.request('POST', '/lead-finder/marker', { socketId: other.id, payload: {} });
    await marker;
    assert.equal(otherGot, 0);
  });

  it('answers 404 saying the scraper is gone once its socket disconnected', async () => {
    const scraper = await gw.connectScraper();
    const id = scraper.id!;
    scraper.disconnect();
    await eventually(() => !gw.gateway.io.of('/v1/lead-finder').sockets.has(id), 5000, 'server to see the disconnect');
    const reply = await gw.request('POST', '/lead-finder/health_check', { socketId: id, payload: {} });
    assert.equal(reply.status, 404);
    assert.equal(reply.body.code, 'NOT_FOUND');
    assert.equal(reply.body.errno, 404);
    assert.match(reply.body.message, new RegExp(`scraper socket "${id}" is connected`));
  });

  it('does not treat a user socket id as a scraper', async () => {
    const user = await gw.connectUser('alice');
    const reply = await gw.request('POST', '/lead-finder/scrape_task', { socketId: user.id, payload: {} });
    assert.equal(reply.status, 404);
  });

  it('refuses scrapers without a key or with a wrong one', async () => {
    await assert.rejects(gw.connectScraper(''), /Authentication required/);
    await assert.rejects(gw.connectScraper('wrong-key'), /Invalid scraper key/);
  });
});

const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

describe('LEAD_FINDER_NAMESPACE=/ : scrapers written for the seed, on the default namespace', () => {
  const nodes: TestGateway[] = [];
  const clients: Socket[] = [];
  after(async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(nodes.map((node) => node.close()));
  });
  /** A stock client, as a seed-style scraper opens it: `io(url, { auth })`, no namespace. */
  const seedScraper = (url: string, token: string, options: Partial<ManagerOptions & SocketOptions> = {}): Promise<Socket> => {
    const socket = connect(url, { auth: { token }, forceNew: true, ...options });
    clients.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  };

  it('serves a stock client on / with the scraper key, and users as before', async () => {
    const gw = await startGateway({ LEAD_FINDER_NAMESPACE: '/' });
    nodes.push(gw);
    const scraper = await seedScraper(gw.url, SCRAPER_KEY);
    const arrival = nextEvent(scraper, 'scrape_task');
    const reply = await gw.request('POST', '/lead-finder/scrape_task', { socketId: scraper.id, payload: { keyword: 'plumber near me' } });
    assert.deepEqual(reply.body, { success: true, message: 'SUCCESS', sockets: 1 });
    assert.deepEqual(await arrival, { keyword: 'plumber near me' });

    const user = await gw.connectUser('alice');
    const notified = nextEvent(user, 'notification');
    assert.equal((await gw.request('POST', '/emit/alice/notification', { hi: 1 })).status, 200);
    assert.deepEqual(await notified, { hi: 1 });
    // A user socket id is still not a scraper.
    assert.equal((await gw.request('POST', '/lead-finder/scrape_task', { socketId: user.id, payload: {} })).status, 404);
    const stats = await gw.request('GET', '/stats');
    assert.deepEqual(stats.body.sockets, { '/v1/shared': 1, '/': 1 });
  });

  it("refuses a client on / without the key, and every client on the nodes' own namespace", async () => {
    const gw = nodes[0]!;
    await assert.rejects(seedScraper(gw.url, '', { reconnection: false }), (error: Error & { data?: { code?: string } }) => error.data?.code === 'KEY_MISSING');
    await assert.rejects(
      seedScraper(`${gw.url}/general-socket-control`, SCRAPER_KEY, { reconnection: false }),
      (error: Error & { data?: { code?: string } }) => error.data?.code === 'NAMESPACE_FORBIDDEN',
    );
    // The refusal names where to connect instead.
    await assert.rejects(seedScraper(`${gw.url}/v1/lead-finder`, SCRAPER_KEY, { reconnection: false }), /Invalid namespace/);
  });

  it("finds a scraper on another node: the nodes' own messages moved off /", { skip: !redisUp && 'Redis is not running' }, async () => {
    const env = { LEAD_FINDER_NAMESPACE: '/', REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: uniquePrefix() };
    const [holder, caller] = await Promise.all([startGateway(env), startGateway(env)]);
    nodes.push(holder!, caller!);
    const scraper = await seedScraper(holder!.url, SCRAPER_KEY);
    const arrival = nextEvent(scraper, 'scrape_task');
    const reply = await caller!.request('POST', '/lead-finder/scrape_task', { socketId: scraper.id, payload: { task_id: 'across' } });
    assert.deepEqual(reply.body, { success: true, message: 'SUCCESS', sockets: 1 });
    assert.deepEqual(await arrival, { task_id: 'across' });
    const stats = await caller!.request('GET', '/stats');
    assert.equal(stats.body.nodes, 2);
    assert.equal(stats.body.sockets['/'], 1);
  });
});
