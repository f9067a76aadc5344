/**
 * The conversation endpoints with real Socket.IO clients, on the embedded SQLite store and on
 * PostgreSQL (a fresh schema per run).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'socket.io-client';
import { loadConfig } from '../src/config.js';
import type { ImportBatch } from '../src/store/store.js';
import { assertSent, collect, nextEvent, nextEvents, startGateway, type TestGateway } from './support/gateway.js';
import { createTestSchema, postgresAvailable } from './support/postgres.js';

const PASSWORD_HASH = '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy';

const fixture: ImportBatch = {
  users: [
    {
      _id: 'u1',
      name: 'Alice',
      email: 'alice@example.com',
      password: PASSWORD_HASH,
      salt: 'NaCl',
      tokens: [{ token: 'refresh-1' }],
      settings: { secret: 's1', theme: 'dark' },
    },
    { _id: 'u2', name: 'Bob', email: 'bob@example.com', hash: PASSWORD_HASH },
    { _id: 'u3', name: 'Carol', email: 'carol@example.com', password: PASSWORD_HASH },
  ],
  contacts: [
    { _id: 'c-name', name: 'John Doe', phone: '+1 212 555 0101', email: 'john@example.net', image: 'https://img.example/john.jpg', token: 'crm-token' },
    { _id: 'c-phone', phone: '+1 646 555 0199', email: 'phone@example.net' },
    { _id: 'c-email', email: 'jane@example.org' },
  ],
  conversationprospects: [
    { _id: 'conv-a', contact_id: 'c-name', users: ['u1', 'u2'], unread_count: { u1: 3 }, is_open: true, last_activity: 'msg-out', stage: 'lead' },
    {
      _id: 'conv-b',
      title: 'Acme renewal',
      image: ['https://img.example/acme.png'],
      contact_id: 'c-phone',
      users: ['u1', 'u3'],
      unread_count: { u3: 1 },
      is_open: true,
    },
    { _id: 'conv-c', contact_id: 'c-phone', users: ['u2'], image: [] },
    { _id: 'conv-d', contact_id: 'c-email', users: ['u3'] },
  ],
  communications: [
    {
      _id: 'msg-in',
      type: 'INCOMING',
      data: 'Is it available?',
      sent_by: 'c-name',
      conversation_id: ['conv-a'],
      createdAt: '2025-10-13T10:30:00.000Z',
      channel: 'sms',
    },
    { _id: 'msg-out', type: 'OUTGOING', data: 'Yes!', sent_by: 'u1', conversation_id: ['conv-a', 'conv-b'], createdAt: '2025-10-13T12:35:00+02:00' },
    { _id: 'msg-lost', type: 'OUTGOING', data: 'Hm', sent_by: 'u2', conversation_id: ['conv-gone', 'conv-c'], createdAt: '2025-10-13T11:00:00.000Z' },
    { _id: 'msg-nowhere', type: 'OUTGOING', data: 'Hm', sent_by: 'u2', conversation_id: ['conv-gone'], createdAt: '2025-10-13T11:00:00.000Z' },
    { _id: 'msg-empty', type: 'OUTGOING', data: 'Hm', sent_by: 'u2', conversation_id: [], createdAt: '2025-10-13T11:00:00.000Z' },
    // As a document synced from elsewhere may hold it: one id, not a list (the import would make it a list).
    {
      _id: 'msg-single',
      type: 'OUTGOING',
      data: 'One',
      sent_by: 'u3',
      conversation_id: 'conv-d' as unknown as string[],
      createdAt: '2025-10-13T11:00:00.000Z',
    },
  ],
};

/** What must never reach a client. */
const PRIVATE = [PASSWORD_HASH, 'NaCl', 'refresh-1', 's1', 'crm-token', '"password"', '"salt"', '"tokens"', '"hash"', '"secret"', '"token"'];

const pgUp = await postgresAvailable();

