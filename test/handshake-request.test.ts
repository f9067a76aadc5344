/**
 * What a connection keeps of its HTTP request once Engine.IO accepted it (src/handshake-request.ts):
 * a stand-in with the handshake's headers, url and query, without credentials; the request itself
 * is let go, whichever transport the client came with.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { eventually, startGateway, type TestGateway } from './support/gateway.js';
import { survivesGc } from './support/gc.js';
import type { GatewaySocket } from '../src/socket-server.js';

describe('the handshake request of a connection', () => {
  let gw: TestGateway;
  /** The requests Engine.IO accepted, as its listeners see them. */
  const requests: WeakRef<IncomingMessage>[] = [];
  /** The requests that upgraded a long-polling session to a websocket. */
  const upgrades: WeakRef<IncomingMessage>[] = [];
  /** Engine.IO's stand-in responses of websocket upgrades (a new connection's, or a session's move). */
  const upgradeResponses: WeakRef<object>[] = [];
  before(async () => {
    gw = await startGateway();
    gw.gateway.io.engine.on('connection', (conn: { request: IncomingMessage }) => void requests.push(new WeakRef(conn.request)));
    gw.gateway.io.engine.use((request: IncomingMessage & { _query: { sid?: string } }, response: object, next: () => void) => {
      if (request.headers.upgrade === 'websocket') upgradeResponses.push(new WeakRef(response));
      if (request._query.sid !== undefined && request.headers.upgrade === 'websocket') upgrades.push(new WeakRef(request));
      next();
    });
  });
  after(() => gw.close());

  const userSocket = (userId: string): GatewaySocket => {
    const socket = [...gw.gateway.io.of('/v1/shared').sockets.values()].find((s) => s.data.userId === userId);
    assert.ok(socket, `the socket of ${userId}`);
    return socket;
  };

  for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']] as const) {
    it(`over ${transports.join(' then ')}: is a stand-in without credentials, and the request is let go`, async () => {
      const userId = `handshake-${transports.join('-')}`;
      const token = await gw.token(userId);
      const seen = requests.length;
      const upgraded = upgrades.length;
      const upgradeResponsesBefore = upgradeResponses.length;
      const client = await gw.connectUser(userId, {
        transports: [...transports],
        query: { token, room: 'lobby' },
        extraHeaders: { cookie: 'session=s3cr3t', authorization: `Bearer ${token}`, 'x-trace': 'kept' },
      });
      if (transports.length === 2) await eventually(() => client.io.engine.transport.name === 'websocket', 3000, 'the upgrade');
      const socket = userSocket(userId);
      const { handshake, request } = socket;
      assert.equal(requests.length, seen + 1, 'one connection');
      assert.notEqual(request, requests.at(-1)!.deref(), 'the socket sees the stand-in');
      assert.equal(handshake.headers['x-trace'], 'kept');
      assert.equal(handshake.headers.cookie, undefined);
      assert.equal(handshake.headers.authorization, undefined);
      assert.equal(handshake.headers['sec-websocket-key'], undefined, "the WebSocket handshake's nonce is not kept");
      assert.match(handshake.headers.host ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(handshake.headers, request.headers, 'the handshake shares the headers rather than copying them');
      assert.equal(handshake.query.room, 'lobby');
      assert.equal(handshake.query.token, undefined);
      assert.match(handshake.url, /room=lobby/);
      assert.doesNotMatch(handshake.url, /token/);
      assert.equal(handshake.secure, false);
      assert.ok(Math.abs(Date.parse(handshake.time) - handshake.issued) < 1000, "Socket.IO's time of the handshake, as text");
      assert.equal(handshake.address, '127.0.0.1');
      assert.equal(request.socket.remoteAddress, '127.0.0.1');
      assert.equal(await survivesGc(requests.at(-1)!), false, 'nothing keeps the request');
      if ((transports as readonly string[]).includes('websocket')) {
        assert.equal(upgradeResponses.length, upgradeResponsesBefore + 1, 'one websocket upgrade');
        assert.equal(await survivesGc(upgradeResponses.at(-1)!), false, "nothing keeps Engine.IO's stand-in response of the upgrade");
      }
      if (transports.length === 2) {
        assert.equal(upgrades.length, upgraded + 1, 'one upgrade');
        assert.equal(await survivesGc(upgrades.at(-1)!), false, 'nor the request that upgraded it');
      }
      // The connection works as before.
      const delivered = new Promise((resolve) => client.once('ping-test', resolve));
      assert.equal((await gw.request('POST', `/emit/${userId}/ping-test`, { n: 1 })).status, 200);
      assert.deepEqual(await delivered, { n: 1 });
      client.disconnect();
    });
  }
});
