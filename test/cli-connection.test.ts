/**
 * Which gateway the CLI's client commands talk to: --url, else GENERAL_SOCKET_URL, else the gateway
 * of this machine on PORT (as `PORT=4100 npm start` runs it), else http://localhost:4000.
 * In-process: `connect` is what every client command calls first.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, DEFAULT_URL } from '../src/cli/connection.js';
import { UsageError } from '../src/cli/command.js';
import { API_KEY, startGateway, type TestGateway } from './support/gateway.js';

describe('the CLI finds its gateway', () => {
  let gw: TestGateway;
  let port = '';
  before(async () => {
    gw = await startGateway();
    port = new URL(gw.url).port;
  });
  after(() => gw.close());
  const key = { INTERNAL_API_KEY: API_KEY };

  it('on PORT when GENERAL_SOCKET_URL is unset, as the gateway started with that PORT listens', async () => {
    const connection = connect({}, { ...key, PORT: port });
    assert.equal(connection.url, `http://localhost:${port}`);
    assert.deepEqual(await connection.client.health(), { status: 'ok' });
  });

  it('GENERAL_SOCKET_URL wins over PORT, and --url over both', () => {
    assert.equal(connect({}, { ...key, PORT: port, GENERAL_SOCKET_URL: 'http://gateway:4000' }).url, 'http://gateway:4000');
    assert.equal(connect({ url: 'http://other:5000' }, { ...key, PORT: port, GENERAL_SOCKET_URL: 'http://gateway:4000' }).url, 'http://other:5000');
    assert.equal(connect({}, key).url, DEFAULT_URL);
  });

  it('a PORT it cannot use is a usage error naming it', () => {
    assert.throws(
      () => connect({}, { ...key, PORT: 'eighty' }),
      (error: unknown) => error instanceof UsageError && /PORT must be a whole number/.test(error.message),
    );
    assert.throws(
      () => connect({}, { ...key, PORT: '0' }),
      (error: unknown) => error instanceof UsageError && /PORT=0 .*set GENERAL_SOCKET_URL or pass --url/.test(error.message),
    );
  });
});
