import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startGateway, type TestGateway } from './support/gateway.js';

describe('GET /stats', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('counts distinct users and sockets per namespace, and follows disconnects', async () => {
    const a1 = await gw.connectUser('a');
    await gw.connectUser('a');
    await gw.connectUser('b');
    await gw.connectScraper();
    const reply = await gw.request('GET', '/stats');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, {
      success: true,
      message: 'SUCCESS',
      nodes: 1,
      users: 2,
      sockets: { '/v1/shared': 3, '/v1/lead-finder': 1 },
      online: 2,
      presence: 'memory',
    });

    a1.disconnect();
    await eventually(async () => (await gw.request('GET', '/stats')).body.sockets['/v1/shared'] === 2, 3000, 'disconnect to count');
    assert.equal((await gw.request('GET', '/stats')).body.users, 2, 'a still has a socket');
  });

  it('needs the API key', async () => {
    const reply = await gw.request('GET', '/stats', undefined, { 'x-api-key': '' });
    assert.equal(reply.status, 401);
  });
});
