import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toUsers } from '../src/emitter.js';
import { USERS_NAMESPACE, userRoom } from '../src/namespaces.js';
import { assertSent, collect, nextEvent, nextEvents, startGateway, type TestGateway } from './support/gateway.js';

describe('POST /emit/:userId/:emitTo', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ EMIT_MAX_USER_IDS: '3' });
  });
  after(() => gw.close());

  it('delivers the body to every socket of the user, over websocket and polling, and to nobody else', async () => {
    const tab = await gw.connectUser('alice');
    const phone = await gw.connectUser('alice', { transports: ['polling'] });
    const bob = await gw.connectUser('bob');
    const bobGot = collect(bob, 'notification');
    const body = { title: 'New Lead', data: { lead_id: '64lead' }, timestamp: '2025-10-13T10:30:00.000Z' };

    const arrivals = Promise.all([nextEvent(tab, 'notification'), nextEvent(phone, 'notification')]);
    const reply = await gw.request('POST', '/emit/alice/notification', body);

    assert.equal(reply.status, 200);
    assertSent(reply.body, 2, ['alice']);
    assert.deepEqual(await arrivals, [body, body]);
    // bob's marker arrives after anything sent to him earlier, so an empty list means nothing came.
    const marker = nextEvent(bob, 'marker');
    await gw.request('POST', '/emit/bob/marker', {});
    await marker;
    assert.deepEqual(bobGot, []);
  });

  it('accepts any JSON value as the payload', async () => {
    const socket = await gw.connectUser('carol');
    for (const value of ['text', 42, [1, 'two'], null, true]) {
      const arrival = nextEvent(socket, 'value');
      const reply = await gw.request('POST', '/emit/carol/value', JSON.stringify(value));
      assert.equal(reply.status, 200);
      assert.deepEqual(await arrival, value);
    }
  });

  it('succeeds with sockets: 0 when the user has no socket', async () => {
    const reply = await gw.request('POST', '/emit/nobody/notification', { a: 1 });
    // Kept in the user's stream all the same: a socket that connects later can ask for it.
    assertSent(reply.body, 0, ['nobody']);
  });
});

describe('POST /emit/:emitTo', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ EMIT_MAX_USER_IDS: '3' });
  });
  after(() => gw.close());

  it('delivers data to every socket of every listed user, once even when an id repeats', async () => {
    const [u1a, u1b, u2, u3] = await Promise.all([gw.connectUser('u1'), gw.connectUser('u1'), gw.connectUser('u2'), gw.connectUser('u3')]);
    const gotU1a = collect(u1a, 'system_announcement');
    const gotU3 = collect(u3, 'system_announcement');
    const data = { title: 'Scheduled Maintenance', priority: 'high' };

    const arrivals = Promise.all([nextEvent(u1a, 'system_announcement'), nextEvent(u1b, 'system_announcement'), nextEvent(u2, 'system_announcement')]);
    const reply = await gw.request('POST', '/emit/system_announcement', { userIds: ['u1', 'u2', 'u1'], data });
    assert.equal(reply.status, 200);
    assertSent(reply.body, 3, ['u1', 'u2']);
    assert.deepEqual(await arrivals, [data, data, data]);

    const markers = Promise.all([nextEvent(u1a, 'marker'), nextEvent(u3, 'marker')]);
    await gw.request('POST', '/emit/marker', { userIds: ['u1', 'u3'], data: 1 });
    await markers;
    assert.equal(gotU1a.length, 1, 'u1 was listed twice but gets the event once');
    assert.deepEqual(gotU3, [], 'u3 was not listed');
  });

  it('accepts a single user id as a string', async () => {
    const socket = await gw.connectUser('solo');
    const arrival = nextEvents(socket, 'broadcast');
    const reply = await gw.request('POST', '/emit/broadcast', { userIds: 'solo', data: { message: 'System update' } });
    assert.equal(reply.status, 200);
    assert.deepEqual(await arrival, [{ message: 'System update' }]);
  });

  it('refuses more distinct ids than EMIT_MAX_USER_IDS, naming the limit', async () => {
    const reply = await gw.request('POST', '/emit/x', { userIds: ['a', 'b', 'c', 'd'], data: 1 });
    assert.equal(reply.status, 400);
    assert.equal(reply.body.code, 'VALIDATION_ERROR');
    assert.match(reply.body.message, /userIds.*4.*at most 3.*EMIT_MAX_USER_IDS/);
    const atLimit = await gw.request('POST', '/emit/x', { userIds: ['a', 'b', 'c', 'a'], data: 1 });
    assert.equal(atLimit.status, 200, 'duplicates do not count against the limit');
  });
  it('reach a socket that something else put in other users’ rooms live, once, and go on with its own stream', async () => {
    const [ann, bob] = [await gw.connectUser('joined-ann'), await gw.connectUser('joined-bob')];
    // What a redis-emitter's socketsJoin does: Ann's socket joins Bob's room and Cal's (who has no socket).
    gw.gateway.io
      .of(USERS_NAMESPACE)
      .in(userRoom('joined-ann'))
      .socketsJoin([userRoom('joined-bob'), userRoom('joined-cal')]);
    const annGot: unknown[][] = [];
    const bobGot: unknown[][] = [];
    ann.on('news', (...args: unknown[]) => annGot.push(args));
    bob.on('news', (...args: unknown[]) => bobGot.push(args));
    const emit = async (userIds: string[], n: number, sockets: number) => {
      const reply = await gw.request('POST', '/emit/news', { userIds, data: { n } });
      assertSent(reply.body, sockets, userIds);
      return (reply.body as { positions: Record<string, string> }).positions;
    };
    // Bob's event: his socket with his position; Ann's live, without one (it is not of her stream).
    const first = await emit(['joined-bob'], 1, 2);
    // Bob's and Cal's: Ann's socket is in both rooms, and gets it once.
    const second = await emit(['joined-bob', 'joined-cal'], 2, 2);
    // Ann's and Bob's: Ann's socket gets it once, from her own stream.
    const third = await emit(['joined-ann', 'joined-bob'], 3, 2);
    const fourth = await emit(['joined-ann'], 4, 1);
    const markers = Promise.all([nextEvent(ann, 'marker'), nextEvent(bob, 'marker')]);
    await gw.request('POST', '/emit/marker', { userIds: ['joined-ann', 'joined-bob'], data: 0 });
    await markers;
    assert.deepEqual(annGot, [[{ n: 1 }], [{ n: 2 }], [{ n: 3 }, third['joined-ann']], [{ n: 4 }, fourth['joined-ann']]]);
    assert.deepEqual(bobGot, [
      [{ n: 1 }, first['joined-bob']],
      [{ n: 2 }, second['joined-bob']],
      [{ n: 3 }, third['joined-bob']],
    ]);
  });
});