for (const backend of ['SQLite', 'PostgreSQL'] as const) {
  describe(`conversation endpoints on ${backend}`, { skip: backend === 'PostgreSQL' && !pgUp && 'PostgreSQL is not running' }, () => {
    let gw: TestGateway;
    let dropSchema: (() => Promise<void>) | undefined;
    /** Every event every socket of this suite received, to check that nothing private went out. */
    const everything: unknown[] = [];
    const user = async (id: string): Promise<Socket> => {
      const socket = await gw.connectUser(id);
      socket.onAny((_event, payload) => everything.push(payload));
      return socket;
    };
    /** Waits until `socket` got everything sent before now (events to one socket arrive in order). */
    const settle = async (socket: Socket, userId: string): Promise<void> => {
      const marker = nextEvent(socket, 'marker');
      await gw.request('POST', `/emit/${userId}/marker`, {});
      await marker;
    };

    before(async () => {
      let env: Record<string, string> = {};
      if (backend === 'PostgreSQL') {
        const schema = await createTestSchema();
        dropSchema = schema.drop;
        env = { DATABASE_URL: schema.url };
      }
      gw = await startGateway(env);
      await gw.gateway.store.importDocuments(fixture);
    });
    after(async () => {
      await gw?.close();
      await dropSchema?.();
    });

    it('INCOMING message: every socket of every participant gets prospect_message, nobody is the sender', async () => {
      const [tab, phone, bob, carol] = [await user('u1'), await user('u1'), await user('u2'), await user('u3')];
      const carolGot = collect(carol, 'prospect_message');
      const arrivals = Promise.all([nextEvent(tab, 'prospect_message'), nextEvent(phone, 'prospect_message'), nextEvent(bob, 'prospect_message')]);
      const reply = await gw.request('GET', '/conversations/prospect/emit/message/msg-in');
      assert.equal(reply.status, 200);
      assertSent(reply.body, 3, ['u1', 'u2']);
      const [toTab, toPhone, toBob] = (await arrivals) as Record<string, unknown>[];
      const expected = {
        _id: 'msg-in',
        type: 'INCOMING',
        data: 'Is it available?',
        channel: 'sms',
        sent_by: { _id: 'c-name', name: 'John Doe', phone: '+1 212 555 0101', email: 'john@example.net', image: 'https://img.example/john.jpg' },
        conversation_id: 'conv-a',
        is_sender: false,
        createdAt: '2025-10-13T10:30:00.000Z',
      };
      assert.deepEqual(toTab, expected);
      assert.deepEqual(toPhone, expected);
      assert.deepEqual(toBob, expected);
      await settle(carol, 'u3');
      assert.deepEqual(carolGot, [], 'u3 is in neither conversation of the message');
      for (const socket of [tab, phone, bob, carol]) socket.disconnect();
    });

    it('OUTGOING message in two conversations: one event per conversation, is_sender only for the sender', async () => {
      const [alice, bob, carol] = [await user('u1'), await user('u2'), await user('u3')];
      const aliceGot = nextEvents(alice, 'prospect_message', 2);
      const bobGot = collect(bob, 'prospect_message');
      const carolGot = nextEvent(carol, 'prospect_message');
      const reply = await gw.request('GET', '/conversations/prospect/emit/message/msg-out');
      // u1 is in both conversations: one position each, the reply names the later.
      assertSent(reply.body, 4, ['u1', 'u2', 'u3']);

      const toAlice = (await aliceGot) as Record<string, unknown>[];
      assert.deepEqual(toAlice.map((p) => [p.conversation_id, p.is_sender]).sort(), [
        ['conv-a', true],
        ['conv-b', true],
      ]);
      assert.deepEqual(toAlice[0]!.sent_by, { _id: 'u1', name: 'Alice', email: 'alice@example.com', settings: { theme: 'dark' } });
      assert.equal(toAlice[0]!.createdAt, '2025-10-13T10:35:00.000Z');
      const toCarol = (await carolGot) as Record<string, unknown>;
      assert.deepEqual([toCarol.conversation_id, toCarol.is_sender], ['conv-b', false]);
      await settle(bob, 'u2');
      assert.deepEqual(
        bobGot.map((p) => [(p as Record<string, unknown>).conversation_id, (p as Record<string, unknown>).is_sender]),
        [['conv-a', false]],
      );
      for (const socket of [alice, bob, carol]) socket.disconnect();
    });

    it('skips a conversation of the message that does not exist and delivers to the others', async () => {
      const bob = await user('u2');
      const arrival = nextEvent(bob, 'prospect_message');
      const reply = await gw.request('GET', '/conversations/prospect/emit/message/msg-lost');
      assertSent(reply.body, 1, ['u2']);
      assert.equal(((await arrival) as Record<string, unknown>).conversation_id, 'conv-c');
      bob.disconnect();
    });

    it('reads a conversation_id that holds one id instead of a list', async () => {
      const carol = await user('u3');
      const arrival = nextEvent(carol, 'prospect_message');
      const reply = await gw.request('GET', '/conversations/prospect/emit/message/msg-single');
      assertSent(reply.body, 1, ['u3']);
      const payload = (await arrival) as Record<string, unknown>;
      assert.equal(payload.conversation_id, 'conv-d');
      assert.equal(payload.is_sender, true);
      carol.disconnect();
    });

    it('new conversation: populated, title and image from the contact, each user their own unread count', async () => {
      const [alice, bob] = [await user('u1'), await user('u2')];
      const arrivals = Promise.all([nextEvent(alice, 'prospect_add_conversation'), nextEvent(bob, 'prospect_add_conversation')]);
      const reply = await gw.request('GET', '/conversations/prospect/emit/conversation/conv-a/new');
      assertSent(reply.body, 2, ['u1', 'u2']);
      const [toAlice, toBob] = (await arrivals) as Record<string, any>[];
      assert.equal(toAlice!.unread_count, 3);
      assert.equal(toBob!.unread_count, 0, 'u2 is missing from the unread_count map');
      const { unread_count: _a, ...sharedA } = toAlice!;
      const { unread_count: _b, ...sharedB } = toBob!;
      assert.deepEqual(sharedA, sharedB, 'only unread_count differs between recipients');
      assert.equal(toAlice!.title, 'John Doe');
      assert.deepEqual(toAlice!.image, ['https://img.example/john.jpg']);
      assert.equal(toAlice!.isNew, true);
      assert.equal(toAlice!.is_open, true);
      assert.equal(toAlice!.stage, 'lead', 'extra fields pass through');
      assert.equal(toAlice!.contact_id.name, 'John Doe');
      assert.deepEqual(
        toAlice!.users.map((u: { _id: string; name: string }) => [u._id, u.name]),
        [
          ['u1', 'Alice'],
          ['u2', 'Bob'],
        ],
      );
      assert.equal(toAlice!.last_activity._id, 'msg-out');
      assert.equal(toAlice!.last_activity.data, 'Yes!');
      alice.disconnect();
      bob.disconnect();
    });

    it('existing conversation: explicit title and image win; isNew is false', async () => {
      const carol = await user('u3');
      const arrival = nextEvent(carol, 'prospect_add_conversation');
      await gw.request('GET', '/conversations/prospect/emit/conversation/conv-b/existing');
      const payload = (await arrival) as Record<string, unknown>;
      assert.deepEqual([payload.title, payload.image, payload.isNew, payload.unread_count], ['Acme renewal', ['https://img.example/acme.png'], false, 1]);
      carol.disconnect();
    });

    it('derives the title from the phone, else the email, and the image as [] without a contact image', async () => {
      const [bob, carol] = [await user('u2'), await user('u3')];
      const [toBob, toCarol] = [nextEvent(bob, 'prospect_add_conversation'), nextEvent(carol, 'prospect_add_conversation')];
      await gw.request('GET', '/conversations/prospect/emit/conversation/conv-c/new');
      await gw.request('GET', '/conversations/prospect/emit/conversation/conv-d/new');
      const [c, d] = [(await toBob) as Record<string, unknown>, (await toCarol) as Record<string, unknown>];
      assert.deepEqual([c.title, c.image], ['+1 646 555 0199', []]);
      assert.deepEqual([d.title, d.image], ['jane@example.org', []]);
      bob.disconnect();
      carol.disconnect();
    });

    it('answers 404 for an unknown message, conversation or channel, naming it', async () => {
      const cases: [string, RegExp][] = [
        ['/conversations/prospect/emit/message/nope', /No message .*"nope"/],
        ['/conversations/prospect/emit/conversation/nope/new', /No conversation .*"nope"/],
        ['/conversations/buyer/emit/message/msg-in', /Unknown channel "buyer".*prospect/],
        ['/conversations/buyer/emit/conversation/conv-a/new', /Unknown channel "buyer"/],
        ['/conversations/prospect/emit/message/msg-nowhere', /None of the conversations of message "msg-nowhere" exists \(conversation_id: conv-gone\)/],
        ['/conversations/prospect/emit/message/msg-empty', /names no conversation/],
      ];
      for (const [path, message] of cases) {
        const reply = await gw.request('GET', path);
        assert.equal(reply.status, 404, path);
        assert.equal(reply.body.code, 'NOT_FOUND');
        assert.match(reply.body.message, message);
      }
    });

    it('answers 400 for a bad isNew, a malformed id or channel; 401 without the API key', async () => {
      const bad: [string, RegExp][] = [
        ['/conversations/prospect/emit/conversation/conv-a/maybe', /params.isNew must be "new" or "existing"/],
        [`/conversations/prospect/emit/message/${'x'.repeat(129)}`, /params.messageID must be a string of 1 to 128 characters/],
        ['/conversations/prospect/emit/message/msg%20in', /params.messageID/],
        ['/conversations/prospect/emit/conversation/conv%0Aa/new', /params.convoID/],
        ['/conversations/pro$pect/emit/message/msg-in', /params.channel must be a channel name/],
      ];
      for (const [path, message] of bad) {
        const reply = await gw.request('GET', path);
        assert.equal(reply.status, 400, path);
        assert.equal(reply.body.code, 'VALIDATION_ERROR');
        assert.match(reply.body.message, message);
      }
      const anonymous = await gw.request('GET', '/conversations/prospect/emit/message/msg-in', undefined, { 'x-api-key': '' });
      assert.equal(anonymous.status, 401);
    });

    it('reports the database as ready', async () => {
      const reply = await gw.request('GET', '/readyz');
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.body.checks.database, { ok: true });
    });

    it('never sent a password, hash, salt, token or secret to any socket', () => {
      assert.ok(everything.length >= 10, `the suite received ${everything.length} events`);
      const sent = JSON.stringify(everything);
      for (const secret of PRIVATE) assert.ok(!sent.includes(secret), `${secret} reached a client`);
    });
  });
}

