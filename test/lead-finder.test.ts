import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SCRAPER_KEY, eventually, nextEvent, startGateway, type TestGateway } from './support/gateway.js';

describe('POST /lead-finder/:event and the /v1/lead-finder namespace', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ SCRAPER_API_KEY: `old-key,${SCRAPER_KEY}` });
  });
  after(() => gw.close());

  it('delivers the payload to that worker socket only', async () => {
    const worker = await gw.connectWorker();
    const other = await gw.connectWorker('old-key');
    let otherGot = 0;
    other.on('scrape_task', () => otherGot++);
    const payload = { task_id: 'task_001', keyword: 'plumber near me', max_results: 50 };

    const arrival = nextEvent(worker, 'scrape_task');
    const reply = await gw.request('POST', '/lead-finder/scrape_task', { socketId: worker.id, payload });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { success: true, message: 'SUCCESS', sockets: 1 });
    assert.deepEqual(await arrival, payload);

    const marker = nextEvent(other, 'marker');
    await gw.request('POST', '/lead-finder/marker', { socketId: other.id, payload: {} });
    await marker;
    assert.equal(otherGot, 0);
  });

  it('answers 404 saying the scraper is gone once its socket disconnected', async () => {
    const worker = await gw.connectWorker();
    const id = worker.id!;
    worker.disconnect();
    await eventually(() => !gw.gateway.io.of('/v1/lead-finder').sockets.has(id), 5000, 'server to see the disconnect');
    const reply = await gw.request('POST', '/lead-finder/health_check', { socketId: id, payload: {} });
    assert.equal(reply.status, 404);
    assert.equal(reply.body.code, 'NOT_FOUND');
    assert.equal(reply.body.errno, 404);
    assert.match(reply.body.message, new RegExp(`scraper socket "${id}" is connected`));
  });

  it('does not treat a user socket id as a worker', async () => {
    const user = await gw.connectUser('alice');
    const reply = await gw.request('POST', '/lead-finder/scrape_task', { socketId: user.id, payload: {} });
    assert.equal(reply.status, 404);
  });

  it('refuses workers without a key or with a wrong one', async () => {
    await assert.rejects(gw.connectWorker(''), /Authentication required/);
    await assert.rejects(gw.connectWorker('wrong-key'), /Invalid scraper key/);
  });
});