describe('POST /emit with streams off (HISTORY_SIZE=0): live events, written to each socket directly', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ HISTORY_SIZE: '0' });
  });
  after(() => gw.close());

  it('reach every socket of the user once, over websocket and polling, payload as sent and without a position', async () => {
    const tab = await gw.connectUser('dora');
    const phone = await gw.connectUser('dora', { transports: ['polling'] });
    const tabGot = collect(tab, 'news');
    const body = { text: 'é "quoted" \u2028', n: 1.5, list: [null, true, { deep: 'x' }] };
    const arrivals = Promise.all([nextEvent(tab, 'news'), nextEvent(phone, 'news')]);
    const positions: unknown[][] = [];
    tab.on('news', (...args: unknown[]) => positions.push(args));

    const reply = await gw.request('POST', '/emit/dora/news', body);
    assert.equal(reply.status, 200);
    assert.deepEqual(await arrivals, [body, body]);
    const marker = nextEvent(tab, 'marker');
    await gw.request('POST', '/emit/dora/marker', {});
    await marker;
    assert.deepEqual(tabGot, [body], 'once');
    assert.deepEqual(positions, [[body]], 'no position argument when nothing is kept');
  });

  it('sent in one turn of the event loop (written together at its end), arrive once each, in the order sent', async () => {
    const tab = await gw.connectUser('erin');
    const got = collect(tab, 'tick');
    const arrivals = nextEvents(tab, 'tick', 5);
    // No await in between: all five are sent from one turn, their frames written at its end.
    const reports = await Promise.all([0, 1, 2, 3, 4].map((n) => gw.gateway.emitter.send([{ audience: toUsers('erin'), event: 'tick', data: { n } }])));
    assert.deepEqual(
      reports.map((report) => report.sockets),
      [1, 1, 1, 1, 1],
    );
    await arrivals;
    assert.deepEqual(
      got,
      [0, 1, 2, 3, 4].map((n) => ({ n })),
    );
  });

  it('reach the sockets of a few users and of many once each', async () => {
    for (const count of [3, 12]) {
      const users = Array.from({ length: count }, (_, i) => `fan-${count}-${i}`);
      const sockets = await Promise.all(users.map((user) => gw.connectUser(user)));
      const got = sockets.map((socket) => collect(socket, 'all'));
      const arrivals = Promise.all(sockets.map((socket) => nextEvent(socket, 'all')));
      const reply = await gw.request('POST', '/emit/all', { userIds: users, data: { n: count } });
      assert.equal(reply.status, 200);
      assert.deepEqual(
        await arrivals,
        users.map(() => ({ n: count })),
      );
      const markers = Promise.all(sockets.map((socket) => nextEvent(socket, 'marker')));
      await gw.request('POST', '/emit/marker', { userIds: users, data: 0 });
      await markers;
      assert.deepEqual(
        got,
        users.map(() => [{ n: count }]),
        `${count} users: once each`,
      );
    }
  });

  it('reach a socket that something else put in several of the users’ rooms once, and count it once', async () => {
    const [ann, bob] = [await gw.connectUser('shared-ann'), await gw.connectUser('shared-bob')];
    const users = gw.gateway.io.of(USERS_NAMESPACE);
    // What a redis-emitter's socketsJoin does: Ann's socket joins Bob's room and Cal's, then leaves Cal's.
    users.in(userRoom('shared-ann')).socketsJoin([userRoom('shared-bob'), userRoom('shared-cal')]);
    users.in(userRoom('shared-ann')).socketsLeave(userRoom('shared-cal'));
    const [annGot, bobGot] = [collect(ann, 'both'), collect(bob, 'both')];
    const arrivals = Promise.all([nextEvent(ann, 'both'), nextEvent(bob, 'both')]);
    const reply = await gw.request('POST', '/emit/both', { userIds: ['shared-ann', 'shared-bob'], data: 1 });
    assertSent(reply.body, 2);
    await arrivals;
    const markers = Promise.all([nextEvent(ann, 'marker'), nextEvent(bob, 'marker')]);
    await gw.request('POST', '/emit/marker', { userIds: ['shared-ann', 'shared-bob'], data: 0 });
    await markers;
    assert.deepEqual([annGot, bobGot], [[1], [1]], 'once each');
  });
});