describe('CHANNELS', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ CHANNELS: 'prospect,buyer' });
    await gw.gateway.store.importDocuments(fixture);
  });
  after(() => gw.close());

  it('serves every configured channel, naming events after it', async () => {
    const bob = await gw.connectUser('u2');
    const arrivals = Promise.all([nextEvent(bob, 'buyer_message'), nextEvent(bob, 'buyer_add_conversation')]);
    assert.equal((await gw.request('GET', '/conversations/buyer/emit/message/msg-in')).status, 200);
    assert.equal((await gw.request('GET', '/conversations/buyer/emit/conversation/conv-c/existing')).status, 200);
    const [message, conversation] = (await arrivals) as Record<string, unknown>[];
    assert.equal(message!._id, 'msg-in');
    assert.equal(conversation!._id, 'conv-c');
    assert.equal((await gw.request('GET', '/conversations/seller/emit/message/msg-in')).status, 404);
  });
});

describe('PRIVATE_FIELDS', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ PRIVATE_FIELDS: 'password,ssn' });
    await gw.gateway.store.importDocuments({
      users: [{ _id: 'p1', name: 'Pat', password: 'pw', ssn: '078-05-1120', employee_ssn: 'x', nickname: 'P' }],
      conversationprospects: [{ _id: 'pc', users: ['p1'] }],
    });
  });
  after(() => gw.close());

  it('drops exactly the configured fields from what clients receive', async () => {
    const socket = await gw.connectUser('p1');
    const arrival = nextEvent(socket, 'prospect_add_conversation');
    await gw.request('GET', '/conversations/prospect/emit/conversation/pc/existing');
    const payload = (await arrival) as { users: unknown[] };
    assert.deepEqual(payload.users, [{ _id: 'p1', name: 'Pat', nickname: 'P' }]);
  });
});

describe('the default PRIVATE_FIELDS', () => {
  let gw: TestGateway;
  /** The names attackers found delivered to every participant, each with a value that must not leave. */
  const leaked = ['apiKeys', 'api_keys', 'privateKeys', 'credential', 'pwd', 'pass', 'passphrase', 'otp_code', 'recoveryCodes', 'sessionId', 'jwt'];
  before(async () => {
    gw = await startGateway();
    const secrets = Object.fromEntries(leaked.map((name) => [name, `leak-${name}`]));
    await gw.gateway.store.importDocuments({
      users: [{ _id: 'd1', name: 'Dana', ...secrets, profile: { ...secrets, city: 'Oslo' }, sessions: [{ userSessionId: 'leak-nested', device: 'phone' }] }],
      contacts: [{ _id: 'dc', name: 'Eve', adminPass: 'leak-contact' }],
      conversationprospects: [{ _id: 'dconv', users: ['d1'], contact_id: 'dc', webhookCredential: 'leak-conversation' }],
    });
  });
  after(() => gw.close());

  it('drops the common names of secrets at any depth from what participants receive', async () => {
    const socket = await gw.connectUser('d1');
    const arrival = nextEvent(socket, 'prospect_add_conversation');
    assert.equal((await gw.request('GET', '/conversations/prospect/emit/conversation/dconv/new')).status, 200);
    const payload = (await arrival) as { users: unknown[]; contact_id: unknown; webhookCredential?: unknown };
    assert.deepEqual(payload.users, [{ _id: 'd1', name: 'Dana', profile: { city: 'Oslo' }, sessions: [{ device: 'phone' }] }]);
    assert.deepEqual(payload.contact_id, { _id: 'dc', name: 'Eve' });
    assert.doesNotMatch(JSON.stringify(payload), /leak/);
  });
});

describe('SEND_FIELDS_* (allow-list mode)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      SEND_FIELDS_USERS: 'name,avatar',
      SEND_FIELDS_CONTACTS: 'name',
      SEND_FIELDS_COMMUNICATIONS: 'type,data',
      SEND_FIELDS_CONVERSATIONPROSPECTS: 'stage',
    });
    await gw.gateway.store.importDocuments({
      users: [
        { _id: 'a1', name: 'Ann', avatar: { url: 'https://img/a.png', password: 'still-private' }, email: 'ann@example.com', internalNotes: 'vip' },
        { _id: 'a2', name: 'Ben', phone: '+1 555' },
      ],
      contacts: [{ _id: 'ac', name: 'Zed', phone: '+1 999', email: 'zed@example.org', image: 'https://img/z.png', crmScore: 7 }],
      conversationprospects: [
        { _id: 'aconv', users: ['a1', 'a2'], contact_id: 'ac', stage: 'lead', unread_count: { a1: 2, a2: 5 }, margin: 0.4, last_activity: 'amsg' },
        { _id: 'anon', users: ['a1'], contact_id: 'ac-phone-only' },
      ],
      communications: [
        { _id: 'amsg', type: 'OUTGOING', data: 'Hi', sent_by: 'a1', conversation_id: ['aconv'], createdAt: '2025-10-13T10:30:00.000Z', ip: '10.0.0.9' },
      ],
    });
    await gw.gateway.store.importDocuments({ contacts: [{ _id: 'ac-phone-only', phone: '+1 646 555 0199' }] });
  });
  after(() => gw.close());

  it('sends only the listed fields of each collection, with the fields the event computes, and still no private field', async () => {
    const ann = await gw.connectUser('a1');
    const arrivals = Promise.all([nextEvent(ann, 'prospect_add_conversation'), nextEvent(ann, 'prospect_message')]);
    assert.equal((await gw.request('GET', '/conversations/prospect/emit/conversation/aconv/new')).status, 200);
    assert.equal((await gw.request('GET', '/conversations/prospect/emit/message/amsg')).status, 200);
    const [conversation, message] = await arrivals;
    const lastActivity = { _id: 'amsg', type: 'OUTGOING', data: 'Hi' };
    assert.deepEqual(conversation, {
      _id: 'aconv',
      users: [
        { _id: 'a1', name: 'Ann', avatar: { url: 'https://img/a.png' } },
        { _id: 'a2', name: 'Ben' },
      ],
      contact_id: { _id: 'ac', name: 'Zed' },
      stage: 'lead',
      unread_count: 2,
      last_activity: lastActivity,
      title: 'Zed',
      image: [],
      isNew: true,
    });
    assert.deepEqual(message, {
      _id: 'amsg',
      type: 'OUTGOING',
      data: 'Hi',
      sent_by: { _id: 'a1', name: 'Ann', avatar: { url: 'https://img/a.png' } },
      conversation_id: 'aconv',
      createdAt: '2025-10-13T10:30:00.000Z',
      is_sender: true,
    });
  });

  it('derives a title only from contact fields that may be sent', async () => {
    const ann = await gw.connectUser('a1');
    const arrival = nextEvent(ann, 'prospect_add_conversation');
    await gw.request('GET', '/conversations/prospect/emit/conversation/anon/existing');
    const payload = (await arrival) as { title: unknown; contact_id: unknown };
    assert.equal(payload.title, '');
    assert.deepEqual(payload.contact_id, { _id: 'ac-phone-only' });
  });

  it('accepts * or field names, and refuses anything else naming the option', () => {
    const base = { INTERNAL_API_KEY: 'k', JWT_SECRET: 's', SCRAPER_API_KEY: 'w' };
    assert.equal(loadConfig(base).sendFieldsUsers, '*');
    assert.deepEqual(loadConfig({ ...base, SEND_FIELDS_USERS: 'name, email' }).sendFieldsUsers, ['name', 'email']);
    assert.throws(() => loadConfig({ ...base, SEND_FIELDS_CONTACTS: 'name,e mail' }), /SEND_FIELDS_CONTACTS entry "e mail"/);
  });
});

describe('conversation configuration', () => {
  const base = { INTERNAL_API_KEY: 'k', JWT_SECRET: 's', SCRAPER_API_KEY: 'w' };

  it('refuses a DATABASE_URL that is not postgres:// without echoing it (it may hold a password)', () => {
    for (const url of ['mysql://root:hunter2@db/x', 'not a url hunter2']) {
      assert.throws(
        () => loadConfig({ ...base, DATABASE_URL: url }),
        (error: Error) => /DATABASE_URL must/.test(error.message) && !error.message.includes('hunter2'),
      );
    }
    assert.equal(loadConfig({ ...base, DATABASE_URL: 'postgresql://u:p@h/db' }).databaseUrl, 'postgresql://u:p@h/db');
  });

  it('checks CHANNELS and PRIVATE_FIELDS entries, and defaults to the prospect channel', () => {
    assert.throws(() => loadConfig({ ...base, CHANNELS: 'prospect,bad channel' }), /CHANNELS entry "bad channel"/);
    assert.throws(() => loadConfig({ ...base, CHANNELS: ' , ' }), /CHANNELS must name at least one/);
    const config = loadConfig(base);
    assert.deepEqual(config.channels, ['prospect']);
    assert.ok(['password', 'hash', 'salt', 'token', 'tokens', 'secret'].every((name) => config.privateFields.includes(name)));
    assert.equal(config.databaseTimeoutMs, 2000);
  });
});
